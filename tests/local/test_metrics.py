"""Flink's Prometheus reporter on the local cluster: the labelling job's metrics reach ``/metrics``.

One labelling job runs the feedback scripts (clicks, quick-backs, books), one poison record and one
action behind the watermark; then the JobManager's and the TaskManager's endpoints are scraped, as
Prometheus would, and the counters must say what the job did. Every Flink metric the alert rules and
the Grafana dashboard name (``deploy/kubernetes/base/monitoring``) must be among the scraped ones.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from rankfeed import pipeline, schemas
from rankfeed.local.stack import Stack
from rankfeed.producer import make_producer, produce_actions, send_heartbeats
from rankfeed.settings import JobSettings
from tests.conftest import ReadTopic
from tests.job.test_feedback_semantics import BASE, POISON, act, scenarios, submit
from tests.test_monitoring import referenced_metrics

#: Prometheus names of the labelling job's own metrics (``LabellingMetrics``) under Flink's operator scope.
OPERATOR = "flink_taskmanager_job_task_operator_"


def scrape(port: int) -> list[Sample]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def endpoints(stack: Stack) -> dict[str, list[Sample]]:
    """The samples of each process the reporter serves, keyed ``jobmanager`` / ``taskmanager``."""
    found: dict[str, list[Sample]] = {}
    for port in stack.settings.flink_metrics_ports:
        try:
            samples = scrape(port)
        except OSError:
            continue
        for process in ("jobmanager", "taskmanager"):
            if any(s.name.startswith(f"flink_{process}_") for s in samples):
                found[process] = samples
    return found


@pytest.fixture(scope="module")
def scraped(
    stack: Stack, bootstrap_servers: str, read_topic: ReadTopic, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, list[Sample]]]]:
    folder: Path = tmp_path_factory.mktemp("metrics")
    job_ids, topics = submit(stack, bootstrap_servers, folder, JobSettings(), [pipeline.LABELLING])
    try:
        producer = make_producer(bootstrap_servers)
        produce_actions(producer, topics.user_actions, [a for actions in scenarios().values() for a in actions])
        producer.produce(topics.user_actions, POISON, key=b"poison")
        send_heartbeats(producer, topics.user_actions, BASE + timedelta(hours=2))
        read_topic(topics.session_summaries, 12, schema=schemas.SESSION_SUMMARY)
        produce_actions(producer, topics.user_actions, [act("late", 30, "click", search_id="q", hotel_id="H1")])
        read_topic(topics.late, 1, schema=schemas.REJECTED_ACTION, timeout_seconds=60)
        # The late record is committed with a checkpoint, after its counter moved; the reporter
        # reads the counters at each scrape, so one scrape now sees everything above.
        yield job_ids["labelling"], endpoints(stack)
    finally:
        pipeline.cancel(stack.flink, job_ids)


def values(samples: list[Sample], name: str, job_id: str) -> list[float]:
    return [s.value for s in samples if s.name == name and s.labels.get("job_id") == job_id]


def test_the_jobmanager_and_the_taskmanager_are_scraped(scraped: tuple[str, dict[str, list[Sample]]]) -> None:
    assert set(scraped[1]) == {"jobmanager", "taskmanager"}


def test_label_counters_and_the_quick_back_rate(scraped: tuple[str, dict[str, list[Sample]]]) -> None:
    job_id, found = scraped
    taskmanager = found["taskmanager"]
    clicks = sum(values(taskmanager, f"{OPERATOR}labels_click", job_id))
    quick_backs = sum(values(taskmanager, f"{OPERATOR}labels_quick_back", job_id))
    assert clicks > 0 and quick_backs > 0
    assert sum(values(taskmanager, f"{OPERATOR}labels_book", job_id)) > 0
    [rate] = values(taskmanager, f"{OPERATOR}quick_back_rate", job_id)
    assert rate == pytest.approx(quick_backs / (clicks + quick_backs))


def test_late_and_dead_letter_counts(scraped: tuple[str, dict[str, list[Sample]]]) -> None:
    job_id, found = scraped
    assert sum(values(found["taskmanager"], f"{OPERATOR}late_actions", job_id)) == 1
    assert sum(values(found["taskmanager"], f"{OPERATOR}poison_messages", job_id)) == 1


def test_consumer_lag_and_checkpoints(scraped: tuple[str, dict[str, list[Sample]]]) -> None:
    job_id, found = scraped
    # Everything sent has been read: the source's backlog is empty.
    backlog = values(found["taskmanager"], f"{OPERATOR}pendingRecords", job_id)
    assert backlog and set(backlog) == {0.0}
    assert values(found["jobmanager"], "flink_jobmanager_job_numberOfCompletedCheckpoints", job_id)[0] > 0
    # Reported, whatever its value: checkpoints triggered before every task ran count as failed.
    assert len(values(found["jobmanager"], "flink_jobmanager_job_numberOfFailedCheckpoints", job_id)) == 1
    assert values(found["jobmanager"], "flink_jobmanager_job_lastCheckpointDuration", job_id)[0] >= 0


def test_the_alerts_and_the_dashboard_name_only_scraped_flink_metrics(
    scraped: tuple[str, dict[str, list[Sample]]],
) -> None:
    names = {s.name for samples in scraped[1].values() for s in samples}
    wanted = {name for name in referenced_metrics() if name.startswith("flink_")}
    assert wanted, "the alert rules and the dashboard name no Flink metric"
    assert wanted - names == set()
