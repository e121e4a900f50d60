"""Crashes and outages only delay a withdrawal (docs/runbook.md, "What survives what").

Production-shaped: the worker is a separate process (the real one, `held_worker` only adds a
gate in front of one activity), the Temporal dev server is a process of its own on a file
database, and the worker and the API reach PostgreSQL through a TCP proxy that can cut it.
Each test drives one withdrawal through the API as a client would (retrying on 503 with the
same Idempotency-Key), breaks something while a chosen step runs, and checks that the
withdrawal ends exactly as it would have without the fault: same status, money moved once
(the money rule is checked after every test), no workflow execution failed, no HTTP 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import yaml
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus

from tests.integration.conftest import Stack, _ApiClient, assert_money_rule
from tests.support.databases import postgres_schema_url
from tests.support.paths import ROOT
from tests.support.policies import ATTEMPTS, write_fast_policies
from tests.support.servers import control_client, free_port
from withdraw_service.api.app import create_app
from withdraw_service.bootstrap import build_operations, build_repository, connect_temporal
from withdraw_service.chaos.client import may_repeat, sim_customer
from withdraw_service.chaos.processes import Child
from withdraw_service.chaos.proxy import TcpProxy
from withdraw_service.chaos.topology import short_attempt, temporal_child
from withdraw_service.domain.outcomes import TaskKind
from withdraw_service.domain.policies import ActivityName as A
from withdraw_service.domain.statuses import TERMINAL
from withdraw_service.domain.statuses import WithdrawStatus as S
from withdraw_service.persistence.db import migrate
from withdraw_service.settings import Settings
from withdraw_service.stack import child_env

OUTAGE_SECONDS = 60
LANES_AT_ONCE = 5


# -- the topology -----------------------------------------------------------------------------


@dataclass
class TemporalServer:
    child: Child
    settings: Settings  # data_dir and the ports of this server

    def restart_after_kill(self) -> None:
        self.child.kill()
        self.child.start()


@pytest.fixture(scope="module")
def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemporalServer]:
    data = tmp_path_factory.mktemp("temporal")
    settings = Settings(
        environment="dev",
        data_dir=data,
        temporal_port=free_port(),
        temporal_ui_port=free_port(),
        codec_server_port=free_port(),
    )
    child = temporal_child(settings)
    try:
        child.start()
        yield TemporalServer(child, settings)
    finally:
        child.stop()


@pytest.fixture(scope="module")
async def temporal_client(temporal_server: TemporalServer) -> Client:
    return await connect_temporal(temporal_server.settings)


@dataclass
class Lane:
    """One withdrawal's world inside the topology: its own customer (so a fault can be aimed
    at it), task queue, API instance, workers and gate. Lanes run side by side."""

    crashable: Crashable
    user: str
    settings: Settings
    api: httpx.AsyncClient
    gate: Path
    workers: list[Child] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # every HTTP status the client saw
    spans: dict[str, tuple[float, float]] = field(default_factory=dict)  # request: sent, answered

    @property
    def stack(self) -> Stack:
        return self.crashable.stack

    async def fault(self, service: str, operation: str, mode: str, **extra: Any) -> None:
        await self.stack.fault(service, operation, mode, match={"userId": self.user}, **extra)

    async def worker(self, hold: A | None = None, status: S | None = None) -> Child:
        """Start a worker process; with `hold`, the first attempt of that activity (for
        saveToDb: of the save of `status`) waits at the gate."""
        settings = self.settings.model_copy(update={"worker_metrics_port": free_port()})
        module = ["tests.support.held_worker", hold, str(self.gate)] if hold else []
        if hold and status:
            module += ["--status", status]
        args = [sys.executable, "-m", *(module or ["withdraw_service.cli", "worker"])]
        name = f"{self.user}-worker-{len(self.workers) + 1}"
        child = Child(
            name,
            args,
            env=child_env(settings),
            log=self.crashable.tmp / f"{name}.log",
            port=settings.worker_metrics_port,
            cwd=ROOT,
        )
        self.workers.append(child)
        await asyncio.to_thread(child.start)
        return child

    async def entered(self, withdrawal: asyncio.Task[Any], within: float = 150.0) -> str:
        """Wait until the held activity is running; answer its workflow id. If the
        withdrawal's client gave up first, its own failure is what is reported."""
        marker = self.gate / "entered"
        deadline = time.monotonic() + within
        while not marker.exists():
            if withdrawal.done():
                withdrawal.result()  # raises what went wrong
                raise AssertionError(f"{self.user}: ended before the held activity ran")
            for worker in self.workers:
                assert worker.running, f"{worker.name} exited:\n{worker.tail()}"
            assert time.monotonic() < deadline, (
                f"{self.user}: the held activity never started; "
                + "\n".join(f"{w.name}:\n{w.tail()}" for w in self.workers)
            )
            await asyncio.sleep(0.05)
        return marker.read_text()

    def release(self) -> None:
        (self.gate / "release").touch()

    # -- a client that retries as a real app does ----------------------------------------------

    async def call(
        self, send: Callable[[], Awaitable[httpx.Response]], name: str = ""
    ) -> httpx.Response:
        """Send until the answer is not `503 TEMPORARILY_UNAVAILABLE` or a connection error;
        a 500 fails the test."""
        sent = time.monotonic()
        deadline = sent + 120
        while True:
            try:
                response: httpx.Response | None = await send()
            except httpx.TransportError:
                response = None
            if response is not None:
                self.answers.append(response.status_code)
                assert response.status_code != 500, response.text
                if not may_repeat(response):
                    self.spans[name] = (sent, time.monotonic())
                    return response
                assert response.headers.get("Retry-After"), response.headers
            assert time.monotonic() < deadline, "still unavailable after 120 s"
            await asyncio.sleep(0.5)

    async def withdraw(self, before_finalize: Callable[[], Awaitable[None]] | None = None) -> Any:
        """Initiate, answer the OTP and wait for the end, as a client; the end state."""
        auth = self.stack.auth(self.user)
        key = str(uuid.uuid4())
        initiated = await self.call(
            lambda: self.api.post(
                "/withdraw/initiate",
                json={"amount": "150.00", "productNumber": "ACC-1", "frontendSimaReady": False},
                headers={**auth, "Idempotency-Key": key},
            ),
            "initiate",
        )
        assert initiated.status_code in (200, 202), initiated.text
        workflow_id = initiated.json()["data"]["workflowId"]
        state = await self.state_when(workflow_id, lambda s: s["status"] != S.INITIATED)
        assert state["status"] == S.AWAITING_OTP, state
        otp = (await self.stack.sim.get(f"/_sim/otp/{state['authorisationId']}")).json()["otp"]
        if before_finalize is not None:
            await before_finalize()
        finalize_key = str(uuid.uuid4())
        finalized = await self.call(
            lambda: self.api.put(
                f"/withdraw/finalize/{workflow_id}",
                json={"otpCode": otp},
                headers={**auth, "Idempotency-Key": finalize_key},
            ),
            "finalize",
        )
        assert finalized.status_code in (200, 202, 422), finalized.text
        return await self.state_when(workflow_id, lambda s: s["status"] in TERMINAL)

    async def retry_compensation(self, workflow_id: str) -> Any:
        """An operator retries the failed reversal; the end state."""
        task = await asyncio.to_thread(
            self.stack.operations.task_for, workflow_id, TaskKind.COMPENSATION_FAILED
        )
        assert task is not None
        retried = await self.call(
            lambda: self.api.post(
                f"/ops/compensation-tasks/{task.id}/retry", headers=self.stack.ops_auth("ops-1")
            )
        )
        assert retried.status_code in (200, 202), retried.text
        return await self.state_when(workflow_id, lambda s: s["status"] == S.COMPENSATED)

    async def state_when(
        self, workflow_id: str, done: Callable[[dict[str, Any]], bool], within: float = 150.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while True:
            response = await self.call(
                lambda: self.api.get(
                    f"/withdraw/status/{workflow_id}", headers=self.stack.auth(self.user)
                )
            )
            assert response.status_code == 200, response.text
            state: dict[str, Any] = response.json()["data"]
            if done(state):
                return state
            assert time.monotonic() < deadline, f"still {state['status']} after {within}s"
            await asyncio.sleep(0.5)

    async def assert_execution_completed(self, workflow_id: str) -> None:
        """The Temporal execution ended normally (never failed, timed out or terminated)."""
        described = await self.stack.client.get_workflow_handle(workflow_id).describe()
        assert described.status == WorkflowExecutionStatus.COMPLETED, described.status

    async def task_timeouts(self, workflow_id: str) -> int:
        """Workflow tasks that timed out (a worker died in the middle of one)."""
        history = await self.stack.client.get_workflow_handle(workflow_id).fetch_history()
        return sum(
            e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT for e in history.events
        )

    async def attempts(self, workflow_id: str, activity: A | None = None) -> list[int]:
        """The attempt number of every activity (of that type) that ran, from the history."""
        history = await self.stack.client.get_workflow_handle(workflow_id).fetch_history()
        scheduled = {
            e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        }
        return [
            e.activity_task_started_event_attributes.attempt
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
            and (
                activity is None
                or scheduled[e.activity_task_started_event_attributes.scheduled_event_id]
                == activity
            )
        ]


@dataclass
class Crashable:
    stack: Stack
    server: TemporalServer
    proxy: TcpProxy
    tmp: Path
    lanes: list[Lane] = field(default_factory=list)
    apis: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)

    async def lane(self) -> Lane:
        number = len(self.lanes) + 1
        user = f"user-crash-{number}"
        customer = sim_customer(user, "CR", number)
        (await self.stack.sim.post("/_sim/users", json=customer)).raise_for_status()
        settings = self.stack.settings.model_copy(update={"task_queue": f"tq-{uuid.uuid4()}"})
        api = await self.apis.enter_async_context(
            _ApiClient(create_app(settings, self.stack.client))
        )
        gate = self.tmp / f"gate-{number}"
        gate.mkdir()
        lane = Lane(self, user, settings, api, gate)
        self.lanes.append(lane)
        return lane


