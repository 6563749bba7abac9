"""bench/gateway.py runs end to end (briefly), so the benchmark cannot rot between measurements."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from rankfeed.local.stack import Stack

BENCH = Path(__file__).resolve().parents[2] / "bench" / "gateway.py"


def test_the_gateway_benchmark_runs_and_checks_its_own_events(stack: Stack, tmp_path: Path) -> None:
    command = [
        sys.executable,
        str(BENCH),
        "--seconds",
        "2",
        "--sessions",
        "40",
        "--single-connections",
        "4",
        "--batch-connections",
        "2",
        "--load-generator",
        "python",
        "--output-dir",
        str(tmp_path),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "| gateway | single event, 4 connections |" in result.stdout
    assert "| raw producer (pre-encoded Avro, 1 process): " in result.stdout
    assert "failures: single 0, batch 0" in result.stdout

    written = json.loads((tmp_path / "gateway.json").read_text(encoding="utf-8"))
    single, batch, on_topic = written["figures"]
    for figure in (single, batch):
        assert figure["value"] > 0 and figure["baseline_value"] > 0
        latency = figure["latency_ms"]
        assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["p99.9"]
    assert on_topic["met"], on_topic  # the topic holds every event answered 202
    labels = {series["label"]: series for series in written["series"]}
    assert len(labels["single event, 4 connections"]["values"]) >= 1
    assert labels["raw producer (pre-encoded Avro, 1 process)"]["baseline"]
    assert all(sum(series["values"]) > 0 for series in labels.values())
