"""rankfeed.rerank.scoring, checked against hand-computed values and the properties its docstring promises."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rankfeed.propensity import PropensityTable
from rankfeed.rerank.features import FeatureRow
from rankfeed.rerank.scoring import Scorer, ScoringParameters, dcg_position_prior, smoothed_rate
from rankfeed.rerank.settings import RerankSettings

Row = tuple[str, str | None, FeatureRow]


def row(
    hotel_id: str,
    examined: float,
    clicks: float,
    books: float = 0.0,
    quick_backs: float = 0.0,
    destination: str | None = None,
) -> Row:
    """A store row with its identity: (hotel_id, destination, row)."""
    return hotel_id, destination, (examined, clicks, books, quick_backs, examined * 2, 0)


class Rows:
    """A FeatureLookup over a fixed set of rows."""

    def __init__(self, *rows: Row) -> None:
        self.rows = {(hotel_id, destination): features for hotel_id, destination, features in rows}

    def get(self, hotel_id: str, destination: str | None = None) -> FeatureRow | None:
        return self.rows.get((hotel_id, destination))


def features(hotel_id: str, examined: float, clicks: float, books: float = 0.0, quick_backs: float = 0.0) -> FeatureRow:
    return row(hotel_id, examined, clicks, books, quick_backs)[2]


def test_smoothed_rate_is_the_prior_without_evidence_and_the_observed_rate_with_much() -> None:
    assert smoothed_rate(0, 0, prior_rate=0.05, prior_strength=50) == pytest.approx(0.05)
    assert smoothed_rate(3, 5, prior_rate=0.05, prior_strength=50) == pytest.approx((3 + 2.5) / 55)
    assert smoothed_rate(30_000, 100_000, prior_rate=0.05, prior_strength=50) == pytest.approx(0.3, rel=1e-3)


def test_the_dcg_position_prior() -> None:
    assert [dcg_position_prior(k) for k in (1, 3, 7)] == pytest.approx([1.0, 0.5, 1 / 3])


def test_a_hand_computed_score() -> None:
    scorer = Scorer(ScoringParameters(prior_strength=50, prior_ctr=0.05, prior_book_rate=0.005, blend_weight=0.5))
    hotel = features("h", examined=150, clicks=40, books=5, quick_backs=10)

    # ctr = (40 − 10 + 2.5) / 200, book rate = (5 + 0.25) / 200, lift = (ctr + book rate) / 0.055, d(3) = 0.5.
    lift = (32.5 / 200 + 5.25 / 200) / 0.055
    assert scorer.lift(hotel) == pytest.approx(lift)
    assert scorer.score(3, hotel) == pytest.approx(math.sqrt(0.5 * lift))


def test_unknown_hotels_get_the_position_prior_only() -> None:
    scorer = Scorer(ScoringParameters(blend_weight=0.3))

    assert scorer.lift(None) == 1.0
    assert [scorer.score(k, None) for k in (1, 2, 40, 5000)] == pytest.approx(
        [dcg_position_prior(k) ** 0.7 for k in (1, 2, 40, 5000)]
    )
    ranked = scorer.rank(["x", "y", "z"], Rows())
    assert [(r.hotel_id, r.known) for r in ranked] == [("x", False), ("y", False), ("z", False)]


def test_a_hotel_with_exactly_the_prior_rates_scores_like_an_unknown_one() -> None:
    scorer = Scorer(ScoringParameters(prior_ctr=0.1, prior_book_rate=0.01))

    assert scorer.score(4, features("avg", examined=1000, clicks=100, books=10)) == pytest.approx(scorer.score(4, None))


def test_thin_evidence_counts_less_than_long_evidence_of_the_same_rate() -> None:
    scorer = Scorer(ScoringParameters())

    thin, long = features("thin", examined=10, clicks=5), features("long", examined=10_000, clicks=5000)

    assert 1 < scorer.lift(thin) < scorer.lift(long)


def test_quick_backs_do_not_count_as_clicks() -> None:
    scorer = Scorer(ScoringParameters())

    lift = scorer.lift

    assert lift(features("h", 1000, clicks=200, quick_backs=150)) == pytest.approx(lift(features("h", 1000, 50)))
    assert lift(features("h", 1000, clicks=10, quick_backs=30)) == pytest.approx(lift(features("h", 1000, 0)))


def test_bookings_weigh_by_book_weight() -> None:
    booked, not_booked = features("a", 1000, clicks=100, books=50), features("b", 1000, clicks=100)
    ignoring_books, books_as_clicks, books_as_three = (
        Scorer(ScoringParameters(book_weight=weight)) for weight in (0.0, 1.0, 3.0)
    )

    assert ignoring_books.lift(booked) == ignoring_books.lift(not_booked)
    assert books_as_three.lift(booked) > books_as_clicks.lift(booked) > books_as_clicks.lift(not_booked)


def test_blend_weight_zero_keeps_the_given_order_and_one_orders_by_engagement_alone() -> None:
    features = Rows(row("bad", 1000, clicks=5), row("good", 1000, clicks=300), row("avg", 1000, clicks=50, books=5))
    given = ["bad", "avg", "good", "unknown"]

    assert [r.hotel_id for r in Scorer(ScoringParameters(blend_weight=0)).rank(given, features)] == given
    # w = 1: avg and unknown both have lift 1, so their tie keeps the given order.
    assert [r.hotel_id for r in Scorer(ScoringParameters(blend_weight=1)).rank(given, features)] == [
        "good",
        "avg",
        "unknown",
        "bad",
    ]


def test_ties_keep_the_given_order() -> None:
    scorer = Scorer(ScoringParameters(blend_weight=0.5))
    same = [row(name, 100, 20) for name in ("p", "q", "r")]

    ranked = scorer.rank(["r", "p", "q"], Rows(*same), positions=[5, 5, 5])

    assert [r.hotel_id for r in ranked] == ["r", "p", "q"]
    assert len({r.score for r in ranked}) == 1


def test_scaling_the_traffic_changes_no_order() -> None:
    """The blend is geometric: a day with half the clicks everywhere (and half the prior) ranks alike."""
    busy = Rows(row("a", 1000, 100), row("b", 1000, 40), row("c", 1000, 60))
    quiet = Rows(row("a", 1000, 50), row("b", 1000, 20), row("c", 1000, 30))
    ids = ["b", "c", "a", "u"]

    tiny_prior = {"prior_strength": 1e-9, "book_weight": 0.0}
    busy_ranking = Scorer(ScoringParameters(prior_ctr=0.06, **tiny_prior)).rank(ids, busy)  # type: ignore[arg-type]
    quiet_ranking = Scorer(ScoringParameters(prior_ctr=0.03, **tiny_prior)).rank(ids, quiet)  # type: ignore[arg-type]

    assert [r.hotel_id for r in busy_ranking] == [r.hotel_id for r in quiet_ranking] == ["a", "b", "c", "u"]
    assert [r.score for r in busy_ranking] == pytest.approx([r.score for r in quiet_ranking])


def test_a_destination_row_is_shrunk_towards_the_hotels_global_rates() -> None:
    scorer = Scorer(ScoringParameters(prior_strength=50))
    global_row = features("h", 10_000, clicks=2000)  # 20 % everywhere
    thin_paris = features("h", 2, clicks=0)  # in Paris: 2 examined impressions, no click yet

    with_global = scorer.lift(global_row, thin_paris)
    without_global = scorer.lift(None, thin_paris)

    # (0 + 50 · ctr_global) / 52 with ctr_global ≈ 0.2 stays near 0.2, not near the 5 % prior.
    ctr_global = (2000 + 2.5) / 10_050
    expected_ctr = 50 * ctr_global / 52
    expected_book_rate = 50 * (0.25 / 10_050) / 52
    assert with_global == pytest.approx((expected_ctr + expected_book_rate) / 0.055)
    assert without_global < 1 < with_global


def test_rank_uses_the_destination_row_only_when_a_destination_is_asked_for() -> None:
    features = Rows(row("a", 1000, 50), row("b", 1000, 50), row("b", 1000, 400, destination="paris"))
    scorer = Scorer(ScoringParameters())

    assert [r.hotel_id for r in scorer.rank(["a", "b"], features)] == ["a", "b"]
    assert [r.hotel_id for r in scorer.rank(["a", "b"], features, destination="paris")] == ["b", "a"]
    only_in_paris = Rows(row("c", 1000, 400, destination="paris"))
    assert scorer.rank(["c"], only_in_paris)[0].known is False
    assert scorer.rank(["c"], only_in_paris, destination="paris")[0].known is True


def test_a_propensity_table_replaces_the_dcg_prior(tmp_path: Path) -> None:
    table = PropensityTable.create([1.0, 0.6, 0.3], "randomized", impressions=1000, created_at=datetime.now(UTC))
    table.save(tmp_path / "propensity.json")
    settings = RerankSettings(propensity_table=tmp_path / "propensity.json", blend_weight=0.0)

    scorer = Scorer(ScoringParameters.from_settings(settings))

    assert [scorer.position_prior(k) for k in (1, 2, 3, 4, 50)] == [1.0, 0.6, 0.3, 0.3, 0.3]
    assert scorer.score(2, None) == pytest.approx(0.6)


def test_positions_must_match_the_ids_and_be_one_based() -> None:
    scorer = Scorer(ScoringParameters())

    with pytest.raises(ValueError, match="2 positions for 3 hotel ids"):
        scorer.rank(["a", "b", "c"], Rows(), positions=[1, 2])
    with pytest.raises(ValueError, match="positions are 1-based, got 0"):
        scorer.position_prior(0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"prior_strength": 0}, "prior_strength must be > 0"),
        ({"prior_ctr": 1.0}, "prior_ctr and prior_book_rate must be in"),
        ({"book_weight": -1}, "book_weight must be >= 0"),
        ({"blend_weight": 1.5}, "blend_weight must be in"),
        ({"position_theta": (1.0, 0.0)}, "position_theta must be"),
    ],
)
def test_impossible_parameters_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ScoringParameters(**changes)  # type: ignore[arg-type]


def test_the_default_parameters_are_the_default_settings() -> None:
    assert ScoringParameters() == ScoringParameters.from_settings(RerankSettings())