def crash_policies(target: Path) -> Path:
    """The fast test policies, with short attempts, so that an attempt on a dead worker is
    given up (and retried) soon."""
    write_fast_policies(target)
    config = yaml.safe_load(target.read_text())
    for name, activity in config["activities"].items():
        activity["startToCloseTimeout"] = short_attempt(name)
    target.write_text(yaml.safe_dump(config))
    return target


@pytest.fixture
async def crashable(
    temporal_server: TemporalServer, temporal_client: Client, sim_url: str, tmp_path: Path
) -> AsyncIterator[Crashable]:
    with postgres_schema_url() as direct_url, TcpProxy("127.0.0.1", 5432) as proxy:
        proxied_url = direct_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        settings = Settings(
            environment="dev",
            data_dir=tmp_path,
            database_url=proxied_url,  # the worker's and the API's path: the one that is cut
            task_queue=f"tq-{uuid.uuid4()}",
            temporal_address=temporal_server.settings.effective_temporal_address,
            sim_url=sim_url,
            retry_policies=crash_policies(tmp_path / "policies.yaml"),
            http_timeout_seconds=1.5,
            api_wait_seconds=20,
            worker_shutdown_grace_seconds=20,
            dw_settlement_interval_seconds=0.5,
            dw_settlement_max_seconds=120,
        )
        await asyncio.to_thread(migrate, direct_url)
        # The test's own reads go straight to the database, outage or not.
        repository = build_repository(settings.model_copy(update={"database_url": direct_url}))
        async with (
            control_client(sim_url) as sim,
            _ApiClient(create_app(settings, temporal_client)) as api,
        ):
            (await sim.post("/_sim/reset")).raise_for_status()
            crashable = Crashable(
                stack=Stack(
                    api=api,
                    sim=sim,
                    settings=settings,
                    repository=repository,
                    operations=build_operations(repository),
                    client=temporal_client,
                    metrics_url="",
                ),
                server=temporal_server,
                proxy=proxy,
                tmp=tmp_path,
            )
            try:
                yield crashable
                proxy.restore()
                (await sim.delete("/_sim/faults")).raise_for_status()
                await assert_money_rule(crashable.stack)
            finally:
                workers = [w for lane in crashable.lanes for w in lane.workers]
                await asyncio.gather(*(asyncio.to_thread(w.stop) for w in workers))
                await crashable.apis.aclose()
                repository.engine.dispose()


