"""GatewaySettings: defaults < YAML < environment, secrets never printed, inconsistent limits refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from pydantic import SecretStr, ValidationError

from rankfeed.gateway.settings import GatewaySettings
from rankfeed.settings import load_settings


def test_the_environment_wins_over_the_config_file_and_keys_stay_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump({"port": 9000, "linger_ms": 3, "cors_allowed_origins": ["https://a.example"]}))
    keys = [{"name": "web", "key": "secret-write-key-123456", "allowed_origins": ["https://a.example"]}]
    monkeypatch.setenv("RANKFEED_API_KEYS", json.dumps(keys))
    monkeypatch.setenv("RANKFEED_PORT", "9100")
    monkeypatch.setenv("RANKFEED_KAFKA__BOOTSTRAP_SERVERS", "broker:9092")
    monkeypatch.setenv("RANKFEED_USER_ID_HMAC_KEY", "hmac-secret-key-0123456789abcdef0123456789")
    settings = load_settings(GatewaySettings, config)
    assert (settings.port, settings.linger_ms, settings.kafka.bootstrap_servers) == (9100, 3, "broker:9092")
    assert settings.api_keys[0].key.get_secret_value() == "secret-write-key-123456"
    assert "secret-write-key-123456" not in repr(settings) and "hmac-secret-key-0123456789abcdef0123456789" not in repr(
        settings
    )
    with pytest.raises(ValidationError):
        settings.port = 1  # type: ignore[misc]  # frozen


def test_limits_that_could_never_be_met_are_refused() -> None:
    with pytest.raises(ValidationError, match="a full batch could never pass the rate limit"):
        GatewaySettings(max_batch_events=600, rate_limit_burst_events=500)
    with pytest.raises(ValidationError, match="a full batch could never be produced"):
        GatewaySettings(max_batch_events=600, rate_limit_burst_events=1000, max_in_flight_events=500)


def test_the_local_stack_gateway_keeps_simulated_time_and_sends_no_heartbeats_unless_told(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cases 2026-11-30-01 and 2026-11-30-05: production defaults bound event time and send heartbeats; the local
    stack (simulated time ahead of, or hours behind, the wall clock) turns both off, and its environment wins."""
    from rankfeed.local.gateway_process import GatewayProcess
    from rankfeed.settings import StackSettings

    defaults = GatewaySettings()
    assert (defaults.clamp_event_time, defaults.heartbeat_interval_seconds) == (True, 5.0)
    for name in ("RANKFEED_CLAMP_EVENT_TIME", "RANKFEED_HEARTBEAT_INTERVAL_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    local = GatewayProcess(StackSettings()).env()
    assert (local["RANKFEED_CLAMP_EVENT_TIME"], local["RANKFEED_HEARTBEAT_INTERVAL_SECONDS"]) == ("false", "0")
    for name, value in local.items():
        if name.startswith("RANKFEED_"):
            monkeypatch.setenv(name, value)
    served = GatewaySettings()
    assert (served.clamp_event_time, served.heartbeat_interval_seconds) == (False, 0.0)
    monkeypatch.setenv("RANKFEED_HEARTBEAT_INTERVAL_SECONDS", "5")
    assert GatewayProcess(StackSettings()).env()["RANKFEED_HEARTBEAT_INTERVAL_SECONDS"] == "5"


@pytest.mark.parametrize("key", ["", "x", "31-bytes-is-one-byte-too-short!"])
def test_a_short_user_id_hmac_key_is_refused(key: str) -> None:
    """Ids are guessable (emails, sequential ids): with a short key a pseudonym can be reversed by trying them."""
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        GatewaySettings(user_id_hmac_key=SecretStr(key))
