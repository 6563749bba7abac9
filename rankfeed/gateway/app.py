"""The gateway as an ASGI application: the only door through which frontend events enter Kafka.

A write request goes: route → API key → origin → content type and coding → ``X-Sent-At`` → body
limit → gunzip → envelope (:mod:`rankfeed.gateway.browser`) → JSON → rate limit → validation → event
time → enrichment → Avro → produce → wait for Kafka's acknowledgement → 202. The key is a secret one
in ``X-Api-Key``, or a publishable one of a browser page there, in ``?write_key=`` or in the body.

``POST /v1/erasure-requests`` (admin keys only) records a request to erase one user (:mod:`rankfeed.erasure`).

Every refusal is an explicit status with a machine-readable list of problems; nothing is dropped silently:

=====  =====================================================================================
202    every accepted event was acknowledged by Kafka (a batch may list rejected events too)
400    the body is not JSON, or not the gzip stream it is declared to be; ``X-Sent-At`` malformed
401    no known key; a secret key outside ``X-Api-Key`` (``secret_key_exposed``); 403: the key may not be used
       from this ``Origin`` (a publishable key from none), or a publishable key asked for more than writing, or
       a write key for an erasure request (``admin_key_required``)
413    body larger than ``max_body_bytes``, as sent or once decompressed
415    neither JSON nor NDJSON (nor text/plain holding either, on the batch route), or a ``Content-Encoding``
       other than gzip
422    no valid event (each problem listed with index, field, problem, message)
429    the key's token bucket is empty (``Retry-After``)
503    Kafka unreachable, producer unhealthy, in-flight budget spent, deadline passed, or the
       worker saturated (requests queue over ``max_loop_lag_ms`` for its event loop) (``Retry-After``);
       the client retries with the same event_ids, the pipeline deduplicates
=====  =====================================================================================
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import math
import os
import time
import uuid
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from rankfeed import asgi as http
from rankfeed import avro, schemas
from rankfeed.asgi import Headers, Receive, Scope, Send
from rankfeed.gateway import browser, compression
from rankfeed.gateway.contract import field_rules
from rankfeed.gateway.decoding import DecodeFailed, TypedDecoder
from rankfeed.gateway.encoding import RecordEncoder
from rankfeed.gateway.enrich import Enricher, RequestContext, ServerFields, warm_up
from rankfeed.gateway.eventtime import (
    SENT_AT_HEADER,
    InvalidSentAt,
    derive_event_times,
    parse_sent_at,
    window_reference,
)
from rankfeed.gateway.heartbeats import Heartbeats
from rankfeed.gateway.kafka import KafkaSink, Unavailable
from rankfeed.gateway.logs import AccessLog, configure
from rankfeed.gateway.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from rankfeed.gateway.metrics import GatewayMetrics
from rankfeed.gateway.openapi import openapi_document
from rankfeed.gateway.privacy import NOT_JSON, Pseudonymizer, has_consent, header_map, judge_consent, opted_out
from rankfeed.gateway.security import AdminKeys, ApiKeys, Client, Cors, RateLimiter
from rankfeed.gateway.settings import CONFIG_FILE_ENV, GatewaySettings
from rankfeed.gateway.validation import GATEWAY_CLOCK, EventValidator, Problem, validate_all
from rankfeed.settings import load_settings

log = logging.getLogger(__name__)

#: How often the event loop's lateness is probed, and the window of probes whose median says a queue stands.
_LAG_PROBE_SECONDS = 0.01
_LAG_WINDOW = 5
#: One loop iteration running longer than this many ``max_loop_lag_ms`` is a burst to refuse at once.
_BURST_FACTOR = 4

SINGLE = "/v1/actions"
BATCH = "/v1/actions/batch"
#: Administrative: record a request to erase a user (admin keys only; see :mod:`rankfeed.erasure`).
ERASURE = "/v1/erasure-requests"
_ROUTES = frozenset({SINGLE, BATCH, ERASURE, "/healthz", "/readyz", "/metrics", "/openapi.json"})
#: An erasure request's body is one small JSON object.
_ERASURE_BODY_BYTES = 4096
#: The longest user id the contract accepts.
_MAX_USER_ID = next(rule.max_length for rule in field_rules(schemas.USER_ACTION) if rule.name == "user_id") or 128
_NDJSON = b"application/x-ndjson"
#: What the time window is checked against when the client sent ``X-Sent-At`` (for the problem messages).
_SENT_AT_CLOCK = "X-Sent-At (the client's clock when it sent the request)"
_NO_KEY = (
    "send a valid write key: a server key in the X-Api-Key header, or a browser page's publishable key "
    f"there, as ?{browser.WRITE_KEY_PARAMETER}= or in the body's write_key"
)


class MalformedLine:
    """Stands for an NDJSON line that was not JSON: it keeps its index and bytes but is not validated."""

    __slots__ = ("raw",)

    def __init__(self, raw: bytes) -> None:
        self.raw = raw


@dataclass
class Outcome:
    """What one request ended as, for the access log and the metrics."""

    status: int
    reason: str | None = None
    accepted: int = 0
    rejected: int = 0
    client: str | None = None


class Refused(Exception):
    """A request-level refusal, answered with ``status`` and one problem (and ``headers``, if any)."""

    def __init__(
        self,
        status: int,
        problem: str,
        message: str,
        retry_after: int | None = None,
        headers: Headers | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.problem = problem
        self.message = message
        self.retry_after = retry_after
        self.headers = headers or []


class Gateway:
    """The ASGI application; one per worker process, owning that process's producer."""

    def __init__(self, settings: GatewaySettings, metrics: GatewayMetrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics if metrics is not None else GatewayMetrics()
        self.sink = KafkaSink(settings, on_delivery_error=self._count_delivery_error)
        self.keys = ApiKeys(settings.api_keys, settings.publishable_keys)
        self.admin_keys = AdminKeys(settings.admin_keys)
        self.cors = Cors(settings)
        self.limiter = RateLimiter(settings.rate_limit_events_per_second, settings.rate_limit_burst_events)
        self.validator = EventValidator(
            max_future_skew_ms=round(settings.max_future_skew_seconds * 1000),
            max_age_ms=round(settings.max_event_age_seconds * 1000),
        )
        hmac_key = settings.user_id_hmac_key
        self.pseudonymizer = Pseudonymizer(hmac_key.get_secret_value().encode() if hmac_key is not None else None)
        self.enricher = Enricher(self.pseudonymizer)
        self.decoder = TypedDecoder(
            max_batch_events=settings.max_batch_events,
            max_future_skew_ms=round(settings.max_future_skew_seconds * 1000),
            max_age_ms=round(settings.max_event_age_seconds * 1000),
        )
        # The gateway's fields that are equal for every event of a request are encoded once per request.
        shared = tuple(field.name for field in dataclasses.fields(ServerFields))
        self.encoder = RecordEncoder(schemas.USER_ACTION, shared=shared)
        self.heartbeats = Heartbeats(settings, self.metrics)
        self.access_log = AccessLog() if settings.access_log else None
        self.topic = settings.topics.user_actions
        self._openapi = orjson.dumps(openapi_document(settings))
        self._gauge_task: asyncio.Task[None] | None = None
        self._lag_task: asyncio.Task[None] | None = None
        #: How late the lag probe woke, the last ``_LAG_WINDOW`` times (seconds).
        self._lags: deque[float] = deque([0.0] * _LAG_WINDOW, maxlen=_LAG_WINDOW)
        #: When the lag probe should wake (``time.monotonic``): past it, the loop is late by at least the difference.
        #: Infinitely far until the probe runs (``startup``), so an app served without lifespan never refuses.
        self._probe_due = math.inf

    # -- ASGI -----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await http.lifespan(receive, send, self.startup, self.shutdown)

    async def startup(self) -> None:
        await self.sink.start()
        warm_up()
        # Everything loaded so far lives as long as the process: keep it out of every collection.
        gc.freeze()
        self._gauge_task = asyncio.create_task(self._update_gauges())
        self._lag_task = asyncio.create_task(self._probe_loop_lag())
        self.heartbeats.start()
        self.pseudonymizer.warn_if_off()
        log.info(
            "gateway started",
            extra={
                "topic": self.topic,
                "ready": self.sink.ready,
                "bootstrap_servers": self.settings.kafka.bootstrap_servers,
                "heartbeat_interval_seconds": self.settings.heartbeat_interval_seconds,
            },
        )

    async def shutdown(self) -> None:
        for task in (self._gauge_task, self._lag_task):
            if task is not None:
                task.cancel()
        await self.heartbeats.stop()
        unacknowledged = await self.sink.close(self.settings.request_deadline_seconds)
        if self.access_log is not None:
            self.access_log.flush()
        log.info("gateway stopped", extra={"unacknowledged": unacknowledged})

    async def _update_gauges(self) -> None:
        while True:
            self.metrics.in_flight.set(self.sink.in_flight)
            await asyncio.sleep(1.0)

    async def _probe_loop_lag(self) -> None:
        """Measure how late a short timer fires. Beyond capacity, requests queue in the loop and this grows
        with the queue; refusing writes while it is high keeps the queue (and memory, and the latency of
        what is accepted) bounded, and a refusal costs a fraction of an accepted request."""
        while True:
            self._probe_due = time.monotonic() + _LAG_PROBE_SECONDS
            await asyncio.sleep(_LAG_PROBE_SECONDS)
            self._lags.append(max(0.0, time.monotonic() - self._probe_due))

    def saturation(self) -> float | None:
        """How long requests now wait for the loop (seconds) when that is reason to refuse writes, else None.

        Either a standing queue: the probe was late by more than ``max_loop_lag_ms`` in most of its
        window (the median: one slow request or scheduler hiccup is not a queue). Or a burst: the loop
        is in one iteration for over ``_BURST_FACTOR`` × ``max_loop_lag_ms`` (requests read together are
        served in one iteration, before the probe can see it)."""
        limit = self.settings.max_loop_lag_ms / 1000
        standing = sorted(self._lags)[_LAG_WINDOW // 2]
        if standing > limit:
            return standing
        overdue = time.monotonic() - self._probe_due
        return overdue if overdue > _BURST_FACTOR * limit else None

    def _count_delivery_error(self, error: str) -> None:
        self.metrics.delivery_errors.labels(error).inc()

    # -- HTTP -----------------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        path: str = scope["path"]
        route = path if path in _ROUTES else "other"
        request_id = str(uuid.uuid4())
        headers = header_map(scope["headers"])
        origin_header = headers.get(b"origin")
        origin = origin_header.decode("latin-1") if origin_header is not None else None
        cors_headers = self.cors.response_headers(origin) if route in (SINGLE, BATCH) else []
        response_headers: Headers = [(b"x-request-id", request_id.encode()), *cors_headers]
        try:
            outcome = await self._dispatch(scope, receive, send, route, headers, origin, request_id, response_headers)
        except Refused as refusal:
            outcome = Outcome(refusal.status, refusal.problem)
            self.metrics.reject(refusal.problem)
            if refusal.retry_after is not None:
                response_headers.append((b"retry-after", str(refusal.retry_after).encode()))
            response_headers.extend(refusal.headers)
            problem = Problem(None, None, refusal.problem, refusal.message)
            body = http.json_body({"errors": [problem.as_json()], "detail": refusal.message})
            await http.respond(send, refusal.status, body, response_headers)
        except http.ClientDisconnected:
            outcome = Outcome(499, "client_disconnected")
        except Exception:
            log.exception("unhandled error", extra={"request_id": request_id, "path": route})
            raise  # uvicorn answers 500 if nothing was sent yet
        duration = time.perf_counter() - started
        self.metrics.observe(route, outcome.status, duration)
        if self.access_log is not None:
            self.access_log.write(
                {
                    "request_id": request_id,
                    "method": scope["method"],
                    "path": route,
                    "status": outcome.status,
                    "duration_ms": round(duration * 1000, 3),
                    "client": outcome.client,
                    "accepted": outcome.accepted,
                    "rejected": outcome.rejected,
                    "reason": outcome.reason,
                }
            )

    async def _dispatch(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        route: str,
        headers: dict[bytes, bytes],
        origin: str | None,
        request_id: str,
        response_headers: Headers,
    ) -> Outcome:
        method: str = scope["method"]
        if route in (SINGLE, BATCH):
            if method == "POST":
                return await self._write(
                    scope, receive, send, route == BATCH, headers, origin, request_id, response_headers
                )
            if method == "OPTIONS":
                return await self._preflight(send, origin, response_headers)
            raise Refused(405, "method_not_allowed", f"{route} accepts POST (and OPTIONS for CORS preflight)")
        if route == ERASURE:
            if method != "POST":
                raise Refused(405, "method_not_allowed", f"{route} accepts POST")
            return await self._erasure_request(receive, send, headers, response_headers)
        if route == "other":
            raise Refused(404, "not_found", f"no route {scope['path']}; see /openapi.json")
        if method != "GET":
            raise Refused(405, "method_not_allowed", f"{route} accepts GET")
        if route == "/healthz":
            await http.respond(send, 200, b'{"status":"alive"}', response_headers)
            return Outcome(200)
        if route == "/readyz":
            reason = self.sink.not_ready_reason()
            ready = reason is None
            body = http.json_body({"ready": ready, "reason": reason, **self.sink.describe()})
            await http.respond(send, 200 if ready else 503, body, response_headers)
            return Outcome(200 if ready else 503)
        if route == "/metrics":
            await http.respond(send, 200, self.metrics.exposition(), response_headers, METRICS_CONTENT_TYPE)
            return Outcome(200)
        # Only the probes and /metrics are open; the API description is for clients holding a key.
        client = self.keys.authenticate(headers.get(b"x-api-key"))
        if client is None:
            raise Refused(401, "unauthorized", "send a valid write key in the X-Api-Key header")
        if client.publishable:
            raise Refused(403, "publishable_key_write_only", f"publishable key {client.name!r} may only write events")
        await http.respond(send, 200, self._openapi, response_headers)
        return Outcome(200, client=client.name)

    async def _preflight(self, send: Send, origin: str | None, response_headers: Headers) -> Outcome:
        if origin is None:
            await http.respond(send, 204, b"", [*response_headers, (b"allow", b"POST, OPTIONS")])
            return Outcome(204)
        if not self.cors.allows(origin):
            raise Refused(403, "origin_not_allowed", f"origin {origin} is not allowed to call this API")
        request_id = [header for header in response_headers if header[0] == b"x-request-id"]
        await http.respond(send, 204, b"", [*request_id, *self.cors.preflight_headers(origin)])
        return Outcome(204)

    # -- writes ---------------------------------------------------------------------------------

    async def _write(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        batch: bool,
        headers: dict[bytes, bytes],
        origin: str | None,
        request_id: str,
        response_headers: Headers,
    ) -> Outcome:
        settings = self.settings
        started = time.monotonic()
        started_ms = time.time_ns() // 1_000_000
        client = self.keys.authenticate(headers.get(b"x-api-key"))
        # A key in the URL is judged even beside a valid header: a secret one there is exposed.
        in_query = self._publishable(browser.query_write_key(scope), "the query string", origin)
        if client is None:
            client = in_query
        else:
            self._check_origin(client, origin)
        waiting = self.saturation()
        if waiting is not None:
            raise Refused(
                503,
                "overloaded",
                f"the gateway is saturated (requests wait {waiting * 1000:.0f} ms before being served); "
                "retry with the same event_ids",
                settings.retry_after_seconds,
            )
        content_type = headers.get(b"content-type", http.JSON).split(b";", 1)[0].strip().lower()
        ndjson = batch and content_type == _NDJSON
        text = batch and content_type == browser.TEXT_PLAIN
        if content_type != http.JSON and not ndjson and not text:
            accepted_types = (
                "application/json, application/x-ndjson or text/plain (holding either)" if batch else "application/json"
            )
            raise Refused(415, "unsupported_media_type", f"send {accepted_types}, not {content_type.decode('latin-1')}")
        try:
            coding = compression.content_coding(headers.get(b"content-encoding"))
        except compression.UnsupportedCoding as unsupported:
            raise Refused(
                415,
                "unsupported_content_encoding",
                str(unsupported),
                headers=[(b"accept-encoding", compression.SUPPORTED.encode())],
            ) from None
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > settings.max_body_bytes:
            raise Refused(413, "payload_too_large", f"the body may have at most {settings.max_body_bytes} bytes")
        try:
            body = await http.read_body(receive, settings.max_body_bytes, settings.request_deadline_seconds)
        except http.BodyTooLarge:
            raise Refused(
                413, "payload_too_large", f"the body may have at most {settings.max_body_bytes} bytes"
            ) from None
        except TimeoutError:
            raise Refused(408, "request_timeout", "the body did not arrive in time") from None
        if coding is not None:
            body = self._gunzip(body)
        sent_at, sent_at_source = headers.get(SENT_AT_HEADER), "X-Sent-At"
        if batch:
            unwrapped = browser.unwrap(body, ndjson, text)
            body, ndjson = unwrapped.body, unwrapped.ndjson
            in_body = self._publishable(unwrapped.write_key, "the body", origin)
            if client is None:
                client = in_body
            if sent_at is None and unwrapped.sent_at is not None:
                sent_at, sent_at_source = unwrapped.sent_at, "the body's sent_at"
        if client is None:
            raise Refused(401, "unauthorized", _NO_KEY)
        try:
            sent_at_ms = parse_sent_at(sent_at, sent_at_source)
        except InvalidSentAt as invalid:
            raise Refused(400, "invalid_sent_at", str(invalid)) from None

        # Timestamps are checked against the client's clock at sending when it said (X-Sent-At), else ours.
        reference_ms = window_reference(started_ms, sent_at_ms)
        opt_out = opted_out(headers)
        valid = self._decode_all_valid(body, batch, ndjson, reference_ms)
        if valid is not None:
            self._rate_limit(client.name, len(valid))
            events: list[Any] = valid
            problems: list[Problem] = []
            indexes = list(range(len(valid)))
        else:
            clock = GATEWAY_CLOCK if sent_at_ms is None else _SENT_AT_CLOCK
            events, problems, indexes = self._validate_thoroughly(
                body, batch, ndjson, reference_ms, clock, client, opt_out
            )
        consent = judge_consent(client.consent_policy, events, indexes, opt_out, client.name)
        if consent.problems:
            self.metrics.reject("consent_required", len(consent.problems))
            events, problems = consent.kept, sorted(problems + consent.problems, key=_by_index)
        outcome = Outcome(202, client=client.name, rejected=len({problem.index for problem in problems}))
        if not events:
            outcome.status = 422
            outcome.reason = "invalid_events"  # each problem is counted by its own reason
            await self._answer(send, 422, [], problems, outcome.rejected, response_headers)
            return outcome

        adjusted = derive_event_times(events, started_ms, sent_at_ms, settings.clamp_event_time)
        context = RequestContext(request_id, started_ms, _client_ip(scope), _user_agent(headers))
        event_ids, shared = self.enricher.enrich(events, context)
        for event in consent.anonymous:
            self.pseudonymizer.anonymize(event)
        if consent.anonymous:
            self.metrics.events_anonymized.inc(len(consent.anonymous))
        middle = self.encoder.encode_shared(shared)
        encode_head, encode_rest = self.encoder.encode_head, self.encoder.encode_rest
        messages = [(event.session_id.encode(), encode_head(event) + middle + encode_rest(event)) for event in events]
        try:
            await self._produce(messages, started)
        except Unavailable as unavailable:
            self.limiter.give_back(client.name, len(events))
            raise Refused(
                503,
                unavailable.reason,
                f"{unavailable}; retry with the same event_ids",
                self.settings.retry_after_seconds,
            ) from None
        self.metrics.events_accepted.inc(len(events))
        self.metrics.adjusted(adjusted.corrected, adjusted.clamped)
        outcome.accepted = len(events)
        await self._answer(send, 202, event_ids, problems, outcome.rejected, response_headers)
        return outcome

    def _check_origin(self, client: Client, origin: str | None) -> None:
        if client.allows_origin(origin):
            return
        if origin is None:
            raise Refused(
                403,
                "origin_required",
                f"publishable key {client.name!r} is for browser pages of its origins and needs an Origin header; "
                "servers send a secret key in X-Api-Key",
            )
        raise Refused(403, "origin_not_allowed", f"write key {client.name!r} may not be used from origin {origin}")

    def _publishable(self, presented: str | None, where: str, origin: str | None) -> Client | None:
        """The client of a publishable key found outside the headers (None when there is none there)."""
        if presented is None:
            return None
        client = self.keys.authenticate(presented)
        if client is None:
            raise Refused(401, "unauthorized", f"the write key in {where} is not known; {_NO_KEY}")
        if not client.publishable:
            raise Refused(
                401,
                "secret_key_exposed",
                f"write key {client.name!r} is a secret server key and was sent in {where}, where URLs and pages "
                "show it: send it in the X-Api-Key header only, rotate it now, and give browser pages a "
                "publishable key (pk_…)",
            )
        self._check_origin(client, origin)
        return client

    def _gunzip(self, body: bytes) -> bytes:
        """The decompressed body, at most ``max_body_bytes`` of it: a zip bomb stops there (413)."""
        try:
            return compression.gunzip(body, self.settings.max_body_bytes)
        except compression.DecompressedTooLarge as too_large:
            raise Refused(413, "decompressed_too_large", str(too_large)) from None
        except compression.CorruptBody as corrupt:
            raise Refused(400, "malformed_gzip", str(corrupt)) from None

    def _rate_limit(self, client: str, events: int) -> None:
        wait = self.limiter.take(client, events)
        if wait:
            raise Refused(429, "rate_limited", f"write key {client!r} sent too many events; retry in {wait} s", wait)

    def _decode_all_valid(self, body: bytes, batch: bool, ndjson: bool, now_ms: int) -> list[Any] | None:
        """The fast path: structs of every event when all are valid, else None (see ``decoding``)."""
        decoder = self.decoder
        try:
            if not batch:
                events = [decoder.decode_one(body)]
            elif ndjson:
                events = [decoder.decode_one(line) for line in body.splitlines() if line.strip()]
                if not 1 <= len(events) <= self.settings.max_batch_events:
                    return None
            else:
                events = decoder.decode_many(body)
        except DecodeFailed:
            return None
        return events if decoder.acceptable(events, now_ms) else None

    def _validate_thoroughly(
        self, body: bytes, batch: bool, ndjson: bool, now_ms: int, clock: str, client: Client, opt_out: bool
    ) -> tuple[list[Any], list[Problem], list[int]]:
        """The slow path, for bodies the fast path refused: the valid events, every problem of every event, and
        the valid events' indexes in the request.

        Timestamps are checked against ``now_ms``, the time on ``clock``."""
        parsed, parse_problems = self._parse(body, batch, ndjson)
        self._rate_limit(client.name, len(parsed))
        indexed = (
            enumerate(parsed)
            if not parse_problems
            else [(index, event) for index, event in enumerate(parsed) if not isinstance(event, MalformedLine)]
        )
        records, problems = validate_all(self.validator, indexed, now_ms, clock)
        if parse_problems:
            problems = sorted(parse_problems + problems, key=_by_index)
        for problem in problems:
            self.metrics.reject(problem.problem)
        if problems and self.settings.publish_rejected:
            self._publish_rejected(parsed, problems, client, opt_out)
        invalid = {problem.index for problem in problems}
        indexes = [index for index in range(len(parsed)) if index not in invalid]
        return [self.decoder.from_record(record) for record in records], problems, indexes

    def _parse(self, body: bytes, batch: bool, ndjson: bool) -> tuple[list[Any], list[Problem]]:
        """The events of the body, by index; an NDJSON line that is not JSON is a problem of its index.

        Such a line is kept as a ``MalformedLine`` so later indexes still match the client's lines.
        """
        if ndjson:
            events: list[Any] = []
            problems: list[Problem] = []
            for line in body.splitlines():
                if not line.strip():
                    continue
                try:
                    events.append(orjson.loads(line))
                except orjson.JSONDecodeError as error:
                    problems.append(Problem(len(events), None, "malformed_json", f"line is not JSON: {error}"))
                    events.append(MalformedLine(line))
            return self._counted(events), problems
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            message = f"the body is not JSON: {error}"
            if self.settings.publish_rejected:
                self._publish_malformed_body(body, Problem(None, None, "malformed_json", message))
            raise Refused(400, "malformed_json", message) from None
        if not batch:
            if type(parsed) is not dict:
                raise Refused(422, "not_an_object", f"{SINGLE} takes one JSON object; send arrays to {BATCH}")
            return [parsed], []
        if type(parsed) is not list:
            raise Refused(
                422,
                "not_an_array",
                f"{BATCH} takes a JSON array of events, application/x-ndjson, or the object "
                f"{browser.ENVELOPE_FIELDS} with no other fields",
            )
        return self._counted(parsed), []

    def _counted(self, events: list[Any]) -> list[Any]:
        if not events:
            raise Refused(422, "empty_batch", "the batch holds no events")
        if len(events) > self.settings.max_batch_events:
            raise Refused(
                422,
                "too_many_events",
                f"a batch may hold at most {self.settings.max_batch_events} events, got {len(events)}",
            )
        return events

    async def _produce(self, messages: list[tuple[bytes, bytes]], started: float, topic: str | None = None) -> None:
        """Produce to ``topic`` (user-actions by default) and wait for Kafka's acknowledgement, at most until the
        request deadline."""
        future = self.sink.produce(topic or self.topic, messages)
        remaining = self.settings.request_deadline_seconds - (time.monotonic() - started)
        timer = asyncio.get_running_loop().call_later(max(0.0, remaining), _expire, future)
        try:
            await future
        finally:
            timer.cancel()

    async def _answer(
        self, send: Send, status: int, event_ids: list[str], problems: list[Problem], rejected: int, headers: Headers
    ) -> None:
        accepted = len(event_ids)
        if problems:
            detail = f"{accepted} of {accepted + rejected} events accepted; {rejected} rejected, see errors"
        else:
            detail = f"{accepted} event{'s' if accepted != 1 else ''} accepted"
        body = http.json_body(
            {
                "accepted": accepted,
                "event_ids": event_ids,
                "rejected": rejected,
                "errors": [problem.as_json() for problem in problems],
                "detail": detail,
            }
        )
        await http.respond(send, status, body, headers)

    # -- erasure ----------------------------------------------------------------------------------

    async def _erasure_request(
        self, receive: Receive, send: Send, headers: dict[bytes, bytes], response_headers: Headers
    ) -> Outcome:
        """Record a request to erase the body's ``user_id`` on the erasure-requests topic, keyed by its pseudonym,
        once Kafka acknowledged it: the labelling job drops the user's actions from then on, and ``rankfeed
        forget`` rewrites the Parquet datasets."""
        started = time.monotonic()
        presented = headers.get(b"x-api-key")
        admin = self.admin_keys.authenticate(presented)
        if admin is None:
            if self.keys.authenticate(presented) is not None:
                raise Refused(403, "admin_key_required", f"{ERASURE} needs an admin key; write keys may only write")
            raise Refused(401, "unauthorized", "send an admin key in the X-Api-Key header")
        try:
            body = await http.read_body(receive, _ERASURE_BODY_BYTES, self.settings.request_deadline_seconds)
        except http.BodyTooLarge:
            raise Refused(413, "payload_too_large", f"the body may have at most {_ERASURE_BODY_BYTES} bytes") from None
        except TimeoutError:
            raise Refused(408, "request_timeout", "the body did not arrive in time") from None
        try:
            request = orjson.loads(body)
        except orjson.JSONDecodeError:
            request = None
        user_id = request.get("user_id") if isinstance(request, dict) and len(request) == 1 else None
        if not isinstance(user_id, str) or not 1 <= len(user_id) <= _MAX_USER_ID:
            raise Refused(
                422,
                "invalid_erasure_request",
                f'send {{"user_id": "…"}}: the user id as the site sends it, 1 to {_MAX_USER_ID} characters',
            )
        pseudonym = self.pseudonymizer.user_id(user_id)
        requested_at = time.time_ns() // 1_000_000
        record = {
            "user_id": pseudonym,
            "requested_at": requested_at,
            "completed_at": None,
            "files_rewritten": None,
            "rows_removed": None,
        }
        message = (pseudonym.encode(), avro.encode(record, schemas.ERASURE_REQUEST))
        try:
            await self._produce([message], started, self.settings.topics.erasure_requests)
        except Unavailable as unavailable:
            raise Refused(503, unavailable.reason, f"{unavailable}; retry", self.settings.retry_after_seconds) from None
        detail = (
            "recorded: the pipeline drops the user's actions from now on; `rankfeed forget --pending` rewrites "
            "the Parquet datasets"
        )
        answer = {"user_id": pseudonym, "requested_at": requested_at, "detail": detail}
        await http.respond(send, 202, http.json_body(answer), response_headers)
        return Outcome(202, client=admin)

    # -- the optional rejected topic ------------------------------------------------------------

    def _publish_rejected(self, events: list[Any], problems: list[Problem], client: Client, opt_out: bool) -> None:
        """One redacted ``RejectedAction`` per refused event, with every problem (:mod:`.privacy`)."""
        by_index: dict[int, list[Problem]] = {}
        for problem in problems:
            if problem.index is not None:
                by_index.setdefault(problem.index, []).append(problem)
        messages = []
        for index, found in by_index.items():
            event = events[index]
            if isinstance(event, MalformedLine):
                messages.append(self.pseudonymizer.refused(event.raw, found, NOT_JSON))
            else:
                consent = event.get("consent") if isinstance(event, dict) else None
                identified = has_consent(client.consent_policy, consent, opt_out)
                messages.append(self.pseudonymizer.refused(orjson.dumps(event), found, event, identified))
        self._publish(messages)

    def _publish_malformed_body(self, body: bytes, problem: Problem) -> None:
        self._publish([self.pseudonymizer.refused(body, [problem], NOT_JSON)])

    def _publish(self, messages: list[tuple[bytes, bytes]]) -> None:
        """Fire and forget: the client already got every problem; this copy is for analysis and replay."""
        try:
            future = self.sink.produce(self.settings.topics.user_actions_rejected, messages)
        except Unavailable:
            self.metrics.rejected_topic_dropped.inc(len(messages))
            return

        def settled(done: asyncio.Future[None]) -> None:
            if done.exception() is not None:
                self.metrics.rejected_topic_dropped.inc(len(messages))

        future.add_done_callback(settled)


def _by_index(problem: Problem) -> int:
    return problem.index or 0


def _expire(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_exception(Unavailable("kafka_timeout", "Kafka did not acknowledge before the request deadline"))


def _client_ip(scope: Scope) -> str | None:
    client = scope.get("client")
    return client[0] if client else None


def _user_agent(headers: dict[bytes, bytes]) -> str:
    return headers.get(b"user-agent", b"").decode("latin-1")


def create_app(overrides: dict[str, Any] | None = None) -> Gateway:
    """The app of a worker process: settings from the config file the CLI was given and the environment.

    ``overrides`` (the CLI's ``--host``/``--port``) win over both.
    """
    config = os.environ.get(CONFIG_FILE_ENV)
    settings = load_settings(GatewaySettings, Path(config) if config else None)
    if overrides:
        settings = settings.model_copy(update=overrides)
    configure(settings.log_level)
    return Gateway(settings)
