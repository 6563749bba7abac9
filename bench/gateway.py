"""Gateway load benchmark beside a raw-producer baseline, on loopback, bounded in time.

1. Makes sure the local broker runs; creates throw-away topics; deletes them at the end.
2. Builds realistic traffic with the simulator (searches with 20 impressions, clicks, books, ...),
   timestamps shifted to now, as JSON request bodies: single events and batches of 100.
3. Starts the gateway as separate processes (``--workers 2``), with its access log on (to a file).
4. Drives it with ``wrk`` (a C load generator, keep-alive, closed loop); without wrk it refuses
   to run unless told ``--load-generator python`` (a small asyncio keep-alive client, bench/load.py,
   which costs more CPU on the same cores: its figures are not comparable with wrk's).
5. Produces the same events, pre-encoded with fastavro, straight through confluent-kafka with the
   gateway's durability settings: the ceiling for any Python producer on this machine.
6. Checks that the topic holds at least as many events as were answered 202.

Prints a markdown table and writes bench/results/gateway.json (figures, baseline, per-second
throughput, latency percentiles) for bench/report.py. Everything (broker, gateway, load generator)
shares this machine's cores, as the targets assume. Run with ``make bench-gateway`` or
``.venv/bin/python bench/gateway.py [--seconds 10]``; RANKFEED_BENCH_QUICK=1 makes it short.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import load
import orjson
from confluent_kafka import Consumer, KafkaError, Message, TopicPartition
from confluent_kafka.admin import AdminClient
from load import LoadResult
from result import RESULTS_DIR, CpuMeter, Figure, Result, Series, WindowMeter, quick, table
from services import free_port, start_service, stop_service

from rankfeed import avro
from rankfeed.gateway.client import to_json_event
from rankfeed.local.broker import create_topics
from rankfeed.local.stack import Stack
from rankfeed.producer import make_producer
from rankfeed.settings import StackSettings, Topics
from rankfeed.simulate import TrafficShape, generate
from rankfeed.types import Record

API_KEY = "bench-key-" + uuid.uuid4().hex
BATCH_SIZE = 100
#: Targets on 2 cores (the brief): single ≥ 10k req/s with p99 ≤ 10 ms; batch ≥ 150k ev/s and ≥ 0.3 × raw.
TARGET_SINGLE_RPS = 10_000
TARGET_P99_MS = 10.0
TARGET_BATCH_EPS = 150_000
TARGET_BATCH_RATIO = 0.3


def traffic(sessions: int) -> list[dict[str, Any]]:
    """Simulated actions as JSON events, shifted so the newest happened a second ago."""
    actions = generate(TrafficShape(sessions=sessions, seed=11, duplicate_share=0.0, out_of_order_share=0.0))
    newest = max(action["timestamp"] for action in actions)
    shift = datetime.now(UTC) - timedelta(seconds=1) - newest
    return [to_json_event({**action, "timestamp": action["timestamp"] + shift}) for action in actions]


def avro_records(events: list[dict[str, Any]]) -> list[Record]:
    """The same events as the gateway would write them (server fields set), for the raw baseline."""
    now = datetime.now(UTC)
    records = []
    for event in events:
        record: Record = {
            **event,
            "timestamp": datetime.fromtimestamp(event["timestamp"] / 1000, UTC),
            "server_timestamp": now,
            "ingest_id": str(uuid.uuid4()),
            "device_family": "Other",
            "client_country": None,
        }
        records.append(record)
    return records


def start_gateway(
    bootstrap_servers: str, topics: Topics, port: int, workers: int, log_file: Path
) -> subprocess.Popen[bytes]:
    env = {
        "RANKFEED_KAFKA__BOOTSTRAP_SERVERS": bootstrap_servers,
        "RANKFEED_API_KEYS": json.dumps([{"name": "bench", "key": API_KEY}]),
        "RANKFEED_TOPICS__USER_ACTIONS": topics.user_actions,
        "RANKFEED_RATE_LIMIT_EVENTS_PER_SECOND": "1e9",
        "RANKFEED_RATE_LIMIT_BURST_EVENTS": "1000000000",
        "RANKFEED_MAX_BATCH_EVENTS": str(BATCH_SIZE),
    }
    gateway, _ = start_service("gateway", "rankfeed.gateway.cli", ["--workers", str(workers)], env, port, log_file)
    # Each worker answers readyz on its own; give the last one a moment to probe Kafka.
    time.sleep(2)
    return gateway


# -- raw producer baseline and verification -----------------------------------------------------


def raw_producer(
    bootstrap_servers: str, topic: str, payloads: list[tuple[bytes, bytes]], seconds: float
) -> tuple[float, list[tuple[float, float]]]:
    """Events per second of pre-encoded Avro through one confluent-kafka producer, acknowledged, and
    (seconds since start, events acknowledged) samples for the throughput over time."""
    producer = make_producer(bootstrap_servers)
    failures: list[KafkaError] = []
    acknowledged = [0]

    def delivered(error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            failures.append(error)
        else:
            acknowledged[0] += 1

    sent = 0
    started = time.perf_counter()
    samples = [(0.0, 0.0)]
    stop_at = started + seconds
    while time.perf_counter() < stop_at:
        for key, value in payloads:
            while True:
                try:
                    producer.produce(topic, value, key, on_delivery=delivered)
                    break
                except BufferError:
                    producer.poll(0.01)
            producer.poll(0)
        sent += len(payloads)
        samples.append((time.perf_counter() - started, float(acknowledged[0])))
    remaining = producer.flush(60)
    elapsed = time.perf_counter() - started
    samples.append((elapsed, float(acknowledged[0])))
    if failures or remaining:
        raise RuntimeError(f"raw producer: {len(failures)} failed, {remaining} unacknowledged")
    return sent / elapsed, samples


def events_on_topic(bootstrap_servers: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap_servers, "group.id": f"bench-{uuid.uuid4().hex[:8]}"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        total = 0
        for partition in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            total += high - low
        return total
    finally:
        consumer.close()


# -- result -------------------------------------------------------------------------------------


def cores_note(name: str, cores: dict[str, float]) -> str:
    return f"cores used during {name}: " + ", ".join(f"{who} {used:.2f}" for who, used in cores.items())


def build_result(
    single: LoadResult,
    batch: LoadResult,
    raw_eps: float,
    raw_samples: list[tuple[float, float]],
    raw_cores: dict[str, float],
    on_topic: int,
    parameters: dict[str, Any],
    window: WindowMeter,
) -> Result:
    batch_eps = batch.rate * BATCH_SIZE
    raw = "raw producer (pre-encoded Avro, 1 process)"
    answered = (single.requests - single.failures) + (batch.requests - batch.failures) * BATCH_SIZE
    figures = [
        Figure(
            measure=f"single event, {single.connections} connections",
            value=single.rate,
            unit="ev/s",
            baseline=raw,
            baseline_value=raw_eps,
            target=f"≥ {TARGET_SINGLE_RPS:,} req/s, p99 ≤ {TARGET_P99_MS:.0f} ms",
            met=single.rate >= TARGET_SINGLE_RPS and single.latency_ms["p99"] <= TARGET_P99_MS,
            latency_ms=single.latency_ms,
        ),
        Figure(
            measure=f"batch of {BATCH_SIZE}, {batch.connections} connections",
            value=batch_eps,
            unit="ev/s",
            baseline=raw,
            baseline_value=raw_eps,
            target=f"≥ {TARGET_BATCH_EPS:,} ev/s and ≥ {TARGET_BATCH_RATIO} × raw",
            met=batch_eps >= TARGET_BATCH_EPS and batch_eps >= TARGET_BATCH_RATIO * raw_eps,
            latency_ms=batch.latency_ms,
        ),
        Figure(
            measure="events on the topic (measured runs and warm-up)",
            value=on_topic,
            unit="events",
            baseline="answered 202 in the measured runs",
            baseline_value=answered,
            target="≥ answered",
            met=on_topic >= answered,
        ),
    ]
    series = [
        single.series(f"single event, {single.connections} connections", "ev/s"),
        batch.series(f"batch of {BATCH_SIZE}, {batch.connections} connections", "ev/s", BATCH_SIZE),
        Series.from_counts(raw, "ev/s", raw_samples, baseline=True),
    ]
    notes = [
        f"{os.cpu_count()} cores shared by the broker, {parameters['workers']} gateway workers and the load "
        f"generator ({single.tool}); failures: single {single.failures}, batch {batch.failures}.",
        cores_note("single", single.cores),
        cores_note("batch", batch.cores),
        f"cores used during raw: producer {raw_cores['load generator']:.2f}, broker {raw_cores['broker']:.2f}",
    ]
    return window.result(
        "gateway",
        f"Gateway ({parameters['workers']} workers, {single.tool}, {parameters['seconds']:.0f} s per phase)",
        parameters,
        figures,
        series,
        notes,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=quick(10.0, 1.0), help="duration of each measurement")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--single-connections", type=int, default=quick(48, 4))
    parser.add_argument("--batch-connections", type=int, default=quick(16, 2))
    parser.add_argument(
        "--sessions", type=int, default=quick(400, 40), help="simulated sessions the bodies are made of"
    )
    parser.add_argument("--load-generator", choices=load.GENERATORS, default="wrk", help=load.GENERATOR_HELP)
    parser.add_argument("--output-dir", type=Path, default=RESULTS_DIR, help="where gateway.json is written")
    args = parser.parse_args()
    load.require_generator(args.load_generator)

    window = WindowMeter()
    stack = Stack(StackSettings())
    if not stack.broker.running():
        stack.broker.start()
    bootstrap_servers = stack.settings.bootstrap_servers
    topics = Topics().with_suffix(f"bench-gateway-{uuid.uuid4().hex[:6]}")
    create_topics(bootstrap_servers, topics)
    events = traffic(args.sessions)
    single_bodies = [orjson.dumps(event) for event in events]
    batch_bodies = [
        orjson.dumps(events[i : i + BATCH_SIZE]) for i in range(0, len(events) - BATCH_SIZE + 1, BATCH_SIZE)
    ]
    payloads = [(record["session_id"].encode(), avro.encode(record)) for record in avro_records(events)]
    print(f"{len(events)} simulated events; {len(batch_bodies)} batch bodies; topic {topics.user_actions}", flush=True)

    port = free_port()
    log_file = Path(tempfile.gettempdir()) / f"rankfeed-bench-gateway-{port}.log"
    try:
        gateway = start_gateway(bootstrap_servers, topics, port, args.workers, log_file)
        meter = CpuMeter({"gateway": gateway.pid, "broker": stack.broker.pid()})

        def drive(path: str, bodies: list[bytes], connections: int, seconds: float) -> LoadResult:
            headers = {"X-Api-Key": API_KEY}
            generator = args.load_generator
            return load.drive(
                port, path, bodies, connections, seconds, generator, headers=headers, ok_status=202, meter=meter
            )

        try:
            # Warm-up: connections, caches, the broker's partition leaders.
            drive("/v1/actions", single_bodies, args.single_connections, min(2.0, args.seconds))
            single = drive("/v1/actions", single_bodies, args.single_connections, args.seconds)
            batch = drive("/v1/actions/batch", batch_bodies, args.batch_connections, args.seconds)
        finally:
            stop_service(gateway)
        on_topic = events_on_topic(bootstrap_servers, topics.user_actions)
        raw_meter = CpuMeter({"broker": stack.broker.pid()})
        raw_meter.start()
        # Same topic (6 partitions) as the gateway, after its events were counted.
        raw_eps, raw_samples = raw_producer(bootstrap_servers, topics.user_actions, payloads, args.seconds)
        raw_cores = raw_meter.stop()
    finally:
        admin = AdminClient({"bootstrap.servers": bootstrap_servers})  # kept alive until the deletes finish
        for future in admin.delete_topics(list(topics.specs()), operation_timeout=30).values():
            future.result()
    parameters = {
        "seconds": args.seconds,
        "workers": args.workers,
        "single_connections": args.single_connections,
        "batch_connections": args.batch_connections,
        "batch_size": BATCH_SIZE,
        "events": len(events),
        "load_generator": single.tool,
    }
    result = build_result(single, batch, raw_eps, raw_samples, raw_cores, on_topic, parameters, window)
    print()
    print(table([result]))
    print("\n".join(result.notes))
    print(f"gateway log: {log_file}; written to {result.write(args.output_dir)}")


if __name__ == "__main__":
    main()
