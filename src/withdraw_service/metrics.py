"""The seed's business metrics, counted where a withdrawal's state is committed.

A status counts when `saveToDb` (or an operator's retried reversal) actually writes its history
row, and never otherwise: a replayed workflow runs no activity, and a retried activity finds the
row already stored, so each withdrawal is counted once per metric. (A worker that dies between
the commit and the count loses that one count; it never counts twice.)

The meter is the Temporal runtime's, so the worker's one Prometheus endpoint (`:9464/metrics`)
serves these beside the SDK's own metrics; counters are exported with `_total`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from temporalio.common import MetricMeter

from withdraw_service.domain.statuses import WithdrawStatus as S
from withdraw_service.domain.withdrawal import HistoryEntry

log = logging.getLogger(__name__)

# Seconds; a withdrawal takes seconds when all goes well, minutes with retries or an OTP typed
# late, up to hours when a verification or a compensation waits on a slow bank.
DURATION_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)
DURATION = "withdraw_duration_seconds"


class WithdrawMetrics:
    def __init__(self, meter: MetricMeter) -> None:
        self._initiated = meter.create_counter(
            "withdraw_initiated", "withdrawals created (saved for the first time)"
        )
        self._completed = meter.create_counter(
            "withdraw_completed", "withdrawals that ended COMPLETED: cash reached the bank"
        )
        self._failed = meter.create_counter(
            "withdraw_failed",
            "withdrawals whose first terminal status is neither COMPLETED nor CANCELLED, "
            "by that status and its failure code",
        )
        self._cancelled = meter.create_counter(
            "withdraw_cancelled", "withdrawals the customer cancelled before confirming"
        )
        self._compensated = meter.create_counter(
            "withdraw_compensated", "withdrawals whose bank transfer was reversed (COMPENSATED)"
        )
        self._otp_timeout = meter.create_counter(
            "withdraw_otp_timeout", "withdrawals whose OTP window closed without a valid code"
        )
        self._compensation_failed = meter.create_counter(
            "withdraw_compensation_failed",
            "withdrawals whose compensation failed: a person must act",
        )
        self._mismatches = meter.create_counter(
            "withdraw_reconciliation_mismatches",
            "disagreements reconciliation found between our records and the bank's or "
            "DriveWealth's, by kind; each counted once, when its operator task is opened",
        )
        # Exported at 0 from the start, so that the first event after a (re)start is an
        # increase Prometheus can see. (withdraw_failed's label pairs appear when first used.)
        for counter in (
            self._initiated,
            self._completed,
            self._cancelled,
            self._compensated,
            self._otp_timeout,
            self._compensation_failed,
        ):
            counter.add(0)
        self._duration = meter.create_histogram_float(
            DURATION,
            "seconds from creation to the first terminal status, by that status",
            "s",
        )

    def saved(
        self,
        created: bool,
        stored: Sequence[HistoryEntry],
        created_at: datetime,
        failure_code: str | None,
    ) -> None:
        """`stored` are the history rows this save wrote (none when it was a repeat)."""
        with _never_failing():
            if created:
                self._initiated.add(1)
            for entry in stored:
                if entry.status.is_terminal:
                    self._ended(entry, created_at, failure_code)

    def _ended(self, entry: HistoryEntry, created_at: datetime, failure_code: str | None) -> None:
        status = entry.status
        if status == S.COMPLETED:
            self._completed.add(1)
        elif status == S.CANCELLED:
            self._cancelled.add(1)
        else:
            self._failed.add(1, {"status": status.value, "failure_code": failure_code or "none"})
        if status == S.COMPENSATED:
            self._compensated.add(1)
        if status == S.OTP_TIMEOUT:
            self._otp_timeout.add(1)
        seconds = max((entry.at - created_at).total_seconds(), 0.0)
        self._duration.record(seconds, {"status": status.value})

    def compensated_by_operator(self) -> None:
        """An operator's retried reversal went through: the withdrawal, already counted as
        failed (MANUAL_COMPENSATION_REQUIRED), is now COMPENSATED too."""
        with _never_failing():
            self._compensated.add(1)

    def compensation_failed(self) -> None:
        with _never_failing():
            self._compensation_failed.add(1)

    def mismatch_found(self, kind: str) -> None:
        with _never_failing():
            self._mismatches.add(1, {"kind": kind})


@contextmanager
def _never_failing() -> Iterator[None]:
    """The state a count follows is already committed: a lost count must not fail the
    activity that committed it."""
    try:
        yield
    except Exception as exc:
        log.warning("business metric not recorded: %s", type(exc).__name__)


def noop_metrics() -> WithdrawMetrics:
    return WithdrawMetrics(MetricMeter.noop)
