"""Reading a withdrawal's state for the API: from the database when Temporal's description of
the running workflow shows that the stored state is the one it holds, else from the workflow
while a worker answers, else from the database, which holds every status the workflow has shown.

Every Temporal call here has an RPC timeout, and every failure of one falls back to the
database, so a status call answers within a few seconds whether or not a worker or the server
is up. What neither source can tell is a 503 `TEMPORARILY_UNAVAILABLE`, never a 404 to the
withdrawal's owner: a workflow id the API has handed out always exists.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
)
from temporalio.service import RPCError, RPCStatusCode

from withdraw_service.domain import errors
from withdraw_service.domain.policies import ActivityName
from withdraw_service.domain.withdrawal import WithdrawState
from withdraw_service.logs import bind_log_context
from withdraw_service.persistence.repository import WithdrawalRepository
from withdraw_service.workflows.models import (
    CORRELATION_ID,
    USER_ID,
    WITHDRAW_STATUS,
    WORKFLOW_ID_PREFIX,
)
from withdraw_service.workflows.withdraw import WithdrawWorkflow

# Long enough for a worker that is up to answer a query, short enough that a status call with
# no worker (or no server) still answers within the API's wait.
RPC_TIMEOUT = timedelta(seconds=2)
# After the database failed a read of a running withdrawal, its workflow is asked instead for
# this long (a closed one can only be read from the database, and still is).
DATABASE_PAUSE_SECONDS = 10.0
SAVE_TO_DB = ActivityName.SAVE_TO_DB.value
T = TypeVar("T")
log = logging.getLogger(__name__)


class Presence(Enum):
    RUNNING = "running"  # Temporal runs it (its state is the settled one, the query's, or none)
    CLOSED = "closed"  # Temporal knows it has ended
    ABSENT = "absent"  # Temporal does not know it (never started, or past retention)
    UNKNOWN = "unknown"  # Temporal could not be asked


@dataclass(frozen=True)
class LiveLook:
    state: WithdrawState | None
    presence: Presence
    owner: str | None = None  # the UserId search attribute, when Temporal answered
    correlation_id: str | None = None  # its CorrelationId, when only described


class StateReader:
    def __init__(
        self,
        client: Client,
        repository: WithdrawalRepository,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._repository = repository
        self._monotonic = monotonic
        self._database_away_until = 0.0

    async def status(self, workflow_id: str, user_id: str | None) -> WithdrawState:
        """The current state; NotFound unless it exists and (if given) belongs to `user_id`."""
        _check_id(workflow_id)
        return await self._decide(workflow_id, user_id, await self.live(workflow_id))

    async def check_owner(self, workflow_id: str, user_id: str) -> None:
        """NotFound unless the withdrawal exists and belongs to `user_id`, as `status` decides,
        but without asking the workflow for its state when Temporal's description says it
        runs for this user (a query is a round trip through the worker; the owner is the
        `UserId` search attribute it was started with)."""
        _check_id(workflow_id)
        look = await self.live(workflow_id, query=False)
        if look.presence != Presence.RUNNING:  # ended, unknown to Temporal, or not asked
            await self._decide(workflow_id, user_id, look)
        elif look.owner is None:  # started without one: the workflow's own state decides
            await self.status(workflow_id, user_id)
        elif look.owner != user_id:
            raise errors.WithdrawalNotFound("no such withdrawal")
        else:
            bind_log_context(correlation_id=look.correlation_id)

    async def _decide(self, workflow_id: str, user_id: str | None, look: LiveLook) -> WithdrawState:
        state = look.state or await self.stored(workflow_id)
        if state is None:
            foreign = user_id is not None and look.owner is not None and look.owner != user_id
            if look.presence in (Presence.ABSENT, Presence.CLOSED) or foreign:
                raise errors.WithdrawalNotFound("no such withdrawal")
            # Started (or maybe started) but not yet saved, and no worker to ask: wait.
            raise errors.TemporarilyUnavailable("the withdrawal's state cannot be read yet")
        if user_id is not None and state.user_id != user_id:
            raise errors.WithdrawalNotFound("no such withdrawal")
        bind_log_context(correlation_id=state.correlation_id)
        return state

    async def stored(self, workflow_id: str) -> WithdrawState | None:
        try:
            return await asyncio.to_thread(self._repository.get, workflow_id)
        except (DBAPIError, PoolTimeoutError):
            raise errors.TemporarilyUnavailable("the database did not answer") from None

    async def live(self, workflow_id: str, query: bool = True) -> LiveLook:
        """The running workflow's own answer (with `query`; else only what Temporal's
        description says), or why there is none. Never raises."""
        handle = self._client.get_workflow_handle(workflow_id)
        try:
            description = await _bounded(handle.describe(rpc_timeout=RPC_TIMEOUT))
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return LiveLook(None, Presence.ABSENT)
            return LiveLook(None, Presence.UNKNOWN)
        except Exception:  # a closed connection, a codec error: not an answer
            return LiveLook(None, Presence.UNKNOWN)
        owner = description.typed_search_attributes.get(USER_ID)
        if description.raw_description.workflow_execution_info.status != (
            WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING
        ):
            return LiveLook(None, Presence.CLOSED, owner)
        if not query:
            correlation_id = description.typed_search_attributes.get(CORRELATION_ID)
            return LiveLook(None, Presence.RUNNING, owner, correlation_id)
        settled = await self._settled(workflow_id, description)
        if settled is not None:
            return LiveLook(settled, Presence.RUNNING, owner)
        try:
            state: WithdrawState = await _bounded(
                handle.query(WithdrawWorkflow.get_state, rpc_timeout=RPC_TIMEOUT)
            )
        except (RPCError, WorkflowQueryFailedError, WorkflowQueryRejectedError, TimeoutError):
            return LiveLook(None, Presence.RUNNING, owner)
        return LiveLook(state, Presence.RUNNING, owner)

    async def _settled(
        self, workflow_id: str, description: WorkflowExecutionDescription
    ) -> WithdrawState | None:
        """The stored state when it is exactly what the running workflow's query would answer,
        so no worker is asked (a query of a withdrawal evicted from the worker's cache replays
        its whole history); None when that is not certain (docs/architecture.md, Persistence).

        Every state change is saved before the workflow adopts it and sets `WithdrawStatus`,
        in the same workflow task, so the stored state may be ahead of the workflow's, never
        behind. It is taken only when no workflow task is pending (none is about to adopt a
        save), no `saveToDb` waits on the server (a retried task's save that could not run in
        the worker), the save that wrote it is older than what `describe` saw (not from a task
        started since), and its status is the attribute's (a lost task's save that its retry
        did not replace has another status: no workflow task leaves a status and comes back
        to it). The first task's save of `INITIATED`, made again by any retry of that task,
        replaces a lost one's."""
        shown = description.typed_search_attributes.get(WITHDRAW_STATUS)
        raw = description.raw_description
        if (
            shown is None
            or raw.HasField("pending_workflow_task")
            or any(a.activity_type.name == SAVE_TO_DB for a in raw.pending_activities)
            or self._monotonic() < self._database_away_until
        ):
            return None
        try:
            found = await asyncio.to_thread(self._repository.snapshot, workflow_id)
        except (DBAPIError, PoolTimeoutError):
            # The query may still answer. Not tried again for a pause: each attempt could wait
            # for a connect or statement timeout before the query, call after call.
            self._database_away_until = self._monotonic() + DATABASE_PAUSE_SECONDS
            return None
        except ValueError as exc:  # a status this code does not know (a newer worker's)
            log.warning("stored state of %s not read (%s): asking the workflow", workflow_id, exc)
            return None
        if found is None:
            return None
        state, version = found
        if state.status.value != shown or version >= raw.workflow_execution_info.history_length:
            return None
        return state


# The ids the API hands out, exactly: anything else (a compensation child's
# `WITHDRAW-<uuid>-compensation`, a schedule's run) is no withdrawal.
WITHDRAWAL_ID = re.compile(
    re.escape(WORKFLOW_ID_PREFIX) + r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)


def _check_id(workflow_id: str) -> None:
    if not WITHDRAWAL_ID.fullmatch(workflow_id):
        raise errors.WithdrawalNotFound("no such withdrawal")


async def _bounded(call: Awaitable[T]) -> T:
    """The RPC timeout, enforced here too: a connection that never answers must not hang."""
    return await asyncio.wait_for(call, RPC_TIMEOUT.total_seconds() + 1)
