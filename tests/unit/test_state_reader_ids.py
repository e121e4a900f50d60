"""Only the ids the API hands out (`WITHDRAW-<uuid>`) are looked up: anything else is 404
before Temporal or the database is asked. A compensation child's id
(`WITHDRAW-<uuid>-compensation`) once reached Temporal's query and answered a 500."""

from __future__ import annotations

import uuid

import pytest

from withdraw_service.api.state_reader import StateReader
from withdraw_service.domain.errors import WithdrawalNotFound

WITHDRAWAL = f"WITHDRAW-{uuid.uuid4()}"


class Untouchable:
    """Any use of Temporal or the database fails the test."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"looked up {name} for an id the API never hands out")


@pytest.mark.parametrize(
    "workflow_id",
    [
        f"{WITHDRAWAL}-compensation",
        WITHDRAWAL.upper(),
        WITHDRAWAL[:-1],
        f"{WITHDRAWAL}\n",
        "WITHDRAW-",
        "WITHDRAW-reconciliation",
        "withdraw-reconcile-2026-11-30",
        WITHDRAWAL.removeprefix("WITHDRAW-"),
    ],
)
async def test_ids_the_api_never_hands_out_are_unknown(workflow_id: str) -> None:
    reader = StateReader(Untouchable(), Untouchable())  # type: ignore[arg-type]
    with pytest.raises(WithdrawalNotFound):
        await reader.status(workflow_id, "user-1001")
    with pytest.raises(WithdrawalNotFound):
        await reader.check_owner(workflow_id, "user-1001")
