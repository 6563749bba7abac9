"""Team-draft interleaving and its credit, checked on simulated users whose preferences are known.

Hotels and their attractiveness come from the simulator's catalogue (``rankfeed.simulate``); users
examine position k with θ_k = 1/k, click an examined hotel with its attractiveness, then book
(``book_share``) or come straight back (``quick_back_share``), as the simulator's users do. The
control ranker orders by attractiveness plus uniform noise of width 1.0 (a weak ranker: against the
simulator's own production ranker, noise 0.3, even a perfect one wins only ~51% of decided searches,
too little for a test of a few thousand searches); a *better* candidate has a tenth of that noise, an
*equal* one the same noise, drawn independently.
Everything is seeded: the outcome table below is the same on every run.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from rankfeed.interleaving import CANDIDATE, CONTROL, Tally, credit, interleaving_seed, team_draft
from rankfeed.settings import LabelTable
from rankfeed.simulate import Hotel, TrafficShape, hotel_catalogue

SHAPE = TrafficShape(hotels=200, seed=3)
CATALOGUE = hotel_catalogue(SHAPE)
LIST_LENGTH = 20
LABELS = LabelTable()
CONTROL_NOISE = 1.0


def noisy_ranking(hotels: Sequence[Hotel], noise: float, rng: random.Random) -> list[str]:
    return [h.hotel_id for h in sorted(hotels, key=lambda h: h.attractiveness + noise * rng.random(), reverse=True)]


def user_gains(shown: Sequence[str], rng: random.Random) -> dict[str, float]:
    """The simulated user's outcome on each hotel they acted on, scored with the label table."""
    attractiveness = {hotel.hotel_id: hotel.attractiveness for hotel in CATALOGUE}
    gains: dict[str, float] = {}
    for position, hotel_id in enumerate(shown, start=1):
        if rng.random() < attractiveness[hotel_id] / position:
            outcome = rng.random()
            if outcome < SHAPE.book_share:
                gains[hotel_id] = LABELS.book
            elif outcome < SHAPE.book_share + SHAPE.quick_back_share:
                gains[hotel_id] = LABELS.quick_back
            else:
                gains[hotel_id] = LABELS.click
    return gains


def run_experiment(name: str, candidate_noise: float, searches: int, seed: int) -> Tally:
    rng = random.Random(f"{name}/{seed}")
    tally = Tally(name)
    for number in range(searches):
        hotels = rng.sample(CATALOGUE, LIST_LENGTH)
        control = noisy_ranking(hotels, CONTROL_NOISE, rng)
        candidate = noisy_ranking(hotels, candidate_noise, rng)
        interleaved = team_draft(control, candidate, interleaving_seed(name, f"search-{seed}-{number}"))
        teams = dict(zip(interleaved.hotel_ids, interleaved.teams, strict=True))
        tally = tally.add(credit(teams, user_gains(interleaved.hotel_ids, rng))[2])
    return tally


def test_a_better_candidate_is_preferred_in_every_experiment() -> None:
    tallies = [run_experiment("better", CONTROL_NOISE / 10, 2000, seed) for seed in range(5)]
    for tally in tallies:
        share, low, high = tally.win_share()
        print(
            f"\nbetter candidate: {tally.wins} wins, {tally.losses} losses, {tally.ties} ties; "
            f"win share {share:.3f} [{low:.3f}, {high:.3f}]"
        )
        assert tally.preferred == CANDIDATE


def test_equal_rankers_show_no_preference_beyond_the_error_rate() -> None:
    experiments = 40
    tallies = [run_experiment("equal", CONTROL_NOISE, 1000, seed) for seed in range(experiments)]
    wrongly_preferred = [tally for tally in tallies if tally.preferred is not None]
    first = tallies[0]
    share, low, high = first.win_share()
    print(
        f"\nequal candidate (first of {experiments}): {first.wins} wins, {first.losses} losses, {first.ties} ties; "
        f"win share {share:.3f} [{low:.3f}, {high:.3f}]; a preference in {len(wrongly_preferred)} of {experiments}"
    )
    # The interval's error rate is 5%: at most 10% of experiments (4 of 40) may show a preference.
    assert len(wrongly_preferred) <= experiments // 10


def test_team_draft_keeps_teams_balanced_and_is_reproducible_from_its_seed() -> None:
    rng = random.Random(0)
    hotels = [hotel.hotel_id for hotel in CATALOGUE[:LIST_LENGTH]]
    for trial in range(50):
        control = rng.sample(hotels, len(hotels))
        candidate = rng.sample(hotels, len(hotels))
        seed = interleaving_seed("exp", f"id-{trial}")
        interleaved = team_draft(control, candidate, seed)
        assert sorted(interleaved.hotel_ids) == sorted(hotels)
        for prefix in range(1, len(hotels) + 1):
            picked = interleaved.teams[:prefix]
            assert abs(picked.count(CONTROL) - picked.count(CANDIDATE)) <= 1
        # Each team's hotels appear in the order that team ranked them.
        for team, ranking in ((CONTROL, control), (CANDIDATE, candidate)):
            own = [h for h, t in zip(interleaved.hotel_ids, interleaved.teams, strict=True) if t == team]
            assert own == sorted(own, key=ranking.index)
        assert team_draft(control, candidate, seed) == interleaved
    assert interleaving_seed("exp", "a") == interleaving_seed("exp", "a") != interleaving_seed("exp", "b")
    with pytest.raises(ValueError, match="same distinct hotel ids"):
        team_draft(["a", "b"], ["a", "c"], 1)


def test_credit_scores_each_team_by_the_label_table() -> None:
    teams = {"a": CONTROL, "b": CANDIDATE, "c": CANDIDATE}
    assert credit(teams, {"a": 1, "b": 2}) == (1, 2, "win")
    assert credit(teams, {"a": 1, "b": -1, "c": 1}) == (1, 0, "loss")
    assert credit(teams, {}) == (0, 0, "tie")
    assert credit(teams, {"z": 2}) == (0, 0, "tie")  # not shown: no credit
    tally = Tally("t").add("win").add("win").add("tie").add("loss")
    assert (tally.wins, tally.losses, tally.ties, tally.searches) == (2, 1, 1, 4)
    share, low, high = tally.win_share()
    assert share == pytest.approx(2 / 3) and low < 0.5 < high and tally.preferred is None
    assert Tally("lopsided", wins=90, losses=10).preferred == CANDIDATE
    assert Tally("lopsided", wins=10, losses=90).preferred == CONTROL
