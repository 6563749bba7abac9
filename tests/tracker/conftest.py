"""The browser tests' real pieces: Debian's Chromium driven by Playwright (never a downloaded browser), the demo
site and gateways in threads of the test process on loopback, the shared broker and the labelling job.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Request, Response, sync_playwright

from rankfeed import asgi, avro
from rankfeed.consumer import committed_reader
from rankfeed.gateway.settings import GatewaySettings, PublishableKey
from rankfeed.settings import Topics
from rankfeed.site.app import Site
from rankfeed.site.settings import LOCAL_SITE_WRITE_KEY, SiteSettings
from rankfeed.types import Record
from tests.conftest import serve_in_thread
from tests.gateway.conftest import RunningGateway, gateway_settings, run_gateway, wait_until_ready

CHROMIUM = Path(os.environ.get("RANKFEED_CHROMIUM", "/usr/bin/chromium"))
#: The tracker's timings shortened so that a visit takes seconds (its defaults: README, "Frontend").
FAST = {"flushIntervalMs": 300, "impressionMs": 200, "retryBaseMs": 500, "maxRetryDelayMs": 2000}


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"the browser tests need Chromium at {CHROMIUM}: apt-get install -y chromium (or set RANKFEED_CHROMIUM)"
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            # Playwright turns the back-forward cache off; users have it, and back detection must work with it.
            ignore_default_args=["--disable-back-forward-cache"],
        )
        yield launched
        launched.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class GatewaySwitch:
    """A real gateway on a fixed port that a test stops and starts again, as an outage or a deploy would."""

    def __init__(self, settings: GatewaySettings, port: int) -> None:
        self.settings = settings
        self.port = port
        self._running: AbstractContextManager[RunningGateway] | None = None

    def start(self, ready: bool = True, **overrides: Any) -> RunningGateway:
        self._running = run_gateway(self.settings.model_copy(update=overrides), self.port)
        running = self._running.__enter__()
        if ready:
            wait_until_ready(running)
        return running

    def stop(self) -> None:
        if self._running is not None:
            self._running.__exit__(None, None, None)
            self._running = None


@dataclass
class Visit:
    """One scenario's browser context (its own localStorage), what its pages' trackers tracked, and the
    gateway requests and answers it saw (beacons are not among them: Chromium reports no events for them)."""

    context: BrowserContext
    origin: str
    gateway: GatewaySwitch
    tracked: list[dict[str, Any]] = field(default_factory=list)
    #: (monotonic time, "request" or the status, Retry-After) of each fetch to the gateway.
    exchanges: list[tuple[float, str | int, str | None]] = field(default_factory=list)
    failures: list[float] = field(default_factory=list)

    def open(self, path: str) -> Page:
        page = self.context.new_page()
        page.goto(f"{self.origin}{path}")
        page.wait_for_selector("body[data-ready=true]")
        return page

    @property
    def event_ids(self) -> set[str]:
        return {event["event_id"] for event in self.tracked}

    def finish(self, raw: TopicLog) -> Counter[str]:
        """Wait for all that was tracked on the raw topic, leave every page (as closing its tab does), and wait
        for what leaving tracked too."""
        raw.wait_for(lambda: self.event_ids, self.pump)
        blank = self.context.new_page()
        for page in self.context.pages:
            if page is not blank:
                page.close(run_before_unload=True)
        blank.wait_for_timeout(1000)
        return raw.wait_for(lambda: self.event_ids, self.pump)

    def pump(self, seconds: float) -> None:
        """Let the browser run, and deliver its events to the test (the sync API only does so inside its calls)."""
        pages = self.context.pages
        if pages:
            pages[0].wait_for_timeout(seconds * 1000)
        else:
            time.sleep(seconds)


class Visits:
    """Opens visits (``open(topics, **tracker_options)``): a browser context on its own demo site, whose gateway
    (``visit.gateway``, not started yet) writes to ``topics`` with the site's publishable key. ``close`` ends all."""

    def __init__(self, browser: Browser, bootstrap_servers: str) -> None:
        self.browser = browser
        self.bootstrap_servers = bootstrap_servers
        self._opened: list[tuple[Visit, AbstractContextManager[int]]] = []

    def open(self, topics: Topics, **tracker_options: Any) -> Visit:
        port = free_port()
        site = SiteSettings(gateway_url=f"http://127.0.0.1:{port}", rerank_url=None)
        serving = serve_in_thread(Site(site), asgi.uvicorn_options("127.0.0.1", 0, {}), "site")
        origin = f"http://127.0.0.1:{serving.__enter__()}"
        page_key = PublishableKey(name="site", key=LOCAL_SITE_WRITE_KEY, allowed_origins=(origin,))
        settings = gateway_settings(
            self.bootstrap_servers, topics, api_keys=(), publishable_keys=(page_key,), cors_allowed_origins=(origin,)
        )
        context = self.browser.new_context(viewport={"width": 1000, "height": 640})
        result = Visit(context, origin, GatewaySwitch(settings, port))

        def tracked(event: dict[str, Any]) -> None:
            result.tracked.append(event)

        context.expose_function("rankfeedTracked", tracked)
        overrides = json.dumps({**FAST, **tracker_options})
        context.add_init_script(f"window.RANKFEED_OVERRIDES = {{...{overrides}, onEvent: window.rankfeedTracked}};")
        gateway = f"http://127.0.0.1:{port}/"

        def requested(request: Request) -> None:
            if request.url.startswith(gateway) and request.method == "POST":
                result.exchanges.append((time.monotonic(), "request", None))

        def answered(response: Response) -> None:
            if response.url.startswith(gateway) and response.request.method == "POST":
                result.exchanges.append((time.monotonic(), response.status, response.headers.get("retry-after")))

        context.on("request", requested)
        context.on("response", answered)
        context.on("requestfailed", lambda request: result.failures.append(time.monotonic()))
        self._opened.append((result, serving))
        return result

    def close(self) -> None:
        for opened, serving in self._opened:
            opened.context.close()
            opened.gateway.stop()
            serving.__exit__(None, None, None)


class TopicLog:
    """Every record of a topic so far, read by one consumer that stays open."""

    def __init__(self, bootstrap_servers: str, topic: str, schema: str = "user_action") -> None:
        self.schema = schema
        self.records: list[Record] = []
        self._consumer = committed_reader(bootstrap_servers, "browser-tests")
        self._consumer.subscribe([topic])

    def read(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            message = self._consumer.poll(0.1)
            if message is not None and not message.error():
                self.records.append(avro.decode(message.value(), self.schema))

    def counts(self, event_ids: set[str]) -> Counter[str]:
        """How often each of ``event_ids`` is on the topic."""
        return Counter(record["event_id"] for record in self.records if record["event_id"] in event_ids)

    def wait_for(
        self, event_ids: Callable[[], set[str]], pump: Callable[[float], None], timeout_seconds: float = 60
    ) -> Counter[str]:
        """Read until every id of ``event_ids()`` is there (and 2 s more, to see a duplicate), or the timeout."""
        deadline = time.monotonic() + timeout_seconds
        while set(self.counts(event_ids())) != event_ids() and time.monotonic() < deadline:
            pump(0.2)
            self.read(0.3)
        pump(1.0)
        self.read(1.0)
        return self.counts(event_ids())

    def close(self) -> None:
        self._consumer.close()
