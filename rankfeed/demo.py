"""`make demo`: the whole pipeline on this machine, on synthetic traffic, with its output shown.

Starts the stack, submits the pipeline's jobs (labelling, features, lake) that are not running,
sends seeded traffic through the gateway, ticks the watermark past the last session, waits until
the labelling job has committed its output (read_committed, so only checkpointed output counts)
and the lake job has written it to Parquet, and prints what came out. The stack keeps running afterwards
so the web UI and the data can be explored.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.dataset as ds
from confluent_kafka import Consumer, TopicPartition
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from rankfeed import avro, pipeline, schemas, simulate
from rankfeed.consumer import committed_reader
from rankfeed.gateway.client import send_actions
from rankfeed.local.stack import Stack
from rankfeed.producer import make_producer, send_heartbeats
from rankfeed.settings import JobSettings
from rankfeed.types import Record


@dataclass(frozen=True)
class DemoResult:
    sent: int
    clean: list[Record]
    feedback: list[Record]
    ltr: list[Record]
    sessions: list[Record]
    parquet_rows: dict[str, int]


def ensure_jobs(stack: Stack, console: Console) -> None:
    """Submit each of the pipeline's jobs that is not running yet."""
    running = pipeline.running(stack.flink)
    for script, job_id in running.items():
        console.print(f"{script} job already running ({job_id})")
    missing = [job for job in pipeline.PIPELINE if job.script not in running]
    for script, job_id in pipeline.submit(stack.flink, None, missing).items():
        console.print(f"submitted the {script} job with `flink run -py jobs/{script}.py`: {job_id}")


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


def read_new(
    bootstrap_servers: str, start: list[TopicPartition], schema: str, expected: int, timeout_seconds: float
) -> list[Record]:
    """Committed records after ``start``, until ``expected`` of them or the timeout."""
    consumer = committed_reader(bootstrap_servers, "demo-reader")
    consumer.assign(start)
    records: list[Record] = []
    deadline = time.monotonic() + timeout_seconds
    try:
        while len(records) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            records.append(avro.decode(message.value(), schema))
    finally:
        consumer.close()
    return records


def traffic_start(state_dir: Path) -> datetime:
    """Now, or after the previous demo's traffic: event time must move forward or it would be late."""
    clock = state_dir / "demo-clock"
    now = datetime.now(UTC).replace(microsecond=0)
    if clock.exists():
        previous_end = datetime.fromtimestamp(float(clock.read_text()), UTC)
        return max(now, previous_end + timedelta(hours=1))
    return now


def run(stack: Stack, sessions: int = 300, console: Console | None = None) -> DemoResult:
    console = console or Console()
    console.rule("rankfeed demo")
    created = stack.up()
    if created:
        console.print(f"created topics: {', '.join(created)}")
    for name, state in stack.status().items():
        console.print(f"{name:>7}: {state}")
    ensure_jobs(stack, console)

    job = JobSettings()
    topics = job.topics
    bootstrap = stack.settings.bootstrap_servers
    start = traffic_start(stack.settings.state_dir)
    shape = simulate.TrafficShape(sessions=sessions, seed=int(start.timestamp()) % 2**31, start=start)
    actions = simulate.generate(shape)
    outputs = [topics.user_actions_clean, topics.feedback_events, topics.ltr_examples, topics.session_summaries]
    offsets = {topic: end_offsets(bootstrap, topic) for topic in outputs}
    parquet_before = _parquet_rows(job.parquet_dir)
    producer = make_producer(bootstrap)
    key = stack.settings.gateway_api_key.get_secret_value()
    batch = 100
    with Progress(console=console) as progress:
        task = progress.add_task(f"sending actions through the gateway ({stack.gateway.url})", total=len(actions))
        for start_index in range(0, len(actions), batch):
            chunk = actions[start_index : start_index + batch]
            send_actions(stack.gateway.url, key, chunk, batch_size=batch)
            progress.update(task, advance=len(chunk))
    last = max(action["timestamp"] for action in actions)
    # Close every session: move event time past the last action plus the session gap.
    tick = last + timedelta(minutes=job.session_gap_minutes + 1)
    send_heartbeats(producer, topics.user_actions, tick)
    (stack.settings.state_dir / "demo-clock").write_text(str(tick.timestamp()))

    distinct = {action["event_id"]: action for action in actions}
    labelled = sum(1 for a in distinct.values() if a["action_type"] in ("click", "book"))
    console.print(
        f"sent {len(actions)} actions ({len(distinct)} distinct, {sessions} sessions, with duplicates); "
        "every one acknowledged by Kafka before the gateway answered 202"
    )
    console.print("waiting for the labelling job to commit its output and the lake job to write it to Parquet…")
    wait = 180
    result = DemoResult(
        sent=len(actions),
        clean=read_new(bootstrap, offsets[topics.user_actions_clean], schemas.USER_ACTION, len(distinct), wait),
        feedback=read_new(bootstrap, offsets[topics.feedback_events], schemas.FEEDBACK_EVENT, labelled, wait),
        sessions=read_new(bootstrap, offsets[topics.session_summaries], schemas.SESSION_SUMMARY, sessions, wait),
        ltr=read_new(bootstrap, offsets[topics.ltr_examples], schemas.LTR_EXAMPLE, 10**9, 10),
        parquet_rows=_wait_for_parquet(
            job.parquet_dir, parquet_before["events"] + len(distinct), job.lake_checkpoint_interval_seconds + 60
        ),
    )
    show(result, job, stack, console)
    return result


