"""Heartbeats from the gateway: the job's event time moves on when no user sends anything.

The job's watermark follows the newest event time of each partition. On a quiet site it stops,
and the last click before a quiet period stays undecided until somebody else's traffic arrives.
So every ``heartbeat_interval_seconds`` each gateway process writes one ``heartbeat`` action to
every partition of the user-actions topic (:func:`rankfeed.producer.send_heartbeats`, the one
builder of heartbeats), stamped ``heartbeat_margin_seconds`` before its own clock. The job moves its
watermark and drops them.

Gateway event times are never later than the gateway's clock (:mod:`rankfeed.gateway.eventtime`),
so a heartbeat claims nothing real traffic could not: several gateways, or several workers, each
sending their own is harmless, and none of them has to be the one.

Heartbeats have their own producer, used from a worker thread (``send_heartbeats`` blocks until
Kafka acknowledged), so they neither touch the request producers' in-flight budget nor serve
their callbacks off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

from confluent_kafka import Producer

from rankfeed.gateway.metrics import GatewayMetrics
from rankfeed.gateway.settings import GatewaySettings
from rankfeed.producer import make_producer, send_heartbeats

log = logging.getLogger(__name__)


class Heartbeats:
    """The periodic heartbeat sender of one gateway process, started and stopped with its lifespan."""

    def __init__(self, settings: GatewaySettings, metrics: GatewayMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.topic = settings.topics.user_actions
        self.interval = settings.heartbeat_interval_seconds
        self.margin = timedelta(seconds=settings.heartbeat_margin_seconds)
        #: How long one tick may wait for the topic's metadata and for Kafka's acknowledgements.
        self.timeout = settings.request_deadline_seconds
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return self.interval > 0

    def start(self) -> None:
        """Begin ticking at once, then every interval; does nothing when heartbeats are turned off."""
        if not self.enabled or self._task is not None:
            return
        producer = make_producer(
            self.settings.kafka.bootstrap_servers,
            **{
                "client.id": "rankfeed-gateway-heartbeats",
                "linger.ms": 0,
                "message.timeout.ms": self.settings.request_deadline_ms,
            },
        )
        self._task = asyncio.create_task(self._run(producer), name="gateway-heartbeats")

    async def stop(self) -> None:
        """No tick starts after this; a tick under way is waited for (at most its timeout), then abandoned."""
        self._stopping.set()
        task, self._task = self._task, None
        if task is None:
            return
        done, _ = await asyncio.wait({task}, timeout=2 * self.timeout + 1)
        if not done:
            task.cancel()
            log.warning("a heartbeat tick did not finish before shutdown", extra={"topic": self.topic})

    async def _run(self, producer: Producer) -> None:
        while not self._stopping.is_set():
            await self._tick(producer)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval)

    async def _tick(self, producer: Producer) -> None:
        at = datetime.now(UTC) - self.margin
        try:
            ticked = await asyncio.to_thread(send_heartbeats, producer, self.topic, at, self.timeout)
        except Exception as error:  # noqa: BLE001 - a failed tick is counted and logged; the next one retries
            self.metrics.heartbeat_failures.inc()
            log.warning("heartbeats not written", extra={"topic": self.topic, "error": str(error)})
            return
        if ticked == 0:
            self.metrics.heartbeat_failures.inc()
            log.warning("heartbeats not written: the topic has no partitions", extra={"topic": self.topic})
            return
        self.metrics.heartbeats.inc(ticked)
