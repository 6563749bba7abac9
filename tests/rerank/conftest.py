"""A real re-ranker for each test that needs one: uvicorn in a thread of the test process, on a free port,
following the test's own hotel-features topic on the shared local broker (no Kafka mocks).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer

from rankfeed import avro, schemas
from rankfeed.local.broker import create_topics
from rankfeed.rerank.app import RerankApp
from rankfeed.rerank.features import feature_key
from rankfeed.rerank.server import uvicorn_options
from rankfeed.rerank.settings import RerankSettings
from rankfeed.settings import KafkaSettings, Topics
from rankfeed.types import Record
from tests.conftest import serve_in_thread
from tests.datasets import features_record

__all__ = ["features_record"]


class FeaturePublisher:
    """Writes HotelFeatures records and tombstones to one topic, as the feedback job would, acknowledged."""

    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        self.topic = topic
        self.producer = Producer({"bootstrap.servers": bootstrap_servers, "acks": "all", "linger.ms": 0})

    def publish(self, *records: Record) -> None:
        for record in records:
            key = feature_key(record["hotel_id"], record["destination"])
            self.producer.produce(self.topic, avro.encode(record, schemas.HOTEL_FEATURES), key)
        self._flush()

    def tombstone(self, hotel_id: str, destination: str | None = None) -> None:
        self.producer.produce(self.topic, None, feature_key(hotel_id, destination))
        self._flush()

    def raw(self, key: bytes, value: bytes | None) -> None:
        self.producer.produce(self.topic, value, key)
        self._flush()

    def _flush(self) -> None:
        remaining = self.producer.flush(10)
        assert remaining == 0, f"{remaining} feature messages were not acknowledged by Kafka"


@dataclass
class RunningReranker:
    settings: RerankSettings
    app: RerankApp
    http: httpx.Client

    def rerank(self, hotel_ids: list[str], **fields: Any) -> httpx.Response:
        return self.http.post("/v1/rerank", json={"hotel_ids": hotel_ids, **fields})

    def order(self, hotel_ids: list[str], **fields: Any) -> list[str]:
        response = self.rerank(hotel_ids, **fields)
        assert response.status_code == 200, response.text
        return [item["hotel_id"] for item in response.json()["ranking"]]

    def wait_until_ready(self, timeout_seconds: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if self.http.get("/readyz").status_code == 200:
                return
            time.sleep(0.05)
        raise AssertionError(f"the re-ranker did not become ready: {self.http.get('/readyz').text}")


def rerank_settings(bootstrap_servers: str, topics: Topics, **overrides: Any) -> RerankSettings:
    values: dict[str, Any] = {"kafka": KafkaSettings(bootstrap_servers=bootstrap_servers), "topics": topics}
    values.update(overrides)
    return RerankSettings(**values)


@contextmanager
def run_reranker(settings: RerankSettings) -> Iterator[RunningReranker]:
    """Serve ``settings`` on a free loopback port until the block ends."""
    app = RerankApp(settings)
    with (
        serve_in_thread(app, uvicorn_options(settings), "re-ranker") as port,
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client,
    ):
        yield RunningReranker(settings, app, client)


RerankerFactory = Callable[..., RunningReranker]


@pytest.fixture
def publisher(bootstrap_servers: str, topics: Topics) -> FeaturePublisher:
    """Publishes to this test's hotel-features topic."""
    return FeaturePublisher(bootstrap_servers, topics.hotel_features)


@pytest.fixture
def start_reranker(bootstrap_servers: str, topics: Topics) -> Iterator[RerankerFactory]:
    """``start_reranker(**settings_overrides)``: a re-ranker following this test's topic, not yet waited for."""
    with ExitStack() as running:

        def start(**overrides: Any) -> RunningReranker:
            settings = rerank_settings(bootstrap_servers, overrides.pop("topics", topics), **overrides)
            return running.enter_context(run_reranker(settings))

        yield start


@pytest.fixture(scope="session")
def shared_reranker(bootstrap_servers: str) -> Iterator[RunningReranker]:
    """One ready re-ranker on an empty topic for the tests that only look at HTTP answers; started once per run."""
    isolated = Topics().with_suffix("rerank-shared")
    create_topics(bootstrap_servers, isolated)
    with run_reranker(rerank_settings(bootstrap_servers, isolated, max_items=5, max_body_bytes=2048)) as running:
        running.wait_until_ready()
        yield running
