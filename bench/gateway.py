"""Gateway load benchmark beside a raw-producer baseline, on loopback, bounded in time.

1. Makes sure the local broker runs; creates throw-away topics; deletes them at the end.
2. Builds realistic traffic with the simulator (searches with 20 impressions, clicks, books, ...),
   timestamps shifted to now, as JSON request bodies: single events and batches of 100.
3. Starts the gateway as separate processes (``--workers 2``), with its access log on (to a file).
4. Drives it with ``wrk`` (a C load generator, keep-alive, closed loop) when installed, else with
   the small asyncio keep-alive client below, which costs more CPU on the same cores.
5. Produces the same events, pre-encoded with fastavro, straight through confluent-kafka with the
   gateway's durability settings: the ceiling for any Python producer on this machine.
6. Checks that the topic holds at least as many events as were answered 202, and prints a markdown table.

Everything (broker, gateway, load generator) shares this machine's cores, as the targets assume.
Run with ``make bench-gateway`` or ``.venv/bin/python bench/gateway.py [--seconds 10]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from confluent_kafka import Consumer, KafkaError, Message, TopicPartition
from confluent_kafka.admin import AdminClient

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


@dataclass
class LoadResult:
    requests: int
    seconds: float
    failures: int
    p50_ms: float
    p99_ms: float
    tool: str
    #: Cores used during the run by the gateway's processes, the broker and the load generator.
    cores: dict[str, float] | None = None

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_gateway(
    bootstrap_servers: str, topics: Topics, port: int, workers: int, log_file: Path
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "RANKFEED_KAFKA__BOOTSTRAP_SERVERS": bootstrap_servers,
        "RANKFEED_API_KEYS": json.dumps([{"name": "bench", "key": API_KEY}]),
        "RANKFEED_TOPICS__USER_ACTIONS": topics.user_actions,
        "RANKFEED_RATE_LIMIT_EVENTS_PER_SECOND": "1e9",
        "RANKFEED_RATE_LIMIT_BURST_EVENTS": "1000000000",
        "RANKFEED_MAX_BATCH_EVENTS": str(BATCH_SIZE),
    }
    command = [sys.executable, "-m", "rankfeed.gateway.cli", "--port", str(port), "--workers", str(workers)]
    with log_file.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the gateway exited with {process.returncode}; see {log_file}")
        try:
            ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            ready = False
        if ready:
            # Each worker answers readyz on its own; give the last one a moment to probe Kafka.
            time.sleep(2)
            return process
        time.sleep(0.2)
    stop_gateway(process)
    raise RuntimeError(f"the gateway did not become ready in 60 s; see {log_file}")


def stop_gateway(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# -- where the CPU goes -------------------------------------------------------------------------

_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_SECOND  # utime + stime


def _process_tree(pid: int) -> list[int]:
    found = [pid]
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in children.read_text().split():
            found.extend(_process_tree(int(child)))
    return found


def _machine_busy_seconds() -> float:
    """Seconds all cores spent not idle since boot (/proc/stat)."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks[:8]) - idle) / _TICKS_PER_SECOND


class CpuMeter:
    """CPU seconds of process trees between ``start`` and ``stop``, as cores (Linux /proc)."""

    def __init__(self, roots: dict[str, int | None]) -> None:
        self.roots = {name: pid for name, pid in roots.items() if pid is not None}
        self._before: dict[str, float] = {}
        self._started = 0.0

    def _now(self) -> dict[str, float]:
        usage = {name: sum(_cpu_seconds(pid) for pid in _process_tree(root)) for name, root in self.roots.items()}
        children = os.times()
        usage["load generator"] = children.children_user + children.children_system + time.process_time()
        # Everything else on the machine: busy time of all cores minus the processes above.
        busy = _machine_busy_seconds()
        usage["other processes"] = busy - sum(usage.values())
        return usage

    def start(self) -> None:
        self._before = self._now()
        self._started = time.monotonic()

    def stop(self) -> dict[str, float]:
        elapsed = time.monotonic() - self._started
        after = self._now()
        return {name: (after[name] - self._before.get(name, 0.0)) / elapsed for name in after}


# -- load generation ----------------------------------------------------------------------------

