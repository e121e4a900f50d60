"""The monitoring files under deploy/: the Prometheus rules (checked and unit-tested by promtool),
the example Prometheus configuration, and the Grafana dashboard, whose every query must be valid
PromQL over metrics the service really exports.

promtool comes from `make promtool` (into .venv/bin) or PATH; without it the promtool tests skip
and say how to get it. The metric-name checks need no promtool.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO_ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS_DIR / "rules.yml"
RULES_TEST = PROMETHEUS_DIR / "rules.test.yml"
CONFIG = PROMETHEUS_DIR / "prometheus.yml"
DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "withdraw-service.json"
DATASOURCE_UID = "${DS_PROMETHEUS}"

# What the worker (Temporal Core exporter, :9464) and the API (:8000) export, plus the recording
# rule of rules.yml and Prometheus' own `up`. A query naming anything else shows nothing.
_COUNTERS = {
    "withdraw_initiated_total",
    "withdraw_completed_total",
    "withdraw_failed_total",
    "withdraw_cancelled_total",
    "withdraw_compensated_total",
    "withdraw_otp_timeout_total",
    "withdraw_compensation_failed_total",
    "withdraw_reconciliation_mismatches_total",
    "temporal_workflow_completed_total",
    "temporal_workflow_failed_total",
    "temporal_activity_execution_failed_total",
    "temporal_local_activity_execution_failed_total",
    "temporal_activity_task_received_total",
    "temporal_request_total",
    "withdraw_http_requests_total",
}
_GAUGES = {
    "withdraw_task_queue_backlog",
    "temporal_worker_task_slots_available",
    "temporal_worker_task_slots_used",
    "temporal_num_pollers",
    "temporal_sticky_cache_size",
    "withdraw_in_flight",
    "withdraw_in_flight_oldest_seconds",
    "withdraw_operator_tasks_open",
    "withdraw_operator_task_oldest_open_seconds",
}
_HISTOGRAMS = {
    "withdraw_duration_seconds",
    "temporal_workflow_endtoend_latency",
    "temporal_workflow_task_schedule_to_start_latency",
    "temporal_workflow_task_execution_latency",
    "temporal_activity_execution_latency",
    "temporal_local_activity_execution_latency",
    "temporal_activity_schedule_to_start_latency",
    "temporal_request_latency",
    "withdraw_http_request_duration_seconds",
}
KNOWN_METRICS = frozenset(
    _COUNTERS
    | _GAUGES
    | {f"{name}{suffix}" for name in _HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")}
    | {"withdraw_avg_duration_seconds", "up"}
)

SEED_ALERTS = {
    "HighWithdrawFailureRate": "warning",
    "CompensationRequired": "critical",
    "WorkerQueueBacklog": "warning",
    "HighActivityRetryRate": "warning",
    "CompensationFailed": "critical",
}

# --- PromQL, just enough to find the metric names an expression selects ---------------------

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^}]*\}")
_LABEL_LISTS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_COMMENTS = re.compile(r"#[^\n]*")
# An identifier not glued to a number (the `m` of `5m`, the `e3` of `1e3`) or a dot; group 2 is
# set when it is called, i.e. a function or an aggregation.
_IDENTIFIERS = re.compile(r"(?<![\w.:])([A-Za-z_:][\w:]*)(\s*\()?")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "offset", "bool", "by", "without", "on", "ignoring"}
    | {"group_left", "group_right", "inf", "nan"}
)


def metric_names(expr: str) -> set[str]:
    """Names of the series an expression selects (not functions, keywords, labels or durations)."""
    text = _STRINGS.sub('""', expr)
    text = _COMMENTS.sub("", text)
    text = _MATCHERS.sub("", text)
    text = _LABEL_LISTS.sub("", text)
    return {
        name
        for name, call in _IDENTIFIERS.findall(text)
        if not call and name.lower() not in _KEYWORDS
    }


_GRAFANA_INTERVALS = re.compile(r"\$(?:__rate_interval|__interval|__range)\b|\$\{__\w+\}")
_GRAFANA_VARIABLES = re.compile(r"\$\{[^}]*\}|\$\w+|\[\[\w+\]\]")


def grafana_to_promql(expr: str) -> str:
    """What Prometheus receives once Grafana has filled in its variables."""
    return _GRAFANA_VARIABLES.sub("x", _GRAFANA_INTERVALS.sub("5m", expr))


# --- the files -------------------------------------------------------------------------------


def _load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _rules() -> list[dict[str, Any]]:
    return [rule for group in _load_yaml(RULES)["groups"] for rule in group["rules"]]


def _alerts() -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for rule in _rules() if "alert" in rule}


def _dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def _query_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    panels: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        if panel.get("type") == "row":
            panels.extend(panel.get("panels", []))  # a collapsed row holds its panels
        else:
            panels.append(panel)
    return panels


def _dashboard_targets() -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"panel {panel.get('id')} {panel.get('title')!r} target {target.get('refId')}", target)
        for panel in _query_panels(_dashboard())
        for target in panel.get("targets", [])
    ]


# --- promtool ----------------------------------------------------------------------------------


def _find_promtool() -> Path | None:
    beside = Path(sys.executable).parent / "promtool"  # .venv/bin, where `make promtool` puts it
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("promtool")
    return Path(found) if found else None


@pytest.fixture(scope="module")
def promtool() -> Path:
    path = _find_promtool()
    if path is None:
        pytest.skip(
            "promtool binary not found in .venv/bin or on PATH: run `make promtool` "
            "(takes it from Debian's `prometheus` package, no root needed)"
        )
    return path


def run_promtool(promtool: Path, *args: str) -> str:
    result = subprocess.run(
        [str(promtool), *args],
        cwd=PROMETHEUS_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = f"{result.stdout}\n{result.stderr}"
    assert result.returncode == 0, (
        f"promtool {' '.join(args)} exited {result.returncode}:\n{output}"
    )
    return output


def test_rules_pass_promtool_check(promtool: Path) -> None:
    run_promtool(promtool, "check", "rules", str(RULES))


def test_rules_pass_their_promtool_unit_tests(promtool: Path) -> None:
    run_promtool(promtool, "test", "rules", str(RULES_TEST))


def test_example_prometheus_config_passes_promtool_check(promtool: Path) -> None:
    output = run_promtool(promtool, "check", "config", str(CONFIG))
    assert "1 rule files found" in output, output


def test_every_dashboard_query_is_valid_promql(promtool: Path, tmp_path: Path) -> None:
    targets = _dashboard_targets()
    assert targets
    records = [
        {"record": f"dashboard:query_{index}", "expr": grafana_to_promql(target["expr"])}
        for index, (_, target) in enumerate(targets)
    ]
    rules_file = tmp_path / "dashboard-queries.yml"
    rules_file.write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]}), encoding="utf-8"
    )
    legend = "\n".join(
        f"dashboard:query_{index} = {where}: {record['expr']}"
        for index, ((where, _), record) in enumerate(zip(targets, records, strict=True))
    )
    try:
        run_promtool(promtool, "check", "rules", str(rules_file))
    except AssertionError as error:
        raise AssertionError(f"{error}\nqueries:\n{legend}") from None


# --- rules.yml without promtool -------------------------------------------------------------


def test_rules_hold_the_seed_recording_rule_and_alerts() -> None:
    records = {rule["record"] for rule in _rules() if "record" in rule}
    assert "withdraw_avg_duration_seconds" in records
    alerts = _alerts()
    for name, severity in SEED_ALERTS.items():
        assert name in alerts, f"alert {name} missing from {RULES}"
        assert alerts[name]["labels"]["severity"] == severity, name


def test_every_alert_has_severity_summary_description_and_runbook() -> None:
    for name, rule in _alerts().items():
        assert rule.get("labels", {}).get("severity") in {"warning", "critical"}, name
        annotations = rule.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            assert str(annotations.get(key, "")).strip(), f"alert {name} has no {key}"
        assert annotations["runbook_url"] == "docs/runbook.md#alerts", name


def test_every_rule_names_only_known_metrics() -> None:
    for rule in _rules():
        unknown = metric_names(rule["expr"]) - KNOWN_METRICS
        assert not unknown, f"{rule.get('alert') or rule.get('record')}: unknown {unknown}"


def test_every_alert_is_shown_firing_and_silent_in_the_promtool_tests() -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    for case in _load_yaml(RULES_TEST)["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    alerts = set(_alerts())
    assert alerts - firing == set(), "alerts never shown firing"
    assert alerts - silent == set(), "alerts never shown silent"


# --- the dashboard without promtool ---------------------------------------------------------


def test_dashboard_panels_have_titles_queries_and_the_prometheus_datasource() -> None:
    dashboard = _dashboard()
    assert dashboard["schemaVersion"] >= 39
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    panels = _query_panels(dashboard)
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for panel in panels:
        title = panel.get("title", "")
        assert title.strip(), f"panel {panel.get('id')} has no title"
        assert panel.get("targets"), f"panel {title!r} has no query"
        assert panel["datasource"]["uid"] == DATASOURCE_UID, title
        for target in panel["targets"]:
            assert str(target.get("expr", "")).strip(), f"panel {title!r}: empty query"
            assert target["datasource"]["uid"] == DATASOURCE_UID, title


def test_dashboard_range_selectors_use_grafana_intervals() -> None:
    for where, target in _dashboard_targets():
        ranges = re.findall(r"\[([^\]]*)\]", _STRINGS.sub('""', target["expr"]))
        fixed = [r for r in ranges if r not in {"$__rate_interval", "$__range"}]
        assert not fixed, f"{where}: fixed range {fixed}; use $__rate_interval"


def test_dashboard_queries_name_only_known_metrics() -> None:
    seen: set[str] = set()
    for where, target in _dashboard_targets():
        names = metric_names(grafana_to_promql(target["expr"]))
        assert names, f"{where}: selects no metric"
        assert names <= KNOWN_METRICS, f"{where}: unknown {names - KNOWN_METRICS}"
        seen |= names
    # The panels the brief asks for: the funnel, compensations, backlog, retries, the API.
    for name in (
        "withdraw_initiated_total",
        "withdraw_compensation_failed_total",
        "withdraw_in_flight",
        "withdraw_operator_tasks_open",
        "withdraw_task_queue_backlog",
        "temporal_activity_execution_failed_total",
        "temporal_workflow_endtoend_latency_bucket",
        "withdraw_http_requests_total",
    ):
        assert name in seen, f"no dashboard panel shows {name}"


def test_metric_names_sees_series_but_not_functions_labels_strings_or_durations() -> None:
    expr = (
        'sum by (le, route) (rate(http_bucket{route="/a/{id}", le=~"1|2"}[5m:1m])) '
        "/ on (route) group_left (x) (other_total offset 1h > bool 1e3) "
        "or absent(third) unless vector(1)"
    )
    assert metric_names(expr) == {"http_bucket", "other_total", "third"}
    assert grafana_to_promql("rate(a[$__rate_interval]) + b{i=~'$instance'}") == (
        "rate(a[5m]) + b{i=~'x'}"
    )
