"""Faults during a run: the outputs still hold every expected record exactly once.

Slow (minutes): a TaskManager is killed mid-stream, and separately the job is stopped with a
savepoint and resumed. Kafka outputs are read as a read_committed consumer would; the Parquet
dataset is read as committed files only.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from rankfeed import pipeline, schemas, simulate
from rankfeed.local.procs import wait_until
from rankfeed.local.stack import Stack
from rankfeed.producer import make_producer, produce_actions, send_heartbeats
from rankfeed.settings import JobSettings
from rankfeed.types import Record
from tests.conftest import ReadTopic

pytestmark = pytest.mark.slow

SESSIONS = 120


def _traffic() -> list[Record]:
    shape = simulate.TrafficShape(sessions=SESSIONS, seed=23, duplicate_share=0.03, out_of_order_share=0.05)
    return simulate.generate(shape)


def _run_with_fault(
    stack: Stack,
    settings: JobSettings,
    read_topic: ReadTopic,
    folder: Path,
    fault: Callable[[dict[str, str]], dict[str, str]],
) -> None:
    """Send half the traffic, apply ``fault`` to the pipeline (it returns the job ids to follow), send the rest.

    No partition may be declared idle while the jobs restart one after another on a busy CPU: the
    first partition read afterwards would set the watermark alone and the others' backlog would
    fall behind it, to the late topic (the hazard the README's chaos section describes). The
    heartbeats at the end close every session, so the test needs no idleness.
    """
    settings = settings.model_copy(update={"source_idle_timeout_seconds": 120})
    config = folder / "job.yaml"
    config.write_text(json.dumps(settings.model_dump(mode="json")))
    job_ids = pipeline.submit(stack.flink, config)
    actions = _traffic()
    half = len(actions) // 2
    producer = make_producer(settings.kafka.bootstrap_servers)
    try:
        produce_actions(producer, settings.topics.user_actions, actions[:half])
        # Some output committed (so a checkpoint completed) before the fault.
        assert read_topic(settings.topics.user_actions_clean, 1, timeout_seconds=60)
        job_ids = fault(job_ids)
        produce_actions(producer, settings.topics.user_actions, actions[half:])
        last = max(action["timestamp"] for action in actions)
        send_heartbeats(producer, settings.topics.user_actions, last + timedelta(hours=2))
        _assert_exactly_once(settings, read_topic, actions)
    finally:
        pipeline.cancel(stack.flink, job_ids)


def _assert_exactly_once(settings: JobSettings, read_topic: ReadTopic, actions: list[Record]) -> None:
    distinct = {action["event_id"]: action for action in actions}
    topics = settings.topics
    clean = read_topic(topics.user_actions_clean, len(distinct), timeout_seconds=180)
    if sorted(r["event_id"] for r in clean) != sorted(distinct):
        missing = set(distinct) - {r["event_id"] for r in clean}
        late = read_topic(topics.late, len(missing), schema=schemas.REJECTED_ACTION, timeout_seconds=10)
        routed = [r["reason"] for r in late if r["event_id"] in missing]
        raise AssertionError(f"{len(missing)} actions missing from the clean topic; on the late topic: {routed[:3]}")
    assert len(clean) == len(distinct), "every action exactly once on the clean topic"

    labelled = [a for a in distinct.values() if a["action_type"] in ("click", "book")]
    feedback = read_topic(topics.feedback_events, len(labelled), schema=schemas.FEEDBACK_EVENT, timeout_seconds=60)
    assert sorted(r["event_id"] for r in feedback) == sorted(a["event_id"] for a in labelled)

    sessions = read_topic(topics.session_summaries, SESSIONS, schema=schemas.SESSION_SUMMARY, timeout_seconds=60)
    assert sorted(r["session_id"] for r in sessions) == sorted({a["session_id"] for a in actions})
    assert sum(r["actions"] for r in sessions) == len(distinct)

    ltr = read_topic(topics.ltr_examples, 10**9, schema=schemas.LTR_EXAMPLE, timeout_seconds=10)
    keys = Counter((r["search_id"], r["hotel_id"]) for r in ltr)
    assert ltr and max(keys.values()) == 1, "one LTR example per (search, hotel)"

    rows = _parquet_event_ids(settings.parquet_dir / "events", len(distinct))
    assert sorted(rows) == sorted(distinct), "every action exactly once in the Parquet dataset"


def _parquet_event_ids(path: Path, expected: int, timeout_seconds: float = 60.0) -> list[str]:
    partitioning = ds.partitioning(pa.schema([("dt", pa.string()), ("hr", pa.string())]), flavor="hive")
    deadline = time.monotonic() + timeout_seconds
    ids: list[str] = []
    while time.monotonic() < deadline:
        dataset = ds.dataset(path, format="parquet", partitioning=partitioning, ignore_prefixes=[".", "_"])
        ids = dataset.to_table(columns=["event_id"]).column("event_id").to_pylist()
        if len(ids) >= expected:
            break
        time.sleep(1)
    return ids


def test_killed_taskmanager_recovers_from_checkpoint_exactly_once(
    stack: Stack, job_settings: JobSettings, read_topic: ReadTopic, tmp_path: Path
) -> None:
    def kill_taskmanager(job_ids: dict[str, str]) -> dict[str, str]:
        stack.flink.kill_taskmanager()
        stack.flink.start_taskmanager()
        wait_until(
            lambda: set(pipeline.states(stack.flink, job_ids).values()) == {"RUNNING"}, 120, "the jobs to run again"
        )
        return job_ids

    _run_with_fault(stack, job_settings, read_topic, tmp_path, kill_taskmanager)


def test_stop_with_savepoint_and_resume_exactly_once(
    stack: Stack, job_settings: JobSettings, read_topic: ReadTopic, tmp_path: Path
) -> None:
    config = tmp_path / "job.yaml"

    def stop_and_resume(job_ids: dict[str, str]) -> dict[str, str]:
        savepoints = pipeline.stop_with_savepoints(stack.flink, job_ids)
        assert set(pipeline.states(stack.flink, job_ids).values()) == {"FINISHED"}
        return pipeline.submit(stack.flink, config, savepoints=savepoints)

    _run_with_fault(stack, job_settings, read_topic, tmp_path, stop_and_resume)
