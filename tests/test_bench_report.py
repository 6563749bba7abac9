"""bench/report.py turns the benchmarks' result files into latest.md, PNG plots and the README block.

The first tests write small result files with bench/result.py (the module every benchmark writes
through) and run the report on them, so they need no broker; the last runs the job benchmark for
real in quick mode and reports on what it wrote.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import matplotlib.image
import pytest

from rankfeed.local.stack import Stack

BENCH = Path(__file__).resolve().parents[1] / "bench"
README = "# rankfeed\n\nBefore.\n\n<!-- bench:latest -->\nold table\n<!-- /bench:latest -->\n\nAfter.\n"


def bench_module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"rankfeed_bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic resolves the models' annotations through it
    spec.loader.exec_module(module)
    return module


result = bench_module("result")


def write_results(folder: Path, other_cores: float = 0.1) -> None:
    """Three small results shaped as the benchmarks write them, each run in its own minute."""
    latency = {"p50": 3.5, "p90": 5.0, "p99": 8.25, "p99.9": 14.0}
    figures = {
        "gateway": [
            result.Figure(
                measure="single event, 48 connections",
                value=12_276.0,
                unit="ev/s",
                baseline="raw producer (pre-encoded Avro, 1 process)",
                baseline_value=635_215.0,
                target="≥ 10,000 req/s, p99 ≤ 10 ms",
                met=True,
                latency_ms=latency,
            )
        ],
        "job": [
            result.Figure(
                measure="feedback job, exactly once to Kafka + Parquet",
                value=8_368.0,
                unit="ev/s",
                baseline="pass-through job (Kafka → blackhole)",
                baseline_value=986_097.0,
                target="≥ 50,000 ev/s and ≥ 0.3 × pass-through",
                met=False,
            ),
            result.Figure(
                measure="feedback freshness p99 (40 probes)",
                value=20.1,
                unit="s",
                baseline="the click on the input topic (Kafka alone), p99",
                baseline_value=0.012,
                target="p99 ≤ T + 5 s = 15 s",
                met=False,
                latency_ms={"p50": 13_300.0, "p90": 17_000.0, "p99": 20_100.0, "p99.9": 20_100.0},
                baseline_latency_ms={"p50": 4.0, "p90": 8.0, "p99": 12.0, "p99.9": 12.0},
            ),
        ],
        "rerank": [
            result.Figure(
                measure="POST /v1/rerank, 100 ids, 8 keep-alive connections",
                value=3_568.0,
                unit="req/s",
                baseline="Scorer.rank in-process, same inputs",
                baseline_value=6_789.0,
                baseline_unit="calls/s",
                target="p99 ≤ 10 ms",
                met=True,
                latency_ms=latency,
                baseline_latency_ms={"p50": 0.14, "p90": 0.16, "p99": 0.3, "p99.9": 1.2},
            )
        ],
    }
    series = {
        "gateway": [
            result.Series(label="single event", unit="ev/s", seconds=[1.0, 2.0, 3.0], values=[12_000, 12_500, 12_300]),
            result.Series.from_counts("raw producer", "ev/s", [(0.0, 0.0), (2.5, 1_500_000.0)], baseline=True),
        ],
        "job": [result.Series.from_times("feedback job", "ev/s", [n / 1000 for n in range(4500)])],
        "rerank": [],  # a result without series gets no throughput plot
    }
    for minute, name in enumerate(figures):
        started = datetime(2026, 11, 27, 14, 50 + minute, tzinfo=UTC)
        window = result.Window(
            started_at=started,
            finished_at=started + timedelta(seconds=50),
            seconds=50.0,
            load_before=[0.4, 0.5, 0.6],
            load_after=[1.9, 1.0, 0.8],
            other_cores=other_cores,
        )
        written = result.Result(
            name=name,
            title=f"The {name} benchmark",
            command=f"make bench-{name}",
            quick=False,
            parameters={"seconds": 10.0},
            figures=figures[name],
            series=series[name],
            notes=[f"a note about the {name} run"],
            window=window,
        )
        written.write(folder)


def report(folder: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(BENCH / "report.py"), "--results-dir", str(folder), *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    assert path.stat().st_size < 150_000, f"{path} is {path.stat().st_size} bytes: too large to commit"
    height, width, _ = matplotlib.image.imread(path).shape
    assert width >= 300 and height >= 150


def test_every_figure_stands_beside_its_baseline_with_the_ratio_and_verdict(tmp_path: Path) -> None:
    write_results(tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text(README, encoding="utf-8")

    done = report(tmp_path, "--readme", str(readme))

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    latest = (tmp_path / "latest.md").read_text(encoding="utf-8")
    figures = latest.split("## Every figure beside its same-run baseline", 1)[1].split("\n## ", 1)[0]
    rows = {line.split(" | ")[1]: line for line in figures.splitlines() if line.startswith("| ")}
    single = rows["single event, 48 connections"]
    assert "12,276 ev/s" in single
    assert "3.50 ms / 8.25 ms" in single
    assert "raw producer (pre-encoded Avro, 1 process): 635,215 ev/s" in single
    assert "| 0.02 |" in single
    assert single.endswith("| met |")
    feedback = rows["feedback job, exactly once to Kafka + Parquet"]
    assert "pass-through job (Kafka → blackhole): 986,097 ev/s" in feedback
    assert "| 0.01 |" in feedback
    assert feedback.endswith("| **missed** |")
    assert "the click on the input topic (Kafka alone), p99: 12.0 ms" in rows["feedback freshness p99 (40 probes)"]
    assert (
        "Scorer.rank in-process, same inputs: 6,789 calls/s"
        in rows["POST /v1/rerank, 100 ids, 8 keep-alive connections"]
    )
    # The latency table has every percentile of the figures and of the baselines that have latencies.
    assert "| job | feedback freshness p99 (40 probes) | 13.30 s | 17.00 s | 20.10 s | 20.10 s |" in latest
    assert "| rerank | Scorer.rank in-process, same inputs | 0.14 ms | 0.16 ms | 0.30 ms | 1.20 ms |" in latest
    # The machine and how busy it was.
    assert f"{os.cpu_count()} cores" in latest
    assert "Python 3.11" in latest
    assert "Flink 2." in latest
    assert "commit " in latest
    assert "load average before the first: 0.40 / 0.50 / 0.60; after the last: 1.90 / 1.00 / 0.80" in latest
    assert "Quiet enough" in latest
    assert "Quick run" not in latest
    for name in ("throughput-gateway.png", "throughput-job.png", "latency.png"):
        assert f"]({name})" in latest
        assert_png(tmp_path / name)
    assert not (tmp_path / "throughput-rerank.png").exists()  # no series, no plot
    # The README's block is replaced, and only it.
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("# rankfeed\n\nBefore.\n\n<!-- bench:latest -->\nMeasured 2026-11-27 on ")
    assert text.endswith("<!-- /bench:latest -->\n\nAfter.\n")
    assert "old table" not in text
    assert single in text
    assert "![throughput-gateway](bench/results/throughput-gateway.png)" in text


def test_a_contended_machine_and_a_missing_benchmark_are_said(tmp_path: Path) -> None:
    write_results(tmp_path, other_cores=1.4)
    (tmp_path / "job.json").unlink()

    done = report(tmp_path)

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    latest = (tmp_path / "latest.md").read_text(encoding="utf-8")
    assert "**The machine was contended**: other processes used 1.40 of the" in latest
    assert "Not run (no result file): job." in latest
    assert "feedback job" not in latest


def test_figures_from_different_load_generators_are_refused(tmp_path: Path) -> None:
    write_results(tmp_path)
    for name, generator in (("gateway", "wrk"), ("rerank", "python")):
        path = tmp_path / f"{name}.json"
        written = json.loads(path.read_text(encoding="utf-8"))
        written["parameters"]["load_generator"] = generator
        path.write_text(json.dumps(written), encoding="utf-8")

    done = report(tmp_path)

    assert done.returncode != 0
    assert "different load generators (gateway: wrk, rerank: python)" in done.stderr
    assert not (tmp_path / "latest.md").exists()


def test_no_results_is_an_error_that_says_what_to_run(tmp_path: Path) -> None:
    done = report(tmp_path)
    assert done.returncode != 0
    assert "run the benchmarks first (make bench)" in done.stderr


def test_series_are_per_second_rates() -> None:
    # 3,000 events acknowledged evenly over 3 s, sampled irregularly.
    series = result.Series.from_counts("raw", "ev/s", [(0.0, 0.0), (0.5, 500.0), (2.0, 2000.0), (3.0, 3000.0)])
    assert series.seconds == [1.0, 2.0, 3.0]
    assert series.values == pytest.approx([1000.0, 1000.0, 1000.0])
    # Records read before the first sample that saw any are counted from the last sample that saw none.
    read = result.Series.from_counts("read", "ev/s", [(-0.5, 0.0), (0.0, 500.0), (1.5, 2000.0), (1.9, 2000.0)])
    assert read.seconds == [0.5, 1.5]
    assert read.values == pytest.approx([1000.0, 1000.0])
    # A phase shorter than a second (the pass-through job) is one point: its mean rate.
    short = result.Series.from_counts("pass-through", "ev/s", [(-0.25, 0.0), (0.0, 1000.0), (0.25, 2000.0)])
    assert (short.seconds, short.values) == ([0.25], [4000.0])
    # 10 completions in the first second, 5 in the second, and a partial third second left out.
    times = [n / 10 for n in range(10)] + [1 + n / 5 for n in range(5)] + [2.5]
    assert result.Series.from_times("load", "req/s", times).values == [10.0, 5.0]
    assert result.percentiles_ms([n / 1000 for n in range(1000, 0, -1)]) == pytest.approx(
        {"p50": 501.0, "p90": 901.0, "p99": 991.0, "p99.9": 1000.0}
    )


def test_the_job_benchmark_runs_quickly_and_its_result_feeds_the_report(stack: Stack, tmp_path: Path) -> None:
    env = {**os.environ, "RANKFEED_BENCH_QUICK": "1"}
    command = [sys.executable, str(BENCH / "job.py"), "--output-dir", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    written = json.loads((tmp_path / "job.json").read_text(encoding="utf-8"))
    assert written["quick"] is True

    def figure(prefix: str) -> dict[str, Any]:
        found: dict[str, Any] = next(f for f in written["figures"] if f["measure"].startswith(prefix))
        return found

    for name in ("labelling job", "whole pipeline", "I/O-equivalent job"):
        assert figure(name)["value"] > 0 and figure(name)["baseline_value"] > 0, name
    heap = figure("TaskManager heap used")
    assert 0 < heap["value"] <= heap["baseline_value"], heap  # sampled while the pipeline ran, within the maximum
    freshness = figure("feedback freshness p99")
    assert "rocksdb state" in freshness["measure"]  # the default backend, probed first
    assert freshness["latency_ms"]["p50"] <= freshness["latency_ms"]["p99"] <= freshness["latency_ms"]["p99.9"]
    assert freshness["baseline_latency_ms"]["p99"] < freshness["latency_ms"]["p99"]
    catch_up = figure("catch-up: 15,000 actions behind")  # 0.5 min at 500 actions/s in the quick form: more than a
    # pipeline with no backlog trails by (watermark delay + checkpoint + 1 s of traffic), so there is something to drain
    assert catch_up["value"] > 0 and catch_up["baseline_value"] > 0, catch_up
    assert any(series["values"] for series in written["series"] if not series["baseline"])

    reported = report(tmp_path)
    assert reported.returncode == 0, reported.stdout[-3000:] + reported.stderr[-3000:]
    latest = (tmp_path / "latest.md").read_text(encoding="utf-8")
    assert "**Quick run (RANKFEED_BENCH_QUICK)" in latest
    assert f"| job | labelling job, exactly once to Kafka (parallelism {os.cpu_count()}) |" in latest
    assert "| job | whole pipeline, every output exactly once (Kafka + Parquet) |" in latest
    assert "Not run (no result file): gateway, rerank." in latest
    assert_png(tmp_path / "latency.png")
