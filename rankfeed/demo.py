"""`make demo`: the whole pipeline on this machine, on synthetic traffic, with its output shown.

Starts the stack, submits the feedback job if it is not running, sends seeded traffic, waits until
the job has written it (read_committed, so only checkpointed output counts) and prints what came out.
The stack keeps running afterwards so the web UI and the data can be explored.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pyarrow.dataset as ds
from confluent_kafka import Consumer, TopicPartition
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from rankfeed import avro, simulate
from rankfeed.local.stack import Stack
from rankfeed.producer import make_producer, produce_actions
from rankfeed.settings import REPO_ROOT, JobSettings
from rankfeed.types import Record

JOB_NAME = "rankfeed-feedback"


@dataclass(frozen=True)
class DemoResult:
    sent: int
    output_records: list[Record]
    parquet_rows: int


def ensure_job(stack: Stack, console: Console) -> None:
    running = [job for job in stack.flink.jobs() if job["name"] == JOB_NAME and job["state"] == "RUNNING"]
    if running:
        console.print(f"feedback job already running ({running[0]['jid']})")
        return
    job_id = stack.flink.run_python_job(REPO_ROOT / "jobs" / "feedback.py")
    console.print(f"submitted the feedback job with `flink run -py jobs/feedback.py`: {job_id}")


def end_offsets(bootstrap_servers: str, topic: str) -> list[TopicPartition]:
    consumer = Consumer({"bootstrap.servers": bootstrap_servers, "group.id": "rankfeed-demo-offsets"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        offsets = []
        for partition in partitions:
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            offsets.append(TopicPartition(topic, partition, high))
        return offsets
    finally:
        consumer.close()


def read_from(
    bootstrap_servers: str, start: list[TopicPartition], wanted: set[str], timeout_seconds: float
) -> list[Record]:
    """Records after ``start`` whose event_id is in ``wanted``, until all seen or the timeout."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": "rankfeed-demo-reader",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )
    consumer.assign(start)
    found: dict[str, Record] = {}
    deadline = time.monotonic() + timeout_seconds
    try:
        while len(found) < len(wanted) and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            record = avro.decode(message.value())
            if record["event_id"] in wanted:
                found.setdefault(record["event_id"], record)
    finally:
        consumer.close()
    return list(found.values())


def run(stack: Stack, sessions: int = 300, seed: int | None = None, console: Console | None = None) -> DemoResult:
    console = console or Console()
    console.rule("rankfeed demo")
    created = stack.up()
    if created:
        console.print(f"created topics: {', '.join(created)}")
    for name, state in stack.status().items():
        console.print(f"{name:>6}: {state}")
    ensure_job(stack, console)

    job = JobSettings()
    bootstrap = stack.settings.bootstrap_servers
    # A fresh seed each run unless given: event_ids must be new so this run's output can be told apart.
    shape = simulate.TrafficShape(sessions=sessions, seed=seed if seed is not None else time.time_ns() % 2**31)
    actions = simulate.generate(shape)
    start = end_offsets(bootstrap, job.topics.user_actions_clean)
    with Progress(console=console) as progress:
        task = progress.add_task("sending actions to Kafka", total=len(actions))
        produce_actions(
            make_producer(bootstrap),
            job.topics.user_actions,
            actions,
            on_progress=lambda sent: progress.update(task, completed=sent),
        )
    wanted = {action["event_id"] for action in actions}
    console.print(f"sent {len(actions)} actions ({len(wanted)} distinct event_ids, {sessions} sessions)")
    console.print("waiting for the job to commit its output (one checkpoint interval or so)…")
    output = read_from(bootstrap, start, wanted, timeout_seconds=120)
    result = DemoResult(sent=len(actions), output_records=output, parquet_rows=_parquet_rows(job.parquet_dir))
    show(result, job, stack, console)
    return result


def _parquet_rows(path: Path) -> int:
    events = path / "events"
    if not events.exists():
        return 0
    return int(ds.dataset(events, format="parquet", partitioning="hive", ignore_prefixes=[".", "_"]).count_rows())


def show(result: DemoResult, job: JobSettings, stack: Stack, console: Console) -> None:
    counts = Counter(record["action_type"] for record in result.output_records)
    table = Table(title=f"{job.topics.user_actions_clean}: this run's actions by type")
    table.add_column("action_type")
    table.add_column("count", justify="right")
    for action_type, count in counts.most_common():
        table.add_row(action_type, str(count))
    console.print(table)
    sample = Table(title="a few output rows")
    for column in ("event_id", "session_id", "timestamp", "action_type", "hotel_id", "position"):
        sample.add_column(column)
    for record in result.output_records[:5]:
        sample.add_row(
            *(str(record[c]) for c in ("event_id", "session_id", "timestamp", "action_type", "hotel_id", "position"))
        )
    console.print(sample)
    console.print(f"Parquet dataset: {job.parquet_dir / 'events'} ({result.parquet_rows} rows committed in all)")
    console.print(f"Kafka topics on {stack.settings.bootstrap_servers}: {', '.join(job.topics.specs())}")
    console.print(f"Flink web UI: {stack.settings.flink_url}")
    console.print("The stack keeps running. Stop it with `make down` (or `rankfeed local down`).")
