"""A corpus of hand-made nasty requests and the exact answer the gateway owes each.

The cases are built in code, when they are sent (the 10 MB bodies are never kept or committed).
Each names what is sent (path, content type, body, streamed or not) and what must come back: the
status, how many events were accepted, and the ``(index, field, problem)`` of every error in order.

Decisions the corpus pins down:

* **Duplicate keys: the last one wins**, on both the fast path (msgspec) and the slow path (orjson),
  so the event that is validated is the event that is written. Rejecting them would need a second,
  slower parser on every request; last-wins is what both parsers do, consistently, and the record on
  Kafka is what was validated, so nothing downstream can read the body differently.
* **NUL is a character**: ``"\\u0000"`` inside a string is valid JSON and valid Avro and is kept; a raw
  NUL byte is not JSON (400).
* **Numbers JSON cannot hold are not JSON**: ``NaN``, ``Infinity``, ``1e400`` → 400. An integer beyond
  64 bits is read as a float, so an int field reports ``wrong_type``.
* **A body without ``Content-Type`` is read as JSON**; any other type but JSON (and NDJSON on the batch
  route) is 415.
* **A batch over ``max_batch_events`` is 422 ``too_many_events``** (413 only when the body itself is over
  ``max_body_bytes``); a batch of exactly ``max_batch_events`` is accepted whole.
* **At most 20 problems are listed per event**, then one ``too_many_problems``: the answer stays small
  whatever the body.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

SINGLE = "/v1/actions"
BATCH = "/v1/actions/batch"
JSON = "application/json"
NDJSON = "application/x-ndjson"
#: The default ``max_batch_events`` and ``max_body_bytes`` the corpus gateway runs with.
MAX_BATCH = 500
MAX_BODY = 1_048_576
#: Deeper than any JSON parser's recursion limit would allow on the C stack.
DEEP = 100_000
TEN_MB = 10 * 1024 * 1024
#: The last millisecond of year 9999, and year 10000.
END_OF_9999_MS = 253_402_300_799_999

Error = tuple[int | None, str | None, str]
#: Builds the body from the current time (epoch ms), so valid events are stamped when sent.
Body = Callable[[int], bytes]


@dataclass(frozen=True)
class Nasty:
    name: str
    path: str
    body: Body
    status: int
    errors: tuple[Error, ...] = ()
    accepted: int = 0
    content_type: str | None = JSON
    #: Sent in chunks without Content-Length, so only the body reader can notice its size.
    streamed: bool = False
    #: For accepted single events: field values the record on Kafka must hold.
    stored: dict[str, Any] = field(default_factory=dict)


def event(now_ms: int, **fields: Any) -> dict[str, Any]:
    """A valid ``back`` event stamped ``now_ms``, with ``fields`` set or replaced."""
    base: dict[str, Any] = {
        "user_id": "U-nasty",
        "session_id": "S-nasty",
        "timestamp": now_ms,
        "action_type": "back",
        "hotel_id": "H1",
    }
    base.update(fields)
    return base


def raw_event(now_ms: int, fragment: bytes, **fields: Any) -> bytes:
    """A valid event as JSON with ``fragment`` (raw bytes, e.g. ``"price":NaN``) spliced in as its last member."""
    return orjson.dumps(event(now_ms, **fields))[:-1] + b"," + fragment + b"}"


def _json(value: Callable[[int], Any]) -> Body:
    return lambda now: orjson.dumps(value(now))


def _const(body: bytes) -> Body:
    return lambda _now: body


def _ndjson(*lines: Body) -> Body:
    return lambda now: b"\n".join(line(now) for line in lines)


def _good(now: int) -> bytes:
    return orjson.dumps(event(now))


MALFORMED: tuple[Error, ...] = ((None, None, "malformed_json"),)
TOO_LARGE: tuple[Error, ...] = ((None, None, "payload_too_large"),)
UNSUPPORTED: tuple[Error, ...] = ((None, None, "unsupported_media_type"),)
TOO_MANY: tuple[Error, ...] = ((None, None, "too_many_events"),)


def _deep_arrays(now: int) -> bytes:
    return b"[" * DEEP + b"]" * DEEP


def _deep_objects(now: int) -> bytes:
    return b'{"a":' * DEEP + b"1" + b"}" * DEEP


def _ten_mb_string(now: int) -> bytes:
    return orjson.dumps(event(now, referrer="r" * TEN_MB))


def _unknown_keys(now: int) -> bytes:
    return raw_event(now, b",".join(b'"k%d":1' % number for number in range(80_000)))


CORPUS: tuple[Nasty, ...] = (
    # -- deep nesting: the parsers stop at their depth limit instead of blowing the stack --------
    Nasty("100k nested arrays as the event", SINGLE, _deep_arrays, 400, MALFORMED),
    Nasty("100k nested arrays as the batch", BATCH, _deep_arrays, 400, MALFORMED),
    Nasty("100k nested objects", SINGLE, _deep_objects, 400, MALFORMED),
    Nasty(
        "100k nested arrays in a field",
        SINGLE,
        lambda now: raw_event(now, b'"referrer":' + b"[" * DEEP + b"]" * DEEP),
        400,
        MALFORMED,
    ),
    Nasty(
        "500 nested arrays in a field (under the parser's limit)",
        SINGLE,
        lambda now: raw_event(now, b'"referrer":' + b"[" * 500 + b"]" * 500),
        422,
        ((0, "referrer", "wrong_type"),),
    ),
    Nasty(
        "100k nested arrays as one NDJSON line beside a good one",
        BATCH,
        _ndjson(_deep_arrays, _good),
        202,
        ((0, None, "malformed_json"),),
        accepted=1,
        content_type=NDJSON,
    ),
    # -- sizes -----------------------------------------------------------------------------------
    Nasty("10 MB string field, Content-Length declared", SINGLE, _ten_mb_string, 413, TOO_LARGE),
    Nasty("10 MB string field, streamed", SINGLE, _ten_mb_string, 413, TOO_LARGE, streamed=True),
    Nasty(
        "10 MB of NDJSON, streamed",
        BATCH,
        lambda now: b"\n".join([_good(now)] * (TEN_MB // 120)),
        413,
        TOO_LARGE,
        content_type=NDJSON,
        streamed=True,
    ),
    Nasty(
        "string one over its maxLength",
        SINGLE,
        _json(lambda now: event(now, referrer="r" * 2049)),
        422,
        ((0, "referrer", "too_long"),),
    ),
    Nasty(
        "string at its maxLength",
        SINGLE,
        _json(lambda now: event(now, referrer="r" * 2048)),
        202,
        accepted=1,
        stored={"referrer": "r" * 2048},
    ),
    Nasty(
        "80,000 unknown keys: 20 problems listed, the rest counted",
        SINGLE,
        _unknown_keys,
        422,
        (*((0, f"k{number}", "unknown_field") for number in range(20)), (0, None, "too_many_problems")),
    ),
    Nasty(
        "a 100 KB key",
        SINGLE,
        lambda now: raw_event(now, b'"' + b"k" * 100_000 + b'":1'),
        422,
        ((0, "k" * 100_000, "unknown_field"),),
    ),
    # -- numbers ---------------------------------------------------------------------------------
    Nasty("NaN", SINGLE, lambda now: raw_event(now, b'"price":NaN'), 400, MALFORMED),
    Nasty("Infinity", SINGLE, lambda now: raw_event(now, b'"price":Infinity'), 400, MALFORMED),
    Nasty("-Infinity", SINGLE, lambda now: raw_event(now, b'"price":-Infinity'), 400, MALFORMED),
    Nasty("1e400 (infinite as a double)", SINGLE, lambda now: raw_event(now, b'"price":1e400'), 400, MALFORMED),
    Nasty("-1e400", SINGLE, lambda now: raw_event(now, b'"duration":-1e400'), 400, MALFORMED),
    Nasty(
        "NaN in an NDJSON line beside a good one",
        BATCH,
        _ndjson(_good, lambda now: raw_event(now, b'"price":NaN')),
        202,
        ((1, None, "malformed_json"),),
        accepted=1,
        content_type=NDJSON,
    ),
    Nasty(
        "largest finite double as a price (the contract sets no maximum)",
        SINGLE,
        lambda now: raw_event(now, b'"price":1.7976931348623157e308'),
        202,
        accepted=1,
        stored={"price": 1.7976931348623157e308},
    ),
    Nasty(
        "30-digit integer position",
        SINGLE,
        lambda now: raw_event(now, b'"position":123456789012345678901234567890'),
        422,
        ((0, "position", "wrong_type"),),
    ),
    Nasty(
        "position 2^31 (beyond an Avro int)",
        SINGLE,
        _json(lambda now: event(now, position=2**31)),
        422,
        ((0, "position", "out_of_range"),),
    ),
    Nasty(
        "negative position",
        SINGLE,
        _json(lambda now: event(now, position=-1)),
        422,
        ((0, "position", "below_minimum"),),
    ),
    Nasty("position 0", SINGLE, _json(lambda now: event(now, position=0)), 422, ((0, "position", "below_minimum"),)),
    Nasty(
        "negative impression position",
        SINGLE,
        _json(lambda now: event(now, action_type="impression", impressions=[{"hotel_id": "H1", "position": -5}])),
        422,
        ((0, "impressions[0].position", "below_minimum"),),
    ),
    Nasty("negative price", SINGLE, _json(lambda now: event(now, price=-0.01)), 422, ((0, "price", "below_minimum"),)),
    Nasty(
        "rating just over 5",
        SINGLE,
        _json(lambda now: event(now, rating=5.000001)),
        422,
        ((0, "rating", "above_maximum"),),
    ),
    Nasty(
        "position as 1.0", SINGLE, _json(lambda now: event(now, position=1.0)), 422, ((0, "position", "wrong_type"),)
    ),
    Nasty(
        "position as a boolean",
        SINGLE,
        _json(lambda now: event(now, position=True)),
        422,
        ((0, "position", "wrong_type"),),
    ),
    # -- text encodings --------------------------------------------------------------------------
    Nasty(
        "invalid UTF-8 in a value",
        SINGLE,
        lambda now: orjson.dumps(event(now)).replace(b'"U-nasty"', b'"U-\xff\xfe"'),
        400,
        MALFORMED,
    ),
    Nasty(
        "invalid UTF-8 in a batch",
        BATCH,
        lambda now: b"[" + orjson.dumps(event(now)).replace(b'"U-nasty"', b'"\xc3"') + b"]",
        400,
        MALFORMED,
    ),
    Nasty(
        "invalid UTF-8 in a key",
        SINGLE,
        lambda now: raw_event(now, b'"\x80":1'),
        400,
        MALFORMED,
    ),
    Nasty(
        "overlong UTF-8 encoding of '/'",
        SINGLE,
        lambda now: raw_event(now, b'"referrer":"\xc0\xaf"'),
        400,
        MALFORMED,
    ),
    Nasty(
        "a surrogate encoded as UTF-8 bytes",
        SINGLE,
        lambda now: raw_event(now, b'"referrer":"\xed\xa0\x80"'),
        400,
        MALFORMED,
    ),
    Nasty(
        "invalid UTF-8 in an NDJSON line beside a good one",
        BATCH,
        _ndjson(_good, lambda now: raw_event(now, b'"referrer":"\xff"'), _good),
        202,
        ((1, None, "malformed_json"),),
        accepted=2,
        content_type=NDJSON,
    ),
    Nasty("lone high surrogate escape", SINGLE, lambda now: raw_event(now, b'"referrer":"\\ud800"'), 400, MALFORMED),
    Nasty("lone low surrogate escape", SINGLE, lambda now: raw_event(now, b'"referrer":"a\\udc00b"'), 400, MALFORMED),
    Nasty(
        "a surrogate pair (an emoji) is fine",
        SINGLE,
        lambda now: raw_event(now, b'"query":"\\ud83d\\ude00"'),
        202,
        accepted=1,
        stored={"query": "\U0001f600"},
    ),
    Nasty(
        "escaped NUL inside a string is kept",
        SINGLE,
        _json(lambda now: event(now, user_id="U\x00nul")),
        202,
        accepted=1,
        stored={"user_id": "U\x00nul"},
    ),
    Nasty(
        "raw NUL byte inside a string",
        SINGLE,
        lambda now: orjson.dumps(event(now)).replace(b'"U-nasty"', b'"U\x00"'),
        400,
        MALFORMED,
    ),
    Nasty("raw NUL byte between members", SINGLE, lambda now: raw_event(now, b'\x00"price":1'), 400, MALFORMED),
    Nasty("UTF-8 byte order mark", SINGLE, lambda now: b"\xef\xbb\xbf" + _good(now), 400, MALFORMED),
    Nasty("UTF-16 body", SINGLE, lambda now: _good(now).decode().encode("utf-16"), 400, MALFORMED),
    # -- duplicate keys: the last one wins, on both paths ----------------------------------------
    Nasty(
        "duplicate key, both valid",
        SINGLE,
        lambda now: raw_event(now, b'"hotel_id":"H2"'),
        202,
        accepted=1,
        stored={"hotel_id": "H2"},
    ),
    Nasty(
        "duplicate key, the first invalid",
        SINGLE,
        lambda now: raw_event(now, b'"position":0,"position":3'),
        202,
        accepted=1,
        stored={"position": 3},
    ),
    Nasty(
        "duplicate key, the last invalid",
        SINGLE,
        lambda now: raw_event(now, b'"position":3,"position":0'),
        422,
        ((0, "position", "below_minimum"),),
    ),
    Nasty(
        "duplicate action_type: an internal one last",
        SINGLE,
        lambda now: raw_event(now, b'"action_type":"heartbeat"'),
        422,
        ((0, "action_type", "not_allowed"),),
    ),
    # -- content types ---------------------------------------------------------------------------
    Nasty("text/plain", SINGLE, _good, 415, UNSUPPORTED, content_type="text/plain"),
    Nasty("application/xml", SINGLE, _good, 415, UNSUPPORTED, content_type="application/xml"),
    Nasty("multipart/form-data", BATCH, _good, 415, UNSUPPORTED, content_type="multipart/form-data; boundary=x"),
    Nasty(
        "form-encoded", BATCH, _const(b"user_id=u"), 415, UNSUPPORTED, content_type="application/x-www-form-urlencoded"
    ),
    Nasty("a JSON suffix type", SINGLE, _good, 415, UNSUPPORTED, content_type="application/merge-patch+json"),
    Nasty("NDJSON on the single route", SINGLE, _good, 415, UNSUPPORTED, content_type=NDJSON),
    Nasty("an empty Content-Type", SINGLE, _good, 415, UNSUPPORTED, content_type=""),
    Nasty("no Content-Type: read as JSON", SINGLE, _good, 202, accepted=1, content_type=None),
    Nasty(
        "JSON in capitals with a charset",
        SINGLE,
        _good,
        202,
        accepted=1,
        content_type="Application/JSON; charset=UTF-8",
    ),
    # -- empty and non-event bodies --------------------------------------------------------------
    Nasty("empty body", SINGLE, _const(b""), 400, MALFORMED),
    Nasty("empty batch body", BATCH, _const(b""), 400, MALFORMED),
    Nasty("whitespace body", SINGLE, _const(b" \n\t "), 400, MALFORMED),
    Nasty("empty NDJSON body", BATCH, _const(b""), 422, ((None, None, "empty_batch"),), content_type=NDJSON),
    Nasty("blank NDJSON lines", BATCH, _const(b"\n \n\r\n"), 422, ((None, None, "empty_batch"),), content_type=NDJSON),
    Nasty("null", SINGLE, _const(b"null"), 422, ((None, None, "not_an_object"),)),
    Nasty(
        "an empty object",
        SINGLE,
        _const(b"{}"),
        422,
        tuple((0, name, "missing_field") for name in ("user_id", "session_id", "timestamp", "action_type")),
    ),
    Nasty("an empty array", BATCH, _const(b"[]"), 422, ((None, None, "empty_batch"),)),
    Nasty("two objects back to back", SINGLE, lambda now: _good(now) + _good(now), 400, MALFORMED),
    Nasty("trailing garbage", SINGLE, lambda now: _good(now) + b" x", 400, MALFORMED),
    Nasty(
        "a batch of non-objects",
        BATCH,
        _const(b'[1, "x", null, [], true]'),
        422,
        tuple((index, None, "not_an_object") for index in range(5)),
    ),
    # -- batch sizes -----------------------------------------------------------------------------
    Nasty("10,000 valid events (1.3 MB)", BATCH, _json(lambda now: [event(now)] * 10_000), 413, TOO_LARGE),
    Nasty("10,000 empty objects", BATCH, _const(b"[" + b",".join([b"{}"] * 10_000) + b"]"), 422, TOO_MANY),
    Nasty("10,000 NDJSON lines", BATCH, _const(b"\n".join([b"{}"] * 10_000)), 422, TOO_MANY, content_type=NDJSON),
    Nasty("max_batch_events + 1", BATCH, _json(lambda now: [event(now)] * (MAX_BATCH + 1)), 422, TOO_MANY),
    Nasty("exactly max_batch_events", BATCH, _json(lambda now: [event(now)] * MAX_BATCH), 202, accepted=MAX_BATCH),
    Nasty(
        "exactly max_batch_events as NDJSON",
        BATCH,
        lambda now: b"\n".join([_good(now)] * MAX_BATCH),
        202,
        accepted=MAX_BATCH,
        content_type=NDJSON,
    ),
    Nasty(
        "mixed batch: valid events are accepted, each invalid one listed",
        BATCH,
        _json(lambda now: [event(now), event(now, position=0), event(now), {"user_id": 7}, event(now, timestamp=0)]),
        202,
        (
            (1, "position", "below_minimum"),
            (3, "user_id", "wrong_type"),
            (3, "session_id", "missing_field"),
            (3, "timestamp", "missing_field"),
            (3, "action_type", "missing_field"),
            (4, "timestamp", "too_old"),
        ),
        accepted=2,
    ),
    # -- timestamps ------------------------------------------------------------------------------
    Nasty("the epoch (0)", SINGLE, _json(lambda now: event(now, timestamp=0)), 422, ((0, "timestamp", "too_old"),)),
    Nasty(
        "the epoch as ISO-8601",
        SINGLE,
        _json(lambda now: event(now, timestamp="1970-01-01T00:00:00Z")),
        422,
        ((0, "timestamp", "too_old"),),
    ),
    Nasty("before the epoch", SINGLE, _json(lambda now: event(now, timestamp=-1)), 422, ((0, "timestamp", "too_old"),)),
    Nasty(
        "year 1 at +14:00 (before UTC's year 1)",
        SINGLE,
        _json(lambda now: event(now, timestamp="0001-01-01T00:00:00+14:00")),
        422,
        ((0, "timestamp", "too_old"),),
    ),
    Nasty(
        "the end of year 9999",
        SINGLE,
        _json(lambda now: event(now, timestamp="9999-12-31T23:59:59.999Z")),
        422,
        ((0, "timestamp", "in_future"),),
    ),
    Nasty(
        "the end of year 9999 at -14:00 (year 10000 in UTC)",
        SINGLE,
        _json(lambda now: event(now, timestamp="9999-12-31T23:59:59-14:00")),
        422,
        ((0, "timestamp", "in_future"),),
    ),
    Nasty(
        "the end of year 9999 in ms",
        SINGLE,
        _json(lambda now: event(now, timestamp=END_OF_9999_MS)),
        422,
        ((0, "timestamp", "in_future"),),
    ),
    Nasty(
        "year 10000 in ms",
        SINGLE,
        _json(lambda now: event(now, timestamp=END_OF_9999_MS + 1)),
        422,
        ((0, "timestamp", "in_future"),),
    ),
    Nasty(
        "year 10000 as ISO-8601",
        SINGLE,
        _json(lambda now: event(now, timestamp="+10000-01-01T00:00:00Z")),
        422,
        ((0, "timestamp", "invalid_format"),),
    ),
    Nasty(
        "the largest long",
        SINGLE,
        _json(lambda now: event(now, timestamp=2**63 - 1)),
        422,
        ((0, "timestamp", "in_future"),),
    ),
    Nasty(
        "the smallest long",
        SINGLE,
        _json(lambda now: event(now, timestamp=-(2**63))),
        422,
        ((0, "timestamp", "too_old"),),
    ),
    Nasty(
        "one past the largest long",
        SINGLE,
        lambda now: orjson.dumps(event(now)).replace(b'"timestamp":%d' % now, b'"timestamp":9223372036854775808'),
        422,
        ((0, "timestamp", "out_of_range"),),
    ),
    Nasty(
        "ISO-8601 without an offset",
        SINGLE,
        _json(lambda now: event(now, timestamp="2026-11-27T10:00:00")),
        422,
        ((0, "timestamp", "invalid_format"),),
    ),
    Nasty(
        "month 13",
        SINGLE,
        _json(lambda now: event(now, timestamp="2026-13-01T00:00:00Z")),
        422,
        ((0, "timestamp", "invalid_format"),),
    ),
    Nasty(
        "timestamp as a float",
        SINGLE,
        _json(lambda now: event(now, timestamp=now / 1.0)),
        422,
        ((0, "timestamp", "wrong_type"),),
    ),
    # -- the rest of the contract's edges --------------------------------------------------------
    Nasty(
        "a gateway field from the client",
        SINGLE,
        _json(lambda now: event(now, client_country="GB")),
        422,
        ((0, "client_country", "server_field"),),
    ),
    Nasty(
        "201 impressions",
        SINGLE,
        _json(
            lambda now: event(
                now, action_type="impression", impressions=[{"hotel_id": "H", "position": p} for p in range(1, 202)]
            )
        ),
        422,
        ((0, "impressions", "too_many_items"),),
    ),
    Nasty(
        "a position shown twice",
        SINGLE,
        _json(
            lambda now: event(
                now,
                action_type="impression",
                impressions=[{"hotel_id": "H1", "position": 1}, {"hotel_id": "H2", "position": 1}],
            )
        ),
        422,
        ((0, "impressions[1].position", "duplicate"),),
    ),
)
