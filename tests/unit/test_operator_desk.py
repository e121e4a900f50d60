"""The operator desk's retry of a failed reversal, with the Temporal client faked: what it
starts, and with which reversal key."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from tests.support.races import race
from tests.unit.conftest import MakeState, gateway_config
from withdraw_service.api.operators import OperatorDesk
from withdraw_service.domain import errors
from withdraw_service.domain.outcomes import FailureCode, TaskKind
from withdraw_service.domain.statuses import WithdrawStatus as S
from withdraw_service.persistence.operations import OperationsRepository
from withdraw_service.persistence.repository import WithdrawalRepository
from withdraw_service.workflows.compensation import CompensationInput, CompensationResult

WF = "WITHDRAW-00000000-0000-0000-0000-0000000000aa"


@dataclass
class _Handle:
    async def result(self) -> CompensationResult:
        return CompensationResult(succeeded=True, attempts=1)


@dataclass
class _Described:
    status: WorkflowExecutionStatus


@dataclass
class _RetryHandle:
    running: bool

    async def describe(self, **_: object) -> _Described:
        if not self.running:
            raise RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b"")
        return _Described(WorkflowExecutionStatus.RUNNING)


@dataclass
class FakeClient:
    """Starts nothing: records each retry asked for; `running` retries are described as
    still running (else as never started)."""

    started: list[tuple[CompensationInput, dict[str, Any]]] = field(default_factory=list)
    running: set[str] = field(default_factory=set)

    async def start_workflow(self, _run: Any, request: CompensationInput, **options: Any) -> Any:
        self.started.append((request, options))
        return _Handle()

    def get_workflow_handle(self, workflow_id: str) -> _RetryHandle:
        return _RetryHandle(workflow_id in self.running)


def _desk(client: FakeClient, repository: WithdrawalRepository) -> OperatorDesk:
    config = gateway_config(1.0, timedelta(days=7))
    return OperatorDesk(client, repository, OperationsRepository(repository.engine), config)  # type: ignore[arg-type]


@pytest.fixture
def failed_reversal(repository: WithdrawalRepository, make_state: MakeState) -> str:
    repository.save(
        make_state(
            WF,
            statuses=[S.INITIATED, S.AWAITING_OTP, S.COMPENSATING, S.MANUAL_COMPENSATION_REQUIRED],
            transfer_reference_number="TRF0001",
            failure_code=FailureCode.DW_REDEMPTION_FAILED,
        )
    )
    task, _ = OperationsRepository(repository.engine).open_task(
        WF, f"cid-{WF}", TaskKind.COMPENSATION_FAILED, Decimal("150.00"), "reversal failed"
    )
    return task.id


async def test_every_retry_of_a_task_sends_the_same_reversal_key(
    repository: WithdrawalRepository, failed_reversal: str
) -> None:
    client = FakeClient()
    desk = _desk(client, repository)
    await desk.retry(failed_reversal, "ops-ana")
    await desk.retry(failed_reversal, "ops-ben")
    keys = {request.idempotency_key for request, _ in client.started}
    assert len(client.started) == 2
    # Each retry carries the operator who asked: a success resolves the task in their name.
    assert [request.operator for request, _ in client.started] == ["ops-ana", "ops-ben"]
    assert keys == {f"cid-{WF}:reverse:task-{failed_reversal}"}
    # ...and never the withdrawal's own reversal key, which its saga already used.
    assert f"cid-{WF}:reverse" not in keys
    assert {options["id"] for _, options in client.started} == {
        f"{WF}-compensation-retry-{failed_reversal}"
    }


async def test_a_task_of_another_kind_is_not_retried(
    repository: WithdrawalRepository, make_state: MakeState
) -> None:
    repository.save(make_state(WF, statuses=[S.INITIATED, S.MANUAL_REVIEW_REQUIRED]))
    task, _ = OperationsRepository(repository.engine).open_task(
        WF, f"cid-{WF}", TaskKind.TRANSFER_UNRESOLVED, Decimal("150.00"), "unknown"
    )
    client = FakeClient()
    with pytest.raises(errors.InvalidState):
        await _desk(client, repository).retry(task.id, "ops-ana")
    assert client.started == []


async def test_a_task_is_not_resolved_by_hand_while_its_retry_runs(
    repository: WithdrawalRepository, failed_reversal: str
) -> None:
    """The retry may still reverse the transfer: settling it by hand meanwhile could pay the
    customer's money back twice."""
    client = FakeClient(running={f"{WF}-compensation-retry-{failed_reversal}"})
    desk = _desk(client, repository)
    with pytest.raises(errors.InvalidState, match="still running"):
        await desk.resolve(failed_reversal, "ops-ana", "reversed by hand")
    assert (await desk.task(failed_reversal)).state == "OPEN"
    client.running.clear()
    resolved = await desk.resolve(failed_reversal, "ops-ana", "reversed by hand")
    assert (resolved.state, resolved.resolved_by) == ("RESOLVED", "ops-ana")


def test_of_two_operators_resolving_one_task_at_once_only_one_does(
    repository: WithdrawalRepository, failed_reversal: str
) -> None:
    """Each reads the task open and marks it resolved in one transaction: the second waits
    for the first's and then finds it resolved, so the task keeps the first one's name and
    note (on SQLite too, where the read would otherwise happen outside the transaction)."""
    operations = OperationsRepository(repository.engine)
    first, second = race(
        repository.engine,
        lambda: operations.resolve(failed_reversal, "ops-ana", "reversed by hand"),
        lambda: operations.resolve(failed_reversal, "ops-ben", "reversed by hand too"),
        paused_after="FROM operator_tasks",
    )
    assert first is not None and first.resolved_by == "ops-ana"
    assert second is None
    task = operations.get_task(failed_reversal)
    assert task is not None and (task.resolved_by, task.note) == ("ops-ana", "reversed by hand")
