"""The API's side of Temporal: starts withdrawals with update-with-start, delivers OTPs as
updates, reads state from the workflow while it runs and from the database once it is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    WorkflowUpdateStage,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from withdraw_service.api.state_reader import Presence, StateReader
from withdraw_service.domain import errors
from withdraw_service.domain.outcomes import (
    OTP_WINDOW_ENDINGS,
    REFUSED_AT_INITIATION,
    OtpVerdict,
    ProblemCode,
)
from withdraw_service.domain.policies import DwSettlement, RetryPolicies
from withdraw_service.domain.statuses import RECEIPT, WithdrawStatus
from withdraw_service.domain.withdrawal import WithdrawState
from withdraw_service.logs import bind_log_context
from withdraw_service.persistence.idempotency import (
    IdempotencyRepository,
    KeyReusedForAnotherRequest,
)
from withdraw_service.persistence.repository import WithdrawalRepository
from withdraw_service.workflows.models import (
    CORRELATION_ID,
    USER_ID,
    WITHDRAW_STATUS,
    WORKFLOW_ID_PREFIX,
    OtpResult,
    OtpSubmission,
    WithdrawInput,
)
from withdraw_service.workflows.withdraw import WithdrawWorkflow


@dataclass(frozen=True)
class Answer:
    """A withdrawal's state, and whether it settled within the API's wait (200) or not (202)."""

    state: WithdrawState
    settled: bool


@dataclass(frozen=True)
class GatewayConfig:
    task_queue: str
    wait_seconds: float
    otp_timeout_seconds: int
    otp_max_attempts: int
    execution_timeout: timedelta
    policies: RetryPolicies
    dw_settlement: DwSettlement = field(default_factory=DwSettlement)


class WithdrawGateway:
    def __init__(
        self,
        client: Client,
        repository: WithdrawalRepository,
        keys: IdempotencyRepository,
        config: GatewayConfig,
    ) -> None:
        self._client = client
        self._repository = repository
        self._keys = keys
        self._config = config
        self._reader = StateReader(client, repository)

    async def initiate(
        self,
        user_id: str,
        amount: Decimal,
        product_number: str,
        frontend_sima_ready: bool,
        idempotency_key: str | None = None,
    ) -> Answer:
        workflow_id = f"{WORKFLOW_ID_PREFIX}{uuid.uuid4()}"
        correlation_id = str(uuid.uuid4())
        if idempotency_key is not None:
            fingerprint = request_fingerprint(amount, product_number, frontend_sima_ready)
            try:
                keyed = await asyncio.to_thread(
                    self._keys.claim,
                    user_id,
                    idempotency_key,
                    fingerprint,
                    workflow_id,
                    correlation_id,
                )
            except KeyReusedForAnotherRequest:
                raise errors.IdempotencyKeyReused(
                    "this Idempotency-Key was used with a different request"
                ) from None
            workflow_id, correlation_id = keyed.workflow_id, keyed.correlation_id
            if not keyed.first_use:
                # Recorded past its start: answered from the database, and no run is started
                # again, whatever Temporal still retains of the first one.
                stored = await self._reader.stored(workflow_id)
                if stored is not None and stored.status != WithdrawStatus.INITIATED:
                    bind_log_context(workflow_id=workflow_id, correlation_id=correlation_id)
                    return Answer(stored, True)
        bind_log_context(workflow_id=workflow_id, correlation_id=correlation_id)
        request = WithdrawInput(
            correlation_id=correlation_id,
            user_id=user_id,
            amount=amount,
            product_number=product_number,
            frontend_sima_ready=frontend_sima_ready,
            otp_timeout_seconds=self._config.otp_timeout_seconds,
            otp_max_attempts=self._config.otp_max_attempts,
            policies=self._config.policies,
            dw_settlement=self._config.dw_settlement,
        )
        start = WithStartWorkflowOperation(
            WithdrawWorkflow.run,
            request,
            id=workflow_id,
            task_queue=self._config.task_queue,
            # A repeated Idempotency-Key finds its running workflow, or (closed) is refused a
            # second run: either way nothing new starts.
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            execution_timeout=self._config.execution_timeout,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(CORRELATION_ID, correlation_id),
                    SearchAttributePair(USER_ID, user_id),
                    SearchAttributePair(WITHDRAW_STATUS, WithdrawStatus.INITIATED.value),
                ]
            ),
        )

        async def started_and_initiated() -> WithdrawState:
            handle = await self._client.start_update_with_start_workflow(
                "initiate",
                start_workflow_operation=start,
                wait_for_stage=WorkflowUpdateStage.ACCEPTED,
                result_type=WithdrawState,
            )
            state: WithdrawState = await handle.result()
            return state

        try:
            state = await asyncio.wait_for(started_and_initiated(), self._config.wait_seconds)
        except WorkflowAlreadyStartedError:
            with contextlib.suppress(Exception):  # the start half failed the same way; read it
                await start.workflow_handle()
            state = await self.status(workflow_id, user_id)  # its key's withdrawal has ended
            return Answer(state, True)
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            return Answer(await self._state_or_placeholder(request, workflow_id), False)
        return Answer(state, True)

    async def finalize(
        self,
        workflow_id: str,
        user_id: str,
        otp_code: str,
        sima_stan: str | None,
        idempotency_key: str | None = None,
    ) -> Answer:
        """Deliver the OTP. With an Idempotency-Key, a repeat gets the first final answer, and
        the OTP is never submitted twice: a repeat whose first request got through (or whose
        withdrawal moved on otherwise) answers from the state as it is."""
        if idempotency_key is None:
            return await self._finalize(workflow_id, user_id, otp_code, sima_stan)
        await self._reader.check_owner(workflow_id, user_id)  # 404 before the key is bound
        try:
            claimed = await asyncio.to_thread(
                self._keys.claim_finalize, user_id, idempotency_key, workflow_id
            )
        except KeyReusedForAnotherRequest:
            raise errors.IdempotencyKeyReused(
                "this Idempotency-Key was used to finalize another withdrawal"
            ) from None
        if claimed.answer is not None:
            return _replayed(claimed.answer)
        if not claimed.first_use:
            state = await self.status(workflow_id, user_id)
            if state.status != WithdrawStatus.AWAITING_OTP:
                return await self._answer_without_submitting(state)
            # The first request never got its code in (or it was judged wrong and its answer
            # was lost): submitted now, but only the first request's answer is ever kept.
            return await self._finalize(workflow_id, user_id, otp_code, sima_stan)
        try:
            answer = await self._finalize(workflow_id, user_id, otp_code, sima_stan)
        except errors.TemporarilyUnavailable:
            raise  # not final: a repeat tries again
        except errors.WithdrawError as exc:
            await self._record(user_id, idempotency_key, _refusal_record(exc))
            raise
        if answer.settled:
            await self._record(user_id, idempotency_key, _state_record(answer))
        return answer

    async def _answer_without_submitting(self, state: WithdrawState) -> Answer:
        if state.status in OTP_WINDOW_ENDINGS:
            raise errors.OtpExpired("the OTP window is over or its attempts are used up")
        if state.status == WithdrawStatus.CANCELLED or state.status in REFUSED_AT_INITIATION:
            raise errors.InvalidState("the withdrawal ended without taking an OTP")
        return Answer(state, state.is_terminal)

    async def _record(self, user_id: str, key: str, answer: dict[str, Any]) -> None:
        # Lost: a repeat then answers from the state instead.
        with contextlib.suppress(DBAPIError, PoolTimeoutError):
            await asyncio.to_thread(self._keys.record_finalize, user_id, key, answer)

    async def _finalize(
        self, workflow_id: str, user_id: str, otp_code: str, sima_stan: str | None
    ) -> Answer:
        await self._reader.check_owner(workflow_id, user_id)  # 404 unless it is the caller's
        deadline = time.monotonic() + self._config.wait_seconds
        handle = self._client.get_workflow_handle(workflow_id, result_type=WithdrawState)
        try:
            result: OtpResult = await asyncio.wait_for(
                handle.execute_update(
                    "submitOtp",
                    OtpSubmission(otp_code=otp_code, sima_stan=sima_stan, until_receipt=True),
                    result_type=OtpResult,
                ),
                self._config.wait_seconds,
            )
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            return Answer(await self.status(workflow_id, user_id), False)
        except WorkflowUpdateFailedError as exc:
            if not _refused_by_validator(exc):
                # Taken, then the update failed while it waited for the receipt (the run was
                # terminated or timed out): what happened is the state, not a refusal.
                state = await self.status(workflow_id, user_id)
                if state.status != WithdrawStatus.AWAITING_OTP:
                    return Answer(state, state.is_terminal or state.status in RECEIPT)
            raise await self._otp_refusal(workflow_id, user_id, _update_refusal(exc)) from None
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            ended = errors.InvalidState("the withdrawal has already ended")
            raise await self._otp_refusal(workflow_id, user_id, ended) from None
        if result.verdict == OtpVerdict.INVALID:
            raise errors.OtpInvalid("wrong OTP", attemptsRemaining=result.attempts_remaining)
        if result.verdict == OtpVerdict.EXPIRED:
            # The bank refused this code and the OTP is over (the last attempt spent, or the
            # bank's own count or window ran out): a refused code, counted as a wrong one.
            raise errors.OtpAttemptsUsedUp("the OTP window is over or its attempts are used up")
        if result.receipt:
            return Answer(result.state, True)
        try:  # a worker from before `until_receipt`: the receipt is a second update
            state = await asyncio.wait_for(
                self._receipt(handle), max(0.0, deadline - time.monotonic())
            )
        except Exception:  # the OTP is taken: whatever happens now, answer the state as it is
            state = await self.status(workflow_id, user_id)
            return Answer(state, state.is_terminal or state.status in RECEIPT)
        return Answer(state, True)

    @staticmethod
    async def _receipt(handle: WorkflowHandle[Any, WithdrawState]) -> WithdrawState:
        """The state once it is a receipt (COMPLETED, DW_REDEMPTION_PENDING) or has ended."""
        try:
            state: WithdrawState = await handle.execute_update(
                "awaitReceipt", result_type=WithdrawState
            )
            return state
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            return await handle.result()  # it has already ended

    async def cancel(self, workflow_id: str, user_id: str) -> Answer:
        """Cancel a withdrawal awaiting its OTP; INVALID_STATE for any other status. Not
        settled within the wait (no worker answering yet): the state as it stands, for a 202."""
        await self.status(workflow_id, user_id)
        handle = self._client.get_workflow_handle(workflow_id)
        try:
            state: WithdrawState = await asyncio.wait_for(
                handle.execute_update("cancel", result_type=WithdrawState),
                self._config.wait_seconds,
            )
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            return Answer(await self.status(workflow_id, user_id), False)
        except WorkflowUpdateFailedError as exc:
            raise _update_refusal(exc) from None
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise errors.InvalidState("the withdrawal has already ended") from None
            raise
        return Answer(state, True)

    async def status(self, workflow_id: str, user_id: str | None) -> WithdrawState:
        """The current state; NotFound unless it exists and (if given) belongs to `user_id`."""
        return await self._reader.status(workflow_id, user_id)

    async def _otp_refusal(
        self, workflow_id: str, user_id: str, default: errors.WithdrawError
    ) -> errors.WithdrawError:
        """An OTP the withdrawal would not take: 410 when its OTP window is what ended it."""
        state = await self.status(workflow_id, user_id)
        if state.status in OTP_WINDOW_ENDINGS:
            return errors.OtpExpired("the OTP window is over or its attempts are used up")
        return default

    async def _state_or_placeholder(
        self, request: WithdrawInput, workflow_id: str
    ) -> WithdrawState:
        """What is known of a withdrawal that did not settle within the wait (for a 202).
        One Temporal says it never started is a 503 (repeat the request); one it could not be
        asked about is answered with its id, since its start may well have gone through."""
        look = await self._reader.live(workflow_id)
        state = look.state or await self._reader.stored(workflow_id)
        if state is not None:
            return state
        if look.presence == Presence.ABSENT:  # it was not started: nothing to poll
            raise errors.TemporarilyUnavailable(
                "the withdrawal could not be started yet; repeat the request "
                "(with the same Idempotency-Key)"
            )
        now = datetime.now(UTC)
        return WithdrawState(
            workflow_id=workflow_id,
            correlation_id=request.correlation_id,
            user_id=request.user_id,
            status=WithdrawStatus.INITIATED,
            amount=request.amount,
            product_number=request.product_number,
            created_at=now,
            updated_at=now,
        )


def _state_record(answer: Answer) -> dict[str, Any]:
    return {"state": answer.state.model_dump(mode="json"), "settled": answer.settled}


def _refusal_record(exc: errors.WithdrawError) -> dict[str, Any]:
    return {"code": exc.code.value, "message": exc.message, "extra": exc.extra}


def _replayed(record: dict[str, Any]) -> Answer:
    """The first request's final answer again: its state, or its refusal raised anew."""
    if "state" in record:
        return Answer(WithdrawState.model_validate(record["state"]), bool(record["settled"]))
    error = errors.BY_CODE[ProblemCode(record["code"])](record["message"], **record["extra"])
    error.replayed = True  # nothing was submitted again: the abuse limits count nothing
    raise error


def _refused_by_validator(exc: WorkflowUpdateFailedError) -> bool:
    """The workflow's validator refused the update (its type is one of our problem codes),
    as opposed to an accepted update that failed later."""
    cause = exc.cause
    return isinstance(cause, ApplicationError) and cause.type in {c.value for c in ProblemCode}


def _update_refusal(exc: WorkflowUpdateFailedError) -> errors.WithdrawError:
    """An update the workflow's validator refused: its type is the problem code to answer."""
    cause = exc.cause
    if isinstance(cause, ApplicationError):
        try:
            return errors.BY_CODE[ProblemCode(cause.type or "")](cause.message)
        except (ValueError, KeyError):
            pass
    return errors.InvalidState("the withdrawal cannot take an OTP now")


def request_fingerprint(amount: Decimal, product_number: str, frontend_sima_ready: bool) -> str:
    """What an Idempotency-Key promises: the same amount, product and flag."""
    canonical = json.dumps(
        {"amount": f"{amount:.2f}", "productNumber": product_number, "sima": frontend_sima_ready},
        sort_keys=True,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
