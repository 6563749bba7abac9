"""Offline (counterfactual) evaluation: what a new ranker would have achieved on the searches already logged.

Under the position-based model (PBM, see :mod:`rankfeed.propensity`) a hotel h shown at position p
is clicked with probability θ_p · γ(h). A click on h therefore says γ(h) ≈ c_h / θ_p, and had the
new ranker shown h at position q ≤ k instead, h would have been clicked with probability θ_q · γ(h).
The IPS estimate of the new ranker's clicks@k per search (Joachims et al. 2017; Li et al. 2018,
"Offline Evaluation of Ranking Policies with Click Models", the item-position model) is::

    V̂_IPS = (1/N) Σ_searches Σ_{h: q(h) ≤ k} θ_{q(h)} · min(1/θ_{p(h)}, M) · y_h

with y_h the click (clicks@k) or the booking (bookings@k: a booking follows a click, so it is
position-biased the same way), N the number of searches and M the clipping cut (the propensity
table's ``max_weight``): a hotel the logs only saw at the bottom cannot weigh more than M clicks.
Without clipping the estimate is unbiased when the PBM holds and θ is right; clipping trades a
little downward bias for bounded variance.

The self-normalized estimate (SNIPS, the ratio form of Swaminathan & Joachims 2015) uses the
logging policy as its control variate. Its value V(π₀), the clicks@k actually observed, is known;
the same estimator applied to the logged order gives V̂_IPS(π₀), and::

    V̂_SNIPS = V̂_IPS(π) · V(π₀) / V̂_IPS(π₀)

It equals V̂_IPS when clipping never binds in the logged top k, and corrects both estimates by the
same factor when it does.

Intervals are percentile bootstrap intervals over searches (Efron & Tibshirani 1993): searches are
resampled with replacement, so the interval covers the sampling variability of which searches
happened, not only of the clicks. The logging policy's own value is reported beside, with its
interval. ``tests/test_evaluate.py`` validates the intervals on simulated traffic whose truth is
known.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa

from rankfeed.export import ExportError, read_hotel_feature_history
from rankfeed.model import ModelArtifact, feature_matrix, point_in_time_rows
from rankfeed.propensity import FloatArray, IntArray, PropensityTable, propensities
from rankfeed.searches import LoggedSearches, load_logged_searches
from rankfeed.train import held_out

#: Cut-off of clicks@k and bookings@k by default: the first page.
DEFAULT_K = 10
#: Bootstrap replicates of the intervals.
DEFAULT_REPLICATES = 1000
#: Coverage of the intervals.
CONFIDENCE = 0.95

Searches = Literal["holdout", "all"]


@dataclass(frozen=True)
class Interval:
    """A point estimate with its percentile bootstrap interval."""

    estimate: float
    low: float
    high: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True)
class OffPolicyEstimate:
    """One metric (e.g. clicks@10 per search) of the new ranker, estimated, beside the logging policy's value."""

    metric: str
    ips: Interval
    snips: Interval
    #: The logging policy's value, observed on-policy (no estimation needed), with its interval.
    logged: Interval


def _bootstrap_means(values: FloatArray, counts: IntArray) -> FloatArray:
    """Each replicate's mean of ``values`` (one per search) under resampling ``counts`` (replicates × searches)."""
    means: FloatArray = counts @ values / values.size
    return means


def _interval(estimate: float, replicates: FloatArray) -> Interval:
    tail = (1.0 - CONFIDENCE) / 2.0
    low, high = np.quantile(replicates, [tail, 1.0 - tail])
    return Interval(estimate, float(low), float(high))


