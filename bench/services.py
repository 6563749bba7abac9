"""Start an HTTP service of rankfeed (the gateway, the re-ranker) as its own process for a benchmark,
wait until its ``/readyz`` answers 200, and stop it with its whole process group afterwards."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_service(
    name: str,
    module: str,
    arguments: Sequence[str],
    env: dict[str, str],
    port: int,
    log_file: Path,
    timeout_seconds: float = 60.0,
) -> tuple[subprocess.Popen[bytes], float]:
    """``python -m module --port port arguments...`` with ``env`` added to this environment, in its own
    session, output to ``log_file``; returns it once ready, with the seconds it took."""
    command = [sys.executable, "-m", module, "--port", str(port), *arguments]
    started = time.perf_counter()
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            command, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the {name} exited with {process.returncode}; see {log_file}")
        try:
            ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            ready = False
        if ready:
            return process, time.perf_counter() - started
        time.sleep(0.05)
    stop_service(process)
    raise RuntimeError(f"the {name} did not become ready in {timeout_seconds:.0f} s; see {log_file}")


def stop_service(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the service's process group (its workers too), SIGKILL after 20 s."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
