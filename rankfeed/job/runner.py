"""What every ``jobs/*.py`` script does: parse arguments, load settings, build the plan, run it."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from pyflink.datastream import StreamExecutionEnvironment
from pyflink.table import StatementSet, TableEnvironment

from rankfeed.job.environment import create_table_environment
from rankfeed.settings import JobSettings, load_settings

PlanBuilder = Callable[[TableEnvironment, JobSettings], StatementSet]


class StreamJob(Protocol):
    """A DataStream job module: an environment factory and a builder (e.g. ``rankfeed.job.labelling``)."""

    def create_stream_environment(self, settings: JobSettings, pipeline_name: str) -> StreamExecutionEnvironment: ...

    def build(self, env: StreamExecutionEnvironment, settings: JobSettings) -> None: ...


def _settings(description: str, argv: list[str] | None) -> tuple[JobSettings, bool]:
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, help="YAML file of JobSettings values (RANKFEED_* variables win)")
    parser.add_argument("--local", action="store_true", help="run in a local MiniCluster, shipping the jars")
    args = parser.parse_args(argv)
    overrides = {"ship_jars": True} if args.local else {}
    return load_settings(JobSettings, args.config, **overrides), args.local


def run(
    build: PlanBuilder,
    pipeline_name: str,
    description: str,
    argv: list[str] | None = None,
    checkpoint_interval: Callable[[JobSettings], int] | None = None,
) -> None:
    """Run a Table API job (a statement set); ``checkpoint_interval`` picks its interval from the settings."""
    settings, local = _settings(description, argv)
    interval = checkpoint_interval(settings) if checkpoint_interval else None
    env = create_table_environment(settings, pipeline_name, interval)
    result = build(env, settings).execute()
    if local:
        result.wait()


def run_stream(job: StreamJob, pipeline_name: str, description: str, argv: list[str] | None = None) -> None:
    """Run a DataStream job; submitted detached by ``flink run -d``, waited for in local mode."""
    settings, local = _settings(description, argv)
    env = job.create_stream_environment(settings, pipeline_name)
    job.build(env, settings)
    if local:
        env.execute(pipeline_name)
    else:
        env.execute_async(pipeline_name)
