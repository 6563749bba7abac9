"""Collects the benchmarks' results (bench/results/<name>.json) into bench/results/latest.md and PNG plots.

latest.md starts with the machine the results were measured on (CPU, cores, RAM, OS, Python, Java,
Flink and Kafka versions, git commit) and how busy it was (load averages before and after, the
cores other processes used during each run: the machine is shared), then one table with every
figure beside its same-run baseline, the ratio, the target and whether it was met, the latency
percentiles, and the plots: throughput per second for each benchmark with its baseline overlaid
(throughput-<name>.png) and the latency percentiles (latency.png).

``make bench`` runs it after the three benchmarks, with ``--readme README.md`` to put the machine
line, the table and a plot between the README's ``bench:latest`` markers. Run it alone with
``.venv/bin/python bench/report.py [--results-dir bench/results]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import confluent_kafka
import matplotlib.pyplot as plt
from result import PERCENTILES, RESULTS_DIR, Result, Window, table

from rankfeed.local.flink_cluster import FlinkCluster
from rankfeed.settings import REPO_ROOT, StackSettings

NAMES = ("gateway", "job", "rerank")
DPI = 80
#: Other processes using more than this share of the cores during a run make its figures low.
CONTENDED_SHARE = 0.25
README_START = "<!-- bench:latest -->"
README_END = "<!-- /bench:latest -->"
#: The plot the README shows: the gateway beside its raw-producer baseline.
README_PLOT = "throughput-gateway.png"


# -- the machine --------------------------------------------------------------------------------


def _first_match(pattern: str, text: str, default: str = "unknown") -> str:
    match = re.search(pattern, text, re.MULTILINE)
    return match.group(1).strip() if match else default


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError:
        return ""


def _run(*command: str) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False, cwd=REPO_ROOT)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout + done.stderr


def flink_version(settings: StackSettings) -> str:
    try:
        version: str = FlinkCluster(settings).rest("/config")["flink-version"]
    except (OSError, KeyError):
        import pyflink.version

        return f"{pyflink.version.__version__} (PyFlink; the cluster was not running)"
    return version


def kafka_version(settings: StackSettings) -> str:
    jars = sorted((settings.jars_dir / "kafka").glob("kafka_2.13-*.jar"))
    broker = jars[0].stem.split("-", 1)[1] if jars else "unknown"
    return f"{broker} (librdkafka {confluent_kafka.libversion()[0]})"


def machine() -> dict[str, str]:
    """What the results were measured on, each as one short string."""
    settings = StackSettings()
    memory_kb = int(_first_match(r"^MemTotal:\s+(\d+)", _read("/proc/meminfo"), "0"))
    commit = _run("git", "rev-parse", "--short", "HEAD").strip() or "unknown"
    if _run("git", "status", "--porcelain").strip():
        commit += " with uncommitted changes"
    system = _first_match(r'^PRETTY_NAME="?([^"\n]+)', _read("/etc/os-release"))
    return {
        "CPU": _first_match(r"^model name\s*:\s*(.+)$", _read("/proc/cpuinfo"), platform.processor() or "unknown"),
        "cores": str(os.cpu_count()),
        "RAM": f"{memory_kb / 1024 / 1024:.1f} GB",
        "OS": f"{system} (Linux {platform.release()})",
        "Python": platform.python_version(),
        "Java": _first_match(r'version "([^"]+)"', _run("java", "-version")),
        "Flink": flink_version(settings),
        "Kafka": kafka_version(settings),
        "commit": commit,
    }


# -- how busy it was ----------------------------------------------------------------------------


def _loads(values: Sequence[float]) -> str:
    return " / ".join(f"{value:.2f}" for value in values)


def contention(results: Sequence[Result]) -> str:
    cores = os.cpu_count() or 1
    busiest = max(results, key=lambda result: result.window.other_cores)
    other = busiest.window.other_cores
    if other > CONTENDED_SHARE * cores:
        return (
            f"**The machine was contended**: other processes used {other:.2f} of the {cores} cores during the "
            f"{busiest.name} benchmark (the most of any run). Its figures are lower than on a quiet machine; "
            "compare each figure with its same-run baseline, which shared the same conditions."
        )
    return (
        f"Quiet enough: other processes used at most {other:.2f} of the {cores} cores during any run "
        f"(the {busiest.name} benchmark)."
    )


def window_line(window: Window) -> str:
    return (
        f"{window.started_at:%H:%M:%S}–{window.finished_at:%H:%M:%S} UTC ({window.seconds:.0f} s); load average "
        f"1/5/15 min before {_loads(window.load_before)}, after {_loads(window.load_after)}; other processes "
        f"used {window.other_cores:.2f} cores"
    )


# -- tables -------------------------------------------------------------------------------------


def latency_table(results: Sequence[Result]) -> str:
    rows = [
        "| bench | measure | " + " | ".join(PERCENTILES) + " |",
        "|---|---|" + "---:|" * len(PERCENTILES),
    ]
    for result in results:
        shown: set[str | None] = set()  # a baseline beside several figures is listed once
        for figure in result.figures:
            for label, latency in ((figure.measure, figure.latency_ms), (figure.baseline, figure.baseline_latency_ms)):
                if latency and label not in shown:
                    shown.add(label)
                    cells = " | ".join(_milliseconds(latency[name]) for name in PERCENTILES)
                    rows.append(f"| {result.name} | {label} | {cells} |")
    return "\n".join(rows)


def _milliseconds(value: float) -> str:
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.2f} ms"


def machine_line(about: dict[str, str], results: Sequence[Result]) -> str:
    day = min(result.window.started_at for result in results)
    return (
        f"Measured {day:%Y-%m-%d} on {about['CPU']}, {about['cores']} cores, {about['RAM']} RAM, {about['OS']}; "
        f"Python {about['Python']}, Java {about['Java']}, Flink {about['Flink']}, Kafka {about['Kafka']}; "
        f"commit {about['commit']}. The broker, the Flink cluster, the services and the load generators share "
        "these cores."
    )


def header(results: Sequence[Result], missing: Sequence[str], about: dict[str, str]) -> list[str]:
    """The machine, when, how busy it was, and what the results are not."""
    first = min(results, key=lambda result: result.window.started_at).window
    last = max(results, key=lambda result: result.window.finished_at).window
    minutes = (last.finished_at - first.started_at).total_seconds() / 60
    lines = [
        machine_line(about, results),
        "",
        f"Runs from {first.started_at:%H:%M} to {last.finished_at:%H:%M} UTC ({minutes:.0f} min). 1/5/15-minute "
        f"load average before the first: {_loads(first.load_before)}; after the last: {_loads(last.load_after)}.",
        "",
        contention(results),
    ]
    if any(result.quick for result in results):
        lines += ["", "**Quick run (RANKFEED_BENCH_QUICK): small sizes, not figures to quote.**"]
    if missing:
        lines += ["", f"Not run (no result file): {', '.join(missing)}."]
    return lines


def markdown(results: Sequence[Result], missing: Sequence[str], about: dict[str, str], plots: Sequence[Path]) -> str:
    lines = [
        "# Benchmarks: latest run",
        "",
        "Written by `bench/report.py` (`make bench`) from the results in this folder; do not edit by hand.",
        "",
        *header(results, missing, about),
    ]
    lines += ["", "## Every figure beside its same-run baseline", "", table(results)]
    lines += ["", "## Latency percentiles", "", latency_table(results)]
    lines += ["", "## Plots", ""] + [f"![{plot.stem}]({plot.name})" for plot in plots]
    for result in results:
        lines += ["", f"## {result.title}", "", f"`{result.command}`: {window_line(result.window)}.", ""]
        lines += [f"- {note}" for note in result.notes]
        parameters = ", ".join(f"{name} {value}" for name, value in result.parameters.items())
        lines.append(f"- parameters: {parameters}")
    return "\n".join(lines) + "\n"


def readme_block(results: Sequence[Result], missing: Sequence[str], about: dict[str, str], plot: Path | None) -> str:
    lines = [README_START, *header(results, missing, about), "", table(results)]
    if plot is not None:
        lines += ["", f"![{plot.stem}](bench/results/{plot.name})"]
    return "\n".join([*lines, README_END])


def update_readme(readme: Path, block: str) -> None:
    text = readme.read_text(encoding="utf-8")
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        raise SystemExit(f"{readme} has no {README_START} … {README_END} block to replace")
    readme.write_text(text[:start] + block + text[end + len(README_END) :], encoding="utf-8")


# -- plots --------------------------------------------------------------------------------------


def throughput_plot(result: Result, folder: Path) -> Path | None:
    series = [line for line in result.series if line.values]
    if not series:
        return None
    figure, axes = plt.subplots(figsize=(7, 3.4))
    for line in series:
        axes.plot(
            line.seconds,
            [value if value > 0 else float("nan") for value in line.values],  # a gap: none in that second
            linestyle="--" if line.baseline else "-",
            marker="o",
            markersize=3,
            label=f"{line.label} ({line.unit})" + (", baseline" if line.baseline else ""),
        )
    values = [value for line in series for value in line.values if value > 0]
    if values and max(values) / min(values) > 30:
        axes.set_yscale("log")
    axes.set_xlabel("seconds since the phase started")
    axes.set_ylabel("per second (a gap: none)")
    axes.set_title(f"{result.title}: throughput", fontsize=9)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7)
    figure.tight_layout()
    path = folder / f"throughput-{result.name}.png"
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
    return path


def latency_plot(results: Sequence[Result], folder: Path) -> Path | None:
    with_latency = [result for result in results if any(figure.latency_ms for figure in result.figures)]
    if not with_latency:
        return None
    figure, axes_list = plt.subplots(1, len(with_latency), figsize=(4 * len(with_latency), 4.2), squeeze=False)
    for axes, result in zip(axes_list[0], with_latency, strict=True):
        bars = []
        for item in result.figures:
            bars.append((item.measure, item.latency_ms, False))
            bars.append((item.baseline or "baseline", item.baseline_latency_ms, True))
        bars = [bar for bar in bars if bar[1]]
        # The same baseline beside several figures is drawn once.
        unique = list({label: (label, latency, baseline) for label, latency, baseline in bars}.values())
        width = 0.8 / len(unique)
        for n, (label, latency, baseline) in enumerate(unique):
            assert latency is not None
            positions = [k + n * width for k in range(len(PERCENTILES))]
            axes.bar(
                positions,
                [latency[name] for name in PERCENTILES],
                width,
                label=label if len(label) <= 56 else label[:55] + "…",
                hatch="//" if baseline else None,
                alpha=0.85,
            )
        axes.set_xticks([k + 0.4 - width / 2 for k in range(len(PERCENTILES))], list(PERCENTILES))
        axes.set_yscale("log")
        axes.set_ylabel("ms")
        axes.set_title(result.name, fontsize=9)
        axes.grid(alpha=0.3, axis="y")
        axes.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    figure.suptitle("Latency percentiles (hatched: same-run baseline)", fontsize=9)
    figure.tight_layout()
    path = folder / "latency.png"
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
    return path


def check_generators(results: Sequence[Result]) -> None:
    """Refuses (SystemExit) to put HTTP figures made with different load generators in one table:
    the Python client spends the cores the service is measured on, so its figures read lower."""
    generators = {
        result.name: str(result.parameters["load_generator"])
        for result in results
        if "load_generator" in result.parameters
    }
    if len(set(generators.values())) > 1:
        listed = ", ".join(f"{name}: {generator}" for name, generator in sorted(generators.items()))
        raise SystemExit(f"results made with different load generators ({listed}): rerun them with the same one")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="where <name>.json are read")
    parser.add_argument("--output", type=Path, help="the markdown written (default: latest.md in --results-dir)")
    parser.add_argument("--readme", type=Path, help="also replace this README's bench:latest block")
    args = parser.parse_args()

    found = {name: args.results_dir / f"{name}.json" for name in NAMES}
    results = [Result.read(path) for path in found.values() if path.exists()]
    missing = [name for name, path in found.items() if not path.exists()]
    check_generators(results)
    if not results:
        raise SystemExit(f"no results in {args.results_dir}: run the benchmarks first (make bench)")
    about = machine()
    plots = [plot for result in results if (plot := throughput_plot(result, args.results_dir)) is not None]
    latency = latency_plot(results, args.results_dir)
    if latency is not None:
        plots.append(latency)
    output = args.output or args.results_dir / "latest.md"
    output.write_text(markdown(results, missing, about, plots), encoding="utf-8")
    print(output.read_text(encoding="utf-8"))
    print(f"written to {output} with {len(plots)} plots")
    if args.readme is not None:
        shown = next((plot for plot in plots if plot.name == README_PLOT), plots[0] if plots else None)
        update_readme(args.readme, readme_block(results, missing, about, shown))
        print(f"updated the {README_START} block of {args.readme}")


if __name__ == "__main__":
    main()
