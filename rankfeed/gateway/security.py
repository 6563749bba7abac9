"""Who may write: secret ``X-Api-Key`` write keys, publishable keys of browser pages, their origins, CORS,
and a per-key rate limit.

A secret key is accepted in the ``X-Api-Key`` header only; a publishable key also in the query string or
the body (a beacon can set no header), and only from a browser page of one of its origins.

Keys are compared by their SHA-256 digest (a dict lookup of a fixed-size hash), so neither the
lookup time nor any log line reveals a key. The rate limit is a token bucket per key and worker
process, one token per event: with N workers a key may send up to N times the configured rate.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

from rankfeed.gateway.settings import AdminKey, ConsentPolicy, GatewaySettings, PublishableKey, WriteKey


def _digest(key: str | bytes) -> bytes:
    return hashlib.sha256(key.encode() if isinstance(key, str) else key).digest()


@dataclass(frozen=True, slots=True)
class Client:
    """An authenticated write key: its name (for logs and metrics) and where it may be used from."""

    name: str
    allowed_origins: frozenset[str]
    #: A publishable key: write-only, and only from a browser page of its origins.
    publishable: bool = False
    #: What happens to actions without consent (``GatewaySettings``' ``ConsentPolicy``).
    consent_policy: ConsentPolicy = "ignore"

    def allows_origin(self, origin: str | None) -> bool:
        """Requests without ``Origin`` come from servers, which need a secret key; with one, the key must
        allow that origin."""
        if origin is None:
            return not self.publishable
        return origin in self.allowed_origins


class ApiKeys:
    def __init__(self, keys: tuple[WriteKey, ...], publishable: tuple[PublishableKey, ...] = ()) -> None:
        self._by_digest = {
            _digest(key.key.get_secret_value()): Client(
                key.name, frozenset(key.allowed_origins), False, key.consent_policy
            )
            for key in keys
        }
        self._by_digest.update(
            {
                _digest(key.key): Client(key.name, frozenset(key.allowed_origins), True, key.consent_policy)
                for key in publishable
            }
        )

    def authenticate(self, presented: bytes | str | None) -> Client | None:
        """The client of a key of either kind, None when it is unknown or empty."""
        if not presented:
            return None
        return self._by_digest.get(_digest(presented))


class AdminKeys:
    def __init__(self, keys: tuple[AdminKey, ...]) -> None:
        self._by_digest = {_digest(key.key.get_secret_value()): key.name for key in keys}

    def authenticate(self, presented: bytes | None) -> str | None:
        """The name of the admin key presented, None when it is unknown or empty."""
        if not presented:
            return None
        return self._by_digest.get(_digest(presented))


class Cors:
    """CORS for browser pages of the allowed origins: preflight answers and response headers."""

    ALLOWED_METHODS = b"POST, OPTIONS"
    ALLOWED_HEADERS = b"content-type, content-encoding, x-api-key, x-request-id, x-sent-at"
    EXPOSED_HEADERS = b"x-request-id, retry-after"

    def __init__(self, settings: GatewaySettings) -> None:
        self.allowed_origins = frozenset(settings.cors_allowed_origins)
        self._max_age = str(settings.cors_max_age_seconds).encode()
        # Only ever beside the request's own origin echoed back, never beside "*" (browsers refuse that).
        self._credentials = [(b"access-control-allow-credentials", b"true")] if settings.cors_allow_credentials else []

    def allows(self, origin: str) -> bool:
        return origin in self.allowed_origins

    def preflight_headers(self, origin: str) -> list[tuple[bytes, bytes]]:
        return [
            (b"access-control-allow-origin", origin.encode()),
            (b"access-control-allow-methods", self.ALLOWED_METHODS),
            (b"access-control-allow-headers", self.ALLOWED_HEADERS),
            (b"access-control-max-age", self._max_age),
            *self._credentials,
            (b"vary", b"origin"),
        ]

    def response_headers(self, origin: str | None) -> list[tuple[bytes, bytes]]:
        if origin is None or origin not in self.allowed_origins:
            return []
        return [
            (b"access-control-allow-origin", origin.encode()),
            (b"access-control-expose-headers", self.EXPOSED_HEADERS),
            *self._credentials,
            (b"vary", b"origin"),
        ]


class TokenBucket:
    """``rate`` tokens per second up to ``capacity``; ``take`` answers how long to wait when short."""

    __slots__ = ("capacity", "rate", "tokens", "updated")

    def __init__(self, rate: float, capacity: float, clock: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.updated = clock

    def take(self, cost: float, now: float) -> float:
        """Take ``cost`` tokens and return 0, or take nothing and return the seconds until they exist."""
        tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if tokens >= cost:
            self.tokens = tokens - cost
            return 0.0
        self.tokens = tokens
        return (cost - tokens) / self.rate

    def give_back(self, cost: float) -> None:
        self.tokens = min(self.capacity, self.tokens + cost)


class RateLimiter:
    """One token bucket per write key name, created on first use."""

    def __init__(self, events_per_second: float, burst_events: int) -> None:
        self.rate = events_per_second
        self.burst = burst_events
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, client: str, events: int) -> int:
        """Take ``events`` tokens; 0 when allowed, else whole seconds to wait (for ``Retry-After``)."""
        now = time.monotonic()
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = self._buckets[client] = TokenBucket(self.rate, self.burst, now)
        wait = bucket.take(events, now)
        return 0 if wait == 0 else max(1, math.ceil(wait))

    def give_back(self, client: str, events: int) -> None:
        """Return tokens of events that were not taken in after all (Kafka unavailable)."""
        bucket = self._buckets.get(client)
        if bucket is not None:
            bucket.give_back(events)
