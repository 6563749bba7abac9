"""Background processes with pid files, port checks and waits: what the broker and the cluster share."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path


class StackError(RuntimeError):
    """The local stack cannot start or stop; the message says why and what to do."""


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def read_pid(pid_file: Path) -> int | None:
    """The pid in ``pid_file`` if that process is alive; a stale file is removed."""
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    if pid_alive(pid):
        return pid
    pid_file.unlink(missing_ok=True)
    return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); reap it if it is ours.
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return finished == 0


def start_detached(command: Sequence[str], log_file: Path, pid_file: Path, env: dict[str, str] | None = None) -> int:
    """Start ``command`` in its own session, output to ``log_file``; it outlives this process."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            list(command),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
        )
    pid_file.write_text(str(process.pid))
    return process.pid


def stop_pid(pid: int, timeout_seconds: float = 30.0) -> None:
    """SIGTERM, wait, then SIGKILL: a clean stop when possible, a stop always."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.2)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return


def wait_until(check: Callable[[], bool], timeout_seconds: float, what: str, log_file: Path | None = None) -> None:
    """Poll ``check`` until it holds; on timeout raise with the tail of the log to look at."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    hint = f"; see {log_file}" if log_file is not None else ""
    raise StackError(f"timed out after {timeout_seconds:.0f}s waiting for {what}{hint}")
