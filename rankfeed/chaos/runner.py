"""Run the scenarios on one chaos stack, check every sink, print the table and write it as Markdown.

All scenarios of a run share the stack, the topics and the job: each has its own load client, so its
own event_ids, and event time moves on from one scenario to the next. At the end one heartbeat per
partition moves event time past the last session's gap, every session closes, and the sinks are
read back once and split by scenario.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rankfeed.chaos import disk
from rankfeed.chaos.faults import FAULTS, NOT_TESTABLE, Fault
from rankfeed.chaos.load import LoadClient, LoadStats
from rankfeed.chaos.stack import CHAOS_DIR, ChaosStack
from rankfeed.chaos.verify import Expected, SinkCheck, collect
from rankfeed.chaos.watch import CommitWatcher
from rankfeed.local.procs import wait_until
from rankfeed.producer import make_producer, send_heartbeats

Log = Callable[[str], None]
#: Room for a full run's Parquet output (about 30 MB) with a wide margin.
PARQUET_TMPFS_MB = 256


@dataclass(frozen=True)
class RunOptions:
    scenarios: tuple[str, ...] = tuple(FAULTS)
    #: Seconds of load before each fault (after committed output was seen) and after it was cleared.
    before_seconds: float = 20.0
    after_seconds: float = 30.0
    #: Overrides every fault's own hold (seconds between inject and clear) when set.
    hold_seconds: float | None = None
    rate: float = 200.0
    checkpoint_interval_seconds: int = 3
    #: The job's ``source_idle_timeout_seconds`` (None: the JobSettings default).
    source_idle_timeout_seconds: int | None = None
    state_dir: Path = CHAOS_DIR


@dataclass
class ScenarioResult:
    fault: Fault
    stats: LoadStats
    notes: list[str] = field(default_factory=list)
    injected: float = 0.0
    cleared: float = 0.0
    ended: float = 0.0
    started: float = 0.0
    recovery_seconds: float | None = None
    checks: list[SinkCheck] = field(default_factory=list)
    #: Acknowledged events the job routed to the late topic, with its reason.
    late: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    #: Per job (script name), failures (restarts from a checkpoint) during the scenario, from its exception history.
    failovers: dict[str, int] = field(default_factory=dict)

    @property
    def acked_before(self) -> int:
        return self.stats.acked_between(self.started, self.injected)

    @property
    def acked_after(self) -> int:
        return self.stats.acked_between(self.cleared, self.ended + 60.0)

    @property
    def held_seconds(self) -> float | None:
        return self.cleared - self.injected if self.cleared > self.injected > 0 else None

    @property
    def ingest_gap_seconds(self) -> float:
        return self.stats.longest_ack_gap(self.started, self.ended)

    def check(self, sink: str) -> SinkCheck:
        return next(c for c in self.checks if c.sink == sink)

    @property
    def not_testable(self) -> bool:
        return self.error is not None and NOT_TESTABLE in self.error

    @property
    def ok(self) -> bool:
        return (
            self.error is None
            and bool(self.checks)
            and all(c.ok for c in self.checks)
            and self.acked_before > 0
            and self.acked_after > 0
        )


def run(options: RunOptions, log: Log = print) -> list[ScenarioResult]:
    """Start the chaos stack, run ``options.scenarios`` under load, verify, stop the stack."""
    chaos = ChaosStack.create(options.checkpoint_interval_seconds, options.state_dir)
    if {"disk-full", "parquet"} & set(options.scenarios):
        chaos.disk_refused = disk.mount_refused()
        chaos.parquet_tmpfs_mb = None if chaos.disk_refused else PARQUET_TMPFS_MB
    if options.source_idle_timeout_seconds is not None:
        chaos.job = chaos.job.model_copy(update={"source_idle_timeout_seconds": options.source_idle_timeout_seconds})
    results: list[ScenarioResult] = []
    log(f"starting the chaos stack in {options.state_dir} (broker :29092, Flink :28081, gateway :28000, site :28002)")
    watcher: CommitWatcher | None = None
    try:
        chaos.start()
        wait_until(lambda: chaos.job_state() == "RUNNING", 120, f"jobs {chaos.job_ids} to run")
        log(f"jobs {chaos.job_ids} running; topics *-{chaos.job.topics.user_actions.rsplit('-', 1)[-1]}")
        watcher = CommitWatcher(chaos.job.kafka.bootstrap_servers, chaos.job.topics.user_actions_clean)
        watcher.start()
        # Event time starts half a day back: fast simulated time stays within the gateway's skew limit.
        event_start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=12)
        for seed, name in enumerate(options.scenarios, start=1):
            result = _run_scenario(chaos, watcher, FAULTS[name], options, event_start, seed, log)
            results.append(result)
            if result.stats.last_event_time is not None:
                event_start = result.stats.last_event_time + timedelta(seconds=1)
        _close_sessions(chaos, event_start)
        log("all sessions closed; reading every sink back (read_committed Kafka, committed Parquet files)")
        _verify(chaos, results, watcher)
    finally:
        if watcher is not None:
            watcher.stop()
            watcher.join(timeout=10)
        log("stopping the chaos stack")
        chaos.stop()
    return results


def _run_scenario(
    chaos: ChaosStack,
    watcher: CommitWatcher,
    fault: Fault,
    options: RunOptions,
    event_start: datetime,
    seed: int,
    log: Log,
) -> ScenarioResult:
    key = chaos.stack.settings.gateway_api_key.get_secret_value()
    client = LoadClient(chaos.stack.gateway.url, key, event_start, seed=seed * 7919, rate=options.rate)
    result = ScenarioResult(fault, client.stats)
    log(f"{fault.name}: {fault.description}")
    result.started = time.monotonic()
    jobs_before, failovers_before = dict(chaos.job_ids), chaos.failovers()
    client.start()
    try:
        # Load that was acknowledged and committed before the fault: the scenario cannot pass on nothing.
        wait_until(lambda: watcher.seen(client.acked_ids()) > 0, 120, "committed output before the fault")
        time.sleep(options.before_seconds)
        result.injected = time.monotonic()
        result.notes.append(fault.inject(chaos))
        log(f"{fault.name}: {result.notes[-1]}")
        time.sleep(options.hold_seconds if options.hold_seconds is not None else fault.hold_seconds)
        result.notes.append(fault.clear(chaos))
        result.cleared = time.monotonic()
        log(f"{fault.name}: {result.notes[-1]} after {result.cleared - result.injected:.1f} s")
        time.sleep(options.after_seconds)
        wait_until(lambda: client.acked_since(result.cleared) > 0, 60, "acks after")
    except Exception as error:  # noqa: BLE001 - reported in the table, the run goes on to verify and stop
        result.error = f"{type(error).__name__}: {error}"
        log(f"{fault.name}: failed: {result.error}")
        if result.injected and not result.cleared:
            try:
                result.notes.append(fault.clear(chaos))
            except Exception as repair_error:  # noqa: BLE001 - the first error is the one reported
                result.notes.append(f"repair failed too: {repair_error}")
    finally:
        client.stop()
        client.join(timeout=30)
        if client.is_alive():
            client.abandon()
            client.join(timeout=30)
        result.ended = time.monotonic()
        # A resumed job (savepoint) starts a history of its own.
        result.failovers = {
            script: count - (failovers_before.get(script, 0) if chaos.job_ids[script] == jobs_before.get(script) else 0)
            for script, count in chaos.failovers().items()
        }
    log(
        f"{fault.name}: sent {len(client.stats.sent)}, acked {len(client.stats.acked)}, "
        f"503s {client.stats.status_503}, connection errors {client.stats.connection_errors}; "
        f"jobs {chaos.job_state()} after failovers {result.failovers}"
    )
    return result


def _close_sessions(chaos: ChaosStack, last_event_time: datetime) -> None:
    """One heartbeat per partition past the last action plus the session gap: every session closes."""
    tick = last_event_time + timedelta(minutes=chaos.job.session_gap_minutes + 1)
    producer = make_producer(chaos.job.kafka.bootstrap_servers)
    send_heartbeats(producer, chaos.job.topics.user_actions, tick)


def _verify(chaos: ChaosStack, results: list[ScenarioResult], watcher: CommitWatcher) -> None:
    expectations = [Expected.from_actions(r.stats.actions, r.stats.acked) for r in results]
    outputs = collect(chaos.job, expectations)
    for result, expected in zip(results, expectations, strict=True):
        result.checks = outputs.check(expected)
        result.late = {i: outputs.late[i] for i in expected.acked if i in outputs.late}
        if result.error is None:
            after = {i for i, at in result.stats.ack_time.items() if at >= result.cleared}
            first = watcher.first_seen_of(after)
            result.recovery_seconds = None if first is None else first - result.injected
