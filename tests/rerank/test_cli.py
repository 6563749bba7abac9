"""``rankfeed rerank``: the typer command and the process it starts, with settings from --config and options."""

from __future__ import annotations

import math
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import typer
import yaml
from typer.testing import CliRunner

from rankfeed.rerank.cli import rerank
from rankfeed.settings import Topics
from tests.rerank.conftest import FeaturePublisher, features_record


def test_the_command_registers_with_typer_and_documents_its_options() -> None:
    app = typer.Typer()
    app.command("rerank")(rerank)
    app.command("other")(lambda: None)  # with two commands typer dispatches by name, as in rankfeed's CLI

    result = CliRunner().invoke(app, ["rerank", "--help"], env={"COLUMNS": "200"})

    assert result.exit_code == 0, result.output
    for option in ("--host", "--port", "--config"):
        assert option in result.output


def test_the_service_runs_with_the_config_file_and_the_port_option(
    topics: Topics, publisher: FeaturePublisher, bootstrap_servers: str, tmp_path: Path
) -> None:
    publisher.publish(features_record("popular", examined_impressions=1000, clicks=500))
    config = tmp_path / "rerank.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "kafka": {"bootstrap_servers": bootstrap_servers},
                "topics": {"hotel_features": topics.hotel_features},
                "blend_weight": 0.0,  # keep the given order: proves the file was read
                "log_level": "WARNING",
            }
        )
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "rankfeed.rerank.cli", "--config", str(config), "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    response = None
    try:
        deadline = time.monotonic() + 30
        while process.poll() is None and time.monotonic() < deadline:
            try:
                if httpx.get(f"{base_url}/readyz").status_code == 200:
                    response = httpx.post(f"{base_url}/v1/rerank", json={"hotel_ids": ["plain", "popular"]})
                    break
            except httpx.TransportError:
                pass  # not listening yet
            time.sleep(0.1)
    finally:
        process.terminate()
        output = process.communicate(timeout=15)[0].decode()

    assert response is not None, f"the service never became ready:\n{output}"
    assert response.json()["ranking"] == [
        {"hotel_id": "plain", "score": 1.0, "known": False},
        {"hotel_id": "popular", "score": 1 / math.log2(3), "known": True},
    ]
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal as its exit status.
    assert process.returncode in (0, -signal.SIGTERM)
    assert "Traceback" not in output
