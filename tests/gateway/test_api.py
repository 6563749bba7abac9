"""The HTTP API against the real local broker: round trips to Kafka, refusals, security, documents."""

from __future__ import annotations

import socket
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import jsonschema
import orjson
import pytest
from confluent_kafka import KafkaError

from rankfeed import schemas
from rankfeed.gateway.privacy import pseudonymize
from rankfeed.settings import Topics
from tests.conftest import ReadTopic
from tests.gateway.conftest import (
    IPHONE_UA,
    OTHER_ORIGIN,
    SERVER_KEY,
    UK_IP,
    WEB_KEY,
    WEB_ORIGIN,
    GatewayFactory,
    RunningGateway,
    now_ms,
    wait_until_ready,
)

CLIENT_HEADERS = {"User-Agent": IPHONE_UA, "X-Forwarded-For": UK_IP}


def action(action_type: str, **values: Any) -> dict[str, Any]:
    """A valid event of ``action_type`` with what that type needs, stamped now."""
    event: dict[str, Any] = {
        "user_id": "U000042",
        "session_id": f"S-{uuid.uuid4()}",
        "timestamp": now_ms(),
        "action_type": action_type,
        "search_id": "Q-1",
    }
    needs: dict[str, dict[str, Any]] = {
        "search": {"query": "Zürich", "impressions": [{"hotel_id": "H1", "position": 1, "price": 99.5, "rating": 4.2}]},
        "impression": {"impressions": [{"hotel_id": "H1", "position": 1}, {"hotel_id": "H2", "position": 2}]},
        "click": {"hotel_id": "H1", "position": 1, "price": 99.5, "rating": 4.2, "duration": 31.5},
        "book": {"hotel_id": "H1", "position": 1, "price": 99.5},
        "scroll": {"scroll_depth": 12},
        "rate": {"hotel_id": "H1", "rating": 5.0},
        "back": {"hotel_id": "H1"},
    }
    event.update(needs[action_type])
    event.update(values)
    return event


def expected_record(sent: dict[str, Any], event_id: str, request_id: str) -> dict[str, Any]:
    """What the topic must hold for ``sent``: the client's values, defaults, and the gateway's fields."""
    record: dict[str, Any] = {name: None for name in schemas.field_names(schemas.USER_ACTION)}
    for name, value in sent.items():
        record[name] = value
    if record["impressions"] is not None:
        record["impressions"] = [{"price": None, "rating": None, **item} for item in record["impressions"]]
    record["timestamp"] = datetime.fromtimestamp(sent["timestamp"] / 1000, UTC)
    record["client_timestamp"] = record["timestamp"]  # stamped before sending: not later than the gateway's clock
    record.update(
        event_id=event_id,
        schema_version=sent.get("schema_version", 1),
        device=sent.get("device", "mobile"),
        client_country="GB",
        device_family="iPhone",
        ingest_id=request_id,
    )
    return record


def test_every_action_type_goes_round_trip_to_kafka_with_the_gateway_fields(
    gateway: RunningGateway, topics: Topics, read_topic: ReadTopic
) -> None:
    kept_id = str(uuid.uuid4())
    sent = [action(kind) for kind in ("search", "impression", "click", "book", "scroll", "rate", "back")]
    sent[2]["event_id"] = kept_id  # a client's event_id is kept, the others are assigned
    sent[3]["device"] = "tablet"  # a client's device is kept, the others come from the User-Agent
    sent[4]["timestamp"] = datetime.fromtimestamp(sent[4]["timestamp"] / 1000, UTC).isoformat()
    expected = {}
    before = datetime.now(UTC).replace(microsecond=0)
    for event in sent:
        response = gateway.post("/v1/actions", event, headers=CLIENT_HEADERS)
        assert response.status_code == 202, response.text
        answer = response.json()
        assert answer["accepted"] == 1 and answer["errors"] == []
        (event_id,) = answer["event_ids"]
        if isinstance(event["timestamp"], str):
            event = {**event, "timestamp": int(datetime.fromisoformat(event["timestamp"]).timestamp() * 1000)}
        expected[event_id] = expected_record(event, event_id, response.headers["x-request-id"])
    assert kept_id in expected
    records = read_topic(topics.user_actions, len(sent), timeout_seconds=30)
    assert sorted(record["event_id"] for record in records) == sorted(expected)
    for record in records:
        server_timestamp = record.pop("server_timestamp")
        assert before <= server_timestamp <= datetime.now(UTC)
        wanted = dict(expected[record["event_id"]])
        wanted.pop("server_timestamp")
        assert record == wanted


