"""The OTP window: where a withdrawal takes its customer's one-time code.

The bank sends the code when the transfer is initiated; from then until the deadline
(`otp_timeout_seconds`) the customer may submit it (`submitOtp` update) or cancel. This module
checks what the workflow can check itself (the window is open, the code is 6 digits, one code at
a time), counts the attempts, and answers each submission with a verdict; whether the code is
right is the bank's answer to finalizeTransfer (`activities/withdraw.py`). Rejected updates
leave no trace in history, so a malformed code changes nothing.

The code lives only in memory here: it is never part of the state that queries, updates or
saveToDb return. Deterministic, sandbox-safe.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from withdraw_service.domain.outcomes import FailureCode, OtpVerdict, ProblemCode
    from withdraw_service.domain.statuses import WithdrawStatus
    from withdraw_service.workflows.activity_calls import wait_until
    from withdraw_service.workflows.models import OtpResult, OtpSubmission
    from withdraw_service.workflows.patches import OTP_ATTEMPTS_CEILING
    from withdraw_service.workflows.progress import Ended, Progress

S = WithdrawStatus


def refusal(code: ProblemCode, message: str) -> ApplicationError:
    """An update refused by its validator; the API answers `code`'s problem."""
    return ApplicationError(message, type=code.value)


class OtpWindow:
    def __init__(self, progress: Progress, max_attempts: int) -> None:
        self._progress = progress
        self._submission: OtpSubmission | None = None
        self._result: OtpResult | None = None
        self.attempts_remaining = max_attempts
        self._deadline: datetime | None = None  # set once the OTP is sent
        self._cancel_requested = False
        self._closed = False

    def start(self, deadline: datetime) -> None:
        self._deadline = deadline

    # -- the updates' side -----------------------------------------------------------------

    def check_submission(self, submission: OtpSubmission) -> None:
        """The `submitOtp` validator."""
        deadline = self._deadline
        if (
            self._progress.state.status == S.AWAITING_OTP
            and deadline is not None
            and workflow.now() >= deadline
        ):
            raise refusal(ProblemCode.OTP_EXPIRED, "the OTP window is over")
        self.check_accepting()
        code = submission.otp_code
        if not (len(code) == 6 and code.isascii() and code.isdigit()):
            raise refusal(ProblemCode.VALIDATION_ERROR, "otpCode must be 6 digits")

    def check_accepting(self) -> None:
        """Whether a code or a cancel can be taken now (the `cancel` validator too)."""
        status = self._progress.state.status
        if status != S.AWAITING_OTP or self._closed or self._submission is not None:
            raise refusal(
                ProblemCode.INVALID_STATE, f"withdrawal is {status.value}, not awaiting an OTP"
            )
        if self._cancel_requested:
            raise refusal(ProblemCode.INVALID_STATE, "withdrawal is being cancelled")

    async def submit(self, submission: OtpSubmission) -> OtpResult:
        """Hand the code to the flow; answers once the flow has judged it."""
        if self._submission is not None:  # two codes accepted in one activation: judge one
            raise refusal(ProblemCode.INVALID_STATE, "another OTP is being checked")
        self._submission, self._result = submission, None
        await workflow.wait_condition(lambda: self._result is not None)
        assert self._result is not None
        return self._result

    def request_cancel(self) -> None:
        self._cancel_requested = True

    # -- the flow's side -------------------------------------------------------------------

    async def next_code(self) -> OtpSubmission:
        """The next submitted code; Ended when the customer cancels or the window closes."""
        assert self._deadline is not None
        remaining = self._deadline - workflow.now()
        arrived = remaining > timedelta(0) and await wait_until(
            lambda: self._submission is not None or self._cancel_requested, remaining
        )
        if self._cancel_requested:
            raise Ended(S.CANCELLED, FailureCode.CANCELLED, "cancelled by the customer")
        if not arrived:
            raise Ended(S.OTP_TIMEOUT, FailureCode.OTP_TIMEOUT, "no OTP within the window")
        assert self._submission is not None
        return self._submission

    def wrong_code(self, bank_attempts_remaining: int | None) -> bool:
        """Count a wrong code; True while attempts remain. The bank's count may only lower
        ours (WITHDRAW_OTP_MAX_ATTEMPTS is a ceiling): a bank answering more attempts than
        that once gave a stolen token more guesses per withdrawal."""
        ours = self.attempts_remaining - 1
        if bank_attempts_remaining is None:
            self.attempts_remaining = ours
        elif workflow.patched(OTP_ATTEMPTS_CEILING):
            self.attempts_remaining = min(ours, bank_attempts_remaining)
        else:
            self.attempts_remaining = bank_attempts_remaining
        return self.attempts_remaining > 0

    def answer(self, verdict: OtpVerdict) -> None:
        self._result = OtpResult(
            verdict=verdict,
            attempts_remaining=self.attempts_remaining,
            state=self._progress.state,
        )
        self._submission = None

    def accept(self) -> None:
        """The code was taken: no other is from now on."""
        self.answer(OtpVerdict.ACCEPTED)
        self._closed = True

    def close(self) -> None:
        """No code is taken from now on; one that came in meanwhile is answered EXPIRED, so
        that its caller is not left waiting for a verdict that will never come."""
        self._closed = True
        if self._submission is not None:
            self.answer(OtpVerdict.EXPIRED)
