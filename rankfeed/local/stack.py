"""`rankfeed local up|down|status`: the broker and the cluster together, with prerequisite checks."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field

from rankfeed.local.broker import Broker
from rankfeed.local.flink_cluster import FlinkCluster
from rankfeed.local.gateway_process import GatewayProcess
from rankfeed.local.procs import StackError, port_open
from rankfeed.local.site_process import SiteProcess
from rankfeed.settings import REPO_ROOT, StackSettings

MIN_JAVA = 17


def check_java() -> None:
    """Fail with one sentence when Java 17+ is missing: Kafka 4.x and Flink 2.x both need it."""
    if shutil.which("java") is None:
        raise StackError("Java is not installed: install OpenJDK 17 (e.g. `apt-get install openjdk-17-jdk-headless`)")
    result = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)', result.stderr + result.stdout)
    major = int(match.group(1)) if match else 0
    if major < MIN_JAVA:
        raise StackError(f"Java {MIN_JAVA} or newer is needed (found {major or 'unknown'}): install OpenJDK 17")


def ensure_jars(settings: StackSettings) -> None:
    """Resolve the broker and connector jars through Maven when they are not there yet."""
    wanted = {
        settings.jars_dir / "kafka": REPO_ROOT / "connectors" / "kafka" / "pom.xml",
        settings.jars_dir / "flink": REPO_ROOT / "connectors" / "pom.xml",
        settings.jars_dir / "plugins": REPO_ROOT / "connectors" / "pom.xml",
        settings.jars_dir / "job": REPO_ROOT / "connectors" / "functions" / "pom.xml",
    }
    for folder, pom in wanted.items():
        if folder.is_dir() and any(folder.rglob("*.jar")):
            continue
        if shutil.which("mvn") is None:
            raise StackError("Maven is not installed: install it (e.g. `apt-get install maven`) to resolve the jars")
        result = subprocess.run(["mvn", "-q", "-B", "-f", str(pom), "package"], capture_output=True, text=True)
        if result.returncode != 0:
            raise StackError(f"Maven could not resolve {pom.relative_to(REPO_ROOT)}:\n{result.stdout[-3000:]}")


def check_ports(settings: StackSettings, broker_running: bool, flink_running: bool) -> None:
    """Fail with one sentence when a port the stack needs is held by something else."""
    wanted = []
    if not broker_running:
        wanted += [
            ("Kafka", settings.kafka_port, "RANKFEED_KAFKA_PORT"),
            ("the Kafka controller", settings.kafka_controller_port, "RANKFEED_KAFKA_CONTROLLER_PORT"),
        ]
    if not flink_running:
        wanted += [
            ("the Flink web UI", settings.flink_rest_port, "RANKFEED_FLINK_REST_PORT"),
            ("the Flink JobManager", settings.flink_rpc_port, "RANKFEED_FLINK_RPC_PORT"),
        ]
    for what, port, variable in wanted:
        if port_open(port):
            raise StackError(f"port {port}, needed for {what}, is taken by another process: stop it or set {variable}")


@dataclass(frozen=True)
class Stack:
    settings: StackSettings = field(default_factory=StackSettings)

    @property
    def broker(self) -> Broker:
        return Broker(self.settings)

    @property
    def flink(self) -> FlinkCluster:
        return FlinkCluster(self.settings)

    @property
    def gateway(self) -> GatewayProcess:
        return GatewayProcess(self.settings)

    @property
    def site(self) -> SiteProcess:
        return SiteProcess(self.settings)

    def preflight(self) -> None:
        """Everything `up` needs, checked up front so a missing piece is one clear sentence."""
        check_java()
        if shutil.which("mvn") is None and not all(
            any((self.settings.jars_dir / name).rglob("*.jar")) for name in ("kafka", "flink", "plugins", "job")
        ):
            raise StackError("Maven is not installed: install it (e.g. `apt-get install maven`) to resolve the jars")
        check_ports(self.settings, self.broker.running(), self.flink.running())
        for service in (self.gateway, self.site):
            if service.pid() is None and port_open(service.port):
                raise StackError(
                    f"port {service.port}, needed for the {service.name}, is taken by another process: "
                    f"stop it or set {service.port_variable}"
                )

    def up(self) -> list[str]:
        """Start what is not running and create missing topics; return the topics created."""
        check_java()
        ensure_jars(self.settings)
        self.broker.start()
        created = self.broker.create_topics()
        self.flink.start()
        self.gateway.start()
        self.site.start()
        return created

    def down(self) -> None:
        """Stop both, even if one of them is already gone; stale pid files are removed."""
        errors = []
        for stop in (self.site.stop, self.gateway.stop, self.flink.stop, self.broker.stop):
            try:
                stop()
            except StackError as error:
                errors.append(str(error))
        if errors:
            raise StackError("; ".join(errors))

    def status(self) -> dict[str, str]:
        broker_pid = self.broker.pid()
        broker = f"running (pid {broker_pid}) on {self.settings.bootstrap_servers}" if broker_pid else "stopped"
        overview = self.flink.overview()
        if overview is None:
            flink = "stopped"
        else:
            flink = (
                f"running, web UI {self.settings.flink_url} — {overview.get('taskmanagers', 0)} TaskManager(s), "
                f"{overview.get('slots-available', 0)}/{overview.get('slots-total', 0)} slots free, "
                f"{overview.get('jobs-running', 0)} job(s) running; Prometheus metrics at /metrics on ports "
                f"{self.settings.flink_metrics_ports.start}-{self.settings.flink_metrics_ports.stop - 1}"
            )
        gateway_pid = self.gateway.pid()
        gateway = f"running (pid {gateway_pid}) on {self.gateway.url}" if gateway_pid else "stopped"
        site_pid = self.site.pid()
        site = f"running (pid {site_pid}): the demo page is {self.site.url}/" if site_pid else "stopped"
        return {
            "kafka": broker,
            "gateway": gateway,
            "site": site,
            "flink": flink,
            "logs": f"{self.broker.log_dir} and {self.flink.log_dir}",
        }
