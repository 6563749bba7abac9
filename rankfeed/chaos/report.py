"""The chaos table: one row per scenario, on the console and as Markdown in bench/results/chaos.md."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from rankfeed import pipeline
from rankfeed.chaos.runner import RunOptions, ScenarioResult
from rankfeed.chaos.verify import SinkCheck
from rankfeed.settings import JobSettings

SUMMARY_COLUMNS = [
    "scenario",
    "sent",
    "acked",
    "503s",
    "conn. errors",
    "acked before / after fault",
    "held (s)",
    "failovers (labelling / features / lake)",
    "longest ingest gap (s)",
    "recovery (s)",
    "events present",
    "missing",
    "duplicated",
    "unacked twice",
    "acked → late topic",
    "feedback missing / dup",
    "LTR missing / dup",
    "verdict",
]
SINK_COLUMNS = ["scenario", "sink", "expected", "present", "missing", "duplicated", "unacked twice"]


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _pair(checks: list[SinkCheck]) -> str:
    return f"{sum(len(c.missing) for c in checks)} / {sum(len(c.duplicated) for c in checks)}"


def summary_rows(results: list[ScenarioResult]) -> list[list[str]]:
    rows = []
    for r in results:
        events = next((c for c in r.checks if c.sink == "events (Parquet)"), None)
        feedback = [c for c in r.checks if c.sink == "feedback-events"]
        ltr = [c for c in r.checks if c.sink.startswith("ltr")]
        unacked_twice = sum(len(c.unacked_twice) for c in r.checks)
        verdict = "ok" if r.ok else "not testable here" if r.not_testable else "**error**" if r.error else "**FAIL**"
        rows.append(
            [
                r.fault.name,
                str(len(r.stats.sent)),
                str(len(r.stats.acked)),
                str(r.stats.status_503),
                str(r.stats.connection_errors),
                f"{r.acked_before} / {r.acked_after}",
                _seconds(r.held_seconds),
                " / ".join(str(r.failovers.get(job.script, 0)) for job in pipeline.PIPELINE),
                _seconds(r.ingest_gap_seconds),
                _seconds(r.recovery_seconds),
                "—" if events is None else str(events.present),
                "—" if events is None else str(len(events.missing)),
                "—" if events is None else str(len(events.duplicated)),
                str(unacked_twice),
                str(len(r.late)),
                _pair(feedback),
                _pair(ltr),
                verdict,
            ]
        )
    return rows


def sink_rows(results: list[ScenarioResult]) -> list[list[str]]:
    return [
        [
            r.fault.name,
            c.sink,
            str(c.expected),
            str(c.present),
            str(len(c.missing)),
            str(len(c.duplicated)),
            str(len(c.unacked_twice)),
        ]
        for r in results
        for c in r.checks
    ]


def summary_markdown(results: list[ScenarioResult]) -> str:
    return _markdown_table(SUMMARY_COLUMNS, summary_rows(results))


def _markdown_table(columns: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def findings(results: list[ScenarioResult]) -> list[str]:
    """A sentence for every problem, with a few of the ids involved."""
    lines = []
    for r in results:
        if r.error:
            lines.append(f"- {r.fault.name}: the scenario did not complete: {r.error}")
        if r.acked_before == 0 or r.acked_after == 0:
            lines.append(f"- {r.fault.name}: no load acknowledged before or after the fault, so it proves nothing")
        if r.late:
            event_id, reason = next(iter(r.late.items()))
            lines.append(
                f"- {r.fault.name}: {len(r.late)} acknowledged events were routed to the late topic, "
                f"e.g. {event_id} ({reason})"
            )
        for c in r.checks:
            for what, ids in (("missing", c.missing), ("duplicated", c.duplicated), ("unacked twice", c.unacked_twice)):
                if ids:
                    lines.append(f"- {r.fault.name}, {c.sink}: {len(ids)} {what}, e.g. {', '.join(ids[:3])}")
        for error in r.stats.other_errors[:3]:
            lines.append(f"- {r.fault.name}: the gateway answered {error}")
    return lines


def markdown(results: list[ScenarioResult], options: RunOptions, wall_seconds: float) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    idle = options.source_idle_timeout_seconds or JobSettings().source_idle_timeout_seconds
    notes = "\n".join(f"- **{r.fault.name}**: {'; '.join(r.notes)}" for r in results)
    found = findings(results) or ["- none: every acknowledged event exactly once in every sink"]
    return f"""# Chaos run ({when})

`make chaos` (`python -m rankfeed.chaos`): its own broker, Flink cluster and gateway on loopback
(ports 29092, 28081, 28000), the pipeline's three jobs (labelling, features, lake) with a
{options.checkpoint_interval_seconds} s checkpoint interval and a {idle} s source idle timeout, one load client
per scenario at {options.rate:g} events/s of simulated sessions through the gateway
({options.before_seconds:g} s of load before each fault, {options.after_seconds:g} s after it is cleared).
Wall time {wall_seconds / 60:.1f} min on the 2-core machine, shared with other work.

- **acked**: event_ids the gateway answered 2xx for; **503s**: answers 503 (each retried with the same body).
- **held**: from the fault to its repair; **failovers**: per job, failures and restarts from a checkpoint
  (Flink's exception history) — a Parquet fault should restart the lake job only; **longest ingest gap**:
  the longest time without any 2xx.
- **recovery**: from the fault until the first event acknowledged after the repair was read from the
  clean topic as read_committed (job restart, catch-up and one checkpoint included).
- **present / missing / duplicated**: acknowledged event_ids in the Parquet `events` dataset;
  **unacked twice**: unacknowledged ids seen more than once in any sink; **feedback** and **LTR**: every
  acknowledged click and book on `feedback-events`, and its (search, hotel) example on `ltr-examples`
  and in the `ltr_examples` dataset.

{summary_markdown(results)}

Every sink, per scenario:

{_markdown_table(SINK_COLUMNS, sink_rows(results))}

What each fault did:

{notes}

Findings:

{chr(10).join(found)}
"""


def write_markdown(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
