"""The pipeline's benchmark beside a pass-through baseline, on the same data in the same run.

1. Makes sure the local stack runs; creates throw-away topics (deleted at the end).
2. Fills ``user-actions`` with N synthetic actions of realistic session shapes (the simulator,
   duplicates and reordering included), then heartbeats past the end so every session closes.
3. Pass-through job (Kafka → blackhole, the labelling job's source): events/s from the first to the
   last record its source read (Flink's REST metrics).
4. Labelling job alone, exactly once to Kafka (clean, feedback, LTR, sessions, exposures through
   one transactional producer): events/s from its first record read until the clean topic holds
   every distinct action for a read_committed consumer (the transactions carrying them committed).
   Its baseline: the I/O-equivalent job (the same source, keyBy and sink, about the same records
   to the same topics, no logic), measured the same way until its clean topic holds every record.
5. The whole pipeline (labelling, features, lake) on fresh output topics, every output exactly once:
   events/s from the labelling job's first record read until the Parquet ``events/`` dataset holds
   every distinct action (the lake's files committed), with the features job reading beside them.
6. Freshness, with the pipeline caught up and 5,000 actions/s of live background traffic: probe
   sessions in wall-clock time (search, click, back 2 s later = a quick-back); p50/p99 from the
   click's send time to its feedback event being visible (read_committed).
   Baseline in the same run: the same probes' clicks becoming visible on the input topic (Kafka alone).

Throughput over time: the sources' records read, sampled from Flink's REST API (which refreshes its
metrics each second), and the clean events committed (read_committed). Prints a markdown table and
writes bench/results/job.json for bench/report.py. Everything shares this machine's cores. Run with
``make bench-job`` or ``.venv/bin/python bench/job.py [--events 1000000]``; RANKFEED_BENCH_QUICK=1
makes it short.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient
from result import RESULTS_DIR, Figure, Result, Series, WindowMeter, percentiles_ms, quick, table

from rankfeed import avro, pipeline, schemas, simulate
from rankfeed.job import tables
from rankfeed.local.broker import create_topics
from rankfeed.local.flink_cluster import FlinkCluster
from rankfeed.local.stack import Stack
from rankfeed.producer import make_producer, produce_actions, send_heartbeats
from rankfeed.settings import REPO_ROOT, JobSettings, KafkaSettings, StackSettings, Topics
from rankfeed.types import Record

#: Targets on 2 cores (the performance issue).
TARGET_ALL_OUTPUTS_EPS = 50_000
TARGET_LABELLING_EPS = 70_000
TARGET_FRESHNESS_P99_SECONDS = 10.0
TARGET_HEAP_MIB = 1024
#: Live background traffic while freshness is probed.
BACKGROUND_RATE = 5_000


def fill(bootstrap: str, topic: str, events: int) -> tuple[int, int, datetime]:
    """Produce about ``events`` actions in event-time order chunks; return (sent, distinct, last time)."""
    producer = make_producer(bootstrap, **{"linger.ms": 50, "batch.num.messages": 10000})
    sent = 0
    distinct = 0
    start = datetime(2026, 1, 1, tzinfo=UTC)
    chunk = 0
    last = start
    while sent < events:
        shape = simulate.TrafficShape(sessions=4000, seed=1000 + chunk, start=start)
        actions = simulate.generate(shape)
        produce_actions(producer, topic, actions)
        sent += len(actions)
        distinct += len({action["event_id"] for action in actions})
        last = max(action["timestamp"] for action in actions)
        start = last + timedelta(hours=1)
        chunk += 1
    send_heartbeats(producer, topic, last + timedelta(hours=2))
    return sent, distinct, last


def source_records(flink: FlinkCluster, job_id: str) -> int:
    """Records the job's source task has read (its chained sink may emit none, so not numRecordsOut)."""
    source = flink.rest(f"/jobs/{job_id}")["vertices"][0]
    return int(source["metrics"].get("read-records", 0))