async def run_lanes(
    crashable: Crashable, cases: list[Case], run: Callable[[Lane, Case], Awaitable[None]]
) -> None:
    """Run each case in a lane of its own, `LANES_AT_ONCE` at a time (each lane starts two
    worker processes: all at once would starve a 2-core machine under CI's load); report
    every case that failed."""
    results: list[BaseException | None] = []
    for first in range(0, len(cases), LANES_AT_ONCE):
        batch = cases[first : first + LANES_AT_ONCE]
        lanes = [await crashable.lane() for _ in batch]
        results += await asyncio.gather(
            *(run(lane, case) for lane, case in zip(lanes, batch, strict=True)),
            return_exceptions=True,
        )
    failed = {
        case.name: f"{type(result).__name__}: {result}"
        for case, result in zip(cases, results, strict=True)
        if isinstance(result, BaseException)
    }
    assert not failed, failed


# -- kill -9 of the worker while each activity runs --------------------------------------------

Fault = tuple[str, str, str, dict[str, Any]]
DW_REJECTS: list[Fault] = [("drivewealth", "redemption", "reject", {})]
REVERSAL_FAILS: list[Fault] = [
    *DW_REJECTS,  # every attempt of rollbackTransfer (tests.support.policies.ATTEMPTS)
    ("transfer", "reverse", "error_500", {"times": ATTEMPTS[A.ROLLBACK_TRANSFER]}),
]
FINALIZE_UNKNOWN: list[Fault] = [("transfer", "finalize", "timeout_after_commit", {})]
DW_FAILS_LATER: list[Fault] = [("drivewealth", "redemption", "fail_after_accept", {})]
NEVER_SETTLES: list[Fault] = [
    *FINALIZE_UNKNOWN,
    ("transfer-checker", "status", "pending", {"probability": 1.0}),
]


