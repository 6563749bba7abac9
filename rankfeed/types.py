"""Type aliases shared across rankfeed, kept in one place."""

from __future__ import annotations

from typing import Any

#: A JSON-shaped Avro schema as read from an .avsc file.
AvroSchema = dict[str, Any]

#: One decoded Avro record: field name to Python value, as fastavro reads and writes it.
Record = dict[str, Any]
