"""A rolling update on one box (docs/deployment.md, "Releasing"): three workers and two API
processes in production mode against PostgreSQL, as the Kubernetes manifests run them, while
withdrawals drawn from the whole scenario catalogue go through the public API. Every worker is
replaced one by one as a Deployment's rollout does (a new one up and polling, then SIGTERM to
an old one, which stops being ready at once and drains), and one API process (a new one up,
the load balancer sends new requests to it, SIGTERM to the old one). Every withdrawal must end
as its scenario ends without a rollout, the money rule must hold in the database and in the
simulators' ledger, no execution may fail, and no request may get a 500."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.support.databases import POSTGRES_DSN
from withdraw_service.chaos.client import Answers, Api, Customer, Outcome
from withdraw_service.chaos.run import Report, draw_scenarios, judge_run
from withdraw_service.chaos.topology import Topology
from withdraw_service.settings import SHIPPED_RETRY_POLICIES

pytestmark = pytest.mark.integration

SEED = 15
WITHDRAWALS = 60
STAGGER_SECONDS = 0.5  # one withdrawal starts every 0.5 s: some are in flight at every step


async def ready(client: httpx.AsyncClient, port: int) -> int | None:
    """The status of a worker's /readyz, None when nothing answers."""
    try:
        return (await client.get(f"http://127.0.0.1:{port}/readyz", timeout=2)).status_code
    except httpx.TransportError:
        return None


async def wait_ready(client: httpx.AsyncClient, port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while await ready(client, port) != 200:
        assert time.monotonic() < deadline, f"the worker on {port} never became ready"
        await asyncio.sleep(0.2)


@pytest.mark.timeout(600)
async def test_replacing_every_worker_and_an_api_one_by_one_loses_nothing(
    tmp_path: Path,
) -> None:
    topology = Topology(tmp_path / "rollout", POSTGRES_DSN, workers=3, apis=2)
    topology.otp_timeout_seconds = 30  # the no-OTP scenario ends within the test
    await asyncio.to_thread(topology.start, SHIPPED_RETRY_POLICIES)
    steps: list[str] = []
    try:
        answers = Answers()
        api = Api(topology.api_urls, answers)
        in_flight: set[int] = set()
        async with httpx.AsyncClient(base_url=topology.sim_url, timeout=30) as sim:
            customers = [
                Customer(number, scenario, api, sim, topology.settings)
                for number, scenario in enumerate(draw_scenarios(SEED, WITHDRAWALS), start=1)
            ]
            for customer in customers:
                await customer.prepare()

            async def one(customer: Customer) -> Outcome:
                await asyncio.sleep(STAGGER_SECONDS * customer.number)
                in_flight.add(customer.number)
                try:
                    return await customer.run()
                finally:
                    in_flight.discard(customer.number)

            began = time.monotonic()

            async def roll(probe: httpx.AsyncClient) -> None:
                await asyncio.sleep(3)  # the first withdrawals are under way
                old_api = topology.api_children[0]
                new_api = await asyncio.to_thread(topology.new_api)
                api.replace(topology.url_of(old_api), topology.url_of(new_api))
                await asyncio.sleep(2)  # the load balancer's endpoints update (preStop)
                code = await asyncio.to_thread(old_api.terminate, 60)
                # uvicorn stops gracefully, then raises the signal it was stopped with again
                assert code in (0, -signal.SIGTERM), f"{old_api.name} exited {code}"
                steps.append(
                    f"{old_api.name} -> {new_api.name}: {len(in_flight)} in flight, "
                    f"{time.monotonic() - began:.0f}s"
                )
                for old in list(topology.worker_children):
                    new = await asyncio.to_thread(topology.new_worker)
                    await wait_ready(probe, topology.health_ports[new.name])
                    old_port = topology.health_ports[old.name]
                    exiting = asyncio.create_task(asyncio.to_thread(old.terminate, 60))
                    await asyncio.sleep(0.5)
                    assert await ready(probe, old_port) != 200, f"{old.name} still ready"
                    code = await exiting
                    assert code == 0, f"{old.name} exited {code}:\n{old.tail()}"
                    steps.append(
                        f"{old.name} -> {new.name}: {len(in_flight)} in flight, "
                        f"{time.monotonic() - began:.0f}s"
                    )

            async with httpx.AsyncClient() as probe:
                rolling = asyncio.create_task(roll(probe))
                outcomes = await asyncio.gather(*(one(c) for c in customers))
                await rolling
            await api.aclose()
        report = Report(SEED, WITHDRAWALS, plan=[])
        await judge_run(topology, list(outcomes), answers, report)
    finally:
        await asyncio.to_thread(topology.stop)
    print("rollout:", "; ".join(steps), f"HTTP answers {report.http_statuses}")
    assert len(steps) == 4, steps
    assert report.violations == [], report.violations
    assert "500" not in report.http_statuses
    assert report.executions["Completed"] >= WITHDRAWALS
