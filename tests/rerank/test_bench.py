"""bench/rerank.py runs end to end (briefly), so the benchmark cannot rot between measurements."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from rankfeed.local.stack import Stack

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_the_rerank_benchmark_runs_and_its_result_feeds_the_report(stack: Stack, tmp_path: Path) -> None:
    env = {**os.environ, "RANKFEED_BENCH_QUICK": "1"}  # 1 s, 2,000 hotels, 2 connections
    # The asyncio client: wrk is what `make bench` uses, but the test must not depend on it.
    command = [sys.executable, str(BENCH / "rerank.py"), "--load-generator", "python", "--output-dir", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, check=False)

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "| rerank | POST /v1/rerank, 100 ids, 2 keep-alive connections |" in result.stdout
    assert "| Scorer.rank in-process, same inputs: " in result.stdout
    assert "failures: 0;" in result.stdout

    written = json.loads((tmp_path / "rerank.json").read_text(encoding="utf-8"))
    assert written["quick"] is True
    served = written["figures"][0]
    assert served["latency_ms"]["p50"] <= served["latency_ms"]["p99"] <= served["latency_ms"]["p99.9"]
    assert served["baseline_latency_ms"]["p50"] > 0
    assert [series["baseline"] for series in written["series"]] == [False, True]

    report = subprocess.run(
        [sys.executable, str(BENCH / "report.py"), "--results-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert report.returncode == 0, report.stdout[-3000:] + report.stderr[-3000:]
    latest = (tmp_path / "latest.md").read_text(encoding="utf-8")
    assert "| rerank | POST /v1/rerank, 100 ids, 2 keep-alive connections |" in latest
    assert (tmp_path / "throughput-rerank.png").read_bytes()[:4] == b"\x89PNG"
