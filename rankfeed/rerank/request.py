"""What a ``POST /v1/rerank`` body must be, checked by hand in one pass (a schema library costs more here).

``{"hotel_ids": ["h1", ...], "destination": "paris" | null, "query": "..." | null, "positions": [1, ...] | null,
"prices": [120.0, null, ...] | null, "ratings": [4.5, ...] | null, "search_id": "..." | null}``

* ``hotel_ids``: 1 to ``max_items`` distinct, non-empty strings in the order the caller's ranker chose;
* ``destination``: selects the hotels' destination-specific features when they exist;
* ``query``: accepted and type-checked for callers that send it, but not used by the score yet
  (the features are per hotel and destination, not per query);
* ``positions``: the 1-based position each hotel was shown at (e.g. 21… on page 2), one per id;
  default 1, 2, 3, …
* ``search_id``: the caller's id of the search; an interleaved answer uses it as its interleaving_id
  (so the same search always gets the same interleaving), else one is generated;
* ``prices``, ``ratings``: the price per night and the rating (0-5) shown for each hotel, null where
  unknown; features of a served model (``--model``), ignored by the default score.

A body that is not JSON is answered 400; JSON that breaks a rule above is answered 422 with every
problem found (up to ``MAX_PROBLEMS``), each naming the field, the index in an array and what to do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from rankfeed.asgi import json_type

FIELDS = ("hotel_ids", "destination", "query", "positions", "prices", "ratings", "search_id")
#: More problems than this in one body are not listed: the first ones tell the caller what is wrong.
MAX_PROBLEMS = 20


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a request, as it appears in the ``errors`` list of a 4xx answer."""

    field: str | None
    index: int | None
    problem: str
    message: str

    def as_json(self) -> dict[str, Any]:
        return {"field": self.field, "index": self.index, "problem": self.problem, "message": self.message}


class InvalidRequest(Exception):
    """The request cannot be ranked: ``status`` (400 or 422) with the problems found."""

    def __init__(self, status: int, problems: Sequence[Problem]) -> None:
        super().__init__(problems[0].message)
        self.status = status
        self.problems = list(problems[:MAX_PROBLEMS])


@dataclass(frozen=True, slots=True)
class RerankRequest:
    hotel_ids: list[str]
    destination: str | None = None
    query: str | None = None
    positions: list[int] | None = None
    prices: list[float | None] | None = None
    ratings: list[float | None] | None = None
    search_id: str | None = None


