"""LambdaMART on an export folder: LightGBM's lambdarank objective, held-out NDCG@10, with and without IPS.

The booster is trained with ``lightgbm.train(objective="lambdarank")``, the same model and
objective as ``lightgbm.LGBMRanker``; that wrapper needs scikit-learn, which rankfeed does not
otherwise use.

The holdout is a share of whole result lists (never a list split in two, which would leak its
other rows' labels), chosen by a seeded hash of the search id (:func:`held_out`), so that
``rankfeed evaluate`` finds the same held-out searches again, including those without a click
that the export never saw. It is scored four ways, so the effect of IPS can be read off:

* ``ndcg_at_10``: NDCG@10 against the logged labels, as they are. Click labels are position-biased,
  so this metric rewards a model that reproduces the production order.
* ``ips_ndcg_at_10``: the same with each example's gain multiplied by its export weight (1/θ_k for
  clicks when the export used a propensity table): the IPS estimate of DCG under true relevance
  (Joachims et al. 2017), summed over the lists and divided by the ideal DCG of the weighted gains
  summed the same way. The normalization is over all lists together, not per list: per list, a list
  with one click would divide its weight out again and only say where the clicked hotel went, which
  rewards the logged order (its clicks sit at the top because the top is examined).
* the same two for the logged (production) order, the baseline a new model has to beat.

Lists whose examples all have the same label are left out of the means: every order of them
has NDCG 1, which says nothing about the model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pyarrow.parquet as pq

from rankfeed.export import ExportError, read_manifest
from rankfeed.model import MONOTONE, ModelArtifact, model_version
from rankfeed.propensity import BoolArray, FloatArray, IntArray

#: NDCG cut-off reported (and optimized: LightGBM's lambdarank_truncation_level defaults to 30).
NDCG_AT = 10

#: LightGBM parameters that make a run reproducible and quiet; ``train_lambdamart`` adds the rest. Small
#: trees with large leaves and an L2 penalty: IPS weights (up to the table's cut) make single clicks
#: from the bottom of a page weigh ten times as much, and deep trees would fit that noise.
BASE_PARAMS: dict[str, Any] = {
    "objective": "lambdarank",
    "metric": "None",  # NDCG is computed here, on the holdout, the same way for the model and the baseline
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 100,
    "lambda_l2": 10.0,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 1,
    "verbosity": -1,
}


@dataclass(frozen=True)
class LtrData:
    """An export folder in memory: rows ordered by result list, as the files are."""

    features: FloatArray
    feature_names: tuple[str, ...]
    relevance: IntArray
    group_sizes: IntArray
    weights: FloatArray | None
    positions: IntArray
    #: The result list (search id) of each row.
    search_ids: npt.NDArray[np.object_]

    @property
    def group_index(self) -> IntArray:
        """The result-list number of each row."""
        return np.repeat(np.arange(self.group_sizes.size, dtype=np.int64), self.group_sizes)

    def select(self, names: Sequence[str]) -> LtrData:
        """The same rows with only the features ``names``, in that order."""
        missing = [name for name in names if name not in self.feature_names]
        if missing or not names:
            raise ExportError(
                f"features {missing or '(none)'} are not in the export; it has {list(self.feature_names)}"
            )
        columns = [self.feature_names.index(name) for name in names]
        return replace(self, features=self.features[:, columns], feature_names=tuple(names))

    def subset(self, rows: BoolArray) -> LtrData:
        """The rows in ``rows``, which must select whole lists."""
        groups = self.group_index[rows]
        return LtrData(
            features=self.features[rows],
            feature_names=self.feature_names,
            relevance=self.relevance[rows],
            group_sizes=np.bincount(groups)[np.unique(groups)].astype(np.int64),
            weights=None if self.weights is None else self.weights[rows],
            positions=self.positions[rows],
            search_ids=self.search_ids[rows],
        )


def load_export(export_dir: Path) -> LtrData:
    """Read an export folder written by ``rankfeed.export.export_ltr``."""
    manifest = read_manifest(export_dir)
    feature_names = tuple(manifest["features"])
    table = np.loadtxt(export_dir / manifest["data_file"], delimiter=",", skiprows=1, ndmin=2, dtype=np.float64)
    group_sizes = np.loadtxt(export_dir / manifest["query_file"], dtype=np.int64, ndmin=1)
    weights = None
    if manifest["weight_file"] is not None:
        weights = np.loadtxt(export_dir / manifest["weight_file"], dtype=np.float64, ndmin=1)
    rows = pq.read_table(export_dir / manifest["rows_file"], columns=["search_id", "position"])
    positions = rows["position"].to_numpy()
    if table.shape[1] != len(feature_names) + 1 or int(group_sizes.sum()) != table.shape[0]:
        raise ExportError(
            f"{export_dir} is inconsistent: {table.shape[0]} rows of {table.shape[1]} columns, "
            f"{len(feature_names)} features and group sizes summing to {int(group_sizes.sum())}; export again"
        )
    return LtrData(
        features=table[:, 1:],
        feature_names=feature_names,
        relevance=table[:, 0].astype(np.int64),
        group_sizes=group_sizes,
        weights=weights,
        positions=positions.astype(np.int64),
        search_ids=rows["search_id"].to_numpy(zero_copy_only=False).astype(object),
    )


def held_out(search_ids: Sequence[str], holdout_fraction: float, seed: int) -> BoolArray:
    """True for each search held out: the first 8 bytes of BLAKE2b(seed/search_id) below the fraction.

    A function of the id alone, so every tool (training, ``rankfeed evaluate``) and every dataset
    (examples, raw events) agrees on which searches were held out.
    """
    if not 0.0 < holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must be within (0, 1), got {holdout_fraction}")
    limit = int(holdout_fraction * 2**64)
    return np.fromiter(
        (
            int.from_bytes(hashlib.blake2b(f"{seed}/{search_id}".encode(), digest_size=8).digest(), "big") < limit
            for search_id in search_ids
        ),
        dtype=np.bool_,
        count=len(search_ids),
    )


def split_groups(data: LtrData, holdout_fraction: float, seed: int) -> tuple[BoolArray, BoolArray]:
    """(train rows, holdout rows) of ``data``: whole lists, held out by :func:`held_out`."""
    first_rows = np.concatenate(([0], np.cumsum(data.group_sizes)[:-1]))
    held_lists = held_out(data.search_ids[first_rows].tolist(), holdout_fraction, seed)
    if held_lists.all() or not held_lists.any():
        raise ExportError(
            f"{held_lists.size} result lists cannot be split {1 - holdout_fraction:.0%}/{holdout_fraction:.0%} "
            "with at least one list on each side; export more data"
        )
    holdout = np.repeat(held_lists, data.group_sizes)
    return ~holdout, holdout


def label_gains(max_relevance: int) -> list[float]:
    """LightGBM's default gains 2^r - 1, written out so training and ``ndcg_at`` use the same ones."""
    return [float(2**relevance - 1) for relevance in range(max_relevance + 1)]


