"""The tracker in a real Chromium on the demo site, through real gateways, the broker and the labelling job.

One job run carries every scripted visit (each in its own browser context, so its own user and session), and
the module pays for one submission. Each visit counts its events three times: tracked by the page, on the raw
``user-actions`` topic (where "exactly once" must hold without the job's dedup) and on ``user-actions-clean``.
The figures are written to ``build/tracker-browser-figures.json``.
"""

from __future__ import annotations

import json
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser

from rankfeed import schemas
from rankfeed.local.stack import Stack
from rankfeed.pipeline import LABELLING, cancel
from rankfeed.producer import make_producer, send_heartbeats
from rankfeed.settings import BUILD_DIR, JobSettings, KafkaSettings, Topics
from rankfeed.types import Record
from tests.job.test_feedback_semantics import submit
from tests.tracker.conftest import TopicLog, Visit, Visits

FIGURES = BUILD_DIR / "tracker-browser-figures.json"
#: How long the gateway stays down in the outage visit.
OUTAGE_SECONDS = 20


@dataclass
class Scenario:
    """What one visit did and what reached Kafka of it."""

    tracked: list[dict[str, Any]] = field(default_factory=list)
    raw: Counter[str] = field(default_factory=Counter)
    clean: Counter[str] = field(default_factory=Counter)
    #: Anything else a test asserts on (answers seen, waits, labels).
    facts: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def ids(self) -> set[str]:
        return {event["event_id"] for event in self.tracked}

    def figures(self) -> dict[str, int]:
        return {
            "sent_by_page": len(self.ids),
            "user_actions": sum(self.raw.values()),
            "user_actions_clean": sum(self.clean.values()),
        }

    def assert_exactly_once(self) -> None:
        assert self.error is None, self.error
        assert self.tracked, "the visit tracked nothing"
        assert self.raw == Counter(dict.fromkeys(self.ids, 1)), f"raw user-actions: {self.figures()}"


# -- the visits --------------------------------------------------------------------------------------


def scroll_through(page: Any, positions: range) -> None:
    """Bring each result into view long enough to be an impression (FAST: 200 ms)."""
    for position in positions:
        page.locator(f"#hotel-{position}").scroll_into_view_if_needed()
        page.wait_for_timeout(300)


def labels_visit(visit: Visit, raw: TopicLog, scenario: Scenario) -> None:
    """search → scroll → click → back within 3 s → click → book."""
    visit.gateway.start()
    page = visit.open("/?q=paris")
    scroll_through(page, range(1, 13))
    page.click("#hotel-2")
    page.wait_for_selector("#book")
    page.wait_for_timeout(500)
    page.go_back(wait_until="commit")  # a back-forward cache restore fires no load event
    page.wait_for_selector("#hotel-4")
    page.wait_for_timeout(500)
    page.click("#hotel-4")
    page.wait_for_selector("#book")
    page.wait_for_timeout(500)
    page.click("#book")
    page.wait_for_selector("#booked")
    scenario.facts["restored_from_bfcache"] = page.evaluate("performance.getEntriesByType('navigation')[0].type")
    scenario.tracked = visit.tracked
    scenario.raw = visit.finish(raw)


def leave_visit(visit: Visit, raw: TopicLog, scenario: Scenario) -> None:
    """A half-full batch when the page is left (navigated away), and another when its tab is closed."""
    visit.gateway.start()
    page = visit.open("/?q=rome")
    scroll_through(page, range(1, 6))
    page.evaluate("rankfeedTracker.rate('rome-02', 4.5)")
    page.wait_for_timeout(300)
    scenario.facts["requests_before_leaving"] = sum(1 for _, kind, _ in visit.exchanges if kind == "request")
    scenario.facts["tracked_before_leaving"] = len(visit.tracked)
    page.goto("about:blank")
    closing = visit.open("/?q=berlin")
    scroll_through(closing, range(1, 4))
    closing.close(run_before_unload=True)
    scenario.tracked = visit.tracked
    scenario.raw = visit.finish(raw)


def outage_visit(visit: Visit, raw: TopicLog, scenario: Scenario) -> None:
    """The gateway goes down for 20 s while the user scrolls, reloads, opens a hotel and books it."""
    visit.gateway.start()
    page = visit.open("/?q=berlin")
    page.wait_for_timeout(1000)
    visit.gateway.stop()
    down = time.monotonic()
    scroll_through(page, range(1, 7))
    wait_for_failure(visit)
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    wait_for_failure(visit)
    page.click("#hotel-3")
    page.wait_for_selector("#book")
    page.click("#book")
    page.wait_for_selector("#booked")
    page.wait_for_timeout(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down)) * 1000)
    scenario.facts["queued_in_storage"] = page.evaluate(
        "Object.keys(localStorage).filter((key) => key.startsWith('rankfeed:q:')).length"
    )
    scenario.facts["outage_seconds"] = time.monotonic() - down
    visit.gateway.start()
    scenario.tracked = visit.tracked
    scenario.raw = visit.finish(raw)