def test_a_batch_accepts_valid_events_and_lists_every_invalid_one(
    gateway: RunningGateway, topics: Topics, read_topic: ReadTopic
) -> None:
    batch = [action("click"), action("click", position=0), action("book"), {"user_id": "U1"}, action("scroll")]
    response = gateway.post("/v1/actions/batch", batch)
    assert response.status_code == 202
    answer = response.json()
    assert answer["accepted"] == 3 and len(answer["event_ids"]) == 3 and answer["rejected"] == 2
    assert answer["detail"] == "3 of 5 events accepted; 2 rejected, see errors"
    assert [(error["index"], error["field"], error["problem"]) for error in answer["errors"]] == [
        (1, "position", "below_minimum"),
        (3, "session_id", "missing_field"),
        (3, "timestamp", "missing_field"),
        (3, "action_type", "missing_field"),
    ]
    records = read_topic(topics.user_actions, 3, timeout_seconds=30)
    assert sorted(record["event_id"] for record in records) == sorted(answer["event_ids"])
    assert sorted(record["action_type"] for record in records) == ["book", "click", "scroll"]


def test_a_batch_without_a_valid_event_is_422_and_nothing_is_produced(
    gateway: RunningGateway, topics: Topics, read_topic: ReadTopic
) -> None:
    response = gateway.post("/v1/actions/batch", [action("click", rating=9), action("rate", rating=None)])
    assert response.status_code == 422
    answer = response.json()
    assert answer["accepted"] == 0 and answer["event_ids"] == [] and answer["rejected"] == 2
    assert [(error["index"], error["problem"]) for error in answer["errors"]] == [
        (0, "above_maximum"),
        (1, "required_for_action"),
    ]
    assert read_topic(topics.user_actions, 1, timeout_seconds=3) == []


def test_ndjson_batches_report_lines_that_are_not_json_by_their_index(
    gateway: RunningGateway, topics: Topics, read_topic: ReadTopic
) -> None:
    lines = [orjson.dumps(action("click")), b"{not json", b"", orjson.dumps(action("back"))]
    response = gateway.post(
        "/v1/actions/batch", content=b"\n".join(lines), headers={"Content-Type": "application/x-ndjson"}
    )
    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["accepted"] == 2 and answer["rejected"] == 1
    assert [(error["index"], error["problem"]) for error in answer["errors"]] == [(1, "malformed_json")]
    assert len(read_topic(topics.user_actions, 2, timeout_seconds=30)) == 2


def test_a_valid_ndjson_batch_is_accepted_whole(gateway: RunningGateway) -> None:
    body = b"\n".join(orjson.dumps(action(kind)) for kind in ("search", "click", "back")) + b"\n"
    response = gateway.post("/v1/actions/batch", content=body, headers={"Content-Type": "application/x-ndjson"})
    assert (response.status_code, response.json()["accepted"]) == (202, 3)


