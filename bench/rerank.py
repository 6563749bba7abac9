"""Re-rank endpoint benchmark beside an in-process scoring baseline, on loopback, bounded in time.

1. Needs the local broker running (``rankfeed local up``); creates a throw-away hotel-features topic
   (deleted at the end) and pre-loads N hotels' features into it: a global row per hotel, and a
   destination row for a fifth of them, with seeded random counts.
2. Starts the service as a separate process (``python -m rankfeed.rerank.cli``) and times how long it
   takes to read the topic and become ready.
3. Drives ``POST /v1/rerank`` with 100 hotel ids per request (a tenth of them unknown, half of the
   requests with a destination) from ``wrk`` (a C load generator, keep-alive, closed loop) when
   installed, else from the small asyncio keep-alive client below, for a bounded time, once per
   connection count (8 and 32 by default). Both saturate the one-process service; more connections
   only add queueing, so the second row shows how the latency grows past saturation.
   Meanwhile feature updates are published at a steady rate (1,000/s by default), so the service
   serves while following the topic, as in production.
4. Baseline in the same run: ``Scorer.rank`` called in-process on the same request bodies and the
   same features (no HTTP, no JSON), for the same time.

Everything (broker, service, load generator) shares this machine's cores. Prints a markdown table
and writes it to bench/results/rerank.md. Run ``.venv/bin/python bench/rerank.py [--seconds 10]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import orjson
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from rankfeed import avro, schemas
from rankfeed.rerank.features import FeatureStore, feature_key
from rankfeed.rerank.request import RerankRequest, parse_request
from rankfeed.rerank.scoring import Scorer, ScoringParameters
from rankfeed.rerank.settings import RerankSettings
from rankfeed.settings import REPO_ROOT, KafkaSettings, StackSettings, Topics
from rankfeed.types import Record

RESULTS = REPO_ROOT / "bench" / "results" / "rerank.md"
PATH = "/v1/rerank"
ITEMS_PER_REQUEST = 100
#: The brief's target on 2 cores: p99 ≤ 10 ms for 100 items under load.
TARGET_P99_MS = 10.0
DESTINATIONS = [f"destination-{n}" for n in range(10)]


@dataclass
class LoadResult:
    connections: int
    requests: int
    seconds: float
    failures: int
    p50_ms: float
    p99_ms: float
    tool: str
    #: Cores the service process used during the run (1.0 = one core busy all the time).
    service_cores: float = 0.0
    #: The machine's 1-minute load average before the run: other work competing for the same cores.
    load_average_before: float = 0.0

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


# -- data ---------------------------------------------------------------------------------------


def feature_messages(hotels: int, seed: int) -> list[tuple[bytes, bytes]]:
    """(key, Avro value) of a global row per hotel and a destination row for every fifth hotel."""
    rng = np.random.default_rng(seed)
    examined = rng.gamma(shape=1.0, scale=400.0, size=hotels)
    ctr = rng.beta(2.0, 30.0, size=hotels)
    now = datetime.now(UTC)
    messages = []
    for n in range(hotels):
        hotel_id = f"hotel-{n}"
        rows: list[tuple[str | None, float, float]] = [(None, examined[n], ctr[n])]
        if n % 5 == 0:
            rows.append((DESTINATIONS[n % len(DESTINATIONS)], examined[n] / 4, min(ctr[n] * 1.5, 0.9)))
        for destination, seen, rate in rows:
            clicks = float(round(seen * rate))
            record: Record = {
                "hotel_id": hotel_id,
                "destination": destination,
                "updated_at": now,
                "impressions": float(seen * 2.5),
                "examined_impressions": float(seen),
                "clicks": clicks,
                "books": float(round(clicks * 0.1)),
                "quick_backs": float(round(clicks * 0.15)),
                "mean_dwell_seconds": 40.0,
                "debiased_ctr": None,
                "debiased_book_rate": None,
            }
            messages.append((feature_key(hotel_id, destination), avro.encode(record, schemas.HOTEL_FEATURES)))
    return messages


def request_bodies(hotels: int, count: int, seed: int) -> list[bytes]:
    """Request bodies of 100 distinct ids: 90 known hotels and 10 unknown ones; half with a destination."""
    rng = np.random.default_rng(seed + 1)
    bodies = []
    for n in range(count):
        known = [f"hotel-{i}" for i in rng.choice(hotels, size=ITEMS_PER_REQUEST - 10, replace=False)]
        unknown = [f"unknown-{n}-{i}" for i in range(10)]
        hotel_ids = known + unknown
        rng.shuffle(hotel_ids)
        body: dict[str, object] = {"hotel_ids": hotel_ids}
        if n % 2 == 0:
            body["destination"] = DESTINATIONS[n % len(DESTINATIONS)]
        bodies.append(orjson.dumps(body))
    return bodies


def preload(bootstrap_servers: str, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap_servers, "linger.ms": 20, "compression.type": "lz4"})
    for key, value in messages:
        while True:
            try:
                producer.produce(topic, value, key)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    remaining = producer.flush(60)
    if remaining:
        raise RuntimeError(f"{remaining} feature messages were not acknowledged by Kafka")


class UpdateStream:
    """Re-publishes feature rows at a steady rate while the load runs, as the job would: the service
    serves while its store thread decodes and applies them, competing for the same interpreter."""

    def __init__(
        self, bootstrap_servers: str, topic: str, messages: list[tuple[bytes, bytes]], per_second: int
    ) -> None:
        self.topic = topic
        self.messages = messages
        self.per_second = per_second
        self.sent = 0
        self._producer = Producer({"bootstrap.servers": bootstrap_servers, "linger.ms": 5})
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="update-stream", daemon=True)

    def __enter__(self) -> UpdateStream:
        if self.per_second > 0:
            self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(10)
        self._producer.flush(30)

    def _run(self) -> None:
        tick_seconds = 0.01
        per_tick = max(1, round(self.per_second * tick_seconds))
        next_tick = time.perf_counter()
        while not self._stopping.is_set():
            for _ in range(per_tick):
                key, value = self.messages[self.sent % len(self.messages)]
                self._producer.produce(self.topic, value, key)
                self.sent += 1
            self._producer.poll(0)
            next_tick += tick_seconds
            self._stopping.wait(max(0.0, next_tick - time.perf_counter()))


def applied_updates(port: int) -> int:
    """How many messages the service's store has applied so far (``/readyz``)."""
    count: int = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).json()["applied"]
    return count


