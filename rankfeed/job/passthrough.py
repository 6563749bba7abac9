"""The walking skeleton: read ``user-actions`` with event time, write it unchanged to Kafka and Parquet.

It is the frame the feedback stages fill in: the source, the clean-events Kafka topic and the
raw ``events`` Parquet layer stay; dedup, sessions and labels go between them.
"""

from __future__ import annotations

from pyflink.table import StatementSet, TableEnvironment

from rankfeed import schemas
from rankfeed.job import tables
from rankfeed.settings import JobSettings

SOURCE_TABLE = "user_actions"
CLEAN_TOPIC_TABLE = "user_actions_clean"
EVENTS_DATASET_TABLE = "events_parquet"
EVENTS_DATASET = "events"
EVENT_TIME = "timestamp"


def register_tables(env: TableEnvironment, settings: JobSettings) -> None:
    topics = settings.topics
    env.execute_sql(tables.kafka_source(SOURCE_TABLE, topics.user_actions, schemas.USER_ACTION, EVENT_TIME, settings))
    env.execute_sql(
        tables.kafka_sink(CLEAN_TOPIC_TABLE, topics.user_actions_clean, schemas.USER_ACTION, "session_id", settings)
    )
    env.execute_sql(
        tables.parquet_dataset(EVENTS_DATASET_TABLE, settings.parquet_dir / EVENTS_DATASET, schemas.USER_ACTION)
    )


def build(env: TableEnvironment, settings: JobSettings) -> StatementSet:
    register_tables(env, settings)
    columns = tables.select_all(schemas.USER_ACTION)
    statements = env.create_statement_set()
    statements.add_insert_sql(f"INSERT INTO {CLEAN_TOPIC_TABLE} SELECT {columns} FROM {SOURCE_TABLE}")
    statements.add_insert_sql(
        f"INSERT INTO {EVENTS_DATASET_TABLE} SELECT {columns}, {tables.partition_values(EVENT_TIME)} "
        f"FROM {SOURCE_TABLE}"
    )
    return statements
