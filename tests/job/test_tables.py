from __future__ import annotations

from pathlib import Path

from rankfeed import schemas
from rankfeed.job import tables
from rankfeed.settings import JobSettings


def test_source_ddl_is_generated_with_watermark_and_every_field() -> None:
    ddl = tables.kafka_source("t", "topic-a", schemas.USER_ACTION, "timestamp", JobSettings(watermark_delay_seconds=7))
    assert ddl.startswith(tables.GENERATED)
    assert "WATERMARK FOR `timestamp` AS `timestamp` - INTERVAL '7' SECOND(3)" in ddl
    for column in schemas.flink_columns(schemas.USER_ACTION):
        assert column in ddl
    assert "'topic' = 'topic-a'" in ddl


def test_sink_ddl_is_exactly_once_within_the_broker_timeout() -> None:
    ddl = tables.kafka_sink("t", "out", schemas.USER_ACTION, "session_id", JobSettings())
    assert "'sink.delivery-guarantee' = 'exactly-once'" in ddl
    assert "'properties.transaction.timeout.ms' = '900000'" in ddl
    assert "'key.fields' = 'session_id'" in ddl


def test_parquet_ddl_is_hive_partitioned(tmp_path: Path) -> None:
    ddl = tables.parquet_dataset("p", (tmp_path / "events").as_uri(), schemas.USER_ACTION)
    assert "PARTITIONED BY (`dt`, `hr`)" in ddl
    assert f"'path' = '{(tmp_path / 'events').as_uri()}'" in ddl