def _parquet_rows(root: Path) -> dict[str, int]:
    """Committed rows per dataset (the lake job commits a file per checkpoint)."""
    counts = {}
    for name in ("events", "ltr_examples", "sessions"):
        path = root / name
        if not path.exists():  # the lake has not committed a file to it yet
            counts[name] = 0
            continue
        dataset = ds.dataset(path, format="parquet", partitioning="hive", ignore_prefixes=[".", "_"])
        counts[name] = int(dataset.count_rows())
    return counts


def _wait_for_parquet(root: Path, events: int, timeout_seconds: float) -> dict[str, int]:
    """Committed rows per dataset, once ``events/`` holds ``events`` rows or the timeout passed."""
    deadline = time.monotonic() + timeout_seconds
    counts = _parquet_rows(root)
    while counts["events"] < events and time.monotonic() < deadline:
        time.sleep(2)
        counts = _parquet_rows(root)
    return counts


def _table(title: str, columns: list[str], rows: list[list[object]]) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(f"{v:.2f}" if isinstance(v, float) else str(v) for v in row))
    return table


def show(result: DemoResult, job: JobSettings, stack: Stack, console: Console) -> None:
    topics = job.topics
    counts = [
        [topics.user_actions_clean, len(result.clean), "distinct actions (duplicates dropped)"],
        [topics.feedback_events, len(result.feedback), "labelled clicks, books, quick-backs"],
        [topics.ltr_examples, len(result.ltr), "one per (search, examined hotel)"],
        [topics.session_summaries, len(result.sessions), "one per session"],
    ]
    console.print(_table("this run's output on Kafka", ["topic", "records", "what"], counts))
    labels = Counter((r["label_kind"], r["label"]) for r in result.ltr)
    console.print(
        _table("LTR labels", ["label kind", "label", "examples"], [[k, v, n] for (k, v), n in labels.most_common()])
    )
    sample = [
        [r["search_id"][:8], r["hotel_id"], r["position"], r["label_kind"], r["label"], r["price"], r["price_zscore"]]
        for r in result.ltr[:8]
    ]
    columns = ["search", "hotel", "position", "label kind", "label", "price", "price z"]
    console.print(_table("a few LTR examples", columns, sample))
    console.print(
        f"Parquet datasets under {job.parquet_dir}: "
        + ", ".join(f"{name}/ ({rows} rows in all)" for name, rows in result.parquet_rows.items())
    )
    console.print(f"Kafka topics on {stack.settings.bootstrap_servers}: {', '.join(topics.specs())}")
    names = ", ".join(f"'{job.name}'" for job in pipeline.PIPELINE)
    console.print(f"Flink web UI: {stack.settings.flink_url} (the jobs are {names})")
    console.print(
        f"Demo hotel-search page: {stack.site.url}/?q=paris — its events go through the tracker to the gateway "
        f"at {stack.gateway.url}"
    )
    console.print("The stack keeps running. Stop it with `make down` (or `rankfeed local down`).")
