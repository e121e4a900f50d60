"""The seed's activities with in-memory fakes of the external services and a real SQLite
repository: what each answers, and which typed, non-retryable errors the workflow receives.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from tests.unit.conftest import MakeState
from withdraw_service.activities.models import (
    CheckRestrictionsInput,
    CreateDwRedemptionInput,
    FinalizeOutcome,
    FinalizeTransferInput,
    InitiateTransferInput,
    RollbackTransferInput,
    SaveToDbInput,
    ValidateUserInput,
    VerifyDwRedemptionInput,
    VerifyTransferStatusInput,
)
from withdraw_service.activities.withdraw import WithdrawActivities
from withdraw_service.adapters.fakes import FakeDriveWealth, FakeTransferService, FakeUserDirectory
from withdraw_service.adapters.ports import (
    Authorisation,
    DwRedemption,
    DwToken,
    SessionUser,
    TransferInitiation,
    TransferReceipt,
)
from withdraw_service.adapters.upstream import (
    UpstreamRefused,
    UpstreamUnauthorized,
    UpstreamUnavailableError,
    UpstreamUnknownOutcome,
)
from withdraw_service.domain.outcomes import FailureType
from withdraw_service.domain.policies import ACTIVITY_NAMES, ActivityName
from withdraw_service.domain.statuses import WithdrawStatus as S
from withdraw_service.persistence.operations import OperationsRepository
from withdraw_service.persistence.repository import WithdrawalRepository

USER = SessionUser("user-1001", "PIN1", "+1555", "CIF1", "DWAA001001", "acc-id-1", False)
WF_A = "WITHDRAW-aaaaaaaa-0000-0000-0000-000000000001"
WF_B = "WITHDRAW-bbbbbbbb-0000-0000-0000-000000000002"


@dataclass
class World:
    users: FakeUserDirectory
    transfers: FakeTransferService
    drivewealth: FakeDriveWealth
    repository: WithdrawalRepository
    activities: WithdrawActivities


def build(
    repository: WithdrawalRepository,
    transfers: FakeTransferService | None = None,
    drivewealth: FakeDriveWealth | None = None,
) -> World:
    users = FakeUserDirectory()
    users.add(USER, name="Ada Lovelace")
    transfers = transfers or FakeTransferService()
    if drivewealth is None:
        drivewealth = FakeDriveWealth()
        drivewealth.add_account("acc-id-1", "DWAA001001", Decimal("1000.00"))
    activities = WithdrawActivities(users, transfers, transfers, drivewealth, repository)
    return World(users, transfers, drivewealth, repository, activities)


@pytest.fixture
def world(repository: WithdrawalRepository) -> World:
    return build(repository)


def assert_business_error(error: ApplicationError, kind: str) -> None:
    assert error.type == kind
    # Not decided here: the retry-policy file lists the type (tests/unit/test_vocabulary.py).
    assert error.non_retryable is False


# -- validateUser -------------------------------------------------------------------------


async def test_a_valid_customer_answers_the_brokerage_account_id_only(world: World) -> None:
    context = await world.activities.validate_user(ValidateUserInput(user_id="user-1001"))
    assert context.dw_account_id == "acc-id-1"
    # What goes into Temporal history holds neither the account number nor the name.
    dumped = context.model_dump_json()
    assert "DWAA001001" not in dumped and "Ada" not in dumped


async def test_validate_user_runs_inside_an_activity_context(world: World) -> None:
    env = ActivityEnvironment()
    context = await env.run(world.activities.validate_user, ValidateUserInput(user_id="user-1001"))
    assert context.user_id == "user-1001"


@pytest.mark.parametrize(
    ("user", "message"),
    [
        (None, "unknown customer"),
        (SessionUser("u-2", "PIN2", "", "", "DW2", "acc-2", True), "blocked"),
        (SessionUser("u-2", "PIN2", "", "", None, None, False), "no brokerage account"),
        (SessionUser("u-2", "PIN2", "", "", "DW2", None, False), "no brokerage account"),
    ],
    ids=["unknown", "blocked", "no-account", "no-account-id"],
)
async def test_an_invalid_customer_is_a_final_user_invalid(
    world: World, user: SessionUser | None, message: str
) -> None:
    if user is not None:
        world.users.add(user)
    with pytest.raises(ApplicationError, match=message) as caught:
        await world.activities.validate_user(ValidateUserInput(user_id="u-2"))
    assert_business_error(caught.value, FailureType.USER_INVALID)


async def test_a_session_user_unknown_to_core_banking_is_user_invalid(world: World) -> None:
    world.users.users["u-3"] = SessionUser("u-3", "PIN-NOT-IN-FLEX", "", "", "DW3", "acc-3", False)
    with pytest.raises(ApplicationError) as caught:
        await world.activities.validate_user(ValidateUserInput(user_id="u-3"))
    assert_business_error(caught.value, FailureType.USER_INVALID)


# -- checkRestrictions --------------------------------------------------------------------


def restrictions(workflow_id: str, amount: str = "150.00") -> CheckRestrictionsInput:
    return CheckRestrictionsInput(
        workflow_id=workflow_id,
        user_id="user-1001",
        dw_account_id="acc-id-1",
        amount=Decimal(amount),
    )


async def test_a_second_in_flight_withdrawal_of_the_same_account_is_restricted(
    world: World, make_state: MakeState
) -> None:
    world.repository.save(make_state(WF_A))
    world.repository.save(make_state(WF_B))
    await world.activities.check_restrictions(restrictions(WF_A))
    await world.activities.check_restrictions(restrictions(WF_A))  # a retry is not a second one
    with pytest.raises(ApplicationError, match="in flight") as caught:
        await world.activities.check_restrictions(restrictions(WF_B))
    assert_business_error(caught.value, FailureType.WITHDRAW_RESTRICTED)


async def test_the_account_is_free_again_once_the_first_withdrawal_ends(
    world: World, make_state: MakeState
) -> None:
    world.repository.save(make_state(WF_A))
    world.repository.save(make_state(WF_B))
    await world.activities.check_restrictions(restrictions(WF_A))
    await world.activities.save_to_db(
        SaveToDbInput(
            state=make_state(WF_A, statuses=[S.INITIATED, S.AWAITING_OTP, S.CANCELLED]),
            dw_account_id="acc-id-1",
        )
    )
    await world.activities.check_restrictions(restrictions(WF_B))


async def test_cash_equal_to_the_amount_is_enough(world: World, make_state: MakeState) -> None:
    world.repository.save(make_state(WF_A))
    await world.activities.check_restrictions(restrictions(WF_A, "1000.00"))


async def test_cash_below_the_amount_is_insufficient_funds(
    world: World, make_state: MakeState
) -> None:
    world.repository.save(make_state(WF_A))
    with pytest.raises(ApplicationError, match="below the amount") as caught:
        await world.activities.check_restrictions(restrictions(WF_A, "1000.01"))
    assert_business_error(caught.value, FailureType.INSUFFICIENT_FUNDS)


async def test_the_cash_check_survives_an_expired_dw_token(
    world: World, make_state: MakeState
) -> None:
    world.repository.save(make_state(WF_A))
    await world.activities.get_dw_token()
    world.drivewealth.valid_tokens.clear()  # DW expired the cached token early
    await world.activities.check_restrictions(restrictions(WF_A))
    assert world.drivewealth.token_requests == 2


async def test_an_unresolved_earlier_withdrawal_restricts_the_account_until_resolved(
    world: World, make_state: MakeState
) -> None:
    unresolved = make_state(
        WF_A,
        statuses=[S.INITIATED, S.AWAITING_OTP, S.VERIFYING_TRANSFER, S.MANUAL_REVIEW_REQUIRED],
        created_at=datetime(2025, 6, 1, tzinfo=UTC),
    )
    world.repository.save(unresolved, "acc-id-1")
    operations = OperationsRepository(world.repository.engine)
    task, _ = operations.open_task(
        WF_A, unresolved.correlation_id, "TRANSFER_UNRESOLVED", Decimal("150.00"), "unknown"
    )
    world.repository.save(make_state(WF_B))
    with pytest.raises(ApplicationError) as caught:
        await world.activities.check_restrictions(restrictions(WF_B))
    assert_business_error(caught.value, FailureType.WITHDRAW_RESTRICTED)

    # An operator checked with the bank and resolved the task: the account is free again.
    operations.resolve(task.id, "ops-1", "bank confirms no debit")
    await world.activities.check_restrictions(restrictions(WF_B))


# -- initiateTransfer ---------------------------------------------------------------------


def initiation(key: str = "cid-1:initiate") -> InitiateTransferInput:
    return InitiateTransferInput(
        user_id="user-1001",
        amount=Decimal("150.00"),
        correlation_id="cid-1",
        product_number="PRD-1",
        frontend_sima_ready=False,
        idempotency_key=key,
    )


async def test_a_retried_initiation_with_the_same_key_is_one_transfer(world: World) -> None:
    first = await world.activities.initiate_transfer(initiation())
    again = await world.activities.initiate_transfer(initiation())
    assert again == first
    assert len(world.transfers.transfers) == 1


class RefusingTransfers(FakeTransferService):
    def __init__(self, code: str) -> None:
        super().__init__()
        self.code = code

    async def initiate(self, request: TransferInitiation, idempotency_key: str) -> Authorisation:
        raise UpstreamRefused("transfer", "initiate", self.code)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("INSUFFICIENT_FUNDS", FailureType.INSUFFICIENT_FUNDS),
        ("ACCOUNT_BLOCKED", FailureType.ACCOUNT_BLOCKED),
    ],
)
async def test_a_refused_initiation_is_final(
    repository: WithdrawalRepository, code: str, kind: str
) -> None:
    world = build(repository, transfers=RefusingTransfers(code))
    with pytest.raises(ApplicationError) as caught:
        await world.activities.initiate_transfer(initiation())
    assert_business_error(caught.value, kind)


# -- finalizeTransfer ---------------------------------------------------------------------


def finalize(authorisation_id: str, otp: str = "123456") -> FinalizeTransferInput:
    return FinalizeTransferInput(
        authorisation_id=authorisation_id,
        otp_code=otp,
        sima_stan=None,
        idempotency_key=f"cid-1:finalize:{otp}",
    )


async def test_the_right_otp_completes_the_transfer(world: World) -> None:
    auth = await world.activities.initiate_transfer(initiation())
    result = await world.activities.finalize_transfer(finalize(auth.authorisation_id))
    assert result.outcome == FinalizeOutcome.SUCCESS
    assert result.reference_number == auth.reference_number
    status = await world.activities.verify_transfer_status(
        VerifyTransferStatusInput(reference_number=auth.reference_number)
    )
    assert status.status == "SUCCESS"


async def test_a_wrong_otp_answers_the_attempts_remaining_and_moves_no_money(
    world: World,
) -> None:
    auth = await world.activities.initiate_transfer(initiation())
    result = await world.activities.finalize_transfer(finalize(auth.authorisation_id, "000000"))
    assert result.outcome == FinalizeOutcome.OTP_INVALID
    assert result.attempts_remaining == 2
    assert world.transfers.transfers[auth.authorisation_id].status == "INITIATED"


class ScriptedFinalize(FakeTransferService):
    def __init__(self, outcome: Exception | TransferReceipt) -> None:
        super().__init__()
        self.outcome = outcome

    async def finalize(
        self, authorisation_id: str, otp_code: str, sima_stan: str | None, idempotency_key: str
    ) -> TransferReceipt:
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


async def test_a_timed_out_finalize_is_an_unknown_outcome_never_retried_blindly(
    repository: WithdrawalRepository,
) -> None:
    world = build(repository, transfers=ScriptedFinalize(UpstreamUnknownOutcome("t", "f")))
    with pytest.raises(ApplicationError) as caught:
        await world.activities.finalize_transfer(finalize("auth-1"))
    assert_business_error(caught.value, FailureType.TRANSFER_OUTCOME_UNKNOWN)


async def test_a_later_finalize_attempt_looks_before_it_sends_again(
    repository: WithdrawalRepository,
) -> None:
    """Attempt 2 follows an attempt that may have reached the bank (its worker was killed,
    or a 5xx): it does not send; it says the outcome is unknown, so the Checker is asked."""
    scripted = ScriptedFinalize(TransferReceipt(True, "TRF1", "SUCCESS"))
    world = build(repository, transfers=scripted)
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=2)
    with pytest.raises(ApplicationError) as caught:
        await env.run(world.activities.finalize_transfer, finalize("auth-1"))
    assert_business_error(caught.value, FailureType.TRANSFER_OUTCOME_UNKNOWN)
    first = await ActivityEnvironment().run(world.activities.finalize_transfer, finalize("auth-1"))
    assert first.outcome == FinalizeOutcome.SUCCESS  # attempt 1 sends as always


@pytest.mark.parametrize(
    ("outcome", "expected", "reason"),
    [
        (
            UpstreamRefused("transfer", "finalize", "AUTHORISATION_EXPIRED"),
            FinalizeOutcome.AUTHORISATION_EXPIRED,
            None,
        ),
        (
            UpstreamRefused("transfer", "finalize", "TRANSFER_REJECTED"),
            FinalizeOutcome.REJECTED,
            "TRANSFER_REJECTED",
        ),
        (TransferReceipt(False, "TRF9", "FAILED"), FinalizeOutcome.FAILED, "FAILED"),
    ],
    ids=["expired", "rejected", "failed"],
)
async def test_other_finalize_endings_are_answers_for_the_workflow(
    repository: WithdrawalRepository,
    outcome: Exception | TransferReceipt,
    expected: FinalizeOutcome,
    reason: str | None,
) -> None:
    world = build(repository, transfers=ScriptedFinalize(outcome))
    result = await world.activities.finalize_transfer(finalize("auth-1"))
    assert result.outcome == expected
    assert result.reason == reason


# -- getDwToken and createDwRedemption ------------------------------------------------------


def redemption(key: str = "cid-1:redeem", amount: str = "150.00") -> CreateDwRedemptionInput:
    return CreateDwRedemptionInput(
        user_id="user-1001",
        dw_account_id="acc-id-1",
        amount=Decimal(amount),
        correlation_id="cid-1",
        idempotency_key=key,
    )


async def test_get_dw_token_answers_when_it_expires_never_the_token(world: World) -> None:
    before = datetime.now(UTC)
    result = await world.activities.get_dw_token()
    assert before + timedelta(seconds=3590) <= result.expires_at
    assert result.expires_at <= datetime.now(UTC) + timedelta(seconds=3600)
    recorded = result.model_dump_json()
    for token in world.drivewealth.valid_tokens:
        assert token not in recorded
    assert set(result.model_dump()) == {"expires_at"}


async def test_the_token_is_cached_across_activity_calls(world: World) -> None:
    await world.activities.get_dw_token()
    await world.activities.get_dw_token()
    await world.activities.create_dw_redemption(redemption("cid-1:redeem"))
    await world.activities.create_dw_redemption(redemption("cid-2:redeem"))
    assert world.drivewealth.token_requests == 1


async def test_refused_dw_credentials_are_final(repository: WithdrawalRepository) -> None:
    class NoCredentials(FakeDriveWealth):
        async def get_token(self) -> DwToken:
            raise UpstreamUnauthorized("drivewealth", "token", "E032")

    world = build(repository, drivewealth=NoCredentials())
    with pytest.raises(ApplicationError) as caught:
        await world.activities.get_dw_token()
    assert_business_error(caught.value, FailureType.INVALID_CREDENTIALS)


async def test_a_401_refreshes_the_token_once_and_redeems(world: World) -> None:
    await world.activities.get_dw_token()
    world.drivewealth.valid_tokens.clear()  # revoked before its expiry
    result = await world.activities.create_dw_redemption(redemption())
    assert result.status_id == 2
    assert world.drivewealth.token_requests == 2
    assert world.drivewealth.cash["DWAA001001"] == Decimal("850.00")


async def test_a_fresh_token_refused_too_is_final_after_one_refresh(
    repository: WithdrawalRepository,
) -> None:
    class RevokesEverything(FakeDriveWealth):
        async def get_token(self) -> DwToken:
            self.token_requests += 1
            return DwToken(f"revoked-{self.token_requests}", 3600)

    world = build(repository, drivewealth=RevokesEverything())
    with pytest.raises(ApplicationError) as caught:
        await world.activities.create_dw_redemption(redemption())
    # DriveWealth refused it before reading it: not sent, on this (first) attempt.
    assert_business_error(caught.value, FailureType.DW_NOT_SENT)
    assert caught.value.details == ({"attempt": 1},)
    assert world.drivewealth.token_requests == 2


class TokenEndpointDown(FakeDriveWealth):
    """The cached token was revoked and no new one can be had."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error
        self.add_account("acc-id-1", "DWAA001001", Decimal("1000.00"))

    async def get_token(self) -> DwToken:
        if self.token_requests:
            raise self.error
        return await super().get_token()


