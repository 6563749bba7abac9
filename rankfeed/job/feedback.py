"""The feedback job's plan: raw actions in; clean events, labels, LTR examples and sessions out.

    user-actions (raw bytes, event time read from them)
      ├─ at or behind the watermark ─────────────┬─ decodes ──▶ user-actions-late
      │                                          └─ poison ───▶ user-actions-dlq
      └─ SessionLabeler (keyed by session_id) ─┬─ event    ▶ user-actions-clean, events/
                                               ├─ feedback ▶ feedback-events
                                               ├─ ltr      ▶ ltr-examples, ltr_examples/
                                               ├─ session  ▶ session-summaries, sessions/
                                               ├─ exposures ─┬─ HotelFeatureAggregator (by hotel) ▶ hotel-features
                                               │             └─ window counts (TUMBLE, event time)
                                               │                  ─ PropensityEstimator (by method)
                                               │                  ▶ position-propensities, propensities/
                                               └─ dlq      ▶ user-actions-dlq

Every stage is SQL over JVM functions; there is one keyed, stateful pass over the actions
(SessionLabeler), which is what keeps the job fast. The propensity estimator sees only window
counts: per position of randomized lists, and per (destination, hotel, position) of all lists.
All sinks are exactly once: Kafka by transactions, Parquet by files committed on checkpoints.
"""

from __future__ import annotations

from pyflink.table import StatementSet, TableEnvironment

from rankfeed import schemas
from rankfeed.datasets import EVENTS_DATASET, LTR_DATASET, PROPENSITIES_DATASET, SESSIONS_DATASET
from rankfeed.job import functions, tables
from rankfeed.schemas import quote
from rankfeed.settings import JobSettings, propensity_window_ms

SOURCE = "user_actions_raw"
KEYED = "keyed_actions"
EXPOSURES = "exposures"
FEATURES = "hotel_features"
BEHIND = "behind_watermark"
LABELLED = "labelled"
PROPENSITY_COUNTS = "propensity_counts"
PROPENSITIES = "position_propensities"


def register_views(env: TableEnvironment, settings: JobSettings) -> None:
    functions.register(env)
    env.execute_sql(tables.raw_action_source(SOURCE, settings.topics.user_actions, "UserActionTime", settings))
    # Flink's PTF runtime drops rows at or behind the watermark without a trace; route them first.
    watermark = "CURRENT_WATERMARK(`event_time`)"
    env.execute_sql(
        f"CREATE TEMPORARY VIEW {KEYED} AS SELECT UserActionSession(`raw_value`) AS `session_id`, `raw_value`, "
        f"`kafka_partition`, `kafka_offset`, `event_time` FROM {SOURCE} "
        f"WHERE {watermark} IS NULL OR `event_time` > {watermark}"
    )
    env.execute_sql(
        f"CREATE TEMPORARY VIEW {BEHIND} AS SELECT `raw_value`, `kafka_partition`, `kafka_offset`, "
        f"CAST(`event_time` AS TIMESTAMP(3)) AS `event_time`, CAST({watermark} AS TIMESTAMP(3)) AS `watermark`, "
        f"UserActionError(`raw_value`) AS `error` FROM {SOURCE} WHERE `event_time` <= {watermark}"
    )
    env.execute_sql(
        f"CREATE TEMPORARY VIEW {LABELLED} AS SELECT * FROM SessionLabeler("
        f"input => TABLE {KEYED} PARTITION BY `session_id`, on_time => DESCRIPTOR(`event_time`), "
        f"uid => 'session-labeler')"
    )
    # Registered as a planned Table, not as SQL text: a text view is re-planned by every statement
    # that reads it, each time with a new UNNEST correlation variable, so the plans of the hotel
    # features, the propensity counts and the two propensity sinks would differ and not be shared
    # (and the propensity PTF would then appear twice under one uid, which Flink refuses).
    exposures = env.sql_query(
        f"SELECT e.`hotel_id`, l.`destination`, e.`position`, e.`examined`, "
        f"e.`outcome`, e.`dwell_seconds`, l.`ranking_randomized`, l.`rowtime` FROM {LABELLED} AS l "
        f"CROSS JOIN UNNEST(l.`exposures`) AS e (`hotel_id`, `position`, `examined`, `outcome`, `dwell_seconds`) "
        f"WHERE l.`kind` = 'exposures'"
    )
    env.create_temporary_view(EXPOSURES, exposures)
    env.execute_sql(
        f"CREATE TEMPORARY VIEW {FEATURES} AS SELECT * FROM HotelFeatureAggregator("
        f"input => TABLE {EXPOSURES} PARTITION BY `hotel_id`, on_time => DESCRIPTOR(`rowtime`), "
        f"uid => 'hotel-features')"
    )
    if settings.propensity_estimation:
        register_propensity_views(env, settings)


