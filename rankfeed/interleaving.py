"""Team-draft interleaving: compare two rankers online, on the same searches, from the users' own clicks.

Given a *control* ranking and a *candidate* ranking of the same hotels, team-draft interleaving
(Radlinski, Kurup & Joachims 2008, "How does clickthrough data reflect retrieval quality?"; validated
at scale by Chapelle, Joachims, Radlinski & Yue 2012, "Large-scale validation and analysis of
interleaved search evaluation", TOIS 30(1)) builds one list as two captains pick teams: in each round
the team with fewer picks (a coin flip when equal) adds its highest-ranked hotel not yet in the list.
Each hotel remembers the team that contributed it. Because both rankers get the top slots equally
often, position bias favours neither, and the users' clicks on each team's hotels say which ranker
they prefer, per search.

**Credit.** Each hotel's outcome is scored with the label table (book 2, click 1, quick-back −1,
ignore 0 by default: the same judgement the LTR labels make), and each team's score is the sum over
its hotels. The search is a *win* for the candidate when its team scores more, a *loss* when less, a
*tie* otherwise (including searches without any outcome).

**Preference.** Over an experiment's searches with a winner, the candidate's share of wins p is a
binomial proportion; under "no preference" p = 0.5 (the sign test). The 95% interval of p is the
Wilson score interval (Wilson 1927); the candidate is preferred when the interval lies above 0.5,
the control when it lies below. Ties carry no preference and are reported beside.

**Reproducibility.** The coin flips come from a generator seeded with the experiment name and the
interleaving id, so the same request always gets the same interleaved list and teams.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

Team = Literal["control", "candidate"]
CONTROL: Team = "control"
CANDIDATE: Team = "candidate"

#: z of a two-sided 95% interval.
Z_95 = 1.959963984540054


def interleaving_seed(experiment: str, interleaving_id: str) -> int:
    """A 64-bit seed from the experiment and the interleaving id: the same pair always interleaves the same way."""
    digest = hashlib.blake2b(f"{experiment}\x1f{interleaving_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@dataclass(frozen=True)
class Interleaved:
    """One team-draft list: hotel ids in display order and the team that contributed each."""

    hotel_ids: tuple[str, ...]
    teams: tuple[Team, ...]


def team_draft(control: Sequence[str], candidate: Sequence[str], seed: int) -> Interleaved:
    """The team-draft interleaving of two rankings of the same hotels (Radlinski et al. 2008, Algorithm 2).

    ``control`` and ``candidate`` are the two orders, best first; they must hold the same distinct
    hotel ids (a ValueError otherwise). Every hotel appears once in the result. ``seed`` fixes the
    coin flips (see :func:`interleaving_seed`).
    """
    if len(set(control)) != len(control) or set(control) != set(candidate) or len(candidate) != len(control):
        raise ValueError("control and candidate must rank the same distinct hotel ids")
    rng = random.Random(seed)
    chosen: set[str] = set()
    hotel_ids: list[str] = []
    teams: list[Team] = []
    picks = {CONTROL: 0, CANDIDATE: 0}
    cursor = {CONTROL: 0, CANDIDATE: 0}
    rankings = {CONTROL: control, CANDIDATE: candidate}
    while len(hotel_ids) < len(control):
        if picks[CONTROL] < picks[CANDIDATE]:
            team = CONTROL
        elif picks[CANDIDATE] < picks[CONTROL]:
            team = CANDIDATE
        else:
            team = CONTROL if rng.random() < 0.5 else CANDIDATE
        ranking = rankings[team]
        while ranking[cursor[team]] in chosen:
            cursor[team] += 1
        hotel_id = ranking[cursor[team]]
        chosen.add(hotel_id)
        hotel_ids.append(hotel_id)
        teams.append(team)
        picks[team] += 1
    return Interleaved(tuple(hotel_ids), tuple(teams))


Outcome = Literal["win", "loss", "tie"]


def credit(teams: Mapping[str, Team], gains: Mapping[str, float]) -> tuple[float, float, Outcome]:
    """(control score, candidate score, the candidate's outcome) of one interleaved search.

    ``teams`` maps each shown hotel to its team, ``gains`` each hotel with an outcome to its label
    (book 2, click 1, quick-back −1 by default); hotels without one score 0, and gains of hotels
    not shown are ignored.
    """
    scores = {CONTROL: 0.0, CANDIDATE: 0.0}
    for hotel_id, gain in gains.items():
        team = teams.get(hotel_id)
        if team is not None:
            scores[team] += gain
    control, candidate = scores[CONTROL], scores[CANDIDATE]
    outcome: Outcome = "win" if candidate > control else "loss" if candidate < control else "tie"
    return control, candidate, outcome


@dataclass(frozen=True)
class Tally:
    """Running wins, losses and ties of the candidate in one experiment, with the sign test's interval."""

    experiment: str
    wins: int = 0
    losses: int = 0
    ties: int = 0

    def add(self, outcome: Outcome) -> Tally:
        return Tally(
            self.experiment,
            self.wins + (outcome == "win"),
            self.losses + (outcome == "loss"),
            self.ties + (outcome == "tie"),
        )

    @property
    def searches(self) -> int:
        return self.wins + self.losses + self.ties

    def win_share(self) -> tuple[float, float, float]:
        """(p, low, high): the candidate's share of decided searches and its 95% Wilson interval; NaN without any."""
        decided = self.wins + self.losses
        if decided == 0:
            return math.nan, math.nan, math.nan
        p = self.wins / decided
        spread = Z_95 * math.sqrt(p * (1 - p) / decided + Z_95**2 / (4 * decided**2))
        centre = p + Z_95**2 / (2 * decided)
        scale = 1 + Z_95**2 / decided
        return p, (centre - spread) / scale, (centre + spread) / scale

    @property
    def preferred(self) -> Team | None:
        """The ranker the users prefer at 95%, or None while the interval holds 0.5."""
        _, low, high = self.win_share()
        if low > 0.5:
            return CANDIDATE
        if high < 0.5:
            return CONTROL
        return None
