"""Seeded synthetic hotel-search traffic: user actions shaped like the real site's, with known truth.

The jobs downstream (deduplication, sessionization, dwell and quick-back labels, position-bias
correction) can only be checked against traffic whose ground truth is known: which hotels are
really attractive, how strongly position biases clicks, which events are duplicates or late.
This module produces such traffic as plain ``user_action`` records (dicts exactly as fastavro
writes them), without any Kafka, so the same stream feeds unit tests, local runs and benchmarks.

Everything is derived from ``TrafficShape.seed`` through private ``random.Random`` instances:
the same shape always yields the same records, byte for byte, in any process.

Three independent random streams keep one knob from reshuffling the rest:

* the catalogue stream fixes each hotel's price level, rating and attractiveness;
* the session stream draws users, searches, clicks and timings;
* the emission stream only decides duplicates, reordering and lateness, so turning those on
  or off leaves the clean sessions (``iter_sessions``) unchanged.

Every action type of the contract is emitted except ``impression``: the site attaches each
result list to the ``search`` action that produced it.
"""

from __future__ import annotations

import math
import random
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from rankfeed import schemas
from rankfeed.types import Record

#: Fields the gateway sets on receipt; a client never sends them, so they stay None here.
SERVER_FIELDS = ("server_timestamp", "client_country", "device_family", "ingest_id")

MIN_PRICE = 40.0
MAX_PRICE = 600.0
MIN_ATTRACTIVENESS = 0.05
MAX_ATTRACTIVENESS = 0.6

#: Longest pause between two actions of one session. Session windows must use a larger gap,
#: otherwise they would cut a simulated session in two.
MAX_ACTION_GAP_SECONDS = 300.0

#: Fast return after a click: the ``back`` follows the click within this many seconds.
QUICK_BACK_SECONDS = (2.0, 8.0)
#: Time on the hotel page when the user does not bounce straight back.
LONG_DWELL_SECONDS = (20.0, 300.0)
#: Result positions visible without scrolling; deeper clicks imply a scroll first.
VIEWPORT_POSITIONS = 5
#: A producer retry re-sends the same event this long after the first send.
RETRY_DELAY_MS = (200, 5000)
#: Neighbours are only swapped when their event times are at most this far apart.
OUT_OF_ORDER_WINDOW_MS = 5000

