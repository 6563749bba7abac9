"""A Python service of the local stack run as a detached process: its pid and log files, start and stop."""

from __future__ import annotations

import os
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rankfeed.local.procs import StackError, port_open, read_pid, start_detached, stop_pid, wait_until
from rankfeed.settings import StackSettings


@dataclass(frozen=True)
class LocalService:
    settings: StackSettings
    #: Its name in messages and the folder under the stack's state dir.
    name: ClassVar[str]
    #: ``python -m`` this module with ``--port``.
    module: ClassVar[str]
    #: The environment variable that moves its port, named when the port is taken.
    port_variable: ClassVar[str]
    #: Answers 200 once the service can serve.
    ready_path: ClassVar[str]

    @property
    def port(self) -> int:
        raise NotImplementedError

    @property
    def home(self) -> Path:
        return self.settings.state_dir / self.name

    @property
    def log_file(self) -> Path:
        return self.home / f"{self.name}.log"

    @property
    def pid_file(self) -> Path:
        return self.home / f"{self.name}.pid"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pid(self) -> int | None:
        return read_pid(self.pid_file)

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def start(self) -> None:
        if self.pid() is not None:
            return
        if port_open(self.port):
            raise StackError(
                f"port {self.port}, needed for the {self.name}, is taken by another process: "
                f"stop it or set {self.port_variable}"
            )
        self.home.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", self.module, "--port", str(self.port)]
        start_detached(command, self.log_file, self.pid_file, env=self.env())
        timeout = self.settings.startup_timeout_seconds
        wait_until(self._ready, timeout, f"the {self.name}'s {self.ready_path}", self.log_file)

    def _ready(self) -> bool:
        if self.pid() is None:
            raise StackError(f"the {self.name} exited during start; see {self.log_file}")
        try:
            with urllib.request.urlopen(f"{self.url}{self.ready_path}", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            stop_pid(pid)
        self.pid_file.unlink(missing_ok=True)
