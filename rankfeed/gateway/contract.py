"""What a client may send, read from the Avro contract: one ``FieldRule`` per field of the .avsc.

The .avsc carries, besides names, types and docs, custom attributes that Avro itself ignores and
the gateway enforces (the JSON Schema vocabulary, so the OpenAPI document can reuse them verbatim):

=================  ======================================================================
``minimum``        inclusive lower bound of an int, long or double
``maximum``        inclusive upper bound of an int, long or double
``minLength``      fewest characters (code points) of a string
``maxLength``      most characters of a string
``format``         ``"uuid"``: a canonical, hyphenated UUID string
``maxItems``       most items of an array
``uniqueItemsBy``  name of an item field no two items of the array may share
``setBy``          ``"gateway"``: a field the gateway fills; clients must leave it out (or null)
``symbols``        the allowed values of a string (an enum Flink can read)
=================  ======================================================================

Both the validator (:mod:`rankfeed.gateway.validation`) and the OpenAPI document
(:mod:`rankfeed.gateway.openapi`) are built from these rules, never from a second, hand-typed copy.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Literal

from rankfeed import schemas

#: JSON shape a client sends for an Avro type.
Kind = Literal["string", "int", "long", "double", "boolean", "timestamp", "records"]

#: Avro's int and long ranges: a JSON number outside them could not be encoded.
INT_RANGE = (-(2**31), 2**31 - 1)
LONG_RANGE = (-(2**63), 2**63 - 1)

_PRIMITIVE_KINDS: dict[str, Kind] = {
    "string": "string",
    "int": "int",
    "long": "long",
    "double": "double",
    "boolean": "boolean",
}

#: Custom attributes this module understands; any other attribute name on a field is a typo.
CONSTRAINT_ATTRIBUTES = frozenset(
    {"minimum", "maximum", "minLength", "maxLength", "format", "maxItems", "uniqueItemsBy", "setBy"}
)
_AVRO_ATTRIBUTES = frozenset({"name", "type", "doc", "default", "symbols", "aliases", "order"})


class ContractError(ValueError):
    """The .avsc uses a constraint attribute the gateway does not understand or cannot apply."""


@dataclass(frozen=True)
class FieldRule:
    """One field as the gateway sees it: JSON kind, optionality and constraints, all from the .avsc."""

    name: str
    kind: Kind
    doc: str
    nullable: bool
    #: Clients must send it (not nullable and no default); event_id is the exception, see ``assigned``.
    required: bool
    default: Any
    symbols: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    format: str | None = None
    max_items: int | None = None
    unique_items_by: str | None = None
    set_by_gateway: bool = False
    #: For ``records``: the rules of the item record's fields, in wire order.
    item_rules: tuple[FieldRule, ...] = ()
    item_name: str | None = None
    item_doc: str = ""


#: Required by the contract but filled by the gateway (uuid4) when the client sent none.
ASSIGNED_WHEN_MISSING = frozenset({"event_id"})


@functools.cache
def field_rules(schema: str = schemas.USER_ACTION) -> tuple[FieldRule, ...]:
    """Rules of every top-level field of ``schema``, in wire order."""
    raw = schemas.raw_schema(schema)
    return tuple(field_rule(spec, f"{raw['name']}.") for spec in raw["fields"])


def field_rule(spec: dict[str, Any], where: str = "") -> FieldRule:
    """The rule of one field spec of an .avsc; ``where`` names its record in error messages."""
    name = spec["name"]
    unknown = set(spec) - CONSTRAINT_ATTRIBUTES - _AVRO_ATTRIBUTES
    if unknown:
        raise ContractError(
            f"{where}{name} has attributes {sorted(unknown)} the gateway does not know; "
            f"known constraint attributes: {sorted(CONSTRAINT_ATTRIBUTES)}"
        )
    avro_type = spec["type"]
    nullable = isinstance(avro_type, list)
    inner = avro_type[1] if nullable else avro_type
    kind, item_rules, item_name, item_doc = _kind(inner, f"{where}{name}")
    set_by = spec.get("setBy")
    if set_by not in (None, "gateway"):
        raise ContractError(f'{where}{name}: setBy must be "gateway", got {set_by!r}')
    unique_by = spec.get("uniqueItemsBy")
    if unique_by is not None and unique_by not in {rule.name for rule in item_rules}:
        raise ContractError(f"{where}{name}: uniqueItemsBy names {unique_by!r}, which is not a field of its items")
    fmt = spec.get("format")
    if fmt not in (None, "uuid"):
        raise ContractError(f'{where}{name}: the only supported format is "uuid", got {fmt!r}')
    symbols = spec.get("symbols")
    return FieldRule(
        name=name,
        kind=kind,
        doc=spec.get("doc", ""),
        nullable=nullable,
        required=not nullable and "default" not in spec,
        default=spec.get("default"),
        symbols=tuple(symbols) if symbols else None,
        minimum=spec.get("minimum"),
        maximum=spec.get("maximum"),
        min_length=spec.get("minLength"),
        max_length=spec.get("maxLength"),
        format=fmt,
        max_items=spec.get("maxItems"),
        unique_items_by=unique_by,
        set_by_gateway=set_by == "gateway",
        item_rules=item_rules,
        item_name=item_name,
        item_doc=item_doc,
    )


def _kind(avro_type: Any, where: str) -> tuple[Kind, tuple[FieldRule, ...], str | None, str]:
    if isinstance(avro_type, str):
        if avro_type in _PRIMITIVE_KINDS:
            return _PRIMITIVE_KINDS[avro_type], (), None, ""
        raise ContractError(f"{where}: Avro type {avro_type!r} has no JSON mapping in the gateway")
    if avro_type.get("logicalType") == "timestamp-millis":
        return "timestamp", (), None, ""
    if avro_type.get("type") == "array":
        items = avro_type["items"]
        if not isinstance(items, dict) or items.get("type") != "record":
            raise ContractError(f"{where}: only arrays of records are supported by the gateway")
        rules = tuple(field_rule(spec, f"{where}[].") for spec in items["fields"])
        return "records", rules, items["name"], items.get("doc", "")
    if avro_type.get("type") in _PRIMITIVE_KINDS:
        return _PRIMITIVE_KINDS[avro_type["type"]], (), None, ""
    raise ContractError(f"{where}: Avro type {avro_type!r} has no JSON mapping in the gateway")