@dataclass(frozen=True)
class Case:
    activity: A
    faults: list[Fault]
    ends: S
    status: S | None = None  # for saveToDb: the save that is held
    operator_retry: bool = False  # the activity runs in an operator's retry of the reversal

    @property
    def name(self) -> str:
        return f"{self.activity}-{self.status}" if self.status else str(self.activity)


KILL_CASES = [
    Case(A.VALIDATE_USER, [], S.COMPLETED),
    Case(A.CHECK_RESTRICTIONS, [], S.COMPLETED),
    Case(A.SAVE_TO_DB, [], S.COMPLETED, S.AWAITING_OTP),
    Case(A.INITIATE_TRANSFER, [], S.COMPLETED),
    Case(A.SAVE_TO_DB, [], S.COMPLETED, S.FINALIZING_TRANSFER),
    Case(A.FINALIZE_TRANSFER, [], S.COMPLETED),
    Case(A.VERIFY_TRANSFER_STATUS, FINALIZE_UNKNOWN, S.COMPLETED),
    Case(A.GET_DW_TOKEN, [], S.COMPLETED),
    Case(A.CREATE_DW_REDEMPTION, [], S.COMPLETED),
    Case(A.VERIFY_DW_REDEMPTION, DW_FAILS_LATER, S.COMPENSATED),
    Case(A.SAVE_TO_DB, [], S.COMPLETED, S.COMPLETED),
    Case(A.ROLLBACK_TRANSFER, DW_REJECTS, S.COMPENSATED),
    Case(A.NOTIFY_CUSTOMER, DW_REJECTS, S.COMPENSATED),
    Case(A.OPEN_OPERATOR_TASK, NEVER_SETTLES, S.MANUAL_REVIEW_REQUIRED),
    Case(A.MARK_COMPENSATED, REVERSAL_FAILS, S.COMPENSATED, operator_retry=True),
]
assert {c.activity for c in KILL_CASES} == set(A), "every activity has its kill case"
# Run in the worker, inside the workflow task (local activities): no attempt of theirs is in the
# history; a kill shows as the workflow task timing out, and the replacement runs them again.
IN_THE_WORKER = {A.SAVE_TO_DB, A.VALIDATE_USER, A.CHECK_RESTRICTIONS}


