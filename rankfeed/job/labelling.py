"""The labelling job: raw actions in; clean events, labels, LTR examples, sessions and exposures out.

    user-actions (raw bytes; event time and session id read from the leading fields)
      └─ keyBy (user_id, session_id) ─┬─ SessionLabellerFunction ─ WatermarkBeacons ─┬─ user-actions-clean
    erasure-requests ─ broadcast ─────┘  (ErasedUsers first: an erased user's        ├─ feedback-events
      (erased users, no event time)       action goes nowhere; then LateRouter:      ├─ ltr-examples
                                          behind the watermark → late,               ├─ session-summaries
                                          unreadable → dlq)                          ├─ search-exposures
                                                                                     └─ user-actions-late, -dlq
                                                                     one exactly-once KafkaSink, chained

The dataflow is Java (``io.rankfeed.flink.LabellingJob``): a DataStream ``KeyedBroadcastProcessFunction``
with heap state mutated in place, one decode per action, one timer per session and pre-encoded
Avro outputs through one transactional producer. The erasure check is the labeller's broadcast input rather
than an operator before the keyBy, so the raw actions cross the network once. This module only turns
``JobSettings`` into the one typed document the JVM reads (:func:`labelling_config`) and hands it over.
"""

from __future__ import annotations

import json
from typing import Any

from pyflink.datastream import StreamExecutionEnvironment
from pyflink.java_gateway import get_gateway

from rankfeed.job import config as jvm_config
from rankfeed.job import environment, tables
from rankfeed.settings import JobSettings

#: The JVM class that builds the dataflow.
JOB_CLASS = "io.rankfeed.flink.LabellingJob"


def labelling_config(settings: JobSettings) -> dict[str, Any]:
    """The document ``LabellingConfig.parse`` reads: every key required, none unknown (the JVM checks).

    Times are milliseconds. ``propensity`` is present only with a propensity table (IPS weights).
    """
    top_k = settings.no_click_top_k if settings.no_click_policy == "top_k" else 0
    topics = settings.topics
    config: dict[str, Any] = {
        "kafka": jvm_config.kafka_section(settings),
        "topics": {
            "user_actions": topics.user_actions,
            "user_actions_clean": topics.user_actions_clean,
            "feedback_events": topics.feedback_events,
            "ltr_examples": topics.ltr_examples,
            "session_summaries": topics.session_summaries,
            "search_exposures": topics.search_exposures,
            "late": topics.late,
            "dlq": topics.dlq,
            "erasure_requests": topics.erasure_requests,
        },
        "labels": settings.labels.model_dump(),
        "watermark_delay_ms": tables.watermark_delay_seconds(settings) * 1000,
        "source_idle_timeout_ms": settings.source_idle_timeout_seconds * 1000,
        "quick_back_threshold_ms": round(settings.quick_back_threshold_seconds * 1000),
        "session_gap_ms": round(settings.session_gap_minutes * 60_000),
        "no_click_top_k": top_k,
    }
    return {**config, **jvm_config.propensity_section(settings)}


def create_stream_environment(settings: JobSettings, pipeline_name: str) -> StreamExecutionEnvironment:
    """A checkpointed, exactly-once DataStream environment for the labelling job (see ``environment``)."""
    return environment.create_stream_environment(
        settings,
        pipeline_name,
        settings.labelling_checkpoint_interval_seconds,
        generic_types=False,
        state_backend=settings.labelling_state_backend,
    )


def build(env: StreamExecutionEnvironment, settings: JobSettings) -> None:
    """Adds the labelling dataflow (Java) to ``env``; a bad configuration key fails here, by name."""
    job = get_gateway().jvm.io.rankfeed.flink.LabellingJob
    job.build(env._j_stream_execution_environment, json.dumps(labelling_config(settings)))
