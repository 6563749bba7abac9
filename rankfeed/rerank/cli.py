"""``rankfeed rerank``: kept free of heavy imports so that every other rankfeed command starts fast."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def rerank(
    host: Annotated[str | None, typer.Option(help="address to listen on (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default 8001)")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="YAML file of RerankSettings values")] = None,
    model: Annotated[
        Path | None, typer.Option("--model", help="a model folder from `rankfeed train`: rank by its score")
    ] = None,
    interleave_candidate: Annotated[
        Path | None,
        typer.Option(
            "--interleave-candidate",
            help="a candidate model folder: answer with a team-draft interleaving of the control "
            "(--model, else the given order) and this model",
        ),
    ] = None,
    experiment: Annotated[str | None, typer.Option(help="the interleaving experiment's name")] = None,
) -> None:
    """Run the re-rank endpoint: POST /v1/rerank orders hotel ids by the given order and live, debiased engagement.

    Features come from the compacted hotel-features topic, read from its start and followed live.
    Settings come from --config and RANKFEED_* variables; the options given here win over both.
    """
    from rankfeed.rerank.server import serve
    from rankfeed.rerank.settings import RerankSettings
    from rankfeed.settings import load_settings

    settings = load_settings(RerankSettings, config)
    options = {
        "host": host,
        "port": port,
        "model": model,
        "interleave_candidate": interleave_candidate,
        "experiment": experiment,
    }
    given = {name: value for name, value in options.items() if value is not None}
    serve(settings.model_copy(update=given))


if __name__ == "__main__":
    # `python -m rankfeed.rerank.cli` runs the command without the rankfeed CLI (used by bench/rerank.py).
    typer.run(rerank)