def wait_for_failure(visit: Visit, timeout_seconds: float = 10) -> None:
    """Until a request to the (stopped) gateway has failed since this call."""
    since = time.monotonic()
    deadline = since + timeout_seconds
    while not any(failed >= since for failed in visit.failures):
        assert time.monotonic() < deadline, "no request to the stopped gateway failed"
        visit.pump(0.1)


def retry_after_visit(visit: Visit, raw: TopicLog, scenario: Scenario, status: int) -> None:
    """A 503 (Kafka unreachable) or 429 (rate limit) with Retry-After: the tracker waits at least that long."""
    if status == 503:
        # The same gateway, but its Kafka is unreachable: every write is 503 with Retry-After: 3.
        visit.gateway.start(ready=False, kafka=KafkaSettings(bootstrap_servers="127.0.0.1:1"), retry_after_seconds=3)
        page = visit.open("/?q=rome")
        wait_for_answer(visit, 503)
        visit.gateway.stop()
        visit.gateway.start()
    else:
        # Two events a second, five at most at once: the second batch of five waits for tokens.
        visit.gateway.start(rate_limit_events_per_second=2, rate_limit_burst_events=5, max_batch_events=5)
        page = visit.open("/?q=rome")
        page.evaluate("for (let i = 1; i <= 9; i++) rankfeedTracker.rate(`rome-0${i}`, 4)")
        wait_for_answer(visit, 429)
    refused = wait_for_answer(visit, status)
    wait_for_answer(visit, 202, after=refused)
    scenario.tracked = visit.tracked
    scenario.raw = visit.finish(raw)
    answered_at, _, retry_after = visit.exchanges[refused]
    following = [at for at, kind, _ in visit.exchanges[refused + 1 :] if kind == "request"]
    scenario.facts.update(retry_after=retry_after, wait=following[0] - answered_at if following else None)


def wait_for_answer(visit: Visit, status: int, after: int = 0, timeout_seconds: float = 20) -> int:
    """Until the gateway has answered ``status`` after the first ``after`` exchanges; returns that answer's index."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        found = [index for index, (_, kind, _) in enumerate(visit.exchanges) if kind == status and index >= after]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"the gateway never answered {status}"
        visit.pump(0.1)


def two_tabs_visit(visit: Visit, raw: TopicLog, scenario: Scenario) -> None:
    """Two tabs of one browser share the localStorage queue while the gateway is down; one is closed; the
    other sends its events and adopts the closed tab's, and nothing is sent twice."""
    first = visit.open("/?q=paris")
    second = visit.open("/?q=rome")
    scroll_through(first, range(1, 4))
    scroll_through(second, range(1, 4))
    first.evaluate("rankfeedTracker.rate('paris-01', 5)")
    second.evaluate("rankfeedTracker.rate('rome-01', 3)")
    wait_for_failure(visit)
    scenario.facts["queues_in_storage"] = second.evaluate(
        "Object.keys(localStorage).filter((key) => key.startsWith('rankfeed:q:')).length"
    )
    first.close()
    visit.gateway.start()
    scenario.tracked = visit.tracked
    scenario.raw = visit.finish(raw)


VISITS: dict[str, tuple[dict[str, Any], Callable[[Visit, TopicLog, Scenario], None]]] = {
    "labels": ({}, labels_visit),
    "leave_with_half_full_batch": ({"flushIntervalMs": 60_000}, leave_visit),
    "gateway_down_20s": ({}, outage_visit),
    "503_retry_after": ({}, lambda visit, raw, scenario: retry_after_visit(visit, raw, scenario, 503)),
    "429_retry_after": (
        {"maxBatchEvents": 5},
        lambda visit, raw, scenario: retry_after_visit(visit, raw, scenario, 429),
    ),
    "two_tabs": ({}, two_tabs_visit),
}


# -- one job run for all visits ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def outcome(
    stack: Stack, bootstrap_servers: str, browser: Browser, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Scenario]]:
    job_ids, topics = submit(
        stack, bootstrap_servers, tmp_path_factory.mktemp("browser"), JobSettings(), jobs=(LABELLING,)
    )
    visits = Visits(browser, bootstrap_servers)
    raw = TopicLog(bootstrap_servers, topics.user_actions)
    scenarios: dict[str, Scenario] = {}
    try:
        for name, (options, run) in VISITS.items():
            scenario = scenarios[name] = Scenario()
            try:
                run(visits.open(topics, **options), raw, scenario)
            except Exception:  # noqa: BLE001 — one visit's failure fails that visit's test, not every test
                scenario.error = traceback.format_exc()
        _close_sessions_and_read(bootstrap_servers, topics, scenarios)
    finally:
        visits.close()
        raw.close()
        cancel(stack.flink, job_ids)
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    FIGURES.write_text(json.dumps({name: scenario.figures() for name, scenario in scenarios.items()}, indent=1))
    yield scenarios