@pytest.mark.parametrize(
    ("path", "content", "content_type", "status", "problem"),
    [
        ("/v1/actions", b'{"user_id": ', "application/json", 400, "malformed_json"),
        ("/v1/actions", b"[]", "application/json", 422, "not_an_object"),
        ("/v1/actions/batch", b'{"user_id": "u"}', "application/json", 422, "not_an_array"),
        ("/v1/actions/batch", b"[]", "application/json", 422, "empty_batch"),
        ("/v1/actions", b"user_id=u", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        ("/v1/actions", b"{}\n{}", "application/x-ndjson", 415, "unsupported_media_type"),
    ],
)
def test_request_level_refusals_carry_a_machine_readable_problem(
    shared_gateway: RunningGateway, path: str, content: bytes, content_type: str, status: int, problem: str
) -> None:
    response = shared_gateway.post(path, content=content, headers={"Content-Type": content_type})
    assert response.status_code == status
    (error,) = response.json()["errors"]
    assert (error["index"], error["field"], error["problem"]) == (None, None, problem)
    assert error["message"] == response.json()["detail"]


def test_a_batch_larger_than_the_limit_is_refused(start_gateway: GatewayFactory) -> None:
    running = start_gateway(max_batch_events=3, rate_limit_burst_events=10)
    response = running.post("/v1/actions/batch", [action("back")] * 4)
    assert response.status_code == 422
    assert response.json()["errors"][0]["message"] == "a batch may hold at most 3 events, got 4"


def test_writes_need_a_known_key_and_the_probes_do_not(shared_gateway: RunningGateway) -> None:
    for key in (None, "not-a-key-0123456789"):
        response = shared_gateway.post("/v1/actions", action("click"), key=key)
        assert response.status_code == 401
        assert response.json()["errors"][0]["problem"] == "unauthorized"
    for path in ("/healthz", "/readyz", "/metrics"):
        assert shared_gateway.http.get(path).status_code == 200, path
    assert shared_gateway.http.get("/openapi.json").status_code == 401
    assert shared_gateway.http.get("/openapi.json", headers={"X-Api-Key": SERVER_KEY}).status_code == 200


def test_a_key_works_only_from_its_origins(shared_gateway: RunningGateway) -> None:
    allowed = shared_gateway.post("/v1/actions", action("click"), key=WEB_KEY, headers={"Origin": WEB_ORIGIN})
    assert allowed.status_code == 202
    assert allowed.headers["access-control-allow-origin"] == WEB_ORIGIN
    assert "x-request-id" in allowed.headers["access-control-expose-headers"]
    other = shared_gateway.post("/v1/actions", action("click"), key=WEB_KEY, headers={"Origin": OTHER_ORIGIN})
    assert other.status_code == 403
    assert other.json()["errors"][0]["message"] == f"write key 'web' may not be used from origin {OTHER_ORIGIN}"
    assert other.headers["access-control-allow-origin"] == OTHER_ORIGIN  # so the page can read why
    server_key_in_a_browser = shared_gateway.post("/v1/actions", action("click"), headers={"Origin": WEB_ORIGIN})
    assert server_key_in_a_browser.status_code == 403


def test_cors_preflight_answers_allowed_origins_only(shared_gateway: RunningGateway) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,x-api-key"}
    allowed = shared_gateway.http.options("/v1/actions/batch", headers={"Origin": WEB_ORIGIN, **preflight})
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == WEB_ORIGIN
    assert allowed.headers["access-control-allow-methods"] == "POST, OPTIONS"
    assert "x-api-key" in allowed.headers["access-control-allow-headers"]
    assert allowed.headers["access-control-max-age"] == "600"
    refused = shared_gateway.http.options("/v1/actions", headers={"Origin": "https://evil.example", **preflight})
    assert refused.status_code == 403
    assert "access-control-allow-origin" not in refused.headers


def test_bodies_over_the_limit_are_413_whether_declared_or_streamed(start_gateway: GatewayFactory) -> None:
    running = start_gateway(max_body_bytes=2048)
    too_big = orjson.dumps([action("click", referrer="r" * 1500), action("click", referrer="r" * 1500)])
    declared = running.post("/v1/actions/batch", content=too_big, headers={"Content-Type": "application/json"})
    assert declared.status_code == 413
    assert declared.json()["errors"][0]["message"] == "the body may have at most 2048 bytes"

    def chunks() -> Any:
        for start in range(0, len(too_big), 512):
            yield too_big[start : start + 512]

    streamed = running.post("/v1/actions/batch", content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413
    assert running.post("/v1/actions", action("click")).status_code == 202  # a small body still passes


def test_the_rate_limit_is_per_key_counts_events_and_says_when_to_retry(start_gateway: GatewayFactory) -> None:
    running = start_gateway(rate_limit_events_per_second=1, rate_limit_burst_events=5, max_batch_events=5)
    assert running.post("/v1/actions/batch", [action("back")] * 5).status_code == 202
    limited = running.post("/v1/actions", action("back"))
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "1"
    assert limited.json()["errors"][0]["problem"] == "rate_limited"
    other_key = running.post("/v1/actions", action("back"), key=WEB_KEY)
    assert other_key.status_code == 202


def test_unknown_routes_and_methods(shared_gateway: RunningGateway) -> None:
    assert shared_gateway.http.get("/v2/actions").status_code == 404
    assert shared_gateway.http.get("/v1/actions").status_code == 405
    assert shared_gateway.http.post("/healthz").status_code == 405


def test_metrics_count_requests_and_rejections_by_reason(start_gateway: GatewayFactory) -> None:
    running = start_gateway()
    wait_until_ready(running)
    assert running.post("/v1/actions", action("click", position=0, rating=8)).status_code == 422
    assert running.post("/v1/actions", action("click"), key=None).status_code == 401
    assert running.post("/v1/actions/batch", [action("click"), action("back")]).status_code == 202
    metrics = running.http.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    lines = set(metrics.text.splitlines())
    assert 'rankfeed_gateway_rejections_total{reason="below_minimum"} 1.0' in lines
    assert 'rankfeed_gateway_rejections_total{reason="above_maximum"} 1.0' in lines
    assert 'rankfeed_gateway_rejections_total{reason="unauthorized"} 1.0' in lines
    assert "rankfeed_gateway_events_accepted_total 2.0" in lines
    assert 'rankfeed_gateway_requests_total{route="/v1/actions/batch",status="202"} 1.0' in lines


def test_readiness_reports_the_broker_and_the_budget(shared_gateway: RunningGateway) -> None:
    answer = shared_gateway.http.get("/readyz").json()
    assert answer == {"ready": True, "reason": None, "in_flight_events": 0, "max_in_flight_events": 50_000}
    assert shared_gateway.http.get("/healthz").json() == {"status": "alive"}


def test_the_openapi_document_is_the_contract(shared_gateway: RunningGateway) -> None:
    document = shared_gateway.http.get("/openapi.json", headers={"X-Api-Key": SERVER_KEY}).json()
    assert document["openapi"] == "3.1.0"
    assert set(document["paths"]) == {
        "/v1/actions",
        "/v1/actions/batch",
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
    }
    event_schema = document["components"]["schemas"]["UserActionIn"]
    properties = event_schema["properties"]
    assert properties["position"]["anyOf"][0]["minimum"] == 1
    assert properties["rating"]["anyOf"][0]["maximum"] == 5
    assert properties["action_type"]["enum"][:2] == ["search", "impression"]
    assert "server_timestamp" not in properties and event_schema["additionalProperties"] is False
    assert event_schema["required"] == ["user_id", "session_id", "timestamp", "action_type"]
    resolver_document = {"components": document["components"], **event_schema}
    validator = jsonschema.Draft202012Validator(resolver_document)
    assert list(validator.iter_errors(action("search"))) == []
    for invalid in (action("click", position=0), action("click", colour="red"), {"user_id": "u"}):
        assert list(validator.iter_errors(invalid)), invalid


def test_rejected_events_go_to_the_rejected_topic_redacted_when_enabled(
    start_gateway: GatewayFactory, topics: Topics, read_topic: ReadTopic
) -> None:
    running = start_gateway(publish_rejected=True, user_id_hmac_key="a-long-secret-key-for-user-ids-0123456789")
    wait_until_ready(running)
    moment = datetime.now(UTC).replace(microsecond=0)
    bad = action("click", position=0, event_id=str(uuid.uuid4()), timestamp=moment.isoformat())
    lines = [orjson.dumps(action("back")), orjson.dumps(bad), b'{"user_id": "U1",']
    response = running.post(
        "/v1/actions/batch", content=b"\n".join(lines), headers={"Content-Type": "application/x-ndjson"}
    )
    assert (response.status_code, response.json()["accepted"], response.json()["rejected"]) == (202, 1, 2)
    rejected = read_topic(topics.user_actions_rejected, 2, timeout_seconds=30, schema=schemas.REJECTED_ACTION)
    # The topic has several partitions: order between the two records is not defined.
    first, second = sorted(rejected, key=lambda record: record["reason"].startswith("malformed_json"))
    # Reasons and field names, a pseudonym and sizes: no value the client sent (rankfeed.gateway.privacy).
    assert first["reason"] == "below_minimum (position)"
    assert orjson.loads(first["raw_value"]) == {
        "redacted": 1,
        "json_type": "an object",
        "bytes": len(orjson.dumps(bad)),
        "fields": sorted(bad),
        "unknown_fields": 0,
        "user_id": pseudonymize(b"a-long-secret-key-for-user-ids-0123456789", "U000042"),
    }
    assert (first["event_id"], first["event_time"]) == (bad["event_id"], moment)
    assert orjson.loads(second["raw_value"]) == {
        "redacted": 1,
        "json_type": "not JSON",
        "bytes": len(lines[2]),
        "user_id": None,
    }
    assert second["reason"] == "malformed_json (event)"


def test_user_ids_reach_kafka_only_as_keyed_hashes_when_configured(
    start_gateway: GatewayFactory, topics: Topics, read_topic: ReadTopic
) -> None:
    running = start_gateway(user_id_hmac_key="a-long-secret-key-for-user-ids-0123456789")
    wait_until_ready(running)
    assert running.post("/v1/actions", action("back", user_id="U000042")).status_code == 202
    (record,) = read_topic(topics.user_actions, 1, timeout_seconds=30)
    assert record["user_id"] == pseudonymize(b"a-long-secret-key-for-user-ids-0123456789", "U000042")


def test_a_body_that_never_completes_is_cut_off_at_the_request_deadline(start_gateway: GatewayFactory) -> None:
    running = start_gateway(request_deadline_seconds=1.0)
    port = int(running.base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        head = (
            "POST /v1/actions HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            f"X-Api-Key: {SERVER_KEY}\r\nContent-Length: 1000\r\n\r\n"
        )
        connection.sendall(head.encode() + b'{"user_id": "u",')
        started = time.monotonic()
        answer = connection.recv(4096)
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b'"problem":"request_timeout"' in answer
    assert 0.9 < waited < 3.0


def test_a_fatal_producer_error_is_healed_by_a_new_producer(
    gateway: RunningGateway, topics: Topics, read_topic: ReadTopic
) -> None:
    sink = gateway.app.sink
    broken = sink._producers["single"]
    # librdkafka raises fatal errors when idempotence cannot be kept; inject one as its error callback would.
    sink._on_error("single", KafkaError(KafkaError._FATAL, "injected for the test", fatal=True))
    assert sink.not_ready_reason() is not None or sink._producers["single"] is not broken
    deadline = time.monotonic() + 5
    while sink._producers["single"] is broken and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sink._producers["single"] is not broken
    wait_until_ready(gateway)
    single = gateway.post("/v1/actions", action("back"))
    batch = gateway.post("/v1/actions/batch", [action("back"), action("click")])
    assert (single.status_code, batch.status_code) == (202, 202)
    records = read_topic(topics.user_actions, 3, timeout_seconds=30)
    assert sorted(record["event_id"] for record in records) == sorted(
        single.json()["event_ids"] + batch.json()["event_ids"]
    )


def test_access_log_lines_are_json_with_the_request_id_and_never_the_payload(
    start_gateway: GatewayFactory, capfd: pytest.CaptureFixture[str]
) -> None:
    running = start_gateway(access_log=True)
    wait_until_ready(running)
    response = running.post("/v1/actions", action("back", user_id="PERSONAL-USER-ID-4711"))
    assert response.status_code == 202
    time.sleep(0.5)  # the access log is flushed every 200 ms
    output = capfd.readouterr().err
    assert "PERSONAL-USER-ID-4711" not in output
    entries = [orjson.loads(line) for line in output.splitlines() if line.startswith("{")]
    (entry,) = [entry for entry in entries if entry.get("request_id") == response.headers["x-request-id"]]
    assert entry["logger"] == "rankfeed.gateway.access"
    assert (entry["path"], entry["status"], entry["client"], entry["accepted"]) == ("/v1/actions", 202, "server", 1)
    assert entry["ts"].endswith("Z") and entry["duration_ms"] > 0
