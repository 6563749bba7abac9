"""bench/overload.py, shortened: 10 s at twice the measured capacity, then recovery. Every behaviour
check must hold: excess load refused with 429/503, no other 5xx or connection errors, memory
bounded, requests acknowledged again once the overload ends. Its wall-clock bounds (refusal p99,
recovery rate and p99) are reported, not judged: a busy machine moves them (``make overload`` judges
them; CI failed once on the recovery rate, 473 of 541 req/s, while the machine was busy).

Marked slow: it loads both cores for about 40 s. ``make overload`` runs the full 60 s version.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rankfeed.local.stack import Stack

BENCH = Path(__file__).resolve().parents[2] / "bench" / "overload.py"


@pytest.mark.slow
def test_twice_the_capacity_is_refused_fast_with_bounded_memory_and_recovers(stack: Stack, tmp_path: Path) -> None:
    command = [
        sys.executable,
        str(BENCH),
        "--seconds",
        "10",
        "--capacity-seconds",
        "5",
        "--baseline-seconds",
        "5",
        "--recovery-seconds",
        "10",
        "--output-dir",
        str(tmp_path),
        "--behaviour-only",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    report = result.stdout + result.stderr[-3000:]
    assert result.returncode == 0, report
    written = (tmp_path / "overload.md").read_text()
    assert "| overload | 10 |" in written and "**FAILED**" not in written, written
    for behaviour in ("excess load refused", "5xx other than 503", "resident memory", "recovery: acknowledged again"):
        assert f"| {behaviour}" in written, written
    assert (tmp_path / "overload.png").stat().st_size > 0
