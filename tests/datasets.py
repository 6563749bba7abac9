"""Synthetic Parquet datasets shaped exactly like the feedback job's, shared by the offline tests.

Columns and types come from the .avsc files; files sit in Hive ``dt=/hr=`` partitions without a
``.parquet`` suffix beside ``_SUCCESS`` markers and a hidden in-progress file, as Flink's
filesystem sink leaves them, so readers are tested against what they will really meet.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds

from rankfeed import schemas
from rankfeed.propensity import default_theta
from rankfeed.settings import LabelTable

LIST_LENGTH = 12
#: The first search is at 22:40 UTC so the data spans two days and several hours.
START = datetime(2026, 11, 27, 22, 40, tzinfo=UTC)
_LABELS = LabelTable()


def arrow_type(avro_type: Any) -> pa.DataType:
    """The Arrow type Flink's Parquet sink gives an Avro type (timestamps kept at millisecond precision)."""
    if isinstance(avro_type, list):
        return arrow_type(avro_type[1])
    if isinstance(avro_type, dict):
        if avro_type.get("logicalType") == "timestamp-millis":
            return pa.timestamp("ms", tz="UTC")
        if avro_type["type"] == "array":
            return pa.list_(arrow_field(avro_type["items"], "element"))
        if avro_type["type"] == "record":
            return pa.struct([arrow_field(f["type"], f["name"]) for f in avro_type["fields"]])
        return arrow_type(avro_type["type"])
    primitive = {
        "string": pa.string(),
        "int": pa.int32(),
        "long": pa.int64(),
        "double": pa.float64(),
        "boolean": pa.bool_(),
    }
    return primitive[avro_type]


def arrow_field(avro_type: Any, name: str) -> pa.Field:
    nullable = isinstance(avro_type, list) and avro_type[0] == "null"
    return pa.field(name, arrow_type(avro_type), nullable=nullable)


def arrow_schema(record: str) -> pa.Schema:
    """The Arrow schema of an .avsc record, field by field in wire order."""
    return pa.schema([arrow_field(f.avro_type, f.name) for f in schemas.fields(record)])


def write_dataset(table: pa.Table, folder: Path, time_column: str) -> None:
    """``table`` as the feedback job writes a dataset: dt/hr Hive folders, markers and a hidden part file."""
    times = table[time_column].to_pylist()
    partitioned = table.append_column("dt", pa.array([t.strftime("%Y-%m-%d") for t in times]))
    partitioned = partitioned.append_column("hr", pa.array([t.strftime("%H") for t in times]))
    partitioning = ds.partitioning(pa.schema([("dt", pa.string()), ("hr", pa.string())]), flavor="hive")
    ds.write_dataset(
        partitioned,
        folder,
        format="parquet",
        partitioning=partitioning,
        basename_template="part-{i}",
        max_rows_per_file=500,
        max_rows_per_group=500,
    )
    partitions = sorted(path for path in folder.glob("dt=*/hr=*"))
    for partition in partitions:
        (partition / "_SUCCESS").write_bytes(b"")
    # Flink's in-progress file: not Parquet at all, so reading it would fail the test.
    (partitions[-1] / ".part-inprogress-0").write_bytes(b"not parquet yet")


