"""Case 2026-11-30-06 (a gzip body was answered "malformed_json"): Content-Encoding on the write routes.

gzip bodies are decompressed within ``max_body_bytes`` of output and accepted; a zip bomb is 413
``decompressed_too_large`` without inflating more than the limit; a body that is not the gzip stream it
claims is 400 ``malformed_gzip``; any other coding is 415 ``unsupported_content_encoding``, naming it,
with ``Accept-Encoding`` saying what is supported. Against the real broker.
"""

from __future__ import annotations

import gzip
import tracemalloc

import orjson
import pytest

from rankfeed.gateway.compression import (
    CorruptBody,
    DecompressedTooLarge,
    UnsupportedCoding,
    content_coding,
    gunzip,
)
from rankfeed.settings import Topics
from tests.conftest import ReadTopic
from tests.gateway.conftest import GatewayFactory, RunningGateway, wait_until_ready
from tests.gateway.test_api import action

JSON = {"Content-Type": "application/json"}
GZIP = {**JSON, "Content-Encoding": "gzip"}
#: 50 MB of zeros: about 50 KB gzip-compressed, far below max_body_bytes as sent.
BOMB = gzip.compress(b"\0" * 50_000_000)


def test_2026_11_30_06_gzip_single_and_batch_bodies_are_accepted_and_reach_kafka(
    gateway: RunningGateway, topics: Topics, read_topic: ReadTopic
) -> None:
    """2026-11-30-06: the case's two requests, gzip-compressed, are 202 and their events are on Kafka as sent."""
    single = action("back", device="web")
    batch = [action("search"), action("click")]
    ndjson = [action("scroll"), action("rate")]
    answers = [
        gateway.post("/v1/actions", content=gzip.compress(orjson.dumps(single)), headers=GZIP),
        gateway.post("/v1/actions/batch", content=gzip.compress(orjson.dumps(batch)), headers=GZIP),
        gateway.post(
            "/v1/actions/batch",
            content=gzip.compress(b"\n".join(orjson.dumps(event) for event in ndjson)),
            headers={"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"},
        ),
    ]
    assert [answer.status_code for answer in answers] == [202, 202, 202], [answer.text for answer in answers]
    assert [answer.json()["accepted"] for answer in answers] == [1, 2, 2]
    event_ids = [event_id for answer in answers for event_id in answer.json()["event_ids"]]
    records = read_topic(topics.user_actions, 5, timeout_seconds=30)
    assert sorted(record["event_id"] for record in records) == sorted(event_ids)
    by_id = {record["event_id"]: record for record in records}
    sent = [single, *batch, *ndjson]
    for event_id, event in zip(event_ids, sent, strict=True):
        assert (by_id[event_id]["action_type"], by_id[event_id]["session_id"]) == (
            event["action_type"],
            event["session_id"],
        )


def test_2026_11_30_06_the_size_limit_applies_to_the_decompressed_body(start_gateway: GatewayFactory) -> None:
    """2026-11-30-06: max_body_bytes bounds the body once decompressed: exactly the limit passes, a byte more is 413."""
    running = start_gateway(max_body_bytes=4096)
    wait_until_ready(running)
    event = orjson.dumps(action("back"))
    at_limit = event + b" " * (4096 - len(event))  # JSON may end in whitespace
    assert running.post("/v1/actions", content=gzip.compress(at_limit), headers=GZIP).status_code == 202
    over = running.post("/v1/actions", content=gzip.compress(at_limit + b" "), headers=GZIP)
    assert over.status_code == 413
    (error,) = over.json()["errors"]
    assert (error["problem"], error["message"]) == (
        "decompressed_too_large",
        "the body decompresses to more than 4096 bytes, the limit; send fewer events per request",
    )


def test_2026_11_30_06_a_zip_bomb_is_413_and_the_gateway_keeps_serving(start_gateway: GatewayFactory) -> None:
    """2026-11-30-06: 50 MB of zeros in a 50 KB gzip body is refused with a clear problem, counted, and harmless."""
    running = start_gateway()
    wait_until_ready(running)
    for path in ("/v1/actions", "/v1/actions/batch"):
        bomb = running.post(path, content=BOMB, headers=GZIP)
        assert bomb.status_code == 413, bomb.text
        assert bomb.json()["errors"][0]["problem"] == "decompressed_too_large"
    compressed = running.post("/v1/actions", content=gzip.compress(orjson.dumps(action("click"))), headers=GZIP)
    assert compressed.status_code == 202
    assert running.post("/v1/actions", action("click")).status_code == 202
    metrics = set(running.http.get("/metrics").text.splitlines())
    assert 'rankfeed_gateway_rejections_total{reason="decompressed_too_large"} 2.0' in metrics


