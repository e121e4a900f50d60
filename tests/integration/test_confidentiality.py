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


def _payload_encodings(node: Any, path: str = "") -> list[tuple[str, bytes]]:
    """(where, encoding) of every payload outside the search attributes."""
    found: list[tuple[str, bytes]] = []
    if hasattr(node, "DESCRIPTOR"):
        if node.DESCRIPTOR.full_name == "temporal.api.common.v1.Payload":
            return [(path, node.metadata.get("encoding", b""))]
        if node.DESCRIPTOR.full_name == "temporal.api.common.v1.SearchAttributes":
            return []
        for field, value in node.ListFields():
            where = f"{path}.{field.name}"
            if field.message_type is None:
                continue
            if isinstance(value, Message):
                found += _payload_encodings(value, where)
            else:  # a repeated field or a map of messages
                for item in value.values() if hasattr(value, "values") else value:
                    found += _payload_encodings(item, where)
    return found


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
