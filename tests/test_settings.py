from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from rankfeed.settings import JobSettings, StackSettings, Topics, load_settings


def test_environment_overrides_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "job.yaml"
    config.write_text("checkpoint_interval_seconds: 30\nkafka:\n  bootstrap_servers: file:1\n")
    monkeypatch.setenv("RANKFEED_KAFKA__BOOTSTRAP_SERVERS", "env:2")
    settings = load_settings(JobSettings, config)
    assert settings.checkpoint_interval_seconds == 30
    assert settings.kafka.bootstrap_servers == "env:2"


def test_settings_are_frozen_and_reject_unknown_keys(tmp_path: Path) -> None:
    settings = JobSettings()
    with pytest.raises(ValidationError):
        settings.parallelism = 4  # type: ignore[misc]
    config = tmp_path / "job.yaml"
    config.write_text("checkpoint_intervall_seconds: 30\n")
    with pytest.raises(ValidationError, match="checkpoint_intervall_seconds"):
        load_settings(JobSettings, config)


def test_transaction_timeout_cannot_exceed_the_broker_maximum() -> None:
    with pytest.raises(ValidationError, match="900000"):
        JobSettings(transaction_timeout_ms=3_600_000)


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.yaml"):
        load_settings(StackSettings, tmp_path / "nope.yaml")


def test_topic_specs_and_suffix() -> None:
    specs = Topics().specs()
    assert specs["hotel-features"].cleanup_policy == "compact"
    assert specs["user-actions"].partitions == 6
    assert set(specs) >= {"user-actions-late", "user-actions-dlq", "ltr-examples", "session-summaries"}
    suffixed = Topics().with_suffix("t1")
    assert suffixed.user_actions == "user-actions-t1"
    assert suffixed.specs()["hotel-features-t1"].cleanup_policy == "compact"


def test_the_lake_writes_under_parquet_uri_when_given_else_under_parquet_dir(tmp_path: Path) -> None:
    local = JobSettings(parquet_dir=tmp_path)
    assert local.parquet_location("events") == (tmp_path / "events").as_uri()
    remote = JobSettings(parquet_dir=tmp_path, parquet_uri="s3://rankfeed/lake/")
    assert remote.parquet_location("events") == "s3://rankfeed/lake/events"
    with pytest.raises(ValidationError):
        JobSettings(parquet_uri="/data/lake")