def measure_source(
    flink: FlinkCluster, job_id: str, total: int, timeout: float
) -> tuple[float, float, list[tuple[float, float]]]:
    """(time the source first read, time it had read ``total``, (time, records read) samples), by
    polling Flink's metrics; the samples' times count from the first read."""
    first = last = 0.0
    last_zero = time.monotonic()
    samples: list[tuple[float, float]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        count = source_records(flink, job_id)
        now = time.monotonic()
        if count > 0 and not first:
            first = now
            samples.append((last_zero - first, 0.0))  # the first records were read after the last poll read none
        if first:
            samples.append((now - first, float(count)))
        else:
            last_zero = now
        if count >= total:
            last = now
            break
        time.sleep(0.25)
    if not last:
        raise RuntimeError(f"source read fewer than {total} records in {timeout}s")
    return first, last, samples


def follow_feedback(
    flink: FlinkCluster, job_id: str, counter: CommittedCounter, timeout: float
) -> tuple[float, list[tuple[float, float]], list[tuple[float, float]]]:
    """Waits for ``counter`` to see every clean event; returns the time the source first read and
    (time since then, count) samples of the records read and of the clean events committed."""
    first, _, read = measure_source(flink, job_id, 1, 300)
    committed: list[tuple[float, float]] = []
    deadline = time.monotonic() + timeout
    while counter.is_alive() and time.monotonic() < deadline:
        now = time.monotonic()
        read.append((now - first, float(source_records(flink, job_id))))
        committed.append((now - first, float(counter.count)))
        time.sleep(0.5)
    counter.join(1)
    if counter.reached_at:
        committed.append((counter.reached_at - first, float(counter.count)))
    return first, read, committed


def run_until_clean(
    stack: Stack, job: str, settings: JobSettings, folder: Path, sent: int, target: int, what: str
) -> tuple[float, list[tuple[float, float]], list[tuple[float, float]]]:
    """Runs ``job`` until its clean topic holds ``target`` records for a read_committed consumer;
    returns (``sent`` actions per second from its first record read, read samples, committed samples)."""
    counter = CommittedCounter(stack.settings.bootstrap_servers, settings.topics.user_actions_clean, target)
    counter.start()
    job_id = submit(stack, job, settings, folder)
    first, read, committed = follow_feedback(stack.flink, job_id, counter, 1800)
    stack.flink.cancel(job_id)
    if not counter.reached_at:
        raise RuntimeError(f"only {counter.count} of {target} {what}")
    return sent / (counter.reached_at - first), read, committed


class HeapMeter(threading.Thread):
    """The largest JVM heap used by any TaskManager (Flink's ``Status.JVM.Memory.Heap.Used``), sampled
    each second while it runs; ``limit`` is the heap's maximum, for the baseline column."""

    def __init__(self, flink: FlinkCluster) -> None:
        super().__init__(daemon=True)
        self.flink = flink
        self.peak = 0.0
        self.limit = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(1.0):
            try:
                for manager in self.flink.rest("/taskmanagers")["taskmanagers"]:
                    metrics = self.flink.rest(
                        f"/taskmanagers/{manager['id']}/metrics?get=Status.JVM.Memory.Heap.Used,Status.JVM.Memory.Heap.Max"
                    )
                    values = {metric["id"]: float(metric["value"]) for metric in metrics}
                    self.peak = max(self.peak, values.get("Status.JVM.Memory.Heap.Used", 0.0))
                    self.limit = max(self.limit, values.get("Status.JVM.Memory.Heap.Max", 0.0))
            except (OSError, KeyError, ValueError):
                continue  # a sample missed while the REST API is busy


class CommittedCounter(threading.Thread):
    """Counts records a read_committed consumer sees on ``topic`` and notes when it reaches ``target``."""

    def __init__(self, bootstrap: str, topic: str, target: int) -> None:
        super().__init__(daemon=True)
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"bench-{uuid.uuid4().hex[:8]}",
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
            }
        )
        self.consumer.subscribe([topic])
        self.target = target
        self.count = 0
        self.reached_at = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set() and self.count < self.target:
            messages = self.consumer.consume(10000, 0.5)
            self.count += sum(1 for m in messages if not m.error())
        if self.count >= self.target:
            self.reached_at = time.monotonic()
        self.consumer.close()