def test_2026_11_30_06_a_zip_bomb_never_inflates_past_the_limit() -> None:
    """2026-11-30-06: decompression stops at the limit: memory stays bounded by it, not by what the body holds."""
    limit = 64 * 1024
    tracemalloc.start()
    try:
        with pytest.raises(DecompressedTooLarge):
            gunzip(BOMB, limit)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * limit + 128 * 1024, peak  # the output so far plus one step, never the 50 MB


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (gzip.compress(orjson.dumps(action("back")))[:-6], "truncated"),
        (orjson.dumps(action("back")), "incorrect header check"),
        (gzip.compress(orjson.dumps(action("back"))) + b"garbage", "incorrect header check"),
        (b"", "truncated"),
    ],
)
def test_2026_11_30_06_a_body_that_is_not_the_gzip_it_claims_is_400_malformed_gzip(
    shared_gateway: RunningGateway, body: bytes, reason: str
) -> None:
    """2026-11-30-06: a corrupt gzip stream is said to be one, not reported as malformed JSON."""
    for path in ("/v1/actions", "/v1/actions/batch"):
        response = shared_gateway.post(path, content=body, headers=GZIP)
        assert response.status_code == 400, response.text
        (error,) = response.json()["errors"]
        assert error["problem"] == "malformed_gzip"
        assert error["message"].startswith("the body is declared Content-Encoding: gzip but is not a valid gzip stream")
        assert reason in error["message"]


@pytest.mark.parametrize(
    ("coding", "named"),
    [("br", "br"), ("deflate", "deflate"), ("compress", "compress"), ("zstd", "zstd"), ("gzip, br", "br")],
)
def test_2026_11_30_06_other_codings_are_415_naming_the_coding_and_what_is_supported(
    shared_gateway: RunningGateway, coding: str, named: str
) -> None:
    """2026-11-30-06: a coding the gateway cannot decode is 415 (RFC 9110), so the client turns compression off."""
    for path in ("/v1/actions", "/v1/actions/batch"):
        response = shared_gateway.post(path, content=b"\x8b\x00", headers={**JSON, "Content-Encoding": coding})
        assert response.status_code == 415
        assert response.headers["accept-encoding"] == "gzip, identity"
        (error,) = response.json()["errors"]
        assert error["problem"] == "unsupported_content_encoding"
        assert error["message"] == (
            f"Content-Encoding {named} is not supported; send the body uncompressed or with Content-Encoding: gzip"
        )


def test_2026_11_30_06_identity_and_the_old_gzip_name_are_understood(shared_gateway: RunningGateway) -> None:
    """2026-11-30-06: "identity" is no coding; "x-gzip" is gzip (RFC 9110 §8.4.1.3)."""
    plain = shared_gateway.post(
        "/v1/actions", content=orjson.dumps(action("back")), headers={**JSON, "Content-Encoding": "identity"}
    )
    old_name = shared_gateway.post(
        "/v1/actions",
        content=gzip.compress(orjson.dumps(action("back"))),
        headers={**JSON, "Content-Encoding": "x-gzip"},
    )
    assert (plain.status_code, old_name.status_code) == (202, 202)


def test_2026_11_30_06_content_coding_headers_are_read_as_rfc_9110_lists() -> None:
    """2026-11-30-06: the header parser on its own: case, spaces, identity, and gzip applied twice."""
    assert [content_coding(value) for value in (None, b"", b"identity", b" GZip ", b"identity, gzip")] == [
        None,
        None,
        None,
        "gzip",
        "gzip",
    ]
    with pytest.raises(UnsupportedCoding, match="applies gzip 2 times"):
        content_coding(b"gzip, gzip")


def test_2026_11_30_06_concatenated_gzip_members_are_one_body() -> None:
    """2026-11-30-06: a gzip stream may hold several members (RFC 1952); their contents are concatenated."""
    assert gunzip(gzip.compress(b'[{"a":') + gzip.compress(b"1}]"), 100) == b'[{"a":1}]'
    with pytest.raises(CorruptBody):
        gunzip(gzip.compress(b"[]") + b"\0\0\0", 100)
