"""The re-rank score: the given order, nudged by each hotel's position-debiased engagement.

A caller (the search service) sends hotels in the order its own ranker chose. This module
re-orders them using what users did with each hotel recently, as the feedback job publishes it
on the ``hotel-features`` topic (decayed counts of examined impressions, clicks, quick-backs and
books). For hotel h shown at 1-based position k:

1. **Debiased, smoothed rates.** Raw CTR flatters hotels that were shown high (they are examined
   more, see :mod:`rankfeed.propensity`), so the denominator is the hotel's *examined*
   impressions, not all impressions. A thin history (3 clicks out of 5) must not beat a long one,
   so both rates are Beta-smoothed towards a prior worth α examined impressions::

       ctr(h)       = (max(clicks − quick_backs, 0) + α · prior_ctr)       / (examined_impressions + α)
       book_rate(h) = (books                        + α · prior_book_rate) / (examined_impressions + α)

   A quick-back (the user came straight back) is a click that did not satisfy, so it does not
   count as one; the label table makes the same call (quick_back = -1).

   With a ``destination`` in the request and a destination-specific row for the hotel, the rates
   are computed from that row, smoothed towards the hotel's *global* rates instead of the global
   priors (hierarchical shrinkage): a hotel popular everywhere starts from its own record in a
   destination where it has little evidence yet.

2. **Lift.** Engagement is ``ctr + book_weight · book_rate``, divided by the engagement of the
   prior, ``prior_ctr + book_weight · prior_book_rate``: a lift of 1 is an average hotel, 2 is twice
   as engaging. Dividing by the prior makes the blend below independent of the traffic's overall
   click level.

3. **Position prior.** The given order is the upstream ranker's judgement, expressed as
   ``d(k) = 1 / log2(k + 1)`` (the DCG discount: 1 at the top, 0.63 at k = 2, 0.5 at k = 3), or, when a
   propensity table is configured, as its examination probability θ_k (θ_1 = 1, positions deeper
   than the table take its last θ).

4. **Blend.** A weighted geometric mean with weight w (``blend_weight``)::

       score(h, k) = d(k)^(1 − w) · lift(h)^w

   w = 0 keeps the given order, w = 1 orders by engagement alone. Geometric rather than additive,
   so the two terms need no common scale: multiplying every lift by a constant (a busy day)
   changes no order, and a hotel with average evidence scores exactly like an unknown one.

**Unknown hotels** (no row for the hotel at all) get the prior only: their rates are the prior
rates, their lift is exactly 1 and their score is ``d(k)^(1 − w)``, so unknown hotels keep their
given order among themselves and are overtaken only by hotels with better-than-average evidence.

Results are sorted by score, highest first; ties keep the order of the request (a stable sort).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from rankfeed.model import ModelArtifact, feature_matrix
from rankfeed.propensity import FloatArray, PropensityTable
from rankfeed.rerank.features import BOOKS, CLICKS, EXAMINED_IMPRESSIONS, QUICK_BACKS, FeatureRow
from rankfeed.rerank.settings import RerankSettings

#: Position priors are precomputed for positions up to this; deeper ones are computed on the fly.
_PRECOMPUTED_POSITIONS = 1024


class FeatureLookup(Protocol):
    """Where the scorer finds a hotel's features: the live :class:`~rankfeed.rerank.features.FeatureStore`,
    or any mapping-like object in tests and benchmarks."""

    def get(self, hotel_id: str, destination: str | None = None) -> FeatureRow | None: ...


class RankedHotel(NamedTuple):
    hotel_id: str
    score: float
    #: Whether any features were found for the hotel; False means its score is the prior only.
    known: bool


@dataclass(frozen=True, slots=True)
class ScoringParameters:
    """Everything the score depends on besides the features; see the module docstring for the formula."""

    prior_strength: float = 50.0
    prior_ctr: float = 0.05
    prior_book_rate: float = 0.005
    book_weight: float = 1.0
    blend_weight: float = 0.5
    #: θ_k per position (θ_1 first) from a propensity table; None uses 1/log2(k + 1).
    position_theta: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if not self.prior_strength > 0:
            raise ValueError(f"prior_strength must be > 0, got {self.prior_strength}")
        if not (0 < self.prior_ctr < 1 and 0 < self.prior_book_rate < 1):
            raise ValueError(
                f"prior_ctr and prior_book_rate must be in (0, 1), got {self.prior_ctr}, {self.prior_book_rate}"
            )
        if not self.book_weight >= 0:
            raise ValueError(f"book_weight must be >= 0, got {self.book_weight}")
        if not 0 <= self.blend_weight <= 1:
            raise ValueError(f"blend_weight must be in [0, 1], got {self.blend_weight}")
        if self.position_theta is not None and (
            not self.position_theta or any(not (math.isfinite(t) and t > 0) for t in self.position_theta)
        ):
            raise ValueError("position_theta must be a non-empty sequence of finite values > 0, θ_1 first")

    @classmethod
    def from_settings(cls, settings: RerankSettings) -> ScoringParameters:
        """The parameters of ``settings``, reading the propensity table when one is configured."""
        theta = None
        if settings.propensity_table is not None:
            theta = PropensityTable.load(settings.propensity_table).theta
        return cls(
            prior_strength=settings.prior_strength,
            prior_ctr=settings.prior_ctr,
            prior_book_rate=settings.prior_book_rate,
            book_weight=settings.book_weight,
            blend_weight=settings.blend_weight,
            position_theta=theta,
        )


def smoothed_rate(successes: float, trials: float, prior_rate: float, prior_strength: float) -> float:
    """The posterior mean of a Beta(α·p, α·(1 − p)) prior after ``successes`` out of ``trials``."""
    return (successes + prior_strength * prior_rate) / (trials + prior_strength)


def dcg_position_prior(position: int) -> float:
    """1 / log2(position + 1): how much the upstream ranker's position k is worth without a propensity table."""
    return 1.0 / math.log2(position + 1)


