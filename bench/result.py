"""The machine-readable result each benchmark writes to bench/results/<name>.json, read by bench/report.py.

A result holds every figure beside the baseline measured in the same run, the per-second throughput
of each measured phase, latency percentiles where there are latencies, the parameters, and the
run's window: when, the load average before and after, and the cores other processes used meanwhile
(the machine is shared, so a figure means little without them).

``RANKFEED_BENCH_QUICK=1`` makes every benchmark's defaults small (seconds instead of minutes), for
tests and for trying the scripts out; quick results say so and are never a measurement to quote.
"""

from __future__ import annotations

import itertools
import math
import os
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

from rankfeed.local.procs import pid_alive
from rankfeed.local.stack import Stack
from rankfeed.settings import REPO_ROOT, StackSettings

RESULTS_DIR = REPO_ROOT / "bench" / "results"
QUICK = os.environ.get("RANKFEED_BENCH_QUICK", "") not in ("", "0")
PERCENTILES = {"p50": 0.50, "p90": 0.90, "p99": 0.99, "p99.9": 0.999}

T = TypeVar("T")


def quick(full: T, small: T) -> T:
    """``small`` when RANKFEED_BENCH_QUICK is set, else ``full``: the default of one parameter."""
    return small if QUICK else full


class Model(BaseModel):
    # A figure that could not be measured (no probe came back) is NaN, written as NaN, not null.
    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="constants")


class Figure(Model):
    """One measured figure beside its same-run baseline."""

    measure: str
    value: float
    unit: str
    baseline: str | None = None
    baseline_value: float | None = None
    #: The baseline's unit when it is not the figure's (calls/s beside req/s).
    baseline_unit: str | None = None
    target: str = ""
    #: None when the figure has no target.
    met: bool | None = None
    #: Latency percentiles in ms (``PERCENTILES``), of the figure and of its baseline, where measured.
    latency_ms: dict[str, float] | None = None
    baseline_latency_ms: dict[str, float] | None = None

    @property
    def ratio(self) -> float | None:
        if not self.baseline_value:
            return None
        return self.value / self.baseline_value


class Series(Model):
    """Throughput of one phase, per second since the phase started (the value at ``seconds[i]`` is
    what happened between ``seconds[i] - 1`` and ``seconds[i]``)."""

    label: str
    unit: str
    baseline: bool = False
    seconds: list[float]
    values: list[float]

    @classmethod
    def from_counts(
        cls, label: str, unit: str, samples: Sequence[tuple[float, float]], baseline: bool = False
    ) -> Series:
        """From (seconds since start, cumulative count) samples, interpolated linearly at each whole second
        after the first sample (which may be before the start); a last, partial second is left out."""
        points = sorted(samples)
        seconds: list[float] = []
        values: list[float] = []
        if len(points) < 2:
            return cls(label=label, unit=unit, baseline=baseline, seconds=seconds, values=values)
        origin = points[0][0]
        previous = points[0][1]
        span = points[-1][0] - origin
        if span < 1:  # all within a second: one point, the mean rate over that span
            return cls(
                label=label,
                unit=unit,
                baseline=baseline,
                seconds=[round(points[-1][0], 2)],
                values=[(points[-1][1] - previous) / span] if span > 0 else [],
            )
        for second in range(1, math.floor(points[-1][0] - origin) + 1):
            current = _interpolate(points, origin + second)
            seconds.append(round(origin + second, 2))
            values.append(current - previous)
            previous = current
        return cls(label=label, unit=unit, baseline=baseline, seconds=seconds, values=values)

    @classmethod
    def from_times(cls, label: str, unit: str, times: Iterable[float], baseline: bool = False) -> Series:
        """From the seconds since start at which each event completed; the last, partial second is left out."""
        counts: dict[int, int] = {}
        last = 0.0
        for moment in times:
            counts[int(moment)] = counts.get(int(moment), 0) + 1
            last = max(last, moment)
        full = range(int(last))
        return cls(
            label=label,
            unit=unit,
            baseline=baseline,
            seconds=[float(second + 1) for second in full],
            values=[float(counts.get(second, 0)) for second in full],
        )


def _interpolate(points: list[tuple[float, float]], at: float) -> float:
    if at <= points[0][0]:
        return points[0][1]
    for (t0, c0), (t1, c1) in itertools.pairwise(points):
        if t0 <= at <= t1:
            return c0 if t1 == t0 else c0 + (c1 - c0) * (at - t0) / (t1 - t0)
    return points[-1][1]


def percentiles_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50, p90, p99 and p99.9 in ms of latencies given in seconds (nearest rank)."""
    ordered = sorted(seconds)
    if not ordered:
        return {}
    return {
        name: ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000 for name, share in PERCENTILES.items()
    }


# -- the run's window: when, and how busy the machine was ---------------------------------------

_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux /proc); 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_SECOND


def process_tree(pid: int) -> list[int]:
    found = [pid]
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            listed = children.read_text().split()
        except OSError:
            continue
        for child in listed:
            found.extend(process_tree(int(child)))
    return found


def machine_busy_seconds() -> float:
    """Seconds all cores spent not idle since boot (/proc/stat)."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks[:8]) - idle) / _TICKS_PER_SECOND


