"""The workflow tier: the real WithdrawWorkflow on Temporal's time-skipping test server, with
fake activities. A fresh task queue per test keeps tests apart.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from temporalio.client import (
    Client,
    Interceptor,
    OutboundInterceptor,
    StartWorkflowInput,
    WorkflowHandle,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from tests.support.paths import RETRY_POLICIES, TEMPORAL_TEST_SERVER
from tests.support.temporal import register_search_attributes
from withdraw_service.bootstrap import load_policies
from withdraw_service.workflows.models import WithdrawInput


@pytest.fixture(scope="session")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=str(TEMPORAL_TEST_SERVER),
    ) as environment:
        await register_search_attributes(environment.client)
        yield environment


class _StartedWorkflows(Interceptor):
    """Remembers the id of every workflow a test starts."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        started = self

        class Recording(OutboundInterceptor):
            async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
                started.ids.append(input.id)
                return await super().start_workflow(input)

        return Recording(next)


@pytest.fixture
async def client(env: WorkflowEnvironment) -> AsyncIterator[Client]:
    """The test server's client; what the test leaves running is terminated after it. The
    test server skips time only while every workflow on it waits: one left retrying an
    activity no worker will ever run (bookkeeping is retried until done) would make every
    later test's timers take real time."""
    started = _StartedWorkflows()
    config = env.client.config()
    config["interceptors"] = [*config["interceptors"], started]  # keeps time skipping
    client = Client(**config)
    yield client
    for workflow_id in started.ids:
        for leftover in (workflow_id, f"{workflow_id}-compensation"):
            with contextlib.suppress(RPCError):  # ended already, or never had a child
                await client.get_workflow_handle(leftover).terminate("test over")


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4()}"


@pytest.fixture
def withdraw_input() -> WithdrawInput:
    return WithdrawInput(
        correlation_id=str(uuid.uuid4()),
        user_id="user-1001",
        amount=Decimal("150.00"),
        product_number="ACC-1",
        policies=load_policies(RETRY_POLICIES),
    )
