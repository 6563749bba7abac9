"""What every ``jobs/*.py`` script does: parse arguments, load settings, build the plan, run it."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from pyflink.table import StatementSet, TableEnvironment

from rankfeed.job.environment import create_table_environment
from rankfeed.settings import JobSettings, load_settings

PlanBuilder = Callable[[TableEnvironment, JobSettings], StatementSet]


def run(build: PlanBuilder, pipeline_name: str, description: str, argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, help="YAML file of JobSettings values (RANKFEED_* variables win)")
    parser.add_argument("--local", action="store_true", help="run in a local MiniCluster, shipping the jars")
    args = parser.parse_args(argv)
    overrides = {"ship_jars": True} if args.local else {}
    settings = load_settings(JobSettings, args.config, **overrides)
    env = create_table_environment(settings, pipeline_name)
    result = build(env, settings).execute()
    if args.local:
        result.wait()