def pbm_estimates(
    list_index: IntArray,
    logged_positions: IntArray,
    new_positions: IntArray,
    outcomes: dict[str, FloatArray],
    theta: FloatArray | tuple[float, ...],
    k: int = DEFAULT_K,
    max_weight: float = np.inf,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
) -> list[OffPolicyEstimate]:
    """IPS and SNIPS of each outcome@k for a new ranking of logged lists, with bootstrap intervals.

    Arrays have one entry per shown hotel: ``list_index`` its search as 0..N-1 (every search in
    0..N-1 counts, even one with no row left), ``logged_positions`` where it was shown and
    ``new_positions`` where the new ranker puts it (both 1-based), and each ``outcomes[name]`` a
    0/1 (or count) array such as clicks or bookings; the metric is named ``<name>@k``. ``theta`` is
    θ_1.. of the propensity table (deeper positions take its last value). Raises ValueError for
    arrays of different lengths, k < 1 or max_weight < 1. See the module doc for the formulas.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if max_weight < 1.0:
        raise ValueError(f"max_weight must be >= 1, got {max_weight}")
    sizes = {list_index.size, logged_positions.size, new_positions.size, *(y.size for y in outcomes.values())}
    if len(sizes) != 1:
        raise ValueError("list_index, the positions and every outcome need one entry per shown hotel")
    searches = int(list_index.max()) + 1 if list_index.size else 0
    if searches == 0:
        raise ValueError("no search to evaluate")
    logged_theta = propensities(logged_positions, theta)
    new_theta = propensities(new_positions, theta)
    weight = np.minimum(1.0 / logged_theta, max_weight)
    new_top, logged_top = new_positions <= k, logged_positions <= k
    counts = np.random.default_rng(seed).multinomial(searches, np.full(searches, 1.0 / searches), size=replicates)
    estimates = []
    for name, outcome in outcomes.items():
        y = np.asarray(outcome, dtype=np.float64)

        def per_search(values: FloatArray) -> FloatArray:
            summed: FloatArray = np.bincount(list_index, weights=values, minlength=searches).astype(np.float64)
            return summed

        target = per_search(np.where(new_top, new_theta * weight * y, 0.0))
        logged_ips = per_search(np.where(logged_top, logged_theta * weight * y, 0.0))
        observed = per_search(np.where(logged_top, y, 0.0))
        boot_target = _bootstrap_means(target, counts)
        boot_logged_ips = _bootstrap_means(logged_ips, counts)
        boot_observed = _bootstrap_means(observed, counts)
        with np.errstate(divide="ignore", invalid="ignore"):
            boot_snips = np.where(boot_logged_ips > 0, boot_target * boot_observed / boot_logged_ips, 0.0)
        ips = float(target.mean())
        snips = ips * float(observed.mean()) / float(logged_ips.mean()) if logged_ips.mean() > 0 else 0.0
        estimates.append(
            OffPolicyEstimate(
                metric=f"{name}@{k}",
                ips=_interval(ips, boot_target),
                snips=_interval(snips, boot_snips),
                logged=_interval(float(observed.mean()), boot_observed),
            )
        )
    return estimates


def rank_within_lists(list_index: IntArray, scores: FloatArray, logged_positions: IntArray) -> IntArray:
    """1-based position of each row when every list is ordered by ``scores`` (highest first, ties as logged)."""
    order = np.lexsort((logged_positions, -scores, list_index))
    starts = np.searchsorted(list_index[order], list_index[order], side="left")
    new_positions = np.empty(list_index.size, dtype=np.int64)
    new_positions[order] = np.arange(list_index.size) - starts + 1
    return new_positions


@dataclass(frozen=True)
class Evaluation:
    """``rankfeed evaluate``'s answer: the model's estimated clicks@k and bookings@k beside the logged order's."""

    model_version: str
    propensity_version: str
    k: int
    max_weight: float
    searches: int
    shown: int
    which_searches: Searches
    estimates: list[OffPolicyEstimate]

    def as_json(self) -> dict[str, object]:
        def interval(value: Interval) -> dict[str, float]:
            return {"estimate": value.estimate, "low": value.low, "high": value.high}

        return {
            "model_version": self.model_version,
            "propensity_version": self.propensity_version,
            "k": self.k,
            "max_weight": self.max_weight,
            "searches": self.searches,
            "shown": self.shown,
            "which_searches": self.which_searches,
            "confidence": CONFIDENCE,
            "estimates": {
                e.metric: {"ips": interval(e.ips), "snips": interval(e.snips), "logged": interval(e.logged)}
                for e in self.estimates
            },
        }


def model_positions(artifact: ModelArtifact, logged: LoggedSearches, history: pa.Table) -> IntArray:
    """Where ``artifact`` would have put each logged hotel, scoring it on its features as of its search."""
    rows = point_in_time_rows(logged.hotel_ids, logged.search_time_ms, history)
    features = feature_matrix(logged.positions.tolist(), logged.prices, logged.ratings, rows)
    return rank_within_lists(logged.list_index, artifact.score_served(features), logged.positions)


def evaluate_model(
    parquet_dir: Path,
    artifact: ModelArtifact,
    propensity: PropensityTable,
    k: int = DEFAULT_K,
    max_weight: float | None = None,
    which_searches: Searches = "holdout",
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
) -> Evaluation:
    """Estimate ``artifact``'s clicks@k and bookings@k per search on the searches logged in ``parquet_dir``.

    ``which_searches`` "holdout" keeps the searches the model's training held out (by search id,
    ``rankfeed.train.held_out``, so including searches without a click that training never saw);
    "all" takes every search (optimistic for searches trained on). ``max_weight`` defaults to the
    table's cut. The model must use the served features (``rankfeed.model.FEATURES``).
    """
    artifact.check_servable()
    logged = load_logged_searches(parquet_dir)
    if which_searches == "holdout":
        holdout = artifact.metadata.get("holdout")
        if not holdout:
            raise ExportError(f"model {artifact.version} records no holdout; evaluate with --searches all")
        logged = logged.subset(held_out(logged.list_search_ids, holdout["fraction"], holdout["seed"]))
        if logged.searches == 0:
            raise ExportError("none of the logged searches was held out from training; evaluate with --searches all")
    cut = propensity.max_weight if max_weight is None else max_weight
    estimates = pbm_estimates(
        logged.list_index,
        logged.positions,
        model_positions(artifact, logged, read_hotel_feature_history(parquet_dir)),
        {"clicks": logged.clicks, "bookings": logged.bookings},
        propensity.theta,
        k=k,
        max_weight=cut,
        replicates=replicates,
        seed=seed,
    )
    return Evaluation(
        model_version=artifact.version,
        propensity_version=propensity.version,
        k=k,
        max_weight=cut,
        searches=logged.searches,
        shown=int(logged.list_index.size),
        which_searches=which_searches,
        estimates=estimates,
    )