def create_topic(bootstrap_servers: str, topic: str) -> None:
    """The topic as the local stack creates hotel-features: compacted, same partitions."""
    spec = Topics().specs()[Topics().hotel_features]
    config = {"cleanup.policy": spec.cleanup_policy}
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})  # must outlive the future
    admin.create_topics([NewTopic(topic, spec.partitions, 1, config=config)])[topic].result(30)


def delete_topic(bootstrap_servers: str, topic: str) -> None:
    """Best effort: a topic left behind is only clutter, and must not hide the results or an earlier error."""
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    try:
        admin.delete_topics([topic])[topic].result(30)
    except Exception as error:  # noqa: BLE001 - reported, not raised
        print(f"warning: could not delete topic {topic}: {error!r}", file=sys.stderr)


# -- the service --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_service(
    bootstrap_servers: str, topic: str, port: int, log_file: Path
) -> tuple[subprocess.Popen[bytes], float]:
    """The service as its own process; returns it with the seconds it took to read the topic and be ready."""
    env = {
        **os.environ,
        "RANKFEED_KAFKA__BOOTSTRAP_SERVERS": bootstrap_servers,
        "RANKFEED_TOPICS__HOTEL_FEATURES": topic,
        "RANKFEED_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "rankfeed.rerank.cli", "--port", str(port)]
    started = time.perf_counter()
    with log_file.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the re-ranker exited with {process.returncode}; see {log_file}")
        try:
            ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            ready = False
        if ready:
            return process, time.perf_counter() - started
        time.sleep(0.05)
    stop_service(process)
    raise RuntimeError(f"the re-ranker did not become ready in 120 s; see {log_file}")


def stop_service(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


# -- load generators ----------------------------------------------------------------------------

_WRK_SCRIPT = """\
local bodies = {}
local count = 0
for line in io.lines("%(bodies)s") do
  count = count + 1
  bodies[count] = line
end
local next_body = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  next_body = next_body %% count + 1
  return wrk.format(nil, "%(path)s", nil, bodies[next_body])
end
"""


def _search(pattern: str, text: str) -> re.Match[str]:
    match = re.search(pattern, text)
    if match is None:
        raise RuntimeError(f"unexpected wrk output (no {pattern!r}):\n{text}")
    return match


def _milliseconds(value: str) -> float:
    number, unit = _search(r"^([\d.]+)(us|ms|s|m)$", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def run_wrk(port: int, bodies: list[bytes], connections: int, seconds: float) -> LoadResult:
    with tempfile.TemporaryDirectory() as folder:
        bodies_file = Path(folder) / "bodies.ndjson"
        bodies_file.write_bytes(b"\n".join(bodies) + b"\n")
        script = Path(folder) / "post.lua"
        script.write_text(_WRK_SCRIPT % {"bodies": bodies_file, "path": PATH})
        command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "-s", str(script)]
        output = subprocess.run(
            [*command, f"http://127.0.0.1:{port}"], capture_output=True, text=True, check=True, timeout=seconds + 60
        ).stdout
    failures = 0
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if non_2xx:
        failures += int(non_2xx.group(1))
    if socket_errors:
        failures += sum(int(group) for group in socket_errors.groups())
    return LoadResult(
        connections=connections,
        requests=int(_search(r"(\d+) requests in", output).group(1)),
        seconds=_milliseconds(_search(r"requests in ([\d.]+\w+),", output).group(1)) / 1000,
        failures=failures,
        p50_ms=_milliseconds(_search(r"50%\s+([\d.]+\w+)", output).group(1)),
        p99_ms=_milliseconds(_search(r"99%\s+([\d.]+\w+)", output).group(1)),
        tool="wrk",
    )


async def _keep_alive_client(
    port: int, bodies: list[bytes], offset: int, stop_at: float, latencies: list[float], failures: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    requests = [
        f"POST {PATH} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
        for body in bodies
    ]
    index = offset
    try:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            writer.write(requests[index % len(requests)])
            index += 1
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if not status_line.startswith(b"HTTP/1.1 200"):
                failures.append(1)
    finally:
        writer.close()


def run_python_load(port: int, bodies: list[bytes], connections: int, seconds: float) -> LoadResult:
    """Fallback when wrk is not installed: a closed-loop keep-alive client per connection (costs more CPU)."""
    latencies: list[float] = []
    failures: list[int] = []

    async def main() -> float:
        started = time.perf_counter()
        clients = (
            _keep_alive_client(port, bodies, n * 97, started + seconds, latencies, failures) for n in range(connections)
        )
        await asyncio.gather(*clients)
        return time.perf_counter() - started

    elapsed = asyncio.run(main())
    ordered = sorted(latencies)
    return LoadResult(
        connections=connections,
        requests=len(ordered),
        seconds=elapsed,
        failures=len(failures),
        p50_ms=statistics.median(ordered) * 1000,
        p99_ms=ordered[int(len(ordered) * 0.99)] * 1000,
        tool="python asyncio client",
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drive(
    port: int, bodies: list[bytes], connections: int, seconds: float, generator: str, service_pid: int
) -> LoadResult:
    load_average = os.getloadavg()[0]
    cpu_before = cpu_seconds(service_pid)
    if generator == "wrk" or (generator == "auto" and shutil.which("wrk")):
        result = run_wrk(port, bodies, connections, seconds)
    else:
        result = run_python_load(port, bodies, connections, seconds)
    result.service_cores = (cpu_seconds(service_pid) - cpu_before) / result.seconds
    result.load_average_before = load_average
    return result


# -- baseline and checks --------------------------------------------------------------------------


def scoring_baseline(messages: list[tuple[bytes, bytes]], requests: list[RerankRequest], seconds: float) -> float:
    """Calls per second of ``Scorer.rank`` on the same features and requests, in this process, without HTTP."""
    store = FeatureStore(KafkaSettings(), "in-process")
    for key, value in messages:
        store.apply(key, value)
    scorer = Scorer(ScoringParameters.from_settings(RerankSettings()))
    calls = 0
    started = time.perf_counter()
    stop_at = started + seconds
    while time.perf_counter() < stop_at:
        for request in requests:
            scorer.rank(request.hotel_ids, store, request.destination, request.positions)
        calls += len(requests)
    return calls / (time.perf_counter() - started)


def check_answers(port: int, body: bytes, hotels: int) -> None:
    """One request by hand: every id comes back once, the known ones marked known."""
    response = httpx.post(f"http://127.0.0.1:{port}{PATH}", content=body, headers={"content-type": "application/json"})
    response.raise_for_status()
    ranking = response.json()["ranking"]
    sent = orjson.loads(body)["hotel_ids"]
    known = sum(item["known"] for item in ranking)
    if sorted(item["hotel_id"] for item in ranking) != sorted(sent) or known != ITEMS_PER_REQUEST - 10:
        raise RuntimeError(f"unexpected answer: {len(ranking)} items, {known} known, for {len(sent)} ids sent")


@dataclass
class Followed:
    """Feature updates published during the load runs, and how many of them the service applied."""

    sent: int
    applied: int
    seconds: float


def report(
    loads: list[LoadResult],
    baseline_per_second: float,
    followed: Followed,
    hotels: int,
    rows: int,
    ready_seconds: float,
) -> str:
    rows_md = [
        "| measurement | result | p50 | p99 | target | |",
        "|---|---:|---:|---:|---|---|",
    ]
    for load in loads:
        verdict = "meets target" if load.p99_ms <= TARGET_P99_MS else "**below target**"
        rows_md.append(
            f"| POST /v1/rerank, {ITEMS_PER_REQUEST} ids, {load.connections} keep-alive connections | "
            f"{load.per_second:,.0f} req/s | {load.p50_ms:.2f} ms | {load.p99_ms:.2f} ms | "
            f"p99 ≤ {TARGET_P99_MS:.0f} ms | {verdict} |"
        )
    best = max(load.per_second for load in loads)
    rows_md += [
        f"| baseline: Scorer.rank in-process, same inputs | {baseline_per_second:,.0f} calls/s "
        f"({1e6 / baseline_per_second:.0f} µs/call) | | | | |",
        f"| ratio HTTP / baseline | {best / baseline_per_second:.2f} | | | | |",
        f"| start-up: read {rows:,} feature rows ({hotels:,} hotels) and be ready | {ready_seconds:.1f} s | | | | |",
        f"| feature updates followed while serving | {followed.applied / followed.seconds:,.0f}/s "
        f"({followed.applied:,} applied of {followed.sent:,} sent) | | | all applied | "
        f"{'yes' if followed.applied >= followed.sent else '**no**'} |",
    ]
    notes = [
        "",
        f"{os.cpu_count()} cores shared by the broker, the service (1 process) and the load generator "
        f"({loads[0].tool}, closed loop, {loads[0].seconds:.0f} s per row); "
        f"failures: {sum(load.failures for load in loads)}; {datetime.now(UTC):%Y-%m-%d}.",
        "Cores used by the service / 1-minute load average before each run (above ~0.5, other work "
        "shared the cores and the figures are low): "
        + "; ".join(
            f"{load.connections} connections {load.service_cores:.2f} / {load.load_average_before:.2f}"
            for load in loads
        )
        + ".",
    ]
    return "\n".join(rows_md + notes)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of the load and of the baseline")
    parser.add_argument("--hotels", type=int, default=100_000, help="hotels pre-loaded into the topic")
    parser.add_argument(
        "--connections", type=int, nargs="+", default=[8, 32], help="keep-alive connections, one run for each"
    )
    parser.add_argument("--bodies", type=int, default=500, help="distinct request bodies, sent in turn")
    parser.add_argument(
        "--updates-per-second", type=int, default=1000, help="feature updates published while the load runs"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--load-generator",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="wrk when installed (apt-get install wrk), else the asyncio client",
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="where the markdown table is written")
    args = parser.parse_args()

    bootstrap_servers = StackSettings().bootstrap_servers
    try:
        AdminClient({"bootstrap.servers": bootstrap_servers}).list_topics(timeout=5)
    except Exception as error:  # noqa: BLE001 - any failure here means the same thing
        sys.exit(f"no Kafka broker at {bootstrap_servers} ({error}); start it with `rankfeed local up`")
    topic = f"{Topics().hotel_features}-bench-{uuid.uuid4().hex[:6]}"
    create_topic(bootstrap_servers, topic)
    try:
        messages = feature_messages(args.hotels, args.seed)
        preload(bootstrap_servers, topic, messages)
        bodies = request_bodies(args.hotels, args.bodies, args.seed)
        print(f"{len(messages):,} feature rows of {args.hotels:,} hotels in {topic}; {len(bodies)} bodies", flush=True)

        port = free_port()
        log_file = Path(tempfile.gettempdir()) / f"rankfeed-bench-rerank-{port}.log"
        service, ready_seconds = start_service(bootstrap_servers, topic, port, log_file)
        try:
            check_answers(port, bodies[0], args.hotels)
            generator = args.load_generator
            drive(port, bodies, args.connections[0], min(2.0, args.seconds), generator, service.pid)  # warm-up
            applied_before = applied_updates(port)
            with UpdateStream(bootstrap_servers, topic, messages, args.updates_per_second) as updates:
                loads = [
                    drive(port, bodies, connections, args.seconds, generator, service.pid)
                    for connections in args.connections
                ]
            time.sleep(1.0)  # the last updates in flight
            followed = Followed(updates.sent, applied_updates(port) - applied_before, args.seconds * len(loads))
        finally:
            stop_service(service)
        requests = [parse_request(body, max_items=ITEMS_PER_REQUEST) for body in bodies]
        baseline = scoring_baseline(messages, requests, args.seconds)
    finally:
        delete_topic(bootstrap_servers, topic)

    table = report(loads, baseline, followed, args.hotels, len(messages), ready_seconds)
    print()
    print(table)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(f"### Re-rank endpoint ({args.hotels:,} hotels)\n\n{table}\n", encoding="utf-8")
    print(f"\nwritten to {args.output}")


if __name__ == "__main__":
    main()
