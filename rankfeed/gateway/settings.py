"""Settings of the ingestion gateway: one frozen object per process, like every rankfeed process.

Read with :func:`rankfeed.settings.load_settings` from defaults < ``--config`` YAML < environment
(``RANKFEED_API_KEYS='[{"name": "web", "key": "...", "allowed_origins": ["https://www.example.com"]}]'``,
``RANKFEED_KAFKA__BOOTSTRAP_SERVERS=...``). Secrets (write keys, the user-id hashing key) are
``SecretStr`` so they never appear in logs, reprs or error messages. Publishable keys
(``RANKFEED_PUBLISHABLE_KEYS``) are not secrets: they sit in the pages' HTML, may only write, and only
from their origins.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator

from rankfeed.settings import Frozen, HmacKey, KafkaSettings, Topics, _Settings

#: What the gateway does with an action of a user who gave no consent (``consent`` not ``granted``, or the
#: request carries ``Sec-GPC: 1`` or ``DNT: 1``): refuse it (422 ``consent_required``, nothing stored), keep it
#: with a per-session anonymous user id (:mod:`rankfeed.gateway.privacy`), or not look (the client decided).
ConsentPolicy = Literal["require", "anonymize", "ignore"]

#: Environment variable through which ``rankfeed gateway`` hands its ``--config`` file to worker processes.
CONFIG_FILE_ENV = "RANKFEED_GATEWAY_CONFIG_FILE"
#: Every publishable key starts with this, so one found in a page, a log or a URL is known for what it is.
PUBLISHABLE_PREFIX = "pk_"


class WriteKey(Frozen):
    """One client allowed to write: its ``X-Api-Key`` and the browser origins it may be used from.

    An empty ``allowed_origins`` makes a server-side key: requests carrying an ``Origin`` header
    (i.e. sent by a browser page) are refused with it, so a key leaked into a web page is useless there.
    """

    name: str = Field(min_length=1, description="Shown in logs and metrics instead of the key")
    key: SecretStr
    allowed_origins: tuple[str, ...] = ()
    #: A server forwards what its own consent management let through: by default the gateway does not look.
    consent_policy: ConsentPolicy = "ignore"

    @model_validator(mode="after")
    def _key_is_long_enough(self) -> WriteKey:
        if len(self.key.get_secret_value()) < 16:
            raise ValueError(f"write key {self.name!r} is shorter than 16 characters; generate a longer random key")
        if self.key.get_secret_value().startswith(PUBLISHABLE_PREFIX):
            raise ValueError(
                f"write key {self.name!r} starts with {PUBLISHABLE_PREFIX!r}, the mark of publishable keys: a secret "
                "server key must not look like one; generate another key, or list it under publishable_keys"
            )
        return self


class AdminKey(Frozen):
    """A key for administrative requests (``POST /v1/erasure-requests``), sent in ``X-Api-Key`` by an operator's
    tool or a back office; it cannot write events, and write keys cannot make administrative requests."""

    name: str = Field(min_length=1, description="Shown in logs and metrics instead of the key")
    key: SecretStr

    @model_validator(mode="after")
    def _key_is_long_enough(self) -> AdminKey:
        if len(self.key.get_secret_value()) < 16:
            raise ValueError(f"admin key {self.name!r} is shorter than 16 characters; generate a longer random key")
        return self


class PublishableKey(Frozen):
    """A write-only key for browser pages: public by design (it is in the page's HTML), so it is bound to
    the page's origins, may only write events, and may travel in the query string (``?write_key=``) or the
    body (``{"write_key": …, "events": […]}``) because ``navigator.sendBeacon`` can set no header.

    Rotation: add the new key beside the old one, deploy the pages with the new key, wait until cached
    pages and queued events have drained (a day covers the tracker's offline queue), then remove the old one.
    """

    name: str = Field(min_length=1, description="Shown in logs and metrics instead of the key")
    key: str = Field(pattern=r"^pk_[A-Za-z0-9_-]{16,}$", description="pk_ and at least 16 URL-safe characters")
    allowed_origins: tuple[str, ...] = Field(min_length=1, description="Browser origins (scheme://host[:port])")
    #: A page's user is right there, with their browser's privacy signals: by default an action without
    #: consent is kept for aggregate signal only, under a per-session anonymous user id.
    consent_policy: ConsentPolicy = "anonymize"


class GatewaySettings(_Settings):
    """The HTTP ingestion gateway started by ``rankfeed gateway``."""

    kafka: KafkaSettings = KafkaSettings()
    topics: Topics = Topics()

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1)
    #: uvicorn answers 503 beyond this many open connections and tasks per worker: bounds memory.
    max_concurrent_requests: int = Field(default=4096, ge=1)
    #: Writes are refused with 503 at once while requests queue this long for the event loop (a standing
    #: queue, or a burst): beyond capacity they get a fast "retry later" instead of waiting for seconds
    #: (``Gateway.saturation``, bench/overload.py).
    max_loop_lag_ms: float = Field(default=50.0, gt=0)
    #: Clients whose ``X-Forwarded-For`` is trusted (a reverse proxy); the client IP is used for the country only.
    forwarded_allow_ips: str = "127.0.0.1,::1"

    api_keys: tuple[WriteKey, ...] = ()
    #: Keys for browser pages (see ``PublishableKey``), kept apart from the secret ``api_keys``.
    publishable_keys: tuple[PublishableKey, ...] = ()
    #: Keys for administrative requests (erasure of a user); see ``AdminKey``.
    admin_keys: tuple[AdminKey, ...] = ()
    #: Origins whose browser pages may call the API (CORS preflight); each key narrows this further.
    cors_allowed_origins: tuple[str, ...] = ()
    #: How long a browser may cache a preflight answer (``Access-Control-Max-Age``; Chromium caps it at 7200).
    cors_max_age_seconds: int = Field(default=600, ge=0)
    #: ``Access-Control-Allow-Credentials``. Off: keys, never cookies, authenticate, so no request needs the
    #: user's cookies and none is answered to a page that sent them. Beacons are always sent with credentials,
    #: which is why the tracker sends them as ``text/plain`` (no preflight, no CORS read of the answer).
    cors_allow_credentials: bool = False

    #: Largest body accepted, both as sent and, for ``Content-Encoding: gzip``, once decompressed (a zip bomb
    #: stops at this many bytes of output and is answered 413).
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_batch_events: int = Field(default=500, ge=1)
    #: Token bucket per write key and worker process; one token is one event.
    rate_limit_events_per_second: float = Field(default=2000.0, gt=0)
    rate_limit_burst_events: int = Field(default=5000, ge=1)

    #: Events stamped further than this ahead of the gateway's clock are refused (client clock skew).
    max_future_skew_seconds: float = Field(default=300.0, ge=0)
    #: Events older than this are refused: the topic would delete them at once (its retention).
    max_event_age_seconds: float = Field(default=7 * 24 * 3600.0, gt=0)
    #: Bound the event time written to Kafka by the gateway's receive time (``server_timestamp``), so that no
    #: device clock can move the pipeline's event time ahead of real time (:mod:`rankfeed.gateway.eventtime`).
    #: Off only where the traffic is simulated and runs ahead of the wall clock on purpose (the local stack).
    clamp_event_time: bool = True

    #: Every this many seconds each gateway process writes one ``heartbeat`` action to every partition of the
    #: user-actions topic, so the job's watermark moves on when no user sends anything; 0 turns them off.
    heartbeat_interval_seconds: float = Field(default=5.0, ge=0)
    #: Heartbeats are stamped this long before the gateway's clock: the largest delay between an action and
    #: its arrival at the gateway that a heartbeat never turns into lateness (on top of the job's watermark
    #: delay). Labels on a quiet site wait this much longer; more than the job's ``watermark_delay_seconds``
    #: sends the heartbeats of busy partitions to the late topic.
    heartbeat_margin_seconds: float = Field(default=5.0, ge=0)

    #: Longest a request waits for Kafka's acknowledgement; also librdkafka's ``message.timeout.ms``.
    request_deadline_seconds: float = Field(default=5.0, gt=0)
    #: Events produced but not yet acknowledged, per worker; beyond it requests get 503.
    max_in_flight_events: int = Field(default=50_000, ge=1)
    retry_after_seconds: int = Field(default=1, ge=1)
    health_check_interval_seconds: float = Field(default=1.0, gt=0)
    #: How often delivery callbacks are served while events are in flight; adds up to this much latency.
    poll_interval_ms: float = Field(default=1.0, gt=0)
    #: librdkafka ``linger.ms`` for single events: short, because every request waits for its message.
    #: Measured with bench/gateway.py: 0.5 ms gives the lowest latency, 1 ms more throughput.
    linger_ms: float = Field(default=1.0, ge=0)
    #: ``linger.ms`` of the producer for batch requests: fuller produce requests cost the broker less.
    batch_linger_ms: float = Field(default=5.0, ge=0)
    compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = "lz4"

    #: Also write a redacted summary of each refused event (the pseudonym, the field names present, its
    #: size and the reasons; no values: see rankfeed/gateway/privacy.py) to ``topics.user_actions_rejected``,
    #: so a producer's mistakes can be found and counted.
    publish_rejected: bool = False

    #: When set (at least 32 bytes), user_id is replaced by HMAC-SHA256(key, user_id) before it reaches Kafka.
    user_id_hmac_key: HmacKey | None = None

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    #: One JSON line per request (never the payload); turn off only to measure the cost of logging.
    access_log: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> GatewaySettings:
        if self.max_batch_events > self.rate_limit_burst_events:
            raise ValueError(
                f"max_batch_events ({self.max_batch_events}) exceeds rate_limit_burst_events "
                f"({self.rate_limit_burst_events}): a full batch could never pass the rate limit"
            )
        if self.max_batch_events > self.max_in_flight_events:
            raise ValueError(
                f"max_batch_events ({self.max_batch_events}) exceeds max_in_flight_events "
                f"({self.max_in_flight_events}): a full batch could never be produced"
            )
        keys: tuple[WriteKey | PublishableKey, ...] = (*self.api_keys, *self.publishable_keys)
        names = [key.name for key in (*keys, *self.admin_keys)]
        if len(names) != len(set(names)):
            raise ValueError(f"api_keys, publishable_keys and admin_keys names must be unique, got {names}")
        for key in keys:
            outside = sorted(set(key.allowed_origins) - set(self.cors_allowed_origins))
            if outside:
                raise ValueError(
                    f"write key {key.name!r} allows origins {outside} that are not in cors_allowed_origins; "
                    "browsers would be refused at preflight: add them there too"
                )
        return self

    @property
    def request_deadline_ms(self) -> int:
        return round(self.request_deadline_seconds * 1000)
