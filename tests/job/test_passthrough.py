"""End to end through the real broker and the real cluster: fastavro bytes in, the same values out.

This is the guard for the contract: Flink's avro format derives its schema from the generated
DDL, so any drift between the .avsc and the DDL shows up here as a decode error or a changed value.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from rankfeed import schemas
from rankfeed.local.stack import Stack
from rankfeed.producer import make_producer, produce_actions
from rankfeed.settings import JobSettings
from rankfeed.types import Record
from tests.conftest import ReadTopic

JOB = Path(__file__).resolve().parents[2] / "jobs" / "feedback.py"
BASE_TIME = datetime(2026, 11, 27, 9, 15, 30, 123000, tzinfo=UTC)


def _action(**values: object) -> Record:
    record: Record = {name: None for name in schemas.field_names(schemas.USER_ACTION)}
    record.update(
        event_id=str(uuid.uuid4()),
        schema_version=1,
        user_id="U000001",
        session_id="S-1",
        timestamp=BASE_TIME,
        action_type="click",
    )
    record.update(values)
    return record


def edge_case_actions() -> list[Record]:
    """Every column type, nulls and non-nulls, arrays (empty too), unicode, extremes, two hours of time."""
    return [
        _action(),  # every optional field null
        _action(
            action_type="search",
            search_id="q-ü-1",
            query="東京 ホテル 🏨 São Paulo",
            impressions=[
                {"hotel_id": "H1", "position": 1, "price": 99.99, "rating": 4.5},
                {"hotel_id": "H\u00e9", "position": 2, "price": None, "rating": None},
                {"hotel_id": "H3", "position": 2_147_483_647, "price": 0.0, "rating": 0.0},
            ],
            ranking_randomized=False,
            device="web",
            referrer="",
        ),
        _action(action_type="impression", impressions=[], ranking_randomized=True),
        _action(
            action_type="book",
            hotel_id="H1",
            search_id="q-ü-1",
            position=1,
            price=1e12,
            rating=5.0,
            duration=-0.5,
            scroll_depth=0,
            server_timestamp=BASE_TIME + timedelta(milliseconds=1),
            client_country="DE",
            device_family="iPhone",
            ingest_id="req-" + "x" * 5000,
            timestamp=BASE_TIME + timedelta(hours=1, minutes=2),
            session_id="S-2",
        ),
        _action(action_type="back", timestamp=datetime(1970, 1, 1, tzinfo=UTC), user_id="😀" * 3),
    ]


def test_avro_from_fastavro_reaches_kafka_and_parquet_unchanged(
    stack: Stack, job_settings: JobSettings, read_topic: ReadTopic, tmp_path: Path
) -> None:
    config = tmp_path / "job.yaml"
    config.write_text(json.dumps(job_settings.model_dump(mode="json")))
    job_id = stack.flink.run_python_job(JOB, "--config", str(config))
    try:
        sent = edge_case_actions()
        producer = make_producer(job_settings.kafka.bootstrap_servers)
        assert produce_actions(producer, job_settings.topics.user_actions, sent) == len(sent)

        received = read_topic(job_settings.topics.user_actions_clean, len(sent))
        by_id = {record["event_id"]: record for record in received}
        assert len(received) == len(sent), "each record exactly once on the output topic"
        for record in sent:
            assert by_id[record["event_id"]] == record

        rows = _wait_for_parquet(job_settings.parquet_dir / "events", len(sent))
        assert len(rows) == len(sent)
        parquet_by_id = {row["event_id"]: row for row in rows}
        for record in sent:
            row = parquet_by_id[record["event_id"]]
            expected = {**record, "dt": f"{record['timestamp']:%Y-%m-%d}", "hr": f"{record['timestamp']:%H}"}
            for name in ("timestamp", "server_timestamp"):
                if expected[name] is not None:
                    expected[name] = expected[name].replace(tzinfo=None)
            assert row == expected
    finally:
        stack.flink.cancel(job_id)


def _wait_for_parquet(path: Path, expected: int, timeout_seconds: float = 90.0) -> list[Record]:
    """Committed Parquet rows (files Flink has finished; in-progress files start with a dot)."""
    partitioning = ds.partitioning(pa.schema([("dt", pa.string()), ("hr", pa.string())]), flavor="hive")
    deadline = time.monotonic() + timeout_seconds
    rows: list[Record] = []
    while time.monotonic() < deadline:
        if path.exists():
            dataset = ds.dataset(path, format="parquet", partitioning=partitioning, ignore_prefixes=[".", "_"])
            rows = [
                {key: (value.to_pydatetime() if hasattr(value, "to_pydatetime") else value) for key, value in r.items()}
                for r in dataset.to_table().to_pylist()
            ]
            if len(rows) >= expected:
                return rows
        time.sleep(1)
    pytest.fail(f"only {len(rows)} of {expected} rows reached the Parquet dataset {path} in {timeout_seconds}s")
