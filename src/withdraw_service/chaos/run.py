"""`withdraw-service chaos`: start the production-shaped topology, drive N withdrawals through
it while the plan breaks processes, then judge every cent (docs/chaos.md)."""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from temporalio.client import Client

from withdraw_service.bootstrap import connect_temporal
from withdraw_service.chaos.client import Answers, Api, Customer, Outcome
from withdraw_service.chaos.plan import Action, ActionKind, Counts, make_plan
from withdraw_service.chaos.scenarios import CATALOGUE, Scenario
from withdraw_service.chaos.topology import Topology
from withdraw_service.chaos.verdict import judge, tasks_of
from withdraw_service.persistence.db import make_engine
from withdraw_service.persistence.operations import OperationsRepository
from withdraw_service.persistence.repository import WithdrawalRepository

CLOSE_WAIT_SECONDS = 120


@dataclass(frozen=True)
class ChaosConfig:
    n: int
    concurrency: int
    seed: int
    counts: Counts
    data_dir: Path
    postgres: str
    policies: Path
    workers: int = 2
    apis: int = 2
    otp_seconds: int = 90
    report: Path | None = None
    keep: bool = False  # keep the run's directory (logs, Temporal's database) afterwards


@dataclass
class Report:
    seed: int
    n: int
    plan: list[str]
    actions_taken: list[str] = field(default_factory=list)
    scenarios: dict[str, dict[str, Any]] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    http_statuses: dict[str, int] = field(default_factory=dict)
    connection_errors: int = 0
    executions: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.violations


def draw_scenarios(seed: int, n: int) -> list[Scenario]:
    rng = random.Random(f"load-{seed}")
    return rng.choices(CATALOGUE, weights=[s.weight for s in CATALOGUE], k=n)


async def run_chaos(config: ChaosConfig, console: Console) -> Report:
    plan = make_plan(config.seed, config.n, config.counts, config.workers, config.apis)
    report = Report(config.seed, config.n, [a.describe() for a in plan])
    root = config.data_dir / f"chaos-{config.seed}-{int(time.time())}"
    topology = Topology(
        root,
        config.postgres,
        workers=config.workers,
        apis=config.apis,
        otp_timeout_seconds=config.otp_seconds,
    )
    began = time.monotonic()
    console.print(f"[bold]chaos run[/] seed {config.seed}, {config.n} withdrawals, in {root}")
    for line in report.plan:
        console.print(f"  plan: {line}")
    try:
        await asyncio.to_thread(topology.start, config.policies)
        console.print(
            f"  topology: Temporal {topology.temporal_address}, "
            f"APIs {', '.join(topology.api_urls)}, simulators {topology.sim_url}, "
            f"{config.workers} workers, PostgreSQL database {topology.database} (via a proxy)"
        )
        outcomes, answers = await _drive(config, topology, plan, report, console)
        await judge_run(topology, outcomes, answers, report)
    except BaseException as exc:
        report.violations.append(f"the run itself failed: {type(exc).__name__}: {exc}")
        raise
    finally:
        report.seconds = round(time.monotonic() - began, 1)
        if config.report is not None:
            config.report.parent.mkdir(parents=True, exist_ok=True)
            config.report.write_text(json.dumps(asdict(report), indent=2, default=str))
        try:
            await asyncio.to_thread(topology.stop)
        except Exception as exc:  # the verdict stands; say what was left behind
            console.print(f"[red]could not stop everything:[/] {type(exc).__name__}: {exc}")
        if not config.keep and report.passed:
            shutil.rmtree(root, ignore_errors=True)
    return report


async def _drive(
    config: ChaosConfig, topology: Topology, plan: list[Action], report: Report, console: Console
) -> tuple[list[Outcome], Answers]:
    answers = Answers()
    api = Api(topology.api_urls, answers)
    started = 0
    async with httpx.AsyncClient(base_url=topology.sim_url, timeout=30) as sim:
        customers = [
            Customer(number, scenario, api, sim, topology.settings)
            for number, scenario in enumerate(draw_scenarios(config.seed, config.n), start=1)
        ]
        for customer in customers:
            await customer.prepare()
        gate = asyncio.Semaphore(config.concurrency)
        progressed = asyncio.Condition()  # `started` moved
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )

        async def one(customer: Customer, bar: Any) -> Outcome:
            nonlocal started
            async with gate:
                async with progressed:
                    started += 1
                    progressed.notify_all()
                outcome = await customer.run()
            progress.advance(bar)
            return outcome

        async def chaos() -> None:
            for action in plan:
                async with progressed:
                    await progressed.wait_for(lambda: started >= action.after_started)  # noqa: B023
                took = await asyncio.to_thread(_take, topology, action)
                line = f"{action.describe()} (back after {took:.1f}s)"
                report.actions_taken.append(line)
                progress.console.print(f"  chaos: {line}")

        try:
            with progress:
                bar = progress.add_task("withdrawals", total=len(customers))
                breaker = asyncio.create_task(chaos())
                outcomes = await asyncio.gather(*(one(c, bar) for c in customers))
                await breaker
        finally:
            await api.aclose()
    return list(outcomes), answers


