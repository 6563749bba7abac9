"""``rankfeed site``: kept free of heavy imports so that every other rankfeed command starts fast."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def site(
    host: Annotated[str | None, typer.Option(help="address to listen on (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default 8002)")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="YAML file of SiteSettings values")] = None,
) -> None:
    """Serve the demo hotel-search site, whose pages send their events with the browser tracker.

    Settings come from --config and RANKFEED_* variables (RANKFEED_GATEWAY_URL, RANKFEED_WRITE_KEY,
    RANKFEED_RERANK_URL); the options given here win over both.
    """
    import uvicorn

    from rankfeed import asgi
    from rankfeed.settings import load_settings
    from rankfeed.site.app import Site
    from rankfeed.site.settings import SiteSettings

    settings = load_settings(SiteSettings, config)
    given = {name: value for name, value in (("host", host), ("port", port)) if value is not None}
    settings = settings.model_copy(update=given)
    typer.echo(f"demo site on http://{settings.host}:{settings.port}/ sending to {settings.gateway_url}")
    uvicorn.run(Site(settings), **asgi.uvicorn_options(settings.host, settings.port, log_config=_LOG_CONFIG))


#: uvicorn's own messages only, at warning level: the site is a demo, not a service to observe.
_LOG_CONFIG = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}


if __name__ == "__main__":
    # `python -m rankfeed.site.cli` runs the command without the rankfeed CLI (the local stack starts it so).
    typer.run(site)