def parse_request(body: bytes, max_items: int) -> RerankRequest:
    """The request in ``body``, or ``InvalidRequest`` listing what is wrong with it."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise InvalidRequest(
            400,
            [
                Problem(
                    None,
                    None,
                    "invalid_json",
                    f'the body is not valid JSON ({error}); send an object like {{"hotel_ids": ["h1", "h2"]}}',
                )
            ],
        ) from None
    if not isinstance(document, dict):
        message = f'the body must be a JSON object like {{"hotel_ids": ["h1", "h2"]}}, got {json_type(document)}'
        raise InvalidRequest(422, [Problem(None, None, "wrong_type", message)])

    problems: list[Problem] = []
    for name in document:
        if name not in FIELDS:
            message = f"unknown field {name!r}; the fields are {', '.join(FIELDS)}"
            problems.append(Problem(name, None, "unknown_field", message))
    hotel_ids = _hotel_ids(document, max_items, problems)
    destination = _optional_string(document, "destination", problems)
    query = _optional_string(document, "query", problems)
    expected = len(hotel_ids) if hotel_ids is not None else None
    positions = _positions(document, expected, problems)
    prices = _numbers(document, "prices", None, expected, problems)
    ratings = _numbers(document, "ratings", 5.0, expected, problems)
    search_id = _optional_string(document, "search_id", problems)
    if problems or hotel_ids is None:
        raise InvalidRequest(422, problems)
    return RerankRequest(hotel_ids, destination, query, positions, prices, ratings, search_id)


def _hotel_ids(document: dict[str, Any], max_items: int, problems: list[Problem]) -> list[str] | None:
    if "hotel_ids" not in document:
        message = f"hotel_ids is required: an array of 1 to {max_items} hotel ids in the given order"
        problems.append(Problem("hotel_ids", None, "missing", message))
        return None
    hotel_ids = document["hotel_ids"]
    if not isinstance(hotel_ids, list):
        message = f"hotel_ids must be an array of strings, got {json_type(hotel_ids)}"
        problems.append(Problem("hotel_ids", None, "wrong_type", message))
        return None
    if not hotel_ids:
        problems.append(Problem("hotel_ids", None, "empty", f"hotel_ids is empty; send 1 to {max_items} hotel ids"))
        return None
    if len(hotel_ids) > max_items:
        message = f"hotel_ids has {len(hotel_ids)} items; at most {max_items} are allowed, split the request"
        problems.append(Problem("hotel_ids", None, "too_many", message))
        return None
    first_index: dict[str, int] = {}
    for index, hotel_id in enumerate(hotel_ids):
        if not isinstance(hotel_id, str):
            message = f"hotel_ids[{index}] must be a string, got {json_type(hotel_id)}"
            problems.append(Problem("hotel_ids", index, "wrong_type", message))
        elif not hotel_id:
            message = f"hotel_ids[{index}] is an empty string; every hotel id must be non-empty"
            problems.append(Problem("hotel_ids", index, "empty", message))
        elif hotel_id in first_index:
            first = first_index[hotel_id]
            message = f"hotel_ids[{index}] {hotel_id!r} repeats hotel_ids[{first}]; send each hotel once"
            problems.append(Problem("hotel_ids", index, "duplicate", message))
        else:
            first_index[hotel_id] = index
    return hotel_ids


def _optional_string(document: dict[str, Any], name: str, problems: list[Problem]) -> str | None:
    value = document.get(name)
    if value is None or isinstance(value, str):
        return value
    problems.append(Problem(name, None, "wrong_type", f"{name} must be a string or null, got {json_type(value)}"))
    return None


def _array(
    document: dict[str, Any], name: str, what: str, expected: int | None, problems: list[Problem]
) -> list[Any] | None:
    """``document[name]`` when it is null or an array with one item per hotel id; else a problem, None."""
    values = document.get(name)
    if values is None:
        return None
    if not isinstance(values, list):
        message = f"{name} must be an array of {what} (one per hotel id) or null, got {json_type(values)}"
        problems.append(Problem(name, None, "wrong_type", message))
        return None
    if expected is not None and len(values) != expected:
        message = f"{name} has {len(values)} items for {expected} hotel ids; send one {name[:-1]} per hotel id"
        problems.append(Problem(name, None, "length_mismatch", message))
    return values


def _positions(document: dict[str, Any], expected: int | None, problems: list[Problem]) -> list[int] | None:
    positions = _array(document, "positions", "integers >= 1", expected, problems)
    for index, position in enumerate(positions or ()):
        if isinstance(position, bool) or not isinstance(position, int) or position < 1:
            shown = json_type(position) if not isinstance(position, int) or isinstance(position, bool) else position
            message = f"positions[{index}] must be an integer >= 1, got {shown}"
            problems.append(Problem("positions", index, "wrong_type", message))
    return positions


def _numbers(
    document: dict[str, Any], name: str, maximum: float | None, expected: int | None, problems: list[Problem]
) -> list[float | None] | None:
    """Optional numbers >= 0 (and <= ``maximum``), null where unknown: the prices or ratings shown."""
    bound = "" if maximum is None else f" and <= {maximum:g}"
    values = _array(document, name, f"numbers >= 0{bound} or nulls", expected, problems)
    for index, value in enumerate(values or ()):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            shown = json_type(value) if isinstance(value, bool) or not isinstance(value, int | float) else value
            message = f"{name}[{index}] must be a number >= 0{bound} or null, got {shown}"
            problems.append(Problem(name, index, "wrong_type", message))
        elif maximum is not None and value > maximum:
            message = f"{name}[{index}] must be a number >= 0{bound} or null, got {value}"
            problems.append(Problem(name, index, "above_maximum", message))
    return values
