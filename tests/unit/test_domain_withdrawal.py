"""The withdrawal state on the wire (camelCase) and the statuses that end a withdrawal."""

from __future__ import annotations

from decimal import Decimal

from tests.unit.conftest import MakeState
from withdraw_service.domain import errors
from withdraw_service.domain.outcomes import CompensationStatus
from withdraw_service.domain.statuses import IN_FLIGHT, TERMINAL, WithdrawStatus
from withdraw_service.domain.withdrawal import CompensationInfo, WithdrawState

CONTRACT_FIELDS = {
    "workflowId",
    "correlationId",
    "userId",
    "status",
    "amount",
    "currency",
    "productNumber",
    "authorisationId",
    "otpExpiresAt",
    "transferReferenceNumber",
    "dwRedemptionId",
    "failureCode",
    "failureReason",
    "compensation",
    "history",
    "createdAt",
    "updatedAt",
}


def test_statuses_split_into_the_contracts_in_flight_and_terminal_sets() -> None:
    assert {s.value for s in IN_FLIGHT} == {
        "INITIATED",
        "AWAITING_OTP",
        "FINALIZING_TRANSFER",
        "VERIFYING_TRANSFER",
        "TRANSFER_COMPLETED",
        "CREATING_DW_REDEMPTION",
        "DW_REDEMPTION_PENDING",
        "COMPENSATING",
    }
    assert {s.value for s in TERMINAL} == {
        "COMPLETED",
        "USER_INVALID",
        "WITHDRAW_RESTRICTED",
        "INITIATION_FAILED",
        "OTP_TIMEOUT",
        "OTP_REJECTED",
        "CANCELLED",
        "TRANSFER_REJECTED",
        "TRANSFER_FAILED",
        "COMPENSATED",
        "MANUAL_COMPENSATION_REQUIRED",
        "MANUAL_REVIEW_REQUIRED",
    }
    assert not IN_FLIGHT & TERMINAL
    assert WithdrawStatus.COMPLETED.is_terminal
    assert not WithdrawStatus.AWAITING_OTP.is_terminal


def test_state_is_dumped_with_exactly_the_contract_fields_in_camel_case(
    make_state: MakeState,
) -> None:
    state = make_state(
        statuses=[WithdrawStatus.INITIATED, WithdrawStatus.AWAITING_OTP],
        compensation=CompensationInfo(
            status=CompensationStatus.FAILED, attempts=2, task_id="task-1"
        ),
    )
    wire = state.model_dump(mode="json", by_alias=True)
    assert set(wire) == CONTRACT_FIELDS
    assert wire["amount"] == "150.00"
    assert wire["currency"] == "USD"
    assert wire["status"] == "AWAITING_OTP"
    assert wire["compensation"] == {"status": "FAILED", "attempts": 2, "taskId": "task-1"}
    assert [h["status"] for h in wire["history"]] == ["INITIATED", "AWAITING_OTP"]
    assert wire["createdAt"].startswith("2026-01-05T09:30:00")


def test_state_reads_back_from_camel_case_and_from_snake_case(make_state: MakeState) -> None:
    state = make_state(authorisation_id="auth-1")
    camel = WithdrawState.model_validate(state.model_dump(mode="json", by_alias=True))
    snake = WithdrawState.model_validate(state.model_dump(mode="json"))
    assert camel == state
    assert snake == state
    assert camel.amount == Decimal("150.00")
    assert camel.is_terminal is False


def test_every_domain_error_carries_a_contract_code_and_its_extra_fields() -> None:
    error = errors.OtpInvalid("wrong OTP", attemptsRemaining=2)
    assert isinstance(error, errors.WithdrawError)
    assert (error.code, error.message, error.extra) == (
        "OTP_INVALID",
        "wrong OTP",
        {"attemptsRemaining": 2},
    )
    codes = {cls.code for cls in errors.WithdrawError.__subclasses__()}
    assert codes == {
        "VALIDATION_ERROR",
        "UNAUTHENTICATED",
        "FORBIDDEN",
        "NOT_FOUND",
        "IDEMPOTENCY_KEY_REUSED",
        "INVALID_STATE",
        "OTP_INVALID",
        "OTP_EXPIRED",
        "USER_INVALID",
        "WITHDRAW_RESTRICTED",
        "INSUFFICIENT_FUNDS",
        "UPSTREAM_UNAVAILABLE",
        "TEMPORARILY_UNAVAILABLE",
        "WITHDRAWAL_FAILED",
        "RATE_LIMITED",
    }
