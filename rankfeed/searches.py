"""The logged result lists: every hotel each search showed, where, and whether it was clicked or booked.

Read from the lake's ``events/`` (the clean, deduplicated actions): a ``search`` action carries its
whole result list (``impressions``), and ``click`` and ``book`` actions name the search and hotel.
Unlike ``ltr_examples/``, which stops at each list's deepest click or scroll and drops lists without
a click, these are the full lists, unselected: what IPS training needs as candidates (Joachims et al.
2017) and what an offline evaluation must average over (a search without a click counts, as zero).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rankfeed.datasets import EVENTS_DATASET
from rankfeed.export import ExportError, dataset_path, open_dataset
from rankfeed.model import epoch_ms
from rankfeed.propensity import BoolArray, FloatArray, IntArray


@dataclass(frozen=True)
class LoggedSearches:
    """Every shown hotel of logged searches (from ``events/``), lists contiguous and numbered 0..N-1."""

    list_index: IntArray
    search_ids: list[str]
    hotel_ids: list[str]
    positions: IntArray
    prices: list[float | None]
    ratings: list[float | None]
    search_time_ms: IntArray
    clicks: FloatArray
    bookings: FloatArray

    @property
    def searches(self) -> int:
        return int(self.list_index.max()) + 1 if self.list_index.size else 0

    @property
    def list_search_ids(self) -> list[str]:
        """The search id of each list, in list order."""
        first_rows = np.searchsorted(self.list_index, np.arange(self.searches))
        return [self.search_ids[row] for row in first_rows]

    def subset(self, lists: BoolArray) -> LoggedSearches:
        """The searches where ``lists`` (one flag per search) is true, renumbered 0..n-1."""
        rows = lists[self.list_index]
        kept = np.flatnonzero(rows)
        renumber = np.cumsum(lists) - 1
        return LoggedSearches(
            list_index=renumber[self.list_index[rows]].astype(np.int64),
            search_ids=[self.search_ids[i] for i in kept],
            hotel_ids=[self.hotel_ids[i] for i in kept],
            positions=self.positions[rows],
            prices=[self.prices[i] for i in kept],
            ratings=[self.ratings[i] for i in kept],
            search_time_ms=self.search_time_ms[rows],
            clicks=self.clicks[rows],
            bookings=self.bookings[rows],
        )


def load_logged_searches(parquet_dir: Path) -> LoggedSearches:
    """Each ``search`` action's full result list from ``events/``, with its clicks and bookings.

    A search is counted once (its first event); clicks and bookings are matched by (search_id,
    hotel_id), several clicks on one hotel counting once. Searches with no result list or no id are
    skipped. An ExportError when ``events/`` has no search.
    """
    path = dataset_path(parquet_dir, EVENTS_DATASET)
    columns = ["action_type", "search_id", "hotel_id", "timestamp", "impressions"]
    actions = open_dataset(path).to_table(
        columns=columns, filter=pc.field("action_type").isin(["search", "click", "book"])
    )
    is_search = pc.and_(
        pc.equal(actions["action_type"], "search"),
        pc.and_(pc.is_valid(actions["search_id"]), pc.is_valid(actions["impressions"])),
    )
    searches = actions.filter(is_search).sort_by([("timestamp", "ascending"), ("search_id", "ascending")])
    if searches.num_rows == 0:
        raise ExportError(f"{path} holds no search with a result list; run the pipeline on some traffic first")
    search_ids = searches["search_id"].to_pylist()
    _, first = np.unique(np.array(search_ids, dtype=object), return_index=True)
    searches = searches.take(pa.array(np.sort(first)))
    lengths = pc.list_value_length(searches["impressions"]).to_numpy(zero_copy_only=False)
    shown = pc.list_flatten(searches["impressions"])
    list_index = np.repeat(np.arange(searches.num_rows, dtype=np.int64), lengths)
    row_search_ids = np.array(searches["search_id"].to_pylist(), dtype=object)[list_index].tolist()
    hotel_ids = pc.struct_field(shown, "hotel_id").to_pylist()
    outcomes = actions.filter(pc.is_in(actions["action_type"], pa.array(["click", "book"])))

    def matched(action_type: str) -> FloatArray:
        chosen = outcomes.filter(pc.equal(outcomes["action_type"], action_type))
        pairs = set(zip(chosen["search_id"].to_pylist(), chosen["hotel_id"].to_pylist(), strict=True))
        return np.array([(s, h) in pairs for s, h in zip(row_search_ids, hotel_ids, strict=True)], dtype=np.float64)

    return LoggedSearches(
        list_index=list_index,
        search_ids=row_search_ids,
        hotel_ids=hotel_ids,
        positions=pc.struct_field(shown, "position").to_numpy(zero_copy_only=False).astype(np.int64),
        prices=pc.struct_field(shown, "price").to_pylist(),
        ratings=pc.struct_field(shown, "rating").to_pylist(),
        search_time_ms=epoch_ms(searches["timestamp"])[list_index],
        clicks=matched("click"),
        bookings=matched("book"),
    )
