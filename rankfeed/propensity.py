"""Position bias under the position-based model (PBM), estimated from logged clicks.

The PBM says a user clicks the result at position k of query q if they examine that position
(probability θ_k, the same for every query and hotel) and find the hotel attractive (γ(q, d)):

    P(click | k, q, d) = θ_k · γ(q, d)

Clicks on position k therefore under-report relevance by θ_k, and a learning-to-rank model trained
on raw clicks learns "was shown high" as much as "is good". Inverse-propensity scoring (IPS)
undoes that: an example's weight is 1/θ_k. θ is only identified up to scale (θ·c with γ/c gives
the same clicks), so every estimate here is normalized to θ_1 = 1.

Two estimators, for two kinds of traffic:

* ``from_randomized`` / ``RandomizedEstimator``: on lists shuffled on purpose the hotel at any
  position is a random draw, so E[γ] is the same at every position and θ_k/θ_1 is the ratio of
  click rates. Unbiased and simple, but it only sees the small randomized share of traffic; a
  Beta prior keeps the first, thin estimates close to a sensible default and exponential decay
  lets a streaming job follow a changing page layout.
* ``em_position_bias``: the EM algorithm of Wang et al. (WSDM 2018, "Position Bias Estimation for
  Unbiased Learning to Rank in Personal Search") on ordinary, ranked traffic. It needs the same
  (query, hotel) pair to appear at several positions, which a production ranker's noise provides.

``simulate_pbm`` draws clicks from a PBM with known θ and γ, so both estimators can be checked
against the truth; ``PropensityTable`` is the versioned result that weights training examples.

The features job runs both estimators continuously (``PropensityFunction`` and ``Propensities``,
Java, in ``connectors/functions``) and publishes each estimate to the compacted position-propensities
topic; ``PropensityTable.from_published`` turns such a record into a table that keeps the
stream's version, and ``stream_version`` recomputes that version in Python.

Everything is numpy over whole arrays: one pass of ``np.bincount`` per step, no Python loops
over impressions.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.int64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]

Method = Literal["randomized", "em", "default"]

#: Shape of the default examination curve θ_k = (1/k)^η, the classic reciprocal-rank decay.
#: Priors shrink towards it, and it is what a table holds before any data has been seen.
DEFAULT_ETA = 1.0
#: Pseudo-impressions per position in the Beta prior: enough that a position seen a few dozen
#: times stays near the default, few enough that ten thousand impressions overrule it.
DEFAULT_PRIOR_STRENGTH = 200.0
#: IPS weights above this are cut: the variance of an IPS estimate grows with 1/θ, and a handful of
#: clicks from the bottom of the page should not outweigh the rest (Joachims et al. 2017).
DEFAULT_MAX_WEIGHT = 10.0

_EPSILON = 1e-9


def default_theta(max_position: int, eta: float = DEFAULT_ETA) -> FloatArray:
    """θ_k = (1/k)^η for k = 1..max_position: the prior shape and the fallback before data."""
    if max_position < 1:
        raise ValueError(f"max_position must be >= 1, got {max_position}")
    if eta < 0:
        raise ValueError(f"eta must be >= 0, got {eta}")
    return (1.0 / np.arange(1, max_position + 1, dtype=np.float64)) ** eta


def _positions(positions: npt.ArrayLike) -> IntArray:
    """1-based positions as int64, refusing 0 and negatives (a 0-based log would shift every θ by one)."""
    array = np.asarray(positions, dtype=np.int64)
    if array.ndim != 1:
        raise ValueError(f"positions must be one-dimensional, got shape {array.shape}")
    if array.size and array.min() < 1:
        raise ValueError(f"positions are 1-based; got a minimum of {array.min()}. Add 1 if they are 0-based.")
    return array


def _clicks(clicks: npt.ArrayLike, size: int) -> FloatArray:
    array = np.asarray(clicks, dtype=np.float64)
    if array.shape != (size,):
        raise ValueError(f"clicks must have one value per impression ({size}), got shape {array.shape}")
    if array.size and (array.min() < 0 or array.max() > 1):
        raise ValueError("clicks must be 0/1 (or booleans)")
    return array


def position_counts(
    positions: npt.ArrayLike,
    clicks: npt.ArrayLike,
    max_position: int,
    weights: npt.ArrayLike | None = None,
) -> tuple[FloatArray, FloatArray]:
    """(impressions, clicks) per position 1..max_position, optionally weighted; deeper positions are left out."""
    position_array = _positions(positions)
    click_array = _clicks(clicks, position_array.size)
    weight_array = np.ones(position_array.size) if weights is None else np.asarray(weights, dtype=np.float64)
    kept = position_array <= max_position
    index = position_array[kept] - 1
    impressions = np.bincount(index, weights=weight_array[kept], minlength=max_position)
    clicked = np.bincount(index, weights=(weight_array * click_array)[kept], minlength=max_position)
    return impressions.astype(np.float64), clicked.astype(np.float64)


def theta_from_counts(
    impressions: npt.ArrayLike,
    clicks: npt.ArrayLike,
    prior_strength: float = DEFAULT_PRIOR_STRENGTH,
    prior_eta: float = DEFAULT_ETA,
) -> FloatArray:
    """θ_k/θ_1 from per-position impression and click counts of randomized lists, with a Beta prior.

    Each position's click rate gets a Beta(s·μ_k, s·(1-μ_k)) prior, s = ``prior_strength``. Its mean
    μ_k = θ⁰_k · μ_1 follows the default curve θ⁰ = (1/k)^``prior_eta``; the scale μ_1 is set from the
    data (total clicks over default-weighted impressions), so the prior carries only the *shape* and
    needs no guess of the site's click-through rate. With no clicks at all the default is returned.
    """
    impression_counts = np.asarray(impressions, dtype=np.float64)
    click_counts = np.asarray(clicks, dtype=np.float64)
    if impression_counts.ndim != 1 or impression_counts.shape != click_counts.shape or impression_counts.size == 0:
        raise ValueError("impressions and clicks must be equally long, non-empty, one value per position")
    if prior_strength < 0:
        raise ValueError(f"prior_strength must be >= 0, got {prior_strength}")
    prior_shape = default_theta(impression_counts.size, prior_eta)
    total_clicks = click_counts.sum()
    if total_clicks <= 0:
        return prior_shape
    top_rate = min(total_clicks / max((impression_counts * prior_shape).sum(), _EPSILON), 1.0 - _EPSILON)
    prior_mean = np.clip(prior_shape * top_rate, _EPSILON, 1.0 - _EPSILON)
    rate = (click_counts + prior_strength * prior_mean) / np.maximum(impression_counts + prior_strength, _EPSILON)
    if rate[0] <= 0:
        raise ValueError(
            "no click and no prior at position 1, so θ_k/θ_1 is undefined; use prior_strength > 0 or more data"
        )
    theta: FloatArray = rate / rate[0]
    return theta


def from_randomized(
    positions: npt.ArrayLike,
    clicks: npt.ArrayLike,
    prior_strength: float = DEFAULT_PRIOR_STRENGTH,
    max_position: int | None = None,
    prior_eta: float = DEFAULT_ETA,
) -> FloatArray:
    """θ_k/θ_1 (k = 1..max_position) from impressions of randomized result lists.

    On a shuffled list the hotel at position k is a random draw from the list, so the click rate at
    k is θ_k·E[γ] with the same E[γ] everywhere: the ratio of click rates is the ratio of θs. Only
    randomized impressions may be passed; ranked ones put better hotels on top and inflate θ_1.
    ``max_position`` defaults to the deepest position seen. For a stream of batches use
    ``RandomizedEstimator``, which adds exponential decay.
    """
    position_array = _positions(positions)
    if max_position is None:
        if position_array.size == 0:
            raise ValueError("no impressions and no max_position: nothing says how many positions to estimate")
        max_position = int(position_array.max())
    impressions, clicked = position_counts(position_array, clicks, max_position)
    return theta_from_counts(impressions, clicked, prior_strength, prior_eta)


class RandomizedEstimator:
    """Streaming θ from randomized lists: per-position counts that decay by ``decay`` on every update.

    ``decay`` is applied once per ``update`` call, so its meaning depends on the batch cadence: with
    one batch an hour, 0.99 forgets half of the evidence in about 69 hours. 1.0 never forgets. Decay
    keeps the estimate following layout changes (a new banner pushes results down), while the prior
    keeps the first batches, and positions that are rarely shown, from swinging wildly.
    """

    def __init__(
        self,
        max_position: int,
        prior_strength: float = DEFAULT_PRIOR_STRENGTH,
        decay: float = 1.0,
        prior_eta: float = DEFAULT_ETA,
    ) -> None:
        if max_position < 1:
            raise ValueError(f"max_position must be >= 1, got {max_position}")
        if not 0.0 < decay <= 1.0:
            raise ValueError(f"decay must be within (0, 1], got {decay}")
        if prior_strength < 0:
            raise ValueError(f"prior_strength must be >= 0, got {prior_strength}")
        self.max_position = max_position
        self.prior_strength = prior_strength
        self.decay = decay
        self.prior_eta = prior_eta
        self.impressions: FloatArray = np.zeros(max_position)
        self.clicks: FloatArray = np.zeros(max_position)
        #: Impressions ever seen, undecayed: how much data the table rests on.
        self.impressions_seen = 0

    def update(self, positions: npt.ArrayLike, clicks: npt.ArrayLike) -> None:
        """Decay the evidence so far, then add one batch of randomized impressions (deeper ones ignored)."""
        impressions, clicked = position_counts(positions, clicks, self.max_position)
        self.impressions = self.impressions * self.decay + impressions
        self.clicks = self.clicks * self.decay + clicked
        self.impressions_seen += int(impressions.sum())

    def theta(self) -> FloatArray:
        """Current θ_k/θ_1 for k = 1..max_position (the prior's shape before any update)."""
        return theta_from_counts(self.impressions, self.clicks, self.prior_strength, self.prior_eta)


def bootstrap_randomized(
    positions: npt.ArrayLike,
    clicks: npt.ArrayLike,
    list_ids: npt.ArrayLike,
    max_position: int,
    replicates: int,
    rng: np.random.Generator,
    prior_strength: float = DEFAULT_PRIOR_STRENGTH,
) -> FloatArray:
    """``replicates`` × ``max_position`` bootstrap draws of ``from_randomized``'s θ, resampling whole lists.

    Clicks within one result list come from one user and are not independent, so lists, not
    impressions, are resampled. Each replicate gives every list a Poisson(1) weight (the Poisson
    bootstrap): the same as drawing lists with replacement for any sizeable log, and one
    ``bincount`` per replicate instead of a gather.
    """
    if replicates < 1:
        raise ValueError(f"replicates must be >= 1, got {replicates}")
    position_array = _positions(positions)
    click_array = _clicks(clicks, position_array.size)
    _, list_index = np.unique(np.asarray(list_ids), return_inverse=True)
    if list_index.size != position_array.size:
        raise ValueError("list_ids must have one id per impression")
    lists = int(list_index.max()) + 1 if list_index.size else 0
    draws = np.empty((replicates, max_position))
    for replicate in range(replicates):
        weights = rng.poisson(1.0, size=lists)[list_index]
        impressions, clicked = position_counts(position_array, click_array, max_position, weights)
        draws[replicate] = theta_from_counts(impressions, clicked, prior_strength)
    return draws


@dataclass(frozen=True)
class EmResult:
    """What ``em_position_bias`` found: θ (θ_1 = 1), and the relevance of each (query, hotel) pair."""

    theta: FloatArray
    #: Click probability of each pair when examined at position 1 (θ·γ is kept, θ_1 scaled to 1),
    #: indexed like ``pair_ids``.
    relevance: FloatArray
    #: The distinct (query, hotel) identifiers, in the order of ``relevance``.
    pair_ids: npt.NDArray[Any]
    iterations: int
    converged: bool


def em_position_bias(
    query_doc_ids: npt.ArrayLike,
    positions: npt.ArrayLike,
    clicks: npt.ArrayLike,
    max_position: int,
    iterations: int = 2000,
    tolerance: float = 1e-7,
    weights: npt.ArrayLike | None = None,
) -> EmResult:
    """θ and γ(q, d) by expectation-maximization on ordinary (ranked) traffic, after Wang et al. 2018.

    Each impression has two hidden coins: examined (E, probability θ_k) and relevant (R, γ). A click
    means both were heads. For a non-click the E-step gives
    P(E=1 | no click) = θ(1-γ)/(1-θγ) and P(R=1 | no click) = (1-θ)γ/(1-θγ); the M-step sets θ_k and
    γ to the mean of those posteriors (1 for clicks) over the impressions of each position and pair.

    Impressions are first aggregated into (pair, position) cells, so an iteration costs one pass
    over the cells, not the log: a million impressions of a few thousand pairs iterate in
    microseconds. ``query_doc_ids`` are any hashable ids, one per impression (e.g. "Paris|H00042").
    ``weights`` (one per impression, default 1) count impressions fractionally, e.g. decayed by age
    as the streaming estimator does.
    Positions deeper than ``max_position`` are left out. θ is only identified if pairs move between
    positions; a deterministic ranker gives no information, and θ then stays near its start.
    This is plain EM with one γ per pair, not the regression-EM variant with a model of γ over
    features, which would share strength across rare pairs.
    """
    if max_position < 1:
        raise ValueError(f"max_position must be >= 1, got {max_position}")
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    position_array = _positions(positions)
    click_array = _clicks(clicks, position_array.size)
    id_array = np.asarray(query_doc_ids)
    if id_array.shape != position_array.shape:
        raise ValueError(
            f"query_doc_ids must have one id per impression ({position_array.size}), got shape {id_array.shape}"
        )
    kept = position_array <= max_position
    if not kept.any():
        raise ValueError(f"no impression at positions 1..{max_position}")
    pair_ids, pair_index = np.unique(id_array[kept], return_inverse=True)
    cell_key = pair_index.astype(np.int64) * max_position + (position_array[kept] - 1)
    cells, cell_index = np.unique(cell_key, return_inverse=True)
    weight_array = np.ones(position_array.size) if weights is None else np.asarray(weights, dtype=np.float64)
    if weight_array.shape != position_array.shape:
        raise ValueError(
            f"weights must have one value per impression ({position_array.size}), got {weight_array.shape}"
        )
    cell_impressions = np.bincount(cell_index, weights=weight_array[kept]).astype(np.float64)
    cell_clicks = np.bincount(cell_index, weights=(weight_array * click_array)[kept])
    cell_misses = cell_impressions - cell_clicks
    cell_pair = cells // max_position
    cell_position = cells % max_position
    position_impressions = np.bincount(cell_position, weights=cell_impressions, minlength=max_position)
    pair_impressions = np.bincount(cell_pair, weights=cell_impressions, minlength=pair_ids.size)

    theta = default_theta(max_position)
    # Start γ at the pair's click rate corrected by the default θ: close, and inside (0, 1).
    corrected = np.bincount(cell_pair, weights=cell_impressions * theta[cell_position], minlength=pair_ids.size)
    gamma = np.clip(np.bincount(cell_pair, weights=cell_clicks, minlength=pair_ids.size) / corrected, 0.01, 0.99)
    converged = False
    iterations_run = 0
    while iterations_run < iterations and not converged:
        iterations_run += 1
        cell_theta = theta[cell_position]
        cell_gamma = gamma[cell_pair]
        miss_probability = np.maximum(1.0 - cell_theta * cell_gamma, _EPSILON)
        examined = cell_clicks + cell_misses * cell_theta * (1.0 - cell_gamma) / miss_probability
        relevant = cell_clicks + cell_misses * (1.0 - cell_theta) * cell_gamma / miss_probability
        new_theta = np.bincount(cell_position, weights=examined, minlength=max_position) / np.maximum(
            position_impressions, _EPSILON
        )
        # A position never shown keeps its start value instead of collapsing to 0.
        new_theta = np.where(position_impressions > 0, new_theta, theta)
        gamma = np.bincount(cell_pair, weights=relevant, minlength=pair_ids.size) / np.maximum(
            pair_impressions, _EPSILON
        )
        change = float(np.max(np.abs(new_theta / new_theta[0] - theta / theta[0])))
        theta = new_theta
        converged = change < tolerance
    scale = theta[0]
    if scale <= 0:
        raise ValueError("no click at position 1 in the whole log: θ cannot be normalized to θ_1 = 1")
    return EmResult(
        theta=theta / scale,
        relevance=gamma * scale,
        pair_ids=pair_ids,
        iterations=iterations_run,
        converged=converged,
    )


def ips_weights(positions: npt.ArrayLike, theta: Sequence[float] | FloatArray, max_weight: float) -> FloatArray:
    """1/θ_k for each 1-based position, cut at ``max_weight``.

    Positions deeper than the table use its last θ: they are at least as rarely examined, and the
    cut bounds the weight either way.
    """
    if max_weight < 1.0:
        raise ValueError(f"max_weight must be >= 1 (a weight below 1 would down-weight the top), got {max_weight}")
    return np.minimum(1.0 / propensities(positions, theta), max_weight)


def propensities(positions: npt.ArrayLike, theta: Sequence[float] | FloatArray) -> FloatArray:
    """θ_k for each 1-based position; positions deeper than ``theta`` get its last value."""
    theta_array = np.asarray(theta, dtype=np.float64)
    if theta_array.ndim != 1 or theta_array.size == 0:
        raise ValueError("theta must be a non-empty sequence, θ_1 first")
    if not np.all(np.isfinite(theta_array)) or theta_array.min() <= 0:
        raise ValueError("every θ_k must be finite and > 0")
    position_array = _positions(positions)
    selected: FloatArray = theta_array[np.minimum(position_array, theta_array.size) - 1]
    return selected


def simulate_pbm(
    n_impressions: int,
    theta: Sequence[float] | FloatArray,
    attractiveness: npt.ArrayLike,
    rng: np.random.Generator,
    randomized: bool = True,
    ranker_noise: float = 0.3,
) -> PbmLog:
    """A click log drawn from a PBM with known θ (θ_1 first) and known γ: ground truth for the estimators.

    ``attractiveness[q, d]`` is γ of candidate d of query q, a (queries × candidates) array with at
    least ``len(theta)`` candidates per query. Each result list picks a query uniformly and shows
    ``len(theta)`` of its candidates: a uniformly random subset in random order when ``randomized``,
    otherwise the best by γ plus Gaussian noise of width ``ranker_noise`` (a good ranker, not a
    perfect one; the noise is what lets EM see pairs at several positions). ``n_impressions`` is
    rounded down to whole lists.
    """
    theta_array = np.asarray(theta, dtype=np.float64)
    gamma = np.asarray(attractiveness, dtype=np.float64)
    list_length = theta_array.size
    if gamma.ndim != 2 or gamma.shape[1] < list_length:
        raise ValueError(
            f"attractiveness must be (queries × candidates) with at least {list_length} candidates, got {gamma.shape}"
        )
    if gamma.min() < 0 or gamma.max() > 1 or theta_array.min() < 0 or theta_array.max() > 1:
        raise ValueError("θ and attractiveness are probabilities: keep them within [0, 1]")
    lists = n_impressions // list_length
    queries, candidates = gamma.shape
    query = rng.integers(0, queries, size=lists)
    if randomized:
        scores = rng.random((lists, candidates))
    else:
        scores = gamma[query] + ranker_noise * rng.standard_normal((lists, candidates))
    # The list_length best scores, in descending order: argpartition, then sort only those.
    top = np.argpartition(-scores, list_length - 1, axis=1)[:, :list_length]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
    shown = np.take_along_axis(top, order, axis=1)
    shown_gamma = gamma[query[:, None], shown]
    click_probability = theta_array[None, :] * shown_gamma
    clicks = rng.random((lists, list_length)) < click_probability
    return PbmLog(
        list_ids=np.repeat(np.arange(lists, dtype=np.int64), list_length),
        query_doc_ids=(query[:, None] * candidates + shown).astype(np.int64).ravel(),
        positions=np.tile(np.arange(1, list_length + 1, dtype=np.int64), lists),
        clicks=clicks.ravel(),
    )


@dataclass(frozen=True)
class PbmLog:
    """Impressions of a simulated click log, one entry per shown result, lists in order."""

    list_ids: IntArray
    #: query * candidates + candidate: one id per (query, hotel) pair.
    query_doc_ids: IntArray
    positions: IntArray
    clicks: BoolArray


@dataclass(frozen=True)
class PropensityTable:
    """A versioned θ per position, and the weight cut: everything needed to weight examples reproducibly.

    ``version`` names the table in ``ltr_example.propensity_version``: the method, the creation time
    and a hash of the content, so two tables with the same θ and cut share the hash and a training
    set can always be traced to the weights it used.
    """

    theta: tuple[float, ...]
    method: Method
    max_weight: float
    impressions: int
    created_at: datetime
    version: str

    def __post_init__(self) -> None:
        if not self.theta or any(not np.isfinite(t) or t <= 0 for t in self.theta):
            raise ValueError("theta must be a non-empty tuple of finite values > 0, θ_1 first")
        if self.max_weight < 1.0:
            raise ValueError(f"max_weight must be >= 1, got {self.max_weight}")
        if self.created_at.tzinfo is None:
            raise ValueError("created_at must be timezone-aware")

    @classmethod
    def create(
        cls,
        theta: Sequence[float] | FloatArray,
        method: Method,
        impressions: int,
        max_weight: float = DEFAULT_MAX_WEIGHT,
        created_at: datetime | None = None,
    ) -> PropensityTable:
        """A table for ``theta`` with its version computed from the content and the creation time."""
        values = tuple(float(t) for t in theta)
        when = (created_at or datetime.now(UTC)).astimezone(UTC)
        content = json.dumps({"theta": values, "method": method, "max_weight": float(max_weight)}, sort_keys=True)
        digest = hashlib.sha256(content.encode("utf-8")).hexdigest()[:12]
        version = f"{method}-{when:%Y%m%dT%H%M%SZ}-{digest}"
        return cls(values, method, float(max_weight), int(impressions), when, version)

    def weights(self, positions: npt.ArrayLike) -> FloatArray:
        """The IPS weight of each 1-based position: 1/θ_k cut at ``max_weight``."""
        return ips_weights(positions, self.theta, self.max_weight)

    def propensities(self, positions: npt.ArrayLike) -> FloatArray:
        """θ_k of each 1-based position (the last θ for deeper positions)."""
        return propensities(positions, self.theta)

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready dict; ``from_record`` reads it back unchanged."""
        return {
            "version": self.version,
            "method": self.method,
            "theta": list(self.theta),
            "max_weight": self.max_weight,
            "impressions": self.impressions,
            "created_at": self.created_at.isoformat(),
        }

    @classmethod
    def from_published(cls, record: dict[str, Any]) -> PropensityTable:
        """The table of a ``PositionPropensities`` record from the stream, keeping its version.

        ``impressions`` is the decayed impression count the estimate rests on, rounded down.
        """
        method = record["method"]
        if method not in ("randomized", "em"):
            raise ValueError(f"a published propensity record has method randomized or em, got {method!r}")
        estimated_at: datetime = record["estimated_at"]
        if estimated_at.tzinfo is None:
            estimated_at = estimated_at.replace(tzinfo=UTC)
        return cls(
            theta=tuple(float(t) for t in record["theta"]),
            method=method,
            max_weight=float(record["max_weight"]),
            impressions=int(sum(record["impressions"])),
            created_at=estimated_at,
            version=str(record["version"]),
        )

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> PropensityTable:
        missing = {"version", "method", "theta", "max_weight", "impressions", "created_at"} - record.keys()
        if missing:
            raise ValueError(f"propensity record lacks {sorted(missing)}; was it written by PropensityTable.to_record?")
        return cls(
            theta=tuple(float(t) for t in record["theta"]),
            method=record["method"],
            max_weight=float(record["max_weight"]),
            impressions=int(record["impressions"]),
            created_at=datetime.fromisoformat(record["created_at"]),
            version=str(record["version"]),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_record(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> PropensityTable:
        return cls.from_record(json.loads(text))

    def save(self, path: Path) -> None:
        """Write the table as JSON to ``path``, creating its folder."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json() + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> PropensityTable:
        if not path.exists():
            raise FileNotFoundError(f"no propensity table at {path}; write one with `rankfeed propensity`")
        return cls.from_json(path.read_text(encoding="utf-8"))


def stream_version(method: str, estimated_at: datetime, theta: Sequence[float], max_weight: float) -> str:
    """The version the streaming estimator gives an estimate: ``<method>-<yyyyMMddTHHmmssZ>-<hash>``.

    The hash is the first 12 hex digits of SHA-256 over the UTF-8 method, a zero byte, then θ and
    ``max_weight`` as big-endian IEEE doubles: bit patterns, so Java and Python agree without
    agreeing on how to print a float (which the offline table's JSON hash would need).
    """
    content = method.encode("utf-8") + b"\x00" + struct.pack(f">{len(theta) + 1}d", *theta, max_weight)
    digest = hashlib.sha256(content).hexdigest()[:12]
    return f"{method}-{estimated_at.astimezone(UTC):%Y%m%dT%H%M%SZ}-{digest}"
