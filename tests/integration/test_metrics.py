"""The business metrics on the worker's Prometheus endpoint, read over HTTP as Prometheus would:
after each terminal path the right counters moved by exactly one, nothing else moved, and a
forced replay of the finished workflow (a query makes the worker rebuild it from its whole
history) counts nothing again."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration import _paths as p
from tests.integration.conftest import Stack
from withdraw_service.domain.outcomes import ProblemCode, TaskState
from withdraw_service.workflows.withdraw import WithdrawWorkflow

Series = tuple[str, tuple[tuple[str, str], ...]]
# Labels that say which process exported a series, not what happened.
_SOURCE_LABELS = {"service_name", "namespace", "task_queue"}


async def _worker_metrics(stack: Stack) -> str:
    """The worker's Prometheus text, fetched over HTTP as Prometheus would."""
    async with httpx.AsyncClient(timeout=5) as client:
        return (await client.get(stack.metrics_url)).text


async def _scrape(stack: Stack) -> Counter[Series]:
    # Only our families: the SDK's grow with every task queue of the session (one per test)
    # and would make parsing the page the slowest part of this file.
    ours = ("withdraw_", "# HELP withdraw_", "# TYPE withdraw_")
    text = "\n".join(
        line for line in (await _worker_metrics(stack)).splitlines() if line.startswith(ours)
    )
    values: Counter[Series] = Counter()
    for family in text_string_to_metric_families(text + "\n"):
        for sample in family.samples:
            if not sample.name.startswith("withdraw_") or sample.name.endswith("_bucket"):
                continue
            if sample.name == "withdraw_duration_seconds_sum":
                continue  # seconds, not a count
            labels = tuple(
                sorted((k, v) for k, v in sample.labels.items() if k not in _SOURCE_LABELS)
            )
            values[(sample.name, labels)] += int(sample.value)
    return values


def _moved(before: Counter[Series], after: Counter[Series]) -> Counter[str]:
    """The series that changed, by name and labels, with their increase."""
    moved: Counter[str] = Counter()
    for key in set(before) | set(after):
        delta = after[key] - before[key]
        if delta:
            name, labels = key
            moved[name + (str(dict(labels)) if labels else "")] = delta
    return moved


def _ended(status: str, failure_code: str = "none") -> Counter[str]:
    """What one withdrawal ending in `status` adds, initiated included."""
    moved: Counter[str] = Counter(
        {
            "withdraw_initiated_total": 1,
            f"withdraw_duration_seconds_count{{'status': '{status}'}}": 1,
        }
    )
    if status == "COMPLETED":
        moved["withdraw_completed_total"] = 1
    elif status == "CANCELLED":
        moved["withdraw_cancelled_total"] = 1
    else:
        labels = {"failure_code": failure_code, "status": status}
        moved[f"withdraw_failed_total{labels}"] = 1
    if status == "COMPENSATED":
        moved["withdraw_compensated_total"] = 1
    if status == "OTP_TIMEOUT":
        moved["withdraw_otp_timeout_total"] = 1
    if status == "MANUAL_COMPENSATION_REQUIRED":
        moved["withdraw_compensation_failed_total"] = 1
    return moved


async def _completed(stack: Stack) -> list[str]:
    started = await p.start(stack)
    otp = await p.otp_of(stack, started.authorisation_id)
    wrong = await p.finalize(stack, started.workflow_id, p.wrong(otp))
    p.problem(wrong, 422, ProblemCode.OTP_INVALID)
    assert (await p.finalize(stack, started.workflow_id, otp)).status_code == 200
    return [started.workflow_id]


async def _cancelled(stack: Stack) -> list[str]:
    started = await p.start(stack)
    assert (await p.cancel(stack, started.workflow_id)).status_code == 200
    return [started.workflow_id]


async def _otp_rejected(stack: Stack) -> list[str]:
    started = await p.start(stack)
    bad = p.wrong(await p.otp_of(stack, started.authorisation_id))
    answers = [(await p.finalize(stack, started.workflow_id, bad)).status_code for _ in range(3)]
    assert answers == [422, 422, 410]  # OTP_INVALID twice, then OTP_EXPIRED
    return [started.workflow_id]


async def _otp_timeout(stack: Stack) -> list[str]:
    async with stack.api_with(otp_timeout_seconds=1) as api:
        started = await p.start(stack, api=api)
    return [started.workflow_id]


async def _compensated(stack: Stack) -> list[str]:
    started = await p.start(stack)
    await stack.fault("drivewealth", "redemption", "reject")
    await p.finalize(stack, started.workflow_id, await p.otp_of(stack, started.authorisation_id))
    return [started.workflow_id]


