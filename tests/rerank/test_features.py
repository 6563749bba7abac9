"""The feature store: a faithful in-memory copy of the compacted topic, from its start and then live."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from rankfeed import avro, schemas
from rankfeed.rerank.features import CLICKS, UPDATED_AT_MS, FeatureStore, feature_key
from rankfeed.settings import KafkaSettings, Topics
from tests.rerank.conftest import FeaturePublisher, features_record


@pytest.fixture
def start_store(bootstrap_servers: str, topics: Topics) -> Iterator[list[FeatureStore]]:
    stores: list[FeatureStore] = []
    yield stores
    for store in stores:
        store.stop()


def started(stores: list[FeatureStore], bootstrap_servers: str, topic: str) -> FeatureStore:
    store = FeatureStore(KafkaSettings(bootstrap_servers=bootstrap_servers), topic)
    stores.append(store)
    store.start()
    return store


def clicks(store: FeatureStore, hotel_id: str, destination: str | None = None) -> float | None:
    row = store.get(hotel_id, destination)
    return None if row is None else row[CLICKS]


def wait_for(condition_description: str, condition: Callable[[], bool], timeout_seconds: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {condition_description}"
        time.sleep(0.01)


def test_the_store_reads_the_topic_from_its_start_and_is_ready_only_after_the_end_offsets(
    bootstrap_servers: str, topics: Topics, publisher: FeaturePublisher, start_store: list[FeatureStore]
) -> None:
    # Updates of the same hotel before the store starts: the last one wins, as after compaction.
    publisher.publish(*(features_record(f"h{n}", examined_impressions=10, clicks=n) for n in range(300)))
    publisher.publish(features_record("h7", examined_impressions=10, clicks=9.5))

    store = started(start_store, bootstrap_servers, topics.hotel_features)

    assert store.wait_ready(20), store.status()
    assert len(store) == 300
    assert clicks(store, "h7") == 9.5
    assert store.status()["applied"] == 301
    assert sum(int(part.split(":")[1]) for part in store.version.split(",")) == 301


def test_an_empty_topic_is_ready_at_once(
    bootstrap_servers: str, topics: Topics, start_store: list[FeatureStore]
) -> None:
    store = started(start_store, bootstrap_servers, topics.hotel_features)

    assert store.wait_ready(10), store.status()
    assert len(store) == 0
    assert store.version == "0:0,1:0,2:0"


def test_destination_rows_live_beside_the_global_row_and_tombstones_delete_only_their_own_row(
    bootstrap_servers: str, topics: Topics, publisher: FeaturePublisher, start_store: list[FeatureStore]
) -> None:
    publisher.publish(
        features_record("h1", clicks=1),
        features_record("h1", destination="paris", clicks=2),
        features_record("h1", destination="rome", clicks=3),
    )
    store = started(start_store, bootstrap_servers, topics.hotel_features)
    assert store.wait_ready(20), store.status()
    assert [clicks(store, "h1", d) for d in (None, "paris", "rome", "oslo")] == [1, 2, 3, None]

    publisher.tombstone("h1", "paris")
    wait_for("the paris row is deleted", lambda: store.get("h1", "paris") is None)

    assert [clicks(store, "h1", d) for d in (None, "paris", "rome")] == [1, None, 3]


def test_an_invalid_message_is_skipped_and_counted_and_the_store_keeps_following(
    bootstrap_servers: str, topics: Topics, publisher: FeaturePublisher, start_store: list[FeatureStore]
) -> None:
    store = started(start_store, bootstrap_servers, topics.hotel_features)
    assert store.wait_ready(10), store.status()

    publisher.raw(b"broken", b"\xff\xff not avro")
    publisher.publish(features_record("after", clicks=1))
    wait_for("the update after the broken message arrives", lambda: store.get("after") is not None)

    assert store.invalid == 1
    assert store.get("broken") is None


def encoded(hotel_id: str, clicks: float) -> bytes:
    return avro.encode(features_record(hotel_id, examined_impressions=10, clicks=clicks), schemas.HOTEL_FEATURES)


def test_apply_follows_compaction_semantics_without_kafka() -> None:
    store = FeatureStore(KafkaSettings(), "unused")

    store.apply(feature_key("h1"), encoded("h1", clicks=1))
    store.apply(feature_key("h1"), encoded("h1", clicks=2))
    store.apply(b"unknown-key", None)  # a tombstone for a row never seen changes nothing
    row = store.get("h1")
    assert row is not None
    # (examined_impressions, clicks, books, quick_backs, impressions, updated_at_ms)
    assert row == (10.0, 2.0, 0.0, 0.0, 20.0, row[UPDATED_AT_MS])
    assert abs(row[UPDATED_AT_MS] / 1000 - time.time()) < 60

    # A key that starts carrying another row: the old row is gone, and the tombstone deletes the new one.
    store.apply(feature_key("h1"), encoded("h2", clicks=5))
    assert store.get("h1") is None
    assert clicks(store, "h2") == 5
    store.apply(feature_key("h1"), None)
    assert store.get("h2") is None
    assert len(store) == 0


@pytest.mark.parametrize("field", ["clicks", "examined_impressions"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0])
def test_rows_with_impossible_counts_are_refused(field: str, value: float) -> None:
    store = FeatureStore(KafkaSettings(), "unused")
    record = features_record("h1")
    record[field] = value

    store.apply(b"h1", avro.encode(record, schemas.HOTEL_FEATURES))

    assert store.get("h1") is None
    assert store.invalid == 1
