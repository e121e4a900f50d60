"""`withdraw-service setup-temporal` against the real dev server, in namespaces of its own (a
cluster without the dev server's flags): before it, the server refuses a withdrawal's start
(unknown search attributes); after it, the start is taken; a second run changes nothing; a
name taken with another type, or check-only on a namespace that is not there, is refused
with what to do."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner, Result

from withdraw_service.cli import app
from withdraw_service.temporal_setup import ensure_namespace
from withdraw_service.workflows.models import (
    CORRELATION_ID,
    USER_ID,
    WITHDRAW_STATUS,
    WORKFLOW_NAME,
)

pytestmark = pytest.mark.integration


async def _setup(env: WorkflowEnvironment, namespace: str, *extra: str) -> Result:
    """The command as an operator runs it (it runs its own event loop: in a thread here)."""
    address = env.client.service_client.config.target_host
    return await asyncio.to_thread(
        CliRunner().invoke,
        app,
        ["setup-temporal", "--temporal-address", address, "--temporal-namespace", namespace,
         *extra],
    )  # fmt: skip


async def _start_a_withdrawal(env: WorkflowEnvironment, namespace: str) -> None:
    address = env.client.service_client.config.target_host
    client = await Client.connect(address, namespace=namespace)
    attributes = TypedSearchAttributes(
        [
            SearchAttributePair(CORRELATION_ID, "c-1"),
            SearchAttributePair(USER_ID, "u-1"),
            SearchAttributePair(WITHDRAW_STATUS, "NEW"),
        ]
    )
    handle = await client.start_workflow(
        WORKFLOW_NAME,
        id=f"WITHDRAW-{uuid.uuid4()}",
        task_queue="no-worker-polls-this",
        search_attributes=attributes,
    )
    await handle.terminate("only the start was tried")


async def test_a_new_namespace_is_made_ready_for_withdrawals(
    dev_server: WorkflowEnvironment,
) -> None:
    namespace = f"setup-{uuid.uuid4().hex[:10]}"
    first = await _setup(dev_server, namespace)
    assert first.exit_code == 0, first.output
    assert f"namespace {namespace}: created (retention 30 days)" in first.output
    for name in ("CorrelationId", "UserId", "WithdrawStatus"):
        assert f"search attribute {name}: added" in first.output
    await _start_a_withdrawal(dev_server, namespace)

    again = await _setup(dev_server, namespace)
    assert again.exit_code == 0, again.output
    assert "added" not in again.output and "created" not in again.output
    assert again.output.count(": exists") == 4
    checked = await _setup(dev_server, namespace, "--check-only")
    assert checked.exit_code == 0, checked.output


async def test_without_setup_the_server_refuses_a_withdrawals_start(
    dev_server: WorkflowEnvironment,
) -> None:
    namespace = f"bare-{uuid.uuid4().hex[:10]}"

    await ensure_namespace(dev_server.client, namespace, timedelta(days=1), create=True)
    refusals = []
    for _ in range(30):  # a namespace just registered reaches every server part soon
        try:
            await _start_a_withdrawal(dev_server, namespace)
            raise AssertionError("a start with unregistered search attributes was taken")
        except RPCError as refused:
            refusals.append(str(refused))
            if "search attribute" in str(refused).lower():
                break
        await asyncio.sleep(1.0)
    assert "search attribute" in refusals[-1].lower(), refusals
    checked = await _setup(dev_server, namespace, "--check-only")
    assert checked.exit_code == 1
    assert "search attributes missing" in checked.output


async def test_what_cannot_be_made_ready_is_refused_with_the_reason(
    dev_server: WorkflowEnvironment,
) -> None:
    absent = f"absent-{uuid.uuid4().hex[:10]}"
    checked = await _setup(dev_server, absent, "--check-only")
    assert checked.exit_code == 1
    assert f"namespace {absent} does not exist" in checked.output

    taken = f"taken-{uuid.uuid4().hex[:10]}"

    await ensure_namespace(dev_server.client, taken, timedelta(days=1), create=True)
    as_text = AddSearchAttributesRequest(
        namespace=taken, search_attributes={"UserId": IndexedValueType.INDEXED_VALUE_TYPE_TEXT}
    )
    for attempt in range(30):  # a namespace just registered reaches every server part soon
        try:
            await dev_server.client.operator_service.add_search_attributes(as_text)
            break
        except RPCError:
            if attempt == 29:
                raise
            await asyncio.sleep(1.0)
    refused = await _setup(dev_server, taken)
    assert refused.exit_code == 1
    assert "UserId exists in" in refused.output
    assert "INDEXED_VALUE_TYPE_TEXT, not INDEXED_VALUE_TYPE_KEYWORD" in refused.output
