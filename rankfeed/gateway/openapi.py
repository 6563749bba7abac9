"""The OpenAPI 3.1 document served at ``/openapi.json``, generated from the Avro contract.

Event schemas come from :func:`rankfeed.gateway.contract.field_rules`, the same rules the validator
compiles, so the document cannot drift from what the gateway enforces. Only the two rules the
.avsc cannot express (per-action required fields, the event time window) are described in words.
"""

from __future__ import annotations

import functools
from typing import Any

from rankfeed import schemas
from rankfeed.gateway.contract import ASSIGNED_WHEN_MISSING, INT_RANGE, LONG_RANGE, FieldRule, field_rules
from rankfeed.gateway.settings import GatewaySettings
from rankfeed.gateway.validation import ACTION_REQUIREMENTS

API_VERSION = "1"


def _json_schema(rule: FieldRule) -> dict[str, Any]:
    """JSON Schema of the value a client sends for ``rule`` (without null)."""
    schema: dict[str, Any]
    if rule.kind == "string":
        schema = {"type": "string"}
        if rule.symbols:
            schema["enum"] = list(rule.symbols)
        if rule.min_length is not None:
            schema["minLength"] = rule.min_length
        if rule.max_length is not None:
            schema["maxLength"] = rule.max_length
        if rule.format is not None:
            schema["format"] = rule.format
    elif rule.kind in ("int", "long"):
        low, high = INT_RANGE if rule.kind == "int" else LONG_RANGE
        schema = {
            "type": "integer",
            "format": "int32" if rule.kind == "int" else "int64",
            "minimum": low if rule.minimum is None else rule.minimum,
            "maximum": high if rule.maximum is None else rule.maximum,
        }
    elif rule.kind == "double":
        schema = {"type": "number", "format": "double"}
        if rule.minimum is not None:
            schema["minimum"] = rule.minimum
        if rule.maximum is not None:
            schema["maximum"] = rule.maximum
    elif rule.kind == "boolean":
        schema = {"type": "boolean"}
    elif rule.kind == "timestamp":
        schema = {
            "oneOf": [
                {"type": "integer", "description": "epoch milliseconds (UTC)"},
                {"type": "string", "format": "date-time", "description": "ISO-8601 with a UTC offset"},
            ]
        }
    else:
        schema = {"type": "array", "items": {"$ref": f"#/components/schemas/{rule.item_name}"}}
        if rule.max_items is not None:
            schema["maxItems"] = rule.max_items
        if rule.unique_items_by is not None:
            schema["x-unique-items-by"] = rule.unique_items_by
    return schema