class CpuMeter:
    """Cores used by process trees between ``start`` and ``stop`` (Linux /proc), plus this process and
    its children as "load generator" and everything else on the machine as "other processes"."""

    def __init__(self, roots: dict[str, int | None]) -> None:
        self.roots = {name: pid for name, pid in roots.items() if pid is not None}
        self._before: dict[str, float] = {}
        self._started = 0.0

    def _now(self) -> dict[str, float]:
        usage = {name: sum(cpu_seconds(pid) for pid in process_tree(root)) for name, root in self.roots.items()}
        children = os.times()
        usage["load generator"] = children.children_user + children.children_system + time.process_time()
        usage["other processes"] = machine_busy_seconds() - sum(usage.values())
        return usage

    def start(self) -> None:
        self._before = self._now()
        self._started = time.monotonic()

    def stop(self) -> dict[str, float]:
        elapsed = time.monotonic() - self._started
        after = self._now()
        return {name: (after[name] - self._before.get(name, 0.0)) / elapsed for name in after}


def stack_pids() -> dict[str, int | None]:
    """The local stack's broker and Flink processes, which a benchmark counts as its own, not as others'."""
    stack = Stack(StackSettings())
    pids: dict[str, int | None] = {"broker": stack.broker.pid()}
    for pid_file in sorted(stack.flink.home.glob("flink-*.pid")):
        for n, line in enumerate(pid_file.read_text().split()):
            if line.isdigit() and pid_alive(int(line)):
                pids[f"flink {pid_file.stem.rsplit('-', 1)[-1]} {n}"] = int(line)
    return pids


class Window(Model):
    """When a benchmark ran and how busy the machine was: 1/5/15-min load averages before and after,
    and the cores processes other than the benchmark's own (its children, the broker, Flink) used."""

    started_at: datetime
    finished_at: datetime
    seconds: float
    load_before: list[float]
    load_after: list[float]
    other_cores: float


class WindowMeter:
    """Started when a benchmark starts; ``result`` stops it and makes the benchmark's ``Result``."""

    def __init__(self) -> None:
        self.started_at = datetime.now(UTC)
        self.load_before = list(os.getloadavg())
        self.meter = CpuMeter(stack_pids())
        self.meter.start()
        self._began = time.monotonic()

    def stop(self) -> Window:
        cores = self.meter.stop()
        return Window(
            started_at=self.started_at,
            finished_at=datetime.now(UTC),
            seconds=time.monotonic() - self._began,
            load_before=self.load_before,
            load_after=list(os.getloadavg()),
            other_cores=max(0.0, cores["other processes"]),
        )

    def result(
        self,
        name: str,
        title: str,
        parameters: dict[str, Any],
        figures: list[Figure],
        series: list[Series],
        notes: list[str],
    ) -> Result:
        return Result(
            name=name,
            title=title,
            command=f"make bench-{name}",
            quick=QUICK,
            parameters=parameters,
            figures=figures,
            series=series,
            notes=notes,
            window=self.stop(),
        )


class Result(Model):
    name: str
    title: str
    command: str
    quick: bool
    parameters: dict[str, Any]
    figures: list[Figure]
    series: list[Series]
    notes: list[str] = []
    window: Window

    def write(self, folder: Path = RESULTS_DIR) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.name}.json"
        path.write_text(self.model_dump_json(indent=1) + "\n", encoding="utf-8")
        return path

    @classmethod
    def read(cls, path: Path) -> Result:
        return cls.model_validate_json(path.read_text(encoding="utf-8"))


def count(value: float, unit: str) -> str:
    """A figure as the tables print it: thousands separators for rates, decimals for small values."""
    if math.isnan(value):
        return f"n/a {unit}"
    if unit == "s" and abs(value) < 1:
        return f"{value * 1000:.1f} ms"
    if abs(value) >= 100:
        return f"{value:,.0f} {unit}"
    if abs(value) >= 10:
        return f"{value:.1f} {unit}"
    return f"{value:.2f} {unit}"


def verdict(met: bool | None) -> str:
    return "" if met is None else ("met" if met else "**missed**")


def table(results: Sequence[Result]) -> str:
    """One markdown table: every figure beside its same-run baseline, the ratio, the target and the verdict."""
    rows = [
        "| bench | measure | result | p50 / p99 | same-run baseline | ratio | target | |",
        "|---|---|---:|---:|---|---:|---|---|",
    ]
    for result in results:
        for figure in result.figures:
            latency = figure.latency_ms or {}
            percentiles = f"{_ms(latency['p50'])} / {_ms(latency['p99'])}" if latency else ""
            baseline = ""
            if figure.baseline is not None and figure.baseline_value is not None:
                unit = figure.baseline_unit or figure.unit
                baseline = f"{figure.baseline}: {count(figure.baseline_value, unit)}"
            ratio = "" if figure.ratio is None else f"{figure.ratio:.2f}"
            rows.append(
                f"| {result.name} | {figure.measure} | {count(figure.value, figure.unit)} | {percentiles} "
                f"| {baseline} | {ratio} | {figure.target} | {verdict(figure.met)} |"
            )
    return "\n".join(rows)


def _ms(value: float) -> str:
    return f"{value / 1000:.1f} s" if value >= 1000 else f"{value:.2f} ms"
