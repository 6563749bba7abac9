"""The real services every integration test shares: one Kafka broker and one Flink cluster per run.

They are started once (or reused when a developer already has `rankfeed local up` running) and
stopped at the end of the run, even when tests fail. Tests isolate themselves with their own
topics (``Topics.with_suffix``) and folders, never by mocking Kafka or Flink.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from rankfeed import avro
from rankfeed.consumer import committed_reader
from rankfeed.local.broker import create_topics
from rankfeed.local.stack import Stack
from rankfeed.settings import JobSettings, KafkaSettings, StackSettings, Topics
from rankfeed.types import Record


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    stack = Stack(StackSettings())
    # Stop at the end only what this run started: a developer's `make up` stack stays up.
    started_here = [
        stop
        for running, stop in (
            (stack.gateway.pid() is not None, stack.gateway.stop),
            (stack.site.pid() is not None, stack.site.stop),
            (stack.flink.running(), stack.flink.stop),
            (stack.broker.running(), stack.broker.stop),
        )
        if not running
    ]
    stack.up()
    yield stack
    for stop in started_here:
        stop()


@pytest.fixture(scope="session")
def bootstrap_servers(stack: Stack) -> str:
    return stack.settings.bootstrap_servers


@pytest.fixture(scope="session")
def created_topics(bootstrap_servers: str) -> Iterator[list[str]]:
    """Every topic the tests created; deleted at the end so a long-lived dev broker does not fill up.

    Deleted once per run rather than per test: a test's job may still be winding down when the
    test returns, and deleting its topics under it would only add noise to the Flink logs.
    """
    created: list[str] = []
    yield created
    if created:
        admin = AdminClient({"bootstrap.servers": bootstrap_servers})
        for topic, future in admin.delete_topics(created, operation_timeout=30).items():
            try:
                future.result()
            except KafkaException as error:  # cleanup only: a leftover topic must not fail the run
                warnings.warn(f"could not delete test topic {topic}: {error}", stacklevel=1)


@pytest.fixture
def topics(bootstrap_servers: str, created_topics: list[str]) -> Topics:
    """A fresh set of the project's topics for one test."""
    isolated = Topics().with_suffix(uuid.uuid4().hex[:8])
    create_topics(bootstrap_servers, isolated)
    created_topics.extend(isolated.specs())
    return isolated


@pytest.fixture
def job_settings(bootstrap_servers: str, topics: Topics, tmp_path: Path) -> JobSettings:
    """Job settings writing to this test's topics and folder, with a short checkpoint interval."""
    suffix = topics.user_actions.rsplit("-", 1)[-1]
    return JobSettings(
        kafka=KafkaSettings(bootstrap_servers=bootstrap_servers),
        topics=topics,
        consumer_group=f"test-{suffix}",
        transactional_id_prefix=f"test-{suffix}",
        parquet_dir=tmp_path / "parquet",
        labelling_checkpoint_interval_seconds=1,
        checkpoint_interval_seconds=2,
        lake_checkpoint_interval_seconds=2,
        source_idle_timeout_seconds=5,
    )


def isolated_job_settings(
    bootstrap_servers: str, created_topics: list[str], parquet_dir: Path, **overrides: Any
) -> JobSettings:
    """Job settings on fresh topics (created now, deleted at the end of the run) writing Parquet to
    ``parquet_dir``, with short checkpoints; ``overrides`` set any other field."""
    suffix = uuid.uuid4().hex[:8]
    topics = Topics().with_suffix(suffix)
    create_topics(bootstrap_servers, topics)
    created_topics.extend(topics.specs())
    values: dict[str, Any] = {
        "kafka": KafkaSettings(bootstrap_servers=bootstrap_servers),
        "topics": topics,
        "consumer_group": f"test-{suffix}",
        "transactional_id_prefix": f"test-{suffix}",
        "parquet_dir": parquet_dir,
        "labelling_checkpoint_interval_seconds": 1,
        "checkpoint_interval_seconds": 2,
        "lake_checkpoint_interval_seconds": 2,
        "source_idle_timeout_seconds": 5,
    }
    return JobSettings(**{**values, **overrides})


ReadTopic = Callable[..., list[Record]]


@pytest.fixture(scope="session")
def read_topic(bootstrap_servers: str) -> ReadTopic:
    """``read_topic(topic, expected, timeout_seconds=90, schema="user_action")``."""

    def read(topic: str, expected: int, timeout_seconds: float = 90.0, schema: str = "user_action") -> list[Record]:
        return consume(bootstrap_servers, topic, expected, timeout_seconds, schema)

    return read


def consume(
    bootstrap_servers: str, topic: str, expected: int, timeout_seconds: float = 90.0, schema: str = "user_action"
) -> list[Record]:
    """Read ``topic`` from the start as a read_committed consumer until ``expected`` records or timeout."""
    consumer = committed_reader(bootstrap_servers, "test-reader")
    consumer.subscribe([topic])
    records: list[Record] = []
    deadline = time.monotonic() + timeout_seconds
    try:
        while len(records) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                continue
            records.append(avro.decode(message.value(), schema))
        # Linger briefly so that a duplicate beyond ``expected`` would be seen too.
        settle = time.monotonic() + 2.0
        while time.monotonic() < settle:
            message = consumer.poll(0.2)
            if message is not None and not message.error():
                records.append(avro.decode(message.value(), schema))
    finally:
        consumer.close()
    return records


@contextmanager
def serve_in_thread(app: Any, options: dict[str, Any], name: str, port: int = 0) -> Iterator[int]:
    """Serve ``app`` under uvicorn (``options`` as the service runs with) on loopback ``port`` (a free one
    by default), in a thread of the test process, until the block ends; yields the port."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, **{**options, "port": port, "log_config": None}))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the {name} did not start; see the log output above")
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()
