"""A rolling update on one box (docs/deployment.md, "What is checked here"): three workers and
two API processes in production mode against PostgreSQL, as the Kubernetes manifests run them,
while withdrawals drawn from the whole scenario catalogue go through the public API, a new one
every half second until the rollout is over. One API process is replaced (a new one up, the
load balancer sends new requests to it, SIGTERM to the old one, which finishes what it has),
then every worker, one by one, as a Deployment's rollout does (a new one up and polling, then
SIGTERM to an old one, which is no longer ready from then on, drains and exits 0).
Withdrawals are in flight at every step. Every withdrawal must end as its scenario ends
without a rollout, the money rule must hold in the database and in the simulators' ledger, no
execution may fail, no request may get a 500 and no connection may be refused."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.support.databases import POSTGRES_DSN
from withdraw_service.chaos.client import Answers, Api, Customer, Outcome
from withdraw_service.chaos.processes import Child
from withdraw_service.chaos.run import Report, draw_scenarios, judge_run
from withdraw_service.chaos.topology import Topology
from withdraw_service.settings import SHIPPED_RETRY_POLICIES

pytestmark = pytest.mark.integration

SEED = 15
AT_LEAST = 60  # withdrawals, and more while the rollout goes on
AT_MOST = 240  # customers prepared: a rollout that outlasts them all fails the test
STAGGER_SECONDS = 0.5  # a new withdrawal every half second


async def readiness(probe: httpx.AsyncClient, port: int) -> int | None:
    """The status of a worker's /readyz, None when nothing answers."""
    try:
        return (await probe.get(f"http://127.0.0.1:{port}/readyz", timeout=2)).status_code
    except httpx.TransportError:
        return None


async def until_ready(
    probe: httpx.AsyncClient, port: int, child: Child, seconds: float = 60
) -> None:
    """Poll a new worker's /readyz until it answers 200 (it polls its task queue)."""
    deadline = time.monotonic() + seconds
    while (status := await readiness(probe, port)) != 200:
        assert child.running, f"{child.name} exited before it was ready:\n{child.tail()}"
        assert time.monotonic() < deadline, f"{child.name}: /readyz {status}, never 200"
        await asyncio.sleep(0.1)


async def until_not_ready(
    probe: httpx.AsyncClient, port: int, child: Child, seconds: float = 5
) -> str:
    """Poll a worker told to stop until /readyz no longer answers 200: 503 while it drains,
    or nothing once it has exited (with nothing to drain it exits at once). What was seen."""
    deadline = time.monotonic() + seconds
    while (status := await readiness(probe, port)) == 200:
        assert time.monotonic() < deadline, f"{child.name} still ready {seconds:g}s after SIGTERM"
        await asyncio.sleep(0.05)
    return "503 while draining" if status == 503 else "gone"


@pytest.mark.timeout(600)
async def test_replacing_every_worker_and_an_api_one_by_one_loses_nothing(
    tmp_path: Path,
) -> None:
    # A 30 s OTP window: the no-OTP scenario ends within the test.
    topology = Topology(
        tmp_path / "rollout", POSTGRES_DSN, workers=3, apis=2, otp_timeout_seconds=30
    )
    await asyncio.to_thread(topology.start, SHIPPED_RETRY_POLICIES)
    steps: list[tuple[str, int]] = []  # each replacement, and the withdrawals then in flight
    answers = Answers()
    api = Api(topology.api_urls, answers)
    in_flight: set[int] = set()
    try:
        async with (
            httpx.AsyncClient(base_url=topology.sim_url, timeout=30) as sim,
            httpx.AsyncClient() as probe,
        ):
            customers = [
                Customer(number, scenario, api, sim, topology.settings)
                for number, scenario in enumerate(draw_scenarios(SEED, AT_MOST), start=1)
            ]
            for customer in customers:
                await customer.prepare()

            async def one(customer: Customer) -> Outcome:
                in_flight.add(customer.number)
                try:
                    return await customer.run()
                finally:
                    in_flight.discard(customer.number)

            async def roll() -> None:
                await asyncio.sleep(3)  # the first withdrawals are under way
                old_api = topology.api_children[0]
                new_api = await asyncio.to_thread(topology.new_api)
                api.replace(topology.url_of(old_api), topology.url_of(new_api))
                await asyncio.sleep(2)  # the load balancer's endpoints update (preStop)
                code = await asyncio.to_thread(old_api.terminate, 60)
                # uvicorn stops gracefully, then raises the signal it was stopped with again
                assert code in (0, -signal.SIGTERM), f"{old_api.name} exited {code}"
                steps.append((f"{old_api.name} -> {new_api.name}", len(in_flight)))
                for old in list(topology.worker_children):
                    new = await asyncio.to_thread(topology.new_worker)
                    await until_ready(probe, topology.health_ports[new.name], new)
                    old.ask_to_stop()
                    seen = await until_not_ready(probe, topology.health_ports[old.name], old)
                    code = await asyncio.to_thread(old.wait, 60)
                    assert code == 0, f"{old.name} exited {code}:\n{old.tail()}"
                    steps.append((f"{old.name} -> {new.name} ({seen})", len(in_flight)))

            async with asyncio.TaskGroup() as group:  # a failure stops the rest
                rolling = group.create_task(roll())
                started: list[asyncio.Task[Outcome]] = []
                for customer in customers:
                    if len(started) >= AT_LEAST and rolling.done():
                        break
                    started.append(group.create_task(one(customer)))
                    await asyncio.sleep(STAGGER_SECONDS)
        outcomes = [task.result() for task in started]
        report = Report(SEED, len(outcomes), plan=[])
        await judge_run(topology, outcomes, answers, report)
    finally:
        await api.aclose()
        await asyncio.to_thread(topology.stop)
    print(
        f"rollout over {len(outcomes)} withdrawals:",
        "; ".join(f"{step}: {n} in flight" for step, n in steps),
        f"HTTP answers {report.http_statuses}",
    )
    assert rolling.done() and len(steps) == 4, steps
    assert all(n > 0 for _, n in steps), f"a step with nothing in flight: {steps}"
    assert report.violations == [], report.violations
    assert "500" not in report.http_statuses
    assert report.connection_errors == 0
    assert report.executions["Completed"] >= len(outcomes)
