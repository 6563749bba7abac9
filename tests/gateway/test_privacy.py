"""The pseudonymization step and the consent policies: unit checks, then through the real gateway and broker."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
import yaml

from rankfeed import avro, schemas
from rankfeed.gateway.privacy import NOT_JSON, Pseudonymizer, header_map, judge_consent, opted_out, pseudonymize
from rankfeed.gateway.settings import AdminKey, ConsentPolicy, GatewaySettings, PublishableKey, WriteKey
from rankfeed.gateway.validation import Problem
from rankfeed.settings import REPO_ROOT, Topics
from tests.conftest import ReadTopic
from tests.gateway.conftest import (
    PAGE_KEY,
    SERVER_KEY,
    WEB_ORIGIN,
    GatewayFactory,
    RunningGateway,
    now_ms,
    wait_until_ready,
)

KEY = b"a-long-secret-key-for-user-ids-0123456789"
RAW = "raw-user-id-7f3a9c"


def test_refused_events_keep_a_pseudonym_field_names_and_sizes_never_values() -> None:
    event = {
        "event_id": "not a uuid " + RAW,
        "user_id": RAW,
        "session_id": RAW,
        "action_type": RAW,
        "timestamp": "2026-11-27T10:50:00Z",
        RAW: RAW,
    }
    problems = [
        Problem(0, "action_type", "not_allowed", f"action_type must be one of search, …; got {RAW!r}"),
        Problem(0, RAW, "unknown_field", f"{RAW} is not a field of the user_action contract"),
        Problem(0, "impressions[3].hotel_id", "too_long", "impressions[3].hotel_id must have at most 64 characters"),
    ]
    raw = orjson.dumps(event)
    key, value = Pseudonymizer(KEY).refused(raw, problems, event)
    assert RAW.encode() not in key + value
    record = avro.decode(value, schemas.REJECTED_ACTION)
    assert record["reason"] == (
        "not_allowed (action_type); unknown_field (unknown field); too_long (impressions[3].hotel_id)"
    )
    assert orjson.loads(record["raw_value"]) == {
        "redacted": 1,
        "json_type": "an object",
        "bytes": len(raw),
        "fields": ["action_type", "event_id", "session_id", "timestamp", "user_id"],
        "unknown_fields": 1,
        "user_id": pseudonymize(KEY, RAW),
    }
    assert key == pseudonymize(KEY, RAW).encode()
    assert record["event_id"] is None  # not a UUID: client text
    assert record["event_time"] is not None


def test_a_refused_body_that_is_not_json_keeps_only_its_size() -> None:
    body = b'{"user_id": "' + RAW.encode() + b'", '
    key, value = Pseudonymizer(KEY).refused(body, [Problem(None, None, "malformed_json", "…")], NOT_JSON)
    record = avro.decode(value, schemas.REJECTED_ACTION)
    assert key == b""
    summary = {"redacted": 1, "json_type": "not JSON", "bytes": len(body), "user_id": None}
    assert orjson.loads(record["raw_value"]) == summary
    assert record["reason"] == "malformed_json (event)"


def test_without_a_key_refused_events_carry_no_user_id_at_all() -> None:
    event = {"user_id": RAW}
    _, value = Pseudonymizer(None).refused(orjson.dumps(event), [], event)
    assert RAW.encode() not in value


def test_anonymous_ids_are_stable_per_session_and_unlinkable_across_sessions() -> None:
    pseudonymizer = Pseudonymizer(KEY)
    first, again, other = (pseudonymizer.anonymous_user_id(session) for session in ("s-1", "s-1", "s-2"))
    assert first == again != other
    assert first.startswith("anon-") and len(first) == 5 + 32
    # Another gateway process with the same key names the same session alike.
    assert Pseudonymizer(KEY).anonymous_user_id("s-1") == first


def _event(consent: str | None) -> Any:
    return SimpleNamespace(consent=consent, user_id="u", session_id="s", referrer="https://mail.example/?u=1")


@pytest.mark.parametrize(
    ("headers", "expected"),
    [({b"sec-gpc": b"1"}, True), ({b"dnt": b"1"}, True), ({b"dnt": b"0"}, False), ({}, False)],
)
def test_sec_gpc_and_dnt_opt_out(headers: dict[bytes, bytes], expected: bool) -> None:
    assert opted_out(headers) is expected


def test_require_refuses_each_event_without_consent_and_keeps_the_others() -> None:
    events = [_event("granted"), _event(None), _event("denied")]
    decision = judge_consent("require", events, [0, 2, 5], False, "web")
    assert decision.kept == events[:1] and decision.anonymous == []
    assert [(problem.index, problem.field, problem.problem) for problem in decision.problems] == [
        (2, "consent", "consent_required"),
        (5, "consent", "consent_required"),
    ]
    everything = judge_consent("require", events, [0, 1, 2], True, "web")
    assert everything.kept == [] and len(everything.problems) == 3
    assert "Sec-GPC" in everything.problems[0].message


def test_anonymize_keeps_every_event_and_marks_those_without_consent() -> None:
    events = [_event("granted"), _event(None), _event("denied")]
    decision = judge_consent("anonymize", events, [0, 1, 2], False, "web")
    assert decision.kept == events and decision.problems == [] and decision.anonymous == events[1:]
    assert judge_consent("anonymize", events, [0, 1, 2], True, "web").anonymous == events
    Pseudonymizer(KEY).anonymize(events[1])
    assert events[1].user_id.startswith("anon-") and events[1].referrer is None


def test_ignore_looks_at_nothing() -> None:
    events = [_event(None), _event("denied")]
    decision = judge_consent("ignore", events, [0, 1], True, "server")
    assert decision.kept == events and decision.problems == [] and decision.anonymous == []


def test_the_readme_configuration_is_valid_gateway_settings() -> None:
    section = (REPO_ROOT / "README.md").read_text(encoding="utf-8").split("## Privacy", 1)[1]
    block = section.split("```yaml\n# gateway.yaml\n", 1)[1].split("```", 1)[0]
    settings = GatewaySettings(**yaml.safe_load(block))
    policies = {key.name: key.consent_policy for key in (*settings.publishable_keys, *settings.api_keys)}
    assert policies == {"web": "require", "backend": "anonymize"}
    assert settings.user_id_hmac_key is not None and settings.publish_rejected
    assert [key.name for key in settings.admin_keys] == ["privacy-office"]


def test_browser_keys_anonymize_and_server_keys_ignore_by_default() -> None:
    assert PublishableKey(name="p", key=PAGE_KEY, allowed_origins=(WEB_ORIGIN,)).consent_policy == "anonymize"
    assert WriteKey(name="s", key=SERVER_KEY).consent_policy == "ignore"


# -- through the gateway -------------------------------------------------------------------------------------


def _back(**values: Any) -> dict[str, Any]:
    event = {
        "event_id": str(uuid.uuid4()),
        "user_id": RAW,
        "session_id": f"S-{uuid.uuid4()}",
        "timestamp": now_ms(),
        "action_type": "back",
        "search_id": "Q-1",
        "hotel_id": "H1",
    }
    return {**event, **values}


def _gateway(start_gateway: GatewayFactory, policy: ConsentPolicy) -> RunningGateway:
    """A ready gateway whose one write key (SERVER_KEY) has ``policy``, with the rejected topic and a user-id key."""
    keys = (WriteKey(name="key", key=SERVER_KEY, consent_policy=policy),)
    running = start_gateway(api_keys=keys, publish_rejected=True, user_id_hmac_key=KEY.decode())
    wait_until_ready(running)
    return running


def test_a_require_key_refuses_actions_without_consent_and_stores_nothing_of_them(
    start_gateway: GatewayFactory, topics: Topics, read_topic: ReadTopic
) -> None:
    running = _gateway(start_gateway, "require")
    granted, missing = _back(consent="granted"), _back()
    response = running.post("/v1/actions/batch", [granted, missing])
    assert (response.status_code, response.json()["accepted"], response.json()["rejected"]) == (202, 1, 1)
    assert response.json()["errors"][0]["problem"] == "consent_required"
    gpc = running.post("/v1/actions", _back(consent="granted"), headers={"Sec-GPC": "1"})
    assert gpc.status_code == 422 and gpc.json()["errors"][0]["problem"] == "consent_required"
    (record,) = read_topic(topics.user_actions, 1, timeout_seconds=30)
    assert (record["event_id"], record["consent"]) == (granted["event_id"], "granted")
    assert read_topic(topics.user_actions_rejected, 1, timeout_seconds=3, schema=schemas.REJECTED_ACTION) == []
    metrics = running.http.get("/metrics").text
    assert 'rankfeed_gateway_rejections_total{reason="consent_required"} 2.0' in metrics


def test_an_anonymize_key_keeps_actions_without_consent_under_a_per_session_id(
    start_gateway: GatewayFactory, topics: Topics, read_topic: ReadTopic
) -> None:
    running = _gateway(start_gateway, "anonymize")
    session = f"S-{uuid.uuid4()}"
    granted = _back(consent="granted", session_id=session)
    denied = _back(consent="denied", session_id=session, referrer="https://mail.example/?user=" + RAW)
    opted = _back(consent="granted", session_id=session)
    assert running.post("/v1/actions/batch", [granted, denied]).status_code == 202
    assert running.post("/v1/actions", opted, headers={"DNT": "1"}).status_code == 202
    records = {record["event_id"]: record for record in read_topic(topics.user_actions, 3, timeout_seconds=30)}
    assert records[granted["event_id"]]["user_id"] == pseudonymize(KEY, RAW)
    anonymous = Pseudonymizer(KEY).anonymous_user_id(session)
    assert records[denied["event_id"]]["user_id"] == records[opted["event_id"]]["user_id"] == anonymous
    assert records[denied["event_id"]]["referrer"] is None
    assert "rankfeed_gateway_events_anonymized_total 2.0" in running.http.get("/metrics").text


def test_refused_events_without_consent_keep_no_pseudonym_under_a_key_that_looks_at_consent(
    start_gateway: GatewayFactory, topics: Topics, read_topic: ReadTopic
) -> None:
    running = _gateway(start_gateway, "anonymize")
    without, granted = _back(scroll_depth=-1), _back(scroll_depth=-1, consent="granted")
    assert running.post("/v1/actions/batch", [without, granted]).status_code == 422
    rejected = read_topic(topics.user_actions_rejected, 2, timeout_seconds=30, schema=schemas.REJECTED_ACTION)
    users = {record["event_id"]: orjson.loads(record["raw_value"])["user_id"] for record in rejected}
    assert users == {without["event_id"]: None, granted["event_id"]: pseudonymize(KEY, RAW)}
    # A Sec-GPC request has no consent, whatever its events say.
    opted_out = _back(scroll_depth=-1, consent="granted")
    assert running.post("/v1/actions", opted_out, headers={"Sec-GPC": "1"}).status_code == 422
    records = read_topic(topics.user_actions_rejected, 3, timeout_seconds=30, schema=schemas.REJECTED_ACTION)
    (gpc,) = [record for record in records if record["event_id"] == opted_out["event_id"]]
    assert orjson.loads(gpc["raw_value"])["user_id"] is None


def test_an_admin_key_records_an_erasure_request_under_the_pseudonym(
    start_gateway: GatewayFactory, topics: Topics, read_topic: ReadTopic
) -> None:
    admin = "privacy-admin-key-0123456789"
    running = start_gateway(admin_keys=(AdminKey(name="dpo", key=admin),), user_id_hmac_key=KEY.decode())
    wait_until_ready(running)
    answer = running.post("/v1/erasure-requests", {"user_id": RAW}, key=admin)
    assert answer.status_code == 202, answer.text
    assert answer.json()["user_id"] == pseudonymize(KEY, RAW)
    (record,) = read_topic(topics.erasure_requests, 1, timeout_seconds=30, schema=schemas.ERASURE_REQUEST)
    assert (record["user_id"], record["completed_at"]) == (pseudonymize(KEY, RAW), None)
    refused = {
        "write key": running.post("/v1/erasure-requests", {"user_id": RAW}),
        "no key": running.post("/v1/erasure-requests", {"user_id": RAW}, key=None),
        "no user": running.post("/v1/erasure-requests", {"user": RAW}, key=admin),
        "events": running.post("/v1/actions", _back(), key=admin),
    }
    problems = {name: (r.status_code, r.json()["errors"][0]["problem"]) for name, r in refused.items()}
    assert problems == {
        "write key": (403, "admin_key_required"),
        "no key": (401, "unauthorized"),
        "no user": (422, "invalid_erasure_request"),
        "events": (401, "unauthorized"),
    }


def test_an_opt_out_sent_twice_stands_whatever_the_other_copy_says() -> None:
    for raw in ([(b"sec-gpc", b"1"), (b"sec-gpc", b"0")], [(b"dnt", b"0"), (b"dnt", b"1")]):
        assert opted_out(header_map(raw)), raw
    assert header_map([(b"x-a", b"1"), (b"x-a", b"2")]) == {b"x-a": b"2"}, "other headers: the last copy"
