"""What the Temporal server keeps of a withdrawal: its raw history, read straight from the
frontend's gRPC API with no codec, holds no OTP (right or wrong), no account number, no
redemption id (it embeds the account number) and no customer name. Every payload is
ciphertext; only the search attributes (correlationId, userId, status) are readable."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.history.v1 import History
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest

from tests.integration import _paths as p
from tests.integration.conftest import Stack
from withdraw_service.codec import ENCODING
from withdraw_service.domain.statuses import WithdrawStatus


async def _raw_history(stack: Stack, workflow_id: str) -> History:
    history = History()
    token = b""
    while True:
        page = await stack.client.workflow_service.get_workflow_execution_history(
            GetWorkflowExecutionHistoryRequest(
                namespace=stack.client.namespace,
                execution=WorkflowExecution(workflow_id=workflow_id),
                next_page_token=token,
            )
        )
        history.events.extend(page.history.events)
        token = page.next_page_token
        if not token:
            return history


def _messages_of(node: Any, full_name: str, path: str = "") -> list[tuple[str, Any]]:
    """(where, message) of every protobuf message of that type inside `node`, except inside
    the search attributes (readable on purpose)."""
    found: list[tuple[str, Any]] = []
    if node.DESCRIPTOR.full_name == full_name:
        found.append((path, node))
    if node.DESCRIPTOR.full_name == "temporal.api.common.v1.SearchAttributes":
        return found
    for field, value in node.ListFields():
        if field.message_type is None:
            continue
        where = f"{path}.{field.name}"
        if isinstance(value, Message):
            found += _messages_of(value, full_name, where)
        else:  # a repeated field or a map of messages
            for item in value.values() if hasattr(value, "values") else value:
                if isinstance(item, Message):  # (a map's values may be bytes)
                    found += _messages_of(item, full_name, where)
    return found


def _payload_encodings(history: History) -> list[tuple[str, bytes]]:
    """(where, encoding) of every payload outside the search attributes and what the SDK's
    core writes itself, in the clear: the patch markers (`workflow.patched` ids) and each
    local-activity marker's `data` (activity type, sequence number, attempt, times). A local
    activity's result (and failure) is ours: it must be encrypted like every other payload."""
    copy = History()
    copy.CopyFrom(history)
    for event in copy.events:
        if event.HasField("marker_recorded_event_attributes"):
            marker = event.marker_recorded_event_attributes
            if marker.marker_name == "core_local_activity":
                assert set(marker.details) <= {"data", "result"}, set(marker.details)
                del marker.details["data"]
            else:
                assert marker.marker_name == "core_patch", marker.marker_name
                marker.ClearField("details")
    return [
        (where, payload.metadata.get("encoding", b""))
        for where, payload in _messages_of(copy, "temporal.api.common.v1.Payload")
    ]


def _failure_texts(history: History) -> list[str]:
    """The message and stack trace of every failure, as the server stores them."""
    return [
        text
        for _, failure in _messages_of(history, "temporal.api.failure.v1.Failure")
        for text in (failure.message, failure.stack_trace)
    ]


async def test_raw_history_holds_no_secret_in_the_clear(stack: Stack) -> None:
    started = await p.start(stack)
    otp = await p.otp_of(stack, started.authorisation_id)
    bad = p.wrong(otp)
    assert (await p.finalize(stack, started.workflow_id, bad)).status_code == 422
    done = await p.finalize(stack, started.workflow_id, otp)
    assert done.status_code == 200 and done.json()["data"]["status"] == "COMPLETED", done.text
    redemption_id = done.json()["data"]["dwRedemptionId"]
    assert p.DW_ACCOUNT in redemption_id  # the simulator's ids embed it, as DriveWealth's do

    history = await _raw_history(stack, started.workflow_id)
    raw = history.SerializeToString()  # payload bytes as stored, not base64
    as_json = json_format.MessageToJson(history)
    for secret in (otp, bad, p.DW_ACCOUNT, redemption_id, "Ada Lovelace"):
        assert secret.encode() not in raw, secret
        assert secret not in as_json, secret

    encodings = _payload_encodings(history)
    assert len(encodings) > 10  # inputs, results, updates: the walk did find them
    clear = [(where, enc) for where, enc in encodings if enc != ENCODING]
    assert clear == []
    # What stays readable is what operators search by.
    assert started.correlation_id.encode() in raw


async def test_failures_in_history_are_encrypted_too(stack: Stack) -> None:
    """A compensation path: DriveWealth refuses, the reversal fails twice first. Activity and
    child failures carry upstream text; the server keeps only "Encoded failure"."""
    started = await p.start(stack)
    await stack.fault("drivewealth", "redemption", "reject")
    await stack.fault("transfer", "reverse", "error_500", times=2)
    otp = await p.otp_of(stack, started.authorisation_id)
    done = await p.finalize(stack, started.workflow_id, otp)
    assert done.status_code == 422, done.text  # WITHDRAWAL_FAILED: the OTP took, no money moved
    assert done.json()["withdrawal"]["status"] == WithdrawStatus.COMPENSATED, done.text

    for workflow_id in (started.workflow_id, f"{started.workflow_id}-compensation"):
        history = await _raw_history(stack, workflow_id)
        failures = _failure_texts(history)
        assert failures, workflow_id  # the walk found the failures
        assert {text for text in failures if text} == {"Encoded failure"}, workflow_id
        raw = history.SerializeToString()
        for secret in (otp, p.DW_ACCOUNT, "refused", "Ada Lovelace"):
            assert secret.encode() not in raw, (workflow_id, secret)
        assert [w for w, enc in _payload_encodings(history) if enc != ENCODING] == []
    # The API still reads what happened (the client decodes the failures).
    state = await p.status(stack, started.workflow_id)
    assert state["failureCode"] == "DW_REDEMPTION_FAILED" and state["failureReason"]
