"""The chaos run's own stack: other ports and another state folder, so a developer's stack is never touched."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from rankfeed import pipeline
from rankfeed.chaos import disk
from rankfeed.local.procs import StackError, port_open
from rankfeed.local.stack import Stack
from rankfeed.settings import BUILD_DIR, JobSettings, KafkaSettings, StackSettings, Topics

CHAOS_DIR = BUILD_DIR / "chaos"


def chaos_stack_settings(run_id: str, state_dir: Path = CHAOS_DIR) -> StackSettings:
    """Ports 2xxxx instead of the developer's, a state folder of its own, and this run's topics.

    Set over whatever the environment says (``RANKFEED_KAFKA_PORT`` would otherwise win, as it does
    for every settings object): these ports are what keep the chaos stack away from the one a
    developer or a test run moved elsewhere with those variables.
    """
    return StackSettings().model_copy(
        update={
            "kafka_port": 29092,
            "kafka_controller_port": 29093,
            "flink_rest_port": 28081,
            "flink_rpc_port": 26123,
            "flink_metrics_port": 29249,
            "gateway_port": 28000,
            "site_port": 28002,
            "kafka_heap": "512m",
            "state_dir": state_dir,
            "topics": Topics().with_suffix(run_id),
        }
    )


def chaos_job_settings(stack: StackSettings, run_id: str, checkpoint_interval_seconds: int) -> JobSettings:
    return JobSettings(
        kafka=KafkaSettings(bootstrap_servers=stack.bootstrap_servers),
        topics=stack.topics,
        consumer_group=f"chaos-{run_id}",
        transactional_id_prefix=f"chaos-{run_id}",
        parquet_dir=stack.state_dir / "data" / run_id,
        labelling_checkpoint_interval_seconds=checkpoint_interval_seconds,
        checkpoint_interval_seconds=checkpoint_interval_seconds,
        lake_checkpoint_interval_seconds=checkpoint_interval_seconds,
    )


@dataclass
class ChaosStack:
    """The stack, the job settings and the running pipeline of one chaos run."""

    stack: Stack
    job: JobSettings
    #: script name → id of the pipeline's jobs
    job_ids: dict[str, str] = field(default_factory=dict)
    #: script name → savepoint path, after a stop with savepoints
    savepoints: dict[str, str] = field(default_factory=dict)
    #: Mount a tmpfs of this many MB on the Parquet folder before the job starts (the disk-full scenario).
    parquet_tmpfs_mb: int | None = None
    parquet_mounted: bool = False
    #: Why the tmpfs could not be mounted, when it could not.
    disk_refused: str | None = None

    @classmethod
    def create(cls, checkpoint_interval_seconds: int = 3, state_dir: Path = CHAOS_DIR) -> ChaosStack:
        run_id = f"chaos{uuid.uuid4().hex[:6]}"
        settings = chaos_stack_settings(run_id, state_dir)
        return cls(Stack(settings), chaos_job_settings(settings, run_id, checkpoint_interval_seconds))

    @property
    def config_file(self) -> Path:
        return self.job.parquet_dir.parent / f"{self.job.consumer_group}.yaml"

    def start(self) -> None:
        """Stop what an earlier, interrupted chaos run left behind, then start broker, cluster, gateway and job."""
        self.stack.down()
        s = self.stack.settings
        wanted = (
            s.kafka_port,
            s.kafka_controller_port,
            s.flink_rest_port,
            s.flink_rpc_port,
            s.gateway_port,
            s.site_port,
        )
        for port in wanted:
            if port_open(port):
                raise StackError(f"port {port}, needed by the chaos stack, is taken by another process; stop it")
        self.stack.up()
        self.job.parquet_dir.mkdir(parents=True, exist_ok=True)
        if self.parquet_tmpfs_mb is not None:
            disk.mount_tmpfs(self.job.parquet_dir, self.parquet_tmpfs_mb)
            self.parquet_mounted = True
        # JSON is YAML: the job reads the same settings object back.
        self.config_file.write_text(json.dumps(self.job.model_dump(mode="json")))
        self.job_ids = self.submit()

    def submit(self, savepoints: dict[str, str] | None = None) -> dict[str, str]:
        """Submit the pipeline the way `rankfeed submit` does (`flink run -d -py`), optionally from savepoints."""
        return pipeline.submit(self.stack.flink, self.config_file, savepoints=savepoints)

    def job_state(self) -> str:
        """RUNNING when every job runs; otherwise each job's state, e.g. ``labelling RUNNING, lake RESTARTING``."""
        try:
            states = pipeline.states(self.stack.flink, self.job_ids)
        except OSError:
            return "UNREACHABLE"
        if set(states.values()) == {"RUNNING"}:
            return "RUNNING"
        return ", ".join(f"{script} {state}" for script, state in states.items())

    def failovers(self) -> dict[str, int]:
        """Per job, the entries in its exception history: each is one failure and restart (0 if unknown)."""
        counts = {}
        for script, job_id in self.job_ids.items():
            try:
                answer = self.stack.flink.rest(f"/jobs/{job_id}/exceptions?maxExceptions=1000", timeout=10)
            except OSError:
                answer = {}
            counts[script] = len(answer.get("exceptionHistory", {}).get("entries", []))
        return counts

    def stop(self) -> None:
        """Stop everything this run started (only the chaos stack's own processes), then unmount."""
        try:
            self.stack.down()
        finally:
            if self.parquet_mounted:
                disk.unmount(self.job.parquet_dir)
                self.parquet_mounted = False
