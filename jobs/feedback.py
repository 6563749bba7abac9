"""Feedback job: user-actions → clean events on Kafka and the Parquet ``events`` dataset.

Submit to a cluster:   flink run -d -py jobs/feedback.py [--config job.yaml]
Run in local mode:     python jobs/feedback.py --local [--config job.yaml]
Settings come from the YAML file and ``RANKFEED_*`` environment variables (see rankfeed.settings).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rankfeed.job import passthrough
from rankfeed.job.environment import create_table_environment
from rankfeed.settings import JobSettings, load_settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, help="YAML file of JobSettings values")
    parser.add_argument("--local", action="store_true", help="run in a local MiniCluster, shipping the jars")
    args = parser.parse_args(argv)
    overrides = {"ship_jars": True} if args.local else {}
    settings = load_settings(JobSettings, args.config, **overrides)
    env = create_table_environment(settings, "rankfeed-feedback")
    result = passthrough.build(env, settings).execute()
    if args.local:
        result.wait()


if __name__ == "__main__":
    main()
