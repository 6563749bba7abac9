"""The generated Avro encoder writes exactly fastavro's bytes, so every reader of the topic is unaffected."""

from __future__ import annotations

import io
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings

from rankfeed import avro, schemas
from rankfeed.gateway.decoding import TypedDecoder
from rankfeed.gateway.encoding import RecordEncoder, zigzag_varint
from rankfeed.gateway.validation import EventValidator
from tests.gateway.strategies import valid_events

NOW_MS = 1_795_777_200_000
DECODER = TypedDecoder(max_batch_events=500, max_future_skew_ms=300_000, max_age_ms=7 * 24 * 3_600_000)
VALIDATOR = EventValidator(max_future_skew_ms=300_000, max_age_ms=7 * 24 * 3_600_000)
SERVER_FIELDS = ("server_timestamp", "client_country", "device_family", "ingest_id")
ENCODER = RecordEncoder(shared=SERVER_FIELDS)


def fastavro_bytes(record: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schemas.parsed_schema(schemas.USER_ACTION), record)
    return buffer.getvalue()


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(valid_events(NOW_MS))
def test_bytes_are_identical_to_fastavro_for_any_valid_event(event: dict[str, Any]) -> None:
    record = VALIDATOR.validate(dict(event), 0, NOW_MS)
    assert isinstance(record, dict)
    struct = DECODER.from_record(record)
    struct.event_id = struct.event_id or "00000000-0000-4000-8000-000000000000"
    struct.server_timestamp = NOW_MS
    struct.client_country = "DE"
    struct.device_family = "iPhone"
    struct.ingest_id = "request-1"
    struct.client_timestamp = record["timestamp"] - 240_000
    full = {name: getattr(struct, name) for name in schemas.field_names(schemas.USER_ACTION)}
    if full["impressions"] is not None:
        full["impressions"] = [
            {name: getattr(item, name) for name in ("hotel_id", "position", "price", "rating")}
            for item in full["impressions"]
        ]
    encoded = ENCODER.encode(struct)
    assert encoded == fastavro_bytes(full)
    assert ENCODER.encode_head(struct) + ENCODER.encode_shared(struct) + ENCODER.encode_rest(struct) == encoded
    decoded = avro.decode(encoded)
    assert decoded["event_id"] == full["event_id"]
    assert decoded["impressions"] == full["impressions"]


def test_longs_use_avro_zigzag_varints() -> None:
    # Examples from the Avro specification.
    assert [zigzag_varint(value) for value in (0, -1, 1, -2, 2, -64, 64)] == [
        b"\x00",
        b"\x01",
        b"\x02",
        b"\x03",
        b"\x04",
        b"\x7f",
        b"\x80\x01",
    ]
    assert zigzag_varint(2**63 - 1) == b"\xfe" + b"\xff" * 8 + b"\x01"


def test_the_generated_source_says_it_is_generated_and_follows_the_schema_order() -> None:
    assert ENCODER.source.startswith("def encode(record, ")
    assert "# generated from the UserAction schema" in ENCODER.source.splitlines()[0]
    positions = [ENCODER.source.index(f"# UserAction.{name}\n") for name in schemas.field_names(schemas.USER_ACTION)]
    assert positions == sorted(positions)


def test_shared_fields_must_be_consecutive() -> None:
    with pytest.raises(ValueError, match="are not consecutive fields"):
        RecordEncoder(shared=("server_timestamp", "device_family"))
    with pytest.raises(ValueError, match="are not consecutive fields"):
        RecordEncoder(shared=("no_such_field",))
