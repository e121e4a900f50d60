"""Shared fixtures of the unit tier: a migrated SQLite repository per test, withdrawal states,
and an environment without stray `WITHDRAW_*` variables.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from withdraw_service.api.gateway import GatewayConfig
from withdraw_service.bootstrap import load_policies
from withdraw_service.domain.statuses import WithdrawStatus
from withdraw_service.domain.withdrawal import HistoryEntry, WithdrawState
from withdraw_service.persistence.db import make_engine, migrate
from withdraw_service.persistence.repository import WithdrawalRepository

REPO_ROOT = Path(__file__).resolve().parents[2]
RETRY_POLICIES = REPO_ROOT / "src" / "withdraw_service" / "retry-policies.yaml"
T0 = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)

MakeState = Callable[..., WithdrawState]


@pytest.fixture(autouse=True)
def _no_withdraw_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read `WITHDRAW_*`; a developer's shell must not change what a test sees."""
    for name in list(os.environ):
        if name.startswith("WITHDRAW_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate once per session; each test gets a copy (Alembic costs ~0.1 s a run)."""
    path = tmp_path_factory.mktemp("template") / "withdraw.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture
def repository(tmp_path: Path, migrated_template: Path) -> Iterator[WithdrawalRepository]:
    path = tmp_path / "withdraw.db"
    shutil.copyfile(migrated_template, path)
    engine = make_engine(f"sqlite:///{path}")
    yield WithdrawalRepository(engine)
    engine.dispose()


# What a production configuration needs besides its secrets, for unit tests that build one
# (nothing connects: the database URL is never used by them).
PRODUCTION_PLACES: dict[str, Any] = {
    "jwt_audience": "withdraw-api",
    "jwt_issuer": "https://id.test/",
    "database_url": "postgresql+psycopg://127.0.0.1:5432/test",
    "simulated_services": True,
}


def make_state_value(
    workflow_id: str = "WITHDRAW-00000000-0000-0000-0000-000000000001",
    *,
    user_id: str = "user-1001",
    status: WithdrawStatus = WithdrawStatus.INITIATED,
    statuses: list[WithdrawStatus] | None = None,
    amount: Decimal = Decimal("150.00"),
    created_at: datetime = T0,
    **changes: Any,
) -> WithdrawState:
    """A withdrawal whose history walks through `statuses` (default: just `status`)."""
    walk = statuses or [status]
    history = [
        HistoryEntry(status=s, at=created_at + timedelta(seconds=i)) for i, s in enumerate(walk)
    ]
    values: dict[str, Any] = {
        "workflow_id": workflow_id,
        "correlation_id": f"cid-{workflow_id}",
        "user_id": user_id,
        "status": walk[-1],
        "amount": amount,
        "product_number": "PRD-0001",
        "history": history,
        "created_at": created_at,
        "updated_at": history[-1].at,
    }
    values.update(changes)
    return WithdrawState(**values)


@pytest.fixture
def make_state() -> MakeState:
    return make_state_value


def gateway_config(wait_seconds: float, execution_timeout: timedelta) -> GatewayConfig:
    """The API's gateway settings for a test that builds a gateway or an operator desk."""
    return GatewayConfig(
        task_queue="tq",
        wait_seconds=wait_seconds,
        otp_timeout_seconds=300,
        otp_max_attempts=3,
        execution_timeout=execution_timeout,
        policies=load_policies(RETRY_POLICIES),
    )
