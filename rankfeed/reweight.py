"""Rolling the θ the stream estimates into the running feedback job.

The job publishes θ to the compacted position-propensities topic continuously, but the θ that
weights its LTR examples (and debiases the hotel features) is fixed per submission, so every
example names the one version it was weighted with and a training set stays reproducible.
``reweight`` takes the latest published version, stops the job with a savepoint and resumes it
from there with that table: no event is lost or counted twice, and examples labelled from then on
carry the new version.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition

from rankfeed import avro
from rankfeed.consumer import committed_reader
from rankfeed.local.procs import StackError
from rankfeed.local.stack import Stack
from rankfeed.propensity import PropensityTable
from rankfeed.schemas import POSITION_PROPENSITIES
from rankfeed.settings import FEEDBACK_PIPELINE_NAME, REPO_ROOT, JobSettings
from rankfeed.types import Record

FEEDBACK_JOB = REPO_ROOT / "jobs" / "feedback.py"


class TopicReadError(RuntimeError):
    """The published propensities could not be read from Kafka."""


def latest_published_propensities(settings: JobSettings, timeout_seconds: float = 30.0) -> dict[str, Record]:
    """The latest ``PositionPropensities`` record per method on the compacted topic, read to its end.

    Reads as a read_committed consumer (the job writes exactly once, in transactions) from the
    beginning of every partition until each reports its end or ``timeout_seconds`` pass.
    """
    topic = settings.topics.position_propensities
    consumer = committed_reader(settings.kafka.bootstrap_servers, "propensity-reader", **{"enable.partition.eof": True})
    latest: dict[str, Record] = {}
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_seconds).topics.get(topic)
        if metadata is None or metadata.error is not None or not metadata.partitions:
            raise TopicReadError(f"topic {topic} does not exist on {settings.kafka.bootstrap_servers}")
        partitions = list(metadata.partitions)
        consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING) for partition in partitions])
        pending = set(partitions)
        deadline = time.monotonic() + timeout_seconds
        while pending and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    pending.discard(message.partition())
                continue
            record = avro.decode(message.value(), POSITION_PROPENSITIES)
            latest[record["method"]] = record
    finally:
        consumer.close()
    return latest


@dataclass(frozen=True)
class Reweighted:
    version: str
    table: Path
    job_config: Path
    savepoint: str
    stopped_job: str
    job_id: str


def running_feedback_job(stack: Stack) -> str:
    """The id of the one running feedback job; an error names what was found instead."""
    jobs = stack.flink.jobs()
    running = [job["jid"] for job in jobs if job["state"] == "RUNNING" and job["name"] == FEEDBACK_PIPELINE_NAME]
    if len(running) != 1:
        raise StackError(
            f"expected one running {FEEDBACK_PIPELINE_NAME} job on {stack.settings.flink_url}, found {len(running)}; "
            "name the job with --job-id"
        )
    return str(running[0])


def reweight(
    stack: Stack,
    settings: JobSettings,
    method: str,
    out_dir: Path,
    job_id: str | None = None,
    timeout_seconds: float = 30.0,
) -> Reweighted:
    """Resubmit the feedback job (``settings`` are the ones it runs with) from a savepoint with the
    latest θ of ``method`` as its propensity table; returns what was written and the new job's id."""
    published = latest_published_propensities(settings, timeout_seconds)
    if method not in published:
        raise TopicReadError(
            f"no {method} record on {settings.topics.position_propensities} within {timeout_seconds:g} s "
            f"(methods there: {sorted(published) or 'none'}): has event time passed a propensity window?"
        )
    table = PropensityTable.from_published(published[method])
    target = job_id or running_feedback_job(stack)
    out_dir.mkdir(parents=True, exist_ok=True)
    table_path = out_dir / f"{table.version}.json"
    table.save(table_path)
    # JSON is YAML: the job reads its settings back with load_settings.
    job_config = out_dir / f"job-{table.version}.yaml"
    values = settings.model_dump(mode="json")
    values["propensity_table"] = str(table_path.resolve())
    job_config.write_text(json.dumps(values, indent=2), encoding="utf-8")
    savepoint = stack.flink.stop_with_savepoint(target, timeout_seconds=timeout_seconds * 4)
    new_job = stack.flink.run_python_job(FEEDBACK_JOB, "--config", str(job_config), savepoint=savepoint)
    return Reweighted(table.version, table_path, job_config, savepoint, target, new_job)
