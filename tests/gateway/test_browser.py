"""What browser pages send (rankfeed.gateway.browser): text/plain bodies, the envelope, publishable keys, CORS.

A beacon can set no header, so its key travels in the query string or the body and its body is text/plain;
these requests get the same validation, limits and partial-success answers as any batch. Against the real broker.
"""

from __future__ import annotations

import gzip

import orjson
import pytest
from pydantic import ValidationError

from rankfeed.gateway.browser import Unwrapped, query_write_key, unwrap
from rankfeed.gateway.settings import GatewaySettings, PublishableKey, WriteKey
from rankfeed.settings import Topics
from tests.conftest import ReadTopic
from tests.gateway.conftest import (
    OTHER_ORIGIN,
    PAGE_KEY,
    SERVER_KEY,
    WEB_ORIGIN,
    GatewayFactory,
    RunningGateway,
    now_ms,
)
from tests.gateway.test_api import action

BATCH = "/v1/actions/batch"
TEXT = {"Content-Type": "text/plain;charset=UTF-8", "Origin": WEB_ORIGIN}


def ndjson(*events: dict[str, object]) -> bytes:
    return b"\n".join(orjson.dumps(event) for event in events)


# -- the pure parts --------------------------------------------------------------------------------


def test_text_bodies_are_told_apart_by_their_first_byte_and_envelopes_by_their_fields() -> None:
    events = b'[{"a": 1}]'
    assert unwrap(b"  " + events, ndjson=False, text=True) == Unwrapped(b"  " + events, False)
    assert unwrap(b'{"a": 1}\n{"a": 2}', ndjson=False, text=True) == Unwrapped(b'{"a": 1}\n{"a": 2}', True)
    assert unwrap(b'{"a": 1}', ndjson=False, text=True).ndjson, "one object that is not an envelope is one line"
    envelope = b'{"write_key": "pk_x", "sent_at": 1764480000000, "events": [{"a": 1}]}'
    assert unwrap(envelope, ndjson=False, text=True) == Unwrapped(b'[{"a": 1}]', False, "pk_x", b"1764480000000")
    assert unwrap(envelope, ndjson=False, text=False).write_key == "pk_x", "an application/json envelope too"
    assert unwrap(b'{"a": 1}', ndjson=False, text=False) == Unwrapped(b'{"a": 1}', False)
    assert unwrap(envelope, ndjson=True, text=False).body == envelope, "NDJSON is never an envelope"


def test_the_write_key_is_read_from_the_query_string() -> None:
    assert query_write_key({"query_string": b"write_key=pk_abc&x=1"}) == "pk_abc"
    assert query_write_key({"query_string": b"x=1"}) is None
    assert query_write_key({"query_string": b""}) is None


def test_publishable_keys_are_kept_apart_from_secret_keys() -> None:
    with pytest.raises(ValidationError, match="pattern"):
        PublishableKey(name="page", key="web-key-0123456789abcdef", allowed_origins=(WEB_ORIGIN,))
    with pytest.raises(ValidationError, match="at least 1 item"):
        PublishableKey(name="page", key=PAGE_KEY, allowed_origins=())
    with pytest.raises(ValidationError, match="mark of publishable keys"):
        WriteKey(name="server", key="pk_0123456789abcdefgh")
    page = PublishableKey(name="page", key=PAGE_KEY, allowed_origins=(WEB_ORIGIN,))
    with pytest.raises(ValidationError, match="not in cors_allowed_origins"):
        GatewaySettings(publishable_keys=(page,))
    with pytest.raises(ValidationError, match="names must be unique"):
        GatewaySettings(
            api_keys=(WriteKey(name="page", key=SERVER_KEY),),
            publishable_keys=(page,),
            cors_allowed_origins=(WEB_ORIGIN,),
        )


# -- against the real broker -----------------------------------------------------------------------


