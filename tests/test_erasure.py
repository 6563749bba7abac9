"""Erasure of one user and retention of the Parquet datasets: on files laid out as the lake job writes them, and
``rankfeed forget`` against the real broker."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from rankfeed import avro, pipeline, schemas
from rankfeed.cli import app
from rankfeed.datasets import EVENTS_DATASET, LTR_DATASET, SESSIONS_DATASET
from rankfeed.erasure import (
    DatasetErasure,
    committed_files,
    drop_partitions_before,
    erase_users,
    forget,
    oldest_day_kept,
    open_requests,
)
from rankfeed.gateway.privacy import pseudonymize
from rankfeed.local.stack import Stack
from rankfeed.producer import make_producer, produce_actions, send_heartbeats
from rankfeed.settings import ErasureSettings, JobSettings, KafkaSettings, Topics
from rankfeed.types import Record
from tests.conftest import ReadTopic, consume
from tests.job.test_feedback_semantics import BASE, act, shown, submit

ERASED = "a" * 64
KEPT = "b" * 64
MOMENT = datetime(2026, 12, 1, 10, 30, tzinfo=UTC)


def _write(path: Path, users: list[str]) -> None:
    """A part file as Flink writes them: snappy, INT96 timestamps."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table(
        {
            "event_id": [f"{user[:1]}-{number}" for number, user in enumerate(users)],
            "user_id": users,
            "timestamp": pa.array([MOMENT] * len(users), pa.timestamp("ms")),
        }
    )
    pq.write_table(table, path, compression="snappy", use_deprecated_int96_timestamps=True)


def _lake(root: Path) -> dict[str, Path]:
    hour = Path("dt=2026-12-01") / "hr=10"
    files = {
        "mixed": root / EVENTS_DATASET / hour / "part-1-0",
        "only_erased": root / EVENTS_DATASET / hour / "part-1-1",
        "other_user": root / SESSIONS_DATASET / hour / "part-2-0",
        "examples": root / LTR_DATASET / hour / "part-3-0",
        "in_progress": root / EVENTS_DATASET / hour / ".part-1-2.inprogress.abc",
    }
    _write(files["mixed"], [KEPT, ERASED, KEPT, ERASED])
    _write(files["only_erased"], [ERASED, ERASED])
    _write(files["other_user"], [KEPT])
    _write(files["examples"], [ERASED, KEPT])
    _write(files["in_progress"], [ERASED])
    (root / EVENTS_DATASET / hour / "_SUCCESS").touch()
    return files


def _rows(root: Path) -> dict[str, list[dict[str, Any]]]:
    return {
        str(path.relative_to(root)): pq.read_table(path).to_pylist()
        for dataset in (EVENTS_DATASET, LTR_DATASET, SESSIONS_DATASET)
        for path in committed_files(root / dataset)
    }


def test_erasure_removes_the_user_from_committed_files_and_leaves_every_other_row(tmp_path: Path) -> None:
    files = _lake(tmp_path)
    before = _rows(tmp_path)
    in_progress = files["in_progress"].read_bytes()
    untouched = files["other_user"].stat().st_mtime_ns

    reports = erase_users(tmp_path, [ERASED])

    assert reports == [
        DatasetErasure(EVENTS_DATASET, files_read=2, files_rewritten=1, files_removed=1, rows_removed=4),
        DatasetErasure(LTR_DATASET, files_read=1, files_rewritten=1, files_removed=0, rows_removed=1),
        DatasetErasure(SESSIONS_DATASET, files_read=1, files_rewritten=0, files_removed=0, rows_removed=0),
    ]
    after = _rows(tmp_path)
    expected = {
        name: [row for row in rows if row["user_id"] != ERASED]
        for name, rows in before.items()
        if any(row["user_id"] != ERASED for row in rows)
    }
    assert after == expected  # every other row unchanged, in order; the file of the user alone is gone
    assert not files["only_erased"].exists()
    assert files["in_progress"].read_bytes() == in_progress  # the running job's file is not touched
    assert files["other_user"].stat().st_mtime_ns == untouched
    rewritten = pq.ParquetFile(files["mixed"])
    assert rewritten.metadata.row_group(0).column(0).compression == "SNAPPY"
    assert {column.physical_type for column in rewritten.schema if column.name == "timestamp"} == {"INT96"}
    assert not [path for path in tmp_path.rglob(".erasure-*")], "no temporary file is left behind"
    assert erase_users(tmp_path, [ERASED])[0].rows_removed == 0


