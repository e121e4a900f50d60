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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowFailureError,
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

from withdraw_service.domain import errors
from withdraw_service.domain.policies import RetryPolicies
from withdraw_service.domain.statuses import WithdrawStatus
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
    OtpVerdict,
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
        self, workflow_id: str, user_id: str, otp_code: str, sima_stan: str | None
    ) -> Answer:
        await self.status(workflow_id, user_id)  # 404 unless it exists and is the caller's
        deadline = time.monotonic() + self._config.wait_seconds
        handle = self._client.get_workflow_handle(workflow_id, result_type=WithdrawState)
        try:
            result: OtpResult = await asyncio.wait_for(
                handle.execute_update(
                    "submitOtp",
                    OtpSubmission(otp_code=otp_code, sima_stan=sima_stan),
                    result_type=OtpResult,
                ),
                self._config.wait_seconds,
            )
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            return Answer(await self.status(workflow_id, user_id), False)
        except WorkflowUpdateFailedError as exc:
            raise await self._otp_refusal(workflow_id, user_id, _update_refusal(exc)) from None
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            ended = errors.InvalidState("the withdrawal has already ended")
            raise await self._otp_refusal(workflow_id, user_id, ended) from None
        if result.verdict == OtpVerdict.INVALID:
            raise errors.OtpInvalid("wrong OTP", attemptsRemaining=result.attempts_remaining)
        if result.verdict == OtpVerdict.EXPIRED:
            raise errors.OtpExpired("the OTP window is over or its attempts are used up")
        try:
            state = await asyncio.wait_for(handle.result(), max(0.0, deadline - time.monotonic()))
        except (TimeoutError, WorkflowFailureError):
            state = await self.status(workflow_id, user_id)
            return Answer(state, state.is_terminal)
        return Answer(state, True)

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
        if not workflow_id.startswith(WORKFLOW_ID_PREFIX) or len(workflow_id) > 64:
            raise errors.WithdrawalNotFound("no such withdrawal")
        try:
            state = await self._live_state(workflow_id)
        except RPCError:
            state = None  # no worker to answer the query: the database knows the last status
        if state is None:
            state = await asyncio.to_thread(self._repository.get, workflow_id)
        if state is None or (user_id is not None and state.user_id != user_id):
            raise errors.WithdrawalNotFound("no such withdrawal")
        bind_log_context(correlation_id=state.correlation_id)
        return state

    async def _otp_refusal(
        self, workflow_id: str, user_id: str, default: errors.WithdrawError
    ) -> errors.WithdrawError:
        """An OTP the withdrawal would not take: 410 when its OTP window is what ended it."""
        state = await self.status(workflow_id, user_id)
        if state.status in (WithdrawStatus.OTP_TIMEOUT, WithdrawStatus.OTP_REJECTED):
            return errors.OtpExpired("the OTP window is over or its attempts are used up")
        return default

    async def _live_state(self, workflow_id: str) -> WithdrawState | None:
        handle = self._client.get_workflow_handle(workflow_id)
        try:
            description = await handle.describe()
            if description.raw_description.workflow_execution_info.status != (
                WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING
            ):
                return None
            state: WithdrawState = await handle.query(WithdrawWorkflow.get_state)
            return state
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise

    async def _state_or_placeholder(
        self, request: WithdrawInput, workflow_id: str
    ) -> WithdrawState:
        """What is known of a withdrawal that did not settle within the wait (for a 202)."""
        try:
            state = await asyncio.wait_for(self._live_state(workflow_id), 2.0)
        except (TimeoutError, RPCError):
            state = None
        if state is None:
            state = await asyncio.to_thread(self._repository.get, workflow_id)
        if state is not None:
            return state
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


def _update_refusal(exc: WorkflowUpdateFailedError) -> errors.WithdrawError:
    cause = exc.cause
    if isinstance(cause, ApplicationError):
        if cause.type == "VALIDATION_ERROR":
            return errors.RequestValidationError(cause.message)
        if cause.type == "INVALID_STATE":
            return errors.InvalidState(cause.message)
        if cause.type == "OTP_EXPIRED":
            return errors.OtpExpired(cause.message)
    return errors.InvalidState("the withdrawal cannot take an OTP now")


def request_fingerprint(amount: Decimal, product_number: str, frontend_sima_ready: bool) -> str:
    """What an Idempotency-Key promises: the same amount, product and flag."""
    canonical = json.dumps(
        {"amount": f"{amount:.2f}", "productNumber": product_number, "sima": frontend_sima_ready},
        sort_keys=True,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