def write_config(settings: JobSettings, folder: Path, name: str) -> Path:
    config = folder / f"{name}.yaml"
    config.write_text(json.dumps(settings.model_dump(mode="json")))
    return config


def submit(stack: Stack, job: str, settings: JobSettings, folder: Path) -> str:
    config = write_config(settings, folder, job)
    return stack.flink.run_python_job(REPO_ROOT / "jobs" / f"{job}.py", "--config", str(config))


def parquet_rows(path: Path) -> int:
    """Rows in the committed files of a dataset (in-progress files start with a dot)."""
    if not path.exists():
        return 0
    return int(ds.dataset(path, format="parquet", partitioning="hive", ignore_prefixes=[".", "_"]).count_rows())


def follow_pipeline(
    flink: FlinkCluster, jobs: dict[str, str], settings: JobSettings, target: int, timeout: float
) -> tuple[float, float, dict[str, list[tuple[float, float]]]]:
    """Waits until every output of the pipeline is complete: the lake's ``events/`` dataset holds
    ``target`` rows and the features job has read every committed ``search-exposures`` record.
    Returns (time the labelling job first read, time all was done, samples since then of the
    labelling job's records read, the exposures committed, the features job's records read and the
    lake's rows)."""
    exposures = CommittedCounter(settings.kafka.bootstrap_servers, settings.topics.search_exposures, 10**12)
    exposures.start()
    first, _, labelling_read = measure_source(flink, jobs[pipeline.LABELLING.script], 1, 300)
    samples: dict[str, list[tuple[float, float]]] = {"exposures": [], "features": [], "lake": []}
    deadline = time.monotonic() + timeout
    stable_since, last_exposures = time.monotonic(), -1
    try:
        while time.monotonic() < deadline:
            now = time.monotonic()
            rows = parquet_rows(settings.parquet_dir / "events")
            features = source_records(flink, jobs[pipeline.FEATURES.script])
            labelling_read.append((now - first, float(source_records(flink, jobs[pipeline.LABELLING.script]))))
            samples["exposures"].append((now - first, float(exposures.count)))
            samples["features"].append((now - first, float(features)))
            samples["lake"].append((now - first, float(rows)))
            if exposures.count != last_exposures:
                stable_since, last_exposures = now, exposures.count
            if rows >= target and features >= exposures.count and now - stable_since > 5:
                return first, now, {"labelling": labelling_read, **samples}
            time.sleep(1.0)
    finally:
        exposures.stop.set()
    raise RuntimeError(
        f"not complete after {timeout:.0f} s: {samples['lake'][-1][1]:.0f} of {target} Parquet rows, "
        f"{samples['features'][-1][1]:.0f} of {exposures.count} exposures records read by the features job"
    )


