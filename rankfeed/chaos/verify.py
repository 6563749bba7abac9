"""Read every sink back and hold it against what the gateway acknowledged.

Kafka topics are read from the beginning as ``isolation.level=read_committed`` consumers, so only
output of completed checkpoints counts, as for any downstream reader; Parquet datasets are read with
pyarrow, skipping the hidden in-progress and pending files (``.part-…``) that Flink has not
committed yet.

Where each acknowledged event must appear (the job's semantics, see README "How labels are decided"):

* every action: once in the ``events`` dataset and on ``user-actions-clean``;
* every click and book: once on ``feedback-events`` (a click as ``click`` or ``quick_back``), keyed
  by the event_id of that click or book;
* every click and book on a hotel its acknowledged search showed: one LTR example for
  (search_id, hotel_id), on ``ltr-examples`` and in the ``ltr_examples`` dataset, once the session
  has closed. A (search, hotel) pair never has two examples.

An unacknowledged event may be missing (the client gave up) or present once (Kafka had it when the
connection broke), never twice.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds

from rankfeed import avro, schemas
from rankfeed.consumer import committed_reader
from rankfeed.datasets import EVENTS_DATASET, LTR_DATASET
from rankfeed.settings import JobSettings
from rankfeed.types import Record

LABELLED_ACTIONS = ("click", "book")


def ltr_key(search_id: str, hotel_id: str) -> str:
    return f"{search_id}|{hotel_id}"


@dataclass(frozen=True)
class Expected:
    """What one scenario's acknowledged (and unacknowledged) events must produce."""

    acked: frozenset[str]
    unacked: frozenset[str]
    feedback: frozenset[str]
    ltr: frozenset[str]
    #: Every (search, hotel) key of any search this scenario sent: where duplicates are looked for.
    searches: frozenset[str]

    @classmethod
    def from_actions(cls, actions: dict[str, Record], acked: Iterable[str]) -> Expected:
        acked_ids = frozenset(acked) & frozenset(actions)
        shown: set[str] = set()
        for event_id in acked_ids:
            action = actions[event_id]
            if action["action_type"] == "search" and action["impressions"]:
                shown.update(ltr_key(action["search_id"], i["hotel_id"]) for i in action["impressions"])
        labelled = [actions[i] for i in acked_ids if actions[i]["action_type"] in LABELLED_ACTIONS]
        ltr = {ltr_key(a["search_id"], a["hotel_id"]) for a in labelled} & shown
        return cls(
            acked=acked_ids,
            unacked=frozenset(actions) - acked_ids,
            feedback=frozenset(a["event_id"] for a in labelled),
            ltr=frozenset(ltr),
            searches=frozenset({a["search_id"] for a in actions.values() if a["action_type"] == "search"}),
        )


@dataclass(frozen=True)
class SinkCheck:
    """One sink against one scenario: ids (or LTR keys) missing, duplicated, and unacknowledged ones seen twice."""

    sink: str
    expected: int
    present: int
    missing: tuple[str, ...]
    duplicated: tuple[str, ...]
    unacked_twice: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.missing and not self.duplicated and not self.unacked_twice


@dataclass
class Outputs:
    """Occurrences of each event_id or LTR key in each sink, over the whole run."""

    counts: dict[str, Counter[str]] = field(default_factory=dict)
    #: event_id → the job's reason, for every record on the late topic.
    late: dict[str, str] = field(default_factory=dict)

    def check(self, expected: Expected) -> list[SinkCheck]:
        checks = []
        for sink, counter in self.counts.items():
            if sink.startswith("ltr"):
                wanted = expected.ltr
                ours = {key: n for key, n in counter.items() if key.split("|", 1)[0] in expected.searches}
                duplicated = sorted(key for key, n in ours.items() if n > 1)
                unacked_twice: list[str] = []
            else:
                wanted = expected.feedback if sink == "feedback-events" else expected.acked
                duplicated = sorted(i for i in wanted if counter[i] > 1)
                unacked_twice = sorted(i for i in expected.unacked if counter[i] > 1)
            present = sum(1 for key in wanted if counter[key] > 0)
            missing = sorted(key for key in wanted if counter[key] == 0)
            checks.append(
                SinkCheck(sink, len(wanted), present, tuple(missing), tuple(duplicated), tuple(unacked_twice))
            )
        return checks


