"""``deploy/kubernetes``: kustomize builds the base and the local overlay, every resource validates against
the Kubernetes API's schemas (``kubernetes-validate``, strict) or the operators' CRD schemas vendored in
``deploy/kubernetes/schemas``, and the resources say what the project does (topics, jobs, probes, keys)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from rankfeed import kubernetes
from rankfeed.gateway.settings import GatewaySettings
from rankfeed.settings import REPO_ROOT, Topics

#: The Kubernetes version the built-in resources are validated against (Debian's kubectl is 1.32).
KUBERNETES_VERSION = "1.32.0"
BASE = kubernetes.DEPLOY_DIR / "base"
LOCAL = kubernetes.DEPLOY_DIR / "overlays" / "local"
Manifest = dict[str, Any]


#: Where .ci/run builds the standalone kustomize when kubectl does not embed kustomize v5.
STANDALONE_KUSTOMIZE = REPO_ROOT / "build" / "tools" / "kustomize"


@cache
def kustomize() -> list[str]:
    """``kubectl kustomize`` when kubectl embeds kustomize v5 (kubectl 1.27+), else ``kustomize build``."""
    kubectl = shutil.which("kubectl")
    if kubectl is not None:
        version = subprocess.run([kubectl, "version", "--client"], capture_output=True, text=True, check=False)
        if "Kustomize Version: v5" in version.stdout:
            return [kubectl, "kustomize"]
    standalone = shutil.which("kustomize") or (str(STANDALONE_KUSTOMIZE) if STANDALONE_KUSTOMIZE.exists() else None)
    if standalone is None:
        pytest.fail(
            "deploy/kubernetes needs kustomize v5: kubectl 1.27+ (`kubectl kustomize`), or "
            "`GOBIN=$PWD/build/tools go install sigs.k8s.io/kustomize/kustomize/v5@v5.5.0` (what .ci/run does)"
        )
    return [standalone, "build"]


@cache
def build(folder: Path) -> tuple[Manifest, ...]:
    result = subprocess.run([*kustomize(), str(folder)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return tuple(document for document in yaml.safe_load_all(result.stdout) if document)


def of_kind(manifests: tuple[Manifest, ...], kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def validate(manifest: Manifest) -> None:
    """Against the vendored CRD schema of a custom resource, else the Kubernetes API's (strict: no unknown field)."""
    crd_schema = kubernetes.schema_for(manifest)
    if crd_schema.exists():
        jsonschema.Draft4Validator(json.loads(crd_schema.read_text())).validate(manifest)
    else:  # a kind it does not know raises SchemaNotFoundError
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("folder", [BASE, LOCAL], ids=["base", "local"])
def test_every_resource_validates(folder: Path) -> None:
    manifests = build(folder)
    kinds = {m["kind"] for m in manifests}
    assert {"Kafka", "KafkaNodePool", "KafkaTopic", "FlinkDeployment", "Deployment", "HorizontalPodAutoscaler"} <= kinds
    for manifest in manifests:
        validate(manifest)


def test_a_misspelt_field_of_a_custom_resource_fails_validation() -> None:
    job = dict(of_kind(build(BASE), "FlinkDeployment")["rankfeed-labelling"])
    job["spec"] = {**job["spec"], "job": {**job["spec"]["job"], "upgradeMod": "savepoint"}}
    with pytest.raises(jsonschema.ValidationError, match="upgradeMod"):
        validate(job)


def test_the_committed_topics_are_the_generators_output() -> None:
    assert kubernetes.TOPICS_FILE.read_text() == kubernetes.topics_manifest(), (
        "deploy/kubernetes/base/kafka/topics.yaml is stale: run `rankfeed kubernetes topics`"
    )


@pytest.mark.parametrize(("folder", "replicas", "min_insync"), [(BASE, 3, 2), (LOCAL, 1, 1)], ids=["base", "local"])
def test_every_topic_of_the_settings_is_a_kafka_topic(folder: Path, replicas: int, min_insync: int) -> None:
    topics = of_kind(build(folder), "KafkaTopic")
    specs = Topics().specs()
    assert set(topics) == set(specs)
    for name, spec in specs.items():
        topic = topics[name]["spec"]
        assert (topic["topicName"], topic["partitions"], topic["replicas"]) == (name, spec.partitions, replicas)
        assert topic["config"]["cleanup.policy"] == spec.cleanup_policy
        assert topic["config"]["min.insync.replicas"] == min_insync
        assert topic["config"].get("retention.ms") == spec.retention_ms


