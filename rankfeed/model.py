"""A trained ranker and the one function that builds its features, for training and for serving alike.

Training/serving skew is the classic way a model that looked good offline fails online: the
offline pipeline computes a feature one way, the service another. Here there is one function,
:func:`feature_matrix`, and both sides call it with the same kinds of input:

* the request's fields for each hotel: the position the caller's ranker gave it (1-based), the
  price and the rating shown;
* the hotel's row of the ``hotel-features`` topic as :mod:`rankfeed.rerank.features` keeps it
  (:data:`~rankfeed.rerank.features.FeatureRow`), or None for a hotel the topic has no row for.

Offline, the rows come from the ``hotel_features/`` Parquet history, joined *point in time*
(:func:`point_in_time_rows`): each example sees the latest update strictly before its search,
never a later one (which could hold the very click or booking being predicted). Online, they come
from the live store. ``tests/test_model.py`` checks that both paths give identical vectors.

A model is saved as a versioned folder (:class:`ModelArtifact`)::

    <version>/model.txt       LightGBM's text model
    <version>/features.json   the feature names, in the order the model expects them
    <version>/metadata.json   version, training data (range, lists, propensity version), metrics, parameters

The features are only what the service knows when it ranks. The hotel's engagement rates are the
decayed counts of the topic (examined impressions are those above the list's deepest click or
scroll, so the click rate per examined impression is position-debiased). The given position is the
upstream ranker's judgement; a model trained with IPS weights (Joachims et al. 2017) learns from it
how good that ranker is, not how much more the top of a page is looked at.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from rankfeed.propensity import FloatArray
from rankfeed.rerank.features import (
    BOOKS,
    CLICKS,
    EXAMINED_IMPRESSIONS,
    QUICK_BACKS,
    FeatureRow,
    row_from_record,
)

#: The model's features, in column order; what ``feature_matrix`` returns, one column each.
FEATURES = (
    "given_position",
    "price",
    "rating",
    "examined_impressions_log",
    "satisfied_ctr",
    "book_rate",
    "quick_back_rate",
)

#: Directions the score may move in with a feature, all else equal (LightGBM's monotone constraints):
#: a hotel shown lower by the caller's ranker, or with more quick-backs, never scores higher; one with
#: more satisfied clicks or bookings per examined impression never scores lower. They keep a model
#: trained on noisy clicks from learning accidents (a dip in some click-rate range) as rules.
MONOTONE = {"given_position": -1, "satisfied_ctr": 1, "book_rate": 1, "quick_back_rate": -1}

MODEL_FILE = "model.txt"
FEATURES_FILE = "features.json"
METADATA_FILE = "metadata.json"

#: The ``HotelFeatures`` fields a history row needs to become a FeatureRow.
HISTORY_COLUMNS = (
    "hotel_id",
    "destination",
    "updated_at",
    "impressions",
    "examined_impressions",
    "clicks",
    "books",
    "quick_backs",
)


class ModelError(ValueError):
    """A model folder or its inputs cannot be used; the message says why and what to do."""


def _nullable(values: Sequence[float | None]) -> FloatArray:
    return np.array([math.nan if value is None else float(value) for value in values], dtype=np.float64)


def feature_matrix(
    positions: Sequence[int],
    prices: Sequence[float | None],
    ratings: Sequence[float | None],
    rows: Sequence[FeatureRow | None],
) -> FloatArray:
    """The (hotels × len(FEATURES)) feature matrix of one or more result lists, row i for hotel i.

    ``positions`` are 1-based given positions; ``prices`` (per night) and ``ratings`` (0-5) as shown,
    None when unknown; ``rows`` each hotel's hotel-features row or None. A value that cannot be
    computed (no row, no examined impression, no click) is NaN, LightGBM's missing value. Rates are
    per examined impression: ``satisfied_ctr`` = max(clicks − quick_backs, 0) / examined,
    ``book_rate`` = books / examined, ``quick_back_rate`` = quick_backs / clicks. Raises ValueError
    when the four inputs differ in length.
    """
    size = len(positions)
    if not len(prices) == len(ratings) == len(rows) == size:
        raise ValueError(
            f"one value per hotel is needed: {size} positions, {len(prices)} prices, "
            f"{len(ratings)} ratings, {len(rows)} feature rows"
        )
    counts = np.full((size, 4), math.nan)
    for index, row in enumerate(rows):
        if row is not None:
            counts[index] = (row[EXAMINED_IMPRESSIONS], row[CLICKS], row[BOOKS], row[QUICK_BACKS])
    examined, clicks, books, quick_backs = counts.T
    with np.errstate(divide="ignore", invalid="ignore"):
        per_examined = np.where(examined > 0, 1.0 / examined, math.nan)
        satisfied_ctr = np.maximum(clicks - quick_backs, 0.0) * per_examined
        book_rate = books * per_examined
        quick_back_rate = np.where(clicks > 0, quick_backs / clicks, math.nan)
    matrix = np.column_stack(
        [
            np.asarray(positions, dtype=np.float64),
            _nullable(prices),
            _nullable(ratings),
            np.log1p(examined),
            satisfied_ctr,
            book_rate,
            quick_back_rate,
        ]
    )
    return matrix


def epoch_ms(times: pa.ChunkedArray | pa.Array) -> npt.NDArray[np.int64]:
    """Timestamps as epoch milliseconds, whatever unit Parquet stored; zone-less ones are UTC, as Flink writes them."""
    millis = pc.cast(pc.cast(times, pa.timestamp("ms")), pa.int64())
    values: npt.NDArray[np.int64] = millis.to_numpy(zero_copy_only=False).astype(np.int64)
    return values


def point_in_time_rows(
    hotel_ids: Sequence[str], times_ms: Sequence[int] | np.ndarray[Any, Any], history: pa.Table
) -> list[FeatureRow | None]:
    """Each hotel's global hotel-features row as it was just before its time: the latest update strictly earlier.

    ``times_ms`` are the searches' event times (epoch ms), one per hotel id; ``history`` a table of
    ``HotelFeatures`` rows (:data:`HISTORY_COLUMNS`, as ``hotel_features/`` holds them). An update at
    the search's own millisecond or later is never used: it may already count the search's outcome.
    None where the hotel had no update before. Destination rows are left out: the model uses the
    hotel's global row, as the service does.
    """
    times = np.asarray(times_ms, dtype=np.int64)
    if len(hotel_ids) != times.size:
        raise ValueError(f"{len(hotel_ids)} hotel ids for {times.size} times; give one time per hotel id")
    global_rows = history.filter(pc.is_null(history["destination"])).select(list(HISTORY_COLUMNS))
    updates = global_rows.to_pandas()
    updates["at_ms"] = epoch_ms(global_rows["updated_at"])
    wanted = pd.DataFrame({"hotel_id": list(hotel_ids), "at_ms": times, "order": np.arange(times.size)})
    # pandas' as-of join: per hotel the last update strictly before each time (an exact match is excluded).
    joined = pd.merge_asof(
        wanted.sort_values("at_ms", kind="stable"),
        updates.sort_values("at_ms", kind="stable"),
        on="at_ms",
        by="hotel_id",
        direction="backward",
        allow_exact_matches=False,
    ).sort_values("order")
    found: list[FeatureRow | None] = []
    for record in joined.to_dict("records"):
        found.append(None if pd.isna(record["examined_impressions"]) else row_from_record(record))
    return found


@dataclass(frozen=True)
class ModelArtifact:
    """A trained LightGBM ranker with the feature list it expects and how it was made."""

    booster: lgb.Booster
    features: tuple[str, ...]
    metadata: dict[str, Any]

    @property
    def version(self) -> str:
        version: str = self.metadata["version"]
        return version

    def score(self, features: FloatArray) -> FloatArray:
        """One score per row of ``features`` (hotels × len(self.features)); higher ranks first."""
        if features.ndim != 2 or features.shape[1] != len(self.features):
            raise ModelError(f"the model expects {len(self.features)} features per hotel, got shape {features.shape}")
        scores: FloatArray = np.asarray(self.booster.predict(features), dtype=np.float64)
        return scores

    def save(self, parent: Path) -> Path:
        """Write the artifact into ``parent/<version>/`` (created) and return that folder."""
        folder = parent / self.version
        folder.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(folder / MODEL_FILE))
        (folder / FEATURES_FILE).write_text(json.dumps({"features": list(self.features)}, indent=2) + "\n")
        (folder / METADATA_FILE).write_text(json.dumps(self.metadata, indent=2, default=str) + "\n")
        return folder

    @classmethod
    def load(cls, folder: Path) -> ModelArtifact:
        """The artifact in ``folder``; a ModelError naming what is missing or inconsistent."""
        missing = [name for name in (MODEL_FILE, FEATURES_FILE, METADATA_FILE) if not (folder / name).is_file()]
        if missing:
            raise ModelError(
                f"{folder} is not a model folder: {', '.join(missing)} missing; "
                "`rankfeed train EXPORT --models DIR` writes one per model under DIR"
            )
        booster = lgb.Booster(model_file=str(folder / MODEL_FILE))
        features = tuple(json.loads((folder / FEATURES_FILE).read_text())["features"])
        metadata = json.loads((folder / METADATA_FILE).read_text())
        if tuple(booster.feature_name()) != features:
            raise ModelError(
                f"{folder}: model.txt has features {booster.feature_name()} but features.json lists {list(features)}"
            )
        return cls(booster, features, metadata)

    def check_servable(self) -> None:
        """A ModelError unless the model's features are among :data:`FEATURES`, the ones the service computes."""
        unknown = [name for name in self.features if name not in FEATURES]
        if unknown:
            raise ModelError(
                f"model {self.version} was trained on {unknown}, which the re-ranker does not compute "
                f"(it computes {list(FEATURES)}). Export with --model-features and train again"
            )

    def score_served(self, features: FloatArray) -> FloatArray:
        """One score per row of ``features``, a (hotels × len(FEATURES)) matrix from :func:`feature_matrix`.

        The model's own features are taken from it by name, so a model trained on some of them is served too.
        """
        self.check_servable()
        if features.ndim != 2 or features.shape[1] != len(FEATURES):
            raise ModelError(f"expected the {len(FEATURES)} columns of feature_matrix, got shape {features.shape}")
        return self.score(features[:, [FEATURES.index(name) for name in self.features]])


def model_version(name: str, model_text: str, created_at: datetime) -> str:
    """``<name>-<yyyyMMddTHHmmssZ>-<hash of the model text>``: sortable by time, unique by content."""
    digest = hashlib.sha256(model_text.encode("utf-8")).hexdigest()[:10]
    return f"{name}-{created_at.astimezone(UTC):%Y%m%dT%H%M%SZ}-{digest}"