def test_text_plain_batches_in_every_form_reach_kafka(
    gateway: RunningGateway, topics: Topics, read_topic: ReadTopic
) -> None:
    """A JSON array, NDJSON and the envelope as text/plain, with the key in the query string or the body."""
    array, lines, enveloped = [action("search")], [action("click"), action("back")], [action("book")]
    gzipped = [action("scroll")]
    envelope = {"write_key": PAGE_KEY, "sent_at": now_ms(), "events": enveloped}
    answers = [
        gateway.post(BATCH, key=None, params={"write_key": PAGE_KEY}, content=orjson.dumps(array), headers=TEXT),
        gateway.post(BATCH, key=None, params={"write_key": PAGE_KEY}, content=ndjson(*lines), headers=TEXT),
        gateway.post(BATCH, key=None, content=orjson.dumps(envelope), headers=TEXT),
        gateway.post(
            BATCH,
            key=None,
            content=gzip.compress(orjson.dumps({**envelope, "events": gzipped})),
            headers={**TEXT, "Content-Encoding": "gzip"},
        ),
    ]
    assert [answer.status_code for answer in answers] == [202] * 4, [answer.text for answer in answers]
    assert [answer.json()["accepted"] for answer in answers] == [1, 2, 1, 1]
    assert all(answer.headers["access-control-allow-origin"] == WEB_ORIGIN for answer in answers)
    records = read_topic(topics.user_actions, 5, timeout_seconds=30)
    sent = [*array, *lines, *enveloped, *gzipped]
    assert sorted(record["session_id"] for record in records) == sorted(event["session_id"] for event in sent)


def test_text_plain_batches_get_the_same_partial_success_and_problems(shared_gateway: RunningGateway) -> None:
    body = ndjson(action("click"), action("click", position=0), {"not": "json"}) + b"\n{oops"
    answer = shared_gateway.post(BATCH, key=None, params={"write_key": PAGE_KEY}, content=body, headers=TEXT)
    assert answer.status_code == 202
    assert (answer.json()["accepted"], answer.json()["rejected"]) == (1, 3)
    problems = {(error["index"], error["problem"]) for error in answer.json()["errors"]}
    assert (1, "below_minimum") in problems and (3, "malformed_json") in problems
    envelope = {"write_key": PAGE_KEY, "events": [action("click", position=0)]}
    refused = shared_gateway.post(BATCH, key=None, content=orjson.dumps(envelope), headers=TEXT)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "position"


def test_the_envelope_sent_at_corrects_the_page_clock(
    gateway: RunningGateway, topics: Topics, read_topic: ReadTopic
) -> None:
    """A page whose clock is an hour fast: the envelope's sent_at does what X-Sent-At does for a header."""
    hour = 3_600_000
    event = action("click", timestamp=now_ms() + hour - 2_000)
    envelope = {"write_key": PAGE_KEY, "sent_at": now_ms() + hour, "events": [event]}
    answer = gateway.post(BATCH, key=None, content=orjson.dumps(envelope), headers=TEXT)
    assert answer.status_code == 202, answer.text
    (record,) = read_topic(topics.user_actions, 1, timeout_seconds=30)
    lag = record["server_timestamp"] - record["timestamp"]
    assert 1_000 <= lag.total_seconds() * 1000 <= 3_000, "the 2 s between the click and the sending are kept"
    bad = gateway.post(BATCH, key=None, content=orjson.dumps({**envelope, "sent_at": "soon"}), headers=TEXT)
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["message"].startswith("the body's sent_at must be the client's clock")


