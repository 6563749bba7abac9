"""Producing accepted events and waiting, without blocking the event loop, until Kafka acknowledged them.

Two idempotent ``acks=all`` producers per worker process (:data:`rankfeed.producer.DURABLE_PRODUCER`):
one for single events with a short ``linger.ms`` (each request waits for its own message), one for
batches with a longer one (measured: 5 ms instead of 1 ms halves the broker's CPU per event and
gives batches 10-40 % more throughput at the same latency, because produce requests are fuller).
``produce`` only enqueues into librdkafka, whose own C threads batch, compress and send. Delivery
and error callbacks are served by ``poll(0)`` on the event loop itself: every ``poll_interval_ms``
while anything is in flight, every 100 ms otherwise. So every callback runs on the loop thread
and nothing needs a lock. (A poll thread handing results over with ``call_soon_threadsafe`` was
measured first: with the GIL passed back and forth between it and a busy loop, batch requests
waited ~18 ms for acknowledgements librdkafka had long received.)

Back-pressure and failure are explicit, never a hang or a 2xx:

* an in-flight budget (events produced, not yet acknowledged) bounds memory; beyond it → ``Unavailable``;
* a broker that is down (librdkafka's all-brokers-down, a failing metadata probe) → ``Unavailable`` at once;
* a fatal producer error (idempotence broken) → ``Unavailable`` until a new producer replaced it;
* librdkafka's ``message.timeout.ms`` equals the request deadline, so every message is settled
  (acknowledged or failed) shortly after its request gave up, and the budget is returned.

A health thread probes the broker with a metadata request every ``health_check_interval_seconds``;
it only reads metadata and sets flags, it never serves callbacks.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from rankfeed.gateway.settings import GatewaySettings
from rankfeed.producer import make_producer

log = logging.getLogger(__name__)

#: (key, value) of one Kafka message.
KeyedValue = tuple[bytes, bytes]

#: How often callbacks (errors, late acknowledgements) are served while nothing is in flight.
_IDLE_POLL_SECONDS = 0.1


class Unavailable(Exception):
    """Kafka cannot take these events now; the client should retry after a pause (HTTP 503)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class _Delivery:
    """The acknowledgements one ``produce`` call waits for, counted down by the delivery callbacks."""

    __slots__ = ("count", "error", "future", "remaining", "sink")

    def __init__(self, sink: KafkaSink, future: asyncio.Future[None], count: int) -> None:
        self.sink = sink
        self.future = future
        self.count = count
        self.remaining = count
        self.error: KafkaError | None = None

    def acknowledge(self, error: KafkaError | None, _message: Message) -> None:
        if error is not None and self.error is None:
            self.error = error
        self.remaining -= 1
        if self.remaining == 0:
            self.sink._settle(self)


