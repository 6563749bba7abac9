from __future__ import annotations

import datetime as dt
import io

import fastavro
import pytest

from rankfeed import avro, schemas
from rankfeed.schemas import SchemaError, flink_type


def test_every_schema_parses_maps_to_flink_and_documents_every_field() -> None:
    names = schemas.all_schema_names()
    assert {"user_action", "feedback_event", "ltr_example", "session_summary", "hotel_features"} <= set(names)
    for name in names:
        assert schemas.raw_schema(name).get("doc"), f"{name} has no record doc"
        for field in schemas.fields(name):
            assert field.doc.strip(), f"{name}.{field.name} has no doc"
            assert field.flink_type  # raises SchemaError when a type cannot be mapped


def test_optional_fields_are_null_unions_with_null_default() -> None:
    # Schemas evolve by adding optional fields; an optional field without a null default breaks old readers.
    for name in schemas.all_schema_names():
        for field in schemas.fields(name):
            if field.nullable:
                assert field.has_default and field.default is None, f"{name}.{field.name} needs default null"


@pytest.mark.parametrize(
    ("avro_type", "expected"),
    [
        ("string", "STRING NOT NULL"),
        (["null", "int"], "INT"),
        ("long", "BIGINT NOT NULL"),
        (["null", "double"], "DOUBLE"),
        ("boolean", "BOOLEAN NOT NULL"),
        ({"type": "long", "logicalType": "timestamp-millis"}, "TIMESTAMP(3) NOT NULL"),
        (
            [
                "null",
                {"type": "array", "items": {"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]}},
            ],
            "ARRAY<ROW<`a` INT NOT NULL> NOT NULL>",
        ),
    ],
)
def test_flink_type_mapping(avro_type: object, expected: str) -> None:
    assert flink_type(avro_type) == expected


def test_constructs_flink_cannot_read_are_rejected_with_the_way_out() -> None:
    with pytest.raises(SchemaError, match="symbols"):
        flink_type({"type": "enum", "name": "E", "symbols": ["a"]})
    with pytest.raises(SchemaError, match="null first"):
        flink_type(["string", "null"])
    with pytest.raises(SchemaError, match="null first"):
        flink_type(["null", "string", "int"])
    with pytest.raises(SchemaError, match="logical type"):
        flink_type({"type": "int", "logicalType": "date"})


def test_unknown_schema_names_the_known_ones() -> None:
    with pytest.raises(SchemaError, match="user_action"):
        schemas.raw_schema("no_such_schema")


def test_timestamp_is_reserved_in_flink_and_is_quoted() -> None:
    assert "`timestamp` TIMESTAMP(3) NOT NULL" in schemas.flink_columns(schemas.USER_ACTION)


def test_action_type_symbols_are_declared() -> None:
    action_type = next(f for f in schemas.fields(schemas.USER_ACTION) if f.name == "action_type")
    assert action_type.symbols is not None
    assert {"search", "impression", "click", "book", "scroll", "rate", "back"} <= set(action_type.symbols)


def test_avro_round_trip_and_reader_of_a_newer_version_reads_old_data() -> None:
    record = schemas.default_record(schemas.USER_ACTION)
    record.update(
        event_id="e1",
        schema_version=1,
        user_id="u",
        session_id="s",
        timestamp=dt.datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=dt.UTC),
        action_type="click",
    )
    assert avro.decode(avro.encode(record)) == record
    # A later version adds an optional field with a default: it must read bytes written by this one.
    newer = dict(schemas.raw_schema(schemas.USER_ACTION))
    newer["fields"] = [*newer["fields"], {"name": "added_later", "type": ["null", "string"], "default": None}]
    old_bytes = avro.encode(record)
    read = fastavro.schemaless_reader(
        io.BytesIO(old_bytes), schemas.parsed_schema(schemas.USER_ACTION), fastavro.parse_schema(newer)
    )
    assert read == {**record, "added_later": None}