class BackgroundTraffic(threading.Thread):
    """Simulated actions stamped with the wall clock, at ``rate`` per second: live load for freshness."""

    def __init__(self, bootstrap: str, topic: str, rate: int, prefix: str = "bg") -> None:
        super().__init__(daemon=True)
        self.producer = make_producer(bootstrap, **{"linger.ms": 20})
        self.topic = topic
        self.rate = rate
        self.prefix = prefix
        self.sent = 0
        self.stop = threading.Event()

    def run(self) -> None:
        actions = simulate.generate(simulate.TrafficShape(sessions=2000, seed=99))
        tick = 0.1
        index = 0
        next_at = time.monotonic()
        while not self.stop.is_set():
            now = datetime.now(UTC)
            stamp = now.replace(microsecond=now.microsecond // 1000 * 1000)
            batch = []
            for _ in range(int(self.rate * tick)):
                action = dict(actions[index % len(actions)])
                action.update(event_id=str(uuid.uuid4()), timestamp=stamp, session_id=f"{self.prefix}-{index // 6}")
                batch.append(action)
                index += 1
            produce_actions(self.producer, self.topic, batch)
            self.sent += len(batch)
            next_at += tick
            time.sleep(max(0.0, next_at - time.monotonic()))


def backlog(bootstrap: str, topic: str, seconds: float, rate: int) -> int:
    """What an outage of ``seconds`` leaves behind at ``rate`` actions/s: simulated actions stamped
    evenly over the last ``seconds`` of wall-clock time, in time order. Returns how many."""
    producer = make_producer(bootstrap, **{"linger.ms": 50, "batch.num.messages": 10000})
    actions = simulate.generate(simulate.TrafficShape(sessions=4000, seed=7))
    count = int(seconds * rate)
    start = datetime.now(UTC) - timedelta(seconds=seconds)
    batch: list[Record] = []
    for index in range(count):
        action = dict(actions[index % len(actions)])
        at = start + timedelta(seconds=index / rate)
        at = at.replace(microsecond=at.microsecond // 1000 * 1000)
        action.update(event_id=str(uuid.uuid4()), timestamp=at, session_id=f"backlog-{index // 6}")
        batch.append(action)
        if len(batch) == 10_000:
            produce_actions(producer, topic, batch)
            batch = []
    produce_actions(producer, topic, batch)
    return count


def catch_up(
    stack: Stack, settings: JobSettings, folder: Path, behind: int, rate: int, timeout: float
) -> tuple[float, list[tuple[float, float]]]:
    """Starts the pipeline on an input ``behind`` actions behind, with ``rate`` actions/s of live
    traffic continuing; returns the seconds until the labelling job has caught up and the (time,
    actions behind) samples. Caught up: the clean events committed trail everything sent by no
    more than a pipeline with no backlog does (the watermark delay, one checkpoint interval and
    one second of traffic, since a clean event is written once the watermark passes it)."""
    bootstrap = settings.kafka.bootstrap_servers
    counter = CommittedCounter(bootstrap, settings.topics.user_actions_clean, 10**12)
    counter.start()
    live = BackgroundTraffic(bootstrap, settings.topics.user_actions, rate, prefix="live")
    live.start()
    jobs = pipeline.submit(stack.flink, write_config(settings, folder, "catch-up"))
    started = time.monotonic()
    samples: list[tuple[float, float]] = []
    trailing = rate * (tables.watermark_delay_seconds(settings) + settings.labelling_checkpoint_interval_seconds + 1)
    try:
        deadline = started + timeout
        while time.monotonic() < deadline:
            lag = behind + live.sent - counter.count
            samples.append((time.monotonic() - started, float(lag)))
            if lag <= trailing:
                return time.monotonic() - started, samples
            time.sleep(1.0)
        behind_now = samples[-1][1]
        raise RuntimeError(f"still {behind_now:.0f} actions behind after {timeout:.0f} s (samples: {samples[::30]})")
    finally:
        live.stop.set()
        live.join(5)
        counter.stop.set()
        pipeline.cancel(stack.flink, jobs)


def freshness(
    bootstrap: str, settings: JobSettings, seconds: float, background_rate: int, warmup_seconds: float
) -> tuple[list[float], list[float]]:
    """Seconds from a probe click's send time to its feedback event being visible (read_committed),
    and, as the baseline, to the click itself being visible on the input topic (Kafka alone), with
    ``background_rate`` actions/s of live traffic beside the probes."""
    topics = settings.topics
    producer = make_producer(bootstrap, **{"linger.ms": 0})
    sent_at: dict[str, float] = {}
    seen: dict[str, float] = {}
    on_input: dict[str, float] = {}
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-fresh-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "latest",
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([topics.feedback_events, topics.user_actions])
    consumer.poll(1.0)
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            message = consumer.poll(0.1)
            if message is None or message.error():
                continue
            if message.topic() == topics.feedback_events:
                event_id = avro.decode(message.value(), schemas.FEEDBACK_EVENT)["event_id"]
                seen.setdefault(event_id, time.monotonic())
            elif (message.key() or b"").startswith(b"probe-"):  # not the background traffic
                on_input.setdefault(avro.decode(message.value())["event_id"], time.monotonic())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    background = BackgroundTraffic(bootstrap, topics.user_actions, background_rate)
    background.start()
    # The jobs were just submitted: probe only once they run and the live load flows (a warm-up).
    time.sleep(warmup_seconds)
    backs: list[tuple[float, Record]] = []
    end = time.monotonic() + seconds
    probe = 0
    while time.monotonic() < end:
        now = datetime.now(UTC)
        session = f"probe-{uuid.uuid4().hex[:8]}"
        search = _probe_action(
            session,
            now,
            "search",
            search_id=session,
            impressions=[{"hotel_id": "P1", "position": 1, "price": 100.0, "rating": 4.0}],
        )
        click = _probe_action(
            session, now + timedelta(milliseconds=100), "click", search_id=session, hotel_id="P1", position=1
        )
        produce_actions(producer, topics.user_actions, [search, click])
        sent_at[click["event_id"]] = time.monotonic()
        backs.append((time.monotonic() + 2.0, _probe_action(session, now + timedelta(seconds=2), "back")))
        due = [b for b in backs if b[0] <= time.monotonic()]
        backs = [b for b in backs if b[0] > time.monotonic()]
        if due:
            produce_actions(producer, topics.user_actions, [b[1] for b in due])
        send_heartbeats(producer, topics.user_actions, datetime.now(UTC))
        probe += 1
        time.sleep(0.5)
    # Keep event time moving until the last probes are decided.
    for _ in range(40):
        send_heartbeats(producer, topics.user_actions, datetime.now(UTC))
        time.sleep(0.5)
    done.set()
    background.stop.set()
    background.join(5)
    reader.join(5)
    consumer.close()
    return (
        sorted(seen[event_id] - sent for event_id, sent in sent_at.items() if event_id in seen),
        sorted(on_input[event_id] - sent for event_id, sent in sent_at.items() if event_id in on_input),
    )


def _probe_action(session: str, at: datetime, action_type: str, **fields: object) -> Record:
    record: Record = schemas.default_record(schemas.USER_ACTION)
    record.update(
        event_id=str(uuid.uuid4()),
        schema_version=1,
        user_id="probe",
        session_id=session,
        timestamp=at.replace(microsecond=at.microsecond // 1000 * 1000),
        action_type=action_type,
    )
    record.update(fields)
    return record


def build_result(
    sent: int,
    passthrough: tuple[float, float, list[tuple[float, float]]],
    labelling: tuple[float, list[tuple[float, float]], list[tuple[float, float]]],
    io_equivalent_eps: float,
    whole: tuple[float, dict[str, list[tuple[float, float]]]],
    heap: tuple[float, float],
    latencies: dict[str, tuple[list[float], list[float]]],
    recovery: tuple[int, int, float, list[tuple[float, float]]] | None,
    settings: JobSettings,
    parameters: dict[str, Any],
    window: WindowMeter,
) -> Result:
    """``passthrough``: (events/s, seconds reading, samples); ``labelling``: (events/s, read samples,
    clean-committed samples); ``whole``: (events/s, samples by what was counted, see
    ``follow_pipeline``); ``heap``: the TaskManager heap's peak use during the whole pipeline and
    its maximum, in bytes; ``latencies``: by labelling state backend, seconds to feedback and to the
    input topic (baseline); ``recovery``: (actions behind, live actions/s, seconds to catch up,
    samples) or None."""
    passthrough_eps, passthrough_seconds, passthrough_read = passthrough
    labelling_eps, labelling_read, committed = labelling
    whole_eps, whole_samples = whole
    baseline = "pass-through job (Kafka → blackhole)"
    figures = [
        Figure(
            measure=f"labelling job, exactly once to Kafka (parallelism {settings.parallelism})",
            value=labelling_eps,
            unit="ev/s",
            baseline="I/O-equivalent job (same source, records and sink, no logic)",
            baseline_value=io_equivalent_eps,
            target=f"≥ {TARGET_LABELLING_EPS:,} ev/s",
            met=labelling_eps >= TARGET_LABELLING_EPS,
        ),
        Figure(
            measure="whole pipeline, every output exactly once (Kafka + Parquet)",
            value=whole_eps,
            unit="ev/s",
            baseline=baseline,
            baseline_value=passthrough_eps,
            target=f"≥ {TARGET_ALL_OUTPUTS_EPS:,} ev/s",
            met=whole_eps >= TARGET_ALL_OUTPUTS_EPS,
        ),
        Figure(
            measure="I/O-equivalent job, exactly once to Kafka",
            value=io_equivalent_eps,
            unit="ev/s",
            baseline=baseline,
            baseline_value=passthrough_eps,
        ),
    ]
    heap_peak, heap_limit = heap
    figures.append(
        Figure(
            measure="TaskManager heap used, peak while the whole pipeline ran",
            value=heap_peak / 2**20,
            unit="MiB",
            baseline="the TaskManager's maximum heap",
            baseline_value=heap_limit / 2**20,
            target=f"≤ {TARGET_HEAP_MIB:,} MiB",
            met=0 < heap_peak / 2**20 <= TARGET_HEAP_MIB,
        )
    )
    for backend, (to_feedback, to_input) in latencies.items():
        fresh = percentiles_ms(to_feedback)
        figures.append(
            Figure(
                measure=f"feedback freshness p99, {backend} state ({len(to_feedback)} probes, "
                f"{parameters['background_rate']:,} actions/s live load)",
                value=fresh.get("p99", float("nan")) / 1000,
                unit="s",
                baseline="the click on the input topic (Kafka alone), p99",
                baseline_value=percentiles_ms(to_input).get("p99", float("nan")) / 1000,
                target=f"p99 ≤ {TARGET_FRESHNESS_P99_SECONDS:.0f} s",
                met=bool(fresh) and fresh["p99"] / 1000 <= TARGET_FRESHNESS_P99_SECONDS,
                latency_ms=fresh,
                baseline_latency_ms=percentiles_ms(to_input),
            )
        )
    if recovery is not None:
        behind, rate, seconds, _ = recovery
        # The least it could take: the backlog at the I/O-equivalent job's rate, less the live traffic.
        floor = behind / max(io_equivalent_eps - rate, 1.0)
        figures.append(
            Figure(
                measure=f"catch-up: {behind:,} actions behind ({behind / rate / 60:.1f} min at {rate:,}/s), "
                "time until labels are live again, traffic continuing",
                value=seconds,
                unit="s",
                baseline="the backlog at the I/O-equivalent job's rate",
                baseline_value=floor,
            )
        )
    series = [
        Series.from_counts("labelling job: records read (Flink REST)", "ev/s", labelling_read),
        Series.from_counts("labelling job: clean events committed", "ev/s", committed),
        Series.from_counts("whole pipeline: labelling job records read", "ev/s", whole_samples["labelling"]),
        Series.from_counts("whole pipeline: exposures records committed", "rec/s", whole_samples["exposures"]),
        Series.from_counts("whole pipeline: features job records read", "rec/s", whole_samples["features"]),
        Series.from_counts("whole pipeline: events/ rows committed (lake)", "rows/s", whole_samples["lake"]),
        Series.from_counts("pass-through job: records read (Flink REST)", "ev/s", passthrough_read, baseline=True),
    ]
    notes = [
        f"{sent:,} actions; checkpoints: labelling {settings.labelling_checkpoint_interval_seconds} s, features "
        f"{settings.checkpoint_interval_seconds} s, lake {settings.lake_checkpoint_interval_seconds} s. The labelling "
        "figure runs from its first record read until every distinct action is committed to the clean topic; the "
        "whole-pipeline figure until the lake's events/ dataset holds every one and the features job has read "
        "every committed exposures record. Freshness is probed on a fresh pipeline with no backlog.",
        f"The pass-through read them in {passthrough_seconds:.1f} s, measured from Flink's REST metrics, which "
        "refresh each second: its rate is approximate, the more so the shorter that time.",
    ]
    return window.result(
        "job",
        f"Pipeline ({sent:,} actions, parallelism {settings.parallelism})",
        parameters,
        figures,
        series,
        notes,
    )


def output_settings(settings: JobSettings, run: str) -> JobSettings:
    """``settings`` writing to fresh output topics (same input), under their own group and transactional ids."""
    outputs = settings.topics.with_suffix(run).model_copy(update={"user_actions": settings.topics.user_actions})
    return settings.model_copy(
        update={
            "topics": outputs,
            "consumer_group": f"{settings.consumer_group}-{run}",
            "transactional_id_prefix": f"{settings.transactional_id_prefix}-{run}",
            "parquet_dir": settings.parquet_dir.parent / run,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--events", type=int, default=quick(1_000_000, 20_000), help="actions to fill the input topic with"
    )
    parser.add_argument("--freshness-seconds", type=float, default=quick(30.0, 5.0))
    parser.add_argument("--background-rate", type=int, default=quick(BACKGROUND_RATE, 500))
    parser.add_argument(
        "--parallelism", type=int, default=os.cpu_count() or 1, help="parallelism of every job (default: the cores)"
    )
    parser.add_argument(
        "--freshness-state-backends",
        default=quick("rocksdb,hashmap", "rocksdb"),
        help="labelling_state_backend values to probe freshness with, comma-separated",
    )
    parser.add_argument(
        "--catch-up-minutes", type=float, default=quick(10.0, 0.5), help="outage before the catch-up run (0: skip)"
    )
    parser.add_argument(
        "--lake-checkpoint-seconds", type=int, default=10, help="the lake's interval (default 60 s) in this run"
    )
    parser.add_argument("--output-dir", type=Path, default=RESULTS_DIR, help="where job.json is written")
    args = parser.parse_args()

    window = WindowMeter()
    stack = Stack(StackSettings())
    stack.up()
    bootstrap = stack.settings.bootstrap_servers
    suffix = f"bench-{uuid.uuid4().hex[:6]}"
    topics = Topics().with_suffix(suffix)
    folder = Path(tempfile.mkdtemp(prefix="rankfeed-bench-"))
    base = JobSettings(
        kafka=KafkaSettings(bootstrap_servers=bootstrap),
        topics=topics,
        consumer_group=suffix,
        transactional_id_prefix=suffix,
        parquet_dir=folder / "parquet",
        parallelism=args.parallelism,
        lake_checkpoint_interval_seconds=args.lake_checkpoint_seconds,
    )
    labelling_settings, whole_settings = output_settings(base, "labelling"), output_settings(base, "whole")
    io_settings = output_settings(base, "io")
    # Freshness and catch-up run on topics of their own, input included (live traffic, a recent backlog).
    backends = [backend.strip() for backend in args.freshness_state_backends.split(",") if backend.strip()]
    fresh_settings = {
        backend: output_settings(base, f"fresh-{backend}").model_copy(
            update={"topics": Topics().with_suffix(f"{suffix}-f{i}"), "labelling_state_backend": backend}
        )
        for i, backend in enumerate(backends)
    }
    catch_up_settings = output_settings(base, "catch-up").model_copy(
        update={"topics": Topics().with_suffix(suffix + "-c")}
    )
    created = [topics, labelling_settings.topics, io_settings.topics, whole_settings.topics]
    created += [settings.topics for settings in fresh_settings.values()] + [catch_up_settings.topics]
    for created_topics in created:
        create_topics(bootstrap, created_topics)
    try:
        began = time.monotonic()
        sent, distinct, _ = fill(bootstrap, topics.user_actions, args.events)
        fill_seconds = time.monotonic() - began
        total = sent + len(stack.broker.admin().list_topics(topics.user_actions).topics[topics.user_actions].partitions)
        print(f"filled {topics.user_actions} with {sent} actions ({distinct} distinct) in {fill_seconds:.0f}s")

        job = submit(stack, "passthrough", base.model_copy(update={"consumer_group": suffix + "-pt"}), folder)
        first, last, passthrough_read = measure_source(stack.flink, job, total, 900)
        stack.flink.cancel(job)
        # Below the metrics' resolution the reading time is unknown; a quarter second (the polling interval) at least.
        passthrough_seconds = max(last - first, 0.25)
        passthrough_eps = sent / passthrough_seconds
        print(f"pass-through: {passthrough_eps:,.0f} events/s")

        labelling_eps, labelling_read, committed = run_until_clean(
            stack, "labelling", labelling_settings, folder, sent, distinct, "clean events committed"
        )
        print(f"labelling job, end to end: {labelling_eps:,.0f} events/s")
        io_equivalent_eps, _, _ = run_until_clean(
            stack, "io_equivalent", io_settings, folder, sent, total, "records copied by the I/O-equivalent job"
        )
        print(f"I/O-equivalent job: {io_equivalent_eps:,.0f} events/s")

        heap = HeapMeter(stack.flink)
        heap.start()
        jobs = pipeline.submit(stack.flink, write_config(whole_settings, folder, "whole"))
        first, done, whole_samples = follow_pipeline(stack.flink, jobs, whole_settings, distinct, 1800)
        pipeline.cancel(stack.flink, jobs)
        heap.stop.set()
        whole_eps = sent / (done - first)
        print(f"whole pipeline, every output: {whole_eps:,.0f} events/s")

        latencies: dict[str, tuple[list[float], list[float]]] = {}
        for backend, settings in fresh_settings.items():
            jobs = pipeline.submit(stack.flink, write_config(settings, folder, f"fresh-{backend}"))
            latencies[backend] = freshness(
                bootstrap, settings, args.freshness_seconds, args.background_rate, quick(30.0, 5.0)
            )
            pipeline.cancel(stack.flink, jobs)
            print(f"freshness ({backend}): p99 {percentiles_ms(latencies[backend][0]).get('p99', 0) / 1000:.1f} s")

        recovery = None
        if args.catch_up_minutes > 0:
            behind = backlog(
                bootstrap, catch_up_settings.topics.user_actions, args.catch_up_minutes * 60, args.background_rate
            )
            seconds, behind_samples = catch_up(
                stack, catch_up_settings, folder, behind, args.background_rate, quick(1800.0, 300.0)
            )
            recovery = (behind, args.background_rate, seconds, behind_samples)
            print(f"catch-up: {behind:,} actions behind, caught up in {seconds:.0f} s")
    finally:
        AdminClient({"bootstrap.servers": bootstrap}).delete_topics(
            sorted({name for created_topics in created for name in created_topics.specs()})
        )
    parameters = {
        "events": sent,
        "distinct_events": distinct,
        "parallelism": args.parallelism,
        "labelling_checkpoint_interval_seconds": base.labelling_checkpoint_interval_seconds,
        "checkpoint_interval_seconds": base.checkpoint_interval_seconds,
        "lake_checkpoint_interval_seconds": base.lake_checkpoint_interval_seconds,
        "freshness_seconds": args.freshness_seconds,
        "freshness_state_backends": backends,
        "catch_up_minutes": args.catch_up_minutes,
        "background_rate": args.background_rate,
        "fill_seconds": round(fill_seconds, 1),
    }
    result = build_result(
        sent,
        (passthrough_eps, passthrough_seconds, passthrough_read),
        (labelling_eps, labelling_read, committed),
        io_equivalent_eps,
        (whole_eps, whole_samples),
        (heap.peak, heap.limit),
        latencies,
        recovery,
        base,
        parameters,
        window,
    )
    print()
    print(table([result]))
    print("\n".join(result.notes))
    print(f"written to {result.write(args.output_dir)}")


if __name__ == "__main__":
    main()