def _take(topology: Topology, action: Action) -> float:
    """Break what the action names, wait, bring it back; the seconds it was away."""
    began = time.monotonic()
    if action.kind == ActionKind.CUT_DATABASE:
        topology.proxy.cut()
        time.sleep(action.seconds)
        topology.proxy.restore()
        return time.monotonic() - began
    child = {
        ActionKind.KILL_WORKER: lambda: topology.worker_children[action.target],
        ActionKind.ROLL_WORKER: lambda: topology.worker_children[action.target],
        ActionKind.KILL_API: lambda: topology.api_children[action.target],
        ActionKind.RESTART_SERVER: lambda: topology.server,
    }[action.kind]()
    if action.kind == ActionKind.ROLL_WORKER:
        child.terminate(timeout=topology.settings.worker_shutdown_grace_seconds + 30)
    else:
        child.kill()
    time.sleep(action.seconds)
    child.start()
    return time.monotonic() - began


async def judge_run(
    topology: Topology, outcomes: list[Outcome], answers: Answers, report: Report
) -> None:
    """The verdict of a run on `topology`, into `report` (its violations and figures)."""
    violations = report.violations
    # 1. each withdrawal ends as its scenario alone would end it
    by_scenario: dict[str, Counter[str]] = defaultdict(Counter)
    for outcome in outcomes:
        reached = outcome.reached or "(no end seen)"
        by_scenario[outcome.scenario][reached] += 1
        if reached != outcome.expected:
            violations.append(
                f"#{outcome.number} {outcome.scenario} ({outcome.workflow_id}): "
                f"expected {outcome.expected}, reached {reached}"
            )
        violations += [f"#{outcome.number} {outcome.scenario}: {f}" for f in outcome.findings]
    expected = {o.scenario: o.expected for o in outcomes}
    report.scenarios = {
        name: {"expected": str(expected[name]), "reached": dict(reached)}
        for name, reached in sorted(by_scenario.items())
    }
    # 2. the money rule, duplicates, nothing in flight (database and simulators' ledger)
    engine = make_engine(topology.direct_database_url)
    try:
        repository = WithdrawalRepository(engine)
        operations = OperationsRepository(engine)
        states = await asyncio.to_thread(repository.list_all)
        tasks = await asyncio.to_thread(tasks_of, states, operations)
    finally:
        engine.dispose()
    async with httpx.AsyncClient(base_url=topology.sim_url, timeout=30) as sim:
        ledger = (await sim.get("/_sim/ledger")).json()
    violations += judge(states, ledger, tasks)
    # 3. no workflow execution failed, timed out, was terminated, or still runs. A customer
    # may see the end (from the database) before its execution has closed, and visibility
    # lags a little: give running ones a while to close first.
    client = await connect_temporal(topology.settings)
    for _ in range(CLOSE_WAIT_SECONDS):
        if not await _count(client, "Running"):
            break
        await asyncio.sleep(1)
    for status in ("Completed", "Failed", "TimedOut", "Terminated", "Canceled", "Running"):
        count = await _count(client, status)
        report.executions[status] = count
        if status != "Completed" and count:
            violations.append(f"{count} workflow execution(s) {status}")
    # 4. no HTTP 500 seen by a client
    report.http_statuses = {str(code): n for code, n in sorted(answers.statuses.items())}
    report.connection_errors = answers.connection_errors
    violations += [f"HTTP 500: {line[:300]}" for line in answers.server_errors]


async def _count(client: Client, status: str) -> int:
    return (await client.count_workflows(f"ExecutionStatus = '{status}'")).count


def verdict_table(report: Report) -> Table:
    table = Table(title=f"chaos verdict, seed {report.seed}")
    table.add_column("scenario")
    table.add_column("expected")
    table.add_column("reached")
    table.add_column("count", justify="right")
    table.add_column("ok")
    for name, row in report.scenarios.items():
        reached = ", ".join(f"{status} x{n}" for status, n in row["reached"].items())
        ok = set(row["reached"]) == {row["expected"]}
        table.add_row(
            name, row["expected"], reached, str(sum(row["reached"].values())), "yes" if ok else "NO"
        )
    return table


def print_verdict(console: Console, report: Report) -> None:
    """The verdict table, the run's figures and its violations (the first 50), with the seed
    that replays it."""
    console.print(verdict_table(report))
    console.print(
        f"HTTP answers {report.http_statuses}, connection errors {report.connection_errors}, "
        f"executions {report.executions}, {report.seconds:g}s"
    )
    for violation in report.violations[:50]:
        console.print(f"[red]violation[/] {violation}")
    if report.violations:
        console.print(
            f"[red bold]{len(report.violations)} violation(s)[/]; replay: --seed {report.seed}"
        )
    else:
        console.print(f"[green bold]no violation[/] (seed {report.seed})")
