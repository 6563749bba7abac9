"""Write keys, their origins, and the token bucket, without HTTP."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from rankfeed.gateway.security import ApiKeys, RateLimiter, TokenBucket
from rankfeed.gateway.settings import GatewaySettings, WriteKey

KEY = "k" * 24


def test_keys_are_found_by_value_and_carry_their_origins() -> None:
    keys = ApiKeys((WriteKey(name="web", key=SecretStr(KEY), allowed_origins=("https://a.example",)),))
    client = keys.authenticate(KEY.encode())
    assert client is not None and client.name == "web"
    assert client.allows_origin("https://a.example") and client.allows_origin(None)
    assert not client.allows_origin("https://b.example")
    assert keys.authenticate(b"k" * 23) is None and keys.authenticate(None) is None


def test_settings_refuse_short_keys_and_origins_outside_cors() -> None:
    with pytest.raises(ValidationError, match="shorter than 16"):
        WriteKey(name="web", key=SecretStr("short"))
    with pytest.raises(ValidationError, match="not in cors_allowed_origins"):
        GatewaySettings(api_keys=(WriteKey(name="web", key=SecretStr(KEY), allowed_origins=("https://a.example",)),))
    assert "k" * 24 not in repr(WriteKey(name="web", key=SecretStr(KEY)))


def test_the_token_bucket_refills_at_its_rate_up_to_its_capacity() -> None:
    bucket = TokenBucket(rate=10, capacity=20, clock=0.0)
    assert bucket.take(20, now=0.0) == 0
    assert bucket.take(5, now=0.0) == pytest.approx(0.5)  # 5 tokens at 10/s
    assert bucket.take(5, now=0.5) == 0
    assert bucket.take(30, now=100.0) == pytest.approx(1.0)  # never more than the capacity of 20


def test_the_limiter_answers_whole_seconds_and_gives_tokens_back() -> None:
    limiter = RateLimiter(events_per_second=2, burst_events=4)
    assert limiter.take("web", 4) == 0
    assert limiter.take("web", 3) == 2  # 3 tokens at 2/s: 1.5 s, rounded up
    assert limiter.take("other", 4) == 0  # one bucket per key
    limiter.give_back("web", 4)
    assert limiter.take("web", 4) == 0
