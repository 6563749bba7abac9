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
and writes bench/results/rerank.json (figures, baselines, per-second throughput, latency
percentiles) for bench/report.py. Run ``make bench-rerank`` or ``.venv/bin/python bench/rerank.py
[--seconds 10]``; RANKFEED_BENCH_QUICK=1 makes it short.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import load
import numpy as np
import orjson
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from load import LoadResult
from result import RESULTS_DIR, CpuMeter, Figure, Result, Series, WindowMeter, percentiles_ms, quick, table
from services import free_port, start_service, stop_service

from rankfeed import avro, schemas
from rankfeed.rerank.features import FeatureStore, feature_key
from rankfeed.rerank.request import RerankRequest, parse_request
from rankfeed.rerank.scoring import Scorer, ScoringParameters
from rankfeed.rerank.settings import RerankSettings
from rankfeed.settings import KafkaSettings, StackSettings, Topics
from rankfeed.types import Record

PATH = "/v1/rerank"
ITEMS_PER_REQUEST = 100
#: The brief's target on 2 cores: p99 ≤ 10 ms for 100 items under load.
TARGET_P99_MS = 10.0
DESTINATIONS = [f"destination-{n}" for n in range(10)]


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


def start_rerank(
    bootstrap_servers: str, topic: str, port: int, log_file: Path
) -> tuple[subprocess.Popen[bytes], float]:
    """The service as its own process; returns it with the seconds it took to read the topic and be ready."""
    env = {
        "RANKFEED_KAFKA__BOOTSTRAP_SERVERS": bootstrap_servers,
        "RANKFEED_TOPICS__HOTEL_FEATURES": topic,
        "RANKFEED_LOG_LEVEL": "WARNING",
    }
    return start_service("re-ranker", "rankfeed.rerank.cli", [], env, port, log_file, timeout_seconds=120)


# -- baseline and checks --------------------------------------------------------------------------


@dataclass
class Baseline:
    """``Scorer.rank`` in this process: calls per second, per-call latencies, and the seconds it took to
    apply the topic's rows to an in-process store (the floor for the service's start-up)."""

    per_second: float
    latencies: list[float]
    series: Series
    load_seconds: float


def scoring_baseline(messages: list[tuple[bytes, bytes]], requests: list[RerankRequest], seconds: float) -> Baseline:
    """``Scorer.rank`` on the same features and requests, in this process, without HTTP, for ``seconds``."""
    loading = time.perf_counter()
    store = FeatureStore(KafkaSettings(), "in-process")
    for key, value in messages:
        store.apply(key, value)
    load_seconds = time.perf_counter() - loading
    scorer = Scorer(ScoringParameters.from_settings(RerankSettings()))
    latencies: list[float] = []
    finished: list[float] = []
    started = time.perf_counter()
    stop_at = started + seconds
    now = started
    while now < stop_at:
        for request in requests:
            began = now
            scorer.rank(request.hotel_ids, store, request.destination, request.positions)
            now = time.perf_counter()
            latencies.append(now - began)
            finished.append(now - started)
    series = Series.from_times("Scorer.rank in-process", "calls/s", finished, baseline=True)
    return Baseline(len(latencies) / (now - started), latencies, series, load_seconds)


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


