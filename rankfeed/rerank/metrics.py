"""Prometheus metrics of the re-ranker, served at ``GET /metrics``.

Requests are counted by status as they are answered; the feature store's figures (rows, updates
applied and refused, readiness) are read from the store at each scrape, so serving costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from rankfeed.rerank.features import FeatureStore

CONTENT_TYPE = CONTENT_TYPE_LATEST.encode()


class _StoreCollector(Collector):
    def __init__(self, store: FeatureStore) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        yield GaugeMetricFamily("rankfeed_rerank_feature_rows", "Hotel feature rows in memory.", len(self.store))
        yield GaugeMetricFamily(
            "rankfeed_rerank_ready", "1 once the store has caught up with the topic, else 0.", float(self.store.ready)
        )
        yield CounterMetricFamily(
            "rankfeed_rerank_feature_updates_applied", "hotel-features messages applied.", self.store.applied
        )
        yield CounterMetricFamily(
            "rankfeed_rerank_feature_updates_invalid", "hotel-features messages skipped as invalid.", self.store.invalid
        )


class RerankMetrics:
    def __init__(self, store: FeatureStore) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "rankfeed_rerank_requests", "Re-rank requests answered, by status code.", ["status"], registry=self.registry
        )
        self.registry.register(_StoreCollector(store))
        self._by_status: dict[int, Counter] = {}

    def answered(self, status: int) -> None:
        """Count one answered ``POST /v1/rerank``; children are cached because ``labels()`` is slow."""
        child = self._by_status.get(status)
        if child is None:
            child = self._by_status[status] = self.requests.labels(str(status))
        child.inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
