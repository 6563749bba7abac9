"""bench/gateway.py runs end to end (briefly), so the benchmark cannot rot between measurements."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rankfeed.local.stack import Stack

BENCH = Path(__file__).resolve().parents[2] / "bench" / "gateway.py"


def test_the_gateway_benchmark_runs_and_checks_its_own_events(stack: Stack) -> None:
    command = [
        sys.executable,
        str(BENCH),
        "--seconds",
        "1",
        "--sessions",
        "40",
        "--single-connections",
        "4",
        "--batch-connections",
        "2",
        "--load-generator",
        "python",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "| single event, 4 connections |" in result.stdout
    assert "| raw producer (pre-encoded Avro, 1 process) |" in result.stdout
    assert "failures: single 0, batch 0" in result.stdout
    assert "— consistent;" in result.stdout
