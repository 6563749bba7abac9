"""The pipeline's jobs on a Flink cluster, split by latency class, submitted and stopped together.

================  =====================================================  ======================
job               reads → writes                                         checkpoints (default)
================  =====================================================  ======================
``labelling``     user-actions → clean, feedback, LTR, sessions,         2 s: feedback freshness
                  exposures, late, DLQ (Kafka only, one producer)
``features``      search-exposures → hotel-features, θ (Kafka only,      5 s
                  one producer; Java, heap state)
``lake``          clean, LTR, sessions, θ topics → events/,              60 s: large files
                  ltr_examples/, sessions/, propensities/ (Parquet)
================  =====================================================  ======================

A Parquet or disk fault restarts the lake job only; labels keep flowing. Each job is its own
``flink run -py jobs/<name>.py`` submission, visible by name in the web UI.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from rankfeed.local.flink_cluster import FlinkCluster
from rankfeed.settings import FEATURES_PIPELINE_NAME, LABELLING_PIPELINE_NAME, LAKE_PIPELINE_NAME, REPO_ROOT


@dataclass(frozen=True)
class PipelineJob:
    """One job of the pipeline: its script ``jobs/<script>.py`` and its name on the cluster."""

    script: str
    name: str

    @property
    def path(self) -> Path:
        return REPO_ROOT / "jobs" / f"{self.script}.py"


LABELLING = PipelineJob("labelling", LABELLING_PIPELINE_NAME)
FEATURES = PipelineJob("features", FEATURES_PIPELINE_NAME)
LAKE = PipelineJob("lake", LAKE_PIPELINE_NAME)
PIPELINE = (LABELLING, FEATURES, LAKE)
#: The jobs whose output depends on the propensity table (IPS weights, debiased features).
PROPENSITY_JOBS = (LABELLING, FEATURES)


def submit(
    flink: FlinkCluster,
    config: Path | None = None,
    jobs: Iterable[PipelineJob] = PIPELINE,
    savepoints: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Submit ``jobs`` with ``flink run -d -py`` (each from its savepoint in ``savepoints``, by
    script name, when given); returns script name → job id. Raises ``StackError`` naming the job
    that did not submit (those submitted before it keep running)."""
    args = ["--config", str(config)] if config is not None else []
    return {
        job.script: flink.run_python_job(job.path, *args, savepoint=(savepoints or {}).get(job.script)) for job in jobs
    }


def running(flink: FlinkCluster) -> dict[str, str]:
    """Script name → id of each pipeline job running on the cluster."""
    by_name = {job.name: job.script for job in PIPELINE}
    return {by_name[j["name"]]: j["jid"] for j in flink.jobs() if j["name"] in by_name and j["state"] == "RUNNING"}


def cancel(flink: FlinkCluster, job_ids: Mapping[str, str]) -> None:
    """Cancel every job in ``job_ids`` (script name → job id)."""
    for job_id in job_ids.values():
        flink.cancel(job_id)


def stop_with_savepoints(flink: FlinkCluster, job_ids: Mapping[str, str]) -> dict[str, str]:
    """Stop each job with a savepoint (no drain); returns script name → savepoint path for :func:`submit`."""
    return {script: flink.stop_with_savepoint(job_id) for script, job_id in job_ids.items()}


def states(flink: FlinkCluster, job_ids: Mapping[str, str]) -> dict[str, str]:
    """Script name → state (RUNNING, FINISHED …) of each job."""
    return {script: flink.job_state(job_id) for script, job_id in job_ids.items()}
