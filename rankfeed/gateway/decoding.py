"""The fast path: a whole request body decoded and checked in one pass of C (msgspec), from the contract.

For every field of the .avsc a msgspec annotation is generated from the same ``FieldRule`` the
thorough validator uses (types, nullability, symbols, ranges, lengths, the UUID format, item
counts); unknown fields are forbidden and gateway-set fields may only be null. What msgspec cannot
express — the event time window, per-action required fields, internal action types, unique
impression positions — is checked on the decoded structs by ``TypedDecoder.acceptable``.

The fast path only ever says "every event is valid". When it says anything else the body is
handed to :mod:`rankfeed.gateway.validation`, which finds and words every problem and is the
authority on rejections; a property test checks the fast path never accepts what it rejects.
Valid events from that slow path are converted to the same structs, so enrichment and encoding
have one input type.

Measured on the simulator's mix (683-byte events, a third searches with 20 impressions):
about 2 µs per event to decode and check here, against about 8 µs for orjson plus the Python validator.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from rankfeed import schemas
from rankfeed.gateway.contract import ASSIGNED_WHEN_MISSING, INT_RANGE, LONG_RANGE, FieldRule, field_rules
from rankfeed.gateway.validation import ACTION_REQUIREMENTS, CANONICAL_UUID, is_set, parse_timestamp

#: What decoding raises: not JSON (``DecodeError``), not the contract (``ValidationError``), or a string
#: that is not UTF-8 (msgspec raises ``UnicodeDecodeError`` for those, not ``DecodeError``).
DecodeFailed = (msgspec.DecodeError, UnicodeDecodeError)


def _annotation(rule: FieldRule, item_struct: Any) -> Any:
    """The msgspec type of ``rule``'s field as a client sends it."""
    if rule.set_by_gateway:
        return None  # only null is accepted from clients
    base: Any
    if rule.kind == "string":
        if rule.symbols:
            base = Literal.__getitem__(rule.symbols)
        else:
            constraints: dict[str, Any] = {}
            if rule.min_length is not None:
                constraints["min_length"] = rule.min_length
            if rule.max_length is not None:
                constraints["max_length"] = rule.max_length
            if rule.format == "uuid":
                constraints["pattern"] = f"^{CANONICAL_UUID}\\Z"
            base = Annotated[str, Meta(**constraints)] if constraints else str
    elif rule.kind in ("int", "long"):
        low, high = INT_RANGE if rule.kind == "int" else LONG_RANGE
        low = low if rule.minimum is None else max(low, int(rule.minimum))
        high = high if rule.maximum is None else min(high, int(rule.maximum))
        base = Annotated[int, Meta(ge=low, le=high)]
    elif rule.kind == "double":
        base = Annotated[float, Meta(ge=rule.minimum, le=rule.maximum)]  # None means unbounded
    elif rule.kind == "boolean":
        base = bool
    elif rule.kind == "timestamp":
        # ISO strings are parsed in Python by the validator's own function, so both paths agree to the ms.
        base = Annotated[int, Meta(ge=LONG_RANGE[0], le=LONG_RANGE[1])] | str
    else:
        items = list[item_struct]
        base = Annotated[items, Meta(max_length=rule.max_items)] if rule.max_items is not None else items
    if rule.nullable or rule.name in ASSIGNED_WHEN_MISSING:
        return base | None
    return base


def _struct(name: str, rules: tuple[FieldRule, ...]) -> type[msgspec.Struct]:
    item_struct = None
    for rule in rules:
        if rule.kind == "records":
            item_struct = _struct(rule.item_name or f"{name}Item", rule.item_rules)
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for rule in rules:
        annotation = _annotation(rule, item_struct)
        if rule.required and rule.name not in ASSIGNED_WHEN_MISSING:
            fields.append((rule.name, annotation))
        else:
            fields.append((rule.name, annotation, None if rule.nullable or rule.set_by_gateway else rule.default))
    # gc=False: these structs hold no reference cycles, and untracked objects make collections cheaper.
    return msgspec.defstruct(name, fields, kw_only=True, forbid_unknown_fields=True, gc=False)


class TypedDecoder:
    """Decodes request bodies into structs of the contract when, and only when, every event is valid."""

    def __init__(self, max_batch_events: int, max_future_skew_ms: int, max_age_ms: int) -> None:
        rules = field_rules(schemas.USER_ACTION)
        self.event_type = _struct("UserActionIn", rules)
        self._one = msgspec.json.Decoder(self.event_type)
        batch = Annotated[list[self.event_type], Meta(min_length=1, max_length=max_batch_events)]  # type: ignore[name-defined]
        self._many = msgspec.json.Decoder(batch)
        self.max_future_skew_ms = max_future_skew_ms
        self.max_age_ms = max_age_ms
        self._timestamps = tuple(rule.name for rule in rules if rule.kind == "timestamp" and not rule.set_by_gateway)
        self._unique = tuple((rule.name, rule.unique_items_by) for rule in rules if rule.unique_items_by is not None)

    def decode_one(self, body: bytes) -> Any:
        """One event struct; raises one of ``DecodeFailed`` (also for contract violations)."""
        return self._one.decode(body)

    def decode_many(self, body: bytes) -> list[Any]:
        events: list[Any] = self._many.decode(body)
        return events

    def from_record(self, record: dict[str, Any]) -> Any:
        """The struct of a record the thorough validator accepted."""
        return msgspec.convert(record, self.event_type)

    def acceptable(self, events: list[Any], now_ms: int) -> bool:
        """The checks msgspec cannot express; converts ISO timestamps to epoch ms on the way."""
        earliest = now_ms - self.max_age_ms
        latest = now_ms + self.max_future_skew_ms
        requirements_of = ACTION_REQUIREMENTS
        for event in events:
            for name in self._timestamps:
                moment = getattr(event, name)
                if type(moment) is str:
                    moment = parse_timestamp(moment)
                    if moment is None:
                        return False
                    setattr(event, name, moment)
                if moment is not None and not earliest <= moment <= latest:
                    return False
            requirements = requirements_of.get(event.action_type)
            if requirements is None:
                return False  # an internal action type
            for group in requirements:
                for name in group:
                    if is_set(getattr(event, name)):
                        break
                else:
                    return False
            for name, unique_by in self._unique:
                items = getattr(event, name)
                if items is not None and len(items) > 1:
                    keys = {getattr(item, unique_by) for item in items}
                    if len(keys) != len(items):
                        return False
        return True