_WRK_SCRIPT = """
local bodies = {}
local count = 0
for line in io.lines("%(bodies)s") do
  count = count + 1
  bodies[count] = line
end
local next_body = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Api-Key"] = "%(key)s"
request = function()
  next_body = next_body %% count + 1
  return wrk.format(nil, "%(path)s", nil, bodies[next_body])
end
"""


def _wrk_milliseconds(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def run_wrk(port: int, path: str, bodies: list[bytes], connections: int, seconds: float) -> LoadResult:
    with tempfile.TemporaryDirectory() as folder:
        bodies_file = Path(folder) / "bodies.ndjson"
        bodies_file.write_bytes(b"\n".join(bodies) + b"\n")
        script = Path(folder) / "post.lua"
        script.write_text(_WRK_SCRIPT % {"bodies": bodies_file, "key": API_KEY, "path": path})
        command = [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
        ]
        output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    duration = re.search(r"requests in ([\d.]+\w+),", output).group(1)  # type: ignore[union-attr]
    failures_match = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors_match = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    failures = int(failures_match.group(1)) if failures_match else 0
    if errors_match:
        failures += sum(int(group) for group in errors_match.groups())
    p50 = re.search(r"50%\s+([\d.]+\w+)", output).group(1)  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+\w+)", output).group(1)  # type: ignore[union-attr]
    return LoadResult(
        requests=requests,
        seconds=_wrk_milliseconds(duration) / 1000,
        failures=failures,
        p50_ms=_wrk_milliseconds(p50),
        p99_ms=_wrk_milliseconds(p99),
        tool="wrk",
    )


