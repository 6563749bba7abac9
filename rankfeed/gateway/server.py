"""Running the gateway under uvicorn (uvloop + httptools), in one process or several workers.

Measured on the 2-core development machine, a bare ASGI app answers ~60k req/s on uvicorn with
uvloop and httptools and ~35k req/s on granian's ASGI mode, so uvicorn it is.

Several workers each bind their own listening socket with ``SO_REUSEPORT``, so the kernel spreads
connections evenly over them. uvicorn's own ``--workers`` shares one socket, and on this machine
one worker then took twice the connections of the other (measured with bench/gateway.py).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import tempfile
import time
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

from rankfeed import asgi
from rankfeed.gateway.logs import configure, log_config
from rankfeed.gateway.metrics import MULTIPROCESS_ENV
from rankfeed.gateway.settings import CONFIG_FILE_ENV, GatewaySettings

log = logging.getLogger(__name__)


def uvicorn_options(settings: GatewaySettings) -> dict[str, Any]:
    """Server options shared by the CLI, the tests and the benchmark."""
    return asgi.uvicorn_options(
        settings.host,
        settings.port,
        log_config(settings.log_level),
        limit_concurrency=settings.max_concurrent_requests,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=int(settings.request_deadline_seconds) + 1,
    )


def serve(settings: GatewaySettings, config_file: Path | None) -> None:
    """Serve until SIGINT or SIGTERM. Several workers each rebuild their settings from ``config_file``
    and the environment, with ``host``, ``port`` and ``workers`` as given here."""
    if settings.workers == 1:
        from rankfeed.gateway.app import Gateway

        configure(settings.log_level)
        uvicorn.run(Gateway(settings), **uvicorn_options(settings))
        return
    if settings.port == 0:
        raise ValueError("several workers need a fixed port: each binds it with SO_REUSEPORT")
    configure(settings.log_level)
    if config_file is not None:
        os.environ[CONFIG_FILE_ENV] = str(config_file.resolve())
    # Workers write their metrics to files in one folder; /metrics of any worker sums them.
    with tempfile.TemporaryDirectory(prefix="rankfeed-gateway-metrics-") as metrics_dir:
        os.environ.setdefault(MULTIPROCESS_ENV, metrics_dir)
        _supervise(settings)


def _supervise(settings: GatewaySettings) -> None:
    """Start the workers, restart one that dies, stop them all on SIGINT or SIGTERM."""
    context = multiprocessing.get_context("spawn")
    listen = {"host": settings.host, "port": settings.port}
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}

    def start(number: int) -> BaseProcess:
        process = context.Process(target=_worker, args=(listen,), name=f"rankfeed-gateway-{number}")
        process.start()
        return process

    workers = [start(number) for number in range(settings.workers)]
    log.info("gateway workers started", extra={"workers": settings.workers, **listen})
    try:
        while not stopping:
            time.sleep(0.2)
            for number, process in enumerate(workers):
                if not process.is_alive() and not stopping:
                    log.error("worker died; restarting it", extra={"worker": number, "exitcode": process.exitcode})
                    workers[number] = start(number)
    finally:
        for process in workers:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        for process in workers:
            process.join(settings.request_deadline_seconds + 5)
            if process.is_alive():
                process.kill()
                process.join()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _worker(listen: dict[str, Any]) -> None:
    """One worker process: its own settings, producer and SO_REUSEPORT listening socket."""
    from rankfeed.gateway.app import create_app

    app = create_app(listen)
    settings = app.settings
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    listener.bind((settings.host, settings.port))
    server = uvicorn.Server(uvicorn.Config(app, **uvicorn_options(settings)))
    server.run(sockets=[listener])