@pytest.mark.parametrize(
    "error",
    [
        UpstreamUnknownOutcome("drivewealth", "token", "HTTP 503"),
        UpstreamUnavailableError("drivewealth", "token", "ConnectError"),
    ],
    ids=["token-5xx", "token-refused"],
)
async def test_no_token_to_be_had_is_not_sent(
    repository: WithdrawalRepository, error: Exception
) -> None:
    world = build(repository, drivewealth=TokenEndpointDown(error))
    await world.activities.get_dw_token()
    world.drivewealth.valid_tokens.clear()
    with pytest.raises(ApplicationError) as caught:
        await world.activities.create_dw_redemption(redemption())
    assert_business_error(caught.value, FailureType.DW_NOT_SENT)
    assert world.drivewealth.redemptions == {}


class ScriptedRedemption(FakeDriveWealth):
    """DriveWealth answering every redemption with `answer` (raised when an exception)."""

    def __init__(self, answer: Exception | DwRedemption) -> None:
        super().__init__()
        self.answer = answer
        self.add_account("acc-id-1", "DWAA001001", Decimal("1000.00"))

    async def create_redemption(
        self,
        token: str,
        account_no: str,
        amount: Decimal,
        redemption_type: str,
        idempotency_key: str,
        correlation_id: str,
    ) -> DwRedemption:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (UpstreamUnavailableError("drivewealth", "redemption", "ConnectError"), "not-sent"),
        (UpstreamUnknownOutcome("drivewealth", "redemption", "HTTP 409"), "unknown"),
        (UpstreamUnknownOutcome("drivewealth", "redemption", "HTTP 429"), "unknown"),
        (UpstreamRefused("drivewealth", "redemption", "K999", "HTTP 422"), "unknown"),
        (UpstreamRefused("drivewealth", "redemption", "Y075", "HTTP 422"), "refused"),
    ],
    ids=["connection-refused", "in-progress", "rate-limited", "unknown-4xx", "y075"],
)
async def test_what_a_failed_redemption_attempt_means(
    repository: WithdrawalRepository, error: Exception, kind: str
) -> None:
    """Only DriveWealth's own refusal is one; only a request that never left is not sent;
    anything else may have redeemed (CONTRACT section 5)."""
    world = build(repository, drivewealth=ScriptedRedemption(error))
    with pytest.raises(ApplicationError) as caught:
        await world.activities.create_dw_redemption(redemption())
    expected = {
        "not-sent": FailureType.DW_NOT_SENT,
        "unknown": FailureType.DW_OUTCOME_UNKNOWN,
        "refused": FailureType.INSUFFICIENT_BALANCE,
    }[kind]
    assert_business_error(caught.value, expected)
    assert caught.value.details == ({"attempt": 1},)


