"""Running the re-ranker under uvicorn (uvloop + httptools), one process.

One process is the unit: it holds all features in memory and scores on its event loop. To use
more cores, run more processes (each follows the topic on its own) behind a load balancer that
sends traffic only to instances whose ``/readyz`` answers 200.
"""

from __future__ import annotations

import logging.config
from typing import Any

import uvicorn

from rankfeed import asgi
from rankfeed.rerank.settings import RerankSettings


def log_config(level: str) -> dict[str, Any]:
    """Plain stderr logging for rankfeed and uvicorn; no access log (it would cost more than the scoring)."""
    handler = {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "handlers": {"stderr": handler},
        "loggers": {
            "rankfeed": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


def uvicorn_options(settings: RerankSettings) -> dict[str, Any]:
    """Server options shared by the CLI, the tests and the benchmark."""
    return asgi.uvicorn_options(
        settings.host, settings.port, log_config(settings.log_level), timeout_graceful_shutdown=5
    )


def serve(settings: RerankSettings) -> None:
    """Serve until SIGINT or SIGTERM."""
    from rankfeed.rerank.app import RerankApp

    logging.config.dictConfig(log_config(settings.log_level))
    uvicorn.run(RerankApp(settings), **uvicorn_options(settings))
