"""Server-side fields: country from the shipped IP database, device from the User-Agent, ids, hashing."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from rankfeed.gateway.enrich import (
    Enricher,
    RequestContext,
    ServerFields,
    country_of,
    guess_device,
)
from rankfeed.gateway.privacy import Pseudonymizer, pseudonymize

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 16_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.0 Safari/604.1"
)
ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/112.0 Safari/537.36"
)
DESKTOP = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
GOOGLEBOT_SMARTPHONE = (
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
)


@pytest.mark.parametrize(
    ("user_agent", "family", "device_class"),
    [
        (IPHONE, "iPhone", "mobile"),
        (IPAD, "iPad", "tablet"),
        (ANDROID_TABLET, "SM-X710", "tablet"),
        (DESKTOP, "Other", "web"),
        (GOOGLEBOT, "Spider", None),
        (GOOGLEBOT_SMARTPHONE, "Spider", None),
        ("curl/8.5.0", "Other", None),
        ("", None, None),
    ],
)
def test_device_family_and_class_from_the_user_agent(
    user_agent: str, family: str | None, device_class: str | None
) -> None:
    guess = guess_device(user_agent)
    assert (guess.family, guess.device_class) == (family, device_class)


@pytest.mark.parametrize(
    ("ip", "country"),
    [
        ("81.2.69.160", "GB"),
        ("8.8.8.8", "US"),
        ("2a00:1450:4001:82a::200e", "IE"),
        ("127.0.0.1", None),
        ("10.1.2.3", None),
        (None, None),
        ("not-an-ip", None),
    ],
)
def test_country_from_the_offline_database(ip: str | None, country: str | None) -> None:
    assert country_of(ip) == country


def event(**values: Any) -> SimpleNamespace:
    fields = {"event_id": None, "user_id": "U1", "device": None}
    return SimpleNamespace(**{**fields, **values})


CONTEXT = RequestContext(
    ingest_id="request-1", received_at_ms=1_795_777_200_000, client_ip="81.2.69.160", user_agent=IPHONE
)


def test_server_fields_are_shared_by_the_request_and_client_values_are_kept() -> None:
    given = event(event_id="123e4567-e89b-42d3-a456-426614174000", device="web")
    missing = event()
    event_ids, shared = Enricher().enrich([given, missing], CONTEXT)
    assert given.event_id == event_ids[0] == "123e4567-e89b-42d3-a456-426614174000"
    assert given.device == "web"  # the client's value, although the User-Agent says mobile
    assert missing.device == "mobile"  # filled only because the client sent none
    assert len(event_ids[1]) == 36 and missing.event_id == event_ids[1] and event_ids[1][14] == "4"  # a uuid4
    assert shared == ServerFields(
        server_timestamp=1_795_777_200_000, client_country="GB", device_family="iPhone", ingest_id="request-1"
    )
    assert given.user_id == missing.user_id == "U1"


def test_user_ids_are_pseudonymized_with_a_keyed_hash_when_a_key_is_configured() -> None:
    first, second, other = event(), event(), event(user_id="U2")
    Enricher(Pseudonymizer(b"k" * 32)).enrich([first, second, other], CONTEXT)
    assert first.user_id == second.user_id == pseudonymize(b"k" * 32, "U1")
    assert len(first.user_id) == 64 and first.user_id != "U1" and other.user_id != first.user_id
    assert pseudonymize(b"another key", "U1") != first.user_id
