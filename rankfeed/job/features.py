"""The features job: search exposures in; real-time hotel features and position-bias θ out.

    search-exposures (one record per result list; watermark = labeller_watermark - delay, beacons move it)
      ├─ per hotel ─ keyBy hotel_id ─ HotelFeaturesFunction ──────────────┐
      └─ keyBy "propensities" ─ PropensityFunction (window counts, EM) ───┴─▶ one exactly-once KafkaSink:
                                                                               hotel-features, position-propensities

The dataflow is Java (``io.rankfeed.flink.FeaturesJob``): heap state mutated in place, per-hotel
counters written at most once per ``feature_emit_interval_seconds`` of processing time (records
scale with the catalogue, not with traffic), θ published at the completed event-time windows and
at most once per ``propensity_min_publish_interval_seconds`` while catching up. Every impression
counts, examined or not, which is why this job reads exposures and not ltr-examples. The lake job
writes the ``propensities/`` dataset from the position-propensities topic.

This module only turns ``JobSettings`` into the one typed document the JVM reads
(:func:`features_config`) and hands it over.
"""

from __future__ import annotations

import json
from typing import Any

from pyflink.datastream import StreamExecutionEnvironment
from pyflink.java_gateway import get_gateway

from rankfeed.job import config, environment, tables
from rankfeed.settings import JobSettings, propensity_window_ms

#: The JVM class that builds the dataflow.
JOB_CLASS = "io.rankfeed.flink.FeaturesJob"
#: Offsets of this job's source are committed under the job settings' consumer group plus this suffix.
GROUP_SUFFIX = "features"


def features_config(settings: JobSettings) -> dict[str, Any]:
    """The document ``FeaturesConfig.parse`` reads: every key required, none unknown (the JVM checks).

    Times are milliseconds. ``propensity`` (the submission's table, which debiases the features) is
    present only with a propensity table.
    """
    topics = settings.topics
    document: dict[str, Any] = {
        "kafka": config.kafka_section(settings, GROUP_SUFFIX),
        "topics": {
            "search_exposures": topics.search_exposures,
            "hotel_features": topics.hotel_features,
            "position_propensities": topics.position_propensities,
        },
        "watermark_delay_ms": tables.watermark_delay_seconds(settings) * 1000,
        "source_idle_timeout_ms": settings.source_idle_timeout_seconds * 1000,
        "features": {
            "half_life_ms": settings.feature_half_life_hours * 3_600_000,
            "emit_interval_ms": max(1, round(settings.feature_emit_interval_seconds * 1000)),
            "position_bias_eta": settings.position_bias_eta,
        },
        "propensities": {
            "estimation": settings.propensity_estimation,
            "half_life_ms": settings.propensity_half_life_hours * 3_600_000,
            "window_ms": propensity_window_ms(settings),
            "min_publish_interval_ms": max(1, round(settings.propensity_min_publish_interval_seconds * 1000)),
            "prior_strength": settings.propensity_prior_strength,
            "prior_eta": settings.position_bias_eta,
            "max_position": settings.propensity_max_position,
            "em_iterations": settings.propensity_em_iterations,
            "max_weight": settings.propensity_max_weight,
        },
    }
    return {**document, **config.propensity_section(settings)}


def create_stream_environment(settings: JobSettings, pipeline_name: str) -> StreamExecutionEnvironment:
    # Every record and state type has a Flink serializer (POJOs, one custom): Kryo would be a bug.
    return environment.create_stream_environment(
        settings, pipeline_name, settings.checkpoint_interval_seconds, generic_types=False
    )


def build(env: StreamExecutionEnvironment, settings: JobSettings) -> None:
    """Adds the features dataflow (Java) to ``env``; a bad configuration key fails here, by name."""
    job = get_gateway().jvm.io.rankfeed.flink.FeaturesJob
    job.build(env._j_stream_execution_environment, json.dumps(features_config(settings)))
