"""Avro encoding as Flink's ``avro`` format expects it: bare binary records, no container header."""

from __future__ import annotations

import io

import fastavro

from rankfeed import schemas
from rankfeed.types import Record


def encode(record: Record, schema: str = schemas.USER_ACTION) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schemas.parsed_schema(schema), record)
    return buffer.getvalue()


def decode(payload: bytes, schema: str = schemas.USER_ACTION) -> Record:
    record: Record = fastavro.schemaless_reader(io.BytesIO(payload), schemas.parsed_schema(schema), None)
    return record
