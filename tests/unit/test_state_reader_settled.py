"""A running withdrawal's status is read from the database, without asking a worker, only when
Temporal's description shows the stored state is the one the workflow holds: no workflow task
pending, no `saveToDb` waiting on the server, the stored save older than what `describe` saw,
and its `WithdrawStatus` search attribute the stored status. Any doubt asks the workflow, as
before (a query of an evicted withdrawal replays its history)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from temporalio.api.common.v1 import ActivityType
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.api.workflow.v1 import PendingActivityInfo, PendingWorkflowTaskInfo
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionResponse
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from tests.unit.conftest import MakeState
from withdraw_service.api.state_reader import DATABASE_PAUSE_SECONDS, Presence, StateReader
from withdraw_service.domain.errors import WithdrawalNotFound
from withdraw_service.domain.statuses import WithdrawStatus as S
from withdraw_service.domain.withdrawal import WithdrawState
from withdraw_service.workflows.models import USER_ID, WITHDRAW_STATUS

WORKFLOW_ID = "WITHDRAW-00000000-0000-0000-0000-000000000001"
# The stored state's save was made in the workflow task that started at this event; `describe`
# sees a history this long (that task completed, and more events came after it).
SAVED_AT, HISTORY_LENGTH = 14, 16


@dataclass
class Description:
    """What the reader reads of `describe`: the search attributes and the raw response."""

    typed_search_attributes: TypedSearchAttributes
    raw_description: DescribeWorkflowExecutionResponse


@dataclass
class Handle:
    description: Description
    answer: WithdrawState
    queries: int = 0

    async def describe(self, **_: Any) -> Description:
        return self.description

    async def query(self, *_: Any, **__: Any) -> WithdrawState:
        self.queries += 1
        return self.answer


@dataclass
class Client:
    handle: Handle

    def get_workflow_handle(self, workflow_id: str) -> Handle:
        assert workflow_id == WORKFLOW_ID
        return self.handle


@dataclass
class Repository:
    stored: WithdrawState | None
    version: int = SAVED_AT
    down: bool = False
    unreadable: bool = False
    reads: list[str] = field(default_factory=list)

    def snapshot(self, workflow_id: str) -> tuple[WithdrawState, int] | None:
        self.reads.append(workflow_id)
        if self.down:
            raise OperationalError("SELECT", {}, Exception("database is away"))
        if self.unreadable:
            S("A_STATUS_OF_A_NEWER_WORKER")
        return None if self.stored is None else (self.stored, self.version)


def described(
    shown: S | None,
    *,
    task_pending: bool = False,
    pending_activity: str | None = None,
    history_length: int = HISTORY_LENGTH,
) -> Description:
    pairs = [SearchAttributePair(USER_ID, "user-1001")]
    if shown is not None:
        pairs.append(SearchAttributePair(WITHDRAW_STATUS, shown.value))
    raw = DescribeWorkflowExecutionResponse()
    raw.workflow_execution_info.status = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING
    raw.workflow_execution_info.history_length = history_length
    if task_pending:
        raw.pending_workflow_task.CopyFrom(PendingWorkflowTaskInfo(attempt=1))
    if pending_activity is not None:
        raw.pending_activities.append(
            PendingActivityInfo(activity_type=ActivityType(name=pending_activity))
        )
    return Description(TypedSearchAttributes(pairs), raw)


def reader(description: Description, answer: WithdrawState, repository: Repository) -> Any:
    handle = Handle(description, answer)
    return StateReader(Client(handle), repository), handle  # type: ignore[arg-type]


async def test_a_settled_withdrawal_is_read_from_the_database_without_a_query(
    make_state: MakeState,
) -> None:
    stored = make_state(WORKFLOW_ID, statuses=[S.INITIATED, S.AWAITING_OTP])
    repository = Repository(stored)
    state_reader, handle = reader(described(S.AWAITING_OTP), stored, repository)

    look = await state_reader.live(WORKFLOW_ID)

    assert (look.state, look.presence, look.owner) == (stored, Presence.RUNNING, "user-1001")
    assert handle.queries == 0
    assert await state_reader.status(WORKFLOW_ID, "user-1001") == stored
    assert handle.queries == 0


async def test_a_save_ahead_of_what_the_workflow_shows_is_not_taken(
    make_state: MakeState,
) -> None:
    """A task's save commits before the task does: while it runs, or when it was lost and its
    retry decided otherwise, the stored status is not the one the attribute shows."""
    shown = make_state(WORKFLOW_ID, statuses=[S.INITIATED, S.AWAITING_OTP])
    ahead = make_state(WORKFLOW_ID, statuses=[S.INITIATED, S.AWAITING_OTP, S.OTP_TIMEOUT])
    state_reader, handle = reader(described(S.AWAITING_OTP), shown, Repository(ahead))

    assert await state_reader.status(WORKFLOW_ID, "user-1001") == shown
    assert handle.queries == 1


async def test_a_pending_workflow_task_asks_the_workflow(make_state: MakeState) -> None:
    """An update, a timer or an activity's result waiting for the worker: the workflow may be
    about to change its state, so the query (answered after that task) decides."""
    stored = make_state(WORKFLOW_ID, statuses=[S.INITIATED, S.AWAITING_OTP])
    later = make_state(WORKFLOW_ID, statuses=[S.INITIATED, S.AWAITING_OTP, S.FINALIZING_TRANSFER])
    state_reader, handle = reader(
        described(S.AWAITING_OTP, task_pending=True), later, Repository(stored)
    )

    assert await state_reader.status(WORKFLOW_ID, "user-1001") == later
    assert handle.queries == 1


async def test_without_the_attribute_or_a_stored_row_the_workflow_answers(
    make_state: MakeState,
) -> None:
    answer = make_state(WORKFLOW_ID, statuses=[S.INITIATED, S.AWAITING_OTP])
    unmarked, marked_unsaved = Repository(answer), Repository(None)
    for description, repository in (
        (described(None), unmarked),
        (described(S.INITIATED), marked_unsaved),
    ):
        state_reader, handle = reader(description, answer, repository)
        assert await state_reader.status(WORKFLOW_ID, "user-1001") == answer
        assert handle.queries == 1
    assert unmarked.reads == []  # no attribute: the database is not even read


async def test_a_save_made_since_the_description_is_not_taken(make_state: MakeState) -> None:
    """`describe`, then the read: a task that started between them may have saved a state it
    has not adopted yet, with the same status (AWAITING_OTP again after a wrong code). Its
    version (the history's length when it started) is past what `describe` saw."""
    shown = make_state(WORKFLOW_ID, statuses=[S.INITIATED, S.AWAITING_OTP])
    again = make_state(
        WORKFLOW_ID,
        statuses=[S.INITIATED, S.AWAITING_OTP, S.FINALIZING_TRANSFER, S.AWAITING_OTP],
    )
    state_reader, handle = reader(
        described(S.AWAITING_OTP), shown, Repository(shown, version=HISTORY_LENGTH - 1)
    )
    assert await state_reader.status(WORKFLOW_ID, "user-1001") == shown  # the last task's
    assert handle.queries == 0
    for version in (HISTORY_LENGTH, HISTORY_LENGTH + 2):
        state_reader, handle = reader(
            described(S.AWAITING_OTP), shown, Repository(again, version=version)
        )
        assert await state_reader.status(WORKFLOW_ID, "user-1001") == shown
        assert handle.queries == 1


async def test_a_save_waiting_on_the_server_asks_the_workflow(make_state: MakeState) -> None:
    """A retried first task whose save could not run in the worker: until that `saveToDb`
    has run, the stored INITIATED is the lost task's, with its own times."""
    lost = make_state(WORKFLOW_ID, statuses=[S.INITIATED])
    retried = make_state(
        WORKFLOW_ID, statuses=[S.INITIATED], created_at=lost.created_at.replace(second=9)
    )
    state_reader, handle = reader(
        described(S.INITIATED, pending_activity="saveToDb"), retried, Repository(lost)
    )
    assert await state_reader.status(WORKFLOW_ID, "user-1001") == retried
    assert handle.queries == 1

    # Any other activity in progress (the bank's finalize, a redemption settling) is no doubt.
    waiting = make_state(WORKFLOW_ID, statuses=[S.INITIATED, S.AWAITING_OTP, S.FINALIZING_TRANSFER])
    state_reader, handle = reader(
        described(S.FINALIZING_TRANSFER, pending_activity="finalizeTransfer"),
        waiting,
        Repository(waiting),
    )
    assert await state_reader.status(WORKFLOW_ID, "user-1001") == waiting
    assert handle.queries == 0


async def test_a_stored_status_this_code_does_not_know_asks_the_workflow(
    make_state: MakeState,
) -> None:
    answer = make_state(WORKFLOW_ID, statuses=[S.INITIATED, S.AWAITING_OTP])
    state_reader, handle = reader(
        described(S.AWAITING_OTP), answer, Repository(answer, unreadable=True)
    )
    assert await state_reader.status(WORKFLOW_ID, "user-1001") == answer
    assert handle.queries == 1


async def test_a_database_that_does_not_answer_leaves_the_query(make_state: MakeState) -> None:
    """Reading the database first must not turn an answer the worker can give into a 503,
    nor make call after call wait on a database that hangs: after a failure it is left alone
    for a pause, and tried again after it."""
    answer = make_state(WORKFLOW_ID, statuses=[S.INITIATED, S.AWAITING_OTP])
    repository = Repository(answer, down=True)
    now = [100.0]
    handle = Handle(described(S.AWAITING_OTP), answer)
    state_reader = StateReader(Client(handle), repository, lambda: now[0])  # type: ignore[arg-type]

    assert await state_reader.status(WORKFLOW_ID, "user-1001") == answer
    assert (handle.queries, len(repository.reads)) == (1, 1)
    now[0] += DATABASE_PAUSE_SECONDS - 1
    assert await state_reader.status(WORKFLOW_ID, "user-1001") == answer
    assert (handle.queries, len(repository.reads)) == (2, 1)

    repository.down = False
    now[0] += 1
    assert await state_reader.status(WORKFLOW_ID, "user-1001") == answer
    assert (handle.queries, len(repository.reads)) == (2, 2)


async def test_a_settled_withdrawal_of_another_customer_is_not_found(
    make_state: MakeState,
) -> None:
    stored = make_state(WORKFLOW_ID, statuses=[S.INITIATED, S.AWAITING_OTP])
    state_reader, _ = reader(described(S.AWAITING_OTP), stored, Repository(stored))

    with pytest.raises(WithdrawalNotFound):
        await state_reader.status(WORKFLOW_ID, "user-2002")
