"""The gateway's one pseudonymization step: every identifier a client sent passes here before it leaves the
process, whatever the path: accepted events (``user-actions``), refused ones (``user-actions-rejected``), and
events kept under the ``anonymize`` consent policy. Logs and metric labels never carry payload values at all
(only request ids, write-key names, routes and problem codes), so nothing needs pseudonymizing there.

What leaves for each path:

* accepted: the event, with ``user_id`` replaced by HMAC-SHA256(``user_id_hmac_key``, user_id) in hex.
  Stable per user (labels, sessions and erasure by user still work), not reversible without the key. With no
  key configured, user ids pass unchanged and the gateway says so in a warning at startup.
* anonymized (consent policy ``anonymize``, no consent given): ``user_id`` becomes ``anon-`` and 32 hex
  digits of a keyed hash of the *session* id, so one session's actions stay together while two sessions of
  the same person cannot be linked; ``referrer`` (free text that may hold anything) is dropped. Geography
  is already coarse: ``client_country`` is a country code, and the IP is never kept.
* refused: a ``RejectedAction`` whose ``raw_value`` is not the payload but a redacted summary (JSON):
  ``{"redacted": 1, "json_type": "an object", "bytes": 412, "fields": ["action_type", …],
  "unknown_fields": 1, "user_id": "<pseudonym>" | null}``. Kept: the pseudonymized user id (when
  ``user_id`` was a string), the names of the contract fields present (unknown field names are counted, not
  named: a name is client text too), the size, the ``event_id`` when it is a canonical UUID, the event time
  when it parsed, and the reasons as ``problem (field)`` pairs. Dropped: every value and every message
  (messages echo values, e.g. ``got 'teleport'``). The record's key is the pseudonymized user id (empty when
  there is none), so one user's refused records share a partition. An event without consent under a write key
  whose policy looks at consent (``require``, ``anonymize``) keeps no pseudonym either.

Late and dead-letter records are written by the job from ``user-actions``, so they hold only what passed
here already.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from rankfeed import avro, schemas
from rankfeed.asgi import json_type
from rankfeed.gateway.settings import ConsentPolicy
from rankfeed.gateway.validation import CANONICAL_UUID, Problem, parse_timestamp

log = logging.getLogger(__name__)

#: Marks a ``raw_value`` of ``user-actions-rejected`` as a redacted summary, and its format's version.
REDACTED_FORMAT = 1
#: Prefix of the per-session ids that replace user ids of events kept without consent.
ANONYMOUS_PREFIX = "anon-"
#: Hex digits of the per-session anonymous id after the prefix (128 bits).
_ANONYMOUS_HEX = 32

#: Stands for the parsed value of a body or NDJSON line that is not JSON.
NOT_JSON: Any = object()

_CANONICAL_UUID = re.compile(CANONICAL_UUID)
_INDEX = re.compile(r"\[\d+\]")


def _contract_paths() -> frozenset[str]:
    """Field paths a problem may name, without list indexes: ``user_id``, ``impressions``,
    ``impressions.hotel_id`` …; anything else a problem names is client text (an unknown field)."""
    paths = set()
    for spec in schemas.raw_schema(schemas.USER_ACTION)["fields"]:
        paths.add(spec["name"])
        avro_type = spec["type"]
        inner = avro_type[1] if isinstance(avro_type, list) else avro_type
        if isinstance(inner, dict) and inner.get("type") == "array" and isinstance(inner["items"], dict):
            paths.update(f"{spec['name']}.{item['name']}" for item in inner["items"]["fields"])
    return frozenset(paths)


_CONTRACT_PATHS = _contract_paths()
_TOP_LEVEL = frozenset(path for path in _CONTRACT_PATHS if "." not in path)


class Pseudonymizer:
    """Replaces identifiers before they leave the gateway; one instance per process.

    ``key`` is the ``user_id_hmac_key`` (bytes), or None to keep user ids as sent. The key of anonymous
    session ids is derived from it, or drawn at random per process when there is none (then one session's
    events served by two worker processes get two anonymous ids).
    """

    def __init__(self, key: bytes | None) -> None:
        self._key = key
        self._anonymous_key = (
            hmac.digest(key, b"rankfeed anonymous sessions", "sha256") if key is not None else secrets.token_bytes(32)
        )

    @property
    def pseudonymizes(self) -> bool:
        """Whether user ids are replaced (a key is configured)."""
        return self._key is not None

    def user_id(self, user_id: str) -> str:
        """HMAC-SHA256 of ``user_id`` in hex (64 characters); ``user_id`` itself when no key is configured."""
        return pseudonymize(self._key, user_id) if self._key is not None else user_id

    def anonymous_user_id(self, session_id: str) -> str:
        """``anon-`` + 32 hex digits, the same for every event of ``session_id`` and unlinkable across sessions."""
        digest = hmac.digest(self._anonymous_key, session_id.encode(), "sha256").hex()
        return ANONYMOUS_PREFIX + digest[:_ANONYMOUS_HEX]

    def anonymize(self, event: Any) -> None:
        """Make a kept event without consent unlinkable (in place): the per-session anonymous user id, and no
        ``referrer``. Call after the enricher, which pseudonymizes every user id."""
        event.user_id = self.anonymous_user_id(event.session_id)
        event.referrer = None

    def refused(self, raw: bytes, problems: list[Problem], event: Any, identified: bool = True) -> tuple[bytes, bytes]:
        """(key, Avro ``RejectedAction``) of one refused event: ``raw`` is its bytes as received (a JSON value,
        or a line or body that is not JSON, then ``event`` is ``NOT_JSON``), ``problems`` why it was refused. Only
        what the module docstring lists is kept; not even the pseudonym when ``identified`` is False (the write
        key's consent policy looks at consent and the event has none, see ``has_consent``)."""
        json = "not JSON" if event is NOT_JSON else json_type(event)
        summary: dict[str, Any] = {"redacted": REDACTED_FORMAT, "json_type": json, "bytes": len(raw)}
        user_id: str | None = None
        event_id: str | None = None
        event_time: int | None = None
        if isinstance(event, dict):
            summary["fields"] = sorted(name for name in event if name in _TOP_LEVEL)
            summary["unknown_fields"] = sum(1 for name in event if name not in _TOP_LEVEL)
            raw_user_id = event.get("user_id")
            if isinstance(raw_user_id, str) and self._key is not None and identified:
                user_id = self.user_id(raw_user_id)
            candidate = event.get("event_id")
            if isinstance(candidate, str) and _CANONICAL_UUID.fullmatch(candidate):
                event_id = candidate
            timestamp = event.get("timestamp")
            if isinstance(timestamp, str):
                timestamp = parse_timestamp(timestamp)
            if type(timestamp) is int and 0 <= timestamp < 2**62:
                event_time = timestamp
        summary["user_id"] = user_id
        record = {
            "reason": "; ".join(f"{problem.problem} ({_field(problem.field)})" for problem in problems),
            "raw_value": orjson.dumps(summary),
            "event_id": event_id,
            "event_time": event_time,
            "source_partition": None,
            "source_offset": None,
        }
        return (user_id or "").encode(), avro.encode(record, schemas.REJECTED_ACTION)

    def warn_if_off(self) -> None:
        """Log a warning when user ids reach Kafka as sent (no ``user_id_hmac_key``)."""
        if self._key is None:
            log.warning(
                "user ids reach Kafka as sent: set user_id_hmac_key (RANKFEED_USER_ID_HMAC_KEY) so that only "
                "keyed hashes leave the gateway"
            )


def pseudonymize(key: bytes, user_id: str) -> str:
    """HMAC-SHA256 of ``user_id`` under ``key``, in hex: stable per user, not reversible without the key."""
    return hmac.digest(key, user_id.encode(), "sha256").hex()


def _field(path: str | None) -> str:
    """A problem's field path when the contract names it (list indexes kept), else a placeholder."""
    if path is None:
        return "event"
    return path if _INDEX.sub("", path) in _CONTRACT_PATHS else "unknown field"


#: Request headers by which a browser says its user opts out: Global Privacy Control and Do Not Track.
OPT_OUT_HEADERS = (b"sec-gpc", b"dnt")


def header_map(raw: Iterable[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    """The request's headers by (lower-case) name; a name sent twice keeps its last value, except an
    opt-out: ``Sec-GPC: 1`` or ``DNT: 1`` in any copy stands (a later ``0`` does not withdraw it)."""
    headers: dict[bytes, bytes] = {}
    for name, value in raw:
        if name in OPT_OUT_HEADERS and headers.get(name, b"").strip() == b"1":
            continue
        headers[name] = value
    return headers


def opted_out(headers: dict[bytes, bytes]) -> bool:
    """Whether the request carries ``Sec-GPC: 1`` or ``DNT: 1``."""
    return any(headers.get(name, b"").strip() == b"1" for name in OPT_OUT_HEADERS)


def has_consent(policy: ConsentPolicy, consent: object, opt_out: bool) -> bool:
    """Whether an event whose ``consent`` field is ``consent`` may be linked to its user under ``policy``:
    always under ``ignore``; else when it is ``granted`` and the request carries no opt-out header."""
    return policy == "ignore" or (not opt_out and consent == "granted")


@dataclass(frozen=True, slots=True)
class ConsentDecision:
    """What a write key's consent policy made of a request's valid events."""

    #: The events to keep, in order.
    kept: list[Any]
    #: One ``consent_required`` problem per refused event (policy ``require``); these are stored nowhere.
    problems: list[Problem]
    #: The kept events that had no consent (policy ``anonymize``): ``Pseudonymizer.anonymize`` them.
    anonymous: list[Any]


def judge_consent(
    policy: ConsentPolicy, events: list[Any], indexes: list[int], opt_out: bool, client: str
) -> ConsentDecision:
    """Apply ``policy`` to ``events`` (valid events, at ``indexes`` of the request): an event has consent when
    its ``consent`` is ``granted`` and the request carries no opt-out header (``opt_out``)."""
    if policy == "ignore":
        return ConsentDecision(events, [], [])
    consented = [has_consent(policy, event.consent, opt_out) for event in events]
    if all(consented):
        return ConsentDecision(events, [], [])
    if policy == "anonymize":
        anonymous = [event for event, granted in zip(events, consented, strict=True) if not granted]
        return ConsentDecision(events, [], anonymous)
    signal = "the request carries Sec-GPC: 1 or DNT: 1" if opt_out else 'the event\'s consent is not "granted"'
    message = (
        f"write key {client!r} requires the user's consent and {signal}; send actions only once the user "
        "consented (the tracker's consent hook sets consent)"
    )
    kept = []
    problems = []
    for event, index, granted in zip(events, indexes, consented, strict=True):
        if granted:
            kept.append(event)
        else:
            problems.append(Problem(index, "consent", "consent_required", message))
    return ConsentDecision(kept, problems, [])
