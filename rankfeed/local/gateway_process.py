"""The ingestion gateway as a background process of the local stack, so `make demo` goes through it."""

from __future__ import annotations

import json
from dataclasses import dataclass

from rankfeed.local.service import LocalService


@dataclass(frozen=True)
class GatewayProcess(LocalService):
    name = "gateway"
    module = "rankfeed.gateway.cli"
    port_variable = "RANKFEED_GATEWAY_PORT"
    ready_path = "/readyz"

    @property
    def port(self) -> int:
        return self.settings.gateway_port

    def env(self) -> dict[str, str]:
        from rankfeed.site.settings import LOCAL_SITE_WRITE_KEY

        key = {"name": "local", "key": self.settings.gateway_api_key.get_secret_value()}
        # The demo site's pages write with a publishable key, from the site's origins only.
        site_origins = [f"http://{host}:{self.settings.site_port}" for host in ("127.0.0.1", "localhost")]
        page_key = {"name": "local-site", "key": LOCAL_SITE_WRITE_KEY, "allowed_origins": site_origins}
        env = super().env()
        env.update(
            RANKFEED_API_KEYS=json.dumps([key]),
            RANKFEED_PUBLISHABLE_KEYS=json.dumps([page_key]),
            RANKFEED_CORS_ALLOWED_ORIGINS=json.dumps(site_origins),
            RANKFEED_KAFKA__BOOTSTRAP_SERVERS=self.settings.bootstrap_servers,
            # The stack's topics: an isolated stack (e.g. `make chaos`) writes to its own user-actions topic.
            RANKFEED_TOPICS=self.settings.topics.model_dump_json(),
            # Simulated demo traffic runs ahead of the wall clock; a production gateway keeps 300 s.
            RANKFEED_MAX_FUTURE_SKEW_SECONDS=str(self.settings.gateway_max_future_skew_seconds),
        )
        # For the same reason its event time is the client's, not bounded by the wall clock, and it sends no
        # heartbeats: stamped with the wall clock they would be hours away from the simulated event time
        # (`make chaos` starts 12 h back, `make demo` runs ahead). Set these variables to turn both on.
        env.setdefault("RANKFEED_CLAMP_EVENT_TIME", "false")
        env.setdefault("RANKFEED_HEARTBEAT_INTERVAL_SECONDS", "0")
        return env
