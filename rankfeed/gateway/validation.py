"""The thorough validator: every problem of every event, in words a client developer can act on.

It is the authority on rejections. Bodies whose events are all valid are normally decided by the
fast path (:mod:`rankfeed.gateway.decoding`) without coming here; this module runs when that path
declines, and a property test checks both agree on what is valid.

Checks are compiled once per field from :func:`rankfeed.gateway.contract.field_rules` (types,
nullability, symbols, ranges, lengths, formats, unique positions), except what the Avro file cannot
express: which fields each action type needs and which action types are internal (two small tables
below), and the event time window (settings: future skew and retention).

Policy for fields the contract does not have: the event is rejected (``unknown_field``), never
silently dropped, so a client typo (``hotelId``) surfaces at once instead of as missing data.
Gateway-set fields (``setBy: gateway``) may be sent as null and are rejected otherwise.

The validator works on the dict ``orjson`` parsed and, when it is valid, completes it in place into
an Avro-ready record: defaults of non-null fields filled, timestamps as epoch milliseconds. An
invalid event is left exactly as received (the rejected topic keeps it so).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from rankfeed import schemas
from rankfeed.asgi import json_type
from rankfeed.gateway.contract import ASSIGNED_WHEN_MISSING, INT_RANGE, LONG_RANGE, FieldRule, field_rules
from rankfeed.types import Record

#: Per action type, groups of fields of which at least one must be set (not null, not an empty list).
ACTION_REQUIREMENTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "search": (("query", "impressions"),),
    "impression": (("impressions",),),
    "click": (("hotel_id",), ("search_id",)),
    "book": (("hotel_id",), ("search_id",)),
    "rate": (("hotel_id",), ("rating",)),
    "scroll": (("scroll_depth",),),
    "back": (),
}

#: Action types of the contract that only the pipeline itself writes; clients may not send them.
INTERNAL_ACTIONS: dict[str, str] = {
    "heartbeat": "heartbeat is an internal event-time tick written by producers of the pipeline, never by clients",
}

#: Problems listed per event at most; the rest are summed up in one ``too_many_problems`` entry. Without
#: it an 870 KB body of 80,000 unknown keys was answered with 17 MB of problems; with it an answer holds
#: at most ``max_batch_events`` × 21 problems whatever the body.
MAX_PROBLEMS_PER_EVENT = 20

#: What the time window is checked against, unless the client said when it sent the request (``X-Sent-At``).
GATEWAY_CLOCK = "the gateway clock"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class Problem:
    """Why one event (``index`` in the request, None for the request itself) was refused."""

    index: int | None
    field: str | None
    problem: str
    message: str

    def as_json(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "problem": self.problem, "message": self.message}


class _Invalid(Exception):
    """Raised by a field check; carries (field path, problem code, sentence) triples."""

    def __init__(self, *found: tuple[str, str, str]) -> None:
        self.found = list(found)


Check = Callable[[Any], Any]


def _bounds_sentence(path: str, rule: FieldRule) -> str:
    if rule.minimum is not None and rule.maximum is not None:
        return f"{path} must be between {rule.minimum:g} and {rule.maximum:g}"
    if rule.minimum is not None:
        return f"{path} must be at least {rule.minimum:g}"
    return f"{path} must be at most {rule.maximum:g}"


def _compile(rule: FieldRule, path: str) -> Check:
    """A function that returns the Avro-ready value of ``rule``'s field or raises ``_Invalid``.

    Null is handled inside each type's wrong-type branch, so the common case costs one call.
    """
    nullable = rule.nullable or rule.name in ASSIGNED_WHEN_MISSING
    kind = rule.kind
    if kind == "string":
        return _string_check(rule, path, nullable)
    if kind in ("int", "long"):
        return _integer_check(rule, path, nullable, INT_RANGE if kind == "int" else LONG_RANGE)
    if kind == "double":
        return _double_check(rule, path, nullable)
    if kind == "boolean":
        return _boolean_check(path, nullable)
    if kind == "timestamp":
        return _timestamp_check(path, nullable)
    return _records_check(rule, path, nullable)


def _wrong_type(path: str, expected: str, value: Any) -> _Invalid:
    if value is None:
        return _Invalid((path, "wrong_type", f"{path} must not be null"))
    return _Invalid((path, "wrong_type", f"{path} must be {expected}, got {json_type(value)}"))


def _string_check(rule: FieldRule, path: str, nullable: bool) -> Check:
    symbols = frozenset(rule.symbols) if rule.symbols else None
    min_length = rule.min_length or 0
    max_length = rule.max_length
    is_uuid = rule.format == "uuid"
    too_short = f"{path} must have at least {min_length} character{'s' if min_length != 1 else ''}"
    too_long = f"{path} must have at most {max_length} characters"
    # Internal symbols (heartbeat) are refused separately; the message lists what a client may send.
    client_symbols = [symbol for symbol in rule.symbols or () if symbol not in INTERNAL_ACTIONS]
    not_symbol = f"{path} must be one of {', '.join(client_symbols)}"
    not_uuid = f"{path} must be a UUID in canonical form, e.g. 123e4567-e89b-42d3-a456-426614174000"

    def check(value: Any) -> Any:
        if type(value) is not str:
            if value is None and nullable:
                return None
            raise _wrong_type(path, "a string", value)
        if symbols is not None and value not in symbols:
            raise _Invalid((path, "not_allowed", f"{not_symbol}; got {value[:40]!r}"))
        length = len(value)
        if length < min_length:
            raise _Invalid((path, "too_short", too_short))
        if max_length is not None and length > max_length:
            raise _Invalid((path, "too_long", f"{too_long}, got {length}"))
        if is_uuid and not _is_canonical_uuid(value):
            raise _Invalid((path, "invalid_format", not_uuid))
        return value

    return check


#: A UUID in canonical form (8-4-4-4-12 hex digits), the ``format: uuid`` of the contract.
CANONICAL_UUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_CANONICAL_UUID = re.compile(CANONICAL_UUID)


def _is_canonical_uuid(value: str) -> bool:
    return _CANONICAL_UUID.fullmatch(value) is not None


def _integer_check(rule: FieldRule, path: str, nullable: bool, avro_range: tuple[int, int]) -> Check:
    low = avro_range[0] if rule.minimum is None else max(avro_range[0], int(rule.minimum))
    high = avro_range[1] if rule.maximum is None else min(avro_range[1], int(rule.maximum))
    if rule.minimum is not None:
        below = ("below_minimum", f"{path} must be at least {low}")
    else:
        below = ("out_of_range", f"{path} must be at least {low} (the smallest Avro {rule.kind})")
    if rule.maximum is not None:
        above = ("above_maximum", f"{path} must be at most {high}")
    else:
        above = ("out_of_range", f"{path} must be at most {high} (the largest Avro {rule.kind})")

    def check(value: Any) -> Any:
        if type(value) is not int:
            if value is None and nullable:
                return None
            raise _wrong_type(path, "an integer", value)
        if value < low:
            raise _Invalid((path, below[0], f"{below[1]}, got {value}"))
        if value > high:
            raise _Invalid((path, above[0], f"{above[1]}, got {value}"))
        return value

    return check


def _double_check(rule: FieldRule, path: str, nullable: bool) -> Check:
    low = rule.minimum
    high = rule.maximum
    bounds = _bounds_sentence(path, rule) if low is not None or high is not None else ""

    def check(value: Any) -> Any:
        kind = type(value)
        if kind is not float and kind is not int:
            if value is None and nullable:
                return None
            raise _wrong_type(path, "a number", value)
        if kind is int and not -(2**1023) < value < 2**1023:
            raise _Invalid((path, "out_of_range", f"{path} is too large for a double"))
        if low is not None and value < low:
            raise _Invalid((path, "below_minimum", f"{bounds}, got {value}"))
        if high is not None and value > high:
            raise _Invalid((path, "above_maximum", f"{bounds}, got {value}"))
        return value

    return check


def _boolean_check(path: str, nullable: bool) -> Check:
    def check(value: Any) -> Any:
        if type(value) is not bool:
            if value is None and nullable:
                return None
            raise _wrong_type(path, "true or false", value)
        return value

    return check


def parse_timestamp(value: str) -> int | None:
    """Epoch milliseconds of an ISO-8601 string with a UTC offset, or None when it is not one.

    Shared with the fast path so that both turn the same string into the same millisecond.
    """
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return (moment - _EPOCH) // _ONE_MS


def _timestamp_check(path: str, nullable: bool) -> Check:
    """Epoch milliseconds (an integer) or an ISO-8601 string with a UTC offset, to epoch milliseconds."""
    expected = "epoch milliseconds (an integer) or an ISO-8601 string"
    bad_iso = f"{path} must be ISO-8601 with a UTC offset, e.g. 2026-11-27T10:50:00.123Z"

    def check(value: Any) -> Any:
        if type(value) is int:
            if not LONG_RANGE[0] <= value <= LONG_RANGE[1]:
                raise _Invalid((path, "out_of_range", f"{path} is outside the range of epoch milliseconds"))
            return value
        if type(value) is not str:
            if value is None and nullable:
                return None
            raise _wrong_type(path, expected, value)
        moment = parse_timestamp(value)
        if moment is None:
            raise _Invalid((path, "invalid_format", f"{bad_iso}; got {value[:40]!r}"))
        return moment

    return check


def _records_check(rule: FieldRule, path: str, nullable: bool) -> Check:
    """An array of records: item count, each item's fields, and uniqueness of ``uniqueItemsBy``.

    Missing nullable item fields are left missing: the encoder writes them as null.
    """
    item_checks = {item.name: _compile(item, item.name) for item in rule.item_rules}
    required = tuple(item.name for item in rule.item_rules if item.required)
    max_items = rule.max_items
    unique_by = rule.unique_items_by
    item_name = rule.item_name or "item"

    def check(value: Any) -> Any:
        if type(value) is not list:
            if value is None and nullable:
                return None
            raise _wrong_type(path, "an array", value)
        if max_items is not None and len(value) > max_items:
            raise _Invalid((path, "too_many_items", f"{path} must have at most {max_items} items, got {len(value)}"))
        found: list[tuple[str, str, str]] = []
        seen: set[Any] = set()
        for position, item in enumerate(value):
            if type(item) is not dict:
                where = f"{path}[{position}]"
                found.append((where, "wrong_type", f"{where} must be an {item_name} object, got {json_type(item)}"))
                continue
            for name, field_value in item.items():
                item_check = item_checks.get(name)
                if item_check is None:
                    where = f"{path}[{position}].{name}"
                    found.append((where, "unknown_field", _unknown_sentence(where)))
                    continue
                try:
                    item_check(field_value)
                except _Invalid as invalid:
                    where = f"{path}[{position}]"
                    found.extend(
                        (f"{where}.{field}", code, f"{where}.{message}") for field, code, message in invalid.found
                    )
            for name in required:
                if name not in item:
                    where = f"{path}[{position}].{name}"
                    found.append((where, "missing_field", f"{where} is required"))
            if unique_by is not None:
                key = item.get(unique_by)
                if key is not None and type(key) is not list and type(key) is not dict:
                    if key in seen:
                        where = f"{path}[{position}].{unique_by}"
                        found.append(
                            (where, "duplicate", f"{where} {key!r} was used before; each {unique_by} may appear once")
                        )
                    seen.add(key)
        if found:
            raise _Invalid(*found)
        return value

    return check


def _unknown_sentence(path: str) -> str:
    return (
        f"{path} is not a field of the user_action contract; unknown fields are rejected, not dropped: "
        "remove it or add it to schemas/avro/user_action.avsc first"
    )


def _check_action_requirements() -> None:
    """The requirements table must name real action types and fields: fail at import, not at run time."""
    rules = {rule.name: rule for rule in field_rules(schemas.USER_ACTION)}
    symbols = set(rules["action_type"].symbols or ())
    covered = set(ACTION_REQUIREMENTS) | set(INTERNAL_ACTIONS)
    if covered != symbols or set(ACTION_REQUIREMENTS) & set(INTERNAL_ACTIONS):
        raise ValueError(
            f"ACTION_REQUIREMENTS and INTERNAL_ACTIONS must split action_type's symbols {sorted(symbols)}, "
            f"got {sorted(ACTION_REQUIREMENTS)} and {sorted(INTERNAL_ACTIONS)}: add the new action type to one of them"
        )
    for action, groups in ACTION_REQUIREMENTS.items():
        for group in groups:
            for name in group:
                if name not in rules:
                    raise ValueError(f"ACTION_REQUIREMENTS[{action!r}] names {name!r}, which is not in the contract")


_check_action_requirements()


class EventValidator:
    """Validates client events and completes them into Avro-ready records; one instance per process."""

    def __init__(self, max_future_skew_ms: int, max_age_ms: int, schema: str = schemas.USER_ACTION) -> None:
        rules = field_rules(schema)
        self.max_future_skew_ms = max_future_skew_ms
        self.max_age_ms = max_age_ms
        self._checks: dict[str, Check] = {
            rule.name: _compile(rule, rule.name) for rule in rules if not rule.set_by_gateway
        }
        self._server_fields = frozenset(rule.name for rule in rules if rule.set_by_gateway)
        self._required = tuple(rule.name for rule in rules if rule.required and rule.name not in ASSIGNED_WHEN_MISSING)
        self._defaults = tuple((rule.name, rule.default) for rule in rules if not rule.nullable and not rule.required)
        self._times = tuple(rule.name for rule in rules if rule.kind == "timestamp" and not rule.set_by_gateway)
        self._requirements = {
            action: tuple((group, " or ".join(group), "|".join(group)) for group in groups)
            for action, groups in ACTION_REQUIREMENTS.items()
        }

    def validate(
        self, event: Any, index: int | None, now_ms: int, clock: str = GATEWAY_CLOCK
    ) -> Record | list[Problem]:
        """The Avro-ready record (``event`` itself, completed), or every problem found in it.

        Timestamps are checked against ``now_ms``, which is the time on ``clock`` (for the messages).
        """
        if type(event) is not dict:
            return [Problem(index, None, "not_an_object", f"an event must be a JSON object, got {json_type(event)}")]
        found: list[tuple[str, str, str]] | None = None
        converted: list[tuple[str, Any]] = []
        checks = self._checks
        for name, value in event.items():
            check = checks.get(name)
            if check is None:
                problem = self._field_outside_contract(name, value)
                if problem is not None:
                    found = found or []
                    found.append(problem)
                continue
            try:
                checked = check(value)
            except _Invalid as invalid:
                found = found or []
                found.extend(invalid.found)
                continue
            if checked is not value:
                converted.append((name, checked))
        # Time and action checks see converted values; an invalid event is left as it was received.
        completed = {**event, **dict(converted)} if converted else event
        for name in self._required:
            if name not in event:
                found = found or []
                found.append((name, "missing_field", f"{name} is required"))
        late = self._check_times(completed, now_ms, clock)
        if late is not None:
            found = (found or []) + late
        unmet = self._check_action(completed)
        if unmet is not None:
            found = (found or []) + unmet
        if found is not None:
            problems = [Problem(index, field, problem, message) for field, problem, message in found]
            if len(problems) > MAX_PROBLEMS_PER_EVENT:
                hidden = len(problems) - MAX_PROBLEMS_PER_EVENT
                message = f"{hidden} more problems of this event are not listed; fix these first"
                problems = [*problems[:MAX_PROBLEMS_PER_EVENT], Problem(index, None, "too_many_problems", message)]
            return problems
        event.update(converted)
        for name, default in self._defaults:
            if name not in event:
                event[name] = default
        return event

    def _field_outside_contract(self, name: str, value: Any) -> tuple[str, str, str] | None:
        if name in self._server_fields:
            if value is None:
                return None
            return (name, "server_field", f"{name} is set by the gateway; leave it out of the request")
        return (name, "unknown_field", _unknown_sentence(name))

    def _check_times(self, event: Record, now_ms: int, clock: str) -> list[tuple[str, str, str]] | None:
        found = None
        for name in self._times:
            moment = event.get(name)
            if type(moment) is not int or not LONG_RANGE[0] <= moment <= LONG_RANGE[1]:
                continue  # missing, or already reported as malformed or out of range
            if moment > now_ms + self.max_future_skew_ms:
                found = found or []
                ahead = (moment - now_ms) / 1000
                found.append(
                    (
                        name,
                        "in_future",
                        f"{name} is {ahead:.0f} s ahead of {clock}; at most "
                        f"{self.max_future_skew_ms / 1000:.0f} s of client clock skew is accepted",
                    )
                )
            elif moment < now_ms - self.max_age_ms:
                found = found or []
                found.append(
                    (
                        name,
                        "too_old",
                        f"{name} is older than {self.max_age_ms / 3_600_000:g} h, the topic's retention; "
                        "such events would be deleted at once",
                    )
                )
        return found

    def _check_action(self, event: Record) -> list[tuple[str, str, str]] | None:
        action = event.get("action_type")
        if type(action) is not str:
            return None  # missing or not a string, already reported
        requirements = self._requirements.get(action)
        if requirements is None:
            internal = INTERNAL_ACTIONS.get(action)
            return [("action_type", "not_allowed", internal)] if internal is not None else None
        found = None
        for group, alternatives, field in requirements:
            if not any(is_set(event.get(name)) for name in group):
                found = found or []
                article = "an" if action[0] in "aeiou" else "a"
                found.append((field, "required_for_action", f"{article} {action} action needs {alternatives}"))
        return found


def is_set(value: Any) -> bool:
    """Whether a field counts as given for ``ACTION_REQUIREMENTS``: not null and not an empty list."""
    return value is not None and value != []


def validate_all(
    validator: EventValidator, indexed_events: Iterable[tuple[int, Any]], now_ms: int, clock: str = GATEWAY_CLOCK
) -> tuple[list[Record], list[Problem]]:
    """The valid events as Avro-ready records, and the problems of the invalid ones."""
    records: list[Record] = []
    problems: list[Problem] = []
    validate = validator.validate
    for index, event in indexed_events:
        result = validate(event, index, now_ms, clock)
        if isinstance(result, list):
            problems.extend(result)
        else:
            records.append(result)
    return records, problems
