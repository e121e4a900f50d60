"""Fault injection: which faults exist, how they are registered, which call they hit.

A business call names its `<service>.<operation>`, the user and brokerage account it
concerns, and the modes it can honour. The first active fault that fits is taken: with
`probability` it hits by chance and stays; otherwise it hits and `times` counts down, and
it is removed at zero. Nothing here sleeps or answers: `calls.py` acts on the fault.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from withdraw_service.sim.state import Fault

SERVICE_OPERATIONS: dict[str, tuple[str, ...]] = {
    "session": ("user",),
    "flex": ("customer",),
    "transfer": ("initiate", "finalize", "reverse"),
    "transfer-checker": ("status",),
    "drivewealth": ("token", "redemption", "redemption_status", "balance"),
}
"""Every business operation of every simulated service (the ledger counts each)."""

TRANSPORT_MODES = frozenset(
    {"error_500", "timeout", "timeout_after_commit", "unauthorized_401", "latency"}
)
"""Modes every call honours: they act around the call, not on its business decision."""

KEYED_OPERATIONS = frozenset(
    {"transfer.initiate", "transfer.finalize", "transfer.reverse", "drivewealth.redemption"}
)
"""The operations that take an Idempotency-Key (and can answer 409 "in progress")."""

BUSINESS_MODES: dict[str, frozenset[str]] = {
    "reject": frozenset(
        {
            "session.user",
            "flex.customer",
            "transfer.initiate",
            "transfer.finalize",
            "transfer.reverse",
            "drivewealth.redemption",
        }
    ),
    "pending": frozenset({"transfer-checker.status"}),
    "fail": frozenset({"transfer.finalize", "transfer-checker.status"}),
    "in_progress_409": KEYED_OPERATIONS,
    "accept_pending": frozenset({"drivewealth.redemption"}),
    "fail_after_accept": frozenset({"drivewealth.redemption"}),
}
"""Modes only some operations honour (most change a business decision), and those operations."""

ServiceName = Literal["session", "flex", "transfer", "transfer-checker", "drivewealth"]
OperationName = Literal[
    "user",
    "customer",
    "initiate",
    "finalize",
    "reverse",
    "status",
    "token",
    "redemption",
    "redemption_status",
    "balance",
]
ModeName = Literal[
    "error_500",
    "timeout",
    "timeout_after_commit",
    "unauthorized_401",
    "reject",
    "pending",
    "fail",
    "latency",
    "in_progress_409",
    "accept_pending",
    "fail_after_accept",
]


def all_operations() -> list[str]:
    """Every `<service>.<operation>` key, in a stable order."""
    return [f"{service}.{op}" for service, ops in SERVICE_OPERATIONS.items() for op in ops]


class FaultMatch(BaseModel):
    """Restricts a fault to one user and/or one brokerage account (null matches any)."""

    model_config = ConfigDict(extra="forbid")

    userId: str | None = None
    accountNo: str | None = None


class FaultSpec(BaseModel):
    """The body of `POST /_sim/faults` (docs/api.md)."""

    model_config = ConfigDict(extra="forbid")

    service: ServiceName
    operation: OperationName
    mode: ModeName
    times: int | None = Field(default=1, ge=1)
    probability: float | None = Field(default=None, ge=0.0, le=1.0)
    delayMs: int | None = Field(default=None, ge=0)
    match: FaultMatch | None = None

    @model_validator(mode="after")
    def _fits_the_operation(self) -> FaultSpec:
        offered = SERVICE_OPERATIONS[self.service]
        if self.operation not in offered:
            raise ValueError(
                f"service '{self.service}' has no operation '{self.operation}' "
                f"(it offers: {', '.join(offered)})"
            )
        key = f"{self.service}.{self.operation}"
        fitting = BUSINESS_MODES.get(self.mode)
        if fitting is not None and key not in fitting:
            raise ValueError(
                f"mode '{self.mode}' does not apply to {key} "
                f"(it applies to: {', '.join(sorted(fitting))})"
            )
        if self.mode == "latency" and self.delayMs is None:
            raise ValueError("mode 'latency' needs delayMs")
        return self

    def to_fault(self) -> Fault:
        """The fault to register, with a fresh id."""
        match = self.match or FaultMatch()
        return Fault(
            id=str(uuid.uuid4()),
            service=self.service,
            operation=self.operation,
            mode=self.mode,
            times=self.times or 1,
            probability=self.probability,
            delay_ms=self.delayMs,
            match_user_id=match.userId,
            match_account_no=match.accountNo,
        )


def describe(fault: Fault) -> dict[str, object]:
    """A registered fault in the shape it was posted, with its id and what is left of it."""
    return {
        "id": fault.id,
        "service": fault.service,
        "operation": fault.operation,
        "mode": fault.mode,
        "times": fault.times,
        "probability": fault.probability,
        "delayMs": fault.delay_ms,
        "match": {"userId": fault.match_user_id, "accountNo": fault.match_account_no},
    }


@dataclass(frozen=True)
class CallTarget:
    """What a business call concerns, as far as the simulator can tell."""

    service: str
    operation: str
    user_id: str | None = None
    account_no: str | None = None

    @property
    def key(self) -> str:
        return f"{self.service}.{self.operation}"


def _matches(fault: Fault, target: CallTarget, modes: frozenset[str]) -> bool:
    return (
        fault.service == target.service
        and fault.operation == target.operation
        and fault.mode in modes
        and (fault.match_user_id is None or fault.match_user_id == target.user_id)
        and (fault.match_account_no is None or fault.match_account_no == target.account_no)
    )


def take_fault(
    faults: list[Fault], target: CallTarget, modes: frozenset[str], rng: random.Random
) -> Fault | None:
    """The fault that hits this call, if any; counts it down and drops it when used up.

    Faults whose mode the call cannot honour are skipped and left untouched.
    """
    for fault in list(faults):
        if not _matches(fault, target, modes):
            continue
        if fault.probability is not None:
            if rng.random() < fault.probability:
                return fault.model_copy()
            continue
        fault.times -= 1
        if fault.times <= 0:
            faults.remove(fault)
        return fault.model_copy()
    return None
