"""Sending user actions to the gateway over HTTP, the way a well-behaved client does.

Used by the simulator and the benchmark: batches of JSON with timestamps as epoch milliseconds,
an event_id on every event before the first attempt, and retries of 503 / 429 / connection errors
with exactly the same body, so a retried event keeps its event_id and the pipeline deduplicates it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson

from rankfeed.types import Record

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_RETRIED_STATUSES = frozenset({429, 503})


class GatewayError(RuntimeError):
    """The gateway refused events for good (a contract violation, a bad key) or stayed unavailable."""

    def __init__(self, message: str, accepted: int, errors: Sequence[dict[str, Any]] = ()) -> None:
        super().__init__(message)
        self.accepted = accepted
        self.errors = list(errors)


def to_json_event(record: Record) -> dict[str, Any]:
    """A record as the gateway takes it: nulls left out, datetimes as epoch milliseconds."""
    event: dict[str, Any] = {}
    for name, value in record.items():
        if value is None:
            continue
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValueError(f"{name} is a naive datetime; rankfeed timestamps are timezone-aware (UTC)")
            value = (value - _EPOCH) // _ONE_MS
        event[name] = value
    if "event_id" not in event:
        event["event_id"] = str(uuid.uuid4())
    return event


def send_actions(
    base_url: str,
    api_key: str,
    actions: list[Record],
    batch_size: int = 100,
    *,
    max_attempts: int = 8,
    timeout_seconds: float = 30.0,
    transport: httpx.BaseTransport | None = None,
) -> int:
    """POST ``actions`` to ``{base_url}/v1/actions/batch`` in batches; return how many Kafka acknowledged.

    Records without an event_id get one here, before the first attempt, so that retries reuse it.
    Raises ``GatewayError`` after all batches were tried when any event was rejected, or at once when
    a batch is still refused after ``max_attempts`` (the exception tells how many were accepted).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    accepted = 0
    rejected: list[dict[str, Any]] = []
    headers = {"X-Api-Key": api_key, "Content-Type": "application/json"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=timeout_seconds, transport=transport) as client:
        for start in range(0, len(actions), batch_size):
            body = orjson.dumps([to_json_event(record) for record in actions[start : start + batch_size]])
            answer = _post_with_retries(client, body, max_attempts, accepted)
            accepted += answer.get("accepted", 0)
            rejected.extend({**error, "index": _offset(error.get("index"), start)} for error in answer["errors"])
    if rejected:
        raise GatewayError(
            f"the gateway rejected {len({error['index'] for error in rejected})} of {len(actions)} actions; "
            f"first problem: {rejected[0]['message']}",
            accepted,
            rejected,
        )
    return accepted


def _offset(index: int | None, start: int) -> int | None:
    return None if index is None else index + start


def _post_with_retries(client: httpx.Client, body: bytes, max_attempts: int, accepted: int) -> dict[str, Any]:
    delay = 0.2
    for attempt in range(1, max_attempts + 1):
        try:
            response = client.post("/v1/actions/batch", content=body)
        except httpx.TransportError as error:
            if attempt == max_attempts:
                raise GatewayError(f"the gateway could not be reached: {error}", accepted) from error
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
            continue
        if response.status_code in (202, 422):
            answer: dict[str, Any] = response.json()
            return answer
        if response.status_code not in _RETRIED_STATUSES:
            raise GatewayError(f"the gateway answered {response.status_code}: {response.text[:500]}", accepted)
        if attempt == max_attempts:
            raise GatewayError(
                f"the gateway still answered {response.status_code} after {max_attempts} attempts: "
                f"{response.text[:500]}",
                accepted,
            )
        retry_after = response.headers.get("retry-after", "")
        time.sleep(float(retry_after) if retry_after.isdigit() else delay)
        delay = min(delay * 2, 5.0)
    raise AssertionError("unreachable: the loop returns or raises")
