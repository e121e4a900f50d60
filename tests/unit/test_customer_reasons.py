"""Customers read a fixed sentence per failure code, never what an upstream said; operators
keep the recorded reason."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from withdraw_service.domain.outcomes import FailureCode
from withdraw_service.domain.reasons import CUSTOMER_REASONS, for_customer
from withdraw_service.domain.statuses import WithdrawStatus
from withdraw_service.domain.withdrawal import WithdrawState

RAW = "bank said: ORA-00942 table or view does not exist at 10.0.3.7 (acct 4111111111111111)"


def state(code: FailureCode | None, reason: str | None) -> WithdrawState:
    now = datetime(2026, 11, 30, tzinfo=UTC)
    return WithdrawState(
        workflow_id="WITHDRAW-00000000-0000-0000-0000-000000000001",
        correlation_id="c-1",
        user_id="user-1001",
        status=WithdrawStatus.COMPENSATED if code else WithdrawStatus.AWAITING_OTP,
        amount=Decimal("10.00"),
        product_number="P-1",
        failure_code=code,
        failure_reason=reason,
        created_at=now,
        updated_at=now,
    )


def test_every_failure_code_has_a_sentence_for_customers() -> None:
    assert set(CUSTOMER_REASONS) == set(FailureCode)
    for sentence in CUSTOMER_REASONS.values():
        assert sentence.endswith(".") and len(sentence) <= 120, sentence


@pytest.mark.parametrize("code", list(FailureCode))
def test_a_customer_never_reads_the_recorded_reason(code: FailureCode) -> None:
    seen = for_customer(state(code, RAW))
    assert seen.failure_reason == CUSTOMER_REASONS[code]
    assert seen.failure_code == code
    assert state(code, RAW).failure_reason == RAW  # the operators' copy is untouched


def test_no_failure_no_reason() -> None:
    assert for_customer(state(None, None)).failure_reason is None
    assert for_customer(state(None, "stray")).failure_reason is None