def flink_version() -> str:
    match = re.search(r"<flink.version>([^<]+)</flink.version>", (REPO_ROOT / "connectors" / "pom.xml").read_text())
    assert match is not None
    return match.group(1)


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = str(value)
    return flat


def container_env(manifest: Manifest) -> dict[str, Any]:
    spec = manifest["spec"]["podTemplate"]["spec"] if "podTemplate" in manifest["spec"] else manifest["spec"]
    [container] = spec["template"]["spec"]["containers"] if "template" in spec else spec["containers"]
    return {variable["name"]: variable.get("value", variable.get("valueFrom")) for variable in container["env"]}


@pytest.mark.parametrize("folder", [BASE, LOCAL], ids=["base", "local"])
def test_each_job_is_an_application_on_s3_upgraded_through_savepoints(folder: Path) -> None:
    jobs = of_kind(build(folder), "FlinkDeployment")
    assert set(jobs) == {"rankfeed-labelling", "rankfeed-features", "rankfeed-lake"}
    version = flink_version()
    major_minor = "v" + "_".join(version.split(".")[:2])
    for name, job in jobs.items():
        spec, config = job["spec"], job["spec"]["flinkConfiguration"]
        script = name.removeprefix("rankfeed-")
        # Application mode: the operator runs the job's own cluster; the script is in the image.
        assert "mode" not in spec or spec["mode"] == "native"
        assert spec["job"]["args"] == ["-py", f"/opt/rankfeed/jobs/{script}.py"]
        assert (REPO_ROOT / "jobs" / f"{script}.py").exists()
        assert spec["job"]["jarURI"] == f"local:///opt/flink/opt/flink-python-{version}.jar"
        assert spec["flinkVersion"] == major_minor
        assert spec["image"].startswith("rankfeed-flink:")
        assert spec["job"]["upgradeMode"] == "savepoint"
        assert config["high-availability.type"] == "kubernetes"
        assert config["execution.checkpointing.dir"] == f"s3://rankfeed/flink/checkpoints/{script}"
        assert config["execution.checkpointing.savepoint-dir"] == f"s3://rankfeed/flink/savepoints/{script}"
        assert config["high-availability.storageDir"] == f"s3://rankfeed/flink/ha/{script}"
        env = container_env(job)
        assert env["ENABLE_BUILT_IN_PLUGINS"] == f"flink-s3-fs-hadoop-{version}.jar"
        parallelism = env.get("RANKFEED_LAKE_PARALLELISM" if script == "lake" else "RANKFEED_PARALLELISM")
        assert parallelism == str(spec["job"]["parallelism"]), "the job sets its parallelism from the setting"


def test_the_jobs_carry_the_cluster_settings_of_flink_conf() -> None:
    """What flink-conf.yaml holds for any cluster (reporter, Avro limits, restarts, checkpoint retention)."""
    repo = flatten(yaml.safe_load((REPO_ROOT / "flink-conf.yaml").read_text()))
    shared = [key for key in repo if key.startswith(("metrics.reporter.", "restart-strategy.", "env.java.opts."))]
    shared += ["execution.checkpointing.mode", "execution.checkpointing.externalized-checkpoint-retention"]
    for job in of_kind(build(BASE), "FlinkDeployment").values():
        config = job["spec"]["flinkConfiguration"]
        for key in shared:
            if key == "metrics.reporter.prom.port":  # a range locally, one port per pod here
                assert config[key] == job["spec"]["podTemplate"]["metadata"]["annotations"]["prometheus.io/port"]
            else:
                assert config[key].split() == repo[key].split(), key


