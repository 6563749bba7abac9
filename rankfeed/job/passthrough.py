"""The baseline job: read user-actions and discard them. Benchmarks report the feedback job beside it.

It has the feedback job's source (raw bytes, event time read from them, watermarks) and nothing
else, so the ratio of the two isolates what labelling and the exactly-once sinks cost.
"""

from __future__ import annotations

from pyflink.table import StatementSet, TableEnvironment

from rankfeed.job import functions, tables
from rankfeed.settings import JobSettings

SOURCE = "user_actions_raw"


def build(env: TableEnvironment, settings: JobSettings) -> StatementSet:
    functions.register(env)
    env.execute_sql(tables.raw_action_source(SOURCE, settings.topics.user_actions, "UserActionTime", settings))
    env.execute_sql(
        "CREATE TABLE discard (`raw_value` BYTES, `event_time` TIMESTAMP(3)) WITH ('connector' = 'blackhole')"
    )
    statements = env.create_statement_set()
    statements.add_insert_sql(f"INSERT INTO discard SELECT `raw_value`, `event_time` FROM {SOURCE}")
    return statements
