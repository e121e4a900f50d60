"""The withdrawal's state as its workflow holds it, and how every change of it is persisted.

A status change is written through saveToDb with its history row first, and only then made
visible (query, update answers, the `WithdrawStatus` search attribute): nothing ever shows a
status the database does not have. The idempotency key of each money-moving step is fixed here,
before its first attempt. Deterministic: no I/O, clock or randomness but the SDK's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar, overload

from temporalio import workflow
from temporalio.exceptions import ActivityError, FailureError

with workflow.unsafe.imports_passed_through():
    from withdraw_service.activities.models import OpenOperatorTaskInput, SaveToDbInput
    from withdraw_service.activities.operations import OperationsActivities
    from withdraw_service.activities.withdraw import WithdrawActivities
    from withdraw_service.domain.outcomes import FailureCode, TaskKind
    from withdraw_service.domain.statuses import WithdrawStatus
    from withdraw_service.domain.withdrawal import CompensationInfo, HistoryEntry, WithdrawState
    from withdraw_service.workflows.activity_calls import (
        UNTIL_DONE,
        error_type,
        failure_kind,
        run_activity,
        run_local_activity,
        run_local_lookup,
    )
    from withdraw_service.workflows.models import WITHDRAW_STATUS, WithdrawInput
    from withdraw_service.workflows.patches import LOCAL_LOOKUPS, LOCAL_SAVES

# A save in the worker gets this long (the workflow task it runs in has 10 s) before it is
# handed to the server instead.
LOCAL_SAVE_WITHIN = timedelta(seconds=2)

ArgT = TypeVar("ArgT")
ResultT = TypeVar("ResultT")


class Ended(Exception):
    """Control flow inside the workflow: the withdrawal reached a terminal status."""

    def __init__(
        self,
        status: WithdrawStatus,
        code: FailureCode | None,
        reason: str | None,
        compensation: CompensationInfo | None = None,
    ) -> None:
        super().__init__(reason)
        self.status, self.code, self.reason = status, code, reason
        self.compensation = compensation


class Progress:
    """One withdrawal's request and current state, persisted on every transition."""

    def __init__(self, request: WithdrawInput, state: WithdrawState) -> None:
        self.request = request
        self.state = state
        self.dw_account_id: str | None = None  # known once validateUser answered

    @overload
    async def run(
        self, method: Callable[[Any], Awaitable[ResultT]], *, attempts: int | None = None
    ) -> ResultT: ...

    @overload
    async def run(
        self,
        method: Callable[[Any, ArgT], Awaitable[ResultT]],
        arg: ArgT,
        *,
        attempts: int | None = None,
    ) -> ResultT: ...

    async def run(
        self, method: Callable[..., Awaitable[Any]], arg: Any = None, *, attempts: int | None = None
    ) -> Any:
        """An activity with the withdrawal's retry policies (typed by the method)."""
        if arg is None:
            return await run_activity(self.request.policies, method, attempts=attempts)
        return await run_activity(self.request.policies, method, arg, attempts=attempts)

    async def lookup(self, method: Callable[[Any, ArgT], Awaitable[ResultT]], arg: ArgT) -> ResultT:
        """A short lookup safe to run again (validateUser, checkRestrictions), with its retry
        policy: in this worker (no round trip through the server), or, in a withdrawal started
        before that change, through the server as it was. Catch its failure as `FailureError`:
        run in the worker, it arrives as the `ApplicationError` itself, and a timeout as an
        `ActivityError` around a `TimeoutError` live but as the bare `TimeoutError` when
        replayed from its marker (`error_type` / `error_message` read every shape)."""
        if workflow.patched(LOCAL_LOOKUPS):
            return await run_local_lookup(self.request.policies, method, arg)
        return await self.run(method, arg)

    async def transition(self, status: WithdrawStatus, **changes: Any) -> None:
        """Persist the new status with its history row first, then make it visible."""
        now = workflow.now()
        state = self.state.model_copy(deep=True, update=changes)
        state.status = status
        state.updated_at = now
        state.history.append(HistoryEntry(status=status, at=now))
        await self.save(state)
        self.state = state
        workflow.upsert_search_attributes([WITHDRAW_STATUS.value_set(status.value)])

    async def end(self, ended: Ended) -> None:
        changes: dict[str, Any] = {"failure_code": ended.code, "failure_reason": ended.reason}
        if ended.compensation is not None:
            changes["compensation"] = ended.compensation
        await self.transition(ended.status, **changes)

    async def save(self, state: WithdrawState) -> None:
        """Persist, however long the database is away: a persistence error must never decide
        where the money goes. Retried until it succeeds; a failure that says it must not be
        retried is waited out too (backing off to a minute) instead of failing.

        First once in this worker, inside the workflow task (no round trip through the
        server); when that attempt fails or takes longer than `LOCAL_SAVE_WITHIN`, as an
        activity the server retries. A local save commits before its workflow task does: if
        that task is lost, its retry (a longer history) may decide otherwise at the same step,
        and its save, with the larger `version`, replaces what the lost one wrote. A late
        attempt of an older decision (smaller version) is refused: nothing rolls back."""
        request = SaveToDbInput(
            state=state,
            dw_account_id=self.dw_account_id,
            version=workflow.info().get_current_history_length(),
        )
        if workflow.patched(LOCAL_SAVES):
            try:
                await run_local_activity(
                    WithdrawActivities.save_to_db, request, within=LOCAL_SAVE_WITHIN
                )
                return
            except FailureError as err:
                workflow.logger.warning(
                    "saveToDb in the worker failed (%s); handing it to the server",
                    failure_kind(err),
                    extra={"correlationId": self.request.correlation_id},
                )
        pause = timedelta(seconds=1)
        while True:
            try:
                await self.run(WithdrawActivities.save_to_db, request, attempts=UNTIL_DONE)
                return
            except ActivityError as err:
                workflow.logger.error(
                    "saveToDb exhausted its retries (%s); trying again in %s",
                    error_type(err),
                    pause,
                    extra={"correlationId": self.request.correlation_id},
                )
                await workflow.sleep(pause)
                pause = min(pause * 2, timedelta(minutes=1))

    async def open_task(self, kind: TaskKind, reason: str) -> str:
        task = await self.run(
            OperationsActivities.open_operator_task,
            OpenOperatorTaskInput(
                workflow_id=self.state.workflow_id,
                correlation_id=self.request.correlation_id,
                kind=kind,
                amount=self.request.amount,
                reason=reason,
            ),
            attempts=UNTIL_DONE,
        )
        return task.task_id

    def key(self, step: str) -> str:
        """Idempotency key of one money-moving step: fixed before its first attempt."""
        return f"{self.request.correlation_id}:{step}"