@pytest.mark.parametrize(
    ("where", "origin", "status", "problem"),
    [
        ("query", OTHER_ORIGIN, 403, "origin_not_allowed"),
        ("body", OTHER_ORIGIN, 403, "origin_not_allowed"),
        ("query", None, 403, "origin_required"),
        ("header", None, 403, "origin_required"),
        ("secret-in-query", WEB_ORIGIN, 401, "secret_key_exposed"),
        ("secret-in-body", None, 401, "secret_key_exposed"),
        # A valid header does not make a secret key in the URL or body any less exposed.
        ("secret-in-query-beside-header", None, 401, "secret_key_exposed"),
        ("secret-in-body-beside-header", None, 401, "secret_key_exposed"),
        ("unknown-in-query", WEB_ORIGIN, 401, "unauthorized"),
        ("nowhere", WEB_ORIGIN, 401, "unauthorized"),
    ],
)
def test_publishable_keys_write_only_from_their_origins(
    shared_gateway: RunningGateway, where: str, origin: str | None, status: int, problem: str
) -> None:
    key = SERVER_KEY if where.startswith("secret") else "pk_unknown_0123456789" if "unknown" in where else PAGE_KEY
    events = [action("click")]
    headers = {"Content-Type": "text/plain", **({"Origin": origin} if origin else {})}
    params = {"write_key": key} if where.endswith("query") or "query-beside" in where else {}
    in_body = where.endswith("body") or "body-beside" in where
    body = orjson.dumps({"write_key": key, "events": events} if in_body else events)
    if where == "header" or where.endswith("beside-header"):
        headers["X-Api-Key"] = key
    answer = shared_gateway.post(BATCH, key=None, params=params, content=body, headers=headers)
    assert answer.status_code == status, answer.text
    (error,) = answer.json()["errors"]
    assert error["problem"] == problem
    if problem == "secret_key_exposed":
        assert SERVER_KEY not in answer.text and "rotate it" in error["message"]


def test_publishable_keys_may_not_read_the_api_document(shared_gateway: RunningGateway) -> None:
    answer = shared_gateway.http.get("/openapi.json", headers={"X-Api-Key": PAGE_KEY})
    assert (answer.status_code, answer.json()["errors"][0]["problem"]) == (403, "publishable_key_write_only")


def test_text_plain_is_for_the_batch_route(shared_gateway: RunningGateway) -> None:
    answer = shared_gateway.post(
        "/v1/actions", key=None, params={"write_key": PAGE_KEY}, content=orjson.dumps(action("click")), headers=TEXT
    )
    assert answer.status_code == 415
    assert "send application/json" in answer.json()["detail"]


def test_a_text_plain_zip_bomb_is_413(start_gateway: GatewayFactory) -> None:
    running = start_gateway(max_body_bytes=64 * 1024)
    bomb = gzip.compress(b"[" + b" " * 10_000_000 + b"]")
    answer = running.post(
        BATCH, key=None, params={"write_key": PAGE_KEY}, content=bomb, headers={**TEXT, "Content-Encoding": "gzip"}
    )
    assert (answer.status_code, answer.json()["errors"][0]["problem"]) == (413, "decompressed_too_large")


def test_cors_answers_cache_the_preflight_and_state_the_credentials_decision(
    shared_gateway: RunningGateway, start_gateway: GatewayFactory
) -> None:
    preflight = {"Origin": WEB_ORIGIN, "Access-Control-Request-Method": "POST"}
    cached = shared_gateway.http.options(BATCH, headers=preflight)
    assert (cached.status_code, cached.headers["access-control-max-age"]) == (204, "600")
    assert "access-control-allow-credentials" not in cached.headers, "keys, never cookies: no credentials"
    written = shared_gateway.post(BATCH, [action("click")], key=None, params={"write_key": PAGE_KEY}, headers=TEXT)
    assert written.status_code == 202 and "access-control-allow-credentials" not in written.headers

    with_cookies = start_gateway(cors_allow_credentials=True, cors_max_age_seconds=7200)
    answer = with_cookies.http.options(BATCH, headers=preflight)
    assert answer.headers["access-control-allow-credentials"] == "true"
    assert answer.headers["access-control-allow-origin"] == WEB_ORIGIN, "echoed, never *"
    assert answer.headers["access-control-max-age"] == "7200"
    assert answer.headers["vary"] == "origin"