class Scorer:
    """Scores and orders hotels; pure computation over the features it is handed."""

    def __init__(self, parameters: ScoringParameters) -> None:
        self.parameters = parameters
        self._prior_engagement = parameters.prior_ctr + parameters.book_weight * parameters.prior_book_rate
        # d(k)^(1 − w) for the common positions, index k (index 0 unused).
        self._weighted_prior: list[float] = [0.0] + [
            float(self.position_prior(k) ** (1.0 - parameters.blend_weight))
            for k in range(1, _PRECOMPUTED_POSITIONS + 1)
        ]

    def position_prior(self, position: int) -> float:
        """d(k): θ_k of the propensity table if there is one (its last θ beyond it), else 1/log2(k + 1)."""
        if position < 1:
            raise ValueError(f"positions are 1-based, got {position}")
        theta = self.parameters.position_theta
        if theta is None:
            return dcg_position_prior(position)
        return theta[min(position, len(theta)) - 1]

    def rates(self, row: FeatureRow, prior_ctr: float, prior_book_rate: float) -> tuple[float, float]:
        """(ctr, book_rate) of ``row``, Beta-smoothed towards the given prior rates."""
        alpha = self.parameters.prior_strength
        examined = row[EXAMINED_IMPRESSIONS]
        ctr = smoothed_rate(max(row[CLICKS] - row[QUICK_BACKS], 0.0), examined, prior_ctr, alpha)
        book_rate = smoothed_rate(row[BOOKS], examined, prior_book_rate, alpha)
        return ctr, book_rate

    def lift(self, global_row: FeatureRow | None, destination_row: FeatureRow | None = None) -> float:
        """Engagement relative to the prior's: 1 for a hotel without rows, above 1 for a better-than-average one."""
        ctr = self.parameters.prior_ctr
        book_rate = self.parameters.prior_book_rate
        if global_row is not None:
            ctr, book_rate = self.rates(global_row, ctr, book_rate)
        if destination_row is not None:
            ctr, book_rate = self.rates(destination_row, ctr, book_rate)
        return (ctr + self.parameters.book_weight * book_rate) / self._prior_engagement

    def score(self, position: int, global_row: FeatureRow | None, destination_row: FeatureRow | None = None) -> float:
        """d(k)^(1 − w) · lift^w for a hotel shown at ``position``."""
        if 0 < position <= _PRECOMPUTED_POSITIONS:
            weighted_prior = self._weighted_prior[position]
        else:
            weighted_prior = float(self.position_prior(position) ** (1.0 - self.parameters.blend_weight))
        if global_row is None and destination_row is None:
            return weighted_prior  # the lift is exactly 1
        return weighted_prior * float(self.lift(global_row, destination_row) ** self.parameters.blend_weight)

    def rank(
        self,
        hotel_ids: Sequence[str],
        features: FeatureLookup,
        destination: str | None = None,
        positions: Sequence[int] | None = None,
    ) -> list[RankedHotel]:
        """``hotel_ids`` (given order, shown at ``positions`` or 1, 2, …) ordered by score, ties in given order."""
        if positions is not None and len(positions) != len(hotel_ids):
            raise ValueError(f"{len(positions)} positions for {len(hotel_ids)} hotel ids; send one position per id")
        scored: list[RankedHotel] = []
        for index, hotel_id in enumerate(hotel_ids):
            global_row = features.get(hotel_id)
            destination_row = features.get(hotel_id, destination) if destination is not None else None
            position = positions[index] if positions is not None else index + 1
            score = self.score(position, global_row, destination_row)
            scored.append(RankedHotel(hotel_id, score, global_row is not None or destination_row is not None))
        # list.sort is stable: equal scores keep the request's order.
        scored.sort(key=_descending_score)
        return scored