async def test_the_same_idempotency_key_twice_redeems_once(world: World) -> None:
    first = await world.activities.create_dw_redemption(redemption())
    again = await world.activities.create_dw_redemption(redemption())
    assert again == first
    assert len(world.drivewealth.redemptions) == 1
    assert world.drivewealth.cash["DWAA001001"] == Decimal("850.00")


async def test_a_redemption_above_the_cash_available_is_insufficient_balance(
    world: World,
) -> None:
    with pytest.raises(ApplicationError) as caught:
        await world.activities.create_dw_redemption(redemption(amount="1000.01"))
    assert_business_error(caught.value, FailureType.INSUFFICIENT_BALANCE)
    assert world.drivewealth.cash["DWAA001001"] == Decimal("1000.00")


@pytest.mark.parametrize(("status_id", "message"), [(3, "FAILED"), (15, "REJECTED")])
async def test_a_redemption_dw_answers_as_failed_is_final(
    repository: WithdrawalRepository, status_id: int, message: str
) -> None:
    world = build(
        repository, drivewealth=ScriptedRedemption(DwRedemption("R-1", status_id, message))
    )
    with pytest.raises(ApplicationError, match=message) as caught:
        await world.activities.create_dw_redemption(redemption())
    assert_business_error(caught.value, FailureType.ACCOUNT_SUSPENDED)


