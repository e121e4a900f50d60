"""After the bank paid out: what the redemption's answers prove, and how a redemption
DriveWealth accepted but has not settled is followed (docs/api.md, DW_REDEMPTION_PENDING).

- Settlement: SUCCESSFUL at once completes with no look-up; PENDING is followed at the
  settlement interval until SUCCESSFUL (COMPLETED) or FAILED / REJECTED (the transfer is
  reversed: COMPENSATED); still unsettled after the maximum, an operator reviews it.
- Evidence: only DriveWealth's refusal on a first attempt, or "not sent" on a first attempt,
  allows a reversal; after an attempt that may have reached DriveWealth the same key is asked
  again, and without a clear answer nothing is reversed.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import Client

from tests.support.workflow_asserts import assert_every_transition_saved, statuses
from tests.workflow.test_compensation import PAID, SagaFakes, run_to_the_end
from withdraw_service.domain.outcomes import (
    CompensationStatus,
    DwRedemptionStatus,
    FailureCode,
    FailureType,
    NotificationKind,
    TaskKind,
)
from withdraw_service.domain.policies import ActivityName as A
from withdraw_service.domain.policies import DwSettlement
from withdraw_service.domain.statuses import WithdrawStatus as S
from withdraw_service.workflows.models import WithdrawInput

PENDING = DwRedemptionStatus.PENDING
ACCEPTED = [*PAID, S.CREATING_DW_REDEMPTION]


@pytest.fixture
def settling(withdraw_input: WithdrawInput) -> WithdrawInput:
    """Looked up every minute for ten minutes (the defaults are a minute and five days)."""
    return withdraw_input.model_copy(
        update={
            "dw_settlement": DwSettlement(interval=timedelta(minutes=1), max=timedelta(minutes=10))
        }
    )


# -- settlement ----------------------------------------------------------------------------


async def test_a_redemption_settled_at_once_completes_without_a_look_up(
    client: Client, task_queue: str, settling: WithdrawInput
) -> None:
    fakes = SagaFakes()
    final = (await run_to_the_end(client, task_queue, fakes, settling)).final

    assert final.status == S.COMPLETED
    assert statuses(final) == [*ACCEPTED, S.COMPLETED]
    assert A.VERIFY_DW_REDEMPTION not in fakes.calls


async def test_a_pending_redemption_is_followed_until_it_settles(
    client: Client, task_queue: str, settling: WithdrawInput
) -> None:
    fakes = SagaFakes(
        redemption_status=PENDING,
        settlement=[PENDING, DwRedemptionStatus.STARTED, DwRedemptionStatus.SUCCESSFUL],
    )
    outcome = await run_to_the_end(client, task_queue, fakes, settling)
    final = outcome.final

    assert final.status == S.COMPLETED
    assert final.dw_redemption_id == "DWAA001001-R1"
    assert statuses(final) == [*ACCEPTED, S.DW_REDEMPTION_PENDING, S.COMPLETED]
    assert fakes.calls.count(A.VERIFY_DW_REDEMPTION) == 3
    assert A.ROLLBACK_TRANSFER not in fakes.calls and not fakes.tasks
    assert outcome.search_status == S.COMPLETED
    assert_every_transition_saved(fakes, final)


@pytest.mark.parametrize("settled", [DwRedemptionStatus.FAILED, DwRedemptionStatus.REJECTED])
async def test_a_pending_redemption_that_fails_reverses_the_transfer(
    client: Client, task_queue: str, settling: WithdrawInput, settled: DwRedemptionStatus
) -> None:
    fakes = SagaFakes(redemption_status=PENDING, settlement=[PENDING, settled])
    final = (await run_to_the_end(client, task_queue, fakes, settling)).final

    assert final.status == S.COMPENSATED
    assert final.failure_code == FailureCode.DW_REDEMPTION_FAILED
    assert settled.name in (final.failure_reason or "")
    assert statuses(final) == [
        *ACCEPTED,
        S.DW_REDEMPTION_PENDING,
        S.COMPENSATING,
        S.COMPENSATED,
    ]
    assert len(fakes.rollbacks) == 1
    assert fakes.notifications == [NotificationKind.WITHDRAW_COMPENSATED]
    assert_every_transition_saved(fakes, final)


async def test_a_redemption_never_settled_is_left_to_an_operator(
    client: Client, task_queue: str, settling: WithdrawInput
) -> None:
    """Still PENDING after the maximum: the bank transfer stands (DriveWealth may yet pay
    out), a DW_SETTLEMENT_OVERDUE task is opened; looked up about once a minute meanwhile."""
    fakes = SagaFakes(redemption_status=PENDING)
    final = (await run_to_the_end(client, task_queue, fakes, settling)).final

    assert final.status == S.MANUAL_REVIEW_REQUIRED
    assert final.failure_code == FailureCode.DW_SETTLEMENT_OVERDUE
    assert statuses(final) == [*ACCEPTED, S.DW_REDEMPTION_PENDING, S.MANUAL_REVIEW_REQUIRED]
    assert [kind for kind, _ in fakes.tasks] == [TaskKind.DW_SETTLEMENT_OVERDUE]
    assert A.ROLLBACK_TRANSFER not in fakes.calls
    assert 8 <= fakes.calls.count(A.VERIFY_DW_REDEMPTION) <= 11
    assert_every_transition_saved(fakes, final)


# -- what a failed redemption proves -------------------------------------------------------


async def test_a_token_outage_with_a_revoked_token_compensates(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """The cached token was revoked and no new one can be had: the first attempt was not
    sent, and getDwToken then fails too. Nothing can have been redeemed, so the seed's
    "Token Failed" branch reverses the transfer; no operator task."""
    fakes = SagaFakes(
        redemption_error=FailureType.DW_NOT_SENT,
        token_errors=[None, FailureType.INVALID_CREDENTIALS],
    )
    final = (await run_to_the_end(client, task_queue, fakes, withdraw_input)).final

    assert final.status == S.COMPENSATED
    assert final.failure_code == FailureCode.DW_TOKEN_FAILED
    assert final.compensation is not None
    assert final.compensation.status == CompensationStatus.SUCCEEDED
    assert fakes.calls.count(A.CREATE_DW_REDEMPTION) == 1
    assert fakes.calls.count(A.GET_DW_TOKEN) == 2
    assert len(fakes.rollbacks) == 1 and not fakes.tasks


async def test_not_sent_twice_with_a_fresh_token_compensates(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """A fresh token is had, yet DriveWealth refuses every request before reading it."""
    fakes = SagaFakes(redemption_error=FailureType.DW_NOT_SENT)
    final = (await run_to_the_end(client, task_queue, fakes, withdraw_input)).final

    assert final.status == S.COMPENSATED
    assert final.failure_code == FailureCode.DW_TOKEN_FAILED
    assert fakes.calls.count(A.CREATE_DW_REDEMPTION) == 2
    assert len(fakes.rollbacks) == 1 and not fakes.tasks


async def test_not_sent_then_redeemed_with_a_fresh_token_completes(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    fakes = SagaFakes(redemption_script=[FailureType.DW_NOT_SENT, None])
    final = (await run_to_the_end(client, task_queue, fakes, withdraw_input)).final

    assert final.status == S.COMPLETED
    assert fakes.calls.count(A.GET_DW_TOKEN) == 2
    corr = withdraw_input.correlation_id
    assert fakes.keys.count(f"{corr}:redemption") == 2  # one key, whatever the attempt
    assert A.ROLLBACK_TRANSFER not in fakes.calls


@pytest.mark.parametrize(
    "answer",
    [FailureType.DW_NOT_SENT, FailureType.INSUFFICIENT_BALANCE, FailureType.DW_OUTCOME_UNKNOWN],
    ids=["401-after-timeout", "refusal-after-timeout", "409-429-or-unknown-4xx"],
)
async def test_after_an_attempt_that_may_have_redeemed_nothing_is_reversed_on_a_guess(
    client: Client, task_queue: str, withdraw_input: WithdrawInput, answer: str
) -> None:
    """The last answer came on attempt 3: attempts 1 and 2 (timed out, say) may have
    redeemed. The same key is asked again; it still does not answer a redemption, so the
    transfer is left as it is and an operator decides."""
    fakes = SagaFakes(redemption_error=answer, redemption_attempt=3)
    fakes.redemption_script = [answer, FailureType.DW_OUTCOME_UNKNOWN]
    final = (await run_to_the_end(client, task_queue, fakes, withdraw_input)).final

    assert final.status == S.MANUAL_COMPENSATION_REQUIRED
    assert final.failure_code == FailureCode.DW_REDEMPTION_UNKNOWN
    assert fakes.calls.count(A.CREATE_DW_REDEMPTION) == 2
    assert A.ROLLBACK_TRANSFER not in fakes.calls
    assert [kind for kind, _ in fakes.tasks] == [TaskKind.COMPENSATION_FAILED]


async def test_a_refusal_after_an_uncertain_attempt_is_checked_with_the_same_key(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """Y075 on attempt 2 may only mean attempt 1 took the cash: the same key, asked again,
    answers the redemption attempt 1 made -> COMPLETED, nothing reversed."""
    fakes = SagaFakes(
        redemption_script=[FailureType.INSUFFICIENT_BALANCE, None], redemption_attempt=2
    )
    final = (await run_to_the_end(client, task_queue, fakes, withdraw_input)).final

    assert final.status == S.COMPLETED
    assert A.ROLLBACK_TRANSFER not in fakes.calls


async def test_a_refusal_on_the_first_attempt_reverses_at_once(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    fakes = SagaFakes(redemption_error=FailureType.INSUFFICIENT_BALANCE)
    final = (await run_to_the_end(client, task_queue, fakes, withdraw_input)).final

    assert final.status == S.COMPENSATED
    assert final.failure_code == FailureCode.DW_REDEMPTION_FAILED
    assert fakes.calls.count(A.CREATE_DW_REDEMPTION) == 1