def test_retention_drops_day_partitions_before_the_oldest_kept_day(tmp_path: Path) -> None:
    for day in ("2026-11-20", "2026-11-28", "2026-11-29", "2026-12-01"):
        _write(tmp_path / EVENTS_DATASET / f"dt={day}" / "hr=00" / "part-0", [KEPT])
    _write(tmp_path / SESSIONS_DATASET / "dt=2026-11-01" / "hr=00" / "part-0", [KEPT])
    (tmp_path / SESSIONS_DATASET / "dt=not-a-day").mkdir()

    oldest = oldest_day_kept(date(2026, 12, 1), days=3)
    assert oldest == date(2026, 11, 29)
    reports = {report.dataset: report.days_dropped for report in drop_partitions_before(tmp_path, oldest)}

    assert reports == {EVENTS_DATASET: ("2026-11-20", "2026-11-28"), SESSIONS_DATASET: ("2026-11-01",)}
    assert sorted(path.name for path in (tmp_path / EVENTS_DATASET).iterdir()) == ["dt=2026-11-29", "dt=2026-12-01"]
    assert sorted(path.name for path in (tmp_path / SESSIONS_DATASET).iterdir()) == ["dt=not-a-day"]


def test_retention_keeps_an_old_day_the_lake_job_still_writes(tmp_path: Path) -> None:
    """A late event can open a file in an old day's partition; deleting it under the running job would
    lose the rows it commits later."""
    partition = tmp_path / "events" / "dt=2026-11-01" / "hr=23"
    partition.mkdir(parents=True)
    (partition / ".part-abc.inprogress.123").write_bytes(b"")
    (partition / "part-committed").write_bytes(b"")
    (report,) = drop_partitions_before(tmp_path, date(2026, 11, 20))
    assert report.days_dropped == () and report.days_in_progress == ("2026-11-01",)
    assert (partition / "part-committed").exists()


def test_erasure_refuses_a_missing_lake_instead_of_erasing_nothing() -> None:
    with pytest.raises(FileNotFoundError, match="no Parquet folder"):
        erase_users(Path("/nonexistent/rankfeed"), [ERASED])


def test_retention_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        oldest_day_kept(date(2026, 12, 1), days=0)
    with pytest.raises(FileNotFoundError, match="no Parquet folder"):
        drop_partitions_before(Path("/nonexistent/rankfeed"), date(2026, 12, 1))


