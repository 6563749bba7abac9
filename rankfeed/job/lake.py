"""The lake job: the labelling job's committed topics in; the Parquet datasets out.

    user-actions-clean ─▶ events/          (every distinct action, impression lists included)
    ltr-examples       ─▶ ltr_examples/
    session-summaries  ─▶ sessions/
    hotel-features     ─▶ hotel_features/   (every update: the history compaction forgets)
    position-propensities ─▶ propensities/  (every θ the features job published)

Parquet is written apart from labelling: with its own, long checkpoints it writes fewer, larger
files, and a full disk or a read-only folder restarts this job only — labels keep flowing, and
the lake catches up from the topics (read ``read_committed``, so it holds exactly what the
labelling job committed, once).
"""

from __future__ import annotations

from pyflink.table import StatementSet, TableEnvironment

from rankfeed import schemas
from rankfeed.datasets import (
    EVENTS_DATASET,
    HOTEL_FEATURES_DATASET,
    LTR_DATASET,
    PROPENSITIES_DATASET,
    SESSIONS_DATASET,
)
from rankfeed.job import tables
from rankfeed.settings import JobSettings

#: Offsets of this job's sources are committed under the job settings' consumer group plus this suffix.
GROUP_SUFFIX = "lake"

#: dataset folder → (topic field of Topics, record schema, field whose UTC time partitions the rows)
DATASETS = {
    EVENTS_DATASET: ("user_actions_clean", schemas.USER_ACTION, "timestamp"),
    LTR_DATASET: ("ltr_examples", schemas.LTR_EXAMPLE, "search_time"),
    SESSIONS_DATASET: ("session_summaries", schemas.SESSION_SUMMARY, "session_start"),
    HOTEL_FEATURES_DATASET: ("hotel_features", schemas.HOTEL_FEATURES, "updated_at"),
    PROPENSITIES_DATASET: ("position_propensities", schemas.POSITION_PROPENSITIES, "estimated_at"),
}


def checkpoint_interval(settings: JobSettings) -> int:
    """The lake's own, long interval: each checkpoint closes every open Parquet file."""
    return settings.lake_checkpoint_interval_seconds


def build(env: TableEnvironment, settings: JobSettings) -> StatementSet:
    env.get_config().set("parallelism.default", str(settings.lake_parallelism))
    statements = env.create_statement_set()
    topics = settings.topics.model_dump()
    for dataset, (topic_field, schema, time_field) in DATASETS.items():
        source, sink = f"{dataset}_topic", f"{dataset}_parquet"
        env.execute_sql(tables.kafka_source(source, topics[topic_field], schema, None, settings, GROUP_SUFFIX))
        env.execute_sql(tables.parquet_dataset(sink, settings.parquet_location(dataset), schema))
        statements.add_insert_sql(
            f"INSERT INTO {sink} SELECT {tables.select_all(schema)}, "
            f"{tables.partition_values(schemas.quote(time_field))} FROM {source}"
        )
    return statements
