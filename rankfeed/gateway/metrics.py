"""Prometheus metrics of the gateway, correct across ``--workers``.

With several worker processes each one writes its samples to files in ``PROMETHEUS_MULTIPROC_DIR``
(prometheus_client's multiprocess mode, set up by ``rankfeed gateway`` before the workers start),
and ``/metrics`` of any worker sums them. With one process the registry is served directly.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST.encode()

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class GatewayMetrics:
    """The gateway's counters; label values come from small fixed sets (routes, statuses, reasons)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.multiprocess = bool(os.environ.get(MULTIPROCESS_ENV))
        self.requests = Counter(
            "rankfeed_gateway_requests",
            "HTTP requests answered, by route and status code.",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "rankfeed_gateway_request_duration_seconds",
            "Time from request start to response, by route (includes waiting for Kafka).",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.events_accepted = Counter(
            "rankfeed_gateway_events_accepted",
            "Events acknowledged by Kafka and answered with 202.",
            registry=self.registry,
        )
        self.rejections = Counter(
            "rankfeed_gateway_rejections",
            "Refusals by reason: one per problem of an invalid event, one per refused request "
            "(unauthorized, rate_limited, payload_too_large, kafka_unavailable, ...).",
            ["reason"],
            registry=self.registry,
        )
        self.delivery_errors = Counter(
            "rankfeed_gateway_kafka_delivery_errors",
            "Produce calls Kafka did not acknowledge, by librdkafka error name.",
            ["error"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "rankfeed_gateway_kafka_in_flight_events",
            "Events produced and not yet acknowledged, summed over workers.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.rejected_topic_dropped = Counter(
            "rankfeed_gateway_rejected_topic_dropped",
            "Rejected payloads not written to the rejected topic (budget spent or Kafka unavailable).",
            registry=self.registry,
        )
        self.events_anonymized = Counter(
            "rankfeed_gateway_events_anonymized",
            "Accepted events without the user's consent, kept under a per-session anonymous user id "
            "(a write key's consent_policy: anonymize).",
            registry=self.registry,
        )
        self.event_time_adjusted = Counter(
            "rankfeed_gateway_event_time_adjusted",
            "Accepted events whose event time differs from the client's timestamp, by adjustment: corrected "
            "(shifted by the X-Sent-At clock offset) or clamped (moved back to the gateway's receive time).",
            ["adjustment"],
            registry=self.registry,
        )
        self.heartbeats = Counter(
            "rankfeed_gateway_heartbeats",
            "Heartbeat actions written to the user-actions topic (one per partition and tick).",
            registry=self.registry,
        )
        self.heartbeat_failures = Counter(
            "rankfeed_gateway_heartbeat_failures",
            "Heartbeat ticks that did not reach every partition (Kafka unreachable or the topic missing).",
            registry=self.registry,
        )
        self._corrected = self.event_time_adjusted.labels("corrected")
        self._clamped = self.event_time_adjusted.labels("clamped")
        self._requests: dict[tuple[str, int], Counter] = {}
        self._latency: dict[str, Histogram] = {}
        self._rejections: dict[str, Counter] = {}

    def observe(self, route: str, status: int, seconds: float) -> None:
        """Count one answered request; children are cached because ``labels()`` is slow."""
        key = (route, status)
        counter = self._requests.get(key)
        if counter is None:
            counter = self._requests[key] = self.requests.labels(route, str(status))
        counter.inc()
        histogram = self._latency.get(route)
        if histogram is None:
            histogram = self._latency[route] = self.latency.labels(route)
        histogram.observe(seconds)

    def reject(self, reason: str, count: int = 1) -> None:
        counter = self._rejections.get(reason)
        if counter is None:
            counter = self._rejections[reason] = self.rejections.labels(reason)
        counter.inc(count)

    def adjusted(self, corrected: int, clamped: int) -> None:
        """Count events whose event time the gateway derived differently from the client's timestamp."""
        if corrected:
            self._corrected.inc(corrected)
        if clamped:
            self._clamped.inc(clamped)

    def exposition(self) -> bytes:
        """The text format of all workers' metrics (multiprocess) or of this process."""
        if self.multiprocess:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)
