"""Rolling the θ the stream estimates into the running pipeline.

The features job publishes θ to the compacted position-propensities topic continuously, but the θ
that weights LTR examples (labelling job) and debiases hotel features (features job) is fixed per
submission, so every example names the one version it was weighted with and a training set stays
reproducible. ``reweight`` takes the latest published version, stops both jobs with savepoints and
resumes them from there with that table: no event is lost or counted twice, and examples labelled
from then on carry the new version. The lake job does not depend on θ and keeps running.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition

from rankfeed import avro, pipeline
from rankfeed.consumer import committed_reader
from rankfeed.local.procs import StackError
from rankfeed.local.stack import Stack
from rankfeed.propensity import PropensityTable
from rankfeed.schemas import POSITION_PROPENSITIES
from rankfeed.settings import JobSettings
from rankfeed.types import Record


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
    """What ``reweight`` did; job maps are script name → job id (savepoints: → path)."""

    version: str
    table: Path
    job_config: Path
    savepoints: dict[str, str]
    stopped_jobs: dict[str, str]
    job_ids: dict[str, str]


def running_propensity_jobs(stack: Stack) -> dict[str, str]:
    """Script name → id of the running labelling and features jobs; an error names what is missing."""
    running = pipeline.running(stack.flink)
    wanted = {job.script: running.get(job.script) for job in pipeline.PROPENSITY_JOBS}
    missing = sorted(job.name for job in pipeline.PROPENSITY_JOBS if wanted[job.script] is None)
    if missing:
        raise StackError(
            f"no running {', '.join(missing)} job on {stack.settings.flink_url}: submit the pipeline first "
            "(rankfeed submit)"
        )
    return {script: str(job_id) for script, job_id in wanted.items()}


def reweight(
    stack: Stack,
    settings: JobSettings,
    method: str,
    out_dir: Path,
    job_ids: Mapping[str, str] | None = None,
    timeout_seconds: float = 30.0,
) -> Reweighted:
    """Resubmit the labelling and features jobs (``settings`` are the ones they run with, ``job_ids``
    script name → id, default: the running ones) from savepoints with the latest θ of ``method`` as
    their propensity table; returns what was written and the new jobs' ids."""
    published = latest_published_propensities(settings, timeout_seconds)
    if method not in published:
        raise TopicReadError(
            f"no {method} record on {settings.topics.position_propensities} within {timeout_seconds:g} s "
            f"(methods there: {sorted(published) or 'none'}): has event time passed a propensity window?"
        )
    table = PropensityTable.from_published(published[method])
    targets = dict(job_ids) if job_ids is not None else running_propensity_jobs(stack)
    out_dir.mkdir(parents=True, exist_ok=True)
    table_path = out_dir / f"{table.version}.json"
    table.save(table_path)
    # JSON is YAML: the jobs read their settings back with load_settings.
    job_config = out_dir / f"job-{table.version}.yaml"
    values = settings.model_dump(mode="json")
    values["propensity_table"] = str(table_path.resolve())
    job_config.write_text(json.dumps(values, indent=2), encoding="utf-8")
    savepoints = {
        script: stack.flink.stop_with_savepoint(job_id, timeout_seconds=timeout_seconds * 4)
        for script, job_id in targets.items()
    }
    resumed = [job for job in pipeline.PROPENSITY_JOBS if job.script in targets]
    new_jobs = pipeline.submit(stack.flink, job_config, resumed, savepoints)
    return Reweighted(table.version, table_path, job_config, savepoints, targets, new_jobs)
