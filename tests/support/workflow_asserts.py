"""Assertions shared by the workflow-tier tests."""

from __future__ import annotations

from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from tests.support.fake_activities import FakeActivities
from withdraw_service.domain.statuses import WithdrawStatus as S
from withdraw_service.domain.withdrawal import WithdrawState


def statuses(state: WithdrawState) -> list[S]:
    return [entry.status for entry in state.history]


def assert_every_transition_saved(fakes: FakeActivities, final: WithdrawState) -> None:
    assert [s.status for s in fakes.saved] == statuses(final)
    assert fakes.saved[-1] == final


def refusal_type(exc: WorkflowUpdateFailedError) -> str | None:
    cause = exc.cause
    return cause.type if isinstance(cause, ApplicationError) else None
