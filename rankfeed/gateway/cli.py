"""``rankfeed gateway``: kept free of heavy imports so that every other rankfeed command starts fast."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def gateway(
    host: Annotated[str | None, typer.Option(help="address to listen on (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default 8000)")] = None,
    workers: Annotated[int | None, typer.Option(help="worker processes, one producer each (default 1)")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="YAML file of GatewaySettings values")] = None,
) -> None:
    """Run the HTTP ingestion gateway: POST /v1/actions and /v1/actions/batch → validated, enriched Avro → Kafka.

    Settings come from --config and RANKFEED_* variables (write keys: RANKFEED_API_KEYS);
    the options given here win over both.
    """
    from rankfeed.gateway.server import serve
    from rankfeed.gateway.settings import GatewaySettings
    from rankfeed.settings import load_settings

    settings = load_settings(GatewaySettings, config)
    if workers is not None and workers < 1:
        raise typer.BadParameter("--workers must be at least 1")
    given = {name: value for name, value in (("host", host), ("port", port), ("workers", workers)) if value is not None}
    if not settings.api_keys:
        typer.echo("warning: no api_keys configured; every write will be refused with 401", err=True)
    serve(settings.model_copy(update=given), config)


if __name__ == "__main__":
    # `python -m rankfeed.gateway.cli` runs the command without the rankfeed CLI (used by bench/gateway.py).
    typer.run(gateway)
