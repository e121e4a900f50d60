"""Running the real workflow on the test server against fake activities."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle

from tests.support.fake_activities import FakeActivities
from tests.support.workers import fake_worker
from withdraw_service.domain.policies import ActivityName
from withdraw_service.domain.statuses import WithdrawStatus as S
from withdraw_service.domain.withdrawal import WithdrawState
from withdraw_service.workflows.models import WithdrawInput
from withdraw_service.workflows.withdraw import WithdrawWorkflow

Handle = WorkflowHandle[WithdrawWorkflow, WithdrawState]


@asynccontextmanager
async def withdrawal(
    client: Client,
    task_queue: str,
    fakes: FakeActivities,
    request: WithdrawInput,
    *,
    initiated: bool = True,
) -> AsyncIterator[Handle]:
    """A worker with `fakes` and a started withdrawal (by default already AWAITING_OTP)."""
    async with fake_worker(client, task_queue, fakes):
        handle = await client.start_workflow(
            WithdrawWorkflow.run, request, id=f"WITHDRAW-{uuid.uuid4()}", task_queue=task_queue
        )
        if initiated:
            state = await handle.execute_update(WithdrawWorkflow.initiate)
            assert state.status == S.AWAITING_OTP
        yield handle


def with_policy(
    request: WithdrawInput,
    name: ActivityName,
    *,
    start_to_close: timedelta | None = None,
    **retry: Any,
) -> WithdrawInput:
    """The same request with one activity's policy changed: its start-to-close timeout, and
    the given fields of its retry policy (`maximum_attempts=2`, `initial_interval=...`)."""
    policy = request.policies.of(name)
    changes: dict[str, Any] = {"retry_policy": policy.retry_policy.model_copy(update=retry)}
    if start_to_close is not None:
        changes["start_to_close_timeout"] = start_to_close
    activities = {**request.policies.activities, name.value: policy.model_copy(update=changes)}
    policies = request.policies.model_copy(update={"activities": activities})
    return request.model_copy(update={"policies": policies})
