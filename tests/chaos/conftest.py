"""The chaos tests' own stack (ports 29092, 28081, 28000, 28002; build/chaos), started and stopped by one run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rankfeed.chaos.runner import RunOptions, ScenarioResult, run

#: The faults short enough for `make test`; `make chaos` runs all five, with longer load.
SHORT_SCENARIOS = ("gateway", "taskmanager", "savepoint")


@pytest.fixture(scope="session")
def chaos_results() -> Iterator[dict[str, ScenarioResult]]:
    """One chaos run of the short scenarios: the stack is started, used and stopped inside it."""
    options = RunOptions(scenarios=SHORT_SCENARIOS, before_seconds=6.0, after_seconds=10.0)
    results = run(options, log=lambda line: print(line, flush=True))
    yield {result.fault.name: result for result in results}
