"""The event contract, loaded from ``schemas/avro/*.avsc``: the one copy of every schema.

Everything else that needs a schema — fastavro writers and readers, Flink table columns,
gateway validation, docs — is derived here, so a field is added in exactly one place.

Flink's ``avro`` format derives the Avro schema from the table's column types and has no
option for an explicit writer schema, so the mapping below must produce columns whose
derived schema is byte-identical to the ``.avsc``: ``["null", T]`` unions become nullable
columns, every other type becomes ``NOT NULL``, ``timestamp-millis`` becomes
``TIMESTAMP(3)``. A round-trip test through a real Flink job guards it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro

from rankfeed.types import AvroSchema

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas" / "avro"

#: Schema file stem of each record the pipeline reads or writes.
USER_ACTION = "user_action"
FEEDBACK_EVENT = "feedback_event"
LTR_EXAMPLE = "ltr_example"
SESSION_SUMMARY = "session_summary"
HOTEL_FEATURES = "hotel_features"
POSITION_PROPENSITIES = "position_propensities"
REJECTED_ACTION = "rejected_action"
SEARCH_EXPOSURES = "search_exposures"
ERASURE_REQUEST = "erasure_request"

_PRIMITIVE_TO_FLINK = {
    "string": "STRING",
    "int": "INT",
    "long": "BIGINT",
    "float": "FLOAT",
    "double": "DOUBLE",
    "boolean": "BOOLEAN",
    "bytes": "BYTES",
}
_LOGICAL_TO_FLINK = {"timestamp-millis": "TIMESTAMP(3)"}


class SchemaError(ValueError):
    """An .avsc uses a construct that cannot be mapped one-to-one onto Flink's avro format."""


@dataclass(frozen=True)
class Field:
    """One top-level field of a record, with what the rest of rankfeed needs to know about it."""

    name: str
    avro_type: Any
    doc: str
    nullable: bool
    symbols: tuple[str, ...] | None
    default: Any
    has_default: bool

    @property
    def flink_type(self) -> str:
        return flink_type(self.avro_type)


@functools.cache
def raw_schema(name: str) -> AvroSchema:
    """The .avsc of ``name`` as written (custom attributes such as ``symbols`` kept)."""
    path = SCHEMA_DIR / f"{name}.avsc"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in SCHEMA_DIR.glob("*.avsc")))
        raise SchemaError(f"no schema {name!r} in {SCHEMA_DIR}; known schemas: {known}")
    schema: AvroSchema = json.loads(path.read_text(encoding="utf-8"))
    return schema


@functools.cache
def parsed_schema(name: str) -> Any:
    """The fastavro-parsed schema of ``name``, for encoding and decoding."""
    return fastavro.parse_schema(raw_schema(name))


def all_schema_names() -> list[str]:
    return sorted(p.stem for p in SCHEMA_DIR.glob("*.avsc"))


def fields(name: str) -> list[Field]:
    """Top-level fields of record ``name`` in wire order."""
    return [_field(f) for f in raw_schema(name)["fields"]]


def default_record(name: str) -> dict[str, Any]:
    """A record of ``name`` with every field at its schema default (None where there is none).

    Code that builds records starts from here, so a field added to the .avsc shows up everywhere.
    The simulator calls it per event, hence the cached template and the shallow copy.
    """
    return dict(_default_template(name))


@functools.cache
def _default_template(name: str) -> dict[str, Any]:
    return {field.name: field.default if field.has_default else None for field in fields(name)}


def field_names(name: str) -> list[str]:
    return [f["name"] for f in raw_schema(name)["fields"]]


def _field(spec: Mapping[str, Any]) -> Field:
    avro_type = spec["type"]
    symbols = spec.get("symbols")
    return Field(
        name=spec["name"],
        avro_type=avro_type,
        doc=spec.get("doc", ""),
        nullable=_nullable_inner(avro_type) is not None,
        symbols=tuple(symbols) if symbols else None,
        default=spec.get("default"),
        has_default="default" in spec,
    )


def _nullable_inner(avro_type: Any) -> Any | None:
    """For ``["null", T]`` return T; for anything else None."""
    if isinstance(avro_type, list):
        if len(avro_type) == 2 and avro_type[0] == "null":
            return avro_type[1]
        raise SchemaError(
            f"union {avro_type!r} is not supported: Flink's avro format only reads "
            '["null", T] unions with null first; use that form or split the field'
        )
    return None


def flink_type(avro_type: Any) -> str:
    """Flink SQL type whose derived Avro schema is ``avro_type`` (NOT NULL unless a null union)."""
    inner = _nullable_inner(avro_type)
    if inner is not None:
        return _flink_type_not_null(inner)
    return _flink_type_not_null(avro_type) + " NOT NULL"


def _flink_type_not_null(avro_type: Any) -> str:
    if isinstance(avro_type, str):
        if avro_type in _PRIMITIVE_TO_FLINK:
            return _PRIMITIVE_TO_FLINK[avro_type]
        raise SchemaError(f"Avro type {avro_type!r} has no Flink mapping (named-type references are not supported)")
    if isinstance(avro_type, list):
        raise SchemaError(f"nested union {avro_type!r} is not supported")
    kind = avro_type.get("type")
    logical = avro_type.get("logicalType")
    if logical is not None:
        if logical not in _LOGICAL_TO_FLINK:
            raise SchemaError(f"logical type {logical!r} has no Flink mapping; supported: {sorted(_LOGICAL_TO_FLINK)}")
        return _LOGICAL_TO_FLINK[logical]
    if kind == "record":
        columns = ", ".join(f"{quote(f['name'])} {flink_type(f['type'])}" for f in avro_type["fields"])
        return f"ROW<{columns}>"
    if kind == "array":
        return f"ARRAY<{flink_type(avro_type['items'])}>"
    if kind == "enum":
        raise SchemaError(
            "Avro enums cannot be read by Flink's avro format (it has no enum type); "
            'declare the field as "string" with a "symbols" list instead'
        )
    if kind in _PRIMITIVE_TO_FLINK:
        return _PRIMITIVE_TO_FLINK[kind]
    raise SchemaError(f"Avro type {avro_type!r} has no Flink mapping")


def quote(identifier: str) -> str:
    """Quote a SQL identifier for Flink (fields such as ``timestamp`` are reserved words)."""
    return "`" + identifier.replace("`", "``") + "`"


def flink_columns(name: str) -> list[str]:
    """``<quoted name> <type>`` column definitions of record ``name``, in wire order."""
    return [f"{quote(f.name)} {f.flink_type}" for f in fields(name)]