def ndcg_at(
    scores: FloatArray,
    relevance: IntArray,
    group_sizes: IntArray,
    k: int = NDCG_AT,
    gains: FloatArray | None = None,
) -> tuple[float, int]:
    """(mean NDCG@k over lists with at least two distinct labels, number of such lists).

    ``gains`` are per row (default 2^relevance - 1); passing gains times IPS weights gives the IPS
    estimate. Ties in ``scores`` keep row order. The mean is NaN when no list qualifies.
    """
    row_gains = (2.0**relevance - 1.0) if gains is None else np.asarray(gains, dtype=np.float64)
    group = np.repeat(np.arange(group_sizes.size), group_sizes)
    actual = dcg_by_list(scores, row_gains, group_sizes, k)
    ideal = dcg_by_list(row_gains, row_gains, group_sizes, k)
    low = np.full(group_sizes.size, np.inf)
    high = np.full(group_sizes.size, -np.inf)
    np.minimum.at(low, group, relevance)
    np.maximum.at(high, group, relevance)
    informative = (high > low) & (ideal > 0)
    count = int(informative.sum())
    if count == 0:
        return float("nan"), 0
    return float(np.mean(actual[informative] / ideal[informative])), count


def dcg_by_list(scores: FloatArray, gains: FloatArray, group_sizes: IntArray, k: int = NDCG_AT) -> FloatArray:
    """DCG@k of each list (rows grouped by ``group_sizes``) ordered by ``scores``, ties in row order."""
    group = np.repeat(np.arange(group_sizes.size), group_sizes)
    starts = np.concatenate(([0], np.cumsum(group_sizes)[:-1]))
    order = np.lexsort((np.arange(group.size), -scores, group))
    rank = np.arange(group.size) - starts[group[order]]
    discount = np.where(rank < k, 1.0 / np.log2(rank + 2.0), 0.0)
    dcg: FloatArray = np.bincount(group[order], weights=gains[order] * discount, minlength=group_sizes.size).astype(
        np.float64
    )
    return dcg


def ips_ndcg_at(scores: FloatArray, ips_gains: FloatArray, group_sizes: IntArray, k: int = NDCG_AT) -> float:
    """Σ_lists IPS-DCG@k / Σ_lists ideal IPS-DCG@k: NDCG under true relevance, estimated from weighted gains.

    ``ips_gains`` are per row, each label's gain times its IPS weight (Joachims et al. 2017). NaN
    when no gain is positive.
    """
    ideal = float(dcg_by_list(ips_gains, ips_gains, group_sizes, k).sum())
    if ideal <= 0:
        return float("nan")
    return float(dcg_by_list(scores, ips_gains, group_sizes, k).sum()) / ideal


