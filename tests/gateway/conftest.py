"""A real gateway for each test that needs one: uvicorn in a thread of the test process, on a free port,
producing to the test's own topics on the shared local broker (no Kafka mocks).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from rankfeed.gateway.app import Gateway
from rankfeed.gateway.server import uvicorn_options
from rankfeed.gateway.settings import GatewaySettings, PublishableKey, WriteKey
from rankfeed.settings import KafkaSettings, Topics
from tests.conftest import serve_in_thread

#: A server-side key: no browser origin may use it.
SERVER_KEY = "server-key-0123456789abcdef"
#: A key for the web frontend, usable from WEB_ORIGIN only.
WEB_KEY = "web-key-0123456789abcdef"
WEB_ORIGIN = "https://www.hotels.example"
#: The web frontend's publishable key: in its pages, write-only, from WEB_ORIGIN only.
PAGE_KEY = "pk_web_0123456789abcdef"
#: Allowed by CORS (another frontend) but not by WEB_KEY.
OTHER_ORIGIN = "https://partner.hotels.example"
#: An IP of the UK (RIPE), sent as X-Forwarded-For from loopback, which uvicorn trusts.
UK_IP = "81.2.69.160"
IPHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)


def gateway_settings(bootstrap_servers: str, topics: Topics, **overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "kafka": KafkaSettings(bootstrap_servers=bootstrap_servers),
        "topics": topics,
        "api_keys": (
            WriteKey(name="server", key=SERVER_KEY),
            WriteKey(name="web", key=WEB_KEY, allowed_origins=(WEB_ORIGIN,)),
        ),
        "publishable_keys": (PublishableKey(name="web-page", key=PAGE_KEY, allowed_origins=(WEB_ORIGIN,)),),
        "cors_allowed_origins": (WEB_ORIGIN, OTHER_ORIGIN),
        "health_check_interval_seconds": 0.5,
        "access_log": False,
        # The gateway runs in a thread of the test process, so its event loop also waits for the test's own
        # work (the GIL): lifted here; test_nasty's saturation test and bench/overload.py keep the default.
        "max_loop_lag_ms": 2000.0,
        # Tests count what lands on their topics: heartbeats are turned on only by the tests of heartbeats.
        "heartbeat_interval_seconds": 0.0,
    }
    values.update(overrides)
    return GatewaySettings(**values)


@dataclass
class RunningGateway:
    settings: GatewaySettings
    app: Gateway
    base_url: str
    http: httpx.Client

    def post(self, path: str, body: Any = None, *, key: str | None = SERVER_KEY, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if key is not None:
            headers["X-Api-Key"] = key
        if body is not None:
            kwargs["json"] = body
        return self.http.post(path, headers=headers, **kwargs)


@contextmanager
def run_gateway(settings: GatewaySettings, port: int = 0) -> Iterator[RunningGateway]:
    """Serve ``settings`` on loopback ``port`` (a free one by default) until the block ends."""
    app = Gateway(settings)
    with serve_in_thread(app, uvicorn_options(settings), "gateway", port) as port:
        base_url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base_url, timeout=30) as client:
            yield RunningGateway(settings, app, base_url, client)


GatewayFactory = Callable[..., RunningGateway]


@pytest.fixture
def start_gateway(bootstrap_servers: str, topics: Topics) -> Iterator[GatewayFactory]:
    """``start_gateway(**settings_overrides)``: a gateway writing to this test's topics."""
    with ExitStack() as running:

        def start(**overrides: Any) -> RunningGateway:
            return running.enter_context(run_gateway(gateway_settings(bootstrap_servers, topics, **overrides)))

        yield start


@pytest.fixture
def gateway(start_gateway: GatewayFactory) -> RunningGateway:
    """A ready gateway with the default test settings, writing to this test's topics."""
    running = start_gateway()
    wait_until_ready(running)
    return running


@pytest.fixture(scope="session")
def shared_topics(bootstrap_servers: str) -> Topics:
    """Topics for tests that never read what they produced (refusals, fuzzing): created once."""
    from rankfeed.local.broker import create_topics

    isolated = Topics().with_suffix("gateway-shared")
    create_topics(bootstrap_servers, isolated)
    return isolated


@pytest.fixture(scope="session")
def shared_gateway(bootstrap_servers: str, shared_topics: Topics) -> Iterator[RunningGateway]:
    """One gateway for the tests that only look at HTTP answers; started once per run."""
    with run_gateway(gateway_settings(bootstrap_servers, shared_topics)) as running:
        wait_until_ready(running)
        yield running


def wait_until_ready(running: RunningGateway, timeout_seconds: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if running.http.get("/readyz").status_code == 200:
            return
        time.sleep(0.1)
    raise AssertionError(f"the gateway did not become ready: {running.http.get('/readyz').text}")


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)
