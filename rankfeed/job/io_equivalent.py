"""The benchmark's I/O-equivalent baseline: the labelling job's source, keyBy and one exactly-once
sink, writing about as many records of about the same sizes to the same topics, with no logic
(``io.rankfeed.flink.IoEquivalentJob``). The labelling job's throughput beside it says what the
labelling itself costs; the same configuration document drives both.
"""

from __future__ import annotations

import json

from pyflink.datastream import StreamExecutionEnvironment
from pyflink.java_gateway import get_gateway

from rankfeed.job.labelling import create_stream_environment, labelling_config
from rankfeed.settings import JobSettings

__all__ = ["build", "create_stream_environment"]


def build(env: StreamExecutionEnvironment, settings: JobSettings) -> None:
    job = get_gateway().jvm.io.rankfeed.flink.IoEquivalentJob
    job.build(env._j_stream_execution_environment, json.dumps(labelling_config(settings)))