async def _manual(stack: Stack) -> list[str]:
    started = await p.start(stack)
    await stack.fault("drivewealth", "redemption", "reject")
    await stack.fault("transfer", "reverse", "error_500", times=10)
    await p.finalize(stack, started.workflow_id, await p.otp_of(stack, started.authorisation_id))
    return [started.workflow_id]


async def _user_invalid(stack: Stack) -> list[str]:
    answer = await p.initiate(stack, user="user-blocked")
    assert answer.status_code == 403, answer.text
    states = await asyncio.to_thread(stack.repository.search, user_id="user-blocked", limit=1)
    return [states[0].workflow_id]


async def _initiation_failed(stack: Stack) -> list[str]:
    answer = await p.initiate(stack, amount="20000.00")  # more than the brokerage cash
    assert answer.status_code == 422, answer.text
    return [await p.refused_withdrawal(stack, answer.json())]


async def _restricted(stack: Stack) -> list[str]:
    first = await p.start(stack)
    second = await p.initiate(stack)
    assert second.status_code == 409, second.text
    restricted = await p.refused_withdrawal(stack, second.json())
    assert (await p.cancel(stack, first.workflow_id)).status_code == 200
    return [first.workflow_id, restricted]


async def _finalize_with_fault(stack: Stack, *faults: tuple[str, str, str, dict[str, Any]]) -> str:
    started = await p.start(stack)
    for service, operation, mode, extra in faults:
        await stack.fault(service, operation, mode, **extra)
    await p.finalize(stack, started.workflow_id, await p.otp_of(stack, started.authorisation_id))
    return started.workflow_id


async def _transfer_rejected(stack: Stack) -> list[str]:
    return [await _finalize_with_fault(stack, ("transfer", "finalize", "reject", {}))]


async def _transfer_failed(stack: Stack) -> list[str]:
    return [await _finalize_with_fault(stack, ("transfer", "finalize", "fail", {}))]


async def _manual_review(stack: Stack) -> list[str]:
    return [
        await _finalize_with_fault(
            stack,
            ("transfer", "finalize", "timeout_after_commit", {}),
            ("transfer-checker", "status", "pending", {"probability": 1.0}),
        )
    ]


PATHS: dict[str, tuple[Callable[[Stack], Awaitable[list[str]]], Counter[str]]] = {
    "completed": (_completed, _ended("COMPLETED")),
    "cancelled": (_cancelled, _ended("CANCELLED")),
    "otp_rejected": (_otp_rejected, _ended("OTP_REJECTED", "OTP_EXPIRED")),
    "otp_timeout": (_otp_timeout, _ended("OTP_TIMEOUT", "OTP_TIMEOUT")),
    "compensated": (_compensated, _ended("COMPENSATED", "DW_REDEMPTION_FAILED")),
    "manual": (_manual, _ended("MANUAL_COMPENSATION_REQUIRED", "DW_REDEMPTION_FAILED")),
    "user_invalid": (_user_invalid, _ended("USER_INVALID", "USER_INVALID")),
    "initiation_failed": (_initiation_failed, _ended("INITIATION_FAILED", "INSUFFICIENT_FUNDS")),
    "restricted": (
        _restricted,
        _ended("WITHDRAW_RESTRICTED", "WITHDRAW_RESTRICTED") + _ended("CANCELLED"),
    ),
    "transfer_rejected": (_transfer_rejected, _ended("TRANSFER_REJECTED", "TRANSFER_REJECTED")),
    "transfer_failed": (_transfer_failed, _ended("TRANSFER_FAILED", "TRANSFER_FAILED")),
    "manual_review": (
        _manual_review,
        _ended("MANUAL_REVIEW_REQUIRED", "TRANSFER_UNRESOLVED"),
    ),
}


@pytest.mark.parametrize("path", list(PATHS))
async def test_each_terminal_path_counts_once_and_replay_counts_nothing(
    stack: Stack, path: str
) -> None:
    run, expected = PATHS[path]
    before = await _scrape(stack)

    handles = [stack.client.get_workflow_handle(w) for w in await run(stack)]
    for handle in handles:
        await handle.result()
    after = await _scrape(stack)
    assert _moved(before, after) == expected

    # Forced replay: a finished run is evicted from the worker's cache, so answering a query
    # means running a workflow task that rebuilds it from its whole history (the SDK's
    # workflow-task counter shows the worker did run one per query).
    replays = await _replays(stack)
    for handle in handles:
        state = await handle.query(WithdrawWorkflow.get_state)
        assert state.status.is_terminal
    assert await _replays(stack) >= replays + len(handles)
    assert _moved(before, await _scrape(stack)) == expected


