"""bench/rerank.py runs end to end (briefly), so the benchmark cannot rot between measurements."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rankfeed.local.stack import Stack

BENCH = Path(__file__).resolve().parents[2] / "bench" / "rerank.py"


def test_the_rerank_benchmark_runs_and_writes_its_table(stack: Stack, tmp_path: Path) -> None:
    output = tmp_path / "rerank.md"
    command = [sys.executable, str(BENCH), "--seconds", "1", "--hotels", "2000", "--bodies", "20"]
    result = subprocess.run(
        [*command, "--connections", "2", "--output", str(output)], capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "| POST /v1/rerank, 100 ids, 2 keep-alive connections |" in result.stdout
    assert "| baseline: Scorer.rank in-process, same inputs |" in result.stdout
    assert "failures: 0;" in result.stdout
    assert output.read_text(encoding="utf-8").startswith("### Re-rank endpoint (2,000 hotels)\n\n| measurement |")