class KafkaSink:
    """The gateway's producer, the in-flight budget and Kafka's health, for one worker process."""

    def __init__(self, settings: GatewaySettings, on_delivery_error: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self.max_in_flight = settings.max_in_flight_events
        self.in_flight = 0
        self._on_delivery_error = on_delivery_error
        self._loop: asyncio.AbstractEventLoop | None = None
        #: By lane: "single" for one-event requests, "batch" for the others.
        self._producers: dict[str, Producer] = {}
        self._lingers = {"single": settings.linger_ms, "batch": settings.batch_linger_ms}
        #: Producers replaced after a fatal error, polled until their purged messages are settled.
        self._retiring: list[Producer] = []
        self._fatal: dict[str, KafkaError] = {}
        self._broker_down = True
        self._problem = "not started"
        self._last_probe_ok = 0.0
        self._poll_interval = settings.poll_interval_ms / 1000
        self._busy_timer: asyncio.TimerHandle | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._stopping = threading.Event()
        self._health: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def _new_producer(self, lane: str) -> Producer:
        if not hasattr(Producer, "produce_batch"):
            raise RuntimeError("this confluent-kafka has no Producer.produce_batch; upgrade it (2.16 is known to work)")
        s = self.settings

        def on_error(error: KafkaError) -> None:
            self._on_error(lane, error)

        return make_producer(
            s.kafka.bootstrap_servers,
            **{
                "client.id": f"rankfeed-gateway-{lane}",
                "linger.ms": self._lingers[lane],
                "compression.type": s.compression,
                "message.timeout.ms": s.request_deadline_ms,
                # Always above the budget, so produce() never raises BufferError for accepted events.
                "queue.buffering.max.messages": max(100_000, 2 * s.max_in_flight_events),
                "error_cb": on_error,
            },
        )

    async def start(self) -> None:
        """Create the producers, probe the broker once, start polling and the health thread."""
        self._loop = asyncio.get_running_loop()
        self._producers = {lane: self._new_producer(lane) for lane in self._lingers}
        await asyncio.to_thread(self._probe)
        self._poll_while_idle()
        self._health = threading.Thread(target=self._watch_health, name="kafka-health", daemon=True)
        self._health.start()

    async def close(self, timeout_seconds: float) -> int:
        """Stop polling and probing; wait up to ``timeout_seconds`` for outstanding acknowledgements.

        Returns how many messages were still unacknowledged (their requests answer 503).
        """
        self._stopping.set()
        for timer in (self._busy_timer, self._idle_timer):
            if timer is not None:
                timer.cancel()
        if self._health is not None:
            await asyncio.to_thread(self._health.join)
        deadline = time.monotonic() + timeout_seconds
        while self._outstanding() and time.monotonic() < deadline:
            self._poll_once()
            await asyncio.sleep(0.01)
        unacknowledged = self._outstanding()
        # Release the producers (each holds our error callback, a cycle): librdkafka destroys a
        # handle when its last reference goes, instead of reconnecting to a stopped broker and
        # logging each refusal until the process exits.
        self._producers = {}
        self._retiring.clear()
        return unacknowledged

    def _outstanding(self) -> int:
        return sum(len(producer) for producer in [*self._retiring, *self._producers.values()])

    # -- readiness ------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self.not_ready_reason() is None

    def not_ready_reason(self) -> str | None:
        """Why events cannot be produced now, or None when they can."""
        if not self._producers:
            return "the producers are not started"
        for lane, error in self._fatal.items():
            return f"the {lane} producer hit a fatal error and is being replaced: {error.str()}"
        if self._broker_down:
            return f"Kafka at {self.settings.kafka.bootstrap_servers} is unreachable: {self._problem}"
        stale_after = 3 * self.settings.health_check_interval_seconds + 2.0
        if time.monotonic() - self._last_probe_ok > stale_after:
            return f"no successful metadata probe of Kafka for {stale_after:.0f} s"
        return None

    def describe(self) -> dict[str, Any]:
        return {"in_flight_events": self.in_flight, "max_in_flight_events": self.max_in_flight}

    # -- producing ------------------------------------------------------------------------------

    def produce(self, topic: str, messages: list[KeyedValue]) -> asyncio.Future[None]:
        """Enqueue ``messages``; the future resolves when Kafka acknowledged all of them.

        Raises ``Unavailable`` before enqueuing anything when Kafka is down or the budget is spent.
        The future fails with ``Unavailable`` when any message could not be delivered.
        """
        reason = self.not_ready_reason()
        if reason is not None:
            raise Unavailable("kafka_unavailable", reason)
        count = len(messages)
        if self.in_flight + count > self.max_in_flight:
            raise Unavailable(
                "overloaded",
                f"{self.in_flight} events are waiting for Kafka's acknowledgement, the limit is {self.max_in_flight}",
            )
        producer = self._producers["single" if count == 1 else "batch"]
        assert self._loop is not None
        future: asyncio.Future[None] = self._loop.create_future()
        delivery = _Delivery(self, future, count)
        self.in_flight += count
        self._poll_soon()
        try:
            if count == 1:
                key, value = messages[0]
                producer.produce(topic, value, key, on_delivery=delivery.acknowledge)
                queued = 1
            else:
                batch = [{"key": key, "value": value} for key, value in messages]
                queued = producer.produce_batch(topic, batch, on_delivery=delivery.acknowledge)
        except (BufferError, KafkaException) as error:
            queued = 0
            log.warning("produce failed", extra={"error": str(error)})
        if queued < count:
            # Messages librdkafka refused get no callback: count them down here, as failed.
            delivery.error = KafkaError(KafkaError._QUEUE_FULL)
            delivery.remaining -= count - queued
            if delivery.remaining == 0:
                self._settle(delivery)
        return future

    def _settle(self, delivery: _Delivery) -> None:
        """Return the budget and resolve the future of a delivery whose every message is settled."""
        self.in_flight -= delivery.count
        error = delivery.error
        if error is not None and self._on_delivery_error is not None:
            self._on_delivery_error(error.name())
        future = delivery.future
        if future.done():
            return  # the request already answered 503 at its deadline
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(
                Unavailable("kafka_delivery_failed", f"Kafka did not acknowledge every event: {error.str()}")
            )

    # -- polling, on the event loop -------------------------------------------------------------

    def _poll_soon(self) -> None:
        """Serve callbacks in ``poll_interval_ms``, and keep doing so while events are in flight.

        Plain timer callbacks rather than a sleeping coroutine: while busy this runs 1000 times a second.
        """
        if self._busy_timer is None and self._loop is not None:
            self._busy_timer = self._loop.call_later(self._poll_interval, self._poll_while_busy)

    def _poll_while_busy(self) -> None:
        self._busy_timer = None
        self._poll_once()
        if self.in_flight:
            self._poll_soon()

    def _poll_while_idle(self) -> None:
        """Errors and late acknowledgements are served even when no request is waiting."""
        self._poll_once()
        if self._loop is not None and not self._stopping.is_set():
            self._idle_timer = self._loop.call_later(_IDLE_POLL_SECONDS, self._poll_while_idle)

    def _poll_once(self) -> None:
        for lane in list(self._fatal):
            self._replace_producer(lane)
        for producer in self._producers.values():
            producer.poll(0)
        if self._retiring:
            for old in self._retiring:
                old.poll(0)
            self._retiring = [old for old in self._retiring if len(old)]

    def _replace_producer(self, lane: str) -> None:
        """After a fatal error: purge the old producer (its messages fail, their requests answer 503)
        and produce with a new one. The old one is polled until its purged messages are settled."""
        error = self._fatal.pop(lane)
        old = self._producers[lane]
        self._producers[lane] = self._new_producer(lane)
        log.error("replaced a producer after a fatal error", extra={"lane": lane, "error": error.str()})
        old.purge()
        self._retiring.append(old)

    def _on_error(self, lane: str, error: KafkaError) -> None:
        """librdkafka's error callback (served by poll): remember what makes producing pointless."""
        if error.fatal():
            self._fatal[lane] = error
        elif error.code() == KafkaError._ALL_BROKERS_DOWN:
            self._mark_down("all brokers are down")

    # -- health, in its own thread --------------------------------------------------------------

    def _watch_health(self) -> None:
        interval = self.settings.health_check_interval_seconds
        while not self._stopping.wait(interval):
            self._probe()

    def _probe(self) -> None:
        """Ask the broker for the topic's metadata: proves it is reachable and the topic exists."""
        producer = self._producers.get("single")
        if producer is None:
            return
        topic = self.settings.topics.user_actions
        timeout = max(0.5, min(2.0, self.settings.health_check_interval_seconds))
        try:
            metadata = producer.list_topics(topic, timeout=timeout)
        except KafkaException as error:
            self._mark_down(f"metadata request failed: {error}")
            return
        topic_metadata = metadata.topics.get(topic)
        if topic_metadata is None or topic_metadata.error is not None:
            self._mark_down(f"topic {topic} is not available: {topic_metadata.error if topic_metadata else 'missing'}")
            return
        if self._broker_down:
            log.info("Kafka is reachable", extra={"bootstrap_servers": self.settings.kafka.bootstrap_servers})
        self._broker_down = False
        self._problem = ""
        self._last_probe_ok = time.monotonic()

    def _mark_down(self, problem: str) -> None:
        if not self._broker_down:
            log.warning("Kafka is unreachable", extra={"problem": problem})
        self._broker_down = True
        self._problem = problem