def read_topic(
    bootstrap_servers: str,
    topic: str,
    key: Callable[[bytes], str],
    done: Callable[[Counter[str]], bool],
    timeout_seconds: float,
    settle_seconds: float = 3.0,
) -> Counter[str]:
    """Count ``key(value)`` over ``topic``, read_committed from the start, until ``done`` or the timeout.

    It keeps reading ``settle_seconds`` after ``done`` holds, so a duplicate behind the last expected
    record is counted too.
    """
    consumer = committed_reader(bootstrap_servers, "chaos-verify", log_level=2)
    consumer.subscribe([topic])
    counts: Counter[str] = Counter()
    deadline = time.monotonic() + timeout_seconds
    settle_until: float | None = None
    try:
        while True:
            now = time.monotonic()
            if settle_until is None and (done(counts) or now >= deadline):
                settle_until = now + settle_seconds
            if settle_until is not None and now >= settle_until:
                return counts
            for message in consumer.consume(500, 0.5):
                if message.error() is None:
                    counts[key(message.value())] += 1
    finally:
        consumer.close()


def read_dataset(path: Path, columns: list[str]) -> list[tuple[str, ...]]:
    """Rows of the committed files of a Hive-partitioned Parquet dataset (in-progress files start with '.')."""
    if not path.is_dir():
        return []
    partitioning = ds.partitioning(pa.schema([("dt", pa.string()), ("hr", pa.string())]), flavor="hive")
    dataset = ds.dataset(path, format="parquet", partitioning=partitioning, ignore_prefixes=[".", "_"])
    table = dataset.to_table(columns=columns)
    return list(zip(*(table.column(c).to_pylist() for c in columns), strict=True))


def _event_id(schema: str, field_name: str = "event_id") -> Callable[[bytes], str]:
    def key(value: bytes) -> str:
        return str(avro.decode(value, schema)[field_name])

    return key


def _late(value: bytes) -> str:
    record = avro.decode(value, schemas.REJECTED_ACTION)
    return f"{record['event_id']}|partition {record['source_partition']}, offset {record['source_offset']}: " + str(
        record["reason"]
    )


def _ltr(value: bytes) -> str:
    record = avro.decode(value, schemas.LTR_EXAMPLE)
    return ltr_key(record["search_id"], record["hotel_id"])


def collect(job: JobSettings, expected: list[Expected], timeout_seconds: float = 120.0) -> Outputs:
    """Read every sink until all that is expected is there (or the timeout), then a little longer."""
    acked = frozenset().union(*(e.acked for e in expected))
    feedback = frozenset().union(*(e.feedback for e in expected))
    ltr = frozenset().union(*(e.ltr for e in expected))
    bootstrap = job.kafka.bootstrap_servers
    topics = job.topics
    deadline = time.monotonic() + timeout_seconds

    def all_of(wanted: frozenset[str]) -> Callable[[Counter[str]], bool]:
        return lambda counts: all(counts[i] for i in wanted)

    def remaining() -> float:
        return max(deadline - time.monotonic(), 5.0)

    outputs = Outputs()
    user_action = _event_id(schemas.USER_ACTION)
    outputs.counts["user-actions-clean"] = read_topic(
        bootstrap, topics.user_actions_clean, user_action, all_of(acked), remaining()
    )
    outputs.counts["feedback-events"] = read_topic(
        bootstrap, topics.feedback_events, _event_id(schemas.FEEDBACK_EVENT), all_of(feedback), remaining()
    )
    outputs.counts["ltr-examples"] = read_topic(bootstrap, topics.ltr_examples, _ltr, all_of(ltr), remaining())
    late = read_topic(bootstrap, topics.late, _late, lambda _: True, 5.0, 2.0)
    outputs.late = dict(key.split("|", 1) for key in late)
    outputs.counts["events (Parquet)"] = _poll_dataset(
        job.parquet_dir / EVENTS_DATASET, ["event_id"], acked, remaining()
    )
    outputs.counts["ltr_examples (Parquet)"] = _poll_dataset(
        job.parquet_dir / LTR_DATASET, ["search_id", "hotel_id"], ltr, remaining()
    )
    return outputs


def _poll_dataset(path: Path, columns: list[str], wanted: frozenset[str], timeout_seconds: float) -> Counter[str]:
    deadline = time.monotonic() + timeout_seconds
    while True:
        counts = Counter("|".join(row) for row in read_dataset(path, columns))
        if all(counts[i] for i in wanted) or time.monotonic() >= deadline:
            return counts
        time.sleep(2.0)