async def kill_during(lane: Lane, case: Case) -> None:
    for service, operation, mode, extra in case.faults:
        await lane.fault(service, operation, mode, **extra)
    held = await lane.worker(hold=case.activity, status=case.status)
    if case.operator_retry:
        failed = await lane.withdraw()
        assert failed["status"] == S.MANUAL_COMPENSATION_REQUIRED, failed
        withdrawal = asyncio.create_task(lane.retry_compensation(failed["workflowId"]))
    else:
        withdrawal = asyncio.create_task(lane.withdraw())
    try:
        running_in = await lane.entered(withdrawal)  # the workflow (or compensation child) of it
        if case.activity in IN_THE_WORKER:
            # Inside the workflow task (a save for at most 2 s): killed at once, before a
            # replacement could take the task over.
            await asyncio.to_thread(held.kill)
            await lane.worker()
        else:
            await lane.worker()  # the replacement, as an orchestrator would start it
            await asyncio.to_thread(held.kill)
        state = await withdrawal
    finally:
        withdrawal.cancel()

    assert state["status"] == case.ends, state
    for workflow_id in {running_in, state["workflowId"]}:
        await lane.assert_execution_completed(workflow_id)
    retried = max(await lane.attempts(running_in, case.activity), default=0)
    if case.activity in IN_THE_WORKER and retried <= 1:
        # Killed inside the activity in the worker: the workflow task it ran in timed out, and
        # the replacement ran it again (and the activity with it).
        timed_out = await lane.task_timeouts(running_in)
        assert timed_out >= 1, f"{case.activity}: no workflow task timed out: was nothing held?"
    else:
        assert retried > 1, f"{case.activity} was not retried: was nothing held?"


async def test_a_worker_killed_during_any_activity_only_delays_the_withdrawal(
    crashable: Crashable,
) -> None:
    await run_lanes(crashable, KILL_CASES, kill_during)


# -- SIGTERM (a rollout): the running activity finishes on the stopping worker -----------------


async def test_a_sigterm_lets_the_running_activity_finish_within_the_grace(
    crashable: Crashable,
) -> None:
    lane = await crashable.lane()
    held = await lane.worker(hold=A.CREATE_DW_REDEMPTION)
    withdrawal = asyncio.create_task(lane.withdraw())
    workflow_id = await lane.entered(withdrawal)

    stopping = asyncio.create_task(asyncio.to_thread(held.terminate, 40.0))
    await asyncio.sleep(2)  # the worker is stopping, the activity still running
    assert not stopping.done(), "the worker did not wait for its running activity"
    lane.release()  # the activity finishes on the stopping worker
    assert await stopping == 0, held.tail()
    await lane.worker()  # the new version takes over what comes next
    state = await withdrawal

    assert state["status"] == S.COMPLETED, state
    await lane.assert_execution_completed(workflow_id)
    assert set(await lane.attempts(workflow_id)) == {1}, "an activity was cut off and retried"


# -- the Temporal server killed and restarted while a request waits on it -----------------------


@pytest.mark.parametrize("step", ["initiate", "finalize"])
async def test_a_temporal_server_restart_during_a_request_only_delays_it(
    crashable: Crashable, step: str
) -> None:
    lane = await crashable.lane()
    await lane.worker()
    # The step's bank call takes 1.2 s (inside the 1.5 s HTTP timeout: a longer one would be
    # given up and retried into "409 in progress" until the bank is done), so the server dies
    # while the request waits on it.
    await lane.fault("transfer", step, "latency", delayMs=1200)
    restarts: list[asyncio.Task[tuple[float, float]]] = []

    async def restart_soon() -> tuple[float, float]:
        await asyncio.sleep(1)
        killed = time.monotonic()
        await asyncio.to_thread(crashable.server.restart_after_kill)
        return killed, time.monotonic()

    async def before_finalize() -> None:
        if step == "finalize":
            restarts.append(asyncio.create_task(restart_soon()))

    if step == "initiate":
        restarts.append(asyncio.create_task(restart_soon()))
    state = await lane.withdraw(before_finalize)
    killed, back = await restarts[0]

    assert state["status"] == S.COMPLETED, state
    await lane.assert_execution_completed(state["workflowId"])
    sent, answered = lane.spans[step]
    assert sent < killed and answered > back, "the server did not die during the request"