def register_propensity_views(env: TableEnvironment, settings: JobSettings) -> None:
    """Window counts of exposures, then the PTF that turns them into θ per method.

    A tumbling event-time window (of ``propensity_emit_interval_seconds``) counts impressions and
    clicks (click, book or quick-back) per position of randomized lists, and per (destination,
    hotel, position) of all lists for EM; positions past ``propensity_max_position`` are left out.
    The per-impression work stays in Flink's window aggregation; the estimator gets a few rows per
    window and key.
    """
    window_ms = propensity_window_ms(settings)
    window = (
        f"TABLE(TUMBLE(TABLE {EXPOSURES}, DESCRIPTOR(`rowtime`), "
        f"INTERVAL '{window_ms // 1000}.{window_ms % 1000:03d}' SECOND(9, 3)))"
    )
    counts = (
        "CAST(COUNT(*) AS DOUBLE) AS `impressions`, "
        "CAST(SUM(CASE WHEN `outcome` IS NULL THEN 0 ELSE 1 END) AS DOUBLE) AS `clicks`, `window_time`"
    )
    shown = f"`position` <= {settings.propensity_max_position}"
    env.execute_sql(
        f"CREATE TEMPORARY VIEW {PROPENSITY_COUNTS} AS "
        f"SELECT CAST('randomized' AS STRING) AS `method`, CAST(NULL AS STRING) AS `destination`, "
        f"CAST(NULL AS STRING) AS `hotel_id`, `position`, {counts} FROM {window} "
        f"WHERE `ranking_randomized` IS TRUE AND {shown} "
        f"GROUP BY `window_start`, `window_end`, `window_time`, `position` "
        f"UNION ALL "
        f"SELECT CAST('em' AS STRING) AS `method`, `destination`, `hotel_id`, `position`, {counts} "
        f"FROM {window} WHERE {shown} "
        f"GROUP BY `window_start`, `window_end`, `window_time`, `destination`, `hotel_id`, `position`"
    )
    env.execute_sql(
        f"CREATE TEMPORARY VIEW {PROPENSITIES} AS SELECT * FROM PropensityEstimator("
        f"input => TABLE {PROPENSITY_COUNTS} PARTITION BY `method`, on_time => DESCRIPTOR(`window_time`), "
        f"uid => 'position-propensities')"
    )


def register_sinks(env: TableEnvironment, settings: JobSettings) -> None:
    topics = settings.topics
    root = settings.parquet_dir
    ddl = [
        tables.raw_sink("clean_topic", topics.user_actions_clean, "session_id", settings),
        tables.kafka_sink("feedback_topic", topics.feedback_events, schemas.FEEDBACK_EVENT, "session_id", settings),
        tables.kafka_sink("ltr_topic", topics.ltr_examples, schemas.LTR_EXAMPLE, "session_id", settings),
        tables.kafka_sink("sessions_topic", topics.session_summaries, schemas.SESSION_SUMMARY, "session_id", settings),
        tables.kafka_sink("late_topic", topics.late, schemas.REJECTED_ACTION, None, settings),
        tables.kafka_sink("dlq_topic", topics.dlq, schemas.REJECTED_ACTION, None, settings),
        tables.keyed_kafka_sink(
            "features_topic", topics.hotel_features, schemas.HOTEL_FEATURES, "feature_key", settings
        ),
        tables.parquet_dataset("events_parquet", root / EVENTS_DATASET, schemas.USER_ACTION),
        tables.parquet_dataset("ltr_parquet", root / LTR_DATASET, schemas.LTR_EXAMPLE),
        tables.parquet_dataset("sessions_parquet", root / SESSIONS_DATASET, schemas.SESSION_SUMMARY),
    ]
    if settings.propensity_estimation:
        ddl += [
            tables.keyed_kafka_sink(
                "propensities_topic",
                topics.position_propensities,
                schemas.POSITION_PROPENSITIES,
                "propensity_key",
                settings,
            ),
            tables.parquet_dataset("propensities_parquet", root / PROPENSITIES_DATASET, schemas.POSITION_PROPENSITIES),
        ]
    for statement in ddl:
        env.execute_sql(statement)


