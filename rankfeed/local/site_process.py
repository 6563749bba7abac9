"""The demo hotel-search site as a background process of the local stack, sending to the stack's gateway."""

from __future__ import annotations

from dataclasses import dataclass

from rankfeed.local.service import LocalService


@dataclass(frozen=True)
class SiteProcess(LocalService):
    name = "site"
    module = "rankfeed.site.cli"
    port_variable = "RANKFEED_SITE_PORT"
    ready_path = "/config.js"

    @property
    def port(self) -> int:
        return self.settings.site_port

    def env(self) -> dict[str, str]:
        env = super().env()
        env["RANKFEED_GATEWAY_URL"] = f"http://127.0.0.1:{self.settings.gateway_port}"
        return env