async def _replays(stack: Stack) -> float:
    """Workflow tasks the worker has run (SDK metric)."""
    text = await _worker_metrics(stack)
    return sum(_samples(text, "temporal_workflow_task_execution_latency_count").values())


async def test_an_operator_retry_that_compensates_counts_compensated_once(stack: Stack) -> None:
    (workflow_id,) = await _manual(stack)
    await stack.client.get_workflow_handle(workflow_id).result()
    task = await p.task_for(stack, workflow_id, "COMPENSATION_FAILED")
    text = (await stack.api.get("/metrics")).text
    kind = (("kind", "COMPENSATION_FAILED"),)
    assert _samples(text, "withdraw_operator_tasks_open")[kind] == 1
    assert _samples(text, "withdraw_operator_task_oldest_open_seconds")[kind] > 0
    (await stack.sim.delete("/_sim/faults")).raise_for_status()
    before = await _scrape(stack)
    ops = stack.ops_auth("op-1")

    retried = await stack.api.post(f"/ops/compensation-tasks/{task.id}/retry", headers=ops)
    assert retried.status_code == 200, retried.text
    assert retried.json()["data"]["state"] == TaskState.RESOLVED
    again = await stack.api.post(f"/ops/compensation-tasks/{task.id}/retry", headers=ops)
    p.problem(again, 409, ProblemCode.INVALID_STATE)  # the task is resolved

    assert (await p.status(stack, workflow_id))["status"] == "COMPENSATED"
    # Already counted as failed (MANUAL_COMPENSATION_REQUIRED); now compensated, once.
    assert _moved(before, await _scrape(stack)) == {"withdraw_compensated_total": 1}
    text = (await stack.api.get("/metrics")).text
    assert _samples(text, "withdraw_operator_tasks_open")[kind] == 0
    assert _samples(text, "withdraw_operator_task_oldest_open_seconds")[kind] == 0


async def test_the_sdk_metrics_are_on_the_same_endpoint(stack: Stack) -> None:
    await _completed(stack)
    text = await _worker_metrics(stack)
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {"temporal_activity_execution_latency", "withdraw_completed"} <= names
    # validateUser, checkRestrictions and the saves run in the worker: the dashboard's lines
    # "in the worker" and HighActivityRetryRate read the SDK's local-activity metrics.
    assert "temporal_local_activity_execution_latency" in names
    assert "withdraw_duration_seconds" in names
    # The duration histogram uses our buckets (seconds), not the SDK's millisecond ones.
    assert "withdraw_duration_seconds_bucket{" in text and 'le="86400"' in text


def _samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


async def test_the_api_metrics_show_requests_and_what_is_in_flight(stack: Stack) -> None:
    started = await p.start(stack)
    text = (await stack.api.get("/metrics")).text
    in_flight = _samples(text, "withdraw_in_flight")
    assert in_flight[(("status", "AWAITING_OTP"),)] == 1
    assert in_flight[(("status", "VERIFYING_TRANSFER"),)] == 0
    oldest = _samples(text, "withdraw_in_flight_oldest_seconds")
    assert 0 < oldest[(("status", "AWAITING_OTP"),)] < 60  # entered it moments ago
    assert oldest[(("status", "VERIFYING_TRANSFER"),)] == 0  # none is in it
    requests = _samples(text, "withdraw_http_requests_total")
    initiate = (("method", "POST"), ("route", "/withdraw/initiate"), ("status", "200"))
    assert requests.get(initiate) == 1, text
    await p.status(stack, started.workflow_id)
    assert (await p.cancel(stack, started.workflow_id)).status_code == 200

    text = (await stack.api.get("/metrics")).text
    assert _samples(text, "withdraw_in_flight")[(("status", "AWAITING_OTP"),)] == 0
    assert _samples(text, "withdraw_in_flight_oldest_seconds")[(("status", "AWAITING_OTP"),)] == 0
    routes = {dict(labels)["route"] for labels in _samples(text, "withdraw_http_requests_total")}
    # Route templates, never a workflow id: the label stays bounded.
    assert "/withdraw/status/{workflowId}" in routes
    assert not any(started.workflow_id in route for route in routes)
    assert _samples(text, "withdraw_operator_tasks_open")[(("kind", "COMPENSATION_FAILED"),)] == 0