_SEARCHES_PER_SESSION = (1, 2, 3)
_SEARCHES_PER_SESSION_WEIGHTS = (0.6, 0.3, 0.1)
_DEVICES = ("web", "mobile", "tablet")
_DEVICE_WEIGHTS = (0.5, 0.4, 0.1)
_REFERRERS = (
    "https://www.google.com/",
    "https://www.bing.com/",
    "https://www.tripadvisor.com/",
    "newsletter",
    "app",
)
_NO_REFERRER_SHARE = 0.35
_RETURNING_USER_SHARE = 0.3
_UNRATED_HOTEL_SHARE = 0.07
_MISSING_DURATION_SHARE = 0.1
_SCROLL_WITHOUT_DEEP_CLICK_SHARE = 0.4
_RATE_AFTER_CLICK_SHARE = 0.03
_RATE_AFTER_BOOK_SHARE = 0.2
#: Width of the production ranker's per-search noise added to true attractiveness: the ranker
#: is good but not perfect, as a real one is.
_RANKER_NOISE = 0.3
#: A search's price is the hotel's level times a factor in [low, low + span).
_PRICE_JITTER = (0.92, 0.2)
#: Spacing between consecutive session starts, in seconds: small, so sessions interleave.
_SESSION_STAGGER_SECONDS = (0.5, 6.0)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class TrafficShape:
    """How much traffic to simulate and how messy it is; every field has a realistic default."""

    sessions: int = 200
    seed: int = 7
    #: Catalogue size; hotel ids are "H00001", "H00002", ...
    hotels: int = 500
    #: Search queries; non-ASCII names exercise UTF-8 handling end to end.
    destinations: tuple[str, ...] = (
        "Paris",
        "Berlin",
        "New York",
        "東京",
        "São Paulo",
        "Zürich",
        "Kraków",
        "Αθήνα",
        "القاهرة",
        "Reykjavík",
    )
    results_per_search: int = 20
    #: Probability that the user examines position k is (1/k) ** eta.
    position_bias_eta: float = 1.0
    #: Share of searches whose result order was shuffled on purpose (ranking_randomized).
    randomized_share: float = 0.05
    #: Share of clicks followed by a ``back`` 2-8 s later.
    quick_back_share: float = 0.25
    #: Share of clicks that lead to a ``book`` of the clicked hotel.
    book_share: float = 0.05
    #: Share of events a producer sends twice (same event_id, identical content).
    duplicate_share: float = 0.02
    #: Share of events swapped with their neighbour in emission order (event times <= 5 s apart).
    out_of_order_share: float = 0.05
    #: Share of events held back and emitted after everything else, far behind the watermark.
    late_share: float = 0.0
    #: Event time of the first session's first action (timezone-aware).
    start: datetime = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    #: Inactivity that ends a session. A returning user's next session starts at least this
    #: long after their previous one ended, so session windows keyed by user never merge two.
    session_gap_seconds: float = 45 * 60

    def __post_init__(self) -> None:
        if self.sessions < 0:
            raise ValueError(f"sessions must be >= 0, got {self.sessions}")
        if self.results_per_search < 1:
            raise ValueError(f"results_per_search must be >= 1, got {self.results_per_search}")
        if self.hotels < self.results_per_search:
            raise ValueError(
                f"hotels ({self.hotels}) must be >= results_per_search ({self.results_per_search}) "
                "so a result list never repeats a hotel"
            )
        if not self.destinations or not all(self.destinations):
            raise ValueError("destinations must be a non-empty tuple of non-empty names")
        if self.position_bias_eta < 0:
            raise ValueError(f"position_bias_eta must be >= 0, got {self.position_bias_eta}")
        for name in (
            "randomized_share",
            "quick_back_share",
            "book_share",
            "duplicate_share",
            "out_of_order_share",
            "late_share",
        ):
            share = getattr(self, name)
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {share}")
        if self.quick_back_share + self.book_share > 1.0:
            raise ValueError("quick_back_share + book_share must be <= 1: a click either bounces or books")
        if self.start.tzinfo is None or self.start.utcoffset() is None:
            raise ValueError("start must be timezone-aware")
        if self.session_gap_seconds <= MAX_ACTION_GAP_SECONDS:
            raise ValueError(
                f"session_gap_seconds must exceed {MAX_ACTION_GAP_SECONDS:g}, the longest pause inside "
                "a simulated session, or session windows would split sessions"
            )

    @property
    def start_ms(self) -> int:
        """``start`` as epoch milliseconds (sub-millisecond digits dropped, as Avro does)."""
        return (self.start - _EPOCH) // timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class Hotel:
    """One catalogue entry, including the true attractiveness that bias correction should recover."""

    hotel_id: str
    destination: str
    base_price: float
    rating: float | None
    #: Probability of a click once the user has examined the hotel's listing.
    attractiveness: float


def hotel_catalogue(shape: TrafficShape) -> tuple[Hotel, ...]:
    """The hotels of ``shape``: fixed by seed and size alone, whatever the traffic settings.

    Hotels are spread round-robin over the destinations; prices are log-uniform (cheap hotels
    are commoner than luxury ones) and ratings skew high, as on real sites.
    """
    rng = random.Random(f"rankfeed.simulate/catalogue/{shape.seed}")
    # Price levels leave room for the per-search jitter, so shown prices stay within bounds.
    low = math.log(MIN_PRICE / _PRICE_JITTER[0])
    high = math.log(MAX_PRICE / sum(_PRICE_JITTER))
    hotels = []
    for index in range(shape.hotels):
        base_price = math.exp(rng.uniform(low, high))
        rating = None if rng.random() < _UNRATED_HOTEL_SHARE else round(rng.triangular(1.0, 5.0, 4.2), 1)
        hotels.append(
            Hotel(
                hotel_id=f"H{index + 1:05d}",
                destination=shape.destinations[index % len(shape.destinations)],
                base_price=base_price,
                rating=rating,
                attractiveness=rng.uniform(MIN_ATTRACTIVENESS, MAX_ATTRACTIVENESS),
            )
        )
    return tuple(hotels)