async def _keep_alive_client(
    port: int, path: str, bodies: list[bytes], stop_at: float, latencies: list[float], failures: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    heads = [
        (
            f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            f"X-Api-Key: {API_KEY}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
        for body in bodies
    ]
    index = 0
    try:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            writer.write(heads[index % len(heads)])
            index += 1
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if not status_line.startswith(b"HTTP/1.1 202"):
                failures.append(1)
    finally:
        writer.close()


def run_python_load(port: int, path: str, bodies: list[bytes], connections: int, seconds: float) -> LoadResult:
    """Fallback when wrk is not installed: a closed-loop keep-alive client per connection."""
    latencies: list[float] = []
    failures: list[int] = []

    async def main() -> float:
        started = time.perf_counter()
        stop_at = started + seconds
        await asyncio.gather(
            *(_keep_alive_client(port, path, bodies, stop_at, latencies, failures) for _ in range(connections))
        )
        return time.perf_counter() - started

    elapsed = asyncio.run(main())
    ordered = sorted(latencies)
    return LoadResult(
        requests=len(latencies),
        seconds=elapsed,
        failures=len(failures),
        p50_ms=statistics.median(ordered) * 1000,
        p99_ms=ordered[int(len(ordered) * 0.99)] * 1000,
        tool="python asyncio client",
    )


def drive(
    port: int,
    path: str,
    bodies: list[bytes],
    connections: int,
    seconds: float,
    generator: str,
    meter: CpuMeter | None = None,
) -> LoadResult:
    if meter is not None:
        meter.start()
    if generator == "wrk" or (generator == "auto" and shutil.which("wrk")):
        result = run_wrk(port, path, bodies, connections, seconds)
    else:
        result = run_python_load(port, path, bodies, connections, seconds)
    if meter is not None:
        result.cores = meter.stop()
    return result


# -- raw producer baseline and verification -----------------------------------------------------


def raw_producer(bootstrap_servers: str, topic: str, payloads: list[tuple[bytes, bytes]], seconds: float) -> float:
    """Events per second of pre-encoded Avro through one confluent-kafka producer, acknowledged."""
    producer = make_producer(bootstrap_servers)
    failures: list[KafkaError] = []

    def delivered(error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            failures.append(error)

    sent = 0
    started = time.perf_counter()
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
    remaining = producer.flush(60)
    elapsed = time.perf_counter() - started
    if failures or remaining:
        raise RuntimeError(f"raw producer: {len(failures)} failed, {remaining} unacknowledged")
    return sent / elapsed


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


# -- report -------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "meets target" if ok else "below target"


def report(single: LoadResult, batch: LoadResult, raw_eps: float, workers: int, connections: tuple[int, int]) -> str:
    batch_eps = batch.per_second * BATCH_SIZE
    single_ok = single.per_second >= TARGET_SINGLE_RPS and single.p99_ms <= TARGET_P99_MS
    batch_ok = batch_eps >= TARGET_BATCH_EPS and batch_eps >= TARGET_BATCH_RATIO * raw_eps
    rows = [
        "| measurement | result | p50 | p99 | target | |",
        "|---|---:|---:|---:|---|---|",
        f"| single event, {connections[0]} connections | {single.per_second:,.0f} req/s | {single.p50_ms:.2f} ms "
        f"| {single.p99_ms:.2f} ms | ≥ {TARGET_SINGLE_RPS:,} req/s, p99 ≤ {TARGET_P99_MS:.0f} ms "
        f"| {verdict(single_ok)} |",
        f"| batch of {BATCH_SIZE}, {connections[1]} connections | {batch_eps:,.0f} events/s "
        f"({batch.per_second:,.0f} req/s) | {batch.p50_ms:.2f} ms | {batch.p99_ms:.2f} ms "
        f"| ≥ {TARGET_BATCH_EPS:,} ev/s and ≥ {TARGET_BATCH_RATIO} × raw | {verdict(batch_ok)} |",
        f"| raw producer (pre-encoded Avro, 1 process) | {raw_eps:,.0f} events/s | | | baseline | |",
        f"| ratio batch / raw | {batch_eps / raw_eps:.2f} | | | ≥ {TARGET_BATCH_RATIO} | |",
        f"| ratio single / raw | {single.per_second / raw_eps:.2f} | | | | |",
    ]
    notes = [
        "",
        f"{os.cpu_count()} cores shared by the broker, {workers} gateway workers and the load generator "
        f"({single.tool}); failures: single {single.failures}, batch {batch.failures}.",
    ]
    for name, result in (("single", single), ("batch", batch)):
        if result.cores:
            used = ", ".join(f"{who} {cores:.2f}" for who, cores in result.cores.items())
            notes.append(f"cores used during {name}: {used}")
    return "\n".join(rows + notes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each measurement")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--single-connections", type=int, default=48)
    parser.add_argument("--batch-connections", type=int, default=16)
    parser.add_argument("--sessions", type=int, default=400, help="simulated sessions the bodies are made of")
    parser.add_argument(
        "--load-generator",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="wrk when installed (apt-get install wrk), else the asyncio client",
    )
    args = parser.parse_args()

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
    gateway = start_gateway(bootstrap_servers, topics, port, args.workers, log_file)
    try:
        generator = args.load_generator
        # Warm-up: connections, caches, the broker's partition leaders.
        drive(port, "/v1/actions", single_bodies, args.single_connections, min(2.0, args.seconds), generator)
        meter = CpuMeter({"gateway": gateway.pid, "broker": stack.broker.pid()})
        single = drive(port, "/v1/actions", single_bodies, args.single_connections, args.seconds, generator, meter)
        batch = drive(port, "/v1/actions/batch", batch_bodies, args.batch_connections, args.seconds, generator, meter)
    finally:
        stop_gateway(gateway)
    answered = (single.requests - single.failures) + (batch.requests - batch.failures) * BATCH_SIZE
    on_topic = events_on_topic(bootstrap_servers, topics.user_actions)
    raw_meter = CpuMeter({"broker": stack.broker.pid()})
    raw_meter.start()
    # Same topic (6 partitions) as the gateway, after its events were counted.
    raw_eps = raw_producer(bootstrap_servers, topics.user_actions, payloads, args.seconds)
    raw_cores = raw_meter.stop()
    try:
        print()
        print(report(single, batch, raw_eps, args.workers, (args.single_connections, args.batch_connections)))
        print(f"cores used during raw: producer {raw_cores['load generator']:.2f}, broker {raw_cores['broker']:.2f}")
        print(
            f"events on the topic: {on_topic:,} (≥ {answered:,} answered 202 in the measured runs, "
            f"plus the warm-up) — {'consistent' if on_topic >= answered else 'MISSING EVENTS'}; gateway log: {log_file}"
        )
    finally:
        admin = AdminClient({"bootstrap.servers": bootstrap_servers})  # kept alive until the deletes finish
        for future in admin.delete_topics(list(topics.specs()), operation_timeout=30).values():
            future.result()


if __name__ == "__main__":
    main()