@pytest.mark.parametrize("folder", [BASE, LOCAL], ids=["base", "local"])
def test_the_services_are_probed_scaled_protected_and_scraped(folder: Path) -> None:
    from rankfeed.gateway.app import _ROUTES as GATEWAY_ROUTES
    from rankfeed.rerank.app import _METHODS as RERANK_ROUTES

    manifests = build(folder)
    deployments = of_kind(manifests, "Deployment")
    uid = re.search(r"--uid (\d+)", (REPO_ROOT / "docker" / "gateway.Dockerfile").read_text())
    assert uid is not None
    autoscalers, budgets = of_kind(manifests, "HorizontalPodAutoscaler"), of_kind(manifests, "PodDisruptionBudget")
    for name, routes in (("rankfeed-gateway", GATEWAY_ROUTES), ("rankfeed-rerank", RERANK_ROUTES)):
        template = deployments[name]["spec"]["template"]
        [container] = template["spec"]["containers"]
        [port] = container["ports"]
        # The image's user, by uid: the kubelet can check runAsNonRoot against a numeric user only.
        assert template["spec"]["securityContext"] == {"runAsNonRoot": True, "runAsUser": int(uid.group(1))}
        assert container["args"][-2:] == ["--port", str(port["containerPort"])]
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
        assert {"/readyz", "/healthz"} <= set(routes)
        target = autoscalers[name]["spec"]["scaleTargetRef"]
        assert target == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert budgets[name]["spec"]["selector"]["matchLabels"].items() <= template["metadata"]["labels"].items()
        annotations = template["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/path"] in routes
        assert annotations["prometheus.io/port"] == str(port["containerPort"])


def secret_refs(manifests: tuple[Manifest, ...]) -> set[tuple[str, str]]:
    """(Secret, key) of every secretKeyRef in ``manifests``."""
    found: set[tuple[str, str]] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "secretKeyRef" in node:
                found.add((node["secretKeyRef"]["name"], node["secretKeyRef"]["key"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(list(manifests))
    return found


def test_keys_come_from_secrets_the_base_does_not_hold() -> None:
    base = build(BASE)
    assert not of_kind(base, "Secret")
    assert {("rankfeed-gateway", "api-keys"), ("rankfeed-s3", "secret-access-key")} <= secret_refs(base)


def test_the_local_overlay_provides_every_secret_key_and_the_gateway_accepts_its_keys() -> None:
    import base64

    local = build(LOCAL)
    secrets = {
        name: {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}
        for name, secret in of_kind(local, "Secret").items()
    }
    for name, key in secret_refs(local):
        assert key in secrets.get(name, {}), f"{name}/{key} is referenced but not in the overlay's Secrets"
    gateway = secrets["rankfeed-gateway"]
    GatewaySettings(
        api_keys=json.loads(gateway["api-keys"]),
        publishable_keys=json.loads(gateway["publishable-keys"]),
        user_id_hmac_key=gateway["user-id-hmac-key"],
    )


def test_the_topics_command_writes_the_generators_output(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from rankfeed.cli import app

    out = tmp_path / "topics.yaml"
    result = CliRunner().invoke(app, ["kubernetes", "topics", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text() == kubernetes.topics_manifest()


def test_a_crd_becomes_a_closed_schema_without_descriptions_or_status(tmp_path: Path) -> None:
    field = {"type": "string", "description": "a field called description"}
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "spec": {
            "group": "example.io",
            "names": {"kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {"type": "object", "description": "d", "properties": {"description": field}},
                                "free": {
                                    "type": "object",
                                    "x-kubernetes-preserve-unknown-fields": True,
                                    "properties": {},
                                },
                                "status": {"type": "object"},
                            },
                        }
                    },
                },
                {"name": "v0", "served": False, "schema": {"openAPIV3Schema": {"type": "object"}}},
            ],
        },
    }
    crd_file = tmp_path / "crd.yaml"
    crd_file.write_text(yaml.safe_dump(crd))

    [written] = kubernetes.write_crd_schemas(crd_file, "a test", out=tmp_path)
    schema = json.loads(written.read_text())

    assert written.name == "widget-example-v1.json"
    assert kubernetes.schema_for({"apiVersion": "example.io/v1", "kind": "Widget"}, tmp_path) == written
    assert "status" not in schema["properties"] and "description" not in schema["properties"]["spec"]
    assert schema["properties"]["spec"]["properties"]["description"] == {"type": "string"}
    assert schema["properties"]["spec"]["additionalProperties"] is False
    assert "additionalProperties" not in schema["properties"]["free"]
    jsonschema.Draft4Validator(schema).validate({"apiVersion": "example.io/v1", "kind": "Widget", "free": {"x": 1}})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(schema).validate({"spec": {"descripton": "typo"}})