def iter_sessions(shape: TrafficShape) -> Iterator[list[Record]]:
    """Each session's actions in event-time order, before any duplication or reordering.

    This is the ground truth a correct pipeline should reconstruct from ``generate``'s output.
    """
    for session in _timed_sessions(shape):
        yield [record for _, record in session]


def generate(shape: TrafficShape) -> list[Record]:
    """All actions in the order a producer would send them, imperfections included.

    Events go out in event-time order across interleaved sessions, except that:
    ``duplicate_share`` of them are re-sent 0.2-5 s later (a retry: same dict content);
    ``out_of_order_share`` of them trade places with a neighbour at most 5 s away in event time;
    ``late_share`` of them (with their retries) are held back and sent after all others.
    """
    rng = random.Random(f"rankfeed.simulate/emission/{shape.seed}")
    on_time: list[tuple[int, int, Record]] = []
    held_back: list[tuple[int, int, Record]] = []
    sequence = 0
    for session in _timed_sessions(shape):
        for event_ms, record in session:
            target = held_back if shape.late_share and rng.random() < shape.late_share else on_time
            target.append((event_ms, sequence, record))
            sequence += 1
            if shape.duplicate_share and rng.random() < shape.duplicate_share:
                retry_ms = event_ms + rng.randint(*RETRY_DELAY_MS)
                target.append((retry_ms, sequence, _resent_copy(record)))
                sequence += 1
    # (time, sequence) is unique, so sorting never compares records and ties keep session order.
    on_time.sort(key=_emission_key)
    held_back.sort(key=_emission_key)
    if shape.out_of_order_share:
        _swap_neighbours(on_time, shape.out_of_order_share, rng)
    return [record for _, _, record in on_time] + [record for _, _, record in held_back]


def _emission_key(entry: tuple[int, int, Record]) -> tuple[int, int]:
    return entry[0], entry[1]


def _resent_copy(record: Record) -> Record:
    """A retry is a separate message with equal content; copying keeps the two independent."""
    copy = dict(record)
    if record["impressions"] is not None:
        copy["impressions"] = [dict(impression) for impression in record["impressions"]]
    return copy


def _swap_neighbours(entries: list[tuple[int, int, Record]], share: float, rng: random.Random) -> None:
    """Swap adjacent events, each swap moving two events, so about ``share`` of them move.

    A swap skips the next position (an event moves at most once), so the per-position swap
    probability p moves 2p / (1 + p) of the events; p = share / (2 - share) makes that ``share``.
    Only events at most ``OUT_OF_ORDER_WINDOW_MS`` apart are swapped (network jitter, not
    lateness), and never an event with its own retry (that would change nothing).
    """
    swap_probability = share / (2 - share)
    index = 0
    while index < len(entries) - 1:
        first, second = entries[index], entries[index + 1]
        if (
            rng.random() < swap_probability
            and second[0] - first[0] <= OUT_OF_ORDER_WINDOW_MS
            and first[2]["event_id"] != second[2]["event_id"]
        ):
            entries[index], entries[index + 1] = second, first
            index += 2
        else:
            index += 1


