"""Feedback-job benchmark beside a pass-through baseline, on the same data in the same run.

1. Makes sure the local stack runs; creates throw-away topics (deleted at the end).
2. Fills ``user-actions`` with N synthetic actions of realistic session shapes (the simulator,
   duplicates and reordering included), then heartbeats past the end so every session closes.
3. Pass-through job (Kafka → blackhole, the feedback job's own source): events/s from the first to
   the last record its source read (Flink's numRecordsOut).
4. Feedback job, exactly once to Kafka and Parquet: events/s from its first record read until the
   clean topic holds every distinct action for a read_committed consumer (so the transactions that
   carry them have committed), i.e. end to end through both sinks.
5. Freshness, with the feedback job caught up: probe sessions in wall-clock time (search, click,
   back 2 s later = a quick-back) plus one heartbeat per partition each 0.5 s standing in for live
   traffic; p50/p99 from the click's send time to its feedback event being visible (read_committed).

Prints a markdown table and writes it to bench/results/job.md. Everything shares this machine's
cores. Run with ``make bench-job`` or ``.venv/bin/python bench/job.py [--events 1000000]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient

from rankfeed import avro, schemas, simulate
from rankfeed.local.broker import create_topics
from rankfeed.local.flink_cluster import FlinkCluster
from rankfeed.local.stack import Stack
from rankfeed.producer import make_producer, produce_actions, send_heartbeats
from rankfeed.settings import REPO_ROOT, JobSettings, KafkaSettings, StackSettings, Topics
from rankfeed.types import Record

RESULTS = REPO_ROOT / "bench" / "results" / "job.md"
#: Targets on 2 cores (the feedback-job issue).
TARGET_EPS = 50_000
TARGET_RATIO = 0.3


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


def measure_source(flink: FlinkCluster, job_id: str, total: int, timeout: float) -> tuple[float, float]:
    """(time the source first read, time it had read ``total``), by polling Flink's metrics."""
    first = last = 0.0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        count = source_records(flink, job_id)
        now = time.monotonic()
        if count > 0 and not first:
            first = now
        if count >= total:
            last = now
            break
        time.sleep(0.25)
    if not last:
        raise RuntimeError(f"source read fewer than {total} records in {timeout}s")
    return first, last


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


def submit(stack: Stack, job: str, settings: JobSettings, folder: Path) -> str:
    config = folder / f"{job}.yaml"
    config.write_text(json.dumps(settings.model_dump(mode="json")))
    return stack.flink.run_python_job(REPO_ROOT / "jobs" / f"{job}.py", "--config", str(config))


def freshness(bootstrap: str, settings: JobSettings, seconds: float) -> list[float]:
    """Seconds from a probe click's send time to its feedback event being visible (read_committed)."""
    topics = settings.topics
    producer = make_producer(bootstrap, **{"linger.ms": 0})
    sent_at: dict[str, float] = {}
    seen: dict[str, float] = {}
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-fresh-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "latest",
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([topics.feedback_events])
    consumer.poll(1.0)
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            message = consumer.poll(0.1)
            if message is not None and not message.error():
                event_id = avro.decode(message.value(), schemas.FEEDBACK_EVENT)["event_id"]
                seen.setdefault(event_id, time.monotonic())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
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
    reader.join(5)
    consumer.close()
    return sorted(seen[event_id] - sent for event_id, sent in sent_at.items() if event_id in seen)


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


def percentile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, int(share * len(values)))] if values else float("nan")


def verdict(ok: bool) -> str:
    return "meets target" if ok else "**below target**"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="actions to fill the input topic with")
    parser.add_argument("--freshness-seconds", type=float, default=30.0)
    parser.add_argument("--parallelism", type=int, default=1, help="parallelism of both jobs")
    args = parser.parse_args()

    stack = Stack(StackSettings())
    stack.up()
    bootstrap = stack.settings.bootstrap_servers
    suffix = f"bench-{uuid.uuid4().hex[:6]}"
    topics = Topics().with_suffix(suffix)
    create_topics(bootstrap, topics)
    folder = Path(tempfile.mkdtemp(prefix="rankfeed-bench-"))
    settings = JobSettings(
        kafka=KafkaSettings(bootstrap_servers=bootstrap),
        topics=topics,
        consumer_group=suffix,
        transactional_id_prefix=suffix,
        parquet_dir=folder / "parquet",
        parallelism=args.parallelism,
    )
    try:
        began = time.monotonic()
        sent, distinct, _ = fill(bootstrap, topics.user_actions, args.events)
        fill_seconds = time.monotonic() - began
        total = sent + len(stack.broker.admin().list_topics(topics.user_actions).topics[topics.user_actions].partitions)
        print(f"filled {topics.user_actions} with {sent} actions ({distinct} distinct) in {fill_seconds:.0f}s")

        job = submit(stack, "passthrough", settings.model_copy(update={"consumer_group": suffix + "-pt"}), folder)
        first, last = measure_source(stack.flink, job, total, 900)
        stack.flink.cancel(job)
        passthrough_eps = sent / (last - first)
        print(f"pass-through: {passthrough_eps:,.0f} events/s")

        counter = CommittedCounter(bootstrap, topics.user_actions_clean, distinct)
        counter.start()
        job = submit(stack, "feedback", settings, folder)
        first, _ = measure_source(stack.flink, job, 1, 300)
        counter.join(1800)
        if not counter.reached_at:
            raise RuntimeError(f"only {counter.count} of {distinct} clean events committed")
        feedback_eps = sent / (counter.reached_at - first)
        print(f"feedback job, end to end: {feedback_eps:,.0f} events/s")

        latencies = freshness(bootstrap, settings, args.freshness_seconds)
        stack.flink.cancel(job)
        table = report(sent, passthrough_eps, feedback_eps, latencies, settings)
        print(table)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(table + "\n")
    finally:
        AdminClient({"bootstrap.servers": bootstrap}).delete_topics(list(topics.specs()))


def report(sent: int, passthrough: float, feedback: float, latencies: list[float], settings: JobSettings) -> str:
    ratio = feedback / passthrough
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    bound = settings.quick_back_threshold_seconds + 5
    return "\n".join(
        [
            f"### Feedback job ({sent:,} actions, parallelism {settings.parallelism}, "
            f"checkpoint every {settings.checkpoint_interval_seconds} s, {datetime.now(UTC):%Y-%m-%d})",
            "",
            "| measure | value | baseline / target | verdict |",
            "|---|---|---|---|",
            f"| pass-through job (Kafka → blackhole) | {passthrough:,.0f} ev/s | baseline | |",
            f"| feedback job, exactly once to Kafka + Parquet | {feedback:,.0f} ev/s | ≥ {TARGET_EPS:,} ev/s | "
            f"{verdict(feedback >= TARGET_EPS)} |",
            f"| ratio to pass-through | {ratio:.2f} | ≥ {TARGET_RATIO} | {verdict(ratio >= TARGET_RATIO)} |",
            f"| feedback freshness p50 / p99 ({len(latencies)} probes) | {p50:.1f} s / {p99:.1f} s | "
            f"p99 ≤ T + 5 s = {bound:.0f} s | {verdict(p99 <= bound)} |",
        ]
    )


if __name__ == "__main__":
    main()
