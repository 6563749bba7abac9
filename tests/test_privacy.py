"""The privacy scan: one distinctive raw user id goes through every path into the pipeline, and afterwards no
topic, no Parquet file and no line of the gateway's log holds it.

The gateway runs as its own process (``python -m rankfeed.gateway.cli``, its log to a file), with a user-id key,
the rejected topic on and heartbeats moving the job's watermark; the labelling, features and lake jobs run on
the real cluster. Paths: valid actions (a session that is labelled, closed and written to Parquet), every kind
of invalid event, a mixed batch, a body that is not JSON, an NDJSON line that is not JSON, a corrupt gzip body,
an oversized body, an unknown route, a write key with the ``anonymize`` consent policy, a late action (behind
the watermark, to ``user-actions-late``) and a poison record (to ``user-actions-dlq``).

The poison record is made from a record the gateway wrote (its bytes and three more): a record that a producer
writes past the gateway is outside the gateway's reach, and what it holds is on ``user-actions`` already.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pyarrow.parquet as pq
import pytest
import yaml
from confluent_kafka.admin import AdminClient

from rankfeed import pipeline, schemas
from rankfeed.consumer import committed_reader, read_to_end
from rankfeed.datasets import EVENTS_DATASET, LTR_DATASET, SESSIONS_DATASET
from rankfeed.export import dataset_path, open_dataset
from rankfeed.gateway.privacy import pseudonymize
from rankfeed.local.stack import Stack
from rankfeed.producer import make_producer
from rankfeed.settings import JobSettings, Topics
from tests.conftest import ReadTopic
from tests.job.test_feedback_semantics import submit

HMAC_KEY = "privacy-scan-user-id-key-0123456789"
SERVER_KEY = "privacy-scan-server-key-0123"
ANONYMIZING_KEY = "privacy-scan-anonymizing-key-0123"


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _start_gateway(bootstrap: str, topics: Topics, folder: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    config = {
        "kafka": {"bootstrap_servers": bootstrap},
        "topics": topics.model_dump(),
        "api_keys": [
            {"name": "server", "key": SERVER_KEY},
            {"name": "consentless", "key": ANONYMIZING_KEY, "consent_policy": "anonymize"},
        ],
        "publish_rejected": True,
        "user_id_hmac_key": HMAC_KEY,
        # Heartbeats move the job's watermark to about now − 10 s − its delay: the session below closes, and an
        # action stamped minutes ago is late.
        "heartbeat_interval_seconds": 1.0,
        "heartbeat_margin_seconds": 10.0,
        "max_loop_lag_ms": 2000.0,
        "log_level": "DEBUG",
    }
    config_file = folder / "gateway.yaml"
    config_file.write_text(yaml.safe_dump(config))
    port = _free_port()
    log_file = folder / "gateway.log"
    # Only this test's settings: none of the developer's RANKFEED_* variables.
    env = {name: value for name, value in os.environ.items() if not name.startswith("RANKFEED_")}
    command = [sys.executable, "-m", "rankfeed.gateway.cli", "--config", str(config_file), "--port", str(port)]
    with log_file.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the gateway exited with {process.returncode}: {log_file.read_text()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, url, log_file
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.terminate()
    raise AssertionError(f"the gateway did not become ready: {log_file.read_text()}")


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def _session(raw: str, session: str, start_ms: int) -> list[dict[str, Any]]:
    """A search, a click on position 2 and a book: one labelled session."""
    base = {"user_id": raw, "session_id": session, "search_id": f"{session}-q", "device": "web"}
    shown = [{"hotel_id": f"H{i}", "position": i, "price": 100.0 + i} for i in range(1, 6)]
    return [
        {**base, "event_id": str(uuid.uuid4()), "timestamp": start_ms, "action_type": "search", "query": "Paris",
         "impressions": shown},
        {**base, "event_id": str(uuid.uuid4()), "timestamp": start_ms + 1000, "action_type": "click",
         "hotel_id": "H2", "position": 2},
        {**base, "event_id": str(uuid.uuid4()), "timestamp": start_ms + 2000, "action_type": "book",
         "hotel_id": "H2", "position": 2, "price": 102.0},
    ]  # fmt: skip


def _invalid_events(raw: str, session: str) -> list[dict[str, Any]]:
    """One event per kind of refusal, each carrying ``raw`` where a careless client could put it."""
    valid = {"user_id": raw, "session_id": session, "timestamp": _now_ms(), "action_type": "scroll", "scroll_depth": 3}
    return [
        {**valid, "user_id": raw + "x" * 200},  # too long
        {**valid, "scroll_depth": -1},  # below the minimum
        {**valid, "action_type": raw},  # not one of the symbols (the message echoes the value)
        {**valid, "timestamp": raw},  # not ISO-8601 (echoed too)
        {**valid, "event_id": raw},  # not a UUID
        {**valid, raw: raw},  # an unknown field, named by the id
        {**valid, "client_country": raw},  # a gateway field
        {key: value for key, value in valid.items() if key != "session_id"},  # a required field missing
        {**valid, "action_type": "click"},  # fields its action needs missing
        {**valid, "timestamp": _now_ms() + 3_600_000},  # an hour ahead
        {**valid, "user_id": 42, "query": raw},  # a wrong type
    ]


def _read_everything(bootstrap: str, topic: str) -> list[bytes]:
    """Keys, values and headers of every record of ``topic``, aborted transactions included."""
    consumer = committed_reader(bootstrap, "privacy-scan", **{"isolation.level": "read_uncommitted"})
    try:
        messages = read_to_end(consumer, topic)
    finally:
        consumer.close()
    found = []
    for message in messages:
        parts = [message.key() or b"", message.value() or b""]
        parts += [name.encode() + (value or b"") for name, value in message.headers() or []]
        found.append(b"\0".join(parts))
    return found


def _wait(condition: Any, what: str, timeout_seconds: float = 240.0) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(2)
    raise AssertionError(f"timed out waiting for {what}")


def _rows(parquet_dir: Path, dataset: str) -> int:
    path = dataset_path(parquet_dir, dataset)
    return int(open_dataset(path).count_rows()) if path.is_dir() else 0


@pytest.fixture(scope="module")
def scanned(
    stack: Stack, bootstrap_servers: str, read_topic: ReadTopic, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("privacy")
    raw = f"raw-id-{uuid.uuid4().hex}"
    job_ids, topics = submit(stack, bootstrap_servers, folder, JobSettings(session_gap_minutes=0.1))
    gateway, url, log_file = _start_gateway(bootstrap_servers, topics, folder)
    try:
        server = {"X-Api-Key": SERVER_KEY}
        with httpx.Client(base_url=url, timeout=30) as client:
            start = _now_ms() - 4000
            accepted = _session(raw, f"s-{uuid.uuid4().hex}", start)
            for event in accepted:  # the single route
                assert client.post("/v1/actions", json=event, headers=server).status_code == 202
            mixed = _session(raw, f"s-{uuid.uuid4().hex}", start)
            invalid = _invalid_events(raw, mixed[0]["session_id"])
            answer = client.post("/v1/actions/batch", json=[*mixed, *invalid], headers=server)
            assert (answer.status_code, answer.json()["accepted"]) == (202, len(mixed)), answer.text
            accepted += mixed
            assert client.post("/v1/actions/batch", json=invalid, headers=server).status_code == 422
            anonymous = _session(raw, f"s-{uuid.uuid4().hex}", start)
            answer = client.post("/v1/actions/batch", json=anonymous, headers={"X-Api-Key": ANONYMIZING_KEY})
            assert answer.status_code == 202
            accepted += anonymous
            ndjson = b"\n".join([orjson.dumps(invalid[0]), b'{"user_id": "' + raw.encode() + b'",'])
            headers = {**server, "Content-Type": "application/x-ndjson"}
            assert client.post("/v1/actions/batch", content=ndjson, headers=headers).status_code == 422
            not_json = b'{"user_id": "' + raw.encode() + b'", '
            assert client.post("/v1/actions", content=not_json, headers=server).status_code == 400
            corrupt = gzip.compress(orjson.dumps(accepted[0]))[:-12]
            headers = {**server, "Content-Encoding": "gzip", "Content-Type": "application/json"}
            assert client.post("/v1/actions", content=corrupt, headers=headers).status_code == 400
            oversized = orjson.dumps([{**invalid[0], "query": raw * 40_000}])
            assert client.post("/v1/actions/batch", content=oversized, headers=server).status_code == 413
            assert client.post(f"/v1/{raw}", json=accepted[0], headers=server).status_code == 404
            assert client.post(f"/v1/actions?write_key={raw}", json=accepted[0]).status_code == 401
            assert client.post("/v1/actions", json=accepted[0], headers={"X-Api-Key": raw}).status_code == 401

            # Once the watermark has passed the sessions (their actions are on the clean topic): late and poison.
            clean = read_topic(topics.user_actions_clean, len(accepted), timeout_seconds=180)
            assert len({record["event_id"] for record in clean}) == len(accepted)
            late = {**_session(raw, f"s-{uuid.uuid4().hex}", _now_ms() - 600_000)[0]}
            assert client.post("/v1/actions", json=late, headers=server).status_code == 202
        pseudonym = pseudonymize(HMAC_KEY.encode(), raw).encode()
        written = next(r for r in _read_everything(bootstrap_servers, topics.user_actions) if pseudonym in r)
        producer = make_producer(bootstrap_servers)
        poison = written.split(b"\0", 1)[1] + b"\x01\x02\x03"
        producer.produce(topics.user_actions, poison, key=b"poison")
        assert producer.flush(30) == 0
        assert read_topic(topics.late, 1, schema=schemas.REJECTED_ACTION, timeout_seconds=120)
        assert read_topic(topics.dlq, 1, schema=schemas.REJECTED_ACTION, timeout_seconds=120)
        parquet_dir = folder / "parquet"
        _wait(
            lambda: (
                _rows(parquet_dir, EVENTS_DATASET) >= len(accepted)
                and _rows(parquet_dir, SESSIONS_DATASET) >= 3
                and _rows(parquet_dir, LTR_DATASET) > 0
            ),
            "the lake to hold the accepted sessions",
        )
    finally:
        pipeline.cancel(stack.flink, job_ids)
        gateway.terminate()
        gateway.wait(30)

    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    names = sorted(name for name in admin.list_topics(timeout=10).topics if name in set(topics.specs()))
    records = {name: _read_everything(bootstrap_servers, name) for name in names}
    files = sorted(path for path in parquet_dir.rglob("*") if path.is_file())
    yield {
        "raw": raw,
        "records": records,
        "files": files,
        "log": log_file.read_bytes(),
        "flink_logs": sorted(stack.flink.log_dir.glob("*")),
        "accepted": len(accepted),
        "parquet_dir": parquet_dir,
        "topics": topics,
    }


def test_the_raw_user_id_is_in_no_topic_no_parquet_file_and_no_log(scanned: dict[str, Any]) -> None:
    raw: bytes = scanned["raw"].encode()
    records: dict[str, list[bytes]] = scanned["records"]
    topic_hits = {name: sum(raw in record for record in found) for name, found in records.items()}
    file_hits = [path for path in scanned["files"] if raw in path.read_bytes() or raw in str(path).encode()]
    value_hits = []
    for path in scanned["files"]:
        if path.name.startswith((".", "_")):
            continue  # in-progress part files and markers: their bytes are scanned above
        for row in pq.read_table(path).to_pylist():
            if raw in repr(row).encode():
                value_hits.append(path)
    log_hits = scanned["log"].count(raw)
    flink_hits = [path for path in scanned["flink_logs"] if path.is_file() and raw in path.read_bytes()]
    scanned_records = sum(len(found) for found in records.values())
    log_lines = scanned["log"].count(b"\n")
    hits = sum(topic_hits.values()) + len(file_hits) + len(value_hits) + log_hits + len(flink_hits)
    print(
        f"privacy scan: {scanned_records} records on {len(records)} topics, {len(scanned['files'])} Parquet files, "
        f"{log_lines} gateway log lines, {len(scanned['flink_logs'])} Flink log files: {hits} hits"
    )
    assert sum(topic_hits.values()) == 0, topic_hits
    assert file_hits == [] and value_hits == []
    assert log_hits == 0
    assert flink_hits == []


def test_the_scan_saw_every_path(scanned: dict[str, Any]) -> None:
    """The scan is not vacuous: every path left records, and the user's pseudonym is found where it belongs."""
    topics: Topics = scanned["topics"]
    records: dict[str, list[bytes]] = scanned["records"]
    for name in (topics.user_actions, topics.user_actions_rejected, topics.late, topics.dlq, topics.user_actions_clean,
                 topics.ltr_examples, topics.session_summaries, topics.feedback_events):  # fmt: skip
        assert records.get(name), f"nothing on {name}"
    pseudonym = pseudonymize(HMAC_KEY.encode(), scanned["raw"]).encode()
    assert any(pseudonym in record for record in records[topics.user_actions])
    assert any(pseudonym in record for record in records[topics.user_actions_rejected])
    assert any(pseudonym in record for record in records[topics.late])
    assert any(b"anon-" in record for record in records[topics.user_actions])
    events = open_dataset(dataset_path(scanned["parquet_dir"], EVENTS_DATASET)).to_table().to_pylist()
    assert {row["user_id"] for row in events} >= {pseudonym.decode()}
    assert len(events) == scanned["accepted"]
    assert b"payload_too_large" in scanned["log"] and b"malformed_gzip" in scanned["log"]