def _object_schema(rules: tuple[FieldRule, ...], doc: str, client: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required = []
    for rule in rules:
        if client and rule.set_by_gateway:
            continue
        value = _json_schema(rule)
        nullable = rule.nullable or (client and rule.name in ASSIGNED_WHEN_MISSING)
        schema = {"anyOf": [value, {"type": "null"}]} if nullable else value
        description = rule.doc
        if rule.unique_items_by is not None:
            description += f" No two items may share a {rule.unique_items_by}."
        if client and rule.name in ASSIGNED_WHEN_MISSING:
            description += " Optional: the gateway assigns a uuid4 when it is missing and returns it."
        properties[rule.name] = {**schema, "description": description}
        if rule.required and not (client and rule.name in ASSIGNED_WHEN_MISSING):
            required.append(rule.name)
    return {
        "type": "object",
        "description": doc,
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _action_rules_sentence() -> str:
    parts = []
    for action, groups in ACTION_REQUIREMENTS.items():
        if groups:
            parts.append(f"{action} needs " + " and ".join(" or ".join(group) for group in groups))
    return "; ".join(parts) + "."


def _problem_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["index", "field", "problem", "message"],
        "properties": {
            "index": {
                "type": ["integer", "null"],
                "description": "Position of the event in the request; null for the request.",
            },
            "field": {
                "type": ["string", "null"],
                "description": "Path of the offending field, e.g. impressions[2].position.",
            },
            "problem": {
                "type": "string",
                "description": "Machine-readable reason: unknown_field, server_field, missing_field, wrong_type, "
                "not_allowed, too_short, too_long, below_minimum, above_maximum, out_of_range, invalid_format, "
                "too_many_items, duplicate, in_future, too_old, required_for_action, not_an_object, "
                "malformed_json, malformed_gzip, decompressed_too_large, unsupported_content_encoding, ...",
            },
            "message": {"type": "string", "description": "What was wrong and what to do, in one sentence."},
        },
    }


def _response(description: str, schema_ref: str, retry_after: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}},
    }
    if retry_after:
        response["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}}
    return response


@functools.cache
def _document(settings_summary: tuple[int, int, float, float]) -> dict[str, Any]:
    max_body, max_batch, skew, age = settings_summary
    rules = field_rules(schemas.USER_ACTION)
    raw = schemas.raw_schema(schemas.USER_ACTION)
    item_rule = next(rule for rule in rules if rule.kind == "records")
    event_doc = (
        f"{raw['doc']} Generated from schemas/avro/{schemas.USER_ACTION}.avsc. Per action type: "
        f"{_action_rules_sentence()} timestamp may be at most {skew:g} s ahead of the gateway clock (of X-Sent-At "
        f"when the request has it) and at most {age / 3600:g} h old. Unknown fields are rejected; gateway-set "
        "fields may only be null. The timestamp written to Kafka is derived: shifted by the request's clock offset "
        "(receive time − X-Sent-At) and never later than the gateway's receive time; the client's value is kept "
        "in client_timestamp."
    )
    errors: dict[str, Any] = {
        "400": _response(
            "The body is not JSON (malformed_json), not the gzip stream it is declared to be (malformed_gzip), "
            "or X-Sent-At is malformed (invalid_sent_at).",
            "Refusal",
        ),
        "401": _response("X-Api-Key is missing or unknown.", "Refusal"),
        "403": _response("The key may not be used from this Origin.", "Refusal"),
        "413": _response(
            f"The body is larger than {max_body} bytes (payload_too_large), or decompresses to more "
            "(decompressed_too_large).",
            "Refusal",
        ),
        "415": _response(
            "Unsupported Content-Type (unsupported_media_type) or Content-Encoding (unsupported_content_encoding; "
            "the answer's Accept-Encoding lists what is supported).",
            "Refusal",
        ),
        "422": _response("No event is valid; every problem is listed.", "Accepted"),
        "429": _response("The key's rate limit is spent.", "Refusal", retry_after=True),
        "503": _response(
            "Kafka did not acknowledge in time or is unavailable; retry with the same event_ids.",
            "Refusal",
            retry_after=True,
        ),
    }
    security: list[dict[str, list[str]]] = [{"ApiKey": []}]
    write_security = [*security, {"PublishableKey": []}]
    write_headers: list[dict[str, Any]] = [
        {
            "name": "Content-Encoding",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "enum": ["gzip", "identity"]},
            "description": f"gzip: the body is gzip-compressed; it may decompress to at most {max_body} bytes.",
        },
        {
            "name": "X-Sent-At",
            "in": "header",
            "required": False,
            "schema": {"oneOf": [{"type": "integer"}, {"type": "string", "format": "date-time"}]},
            "description": "The client's clock when it sent this request (epoch milliseconds or ISO-8601 with a "
            "UTC offset); stamp it again on every retry. With it the gateway corrects the device's clock offset: "
            "each event's time becomes timestamp + (receive time − X-Sent-At).",
        },
    ]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "rankfeed ingestion gateway",
            "version": API_VERSION,
            "description": "The only way frontend events enter Kafka. A 202 means Kafka acknowledged every "
            "accepted event (acks=all). Clients retry 503 with the same event_ids; the pipeline deduplicates.",
        },
        "paths": {
            "/v1/actions": {
                "post": {
                    "summary": "Send one user action",
                    "security": write_security,
                    "parameters": write_headers,
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/UserActionIn"}}},
                    },
                    "responses": {"202": _response("Accepted and acknowledged by Kafka.", "Accepted"), **errors},
                }
            },
            "/v1/actions/batch": {
                "post": {
                    "summary": f"Send up to {max_batch} user actions; valid ones are accepted, invalid ones listed",
                    "security": write_security,
                    "parameters": write_headers,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "array",
                                    "minItems": 1,
                                    "maxItems": max_batch,
                                    "items": {"$ref": "#/components/schemas/UserActionIn"},
                                }
                            },
                            "application/x-ndjson": {
                                "schema": {"type": "string", "description": "One UserActionIn JSON object per line."}
                            },
                            "text/plain": {
                                "schema": {
                                    "type": "string",
                                    "description": "What navigator.sendBeacon sends without a preflight: a JSON "
                                    "array of UserActionIn, NDJSON, or the envelope "
                                    '{"events": [...], "write_key": "pk_...", "sent_at": ...} carrying a publishable '
                                    "key and the page's clock at sending (the envelope is accepted as "
                                    "application/json too).",
                                }
                            },
                        },
                    },
                    "responses": {
                        "202": _response(
                            "At least one event accepted; rejected ones are listed in errors.", "Accepted"
                        ),
                        **errors,
                    },
                }
            },
            "/healthz": {"get": {"summary": "The process is alive", "responses": {"200": {"description": "alive"}}}},
            "/readyz": {
                "get": {
                    "summary": "Kafka is reachable and the producer is healthy",
                    "responses": {"200": {"description": "ready"}, "503": {"description": "not ready, with reason"}},
                }
            },
            "/metrics": {
                "get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text format"}}}
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "security": security,
                    "responses": {"200": {"description": "OpenAPI 3.1"}, "401": errors["401"]},
                }
            },
        },
        "components": {
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
                "PublishableKey": {
                    "type": "apiKey",
                    "in": "query",
                    "name": "write_key",
                    "description": "A browser page's publishable key (pk_…): write-only, from its origins only; "
                    "also accepted in X-Api-Key or the body's write_key.",
                },
            },
            "schemas": {
                "UserActionIn": _object_schema(rules, event_doc, client=True),
                item_rule.item_name: _object_schema(item_rule.item_rules, item_rule.item_doc, client=True),
                "Problem": _problem_schema(),
                "Accepted": {
                    "type": "object",
                    "required": ["accepted", "event_ids", "rejected", "errors"],
                    "properties": {
                        "accepted": {"type": "integer"},
                        "event_ids": {
                            "type": "array",
                            "items": {"type": "string"},
                            "description": "event_id of each accepted event, in request order.",
                        },
                        "rejected": {"type": "integer"},
                        "errors": {"type": "array", "items": {"$ref": "#/components/schemas/Problem"}},
                        "detail": {"type": "string"},
                    },
                },
                "Refusal": {
                    "type": "object",
                    "required": ["errors", "detail"],
                    "properties": {
                        "errors": {"type": "array", "items": {"$ref": "#/components/schemas/Problem"}},
                        "detail": {"type": "string"},
                    },
                },
            },
        },
    }


def openapi_document(settings: GatewaySettings) -> dict[str, Any]:
    """The document for ``settings`` (limits and time window appear in it); built once per setting values."""
    return _document(
        (
            settings.max_body_bytes,
            settings.max_batch_events,
            settings.max_future_skew_seconds,
            settings.max_event_age_seconds,
        )
    )