def test_forget_erases_by_pseudonym_and_records_the_request_on_the_compacted_topic(
    tmp_path: Path, bootstrap_servers: str, topics: Topics, read_topic: ReadTopic, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "erasure-test-user-id-key-0123456789"
    erased, kept = pseudonymize(key.encode(), "U-erased"), pseudonymize(key.encode(), "U-kept")
    _write(tmp_path / EVENTS_DATASET / "dt=2026-12-01" / "hr=10" / "part-0", [erased, kept, erased])
    monkeypatch.setenv("RANKFEED_PARQUET_DIR", str(tmp_path))
    monkeypatch.setenv("RANKFEED_TOPICS", json.dumps(topics.model_dump()))
    monkeypatch.setenv("RANKFEED_KAFKA__BOOTSTRAP_SERVERS", bootstrap_servers)
    monkeypatch.setenv("RANKFEED_USER_ID_HMAC_KEY", key)

    result = CliRunner().invoke(app, ["forget", "--user-id", "U-erased"], terminal_width=200)

    assert result.exit_code == 0, result.output
    assert "events: 2 rows removed, 1 files rewritten" in result.output
    assert [row["user_id"] for row in _rows(tmp_path)["events/dt=2026-12-01/hr=10/part-0"]] == [kept]
    requested, completed = read_topic(topics.erasure_requests, 2, timeout_seconds=30, schema=schemas.ERASURE_REQUEST)
    assert requested["user_id"] == completed["user_id"] == erased
    assert (requested["completed_at"], requested["rows_removed"]) == (None, None)
    assert (completed["files_rewritten"], completed["rows_removed"]) == (1, 2)
    assert completed["completed_at"] >= completed["requested_at"]


# -- on the running pipeline -----------------------------------------------------------------------------------


def _visit(user: str, session: str, start: float) -> list[Record]:
    """A search, a click and a book of ``user``: one row each in events/, examples and a session row."""
    search_id = f"{session}-q"
    return [
        act(session, start, "search", user_id=user, search_id=search_id, query="Paris", impressions=shown(5)),
        act(session, start + 5, "click", user_id=user, search_id=search_id, hotel_id="H2", position=2),
        act(session, start + 40, "book", user_id=user, search_id=search_id, hotel_id="H2", position=2, price=120.0),
    ]


def _lake_rows(parquet_dir: Path) -> dict[str, list[str]]:
    """Every committed row of each user dataset, as sorted JSON lines (partition folders left out)."""
    return {
        dataset: sorted(
            json.dumps(row, default=str, sort_keys=True)
            for path in committed_files(parquet_dir / dataset)
            for row in pq.read_table(path).to_pylist()
        )
        for dataset in (EVENTS_DATASET, LTR_DATASET, SESSIONS_DATASET)
    }


def _wait_for_rows(parquet_dir: Path, events: int, sessions: int, timeout_seconds: float = 240.0) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        rows = _lake_rows(parquet_dir)
        if len(rows[EVENTS_DATASET]) >= events and len(rows[SESSIONS_DATASET]) >= sessions:
            return
        time.sleep(2)
    raise AssertionError(f"the lake did not reach {events} events and {sessions} sessions")


def _metric(stack: Stack, job_id: str, name: str) -> int:
    """The sum over subtasks of the labelling job's operator metric ``name``."""
    total = 0
    for vertex in stack.flink.rest(f"/jobs/{job_id}")["vertices"]:
        path = f"/jobs/{job_id}/vertices/{vertex['id']}/metrics"
        ids = [metric["id"] for metric in stack.flink.rest(path) if metric["id"].endswith(f".{name}")]
        if ids:
            values = stack.flink.rest(f"{path}?get={','.join(ids)}")
            total += sum(int(float(metric["value"])) for metric in values)
    return total


def _wait_for_metric(stack: Stack, job_id: str, name: str, at_least: int, timeout_seconds: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if _metric(stack, job_id, name) >= at_least:
            return
        time.sleep(1)
    raise AssertionError(f"the job's {name} did not reach {at_least}: {_metric(stack, job_id, name)}")


def test_forget_while_the_pipeline_runs_erases_the_user_and_the_job_goes_on_exactly_once(
    stack: Stack, bootstrap_servers: str, tmp_path: Path
) -> None:
    job_ids, topics = submit(stack, bootstrap_servers, tmp_path, JobSettings(session_gap_minutes=1.0))
    settings = ErasureSettings(
        kafka=KafkaSettings(bootstrap_servers=bootstrap_servers), topics=topics, parquet_dir=tmp_path / "parquet"
    )
    try:
        producer = make_producer(bootstrap_servers)
        first = [
            *_visit(ERASED, "erasure-s1", 0),
            *_visit(KEPT, "erasure-s2", 10),
            *_visit(ERASED, "erasure-s3", 200),
            *_visit("c" * 64, "erasure-s4", 210),
        ]
        produce_actions(producer, topics.user_actions, first)
        send_heartbeats(producer, topics.user_actions, BASE + timedelta(hours=1))
        _wait_for_rows(settings.parquet_dir, events=len(first), sessions=4)
        before = _lake_rows(settings.parquet_dir)

        forgotten = forget(settings, ERASED)
        reports = forgotten.datasets

        after = _lake_rows(settings.parquet_dir)
        summary = [f"{r.dataset} {r.rows_removed} rows / {r.files_rewritten + r.files_removed} files" for r in reports]
        print("erasure: " + ", ".join(summary))
        assert all(ERASED not in row for rows in after.values() for row in rows)
        assert after == {name: [row for row in rows if ERASED not in row] for name, rows in before.items()}
        removed = {name: len(before[name]) - len(after[name]) for name in before}
        assert {report.dataset: report.rows_removed for report in forgotten.datasets} == removed
        assert removed[EVENTS_DATASET] == 6 and removed[SESSIONS_DATASET] == 2 and removed[LTR_DATASET] > 0

        # Once the job has read the request, the user's actions still in flight are dropped; the job goes on, and a
        # later visit of another user lands exactly once, beside the rows kept.
        _wait_for_metric(stack, job_ids["labelling"], "erasureRequestsReceived", 1)
        in_flight = _visit(ERASED, "erasure-s5", 4000)
        later = _visit(KEPT, "erasure-s6", 4010)
        produce_actions(producer, topics.user_actions, in_flight + later)
        send_heartbeats(producer, topics.user_actions, BASE + timedelta(hours=3))
        _wait_for_rows(settings.parquet_dir, events=len(after[EVENTS_DATASET]) + len(later), sessions=3)
        _wait_for_metric(stack, job_ids["labelling"], "erasedActionsDropped", len(in_flight))
        time.sleep(5)  # a duplicate would arrive with the next checkpoints
        final = _lake_rows(settings.parquet_dir)
        assert all(ERASED not in row for rows in final.values() for row in rows)
        event_ids = [json.loads(row)["event_id"] for row in final[EVENTS_DATASET]]
        expected = [action["event_id"] for action in first + later if action["user_id"] != ERASED]
        assert sorted(event_ids) == sorted(expected)
        clean = consume(bootstrap_servers, topics.user_actions_clean, len(expected), timeout_seconds=30)
        assert sorted(record["event_id"] for record in clean) == sorted(
            action["event_id"] for action in first + later if action["user_id"] != ERASED or action in first
        )
        assert set(pipeline.states(stack.flink, job_ids).values()) == {"RUNNING"}
    finally:
        pipeline.cancel(stack.flink, job_ids)


def test_forget_pending_completes_the_open_requests_of_the_topic(
    tmp_path: Path, bootstrap_servers: str, topics: Topics, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path / EVENTS_DATASET / "dt=2026-12-01" / "hr=10" / "part-0", [ERASED, KEPT])
    producer = make_producer(bootstrap_servers)
    for user, completed in ((KEPT, 1), (ERASED, None)):
        record = {
            "user_id": user,
            "requested_at": 1,
            "completed_at": completed,
            "files_rewritten": None,
            "rows_removed": None,
        }
        producer.produce(topics.erasure_requests, avro.encode(record, schemas.ERASURE_REQUEST), key=user.encode())
    assert producer.flush(30) == 0
    monkeypatch.setenv("RANKFEED_PARQUET_DIR", str(tmp_path))
    monkeypatch.setenv("RANKFEED_TOPICS", json.dumps(topics.model_dump()))
    monkeypatch.setenv("RANKFEED_KAFKA__BOOTSTRAP_SERVERS", bootstrap_servers)
    settings = ErasureSettings()
    assert open_requests(settings) == [ERASED]

    result = CliRunner().invoke(app, ["forget", "--pending"], terminal_width=200)

    assert result.exit_code == 0, result.output
    assert "1 open erasure requests" in result.output and f"erased {ERASED}: 1 rows" in result.output
    assert [row["user_id"] for rows in _rows(tmp_path).values() for row in rows] == [KEPT]
    assert open_requests(settings) == []
    assert CliRunner().invoke(app, ["forget"]).exit_code == 1
