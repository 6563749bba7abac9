"""Checks of docker/ that need no Docker engine.

`docker compose config` is the authoritative check of the compose file, but the compose plugin
is missing on most machines that run these tests, so the structural checks below run always.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
DOCKER_DIR = REPO / "docker"
COMPOSE_FILE = DOCKER_DIR / "docker-compose.yml"
DOCKERFILES = sorted(DOCKER_DIR.glob("*.Dockerfile"))
POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


def _pom_property(pom: Path, name: str) -> str:
    value = ET.parse(pom).getroot().findtext(f"m:properties/m:{name}", namespaces=POM_NS)
    assert value, f"{pom} has no <{name}> property"
    return value.strip()


def _services() -> dict[str, dict[str, Any]]:
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(compose, dict)
    services = compose.get("services")
    assert isinstance(services, dict)
    return services


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def _named_volumes(service: dict[str, Any]) -> dict[str, str]:
    """Mount target of each named volume of a service, by volume name."""
    mounts = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source, _, rest = volume.partition(":")
            # Path-like sources are bind mounts; no source at all is an anonymous volume.
            if rest and not source.startswith((".", "/", "~", "$")):
                mounts[source] = rest.split(":", 1)[0]
        elif volume.get("type", "volume") == "volume" and volume.get("source"):
            mounts[volume["source"]] = volume["target"]
    return mounts


def _published_host_ports(service: dict[str, Any]) -> set[str]:
    ports = set()
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            if port.get("published") is not None:
                ports.add(str(port["published"]))
            continue
        parts = str(port).split("/", 1)[0].split(":")
        if len(parts) >= 2:  # a bare "8081" publishes on a random host port
            ports.add(parts[-2])
    return ports


def _from_images(dockerfile: Path) -> list[str]:
    """Images named by FROM lines, leaving out references to earlier build stages."""
    images: list[str] = []
    stages: set[str] = set()
    for line in dockerfile.read_text().splitlines():
        match = re.match(r"\s*FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", line, re.IGNORECASE)
        if match:
            image, stage = match.groups()
            if image.lower() not in stages:
                images.append(image)
            if stage:
                stages.add(stage.lower())
    return images


def _compose_cli_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=60).returncode == 0


def test_docker_compose_config() -> None:
    if not _compose_cli_available():
        pytest.skip("`docker compose` is not installed; the structural tests in this file check the compose file")
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE_FILE), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr


def test_compose_has_the_services() -> None:
    assert {"kafka", "jobmanager", "taskmanager", "gateway"} <= _services().keys()


def test_kafka_init_creates_every_topic_of_the_settings() -> None:
    from rankfeed.settings import Topics

    script = "\n".join(str(part) for part in _services()["kafka-init"]["command"])
    created = {line.split()[1] for line in script.splitlines() if line.strip().startswith("create ")}
    assert created == set(Topics().specs())


def test_compose_build_dockerfiles_exist() -> None:
    dockerfiles = {}
    for name, service in _services().items():
        build = service.get("build")
        if build is None:
            continue
        if isinstance(build, str):
            build = {"context": build}
        # Compose resolves the context against the compose file, the Dockerfile against the context.
        context = (COMPOSE_FILE.parent / build.get("context", ".")).resolve()
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        assert dockerfile.is_file(), f"{name}: {dockerfile} does not exist"
        dockerfiles[name] = dockerfile
    flink = DOCKER_DIR / "flink.Dockerfile"
    assert dockerfiles.get("jobmanager") == dockerfiles.get("taskmanager") == flink
    assert dockerfiles.get("gateway") == DOCKER_DIR / "gateway.Dockerfile"


def test_taskmanager_can_be_scaled() -> None:
    taskmanager = _services()["taskmanager"]
    # Both would clash between the copies that `--scale taskmanager=N` starts.
    assert "container_name" not in taskmanager
    assert not _published_host_ports(taskmanager)


def test_named_volumes_are_declared() -> None:
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    declared = set(compose.get("volumes") or {})
    for name, service in _services().items():
        missing = _named_volumes(service).keys() - declared
        assert not missing, f"{name} uses undeclared volumes {sorted(missing)}"


def test_web_ui_and_gateway_ports_are_published() -> None:
    services = _services()
    assert "8081" in _published_host_ports(services["jobmanager"])
    assert "8000" in _published_host_ports(services["gateway"])


def test_flink_properties_parse() -> None:
    checked = 0
    for name, service in _services().items():
        properties = _environment(service).get("FLINK_PROPERTIES")
        if properties is None:
            continue
        config = yaml.safe_load(properties)
        assert isinstance(config, dict), f"{name}: FLINK_PROPERTIES is not a YAML mapping"
        # The image's entrypoint reads FLINK_PROPERTIES line by line as `key: value`.
        nested = [key for key, value in config.items() if isinstance(value, (dict, list))]
        assert not nested, f"{name}: nested FLINK_PROPERTIES keys {nested}"
        assert config.get("jobmanager.rpc.address") == "jobmanager"
        # Checkpoints must land on storage that every Flink node mounts.
        checkpoint_dir = str(config.get("execution.checkpointing.dir", ""))
        assert checkpoint_dir.startswith("file://"), f"{name}: no file:// checkpoint dir"
        mounts = _named_volumes(service).values()
        assert any(checkpoint_dir.removeprefix("file://").startswith(target) for target in mounts), (
            f"{name}: checkpoint dir {checkpoint_dir} is not on a mounted volume"
        )
        checked += 1
    assert checked >= 2, "jobmanager and taskmanager should both set FLINK_PROPERTIES"


def test_dockerfiles_are_found() -> None:
    assert [path.name for path in DOCKERFILES] == ["flink.Dockerfile", "gateway.Dockerfile"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.name)
def test_dockerfile_base_images_are_pinned(dockerfile: Path) -> None:
    images = _from_images(dockerfile)
    assert images, f"{dockerfile.name} has no FROM line"
    for image in images:
        if "@sha256:" in image:
            continue
        # The last path segment carries the tag; earlier colons may be a registry port.
        _, _, tag = image.rsplit("/", 1)[-1].partition(":")
        assert tag and tag != "latest" and "$" not in tag, f"{dockerfile.name}: {image} is not pinned"


def test_flink_image_matches_connectors_pom() -> None:
    version = _pom_property(REPO / "connectors" / "pom.xml", "flink.version")
    dockerfile = DOCKER_DIR / "flink.Dockerfile"
    tags = [image.split(":", 1)[1] for image in _from_images(dockerfile) if image.startswith("flink:")]
    assert len(tags) == 1, f"expected one flink: base image, found {tags}"
    assert tags[0].split("-", 1)[0] == version, f"flink:{tags[0]} vs flink.version {version}"
    # PyFlink's jars must come from the same release as the cluster's.
    assert f"apache-flink=={version}" in dockerfile.read_text()


def test_one_flink_version_across_poms_and_the_python_package() -> None:
    """The connectors pom is where the Flink version is written; the job's functions are compiled
    against it and PyFlink submits them, so both must name the same release."""
    version = _pom_property(REPO / "connectors" / "pom.xml", "flink.version")
    functions = _pom_property(REPO / "connectors" / "functions" / "pom.xml", "flink.version")
    assert functions == version, f"connectors/functions/pom.xml has Flink {functions}, connectors/pom.xml {version}"
    pyproject = (REPO / "pyproject.toml").read_text()
    assert f'"apache-flink=={version}"' in pyproject, f"pyproject.toml does not pin apache-flink=={version}"


def test_kafka_image_matches_broker_pom() -> None:
    version = _pom_property(REPO / "connectors" / "kafka" / "pom.xml", "kafka.version")
    images = {service.get("image") for service in _services().values()}
    kafka_images = {image for image in images if str(image).startswith("apache/kafka:")}
    assert kafka_images == {f"apache/kafka:{version}"}
