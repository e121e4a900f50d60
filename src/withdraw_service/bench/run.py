"""One benchmark run: start the embedded stack (or use a running one), drive withdrawals through
the public API and the bare shape on the same Temporal server, at c=1 and at the given
concurrency, read what each process spent, optionally hold many withdrawals at their OTP; then
report. Nothing here asserts a timing: the figures are printed and written."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx
from rich.console import Console
from rich.progress import Progress
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from withdraw_service.api.auth import token_for
from withdraw_service.bench.drive import BareFlows, FlowFailed, Samples, ServiceFlows, run_load
from withdraw_service.bench.procs import Usage, cpu_between, usage
from withdraw_service.bench.report import Hold, Phase, Report, percentile
from withdraw_service.bench.shape import BareWithdrawShape
from withdraw_service.bench.shape_steps import bare_step
from withdraw_service.chaos.processes import free_port
from withdraw_service.settings import UNREACHABLE_LIMITS, Settings
from withdraw_service.stack import Stack

BARE_QUEUE = "BENCH_BARE_SHAPE"
# Status calls per window of the hold's samples (spread over its 20 withdrawals): the p99 of
# 1,000 is the 10th slowest, not the 2nd of 200 (which moved 2 x between runs), and the first
# call of each withdrawal (a replay, a cold read) is still 2 % of them, so it shows in the p99.
STATUS_SAMPLES = 1000
# Between two windows. The machine's own pace drifts over minutes: one window's p99, with the
# same 10,000 waiting, moved from 8.8 to 13.5 ms between windows a few seconds apart, and the
# load driver's own database write slowed with it (docs/performance.md, "Memory and scale"),
# so each p99 is over several windows spread over minutes.
STATUS_WINDOW_PAUSE_SECONDS = 30.0
T = TypeVar("T")


@dataclass(frozen=True)
class BenchConfig:
    n: int
    concurrency: int
    serial: int
    warmup: int
    hold: int
    bare: bool
    status_windows: int
    api_url: str | None
    sim_url: str | None
    data_dir: Path | None


@contextlib.contextmanager
def embedded(settings: Settings, data_dir: Path, hold: int) -> Iterator[Stack]:
    """The stack `make run` starts, on free ports and a data folder of the run's own; its
    children's output goes to `stack.log` there."""
    sim_port = free_port()
    stack_settings = settings.model_copy(
        update={
            "environment": "dev",
            "data_dir": data_dir,
            "temporal_address": None,
            "database_url": None,
            "temporal_port": free_port(),
            "temporal_ui_port": free_port(),
            "sim_port": sim_port,
            "sim_url": f"http://127.0.0.1:{sim_port}",
            "api_port": free_port(),
            "worker_metrics_port": free_port(),
            # Long enough for every held withdrawal to still be waiting when it is finalized.
            "otp_timeout_seconds": max(settings.otp_timeout_seconds, 3600 if hold else 0),
            # Each lane's customer starts hundreds of withdrawals: the abuse limits would
            # refuse them (they are counted all the same, so their cost is measured).
            **UNREACHABLE_LIMITS,
        }
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / "stack.log").open("wb") as log:
        stack = Stack(stack_settings, output=log)
        try:
            stack.start_parts(codec_server=False)
            yield stack
        finally:
            stack.stop()


async def run_bench(config: BenchConfig, settings: Settings, console: Console) -> Report:
    with contextlib.ExitStack() as exits:
        if config.api_url:
            api_url, sim_url = config.api_url.rstrip("/"), (config.sim_url or settings.sim_url)
            pids: dict[str, int] = {}
            target = settings
        else:
            folder = config.data_dir or Path(exits.enter_context(tempfile.TemporaryDirectory()))
            stack = exits.enter_context(embedded(settings, folder, config.hold))
            target = stack.settings
            api_url = f"http://127.0.0.1:{target.api_port}"
            sim_url = target.sim_url
            pids = stack.pids()
            console.print(f"embedded stack up (logs: {folder / 'stack.log'})")
        return await _measure(config, target, api_url, sim_url.rstrip("/"), pids, console)


