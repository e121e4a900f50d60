"""The API while Temporal or the database is away: never a 500, never a hang past the wait.

The real app and gateway on a real (SQLite) database, with a Temporal client whose every call
fails as an unreachable server's does, or never answers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from temporalio.service import RPCError, RPCStatusCode

from tests.unit.conftest import RETRY_POLICIES, MakeState
from withdraw_service.api.app import create_app, install_state
from withdraw_service.api.auth import mint_token
from withdraw_service.bootstrap import api_state, load_policies
from withdraw_service.domain.outcomes import ProblemCode
from withdraw_service.domain.statuses import WithdrawStatus as S
from withdraw_service.persistence.repository import WithdrawalRepository
from withdraw_service.settings import Settings

SECRET = "api-outage-test-secret-" * 3
WF = "WITHDRAW-11111111-2222-3333-4444-555555555555"


def auth() -> dict[str, str]:
    """Minted when a test runs (a token made at import could expire before a long run gets
    here)."""
    return {"Authorization": f"Bearer {mint_token(SECRET, 'user-1001', ['customer'], 600)}"}


@dataclass
class DownHandle:
    hang: bool

    async def _fail(self, *_: Any, **__: Any) -> Any:
        if self.hang:
            await asyncio.sleep(3600)
        raise RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")

    describe = query = execute_update = result = _fail


@dataclass
class DownClient:
    """Every call fails at once (server unreachable) or never answers (`hang`)."""

    hang: bool = False

    def get_workflow_handle(self, *_: Any, **__: Any) -> DownHandle:
        return DownHandle(self.hang)

    async def start_update_with_start_workflow(self, *_: Any, **__: Any) -> Any:
        return await DownHandle(self.hang)._fail()


def _settings(data_dir: Path, **changes: Any) -> Settings:
    return Settings(
        environment="dev",
        data_dir=data_dir,  # the `repository` fixture's file: data_dir / withdraw.db
        retry_policies=RETRY_POLICIES,
        jwt_secret=SecretStr(SECRET),
        api_wait_seconds=1.0,
        **changes,
    )


async def _client(settings: Settings, temporal: DownClient) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(settings)
    state = api_state(settings, temporal, load_policies(RETRY_POLICIES))  # type: ignore[arg-type]
    install_state(app, state)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client
    state.repository.engine.dispose()


@pytest.fixture(params=[False, True], ids=["unreachable", "hanging"])
def temporal(request: pytest.FixtureRequest) -> DownClient:
    return DownClient(hang=request.param)


@pytest.fixture
async def api(
    temporal: DownClient, tmp_path: Path, repository: WithdrawalRepository
) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(_settings(tmp_path), temporal):
        yield client


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == ProblemCode.TEMPORARILY_UNAVAILABLE
    assert int(response.headers["retry-after"]) > 0


async def test_status_falls_back_to_the_database(
    api: httpx.AsyncClient, repository: WithdrawalRepository, make_state: MakeState
) -> None:
    repository.save(make_state(WF, statuses=[S.INITIATED, S.AWAITING_OTP]))
    started = time.monotonic()
    response = await api.get(f"/withdraw/status/{WF}", headers=auth())
    assert response.status_code == 200, response.text
    assert response.json()["data"]["status"] == S.AWAITING_OTP
    assert time.monotonic() - started < 10  # bounded by the RPC timeout, not left hanging


async def test_a_withdrawal_temporal_cannot_tell_about_is_unavailable_not_missing(
    api: httpx.AsyncClient,
) -> None:
    # It may exist (started, not yet saved): its owner must never read a 404. Repeat later.
    assert_unavailable(await api.get(f"/withdraw/status/{WF}", headers=auth()))


async def test_initiate_is_unavailable_or_answers_the_id_it_may_have_started(
    api: httpx.AsyncClient, temporal: DownClient
) -> None:
    response = await api.post(
        "/withdraw/initiate",
        json={"amount": "150.00", "productNumber": "PRD-0001"},
        headers={**auth(), "Idempotency-Key": "k-1"},
    )
    if temporal.hang:
        # The start may have gone through: its id is answered (202), never lost.
        assert response.status_code == 202, response.text
        data = response.json()["data"]
        assert data["status"] == S.INITIATED and data["workflowId"].startswith("WITHDRAW-")
    else:  # refused at once: nothing started, repeat with the same key
        assert_unavailable(response)


async def test_finalize_and_cancel_answer_503_or_the_stored_state(
    api: httpx.AsyncClient,
    temporal: DownClient,
    repository: WithdrawalRepository,
    make_state: MakeState,
) -> None:
    repository.save(make_state(WF, statuses=[S.INITIATED, S.AWAITING_OTP]))
    finalize = await api.put(f"/withdraw/finalize/{WF}", json={"otpCode": "123456"}, headers=auth())
    cancel = await api.post(f"/withdraw/{WF}/cancel", headers=auth())
    for response in (finalize, cancel):
        if temporal.hang:  # the wait passes: 202 with the state the database holds
            assert response.status_code == 202, response.text
            assert response.json()["data"]["status"] == S.AWAITING_OTP
        else:  # refused at once: 503, repeat later
            assert_unavailable(response)


async def test_a_database_that_fails_is_unavailable_too(tmp_path: Path) -> None:
    # A database without the schema: every query fails as an unreachable one would.
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    async for api in _client(_settings(tmp_path, database_url=empty), DownClient()):
        assert_unavailable(await api.get(f"/withdraw/status/{WF}", headers=auth()))
        assert_unavailable(await api.get("/withdraw", headers=auth()))