def _uuid4(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


class _SessionRecorder:
    """Builds one session's records and owns its clock, so event times can only move forward.

    Each action sets the pause before the next one (``pause_ms``); the next ``record`` call
    applies it. A click's pause is its dwell, so "time until the next action" is the dwell.
    """

    def __init__(self, rng: random.Random, start_ms: int, session_fields: Record) -> None:
        self.rng = rng
        self.now_ms = start_ms
        self.pause_ms = 0
        self.session_fields = session_fields
        self.timed_records: list[tuple[int, Record]] = []

    def pause_between(self, low_seconds: float, high_seconds: float) -> None:
        self.pause_ms = self.rng.randint(round(low_seconds * 1000), round(high_seconds * 1000))

    def record(self, action_type: str, **fields: Any) -> Record:
        self.now_ms += self.pause_ms
        self.pause_ms = 0
        record = schemas.default_record(schemas.USER_ACTION)
        record.update(self.session_fields)
        record["event_id"] = _uuid4(self.rng)
        record["timestamp"] = _EPOCH + timedelta(milliseconds=self.now_ms)
        record["action_type"] = action_type
        record.update(fields)
        self.timed_records.append((self.now_ms, record))
        return record


class _TrafficModel:
    """The per-shape constants a session draws from, computed once rather than per session."""

    def __init__(self, shape: TrafficShape) -> None:
        self.shape = shape
        self.catalogue = hotel_catalogue(shape)
        by_destination: dict[str, list[Hotel]] = {}
        for hotel in self.catalogue:
            by_destination.setdefault(hotel.destination, []).append(hotel)
        # A destination with too few hotels to fill a result list searches the whole catalogue.
        self.candidates = {
            destination: hotels if len(hotels) >= shape.results_per_search else list(self.catalogue)
            for destination, hotels in by_destination.items()
        }
        for destination in shape.destinations:
            self.candidates.setdefault(destination, list(self.catalogue))
        # examination[k] for 1-based position k; index 0 unused.
        self.examination = [0.0] + [
            (1.0 / position) ** shape.position_bias_eta for position in range(1, shape.results_per_search + 1)
        ]

    def result_list(self, rng: random.Random, destination: str, randomized: bool) -> list[tuple[Hotel, Record]]:
        """The hotels shown for one search, in display order, with the impression dict of each.

        The production order is attractiveness plus uniform noise: a good ranker, not a perfect
        one. Prices vary a little per search (dates, availability) around the hotel's level.
        """
        shown = rng.sample(self.candidates[destination], self.shape.results_per_search)
        random_draw = rng.random
        if randomized:
            rng.shuffle(shown)
        else:
            shown.sort(key=lambda hotel: hotel.attractiveness + _RANKER_NOISE * random_draw(), reverse=True)
        low, span = _PRICE_JITTER
        return [
            (
                hotel,
                {
                    "hotel_id": hotel.hotel_id,
                    "position": position,
                    "price": round(hotel.base_price * (low + span * random_draw()), 2),
                    "rating": hotel.rating,
                },
            )
            for position, hotel in enumerate(shown, start=1)
        ]

    def clicked(self, rng: random.Random, results: list[tuple[Hotel, Record]]) -> list[tuple[Hotel, Record]]:
        """Results the user clicks, top to bottom: examined with (1/k)**eta, then clicked by attractiveness."""
        examination = self.examination
        random_draw = rng.random
        return [
            (hotel, impression)
            for hotel, impression in results
            if random_draw() < examination[impression["position"]] * hotel.attractiveness
        ]


def _timed_sessions(shape: TrafficShape) -> Iterator[list[tuple[int, Record]]]:
    """Sessions as (epoch ms, record) pairs; the integer times spare ``generate`` datetime math."""
    model = _TrafficModel(shape)
    rng = random.Random(f"rankfeed.simulate/sessions/{shape.seed}")
    session_gap_ms = round(shape.session_gap_seconds * 1000)
    stagger_low_ms, stagger_high_ms = (round(seconds * 1000) for seconds in _SESSION_STAGGER_SECONDS)
    last_seen_ms: dict[str, int] = {}
    known_users: list[str] = []
    session_start_ms = shape.start_ms
    for session_number in range(shape.sessions):
        if session_number:
            session_start_ms += rng.randint(stagger_low_ms, stagger_high_ms)
        user_id = None
        if known_users and rng.random() < _RETURNING_USER_SHARE:
            candidate = rng.choice(known_users)
            if last_seen_ms[candidate] + session_gap_ms < session_start_ms:
                user_id = candidate
        if user_id is None:
            user_id = f"U{len(known_users) + 1:06d}"
            known_users.append(user_id)
        session = _simulate_session(shape, model, rng, session_start_ms, user_id)
        last_seen_ms[user_id] = session[-1][0]
        yield session


def _simulate_session(
    shape: TrafficShape, model: _TrafficModel, rng: random.Random, start_ms: int, user_id: str
) -> list[tuple[int, Record]]:
    """One visit: 1-3 searches, each maybe scrolled, with position-biased clicks and their outcomes."""
    session_fields: Record = {
        "user_id": user_id,
        "session_id": _uuid4(rng),
        "device": rng.choices(_DEVICES, _DEVICE_WEIGHTS)[0],
        "referrer": None if rng.random() < _NO_REFERRER_SHARE else rng.choice(_REFERRERS),
    }
    recorder = _SessionRecorder(rng, start_ms, session_fields)
    searches = rng.choices(_SEARCHES_PER_SESSION, _SEARCHES_PER_SESSION_WEIGHTS)[0]
    for _ in range(searches):
        search_id = _uuid4(rng)
        randomized = rng.random() < shape.randomized_share
        destination = rng.choice(shape.destinations)
        results = model.result_list(rng, destination, randomized)
        recorder.record(
            "search",
            search_id=search_id,
            query=destination,
            impressions=[impression for _, impression in results],
            ranking_randomized=randomized,
        )
        recorder.pause_between(3.0, 40.0)
        clicks = model.clicked(rng, results)
        deepest_click = max((impression["position"] for _, impression in clicks), default=0)
        results_shown = len(results)
        if results_shown > VIEWPORT_POSITIONS and (
            deepest_click > VIEWPORT_POSITIONS or rng.random() < _SCROLL_WITHOUT_DEEP_CLICK_SHARE
        ):
            recorder.pause_between(2.0, 15.0)
            depth = max(deepest_click, rng.randint(VIEWPORT_POSITIONS + 1, results_shown))
            recorder.record("scroll", search_id=search_id, scroll_depth=depth)
            recorder.pause_between(2.0, 30.0)
        if _simulate_clicks(shape, rng, recorder, search_id, clicks):
            break  # a booking ends the visit
    return recorder.timed_records


def _simulate_clicks(
    shape: TrafficShape,
    rng: random.Random,
    recorder: _SessionRecorder,
    search_id: str,
    clicks: list[tuple[Hotel, Record]],
) -> bool:
    """Record the clicks of one result list and what follows each; True when the user booked.

    Each click has exactly one outcome: a book (``book_share``), a quick back
    (``quick_back_share``), or a long dwell after which the next action, whatever it is, happens.
    """
    for hotel, impression in clicks:
        outcome = rng.random()
        booked = outcome < shape.book_share
        bounced = not booked and outcome < shape.book_share + shape.quick_back_share
        low_seconds, high_seconds = QUICK_BACK_SECONDS if bounced else LONG_DWELL_SECONDS
        dwell_ms = rng.randint(round(low_seconds * 1000), round(high_seconds * 1000))
        # The client measures time on the page, a little less than the gap to the next action.
        duration = None
        if rng.random() >= _MISSING_DURATION_SHARE:
            duration = round(dwell_ms / 1000 * rng.uniform(0.9, 1.0), 1)
        recorder.record(
            "click",
            search_id=search_id,
            hotel_id=hotel.hotel_id,
            position=impression["position"],
            price=impression["price"],
            rating=impression["rating"],
            duration=duration,
        )
        recorder.pause_ms = dwell_ms
        if booked:
            recorder.record(
                "book",
                search_id=search_id,
                hotel_id=hotel.hotel_id,
                position=impression["position"],
                price=impression["price"],
            )
            if rng.random() < _RATE_AFTER_BOOK_SHARE:
                recorder.pause_between(10.0, 120.0)
                _record_rating(rng, recorder, search_id, hotel)
            return True
        if bounced:
            recorder.record("back", search_id=search_id, hotel_id=hotel.hotel_id)
            recorder.pause_between(2.0, 25.0)
        elif rng.random() < _RATE_AFTER_CLICK_SHARE:
            _record_rating(rng, recorder, search_id, hotel)
            recorder.pause_between(3.0, 30.0)
    return False


def _record_rating(rng: random.Random, recorder: _SessionRecorder, search_id: str, hotel: Hotel) -> None:
    """A 1-5 star rating, close to the hotel's shown rating when it has one."""
    centre = hotel.rating if hotel.rating is not None else 3.5
    stars = min(5, max(1, round(centre + rng.gauss(0.0, 0.8))))
    recorder.record("rate", search_id=search_id, hotel_id=hotel.hotel_id, rating=float(stars))


def paced(actions: Iterable[Record], events_per_second: float) -> Iterator[Record]:
    """Yield ``actions`` no faster than ``events_per_second`` (a target rate for load tests and demos)."""
    if events_per_second <= 0:
        raise ValueError("events_per_second must be positive")
    started = time.monotonic()
    for sent, action in enumerate(actions):
        due = started + sent / events_per_second
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        yield action