async def _measure(
    config: BenchConfig,
    settings: Settings,
    api_url: str,
    sim_url: str,
    pids: dict[str, int],
    console: Console,
) -> Report:
    pids = {**pids, "bench": os.getpid()}
    report = Report(
        machine={
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "n": config.n,
            "concurrency": config.concurrency,
        }
    )
    limits = httpx.Limits(max_connections=max(config.concurrency, 20) * 2)
    async with (
        httpx.AsyncClient(timeout=120, limits=limits) as http,
        _bare_worker(settings, config.bare) as client,
    ):
        lanes = max(config.concurrency, 1)
        customers = await _customers(http, sim_url, "lane", lanes)
        service = ServiceFlows(http, api_url, sim_url, _tokens(settings, customers))
        bare = BareFlows(client, BARE_QUEUE) if client else None
        with Progress(console=console, transient=True) as progress:

            async def phase(name: str, flow: Any, n: int, c: int) -> Phase:
                await run_load(flow, config.warmup, c)  # unmeasured: warms caches and pools
                task = progress.add_task(f"{name} c={c}", total=n)
                before = _readings(pids)
                samples: Samples = await run_load(flow, n, c, lambda: progress.advance(task))
                cpu = cpu_between(before, _readings(pids))
                progress.remove_task(task)
                return Phase.of(name, c, samples, cpu)

            for c, n in ((1, config.serial), (config.concurrency, config.n)):
                if n <= 0:
                    continue
                report.phases.append(await phase("service", service.flow, n, c))
                if bare:
                    report.phases.append(await phase("bare", bare.flow, n, c))
            worker = pids.get("worker")
            if worker and (now := usage(worker)):
                report.worker_rss_mb = round(now.rss_bytes / 2**20, 1)
            if config.hold:
                report.hold = await _hold(config, http, api_url, sim_url, settings, pids, progress)
    return report


async def _hold(
    config: BenchConfig,
    http: httpx.AsyncClient,
    api_url: str,
    sim_url: str,
    settings: Settings,
    pids: dict[str, int],
    progress: Progress,
) -> Hold:
    """`config.hold` withdrawals waiting for their OTP at once: the worker's memory and the
    status calls' latency then, against the same with only a few waiting; then all finalized."""
    customers = await _customers(http, sim_url, "hold", config.hold)
    flows = ServiceFlows(http, api_url, sim_url, _tokens(settings, customers))
    held: dict[int, dict[str, str]] = {}
    task = progress.add_task(f"hold {config.hold}", total=config.hold)
    failed: dict[str, int] = {}

    async def initiate(lane: int) -> None:
        try:
            held[lane] = await flows.hold(lane)
        except (FlowFailed, httpx.TransportError) as why:  # one flow lost, not the run
            failed[_why(why)] = failed.get(_why(why), 0) + 1
        progress.advance(task)

    # Each window of status calls reads 20 withdrawals of its own, the first initiated: when
    # 10,000 wait they are long evicted from every cache, so each window's first call of each
    # (a cold read, 2 % of its calls) is in its p99 and in the pooled one.
    windows = config.status_windows
    probe = list(range(min(20 * windows, config.hold)))
    groups = [probe[k::windows] for k in range(windows)]
    await _bounded([initiate(lane) for lane in probe], config.concurrency)
    rss_idle = _rss_mb(pids.get("worker"))
    idle = await _status_ms(flows, held, groups)
    started = time.perf_counter()
    rest = [initiate(lane) for lane in range(len(probe), config.hold)]
    await _bounded(rest, config.concurrency)
    initiate_seconds = time.perf_counter() - started
    rss = _rss_mb(pids.get("worker"))
    waiting = await _status_ms(flows, held, groups)
    progress.remove_task(task)
    drain = progress.add_task("finalize the held ones", total=len(held))
    started = time.perf_counter()

    async def release(lane: int, data: dict[str, str]) -> None:
        try:
            await flows.release(lane, data)
        except (FlowFailed, httpx.TransportError) as why:
            failed[_why(why)] = failed.get(_why(why), 0) + 1
        progress.advance(drain)

    await _bounded([release(lane, data) for lane, data in held.items()], config.concurrency)
    return Hold(
        waiting=len(held),
        initiate_seconds=round(initiate_seconds, 1),
        worker_rss_mb=rss,
        worker_rss_idle_mb=rss_idle,
        status_idle_ms=idle.quantiles,
        status_waiting_ms=waiting.quantiles,
        status_idle_window_p99=idle.window_p99,
        status_waiting_window_p99=waiting.window_p99,
        drain_seconds=round(time.perf_counter() - started, 1),
        failed=failed,
    )