@pytest.mark.parametrize("status_id", [-1, 99])
async def test_a_redemption_in_a_status_dw_does_not_document_is_unknown_not_refused(
    repository: WithdrawalRepository, status_id: int
) -> None:
    """A redemption exists (it has an id), in a state that says nothing of the money: never
    read as DriveWealth's "no" (which would reverse the bank transfer)."""
    answer = DwRedemption("R-1", status_id, "")
    world = build(repository, drivewealth=ScriptedRedemption(answer))
    with pytest.raises(ApplicationError) as caught:
        await world.activities.create_dw_redemption(redemption())
    assert_business_error(caught.value, FailureType.DW_OUTCOME_UNKNOWN)


# -- verifyDwRedemption ----------------------------------------------------------------------


class Settles(FakeDriveWealth):
    """A redemption accepted PENDING, read back as `statuses` says, one read after another."""

    def __init__(self, *statuses: tuple[int, str]) -> None:
        super().__init__()
        self.statuses = list(statuses)

    async def get_redemption(self, token: str, redemption_id: str) -> DwRedemption:
        if token not in self.valid_tokens:
            raise UpstreamUnauthorized("drivewealth", "redemption_status", "L075")
        status_id, message = self.statuses.pop(0)
        return DwRedemption(redemption_id, status_id, message)


