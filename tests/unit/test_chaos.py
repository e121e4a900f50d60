"""The chaos run's own logic: its plan is the seed's, its catalogue covers every service and
fault mode, and its verdict finds each kind of violation (so a green run means something)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from withdraw_service.chaos.plan import ActionKind, Counts, make_plan
from withdraw_service.chaos.run import draw_scenarios
from withdraw_service.chaos.scenarios import CATALOGUE
from withdraw_service.chaos.verdict import judge
from withdraw_service.domain.outcomes import CheckerStatus, TaskKind, TaskState
from withdraw_service.domain.statuses import WithdrawStatus as S
from withdraw_service.domain.withdrawal import WithdrawState
from withdraw_service.persistence.operations import OperatorTask
from withdraw_service.sim.faults import BUSINESS_MODES, SERVICE_OPERATIONS, TRANSPORT_MODES

COUNTS = Counts(worker_kills=10, rollouts=2, server_restarts=2, api_kills=1, db_outages=1)


def test_the_same_seed_gives_the_same_plan_and_load() -> None:
    assert make_plan(7, 1000, COUNTS, 2, 2) == make_plan(7, 1000, COUNTS, 2, 2)
    assert make_plan(7, 1000, COUNTS, 2, 2) != make_plan(8, 1000, COUNTS, 2, 2)
    assert draw_scenarios(7, 50) == draw_scenarios(7, 50)


def test_the_plan_takes_every_action_asked_for_within_the_load() -> None:
    plan = make_plan(3, 1000, COUNTS, 2, 2)
    kinds = [action.kind for action in plan]
    assert kinds.count(ActionKind.KILL_WORKER) == 10
    assert kinds.count(ActionKind.ROLL_WORKER) == 2
    assert kinds.count(ActionKind.RESTART_SERVER) == 2
    assert kinds.count(ActionKind.KILL_API) == 1
    assert kinds.count(ActionKind.CUT_DATABASE) == 1
    points = [action.after_started for action in plan]
    assert points == sorted(points) and len(set(points)) == len(points)
    assert points[0] >= 1 and points[-1] <= 850


def test_the_catalogue_covers_every_fault_mode_of_every_operation() -> None:
    """Every (operation, mode) the simulators offer is in some scenario, but for DriveWealth's
    token endpoint (the app's token, not a customer's: faults there cannot be aimed)."""
    offered = {
        (service, operation, mode)
        for service, operations in SERVICE_OPERATIONS.items()
        for operation in operations
        for mode in TRANSPORT_MODES | set(BUSINESS_MODES)
        if mode in TRANSPORT_MODES or f"{service}.{operation}" in BUSINESS_MODES[mode]
    }
    covered = {(f.service, f.operation, f.mode) for s in CATALOGUE for f in s.faults}
    assert covered <= offered
    missing = offered - covered
    assert {(service, operation) for service, operation, _ in missing} == {
        ("drivewealth", "token")
    }, sorted(missing)
    assert len({s.name for s in CATALOGUE}) == len(CATALOGUE)


def _state(status: S, correlation: str, redemption: str | None = None) -> WithdrawState:
    now = datetime.now(UTC)
    return WithdrawState(
        workflow_id=f"WITHDRAW-{correlation}",
        correlation_id=correlation,
        user_id="u",
        amount=Decimal("150.00"),
        product_number="ACC-1",
        status=status,
        dw_redemption_id=redemption,
        created_at=now,
        updated_at=now,
    )


def _task(workflow_id: str, state: TaskState = TaskState.OPEN) -> OperatorTask:
    return OperatorTask(
        id="t1",
        workflow_id=workflow_id,
        correlation_id="c",
        kind=TaskKind.COMPENSATION_FAILED,
        amount=Decimal("150.00"),
        reason="r",
        state=state,
        created_at=datetime.now(UTC),
        resolved_at=None,
        resolved_by=None,
        note=None,
    )


def _ledger(**rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"transfers": [], "reversals": [], "redemptions": [], **rows}


def _transfer(correlation: str, status: CheckerStatus) -> dict[str, Any]:
    return {"correlationId": correlation, "status": status}


def test_the_verdict_passes_money_moved_once_and_undone_money() -> None:
    states = [_state(S.COMPLETED, "a", "R1"), _state(S.COMPENSATED, "b")]
    ledger = _ledger(
        transfers=[_transfer("a", CheckerStatus.SUCCESS), _transfer("b", CheckerStatus.REVERSED)],
        reversals=[  # refused once, then an operator's retry went through
            {"correlationId": "b", "status": CheckerStatus.FAILED},
            {"correlationId": "b", "status": CheckerStatus.SUCCESS},
        ],
        redemptions=[
            {"correlationId": "a", "id": "R1", "status": "SUCCESSFUL"},
            {"correlationId": "b", "id": "R2", "status": "FAILED"},  # it gave the cash back
        ],
    )
    assert judge(states, ledger, {}) == []


def test_the_verdict_finds_each_kind_of_violation() -> None:
    states = [
        _state(S.COMPLETED, "a", "R1"),  # no redemption made
        _state(S.COMPENSATED, "b"),  # the debit stands
        _state(S.MANUAL_COMPENSATION_REQUIRED, "c"),  # no task
        _state(S.MANUAL_COMPENSATION_REQUIRED, "d"),  # resolved by nobody
        _state(S.FINALIZING_TRANSFER, "e"),  # still in flight
        _state(S.COMPLETED, "h", "R8"),  # its redemption never settled
        _state(S.TRANSFER_REJECTED, "i"),  # a redemption stands
    ]
    ledger = _ledger(
        transfers=[
            _transfer("a", CheckerStatus.SUCCESS),
            _transfer("b", CheckerStatus.SUCCESS),
            _transfer("f", CheckerStatus.SUCCESS),
            _transfer("f", CheckerStatus.SUCCESS),  # twice for one withdrawal
            _transfer("h", CheckerStatus.SUCCESS),
        ],
        reversals=[
            {"correlationId": "g", "status": CheckerStatus.SUCCESS},
            {"correlationId": "g", "status": CheckerStatus.SUCCESS},  # given back twice
        ],
        redemptions=[
            {"correlationId": "h", "id": "R8", "status": "PENDING"},
            {"correlationId": "i", "id": "R9", "status": "SUCCESSFUL"},
        ],
    )
    tasks = {"WITHDRAW-d": _task("WITHDRAW-d", TaskState.RESOLVED)}
    findings = judge(states, ledger, tasks)
    assert len(findings) == 9, findings
    expected = (
        "2 transfers for f",
        "[('R8', 'PENDING')]",
        "a redemption stands",
        "2 reversals for g",
        "redemptions are []",
        "bank transfer stands",
        "without its operator task",
        "no operator and note",
        "still in flight",
    )
    for words in expected:
        assert any(words in finding for finding in findings), (words, findings)