def _why(failure: Exception) -> str:
    """How a held flow failed, as counted: the flow's own words, or the transport error."""
    return str(failure) if isinstance(failure, FlowFailed) else type(failure).__name__


class StatusProbe(Protocol):
    async def status_ms(self, lane: int, workflow_id: str) -> float: ...


@dataclass(frozen=True)
class StatusSample:
    quantiles: dict[str, float]  # p50 and p99 over every call of every window
    window_p99: list[float]  # each window's own p99: how much the machine's pace moved


async def _status_ms(
    flows: StatusProbe,
    held: dict[int, dict[str, str]],
    groups: list[list[int]],
    pause: float = STATUS_WINDOW_PAUSE_SECONDS,
) -> StatusSample:
    """One window of STATUS_SAMPLES calls per group of lanes, one call after the other round
    the group's held withdrawals; `pause` seconds between windows."""
    every: list[float] = []
    window_p99: list[float] = []
    for group in groups:
        found = [lane for lane in group if lane in held]
        if not found:
            continue
        if window_p99:
            await asyncio.sleep(pause)
        times = [
            await flows.status_ms(lane, held[lane]["workflowId"])
            for i in range(STATUS_SAMPLES)
            for lane in [found[i % len(found)]]
        ]
        every += times
        window_p99.append(round(percentile(times, 99), 1))
    quantiles = {f"p{p}": round(percentile(every, p), 1) for p in (50, 99)}
    return StatusSample(quantiles, window_p99)


async def _customers(http: httpx.AsyncClient, sim_url: str, tag: str, count: int) -> dict[int, str]:
    """One simulated customer per lane, with cash for every flow of the run."""
    run = f"{int(time.time())}"

    async def create(i: int) -> None:
        user = f"bench-{tag}-{run}-{i}"
        answer = await http.post(
            f"{sim_url}/_sim/users",
            json={
                "userId": user,
                "pin": f"PB{run}{tag}{i}",
                "customerName": f"Bench {tag} {i}",
                "dwAccountNo": f"DWB{run}{tag}{i}",
                "dwAccountId": f"accb-{run}-{tag}-{i}",
                "cashBalance": str(Decimal("100000000.00")),
            },
        )
        answer.raise_for_status()

    await _bounded([create(i) for i in range(count)], 20)
    return {i: f"bench-{tag}-{run}-{i}" for i in range(count)}


def _tokens(settings: Settings, customers: dict[int, str]) -> dict[int, str]:
    """An hour's token per customer: the longest a customer's token may live."""
    return {lane: token_for(settings, user, ["customer"], 3600) for lane, user in customers.items()}


async def _bounded(calls: Sequence[Awaitable[T]], at_once: int) -> list[T]:
    gate = asyncio.Semaphore(max(at_once, 1))

    async def one(call: Awaitable[T]) -> T:
        async with gate:
            return await call

    return list(await asyncio.gather(*(one(c) for c in calls)))


def _readings(pids: dict[str, int]) -> dict[str, Usage | None]:
    return {name: usage(pid) for name, pid in pids.items()}


def _rss_mb(pid: int | None) -> float:
    found = usage(pid) if pid else None
    return round(found.rss_bytes / 2**20, 1) if found else float("nan")


@contextlib.asynccontextmanager
async def _bare_worker(settings: Settings, wanted: bool) -> AsyncIterator[Client | None]:
    """A client and a worker of the bare shape in this process, on the service's server."""
    if not wanted:
        yield None
        return
    client = await Client.connect(
        settings.effective_temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
    )
    worker = Worker(
        client, task_queue=BARE_QUEUE, workflows=[BareWithdrawShape], activities=[bare_step]
    )
    async with worker:
        yield client
