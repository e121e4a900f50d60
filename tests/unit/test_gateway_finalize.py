"""Finalize through the gateway, against a workflow of either version: one update when the
worker answers an accepted code with the receipt, the `awaitReceipt` update after it when
the worker is older (a rollout). The owner is checked from the description, never a query."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from tests.unit.conftest import MakeState, gateway_config
from withdraw_service.api.gateway import WithdrawGateway
from withdraw_service.domain import errors
from withdraw_service.domain.outcomes import OtpVerdict, ProblemCode
from withdraw_service.domain.statuses import WithdrawStatus as S
from withdraw_service.persistence.repository import WithdrawalRepository
from withdraw_service.workflows.models import USER_ID, OtpResult, OtpSubmission

WF = "WITHDRAW-11111111-2222-3333-4444-555555555555"
RUNNING = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING
TERMINATED = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TERMINATED


@dataclass
class Workflow:
    """One running withdrawal of `owner`, whose worker answers `submitOtp` as `answer` does."""

    owner: str
    answer: OtpResult
    receipt: Any
    asked: list[str] = field(default_factory=list)
    submitted: list[OtpSubmission] = field(default_factory=list)

    async def describe(self, **_: Any) -> Any:
        self.asked.append("describe")
        return SimpleNamespace(
            raw_description=SimpleNamespace(
                workflow_execution_info=SimpleNamespace(status=RUNNING)
            ),
            typed_search_attributes={USER_ID: self.owner},
        )

    async def query(self, *_: Any, **__: Any) -> Any:
        self.asked.append("query")
        raise AssertionError("finalize must not query the workflow")

    async def execute_update(self, name: str, arg: Any = None, **_: Any) -> Any:
        self.asked.append(name)
        if name == "submitOtp":
            self.submitted.append(arg)
            return self.answer
        assert name == "awaitReceipt", name
        return self.receipt


@dataclass
class Client:
    workflow: Workflow

    def get_workflow_handle(self, *_: Any, **__: Any) -> Workflow:
        return self.workflow


def _gateway(workflow: Workflow, repository: WithdrawalRepository) -> WithdrawGateway:
    config = gateway_config(2.0, timedelta(days=1))
    return WithdrawGateway(Client(workflow), repository, None, config)  # type: ignore[arg-type]


async def test_a_worker_that_answers_with_the_receipt_takes_one_update(
    repository: WithdrawalRepository, make_state: MakeState
) -> None:
    completed = make_state(WF, status=S.COMPLETED)
    workflow = Workflow(
        "user-1001",
        OtpResult(verdict=OtpVerdict.ACCEPTED, attempts_remaining=3, state=completed, receipt=True),
        receipt=None,
    )
    answer = await _gateway(workflow, repository).finalize(WF, "user-1001", "123456", None)
    assert (answer.state, answer.settled) == (completed, True)
    assert workflow.asked == ["describe", "submitOtp"]
    assert workflow.submitted[0].until_receipt


async def test_an_older_worker_answers_at_once_and_the_receipt_is_asked_after(
    repository: WithdrawalRepository, make_state: MakeState
) -> None:
    taken = make_state(WF, status=S.FINALIZING_TRANSFER)
    completed = make_state(WF, status=S.COMPLETED)
    workflow = Workflow(
        "user-1001",
        OtpResult(verdict=OtpVerdict.ACCEPTED, attempts_remaining=3, state=taken),
        receipt=completed,
    )
    answer = await _gateway(workflow, repository).finalize(WF, "user-1001", "123456", None)
    assert (answer.state, answer.settled) == (completed, True)
    assert workflow.asked == ["describe", "submitOtp", "awaitReceipt"]


async def test_another_customers_withdrawal_is_not_found_and_takes_no_code(
    repository: WithdrawalRepository, make_state: MakeState
) -> None:
    workflow = Workflow(
        "user-1002",
        OtpResult(verdict=OtpVerdict.ACCEPTED, attempts_remaining=3, state=make_state(WF)),
        receipt=None,
    )
    with pytest.raises(errors.WithdrawalNotFound):
        await _gateway(workflow, repository).finalize(WF, "user-1001", "123456", None)
    assert workflow.asked == ["describe"]


async def test_a_code_taken_then_a_run_that_ends_without_a_receipt_answers_its_state(
    repository: WithdrawalRepository, make_state: MakeState
) -> None:
    """The update is accepted, then fails while it waits for the receipt (an operator
    terminated the run): the answer is the withdrawal as it stands, not a refusal."""
    failed = make_state(WF, status=S.MANUAL_REVIEW_REQUIRED)
    repository.save(failed)

    @dataclass
    class Terminated(Workflow):
        ended: bool = False

        async def describe(self, **_: Any) -> Any:
            found = await super().describe()
            if self.ended:
                found.raw_description.workflow_execution_info.status = TERMINATED
            return found

        async def execute_update(self, name: str, arg: Any = None, **_: Any) -> Any:
            self.asked.append(name)
            self.ended = True
            raise WorkflowUpdateFailedError(ApplicationError("terminated", type="Terminated"))

    workflow = Terminated(
        "user-1001",
        OtpResult(verdict=OtpVerdict.ACCEPTED, attempts_remaining=3, state=failed),
        receipt=None,
    )
    answer = await _gateway(workflow, repository).finalize(WF, "user-1001", "123456", None)
    assert (answer.state.status, answer.settled) == (S.MANUAL_REVIEW_REQUIRED, True)
    assert "query" not in workflow.asked  # closed: read from the database


async def test_a_code_the_validator_refuses_is_still_a_refusal(
    repository: WithdrawalRepository, make_state: MakeState
) -> None:
    """A finalize after the withdrawal moved past its OTP: the validator's INVALID_STATE."""
    completed = make_state(WF, status=S.COMPLETED)
    repository.save(completed)

    @dataclass
    class Refusing(Workflow):
        async def execute_update(self, name: str, arg: Any = None, **_: Any) -> Any:
            self.asked.append(name)
            raise WorkflowUpdateFailedError(
                ApplicationError("not awaiting an OTP", type=ProblemCode.INVALID_STATE.value)
            )

        async def query(self, *_: Any, **__: Any) -> Any:
            return completed

    workflow = Refusing(
        "user-1001",
        OtpResult(verdict=OtpVerdict.ACCEPTED, attempts_remaining=3, state=completed),
        receipt=None,
    )
    with pytest.raises(errors.InvalidState):
        await _gateway(workflow, repository).finalize(WF, "user-1001", "123456", None)
