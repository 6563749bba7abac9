"""Poison written straight to user-actions, past the gateway: every record lands in the dead-letter topic,
exactly once, and the job neither fails nor restarts.

``test_feedback_semantics`` checks one poison record's reason and source position inside the scripted
sessions. This run sends every kind of poison the job's decoder (``ActionDecoder``) refuses, interleaved
with good sessions, before the first watermark (they reach the DLQ through the labeller) and after it
(through the ``behind_watermark`` route), and checks the counts: DLQ = poison sent, clean = good sent.
"""

from __future__ import annotations

import random
import struct
import uuid
from datetime import timedelta
from pathlib import Path

import orjson
from confluent_kafka import KafkaError, Message, Producer

from rankfeed import avro, pipeline, schemas
from rankfeed.local.stack import Stack
from rankfeed.producer import make_producer, produce_actions, send_heartbeats
from rankfeed.settings import JobSettings
from rankfeed.types import Record
from tests.conftest import ReadTopic
from tests.job.test_feedback_semantics import BASE, act, click, search, submit

#: (partition, offset) of a record on user-actions.
Position = tuple[int, int]


def good_sessions(count: int) -> list[Record]:
    actions = []
    for number in range(count):
        session = f"poison-good-{number}-{uuid.uuid4().hex[:6]}"
        actions += [search(session, 0, f"q{number}"), click(session, 5, f"q{number}", 2), act(session, 40, "back")]
    return actions


def poison() -> list[tuple[str, bytes | None]]:
    """Values that are not UserActions, each in a way a real bad producer could write."""
    rng = random.Random(6)
    good = avro.encode(click("poison-template", 10, "q", 2))
    teleport = click("poison-template", 10, "q", 2)
    teleport["action_type"] = "teleport"
    other_record = {
        "reason": "a record of another schema",
        "raw_value": b"x",
        "event_id": None,
        "event_time": None,
        "source_partition": None,
        "source_offset": None,
    }
    return [
        ("empty value", b""),
        ("a tombstone (null value)", None),
        *((f"{size} random 7-bit bytes", bytes(rng.randrange(0x80) for _ in range(size))) for size in (7, 64, 512)),
        ("JSON instead of Avro", orjson.dumps({"user_id": "u", "session_id": "s", "action_type": "click"})),
        ("plain text", b"hello, is this the user-actions topic?"),
        ("truncated after the timestamp", good[: len(good) // 2]),
        ("truncated inside the event_id", good[:10]),
        ("one byte left over", good + b"\x00"),
        ("Confluent wire format: magic byte and schema id first", b"\x00" + struct.pack(">I", 7) + good),
        ("another schema's record", avro.encode(other_record, schemas.REJECTED_ACTION)),
        ("an action_type outside the contract", avro.encode(teleport)),
        ("a negative string length", b"\x01" + good[1:]),
        # Avro allocates what a length claims before reading; the cluster caps lengths (flink-conf.yaml).
        ("a 1 GiB event_id claimed in 7 bytes", b"\x80\x80\x80\x80\x08abc"),
        ("a 1 GiB user_id claimed after an empty event_id", b"\x00\x00\x80\x80\x80\x80\x08abc"),
    ]


def produce_poison(producer: Producer, topic: str, values: list[bytes | None]) -> list[Position]:
    positions: list[Position] = []
    failures: list[str] = []

    def delivered(error: KafkaError | None, message: Message) -> None:
        if error is not None:
            failures.append(str(error))
        else:
            positions.append((message.partition(), message.offset()))

    for value in values:
        producer.produce(topic, value, key=b"poison", on_delivery=delivered)
        producer.flush(30)  # one at a time, so positions follow the order of values
    assert not failures and len(positions) == len(values), failures
    return positions


def test_every_poison_record_reaches_the_dlq_once_and_the_job_keeps_running(
    stack: Stack, bootstrap_servers: str, read_topic: ReadTopic, tmp_path: Path
) -> None:
    kinds = poison()
    # Half before the good actions (no watermark yet), half after the heartbeats (behind the watermark).
    early, late = [value for _, value in kinds[::2]], [value for _, value in kinds[1::2]]
    good = good_sessions(4)
    job_ids, topics = submit(stack, bootstrap_servers, tmp_path, JobSettings())
    try:
        producer = make_producer(bootstrap_servers)
        sent: dict[Position, bytes | None] = {}
        sent.update(zip(produce_poison(producer, topics.user_actions, early), early, strict=True))
        produce_actions(producer, topics.user_actions, good[: len(good) // 2])
        sent.update(zip(produce_poison(producer, topics.user_actions, early[:1]), early[:1], strict=True))
        produce_actions(producer, topics.user_actions, good[len(good) // 2 :])
        send_heartbeats(producer, topics.user_actions, BASE + timedelta(hours=2))
        sent.update(zip(produce_poison(producer, topics.user_actions, late), late, strict=True))
        send_heartbeats(producer, topics.user_actions, BASE + timedelta(hours=3))

        clean = read_topic(topics.user_actions_clean, len(good), timeout_seconds=120)
        dead = read_topic(topics.dlq, len(sent), timeout_seconds=60, schema=schemas.REJECTED_ACTION)
        summaries = read_topic(topics.session_summaries, 4, timeout_seconds=30, schema=schemas.SESSION_SUMMARY)

        assert len(dead) == len(sent), f"{len(sent)} poison records sent, {len(dead)} in the DLQ"
        by_position = {(record["source_partition"], record["source_offset"]): record for record in dead}
        assert set(by_position) == set(sent)
        for position, record in by_position.items():
            assert record["raw_value"] == (sent[position] or b""), "a tombstone's raw value is empty bytes"
            assert record["reason"], record
            assert record["event_id"] is None
        assert sorted(record["event_id"] for record in clean) == sorted(action["event_id"] for action in good)
        assert sorted(summary["actions"] for summary in summaries) == [3, 3, 3, 3]

        labelling = job_ids[pipeline.LABELLING.script]
        assert stack.flink.job_state(labelling) == "RUNNING"
        history = stack.flink.rest(f"/jobs/{labelling}/exceptions")["exceptionHistory"]["entries"]
        assert history == [], "the labelling job failed and restarted at least once"
    finally:
        pipeline.cancel(stack.flink, job_ids)