# -- the database cut for a minute while a bookkeeping step runs -------------------------------

OUTAGE_CASES = [
    Case(A.CHECK_RESTRICTIONS, [], S.COMPLETED),  # it claims the account: the workflow waits
    Case(A.SAVE_TO_DB, [], S.COMPLETED, S.TRANSFER_COMPLETED),
    Case(A.OPEN_OPERATOR_TASK, NEVER_SETTLES, S.MANUAL_REVIEW_REQUIRED),
]


async def test_a_database_outage_during_bookkeeping_only_delays_the_withdrawal(
    crashable: Crashable,
) -> None:
    """Both cases at once: each waits at its step; the database is cut, the steps go on
    into the outage, and a client keeps asking for the status meanwhile."""
    lanes = [await crashable.lane() for _ in OUTAGE_CASES]
    withdrawals = []
    for lane, case in zip(lanes, OUTAGE_CASES, strict=True):
        for service, operation, mode, extra in case.faults:
            await lane.fault(service, operation, mode, **extra)
        await lane.worker(hold=case.activity, status=case.status)
        withdrawals.append(asyncio.create_task(lane.withdraw()))
    workflow_ids = [
        await lane.entered(withdrawal) for lane, withdrawal in zip(lanes, withdrawals, strict=True)
    ]

    crashable.proxy.cut()
    for lane in lanes:
        lane.release()
    cut_at = time.monotonic()
    while time.monotonic() - cut_at < OUTAGE_SECONDS:
        for lane, workflow_id in zip(lanes, workflow_ids, strict=True):
            answer = await lane.api.get(
                f"/withdraw/status/{workflow_id}", headers=crashable.stack.auth(lane.user)
            )
            assert answer.status_code in (200, 503), answer.text
        await asyncio.sleep(1)
    during = [
        await asyncio.to_thread(crashable.stack.repository.get, workflow_id)
        for workflow_id in workflow_ids
    ]
    crashable.proxy.restore()
    ends = await asyncio.gather(*withdrawals)

    for case, workflow_id, saved, state in zip(
        OUTAGE_CASES, workflow_ids, during, ends, strict=True
    ):
        assert saved is not None and saved.status not in TERMINAL, case.name
        assert state["status"] == case.ends, (case.name, state)
        await lanes[0].assert_execution_completed(workflow_id)
        history = await crashable.stack.client.get_workflow_handle(workflow_id).fetch_history()
        timers = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED]
        if case.activity == A.CHECK_RESTRICTIONS:
            # It waited for the database (patch wait-for-database) instead of ending the
            # withdrawal: a few timers, doubling up to 30 s, over the minute.
            assert 2 <= len(timers) <= 10, f"{case.name}: {len(timers)} waits"
        else:  # retried by the server: the history does not grow during the outage
            assert len(history.events) < 150, f"{case.name}: the outage grew the history"


def test_the_proxy_cuts_and_restores_the_database_path() -> None:
    """What the outage tests stand on: through the proxy the database answers; cut, the open
    connection dies and a new one is refused; restored, it answers again."""
    with TcpProxy("127.0.0.1", 5432) as proxy:
        dsn = f"postgresql://postgres@127.0.0.1:{proxy.port}/test"
        with psycopg.connect(dsn, autocommit=True) as open_connection:
            assert open_connection.execute("SELECT 1").fetchone() == (1,)
            proxy.cut()
            with pytest.raises(psycopg.OperationalError):
                open_connection.execute("SELECT 1")
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(dsn, connect_timeout=5)
        proxy.restore()
        with psycopg.connect(dsn, autocommit=True) as again:
            assert again.execute("SELECT 1").fetchone() == (1,)