def _close_sessions_and_read(bootstrap_servers: str, topics: Topics, scenarios: dict[str, Scenario]) -> None:
    """Heartbeats two hours ahead close every session; then the clean events and the labels are read."""
    send_heartbeats(make_producer(bootstrap_servers), topics.user_actions, datetime.now(UTC) + timedelta(hours=2))
    every_id = {event_id for scenario in scenarios.values() for event_id in scenario.ids}
    clean = TopicLog(bootstrap_servers, topics.user_actions_clean)
    try:
        clean.wait_for(lambda: every_id, time.sleep, timeout_seconds=90)
        for scenario in scenarios.values():
            scenario.clean = clean.counts(scenario.ids)
    finally:
        clean.close()
    labels = scenarios["labels"]
    sessions = {event["session_id"] for event in labels.tracked}
    examples = TopicLog(bootstrap_servers, topics.ltr_examples, schemas.LTR_EXAMPLE)
    try:
        deadline = time.monotonic() + 60
        while len(_examples(examples.records, sessions)) < 12 and time.monotonic() < deadline:
            examples.read(0.5)
        examples.read(1.0)
        labels.facts["examples"] = _examples(examples.records, sessions)
    finally:
        examples.close()


def _examples(records: list[Record], sessions: set[str]) -> list[tuple[str, int, str, int]]:
    rows = sorted((r for r in records if r["session_id"] in sessions), key=lambda r: r["position"])
    return [(r["hotel_id"], r["position"], r["label_kind"], r["label"]) for r in rows]


# -- the tests -----------------------------------------------------------------------------------------


def test_a_scripted_visit_yields_exactly_the_expected_labels(outcome: dict[str, Scenario]) -> None:
    labels = outcome["labels"]
    labels.assert_exactly_once()
    kinds = [event["action_type"] for event in labels.tracked]
    first_click = kinds.index("click")
    assert kinds[first_click + 1] == "back", kinds
    back_after = labels.tracked[first_click + 1]["timestamp"] - labels.tracked[first_click]["timestamp"]
    assert back_after < 3000, "the back came within 3 s of the click"
    assert labels.facts["restored_from_bfcache"] == "navigate", "the results page came back from the bfcache"
    assert kinds.count("search") == 1, "back to the results is not a new search"
    # Quick-back −1 on the first click, book 2 on the second; the rest down to the deepest position seen
    # (the scroll depth, 12) were examined and not clicked: ignores.
    expected = [(f"paris-{p:02d}", p, "ignore", 0) for p in range(1, 13)]
    expected[1] = ("paris-02", 2, "quick_back", -1)
    expected[3] = ("paris-04", 4, "book", 2)
    assert labels.facts["examples"] == expected
    assert labels.clean == labels.raw


def test_leaving_the_page_with_a_half_full_batch_loses_nothing(outcome: dict[str, Scenario]) -> None:
    left = outcome["leave_with_half_full_batch"]
    left.assert_exactly_once()
    assert left.facts["requests_before_leaving"] == 0, "the batch was still waiting when the page was left"
    assert left.facts["tracked_before_leaving"] >= 2
    assert left.clean == left.raw


def test_every_event_queued_during_a_20_s_outage_arrives_exactly_once(outcome: dict[str, Scenario]) -> None:
    outage = outcome["gateway_down_20s"]
    outage.assert_exactly_once()
    assert outage.facts["outage_seconds"] >= OUTAGE_SECONDS
    assert outage.facts["queued_in_storage"] == 1, "the queue waited in localStorage, across a reload and a page"
    actions = Counter(event["action_type"] for event in outage.tracked)
    assert actions["book"] == 1 and actions["click"] == 1 and actions["impression"] >= 1
    assert outage.clean == outage.raw


@pytest.mark.parametrize("status", [503, 429])
def test_retry_after_is_respected(outcome: dict[str, Scenario], status: int) -> None:
    scenario = outcome[f"{status}_retry_after"]
    scenario.assert_exactly_once()
    retry_after = scenario.facts["retry_after"]
    assert retry_after is not None and int(retry_after) >= 1
    # Seen by the test a few ms after the browser's own moments; no request came before Retry-After had passed.
    assert scenario.facts["wait"] is not None and scenario.facts["wait"] >= int(retry_after) - 0.05
    assert scenario.clean == scenario.raw


def test_two_tabs_sharing_the_queue_send_no_event_twice(outcome: dict[str, Scenario]) -> None:
    tabs = outcome["two_tabs"]
    tabs.assert_exactly_once()
    assert tabs.facts["queues_in_storage"] == 2, "each tab queued under its own key"
    assert len({event["session_id"] for event in tabs.tracked}) == 1, "one session across the tabs"
    assert tabs.clean == tabs.raw


def test_the_figures_are_written(outcome: dict[str, Scenario]) -> None:
    written = json.loads(Path(FIGURES).read_text())
    assert set(written) == set(VISITS)
    assert all(figures["sent_by_page"] > 0 for figures in written.values())
