"""What an operator sees of a withdrawal on the running stack: the business and SDK metrics on
the worker's and the API's `/metrics`, the workflow found by its correlationId, its history
ciphertext on the server but readable through the codec server (as the Web UI reads it)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import RunningStack
from tests.e2e.test_withdrawal import finalize, initiate, token

TEMPORAL = Path(sys.executable).parent / "temporal"


def _metric_names(url: str) -> dict[str, float]:
    """Each sample name with the sum of its values."""
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(httpx.get(url, timeout=10).text):
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals


def _temporal(stack: RunningStack, *args: str) -> Any:
    done = subprocess.run(
        [str(TEMPORAL), *args, "--address", f"127.0.0.1:{stack.ports['temporal']}", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def test_an_operator_finds_measures_and_reads_a_withdrawal(running_stack: RunningStack) -> None:
    headers = token(running_stack, "user-1001")
    data = initiate(running_stack, headers, "25.00")
    otp = httpx.get(f"{running_stack.sim_url}/_sim/otp/{data['authorisationId']}").json()["otp"]
    finalized = finalize(running_stack, headers, data)
    assert finalized.status_code == 200 and finalized.json()["data"]["status"] == "COMPLETED"
    workflow_id, correlation_id = data["workflowId"], data["correlationId"]

    worker = _metric_names(f"http://127.0.0.1:{running_stack.ports['metrics']}/metrics")
    assert worker["withdraw_initiated_total"] >= 1
    assert worker["withdraw_completed_total"] >= 1
    assert worker["withdraw_duration_seconds_count"] >= 1
    assert "withdraw_task_queue_backlog" in worker
    assert worker["temporal_workflow_completed_total"] >= 1  # the SDK's own
    assert worker["temporal_activity_execution_latency_count"] >= 1
    api = _metric_names(f"{running_stack.api_url}/metrics")
    assert api["withdraw_http_requests_total"] >= 2
    assert "withdraw_in_flight" in api and "withdraw_operator_tasks_open" in api

    # Search by correlationId, as in the Web UI's search box.
    listed = json.loads(
        _temporal(running_stack, "workflow", "list", "--query", f"CorrelationId='{correlation_id}'")
        or "[]"
    )
    assert [w["execution"]["workflowId"] for w in listed] == [workflow_id]

    # The server holds ciphertext; the codec server (what the Web UI calls) decrypts it.
    raw = _temporal(running_stack, "workflow", "show", "--workflow-id", workflow_id)
    assert otp not in _payloads(raw) and "DWAA001001" not in _payloads(raw)
    # (search attributes stay readable: WithdrawStatus values appear in both outputs)
    assert '"dwRedemptionId"' not in _payloads(raw)
    codec = f"http://127.0.0.1:{running_stack.ports['codec']}"
    decoded = _temporal(
        running_stack, "workflow", "show", "--workflow-id", workflow_id, "--codec-endpoint", codec
    )
    assert '"dwRedemptionId"' in _payloads(decoded)  # the withdrawal's state, decrypted
    ui = httpx.get(f"http://127.0.0.1:{running_stack.ports['ui']}/api/v1/settings", timeout=10)
    assert codec in ui.text  # the Web UI was started with our codec endpoint


def _payloads(show_output: str) -> str:
    """Every payload's bytes (base64 in `temporal workflow show -o json`), as text."""
    texts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "data" in node and "metadata" in node and isinstance(node["data"], str):
                texts.append(base64.b64decode(node["data"]).decode("utf-8", "replace"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for line in show_output.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                walk(json.loads(line))
            except json.JSONDecodeError:
                continue
    if not texts:
        walk(json.loads(show_output))
    return "\n".join(texts)
