"""What browser pages send to the batch endpoint, and how it is unwrapped into the body the gateway reads.

``navigator.sendBeacon`` can set no header, and a ``fetch`` that sets one (``X-Api-Key``, ``X-Sent-At``,
a JSON ``Content-Type``) costs a CORS preflight. So a page may send:

- ``Content-Type: text/plain`` holding a JSON array of events or NDJSON, told apart by the first byte;
- the envelope ``{"write_key": "pk_…", "sent_at": …, "events": […]}`` (text/plain or JSON): the
  publishable key and the page's clock at sending, which a header would otherwise carry;
- the publishable key as ``?write_key=pk_…`` in the query string.

The events inside go through the same validation, limits and partial-success answers as any batch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs

import msgspec

from rankfeed.asgi import Scope

TEXT_PLAIN = b"text/plain"
#: The query-string parameter that carries a publishable key.
WRITE_KEY_PARAMETER = "write_key"
#: What a batch may be besides a JSON array or NDJSON; named in the errors of bodies that are neither.
ENVELOPE_FIELDS = '{"events": [...], "write_key": "pk_...", "sent_at": ...}'


class Envelope(msgspec.Struct, forbid_unknown_fields=True):
    events: msgspec.Raw
    write_key: str | None = None
    sent_at: int | str | None = None


_ENVELOPE = msgspec.json.Decoder(Envelope)
#: JSON's whitespace before the first value (matched in place: a body is never copied to look at its start).
_LEADING_SPACE = re.compile(rb"[ \t\r\n]*")


@dataclass(frozen=True, slots=True)
class Unwrapped:
    """The events' bytes, whether they are NDJSON, and what an envelope carried beside them."""

    body: bytes
    ndjson: bool
    write_key: str | None = None
    sent_at: bytes | None = None


def query_write_key(scope: Scope) -> str | None:
    """The ``write_key`` of the query string, None when there is none."""
    query: bytes = scope.get("query_string", b"")
    if not query:
        return None
    values = parse_qs(query.decode("latin-1")).get(WRITE_KEY_PARAMETER)
    return values[0] if values else None


def unwrap(body: bytes, ndjson: bool, text: bool) -> Unwrapped:
    """The batch inside ``body``: an envelope's events, or the body itself.

    ``ndjson`` is what the ``Content-Type`` said; a ``text`` body is a JSON array when it starts with
    ``[``, an envelope when it is one, and NDJSON otherwise.
    """
    first = _LEADING_SPACE.match(body).end()  # type: ignore[union-attr]  # matches the empty string at least
    start = body[first : first + 1]
    if ndjson or start != b"{":
        return Unwrapped(body, ndjson or (text and start != b"["))
    try:
        envelope = _ENVELOPE.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError):
        # Not an envelope: one NDJSON line for a text body, else the validator words the problem.
        return Unwrapped(body, text)
    sent_at = None if envelope.sent_at is None else str(envelope.sent_at).encode()
    return Unwrapped(bytes(envelope.events), False, envelope.write_key, sent_at)
