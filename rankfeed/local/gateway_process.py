"""The ingestion gateway as a background process of the local stack, so `make demo` goes through it."""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from rankfeed.local.procs import StackError, port_open, read_pid, start_detached, stop_pid, wait_until
from rankfeed.settings import StackSettings


@dataclass(frozen=True)
class GatewayProcess:
    settings: StackSettings

    @property
    def home(self) -> Path:
        return self.settings.state_dir / "gateway"

    @property
    def log_file(self) -> Path:
        return self.home / "gateway.log"

    @property
    def pid_file(self) -> Path:
        return self.home / "gateway.pid"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.gateway_port}"

    def pid(self) -> int | None:
        return read_pid(self.pid_file)

    def env(self) -> dict[str, str]:
        key = {"name": "local", "key": self.settings.gateway_api_key.get_secret_value()}
        env = dict(os.environ)
        env.update(
            RANKFEED_API_KEYS=json.dumps([key]),
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

    def start(self) -> None:
        if self.pid() is not None:
            return
        if port_open(self.settings.gateway_port):
            raise StackError(
                f"port {self.settings.gateway_port}, needed for the gateway, is taken by another process: "
                "stop it or set RANKFEED_GATEWAY_PORT"
            )
        self.home.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "rankfeed.gateway.cli", "--port", str(self.settings.gateway_port)]
        start_detached(command, self.log_file, self.pid_file, env=self.env())
        wait_until(self._ready, self.settings.startup_timeout_seconds, "the gateway's /readyz", self.log_file)

    def _ready(self) -> bool:
        if self.pid() is None:
            raise StackError(f"the gateway exited during start; see {self.log_file}")
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            stop_pid(pid)
        self.pid_file.unlink(missing_ok=True)
