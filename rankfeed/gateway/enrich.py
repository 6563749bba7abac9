"""The fields the gateway adds to a valid event, and the few client fields it may fill or hash.

* ``server_timestamp``: when the request arrived (one value per request, epoch ms).
* ``ingest_id``: the request id, also in the response's ``X-Request-Id`` and the access log.
* ``client_country``: ISO country of the client IP from ``iptocc``, an offline database shipped in
  the wheel (no network, no licence key); the IP itself is not kept — the contract has no field for it.
* ``device_family``: from the User-Agent with ``ua-parser`` (``"Other"`` when it matches no device).
* ``device``: only when the client sent none, the class web / mobile / tablet from the User-Agent.
* ``event_id``: a uuid4 only when the client sent none; a client's id is never replaced.
* ``user_id``: replaced by its pseudonym (:mod:`rankfeed.gateway.privacy`), so raw ids never reach Kafka.

Client values are never overwritten otherwise; gateway-set fields cannot come from clients
(the validator rejects them). The four gateway fields above are the same for every event of a
request, so they are returned once (``ServerFields``) and encoded once per request. The fifth,
``client_timestamp``, is per event: :mod:`rankfeed.gateway.eventtime` sets it with the derived event time.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from typing import Any

import iptocc
import ua_parser

from rankfeed.gateway.privacy import Pseudonymizer

#: Substrings of tablet User-Agents (lower-cased).
_TABLET_MARKERS = ("ipad", "tablet", "kindle", "silk/", "playbook")
#: Browsers put one of these in the User-Agent on phones (Android tablets omit "Mobile").
_MOBILE_MARKERS = ("mobi", "iphone", "ipod", "android", "windows phone")
#: Unknown device family, as ua-parser names it.
OTHER = "Other"
#: Every browser's User-Agent starts so; command-line tools and libraries (curl, httpx) do not.
_BROWSER_PREFIXES = ("mozilla/", "opera/")
#: ua-parser's device family of crawlers: they get no device class.
_SPIDER = "Spider"


@dataclass(frozen=True, slots=True)
class DeviceGuess:
    family: str | None
    device_class: str | None


@functools.lru_cache(maxsize=8192)
def guess_device(user_agent: str) -> DeviceGuess:
    """Device family (ua-parser) and device class (web, mobile, tablet) of a User-Agent header.

    Cached: a site sees a few thousand distinct agents, and parsing one takes tens of µs.
    Agents that are no browser (curl, crawlers) get no class.
    """
    if not user_agent:
        return DeviceGuess(None, None)
    parsed = ua_parser.parse(user_agent)
    family = parsed.device.family if parsed.device is not None else OTHER
    lowered = user_agent.lower()
    device_class: str | None
    if family == _SPIDER or not lowered.startswith(_BROWSER_PREFIXES):
        device_class = None
    elif any(marker in lowered for marker in _TABLET_MARKERS) or ("android" in lowered and "mobile" not in lowered):
        device_class = "tablet"
    elif any(marker in lowered for marker in _MOBILE_MARKERS):
        device_class = "mobile"
    else:
        device_class = "web"
    return DeviceGuess(family, device_class)


def warm_up() -> None:
    """Parse one User-Agent now: ua-parser compiles its rules on first use (~100 ms), not on a request."""
    guess_device.__wrapped__("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36")
    country_of("192.0.2.1")


def country_of(client_ip: str | None) -> str | None:
    """ISO 3166-1 alpha-2 code of an IPv4 or IPv6 address; None for private, loopback or unparsable ones."""
    if not client_ip:
        return None
    country: str | None = iptocc.country_code(client_ip)
    return country


@dataclass(frozen=True, slots=True)
class RequestContext:
    """What the gateway knows about one HTTP request, shared by all events it carries."""

    ingest_id: str
    received_at_ms: int
    client_ip: str | None
    user_agent: str


@dataclass(frozen=True, slots=True)
class ServerFields:
    """The gateway's fields (the contract's ``setBy: gateway``), equal for every event of a request.

    Attribute names are the contract's field names, so the encoder can write them once per request.
    """

    server_timestamp: int
    client_country: str | None
    device_family: str | None
    ingest_id: str


class Enricher:
    """Completes validated events (structs of the contract) on the server side; one instance per process."""

    def __init__(self, pseudonymizer: Pseudonymizer | None = None) -> None:
        self._pseudonymizer = pseudonymizer if pseudonymizer is not None else Pseudonymizer(None)

    def enrich(self, events: list[Any], context: RequestContext) -> tuple[list[str], ServerFields]:
        """Fill each event's own gateway values in place; return the event ids and the shared fields."""
        device = guess_device(context.user_agent)
        shared = ServerFields(
            server_timestamp=context.received_at_ms,
            client_country=country_of(context.client_ip),
            device_family=device.family,
            ingest_id=context.ingest_id,
        )
        device_class = device.device_class
        pseudonymize = self._pseudonymizer.user_id if self._pseudonymizer.pseudonymizes else None
        event_ids = []
        for event in events:
            if event.device is None:
                event.device = device_class
            event_id = event.event_id
            if event_id is None:
                event_id = event.event_id = str(uuid.uuid4())
            event_ids.append(event_id)
            if pseudonymize is not None:
                event.user_id = pseudonymize(event.user_id)
        return event_ids, shared
