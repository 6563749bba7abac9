"""The alert rules and the Grafana dashboard (``deploy/kubernetes/base/monitoring``)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import yaml

from rankfeed.gateway.metrics import GatewayMetrics
from rankfeed.rerank.features import FeatureStore
from rankfeed.rerank.metrics import RerankMetrics
from rankfeed.settings import REPO_ROOT, KafkaSettings, Topics

MONITORING = REPO_ROOT / "deploy" / "kubernetes" / "base" / "monitoring"
ALERTS = MONITORING / "alerts.yaml"
DASHBOARD = MONITORING / "dashboard.json"
_METRIC = re.compile(r"\b(?:flink|rankfeed)_[A-Za-z0-9_]+\b")


def expressions() -> list[str]:
    """Every PromQL expression of the alert rules and the dashboard's panels."""
    rules = yaml.safe_load(ALERTS.read_text())
    found = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads(DASHBOARD.read_text())
    found += [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    return found


def referenced_metrics() -> set[str]:
    """The metric names the rules and the dashboard query."""
    return {name for expr in expressions() for name in _METRIC.findall(expr)}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("promtool") is None:
        pytest.fail("promtool is needed to check the alert rules: install Debian's prometheus package")
    return subprocess.run(["promtool", *args], cwd=MONITORING, capture_output=True, text=True, check=False)


def test_promtool_accepts_the_alert_rules() -> None:
    result = promtool("check", "rules", ALERTS.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_each_alert_fires_on_its_fault_and_not_on_healthy_series() -> None:
    result = promtool("test", "rules", "alerts.test.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_rules_cover_lag_checkpoints_dead_letters_lateness_and_gateway_503s() -> None:
    rules = [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]
    assert {rule["alert"] for rule in rules} == {
        "RankfeedConsumerLagGrowing",
        "RankfeedCheckpointsFailing",
        "RankfeedCheckpointsStalled",
        "RankfeedDeadLetterRateHigh",
        "RankfeedLateRateHigh",
        "RankfeedGatewayUnavailable",
    }
    assert all(rule["labels"]["severity"] in {"warning", "critical"} for rule in rules)
    assert all(rule["annotations"]["summary"] for rule in rules)


def test_the_dashboard_is_grafana_json_with_a_query_in_every_panel() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = dashboard["panels"]
    assert dashboard["uid"] and dashboard["title"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    assert all(panel["targets"] and all(target["expr"] for target in panel["targets"]) for panel in panels)


def service_sample_names() -> set[str]:
    """The sample names the gateway's and the re-ranker's ``/metrics`` can show: each family's name with
    its type's suffixes."""
    suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created")}
    store = FeatureStore(KafkaSettings(), Topics().hotel_features)
    names = set()
    for registry in (GatewayMetrics().registry, RerankMetrics(store).registry):
        for family in registry.collect():
            names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
    return names


def test_the_rules_and_the_dashboard_name_only_service_metrics_that_exist() -> None:
    """The Flink names are checked against a live scrape (``tests/local/test_metrics.py``)."""
    wanted = {name for name in referenced_metrics() if name.startswith("rankfeed_")}
    assert {"rankfeed_gateway_requests_total", "rankfeed_rerank_requests_total"} <= wanted
    assert wanted - service_sample_names() == set()
