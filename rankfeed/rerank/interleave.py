"""Interleaved answers of the re-ranker: a control and a candidate ranking merged by team draft.

The control is the served model (``model``) or, without one, the given order; the candidate is
``interleave_candidate``. Each answer carries the experiment, an interleaving id (the request's
``search_id``, else a new UUID) and, per hotel, the team that contributed it; the coin flips are
seeded by the experiment and the interleaving id (:func:`rankfeed.interleaving.interleaving_seed`),
so the same search always gets the same list. The frontend logs these with the search
(``experiment``, ``interleaving_id``, ``interleaving_teams``), and ``rankfeed interleaving``
credits the searches' outcomes to the teams.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from rankfeed.interleaving import Team, interleaving_seed, team_draft
from rankfeed.rerank.request import RerankRequest
from rankfeed.rerank.scoring import FeatureLookup, ModelScorer, RankedHotel

#: The control's name in a default experiment name when the control is the given order.
GIVEN_ORDER = "given-order"


@dataclass(frozen=True)
class InterleavedAnswer:
    ranking: list[RankedHotel]
    teams: list[Team]
    experiment: str
    interleaving_id: str


class Interleaver:
    """Answers each request with the team-draft interleaving of the control and the candidate rankings."""

    def __init__(self, candidate: ModelScorer, control: ModelScorer | None, experiment: str | None = None) -> None:
        self.candidate = candidate
        self.control = control
        control_name = control.artifact.version if control is not None else GIVEN_ORDER
        self.experiment = experiment or f"{control_name}-vs-{candidate.artifact.version}"

    def rank(self, request: RerankRequest, features: FeatureLookup) -> InterleavedAnswer:
        inputs = (request.hotel_ids, features, request.positions, request.prices, request.ratings)
        candidate = self.candidate.rank(*inputs)
        if self.control is not None:
            control = self.control.rank(*inputs)
        else:
            positions = request.positions or range(1, len(request.hotel_ids) + 1)
            given = sorted(zip(positions, range(len(positions)), request.hotel_ids, strict=True))
            control = [RankedHotel(hotel_id, 1.0 / position, True) for position, _, hotel_id in given]
        interleaving_id = request.search_id or str(uuid.uuid4())
        interleaved = team_draft(
            [hotel.hotel_id for hotel in control],
            [hotel.hotel_id for hotel in candidate],
            interleaving_seed(self.experiment, interleaving_id),
        )
        by_team = {"control": {h.hotel_id: h for h in control}, "candidate": {h.hotel_id: h for h in candidate}}
        known = {hotel.hotel_id: hotel.known for hotel in candidate}
        ranking = [
            by_team[team][hotel_id]._replace(known=known[hotel_id])
            for hotel_id, team in zip(interleaved.hotel_ids, interleaved.teams, strict=True)
        ]
        return InterleavedAnswer(ranking, list(interleaved.teams), self.experiment, interleaving_id)
