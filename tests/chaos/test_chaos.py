"""Faults under load on the chaos stack: every event the gateway acknowledged comes out exactly once.

Slow (about three minutes): the run starts its own broker, cluster and gateway. Each scenario must
have had load acknowledged before the fault and after its repair, so none can pass on no data.
"""

from __future__ import annotations

import pytest

from rankfeed.chaos.report import findings
from rankfeed.chaos.runner import ScenarioResult
from tests.chaos.conftest import SHORT_SCENARIOS

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", SHORT_SCENARIOS)
def test_every_acknowledged_event_exactly_once_after_the_fault(
    chaos_results: dict[str, ScenarioResult], name: str
) -> None:
    result = chaos_results[name]
    assert result.error is None, result.error
    assert result.acked_before > 0, "no load was acknowledged before the fault"
    assert result.acked_after > 0, "no load was acknowledged after the fault was cleared"
    assert result.checks, "nothing was verified"
    for check in result.checks:
        assert check.expected > 0, f"{check.sink}: nothing expected, so nothing proven"
        assert not check.missing, f"{check.sink}: {len(check.missing)} acknowledged missing, e.g. {check.missing[:3]}"
        assert not check.duplicated, f"{check.sink}: {len(check.duplicated)} duplicated, e.g. {check.duplicated[:3]}"
        assert not check.unacked_twice, f"{check.sink}: unacknowledged twice, e.g. {check.unacked_twice[:3]}"
    assert not result.late, findings([result])
    # Recovery time is a figure for the chaos report, not a bound a busy machine could break.
    assert result.recovery_seconds is not None, "no event acknowledged after the repair was ever committed"


def test_the_gateway_restart_was_felt_by_clients(chaos_results: dict[str, ScenarioResult]) -> None:
    """A killed gateway refuses connections: the client retried them with the same event_ids."""
    assert chaos_results["gateway"].stats.connection_errors > 0
