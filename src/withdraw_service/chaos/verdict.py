"""What must hold once every withdrawal has ended (docs/api.md, "The money rule"), judged
from the application database, the simulators' ledger and Temporal's visibility."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from withdraw_service.domain.outcomes import (
    CheckerStatus,
    DwRedemptionStatus,
    FailureCode,
    TaskKind,
    TaskState,
)
from withdraw_service.domain.statuses import UNRESOLVED
from withdraw_service.domain.statuses import WithdrawStatus as S
from withdraw_service.domain.withdrawal import WithdrawState
from withdraw_service.persistence.operations import OperationsRepository, OperatorTask

LedgerRows = dict[str, list[dict[str, Any]]]  # "transfers", "reversals", "redemptions"
SETTLED = DwRedemptionStatus.SUCCESSFUL.name
GAVE_BACK = frozenset({DwRedemptionStatus.FAILED.name, DwRedemptionStatus.REJECTED.name})


def task_kind_for(state: WithdrawState) -> TaskKind | None:
    """The operator task a MANUAL_* withdrawal must come with."""
    if state.status == S.MANUAL_REVIEW_REQUIRED:
        if state.failure_code == FailureCode.DW_SETTLEMENT_OVERDUE:
            return TaskKind.DW_SETTLEMENT_OVERDUE
        return TaskKind.TRANSFER_UNRESOLVED
    if state.status == S.MANUAL_COMPENSATION_REQUIRED:
        return TaskKind.COMPENSATION_FAILED
    return None


def tasks_of(
    states: Sequence[WithdrawState], operations: OperationsRepository
) -> dict[str, OperatorTask | None]:
    """The operator task of each MANUAL_* withdrawal (None where it has none)."""
    tasks = {}
    for state in states:
        kind = task_kind_for(state)
        if kind is not None:
            tasks[state.workflow_id] = operations.task_for(state.workflow_id, kind)
    return tasks


def rows_of(ledger: dict[str, Any], correlation_id: str) -> LedgerRows:
    return {
        kind: [row for row in ledger[kind] if row["correlationId"] == correlation_id]
        for kind in ("transfers", "reversals", "redemptions")
    }


def money_findings(state: WithdrawState, rows: LedgerRows, task: OperatorTask | None) -> list[str]:
    """The money rule for one withdrawal: it has ended; COMPLETED moved the money once each
    way (its redemption settled SUCCESSFUL); a MANUAL_* has its task (open, or resolved by a
    named operator with a note); every other end left no debit and no redemption standing (a
    FAILED or REJECTED one gave the cash back). Empty when all holds."""
    where = f"{state.workflow_id} ended {state.status.value}"
    if not state.status.is_terminal:
        return [f"{state.workflow_id} still in flight: {state.status.value}"]
    transfers, redemptions = rows["transfers"], rows["redemptions"]
    debited = [t for t in transfers if t["status"] == CheckerStatus.SUCCESS]
    standing = [r for r in redemptions if r["status"] not in GAVE_BACK]
    findings = []
    if state.status == S.COMPLETED:
        if len(transfers) != 1 or len(debited) != 1:
            findings.append(f"{where} with {len(debited)} debit(s) in {len(transfers)} transfer(s)")
        if [(r["id"], r["status"]) for r in redemptions] != [(state.dw_redemption_id, SETTLED)]:
            findings.append(
                f"{where} but the redemptions are {[(r['id'], r['status']) for r in redemptions]}"
            )
    elif state.status in UNRESOLVED:
        if task is None:
            findings.append(f"{where} without its operator task")
        elif not (
            task.state == TaskState.OPEN
            or (task.state == TaskState.RESOLVED and task.resolved_by and task.note)
        ):
            findings.append(f"{where}: its task is {task.state} with no operator and note")
    else:
        if debited:
            findings.append(f"{where} but the bank transfer stands")
        if standing:
            findings.append(f"{where} but a redemption stands")
    return findings


def duplicate_findings(ledger: dict[str, Any]) -> list[str]:
    """No withdrawal moved money twice: at most one transfer, one redemption and one reversal
    that went through per correlation id (a refused reversal moved nothing, and an operator's
    retry may follow it)."""
    findings = []
    for kind in ("transfers", "reversals", "redemptions"):
        rows = ledger[kind]
        if kind == "reversals":
            rows = [row for row in rows if row["status"] == CheckerStatus.SUCCESS]
        counts = Counter(row["correlationId"] for row in rows)
        findings += [f"{count} {kind} for {cid}" for cid, count in counts.items() if count > 1]
    return findings


def judge(
    states: Sequence[WithdrawState],
    ledger: dict[str, Any],
    tasks: dict[str, OperatorTask | None],
) -> list[str]:
    """Every finding of the money rule and of duplicates, over all withdrawals."""
    findings = duplicate_findings(ledger)
    for state in states:
        findings += money_findings(
            state, rows_of(ledger, state.correlation_id), tasks.get(state.workflow_id)
        )
    return findings
