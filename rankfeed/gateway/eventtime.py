"""The event time the gateway writes: derived from the client's timestamp, bounded by the gateway's clock.

A client's ``timestamp`` comes from a device clock, and the job's watermark follows the largest
event time it has seen. Written as sent, one device clock a few minutes fast would move the
watermark ahead of real time and send everybody else's actions to the late topic. So the
``timestamp`` on Kafka is derived (Snowplow's ``derived_tstamp``), and the client's value is kept in
``client_timestamp``:

1. **Skew correction.** When the request carries ``X-Sent-At`` (the client's clock when it sent the
   request), every event of the request is shifted by ``server receive time − X-Sent-At``:
   derived = timestamp + (received − sent) = received − (sent − timestamp). The device's own
   created-to-sent delay is kept, its clock offset (and the request's transit time) is not.
2. **Bound.** No derived time is later than the receive time (``server_timestamp``). When events of
   one session in one request lie ahead of it, all of that session's events in the request move
   back by the same amount, so that the newest lands on the receive time: their order and the
   intervals between them (a click's dwell, a quick-back) stay as the device measured them.
   A per-event clamp would give them all one timestamp and lose their order.

The time window (``max_future_skew_seconds``, ``max_event_age_seconds``) is checked before, on the
client's timestamps against the client's clock at sending when ``X-Sent-At`` is given, else
against the gateway's clock (:func:`window_reference`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rankfeed.gateway.contract import LONG_RANGE
from rankfeed.gateway.validation import parse_timestamp

#: The request header carrying the client's clock when it sent the request.
SENT_AT_HEADER = b"x-sent-at"


class InvalidSentAt(ValueError):
    """``X-Sent-At`` is neither epoch milliseconds nor ISO-8601 with a UTC offset."""


def parse_sent_at(value: bytes | None, source: str = "X-Sent-At") -> int | None:
    """Epoch milliseconds of an ``X-Sent-At`` header value (or of the ``source`` named in errors, such as a
    body's ``sent_at``), None when there is none.

    Takes what ``timestamp`` takes: an integer of epoch milliseconds or ISO-8601 with a UTC offset.
    """
    if value is None:
        return None
    text = value.decode("latin-1").strip()
    moment = int(text) if text.isascii() and text.isdigit() else parse_timestamp(text)
    if moment is None or not 0 <= moment <= LONG_RANGE[1]:
        raise InvalidSentAt(
            f"{source} must be the client's clock when it sent the request, as epoch milliseconds or ISO-8601 "
            f"with a UTC offset (e.g. 2026-11-27T10:50:00.123Z); got {text[:40]!r}"
        )
    return moment


def window_reference(received_ms: int, sent_at_ms: int | None) -> int:
    """The "now" the client's timestamps are checked against: the client's own clock at sending when it
    said (its skew then does not matter), else the gateway's receive time."""
    return received_ms if sent_at_ms is None else sent_at_ms


@dataclass(frozen=True, slots=True)
class Adjusted:
    """How many events of a request had their event time changed, by kind (for the metrics)."""

    #: Shifted by a non-zero ``X-Sent-At`` offset.
    corrected: int = 0
    #: Moved back so that their session's newest event is not later than the receive time.
    clamped: int = 0


NOTHING_ADJUSTED = Adjusted()


def derive_event_times(events: Sequence[Any], received_ms: int, sent_at_ms: int | None, clamp: bool) -> Adjusted:
    """Set each event's ``client_timestamp`` to its ``timestamp`` (epoch ms) and its ``timestamp`` to the
    derived event time, in place; ``events`` are the decoder's structs (any objects with ``timestamp``,
    ``client_timestamp`` and ``session_id`` attributes)."""
    offset = 0 if sent_at_ms is None else received_ms - sent_at_ms
    latest = None
    for event in events:
        moment = event.timestamp
        event.client_timestamp = moment
        if offset:
            moment = event.timestamp = moment + offset
        if latest is None or moment > latest:
            latest = moment
    corrected = len(events) if offset else 0
    if not clamp or latest is None or latest <= received_ms:
        return Adjusted(corrected, 0) if corrected else NOTHING_ADJUSTED
    newest: dict[str, int] = {}
    for event in events:
        previous = newest.get(event.session_id)
        if previous is None or event.timestamp > previous:
            newest[event.session_id] = event.timestamp
    clamped = 0
    for event in events:
        excess = newest[event.session_id] - received_ms
        if excess > 0:
            event.timestamp -= excess
            clamped += 1
    return Adjusted(corrected, clamped)
