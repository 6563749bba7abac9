"""Hypothesis strategies for client events, derived from the contract rules like the gateway itself.

``valid_events`` draws events every rule accepts; ``mutated_events`` breaks one of them in a way a
real client might (a field dropped, a wrong type, a value out of range, an unknown field), and
``json_values`` is arbitrary JSON, for bodies that are not events at all.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from rankfeed import schemas
from rankfeed.gateway.contract import ASSIGNED_WHEN_MISSING, INT_RANGE, LONG_RANGE, FieldRule, field_rules
from rankfeed.gateway.validation import ACTION_REQUIREMENTS, INTERNAL_ACTIONS

RULES = {rule.name: rule for rule in field_rules(schemas.USER_ACTION)}
#: Keeps generated strings printable and short enough to read in a failure report.
_TEXT = st.characters(blacklist_categories=("Cs",), max_codepoint=0x1F64F)


def value_of(rule: FieldRule, now_ms: int) -> st.SearchStrategy[Any]:
    """Values of ``rule``'s field that its constraints accept (never null)."""
    if rule.kind == "string":
        if rule.symbols:
            # Internal action types (heartbeat) are refused from clients.
            return st.sampled_from([symbol for symbol in rule.symbols if symbol not in INTERNAL_ACTIONS])
        if rule.format == "uuid":
            return st.uuids().map(str)
        return st.text(_TEXT, min_size=rule.min_length or 0, max_size=min(rule.max_length or 40, 40))
    if rule.kind in ("int", "long"):
        low, high = INT_RANGE if rule.kind == "int" else LONG_RANGE
        low = low if rule.minimum is None else int(rule.minimum)
        high = high if rule.maximum is None else int(rule.maximum)
        return st.integers(low, high)
    if rule.kind == "double":
        whole_numbers = st.integers(int(rule.minimum or 0), int(rule.maximum) if rule.maximum is not None else 10_000)
        return st.floats(rule.minimum, rule.maximum, allow_nan=False, allow_infinity=False) | whole_numbers
    if rule.kind == "boolean":
        return st.booleans()
    if rule.kind == "timestamp":
        return st.integers(now_ms - 3_600_000, now_ms + 60_000)
    return impressions(rule, now_ms)


def impressions(rule: FieldRule, now_ms: int) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Result lists with unique positions, optional fields sometimes left out."""
    items = {item.name: item for item in rule.item_rules}

    def item(position: int) -> st.SearchStrategy[dict[str, Any]]:
        return st.fixed_dictionaries(
            {"hotel_id": value_of(items["hotel_id"], now_ms), "position": st.just(position)},
            optional={"price": value_of(items["price"], now_ms), "rating": value_of(items["rating"], now_ms)},
        )

    positions = st.lists(st.integers(1, 500), unique=True, max_size=min(rule.max_items or 20, 20))
    return positions.flatmap(lambda chosen: st.tuples(*(item(position) for position in chosen)).map(list))


@st.composite
def valid_events(draw: st.DrawFn, now_ms: int) -> dict[str, Any]:
    """An event the contract accepts: required fields, what its action type needs, optional ones or nulls."""
    action = draw(value_of(RULES["action_type"], now_ms))
    event: dict[str, Any] = {"action_type": action}
    for rule in RULES.values():
        if rule.set_by_gateway or rule.name == "action_type":
            continue
        needed = rule.required or any(rule.name == group[0] for group in ACTION_REQUIREMENTS[action])
        choice = "value" if needed else draw(st.sampled_from(["absent", "null", "value"]))
        if choice == "value":
            value = draw(value_of(rule, now_ms))
            if rule.kind == "records" and needed and not value:
                value = [{"hotel_id": "H1", "position": 1}]
            event[rule.name] = value
        elif choice == "null" and (rule.nullable or rule.name in ASSIGNED_WHEN_MISSING):
            event[rule.name] = None
    return event


@st.composite
def mutated_events(draw: st.DrawFn, now_ms: int) -> dict[str, Any]:
    """A valid event with one thing broken, or sometimes nothing (so both outcomes are exercised)."""
    event = dict(draw(valid_events(now_ms)))
    name = draw(st.sampled_from(sorted(RULES)))
    mutation = draw(st.sampled_from(["drop", "null", "wrong_type", "extreme", "unknown", "server", "none"]))
    if mutation == "drop":
        event.pop(name, None)
    elif mutation == "null":
        event[name] = None
    elif mutation == "wrong_type":
        event[name] = draw(st.sampled_from(["text", 1.5, True, [], {}, 3]))
    elif mutation == "extreme":
        event[name] = draw(
            st.sampled_from([-1, 0, 6, 2**31, -(2**63) - 1, 2**64, 1e308, "", "x" * 3000, "2026-11-27T10:00:00"])
        )
    elif mutation == "unknown":
        event[draw(st.sampled_from(["hotelId", "ip", "extra"]))] = 1
    elif mutation == "server":
        event[draw(st.sampled_from(["server_timestamp", "client_country", "ingest_id"]))] = "x"
    return event


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(_TEXT),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(_TEXT, max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