def _of_kind(kind: str) -> str:
    return f"FROM {LABELLED} WHERE `kind` = '{kind}'"


def _partitions(column: str, field: str) -> str:
    return tables.partition_values(f"{quote(column)}.{quote(field)}")


def _late_reason(settings: JobSettings) -> str:
    delay = tables.watermark_delay_seconds(settings)
    return (
        "CONCAT('event time ', CAST(`event_time` AS STRING), ' is not after the watermark ', "
        f"CAST(`watermark` AS STRING), ' ({delay} s out-of-orderness and allowed lateness): its session was "
        "processed past that time already')"
    )


def build(env: TableEnvironment, settings: JobSettings) -> StatementSet:
    register_views(env, settings)
    register_sinks(env, settings)
    event = tables.select_nested("event", schemas.USER_ACTION)
    feedback = tables.select_nested("feedback", schemas.FEEDBACK_EVENT)
    ltr = tables.select_nested("ltr", schemas.LTR_EXAMPLE)
    summary = tables.select_nested("summary", schemas.SESSION_SUMMARY)
    features = tables.select_nested("features", schemas.HOTEL_FEATURES)
    statements = env.create_statement_set()
    inserts = [
        f"INSERT INTO clean_topic SELECT `session_id`, `event_raw` {_of_kind('event')}",
        f"INSERT INTO events_parquet SELECT {event}, {_partitions('event', 'timestamp')} {_of_kind('event')}",
        f"INSERT INTO feedback_topic SELECT {feedback} {_of_kind('feedback')}",
        f"INSERT INTO ltr_topic SELECT {ltr} {_of_kind('ltr')}",
        f"INSERT INTO ltr_parquet SELECT {ltr}, {_partitions('ltr', 'search_time')} {_of_kind('ltr')}",
        f"INSERT INTO sessions_topic SELECT {summary} {_of_kind('session')}",
        f"INSERT INTO sessions_parquet SELECT {summary}, {_partitions('summary', 'session_start')} "
        f"{_of_kind('session')}",
        f"INSERT INTO features_topic SELECT `feature_key`, {features} FROM {FEATURES}",
        f"INSERT INTO late_topic SELECT {_late_reason(settings)}, `raw_value`, UserActionId(`raw_value`), "
        f"`event_time`, `kafka_partition`, `kafka_offset` FROM {BEHIND} WHERE `error` IS NULL",
        # One INSERT per topic: two exactly-once writers on one topic would fence each other.
        # A tombstone (null value) is poison too; its raw value is written as empty bytes.
        f"INSERT INTO dlq_topic SELECT `reason`, COALESCE(`event_raw`, X''), CAST(NULL AS STRING), "
        f"CAST(NULL AS TIMESTAMP(3)), `source_partition`, `source_offset` {_of_kind('dlq')} "
        f"UNION ALL SELECT `error`, COALESCE(`raw_value`, X''), CAST(NULL AS STRING), CAST(NULL AS TIMESTAMP(3)), "
        f"`kafka_partition`, `kafka_offset` FROM {BEHIND} WHERE `error` IS NOT NULL",
    ]
    if settings.propensity_estimation:
        propensities = tables.select_nested("propensities", schemas.POSITION_PROPENSITIES)
        inserts += [
            f"INSERT INTO propensities_topic SELECT `method`, {propensities} FROM {PROPENSITIES}",
            f"INSERT INTO propensities_parquet SELECT {propensities}, "
            f"{_partitions('propensities', 'estimated_at')} FROM {PROPENSITIES}",
        ]
    for insert in inserts:
        statements.add_insert_sql(insert)
    return statements