def build_result(
    loads: list[LoadResult],
    baseline: Baseline,
    followed: Followed,
    ready_seconds: float,
    parameters: dict[str, Any],
    window: WindowMeter,
) -> Result:
    in_process = "Scorer.rank in-process, same inputs"
    figures = [
        Figure(
            measure=f"POST /v1/rerank, {ITEMS_PER_REQUEST} ids, {load.connections} keep-alive connections",
            value=load.rate,
            unit="req/s",
            baseline=in_process,
            baseline_value=baseline.per_second,
            baseline_unit="calls/s",
            target=f"p99 ≤ {TARGET_P99_MS:.0f} ms",
            met=load.latency_ms["p99"] <= TARGET_P99_MS,
            latency_ms=load.latency_ms,
            baseline_latency_ms=percentiles_ms(baseline.latencies),
        )
        for load in loads
    ]
    figures += [
        Figure(
            measure=f"start-up: read {parameters['feature_rows']:,} feature rows and be ready",
            value=ready_seconds,
            unit="s",
            baseline="the same rows applied to an in-process store",
            baseline_value=baseline.load_seconds,
        ),
        Figure(
            measure="feature updates followed while serving",
            value=followed.applied / followed.seconds,
            unit="/s",
            baseline="updates published",
            baseline_value=followed.sent / followed.seconds,
            target="all applied",
            met=followed.applied >= followed.sent,
        ),
    ]
    series = [load.series(f"{load.connections} connections") for load in loads]
    series.append(baseline.series)
    notes = [
        f"{os.cpu_count()} cores shared by the broker, the service (1 process) and the load generator "
        f"({loads[0].tool}, closed loop, {parameters['seconds']:.0f} s per row); "
        f"failures: {sum(load.failures for load in loads)}; {followed.applied:,} of {followed.sent:,} updates applied.",
        "Cores used by the service / 1-minute load average before each run (above ~0.5, other work "
        "shared the cores and the figures are low): "
        + "; ".join(
            f"{load.connections} connections {load.cores.get('service', 0.0):.2f} / {load.load_average_before:.2f}"
            for load in loads
        )
        + ".",
    ]
    return window.result(
        "rerank",
        f"Re-rank endpoint ({parameters['hotels']:,} hotels, {loads[0].tool})",
        parameters,
        figures,
        series,
        notes,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument(
        "--seconds", type=float, default=quick(10.0, 1.0), help="duration of the load and of the baseline"
    )
    parser.add_argument("--hotels", type=int, default=quick(100_000, 2000), help="hotels pre-loaded into the topic")
    parser.add_argument(
        "--connections", type=int, nargs="+", default=quick([8, 32], [2]), help="keep-alive connections, one run each"
    )
    parser.add_argument("--bodies", type=int, default=quick(500, 20), help="distinct request bodies, sent in turn")
    parser.add_argument(
        "--updates-per-second", type=int, default=1000, help="feature updates published while the load runs"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--load-generator", choices=load.GENERATORS, default="wrk", help=load.GENERATOR_HELP)
    parser.add_argument("--output-dir", type=Path, default=RESULTS_DIR, help="where rerank.json is written")
    args = parser.parse_args()
    load.require_generator(args.load_generator)

    window = WindowMeter()
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
        service, ready_seconds = start_rerank(bootstrap_servers, topic, port, log_file)
        try:
            check_answers(port, bodies[0], args.hotels)

            def drive(connections: int, seconds: float) -> LoadResult:
                meter = CpuMeter({"service": service.pid})
                return load.drive(
                    port,
                    PATH,
                    bodies,
                    connections,
                    seconds,
                    args.load_generator,
                    headers={},
                    ok_status=200,
                    meter=meter,
                )

            drive(args.connections[0], min(2.0, args.seconds))  # warm-up
            applied_before = applied_updates(port)
            with UpdateStream(bootstrap_servers, topic, messages, args.updates_per_second) as updates:
                loads = [drive(connections, args.seconds) for connections in args.connections]
            time.sleep(1.0)  # the last updates in flight
            followed = Followed(updates.sent, applied_updates(port) - applied_before, args.seconds * len(loads))
        finally:
            stop_service(service)
        requests = [parse_request(body, max_items=ITEMS_PER_REQUEST) for body in bodies]
        baseline = scoring_baseline(messages, requests, args.seconds)
    finally:
        delete_topic(bootstrap_servers, topic)

    parameters = {
        "seconds": args.seconds,
        "hotels": args.hotels,
        "feature_rows": len(messages),
        "connections": args.connections,
        "bodies": args.bodies,
        "items_per_request": ITEMS_PER_REQUEST,
        "updates_per_second": args.updates_per_second,
        "load_generator": loads[0].tool,
    }
    result = build_result(loads, baseline, followed, ready_seconds, parameters, window)
    print()
    print(table([result]))
    print("\n".join(result.notes))
    print(f"\nwritten to {result.write(args.output_dir)}")


if __name__ == "__main__":
    main()
