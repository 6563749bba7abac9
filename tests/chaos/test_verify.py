"""The chaos verifier's arithmetic, on hand-made outputs: no stack needed."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from rankfeed import simulate
from rankfeed.chaos.verify import Expected, Outputs, ltr_key


def _actions() -> dict[str, dict[str, object]]:
    shape = simulate.TrafficShape(sessions=30, seed=5, start=datetime(2026, 11, 27, tzinfo=UTC), duplicate_share=0)
    return {action["event_id"]: action for action in simulate.generate(shape)}


def test_expectations_follow_the_job_semantics() -> None:
    actions = _actions()
    expected = Expected.from_actions(actions, actions)
    clicks_and_books = {i for i, a in actions.items() if a["action_type"] in ("click", "book")}
    assert expected.feedback == clicks_and_books
    assert expected.ltr == {ltr_key(actions[i]["search_id"], actions[i]["hotel_id"]) for i in clicks_and_books}
    assert not expected.unacked


def test_an_unacknowledged_search_expects_no_example_for_its_clicks() -> None:
    actions = _actions()
    search = next(i for i, a in actions.items() if a["action_type"] == "search")
    expected = Expected.from_actions(actions, set(actions) - {search})
    assert search in expected.unacked
    assert not any(key.startswith(f"{actions[search]['search_id']}|") for key in expected.ltr)


def test_missing_duplicated_and_unacknowledged_twice_are_counted_per_sink() -> None:
    actions = _actions()
    ids = sorted(actions)
    acked, unacked = set(ids[:-1]), ids[-1]
    expected = Expected.from_actions(actions, acked)
    events = Counter(acked)
    missing, duplicated = ids[0], ids[1]
    events[missing] = 0
    events[duplicated] = 2
    events[unacked] = 2
    outputs = Outputs(counts={"events (Parquet)": events, "ltr-examples": Counter(expected.ltr)})
    checks = {check.sink: check for check in outputs.check(expected)}
    assert checks["events (Parquet)"].missing == (missing,)
    assert checks["events (Parquet)"].duplicated == (duplicated,)
    assert checks["events (Parquet)"].unacked_twice == (unacked,)
    assert checks["ltr-examples"].ok and checks["ltr-examples"].present == len(expected.ltr)