def write_ltr_dataset(
    parquet_dir: Path, searches: int = 400, seed: int = 0, randomized_share: float = 0.25, events: bool = False
) -> pa.Table:
    """A synthetic ``ltr_examples`` dataset under ``parquet_dir``; returns its rows (without dt/hr).

    Clicks follow a PBM with θ_k = 1/k and an attractiveness that rises with rating and falls
    with price, so a model has something to learn and the logged order is position-biased. With
    ``events`` the same searches are also written to ``events/``: each search action with its whole
    result list, and a click (and a book) action for each clicked (booked) hotel.
    """
    rng = np.random.default_rng(seed)
    shape = (searches, LIST_LENGTH)
    price = np.round(rng.lognormal(np.log(150.0), 0.5, shape), 2)
    rating = np.round(rng.triangular(1.0, 4.2, 5.0, shape), 1)
    rating[rng.random(shape) < 0.07] = np.nan
    attractiveness = 0.6 / (1.0 + np.exp(-(1.5 * (np.nan_to_num(rating, nan=3.5) - 3.5) - np.log(price / 150.0))))
    randomized = rng.random(searches) < randomized_share
    score = np.where(randomized[:, None], rng.random(shape), attractiveness + 0.1 * rng.standard_normal(shape))
    order = np.argsort(-score, axis=1)
    price, rating, attractiveness = (np.take_along_axis(a, order, axis=1) for a in (price, rating, attractiveness))
    clicked = rng.random(shape) < default_theta(LIST_LENGTH)[None, :] * attractiveness
    outcome = rng.random(shape)
    kind = np.where(
        ~clicked, "ignore", np.where(outcome < 0.05, "book", np.where(outcome < 0.3, "quick_back", "click"))
    )
    dwell = np.where(kind == "quick_back", rng.uniform(2, 8, shape), rng.uniform(20, 300, shape))
    position = np.tile(np.arange(1, LIST_LENGTH + 1), (searches, 1))
    deepest = np.max(np.where(clicked, position, 0), axis=1)
    kept = position <= deepest[:, None]

    def zscore(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        standardized: np.ndarray[Any, Any] = (values - np.nanmean(values, 1, keepdims=True)) / np.nanstd(
            values, 1, keepdims=True
        )
        return standardized

    def rank_pct(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        ranks = np.argsort(np.argsort(np.nan_to_num(values, nan=np.inf), axis=1), axis=1)
        return np.where(np.isnan(values), np.nan, ranks / (LIST_LENGTH - 1))

    search = np.repeat(np.arange(searches)[:, None], LIST_LENGTH, axis=1)
    # Ids unrelated to time, as UUIDs are: ordering by id is not ordering by time.
    search_name = [f"S{number:05d}" for number in rng.permutation(searches)]
    session = search // 2
    search_time = np.array([START + timedelta(seconds=int(20 * s)) for s in range(searches)], dtype=object)
    session_clicks = np.bincount(session[kept], weights=clicked[kept], minlength=searches)
    columns: dict[str, Any] = {
        "search_id": [search_name[s] for s in search[kept]],
        "hotel_id": [f"H{(s * 7 + p) % 300:05d}" for s, p in zip(search[kept], position[kept], strict=True)],
        "session_id": [f"session-{s}" for s in session[kept]],
        "user_id": [f"U{s % 50:06d}" for s in session[kept]],
        "query": [("Paris", "Zürich", "東京")[s % 3] for s in search[kept]],
        "search_time": search_time[search[kept]].tolist(),
        "label": [getattr(_LABELS, k) for k in kind[kept]],
        "label_kind": kind[kept].tolist(),
        "position": position[kept],
        "price": price[kept],
        "rating": _nullable(rating[kept]),
        "price_zscore": zscore(price)[kept],
        "price_rank_pct": rank_pct(price)[kept],
        "rating_zscore": _nullable(zscore(rating)[kept]),
        "rating_rank_pct": _nullable(rank_pct(rating)[kept]),
        "device": [("web", "mobile")[s % 2] for s in session[kept]],
        "dwell_seconds": _nullable(np.where(kind == "ignore", np.nan, np.round(dwell, 1))[kept]),
        "ranking_randomized": randomized[search[kept]].tolist(),
        "session_searches": np.full(int(kept.sum()), 2),
        "session_clicks": session_clicks[session[kept]].astype(np.int64),
        "ips_weight": np.ones(int(kept.sum())),
        "propensity": [None] * int(kept.sum()),
        "propensity_version": [None] * int(kept.sum()),
    }
    schema = arrow_schema(schemas.LTR_EXAMPLE)
    assert set(columns) == set(schema.names), "the generator must fill exactly the schema's fields"
    table = pa.table({name: pa.array(columns[name], schema.field(name).type) for name in schema.names}, schema=schema)
    write_dataset(table, parquet_dir / "ltr_examples", "search_time")
    if events:
        hotel_ids = [[f"H{(s * 7 + p) % 300:05d}" for p in range(1, LIST_LENGTH + 1)] for s in range(searches)]
        actions: list[dict[str, Any]] = []
        for s in range(searches):
            fields = {"user_id": f"U{s // 2 % 50:06d}", "session_id": f"session-{s // 2}", "search_id": search_name[s]}
            shown = [
                {
                    "hotel_id": hotel_ids[s][p],
                    "position": p + 1,
                    "price": float(price[s, p]),
                    "rating": _nullable(rating[s, p : p + 1])[0],
                }
                for p in range(LIST_LENGTH)
            ]
            actions.append(_action(f"{s}-search", search_time[s], "search", impressions=shown, **fields))
            for p in np.flatnonzero(clicked[s]):
                at = search_time[s] + timedelta(seconds=int(p) + 1)
                actions.append(
                    _action(f"{s}-click-{p}", at, "click", hotel_id=hotel_ids[s][p], position=int(p) + 1, **fields)
                )
                if kind[s, p] == "book":
                    actions.append(_action(f"{s}-book-{p}", at, "book", hotel_id=hotel_ids[s][p], **fields))
        events_table = pa.Table.from_pylist(actions, schema=arrow_schema(schemas.USER_ACTION))
        write_dataset(events_table, parquet_dir / "events", "timestamp")
    return table


def _action(event_id: str, at: datetime, action_type: str, **fields: Any) -> dict[str, Any]:
    record = schemas.default_record(schemas.USER_ACTION)
    record.update(event_id=event_id, schema_version=1, timestamp=at, action_type=action_type, query="Paris", **fields)
    return record


def _nullable(values: np.ndarray[Any, Any]) -> list[float | None]:
    return [None if np.isnan(v) else float(v) for v in values]


def features_record(
    hotel_id: str,
    *,
    examined_impressions: float = 0.0,
    clicks: float = 0.0,
    books: float = 0.0,
    quick_backs: float = 0.0,
    destination: str | None = None,
    updated_at: datetime | None = None,
) -> dict[str, Any]:
    """A HotelFeatures record with the counts that matter for scoring and plausible values for the rest."""
    return {
        "hotel_id": hotel_id,
        "destination": destination,
        "updated_at": updated_at or datetime.now(UTC),
        "impressions": examined_impressions * 2,
        "examined_impressions": examined_impressions,
        "clicks": clicks,
        "books": books,
        "quick_backs": quick_backs,
        "mean_dwell_seconds": None,
        "debiased_ctr": None,
        "debiased_book_rate": None,
    }


def write_hotel_feature_history(parquet_dir: Path, records: list[dict[str, Any]]) -> pa.Table:
    """``records`` (HotelFeatures dicts) as the lake job writes ``hotel_features/``; returns them as a table."""
    schema = arrow_schema(schemas.HOTEL_FEATURES)
    table = pa.Table.from_pylist(records, schema=schema)
    write_dataset(table, parquet_dir / "hotel_features", "updated_at")
    return table


def hotel_feature_updates(
    hotels: list[str], start: datetime, updates: int, every: timedelta, seed: int = 0
) -> list[dict[str, Any]]:
    """Growing counts for each hotel: a global update every ``every`` from ``start``, each with a destination row."""
    rng = np.random.default_rng(seed)
    records: list[dict[str, Any]] = []
    for number, hotel_id in enumerate(hotels):
        examined = clicks = books = quick_backs = 0.0
        for step in range(updates):
            examined += float(rng.integers(0, 40))
            clicks += float(rng.binomial(int(examined), 0.05)) if examined else 0.0
            books += float(rng.integers(0, 2))
            quick_backs = min(clicks, quick_backs + float(rng.integers(0, 2)))
            at = start + every * step + timedelta(milliseconds=number)
            for destination in (None, "Paris"):
                record = features_record(
                    hotel_id,
                    examined_impressions=examined if destination is None else examined / 2,
                    clicks=clicks,
                    books=books,
                    quick_backs=quick_backs,
                    destination=destination,
                    updated_at=at,
                )
                records.append(record)
    return records


def write_model_lake(parquet_dir: Path) -> tuple[pa.Table, pa.Table]:
    """(LTR examples, hotel-features history): 400 searches 20 s apart with their events/, and a global and a
    destination update of each of their 300 hotels every 10 minutes from half an hour before the first search."""
    examples = write_ltr_dataset(parquet_dir, events=True)
    hotels = [f"H{number:05d}" for number in range(300)]
    history = write_hotel_feature_history(
        parquet_dir, hotel_feature_updates(hotels, START - timedelta(minutes=30), 20, timedelta(minutes=10))
    )
    return examples, history
