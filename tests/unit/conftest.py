"""Shared fixtures of the unit tier: a migrated SQLite repository per test, withdrawal states,
and an environment without stray `WITHDRAW_*` variables.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.states import T0 as T0  # the unit tests import it from here
from tests.support.states import make_state_value
from withdraw_service.api.gateway import GatewayConfig
from withdraw_service.bootstrap import load_policies
from withdraw_service.domain.withdrawal import WithdrawState
from withdraw_service.persistence.db import make_engine, migrate
from withdraw_service.persistence.repository import WithdrawalRepository

REPO_ROOT = Path(__file__).resolve().parents[2]
RETRY_POLICIES = REPO_ROOT / "src" / "withdraw_service" / "retry-policies.yaml"

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
