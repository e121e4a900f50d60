"""The workflow tier: the real WithdrawWorkflow on Temporal's time-skipping test server, with
fake activities. A fresh task queue per test keeps tests apart.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
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


@pytest.fixture
def client(env: WorkflowEnvironment) -> Client:
    return env.client


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
