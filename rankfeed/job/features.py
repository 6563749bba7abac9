"""The features job: search exposures in; real-time hotel features and position-bias θ out.

    search-exposures (one record per result list, event time = the labeller's close watermark)
      └─ UNNEST ─┬─ HotelFeatureAggregator (by hotel) ──────────────▶ hotel-features
                 └─ window counts (TUMBLE, event time)
                      ─ PropensityEstimator (by method) ─────────────▶ position-propensities, propensities/

It reads the labelling job's compact exposures topic, so the per-hotel fan-out (about 20 rows per
search) happens here, off the labelling path, and a fault here never restarts labelling. Every
impression counts, examined or not: features and θ need the unexamined ones too, which is why
this job reads exposures and not ltr-examples.
"""

from __future__ import annotations

from pyflink.table import StatementSet, TableEnvironment

from rankfeed import schemas
from rankfeed.datasets import PROPENSITIES_DATASET
from rankfeed.job import functions, tables
from rankfeed.settings import JobSettings, propensity_window_ms

SOURCE = "search_exposures"
EXPOSURES = "exposures"
FEATURES = "hotel_features"
PROPENSITY_COUNTS = "propensity_counts"
PROPENSITIES = "position_propensities"
#: Offsets of this job's source are committed under the job settings' consumer group plus this suffix.
GROUP_SUFFIX = "features"


def register_views(env: TableEnvironment, settings: JobSettings) -> None:
    functions.register(env)
    # Event time is the session's close; the watermark follows the labelling job's, which each
    # record carries: records close after the watermark they carry, so none is late here.
    source = tables.kafka_source(
        SOURCE,
        settings.topics.search_exposures,
        schemas.SEARCH_EXPOSURES,
        "closed_at",
        settings,
        GROUP_SUFFIX,
        watermark_follows="labeller_watermark",
    )
    env.execute_sql(source)
    # A planned Table, not SQL text: a text view is re-planned by every statement that reads it,
    # each time with a new UNNEST correlation variable, so the plans of the hotel features, the
    # propensity counts and the two propensity sinks would not be shared (and the propensity PTF
    # would then appear twice under one uid, which Flink refuses).
    exposures = env.sql_query(
        f"SELECT e.`hotel_id`, s.`destination`, e.`position`, e.`examined`, e.`outcome`, e.`dwell_seconds`, "
        f"s.`ranking_randomized`, s.`closed_at` AS `rowtime` FROM {SOURCE} AS s "
        f"CROSS JOIN UNNEST(s.`exposures`) AS e (`hotel_id`, `position`, `examined`, `outcome`, `dwell_seconds`)"
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


def build(env: TableEnvironment, settings: JobSettings) -> StatementSet:
    register_views(env, settings)
    topics = settings.topics
    env.execute_sql(
        tables.keyed_kafka_sink(
            "features_topic", topics.hotel_features, schemas.HOTEL_FEATURES, "feature_key", settings
        )
    )
    features = tables.select_nested("features", schemas.HOTEL_FEATURES)
    statements = env.create_statement_set()
    statements.add_insert_sql(f"INSERT INTO features_topic SELECT `feature_key`, {features} FROM {FEATURES}")
    if settings.propensity_estimation:
        env.execute_sql(
            tables.keyed_kafka_sink(
                "propensities_topic",
                topics.position_propensities,
                schemas.POSITION_PROPENSITIES,
                "propensity_key",
                settings,
            )
        )
        env.execute_sql(
            tables.parquet_dataset(
                "propensities_parquet", settings.parquet_dir / PROPENSITIES_DATASET, schemas.POSITION_PROPENSITIES
            )
        )
        propensities = tables.select_nested("propensities", schemas.POSITION_PROPENSITIES)
        statements.add_insert_sql(f"INSERT INTO propensities_topic SELECT `method`, {propensities} FROM {PROPENSITIES}")
        statements.add_insert_sql(
            f"INSERT INTO propensities_parquet SELECT {propensities}, "
            f"{tables.partition_values(tables.nested('propensities', 'estimated_at'))} FROM {PROPENSITIES}"
        )
    return statements
