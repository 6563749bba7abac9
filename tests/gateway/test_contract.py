"""The constraints the gateway enforces are read from the .avsc's custom attributes."""

from __future__ import annotations

import pytest

from rankfeed import schemas
from rankfeed.gateway.contract import ContractError, field_rule, field_rules


def test_constraint_attributes_of_the_user_action_contract() -> None:
    rules = {rule.name: rule for rule in field_rules(schemas.USER_ACTION)}
    assert (rules["position"].minimum, rules["rating"].minimum, rules["rating"].maximum) == (1, 0, 5)
    assert (rules["price"].minimum, rules["duration"].minimum, rules["scroll_depth"].minimum) == (0, 0, 0)
    assert rules["event_id"].format == "uuid"
    assert rules["impressions"].unique_items_by == "position"
    item_position = next(rule for rule in rules["impressions"].item_rules if rule.name == "position")
    assert item_position.minimum == 1
    assert {name for name, rule in rules.items() if rule.set_by_gateway} == {
        "server_timestamp",
        "client_country",
        "device_family",
        "ingest_id",
        "client_timestamp",
    }
    assert [name for name, rule in rules.items() if rule.required] == [
        "event_id",
        "user_id",
        "session_id",
        "timestamp",
        "action_type",
    ]


def test_the_avro_schema_still_parses_with_the_custom_attributes() -> None:
    # Avro ignores unknown attributes: the parsing canonical form has only names, types and order.
    canonical = schemas.parsed_schema(schemas.USER_ACTION)
    assert canonical["name"] == "io.rankfeed.UserAction"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"name": "f", "type": "string", "maxLenght": 3}, "does not know"),
        ({"name": "f", "type": "string", "format": "email"}, 'only supported format is "uuid"'),
        ({"name": "f", "type": "string", "setBy": "client"}, 'setBy must be "gateway"'),
        (
            {
                "name": "f",
                "type": {
                    "type": "array",
                    "items": {"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]},
                },
                "uniqueItemsBy": "b",
            },
            "not a field of its items",
        ),
    ],
)
def test_a_constraint_the_gateway_cannot_apply_fails_loudly(spec: dict[str, object], message: str) -> None:
    with pytest.raises(ContractError, match=message):
        field_rule(spec, "Test.")
