"""Per-activity timeouts and retry policies in the seed's YAML shape (docs/configuration.md).

They travel inside the workflow's input, so a running withdrawal keeps the policies it started
with even when the file changes, and the workflow never reads a file.
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError

from withdraw_service.domain.outcomes import FailureType


class ActivityName(StrEnum):
    """Every activity's registered name (`@activity.defn(name=...)`), the seed's if it has one."""

    VALIDATE_USER = "validateUser"
    CHECK_RESTRICTIONS = "checkRestrictions"
    INITIATE_TRANSFER = "initiateTransfer"
    FINALIZE_TRANSFER = "finalizeTransfer"
    VERIFY_TRANSFER_STATUS = "verifyTransferStatus"
    GET_DW_TOKEN = "getDwToken"
    CREATE_DW_REDEMPTION = "createDwRedemption"
    SAVE_TO_DB = "saveToDb"
    ROLLBACK_TRANSFER = "rollbackTransfer"
    OPEN_OPERATOR_TASK = "openOperatorTask"
    NOTIFY_CUSTOMER = "notifyCustomer"
    MARK_COMPENSATED = "markCompensated"
    VERIFY_DW_REDEMPTION = "verifyDwRedemption"


# Activities that the seed's file does not name run with the policy of the step named here.
POLICY_OF = {
    ActivityName.OPEN_OPERATOR_TASK: ActivityName.SAVE_TO_DB,
    ActivityName.NOTIFY_CUSTOMER: ActivityName.SAVE_TO_DB,
    ActivityName.MARK_COMPENSATED: ActivityName.SAVE_TO_DB,
    # A status read like the Transfer Checker's; retried at the settlement interval instead.
    ActivityName.VERIFY_DW_REDEMPTION: ActivityName.VERIFY_TRANSFER_STATUS,
}
# Failures that are never retried, whatever a policy says: the money rule depends on it. A
# finalize whose outcome is unknown is looked up at the Transfer Checker, never sent blindly
# again. The shipped file lists them (start-up refuses one that does not); the workflow adds
# them anyway, for withdrawals whose policies (carried in their input) predate the listing.
NEVER_RETRIED: dict[ActivityName, frozenset[str]] = {
    ActivityName.FINALIZE_TRANSFER: frozenset({FailureType.TRANSFER_OUTCOME_UNKNOWN.value}),
    # Not sent is evidence only on the attempt that had no attempt before it (the workflow
    # reads the attempt): a retry would bury it under the next attempt's answer.
    ActivityName.CREATE_DW_REDEMPTION: frozenset({FailureType.DW_NOT_SENT.value}),
}

# The activities the policy file names: exactly these, no more.
ACTIVITY_NAMES = tuple(name.value for name in ActivityName if name not in POLICY_OF)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_TIMEDELTA = TypeAdapter(timedelta)


def parse_duration(value: Any) -> timedelta:
    """`10s`, `2m`, `500ms`, `1h`, a number of seconds, or a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
        try:  # ISO 8601 ("PT30S"): how a timedelta comes back from JSON, e.g. workflow input
            return _TIMEDELTA.validate_python(value)
        except ValidationError:
            pass
    raise ValueError(f"not a duration: {value!r} (use e.g. 10s, 2m, 500ms)")


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class RetryPolicySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    initial_interval: Duration = Field(default=timedelta(seconds=1), alias="initialInterval")
    backoff_coefficient: float = Field(default=2.0, ge=1.0, alias="backoffCoefficient")
    maximum_interval: Duration | None = Field(default=None, alias="maximumInterval")
    maximum_attempts: int = Field(default=1, ge=0, alias="maximumAttempts")
    non_retryable_error_types: tuple[str, ...] = Field(default=(), alias="nonRetryableErrorTypes")


class ActivityPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    start_to_close_timeout: Duration = Field(alias="startToCloseTimeout")
    retry_policy: RetryPolicySpec = Field(default_factory=RetryPolicySpec, alias="retryPolicy")


class TransferVerification(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    interval: Duration = timedelta(seconds=30)
    max_attempts: int = Field(default=10, ge=1, alias="maxAttempts")


class DwSettlement(BaseModel):
    """How a redemption DriveWealth accepted but has not settled is followed
    (`WITHDRAW_DW_SETTLEMENT_INTERVAL_SECONDS` / `_MAX_SECONDS`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    interval: Duration = timedelta(seconds=60)
    max: Duration = timedelta(seconds=432000)  # 5 days


class RetryPolicies(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    activities: dict[str, ActivityPolicy]
    transfer_verification: TransferVerification = Field(
        default_factory=TransferVerification, alias="transferVerification"
    )

    def model_post_init(self, __context: Any) -> None:
        missing = [name for name in ACTIVITY_NAMES if name not in self.activities]
        unknown = [name for name in self.activities if name not in ACTIVITY_NAMES]
        if missing or unknown:
            raise ValueError(f"retry policies: missing {missing}, unknown {unknown}")

    def of(self, activity_name: str) -> ActivityPolicy:
        """The policy an activity runs with: its own, or that of the step it borrows from."""
        name = ActivityName(activity_name)
        return self.activities[POLICY_OF.get(name, name).value]
