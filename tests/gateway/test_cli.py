"""``rankfeed gateway`` as an operator runs it: separate worker processes, one port, summed metrics."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

from rankfeed.settings import Topics
from tests.gateway.conftest import SERVER_KEY, now_ms


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_two_workers_share_a_port_and_report_one_set_of_metrics(
    bootstrap_servers: str, topics: Topics, tmp_path: Path
) -> None:
    port = free_port()
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump({"topics": {"user_actions": topics.user_actions}, "access_log": False}))
    env = {
        **os.environ,
        "RANKFEED_API_KEYS": json.dumps([{"name": "server", "key": SERVER_KEY}]),
        "RANKFEED_KAFKA__BOOTSTRAP_SERVERS": bootstrap_servers,
    }
    command = [
        sys.executable,
        "-m",
        "rankfeed.gateway.cli",
        "--port",
        str(port),
        "--workers",
        "2",
        "--config",
        str(config),
    ]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-Api-Key": SERVER_KEY}) as client:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            event = {"user_id": "U1", "session_id": "S1", "action_type": "back", "hotel_id": "H1"}
            answered = 0
            # New connections, so that the kernel spreads them over both workers.
            for _ in range(40):
                with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-Api-Key": SERVER_KEY}) as fresh:
                    response = fresh.post("/v1/actions", json={**event, "timestamp": now_ms()})
                    assert response.status_code == 202, response.text
                    answered += 1
            time.sleep(1.5)  # workers update their in-flight gauge once a second
            metrics = client.get("/metrics").text.splitlines()
        # 40 connections spread by SO_REUSEPORT reach both workers (all on one: odds 2**-39), so a total
        # of 40 proves /metrics sums the workers' samples rather than showing the one that answered.
        assert f"rankfeed_gateway_events_accepted_total {float(answered)}" in metrics
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output.decode()[-2000:]
    lines = [json.loads(line) for line in output.decode().splitlines() if line.startswith("{")]
    assert any(line["msg"] == "gateway workers started" and line["workers"] == 2 for line in lines)
    assert len({line["msg"] for line in lines if line["msg"].startswith("Started server process")}) == 2


def test_the_command_documents_its_options() -> None:
    import typer
    from typer.testing import CliRunner

    from rankfeed.gateway.cli import gateway

    app = typer.Typer()
    app.command("gateway")(gateway)
    app.command("other")(lambda: None)  # two commands, as in the rankfeed CLI
    result = CliRunner().invoke(app, ["gateway", "--help"], terminal_width=120)
    assert result.exit_code == 0, result.output
    for option in ("--host", "--port", "--workers", "--config"):
        assert option in result.output
    assert "(default 8000)" in result.output