async def test_a_settled_redemption_is_answered(repository: WithdrawalRepository) -> None:
    world = build(repository, drivewealth=Settles((2, "SUCCESSFUL"), (3, "FAILED")))
    check = VerifyDwRedemptionInput(redemption_id="R-1")
    assert (await world.activities.verify_dw_redemption(check)).status_message == "SUCCESSFUL"
    world.drivewealth.valid_tokens.clear()  # revoked: refreshed once
    assert (await world.activities.verify_dw_redemption(check)).status_id == 3


@pytest.mark.parametrize(
    ("status_id", "message"),
    [(0, "STARTED"), (1, "PENDING"), (16, "ON_HOLD"), (99, "SOMETHING_NEW")],
)
async def test_an_unsettled_redemption_fails_to_be_looked_up_again(
    repository: WithdrawalRepository, status_id: int, message: str
) -> None:
    world = build(repository, drivewealth=Settles((status_id, message)))
    with pytest.raises(ApplicationError, match=message) as caught:
        await world.activities.verify_dw_redemption(VerifyDwRedemptionInput(redemption_id="R"))
    assert_business_error(caught.value, FailureType.DW_REDEMPTION_PENDING)


# -- saveToDb and rollbackTransfer -----------------------------------------------------------


async def test_save_to_db_stores_the_state(world: World, make_state: MakeState) -> None:
    state = make_state(WF_A, statuses=[S.INITIATED, S.AWAITING_OTP])
    await world.activities.save_to_db(SaveToDbInput(state=state, dw_account_id="acc-id-1"))
    await world.activities.save_to_db(SaveToDbInput(state=state, dw_account_id="acc-id-1"))
    assert world.repository.get(WF_A) == state


