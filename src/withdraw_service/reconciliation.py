"""Reconciliation: what our records say of each withdrawal, against what the bank (Transfer
Checker) and DriveWealth (the account's redemption listing) actually did (docs/runbook.md).

    report = await Reconciler(...).run(since, until)    # the CLI and the daily Schedule
    report.mismatches                                   # each: kind, workflow, what differs

A withdrawal still in flight is skipped (it is still moving money), and so is a MANUAL_* one
(a person is already settling it). Every other one must agree with the money rule:

    ends                 bank transfer            DriveWealth redemption
    COMPLETED            debited (SUCCESS)        one, SUCCESSFUL
    COMPENSATED          REVERSED                 none standing (FAILED/REJECTED gave it back)
    any other ending     never debited            none standing

Each withdrawal that disagrees opens one RECONCILIATION_MISMATCH operator task (at most one per
withdrawal, however often it is found); a redemption whose withdrawal our records do not know
is reported, and cannot carry a task. Nothing is corrected here: a person decides.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from withdraw_service.activities.token_cache import DwTokenCache
from withdraw_service.adapters.ports import DriveWealth, DwRedemption, TransferChecker
from withdraw_service.domain.outcomes import (
    DW_SETTLED_UNPAID,
    CheckerStatus,
    DwRedemptionStatus,
    MismatchKind,
    TaskKind,
)
from withdraw_service.domain.statuses import UNRESOLVED
from withdraw_service.domain.statuses import WithdrawStatus as S
from withdraw_service.domain.withdrawal import WithdrawState
from withdraw_service.metrics import WithdrawMetrics, noop_metrics
from withdraw_service.persistence.operations import OperationsRepository
from withdraw_service.persistence.repository import WithdrawalRepository

log = logging.getLogger(__name__)

BANK_LOOKUPS_AT_ONCE = 8  # Transfer Checker look-ups in flight at once


@dataclass(frozen=True)
class Mismatch:
    kind: MismatchKind
    correlation_id: str
    detail: str  # what differs; never an account number
    workflow_id: str | None = None  # None: a redemption our records do not know


@dataclass(frozen=True)
class Seen:
    """What the bank and DriveWealth show for one withdrawal."""

    bank: str | None  # the Transfer Checker's status of its transfer; None: no transfer
    redemptions: tuple[DwRedemptionStatus | int, ...] = ()  # the status of each redemption


def window(since: str | None, until: str | None, days: int) -> tuple[datetime, datetime]:
    """[since, until) from ISO-8601 texts (UTC when they name no zone); by default the last
    `days` days up to now. ValueError names what is wrong."""

    def moment(text: str) -> datetime:
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"not an ISO-8601 date or time: {text!r}") from None
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    end = moment(until) if until else datetime.now(UTC)
    start = moment(since) if since else end - timedelta(days=days)
    if start >= end:
        raise ValueError("the start must be before the end")
    return start, end


def _standing(status: DwRedemptionStatus | int) -> bool:
    return status not in DW_SETTLED_UNPAID


def compare(state: WithdrawState, seen: Seen) -> list[Mismatch]:
    """Where one ended withdrawal and what the bank and DriveWealth show disagree (pure)."""
    found: list[Mismatch] = []

    def mismatch(kind: MismatchKind, detail: str) -> None:
        found.append(Mismatch(kind, state.correlation_id, detail, state.workflow_id))

    ended = state.status
    debited = seen.bank == CheckerStatus.SUCCESS
    standing = [status for status in seen.redemptions if _standing(status)]
    if seen.bank == CheckerStatus.REVERSED and ended != S.COMPENSATED:
        mismatch(MismatchKind.REVERSAL_NOT_COMPENSATED, f"ended {ended}, the bank reversed it")
    if ended == S.COMPLETED:
        if debited and not standing:
            mismatch(
                MismatchKind.TRANSFER_WITHOUT_REDEMPTION,
                "ended COMPLETED, DriveWealth shows no redemption standing",
            )
            return found
        if not debited and standing:
            mismatch(
                MismatchKind.REDEMPTION_WITHOUT_TRANSFER,
                f"ended COMPLETED, the bank shows {seen.bank or 'no transfer'}",
            )
        if standing != [DwRedemptionStatus.SUCCESSFUL]:  # none, two, or not settled
            names = [_name(s) for s in seen.redemptions]
            mismatch(
                MismatchKind.REDEMPTION_NOT_SETTLED,
                f"ended COMPLETED, DriveWealth shows redemptions {names}, "
                f"the bank {seen.bank or 'no transfer'}",
            )
        return found
    if debited:
        mismatch(
            MismatchKind.TRANSFER_WITHOUT_REDEMPTION,
            f"ended {ended}, the bank debited it and nothing reversed it",
        )
    if standing:
        names = [_name(s) for s in standing]
        mismatch(
            MismatchKind.REDEMPTION_WITHOUT_TRANSFER,
            f"ended {ended}, DriveWealth holds redemptions {names}",
        )
    return found


def _name(status: DwRedemptionStatus | int) -> str:
    try:
        return DwRedemptionStatus(status).name
    except ValueError:
        return str(status)


@dataclass
class Report:
    since: datetime
    until: datetime
    checked: int = 0  # ended withdrawals compared
    skipped: int = 0  # in flight, or already with an operator
    mismatches: list[Mismatch] = field(default_factory=list)
    opened: int = 0  # tasks this run opened (the others were open or resolved already)

    def lines(self) -> list[str]:
        """The report as the command prints it: one line per mismatch, columns separated by
        two spaces (readable, and whole for grep)."""
        head = (
            f"reconciled {self.checked} ended withdrawal(s) created {self.since.isoformat()} .. "
            f"{self.until.isoformat()} ({self.skipped} in flight or with an operator, "
            "not compared)"
        )
        if not self.mismatches:
            return [head, "everything agrees"]
        width = max(len(m.kind) for m in self.mismatches)
        return [
            head,
            f"{'kind':<{width}}  workflowId  correlationId  what differs",
            *(
                f"{m.kind:<{width}}  {m.workflow_id or '-'}  {m.correlation_id}  {m.detail}"
                for m in self.mismatches
            ),
            f"{len(self.mismatches)} mismatch(es); {self.opened} new RECONCILIATION_MISMATCH "
            "task(s) opened (GET /ops/compensation-tasks)",
        ]


class Reconciler:
    def __init__(
        self,
        repository: WithdrawalRepository,
        operations: OperationsRepository,
        checker: TransferChecker,
        drivewealth: DriveWealth,
        tokens: DwTokenCache,
        metrics: WithdrawMetrics | None = None,
        alive: Callable[[], None] = lambda: None,
    ) -> None:
        """`alive` is called as the run makes progress (the activity's heartbeat)."""
        self._alive = alive
        self._repository = repository
        self._operations = operations
        self._checker = checker
        self._drivewealth = drivewealth
        self._tokens = tokens
        self._metrics = metrics or noop_metrics()

    async def run(self, since: datetime, until: datetime) -> Report:
        """Compare the withdrawals created in [since, until); open a task for each that
        disagrees. An upstream that cannot be read fails the run (nothing is concluded from
        what could not be seen); it is safe to run again."""
        report = Report(since, until)
        rows = await asyncio.to_thread(self._repository.created_between, since, until)
        ended = [(state, account) for state, account in rows if state.status.is_terminal]
        ended = [(state, account) for state, account in ended if state.status not in UNRESOLVED]
        report.skipped = len(rows) - len(ended)
        report.checked = len(ended)
        listed = await self._listed({a for _, a in rows if a}, since)
        redemptions: dict[str, list[DwRedemption]] = defaultdict(list)
        for redemption in listed:
            if redemption.correlation_id is not None:
                redemptions[redemption.correlation_id].append(redemption)
        by_id = {r.redemption_id: r for r in listed}
        known = {state.correlation_id for state, _ in rows}
        banks = await self._bank_statuses([state.correlation_id for state, _ in ended])
        for state, _ in ended:
            mine = {r.redemption_id: r for r in redemptions.get(state.correlation_id, [])}
            if state.dw_redemption_id in by_id:  # ours by its id, whatever its note says
                mine[state.dw_redemption_id] = by_id[state.dw_redemption_id]
            seen = Seen(banks[state.correlation_id], tuple(r.status_id for r in mine.values()))
            report.mismatches += compare(state, seen)
        for correlation, unknown in redemptions.items():
            if correlation in known or await self._exists(correlation):
                continue  # compared above, or created before the window (its own run's)
            standing = [r for r in unknown if _standing(r.status_id)]
            if standing:
                report.mismatches.append(
                    Mismatch(
                        MismatchKind.REDEMPTION_WITHOUT_TRANSFER,
                        correlation,
                        f"DriveWealth holds {len(standing)} redemption(s) for a "
                        "withdrawal our records do not have",
                    )
                )
        states = {state.workflow_id: state for state, _ in rows}
        report.opened = await self._open_tasks(report.mismatches, states)
        return report

    async def _listed(self, accounts: set[str], since: datetime) -> list[DwRedemption]:
        """Every redemption of these accounts since `since`. Ours name their withdrawal in
        their note (`correlation_id`); the customer's other redemptions name none and are none
        of our business."""
        found: list[DwRedemption] = []
        for account in sorted(accounts):
            found += await self._list(account, since)
            self._alive()
        return found

    async def _bank_statuses(self, correlation_ids: list[str]) -> dict[str, str | None]:
        """The Transfer Checker's status of each withdrawal's transfer (None: no transfer),
        `BANK_LOOKUPS_AT_ONCE` at a time; `self._alive()` after each (a heartbeat)."""
        gate = asyncio.Semaphore(BANK_LOOKUPS_AT_ONCE)

        async def look(correlation_id: str) -> tuple[str, str | None]:
            async with gate:
                report = await self._checker.status_by_correlation(correlation_id)
            self._alive()
            return correlation_id, report.status if report else None

        return dict(await asyncio.gather(*(look(c) for c in correlation_ids)))

    async def _exists(self, correlation_id: str) -> bool:
        found = await asyncio.to_thread(
            self._repository.search, correlation_id=correlation_id, limit=1
        )
        return bool(found)

    async def _list(self, account: str, since: datetime) -> list[DwRedemption]:
        return await self._tokens.authorised(
            lambda token: self._drivewealth.list_redemptions(token, account, since)
        )

    async def _open_tasks(
        self, mismatches: list[Mismatch], states: dict[str, WithdrawState]
    ) -> int:
        """One RECONCILIATION_MISMATCH task per withdrawal that disagrees; the number this
        run opened."""
        by_withdrawal: dict[str, list[Mismatch]] = defaultdict(list)
        for mismatch in mismatches:
            if mismatch.workflow_id is not None:
                by_withdrawal[mismatch.workflow_id].append(mismatch)
            else:
                log.error(
                    "reconciliation: %s for correlationId=%s: %s",
                    mismatch.kind,
                    mismatch.correlation_id,
                    mismatch.detail,
                )
                self._metrics.mismatch_found(mismatch.kind)  # no task to count it once by
        opened = 0
        for workflow_id, found in by_withdrawal.items():
            state = states[workflow_id]
            reason = "; ".join(f"{m.kind}: {m.detail}" for m in found)
            task, created = await asyncio.to_thread(
                self._operations.open_task,
                workflow_id,
                state.correlation_id,
                TaskKind.RECONCILIATION_MISMATCH,
                state.amount,
                reason,
            )
            if created:
                opened += 1
                for mismatch in found:
                    self._metrics.mismatch_found(mismatch.kind)
                log.error(
                    "operator task %s opened: %s for workflowId=%s correlationId=%s: %s",
                    task.id,
                    TaskKind.RECONCILIATION_MISMATCH,
                    workflow_id,
                    state.correlation_id,
                    reason,
                )
        return opened