def _descending_score(ranked: RankedHotel) -> float:
    return -ranked.score


class ModelScorer:
    """Orders hotels by a trained model (``rankfeed train``) over ``rankfeed.model.FEATURES``.

    The features are built by ``rankfeed.model.feature_matrix``, the function the training export
    uses, from the request (given positions, prices, ratings) and each hotel's global row of the
    live store; a hotel without a row gets NaN engagement features, as in training.
    """

    def __init__(self, artifact: ModelArtifact) -> None:
        artifact.check_servable()
        self.artifact = artifact

    def features(
        self,
        hotel_ids: Sequence[str],
        features: FeatureLookup,
        positions: Sequence[int] | None = None,
        prices: Sequence[float | None] | None = None,
        ratings: Sequence[float | None] | None = None,
    ) -> tuple[FloatArray, list[bool]]:
        """(the hotels × features matrix the model scores, whether each hotel had a row)."""
        rows = [features.get(hotel_id) for hotel_id in hotel_ids]
        unknown: list[float | None] = [None] * len(hotel_ids)
        matrix = feature_matrix(
            positions if positions is not None else range(1, len(hotel_ids) + 1),
            prices if prices is not None else unknown,
            ratings if ratings is not None else unknown,
            rows,
        )
        return matrix, [row is not None for row in rows]

    def rank(
        self,
        hotel_ids: Sequence[str],
        features: FeatureLookup,
        positions: Sequence[int] | None = None,
        prices: Sequence[float | None] | None = None,
        ratings: Sequence[float | None] | None = None,
    ) -> list[RankedHotel]:
        """``hotel_ids`` ordered by the model's score, ties in the given order."""
        matrix, known = self.features(hotel_ids, features, positions, prices, ratings)
        scores = self.artifact.score_served(matrix).tolist()
        scored = [RankedHotel(*item) for item in zip(hotel_ids, scores, known, strict=True)]
        scored.sort(key=_descending_score)
        return scored