async def test_rollback_reverses_a_completed_transfer(world: World) -> None:
    auth = await world.activities.initiate_transfer(initiation())
    await world.activities.finalize_transfer(finalize(auth.authorisation_id))
    reversal = RollbackTransferInput(
        reference_number=auth.reference_number,
        correlation_id="cid-1",
        reason="redemption failed",
        idempotency_key="cid-1:reverse",
    )
    await world.activities.rollback_transfer(reversal)
    await world.activities.rollback_transfer(reversal)  # retried: still one reversal
    assert world.transfers.transfers[auth.authorisation_id].status == "REVERSED"


async def test_a_refused_rollback_is_final(world: World) -> None:
    auth = await world.activities.initiate_transfer(initiation())  # never finalized
    with pytest.raises(ApplicationError, match="NOT_REVERSIBLE") as caught:
        await world.activities.rollback_transfer(
            RollbackTransferInput(
                reference_number=auth.reference_number,
                correlation_id="cid-1",
                reason="r",
                idempotency_key="cid-1:reverse",
            )
        )
    assert_business_error(caught.value, FailureType.REVERSAL_REFUSED)


def test_every_activity_is_registered_under_the_name_its_retry_policy_uses(
    world: World,
) -> None:
    # The workflow looks policies up by these names; a rename here would silently drop one.
    from temporalio import activity

    registered = [
        activity._Definition.must_from_callable(cast(Callable[..., Any], fn)).name
        for fn in world.activities.all()
    ]
    # The seed's activities, and the settlement look-up (it borrows a policy: POLICY_OF).
    expected = {*ACTIVITY_NAMES, ActivityName.VERIFY_DW_REDEMPTION}
    assert set(registered) == expected
    assert len(registered) == len(expected)


@pytest.mark.parametrize("code", ["E999", "HTTP_418", "TRANSFER_NOT_PENDING"])
async def test_a_finalize_answer_the_bank_is_not_known_to_mean_is_an_unknown_outcome(
    repository: WithdrawalRepository, code: str
) -> None:
    world = build(
        repository, transfers=ScriptedFinalize(UpstreamRefused("transfer", "finalize", code))
    )
    with pytest.raises(ApplicationError) as caught:
        await world.activities.finalize_transfer(finalize("auth-1"))
    assert_business_error(caught.value, FailureType.TRANSFER_OUTCOME_UNKNOWN)


async def test_an_initiation_answer_the_bank_is_not_known_to_mean_is_retried(
    repository: WithdrawalRepository,
) -> None:
    world = build(repository, transfers=RefusingTransfers("E999"))
    with pytest.raises(UpstreamUnknownOutcome, match="E999"):
        await world.activities.initiate_transfer(initiation())