@dataclass(frozen=True)
class TrainResult:
    """Held-out quality of one model, beside the logged order on the same lists."""

    use_ips: bool
    ndcg_at_10: float
    ips_ndcg_at_10: float
    logged_order_ndcg_at_10: float
    logged_order_ips_ndcg_at_10: float
    train_lists: int
    holdout_lists: int
    #: Held-out lists with at least two distinct labels: the ones the means are over.
    evaluated_lists: int
    #: True when every weight is equal, so the IPS model is the plain model.
    uniform_weights: bool
    feature_importance: dict[str, float]
    #: The trained model with its metadata (saved under ``models_dir`` when one was given).
    artifact: ModelArtifact
    artifact_dir: Path | None


def train_lambdamart(
    export_dir: Path,
    holdout_fraction: float = 0.2,
    seed: int = 7,
    use_ips: bool = True,
    num_boost_round: int = 200,
    models_dir: Path | None = None,
    features: Sequence[str] | None = None,
) -> TrainResult:
    """Train lambdarank on the export in ``export_dir`` and score it on held-out lists.

    ``features`` selects some of the export's features by name (default: all of them); an
    ExportError names any the export lacks.

    With ``use_ips`` the export's weights (``ltr.csv.weight``) weight the examples; an export
    without a weight file is refused rather than silently trained unweighted. The model is saved
    as a versioned folder under ``models_dir`` when given (``rankfeed.model.ModelArtifact``).
    """
    data = load_export(export_dir)
    if features is not None:
        data = data.select(features)
    manifest = read_manifest(export_dir)
    if use_ips and data.weights is None:
        raise ExportError(
            f"{export_dir} has no weight file; export with --weight ips_weight or --propensity TABLE to train with IPS"
        )
    train_rows, holdout_rows = split_groups(data, holdout_fraction, seed)
    train, holdout = data.subset(train_rows), data.subset(holdout_rows)
    max_relevance = int(data.relevance.max())
    params = {**BASE_PARAMS, "seed": seed, "label_gain": label_gains(max_relevance)}
    if any(name in MONOTONE for name in data.feature_names):
        params["monotone_constraints"] = [MONOTONE.get(name, 0) for name in data.feature_names]
        params["monotone_constraints_method"] = "advanced"
    dataset = lgb.Dataset(
        train.features,
        label=train.relevance,
        group=train.group_sizes,
        weight=train.weights if use_ips else None,
        feature_name=list(data.feature_names),
        params={"verbosity": -1},
    )
    booster = lgb.train(params, dataset, num_boost_round=num_boost_round)

    scores = np.asarray(booster.predict(holdout.features), dtype=np.float64)
    logged = -holdout.positions.astype(np.float64)
    weights = holdout.weights if holdout.weights is not None else np.ones(holdout.relevance.size)
    ips_gains = (2.0**holdout.relevance - 1.0) * weights
    ndcg, evaluated = ndcg_at(scores, holdout.relevance, holdout.group_sizes)
    importance = booster.feature_importance(importance_type="gain")
    metrics = {
        "ndcg_at_10": ndcg,
        "ips_ndcg_at_10": ips_ndcg_at(scores, ips_gains, holdout.group_sizes),
        "logged_order_ndcg_at_10": ndcg_at(logged, holdout.relevance, holdout.group_sizes)[0],
        "logged_order_ips_ndcg_at_10": ips_ndcg_at(logged, ips_gains, holdout.group_sizes),
    }
    created_at = datetime.now(UTC)
    name = "lambdamart-ips" if use_ips else "lambdamart"
    metadata = {
        "version": model_version(name, booster.model_to_string(), created_at),
        "created_at": created_at.isoformat(),
        "objective": "lambdarank",
        "features": list(data.feature_names),
        "training_data": {
            "export_dir": str(export_dir),
            "source": manifest["source"],
            "search_time_range": manifest.get("search_time_range"),
            "weight_source": manifest["weight_source"] if use_ips else None,
            "propensity_version": (manifest["propensity"] or {}).get("version") if use_ips else None,
            "train_lists": int(train.group_sizes.size),
            "train_rows": int(train.relevance.size),
        },
        "holdout": {"fraction": holdout_fraction, "seed": seed, "lists": int(holdout.group_sizes.size)},
        "metrics": {**metrics, "evaluated_lists": evaluated},
        "params": {**params, "num_boost_round": num_boost_round},
    }
    artifact = ModelArtifact(booster, data.feature_names, metadata)
    return TrainResult(
        use_ips=use_ips,
        **metrics,
        train_lists=int(train.group_sizes.size),
        holdout_lists=int(holdout.group_sizes.size),
        evaluated_lists=evaluated,
        uniform_weights=data.weights is None or bool(np.all(data.weights == data.weights[0])),
        feature_importance={name: float(value) for name, value in zip(data.feature_names, importance, strict=True)},
        artifact=artifact,
        artifact_dir=artifact.save(models_dir) if models_dir is not None else None,
    )
