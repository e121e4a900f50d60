"""The commands that put load on a whole stack: `chaos` (docs/chaos.md) and `bench`
(docs/performance.md). Registered on the `withdraw-service` app by cli.py."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from withdraw_service.cli_options import DataDir, load_settings


def chaos(
    n: Annotated[int, typer.Option("--n", min=1, help="withdrawals to drive")] = 1000,
    concurrency: Annotated[int, typer.Option(min=1, help="customers at once")] = 24,
    seed: Annotated[int | None, typer.Option(help="replays a run; default: a new one")] = None,
    worker_kills: Annotated[int, typer.Option(help="kill -9 of a worker")] = 10,
    rollouts: Annotated[int, typer.Option(help="SIGTERM of a worker, then a restart")] = 2,
    server_restarts: Annotated[int, typer.Option(help="kill -9 of the Temporal server")] = 2,
    api_kills: Annotated[int, typer.Option(help="kill -9 of an API process")] = 1,
    db_outages: Annotated[int, typer.Option(help="PostgreSQL cut at the proxy")] = 1,
    outage_seconds: Annotated[float, typer.Option(help="how long each outage lasts")] = 30.0,
    otp_seconds: Annotated[
        int, typer.Option(min=10, help="the OTP window; keep it longer than an outage")
    ] = 90,
    workers: Annotated[int, typer.Option(min=1, help="worker processes")] = 2,
    apis: Annotated[int, typer.Option(min=1, help="API processes")] = 2,
    postgres: Annotated[
        str, typer.Option(help="PostgreSQL to create the run's database in")
    ] = "postgresql://postgres@127.0.0.1:5432/postgres",
    data_dir: DataDir = None,
    retry_policies: Annotated[Path | None, typer.Option(help="the shipped policies")] = None,
    report: Annotated[Path | None, typer.Option(help="write the JSON report here")] = None,
    keep: Annotated[bool, typer.Option(help="keep the run's logs even when it passes")] = False,
) -> None:
    """Drive N withdrawals through a production-shaped stack while killing its processes and
    cutting its database; judge every cent. Exit status 1 on any violation (docs/chaos.md)."""
    import random

    from rich.console import Console

    from withdraw_service.chaos.plan import Counts
    from withdraw_service.chaos.run import ChaosConfig, print_verdict, run_chaos

    settings = load_settings(data_dir=data_dir, retry_policies=retry_policies)
    config = ChaosConfig(
        n=n,
        concurrency=concurrency,
        seed=seed if seed is not None else random.SystemRandom().randrange(1, 10**6),
        counts=Counts(
            worker_kills=worker_kills,
            rollouts=rollouts,
            server_restarts=server_restarts,
            api_kills=api_kills,
            db_outages=db_outages,
            outage_seconds=outage_seconds,
        ),
        data_dir=settings.data_dir.resolve(),
        postgres=postgres,
        policies=settings.retry_policies.resolve(),
        workers=workers,
        apis=apis,
        otp_seconds=otp_seconds,
        report=report,
        keep=keep,
    )
    console = Console()
    if not console.is_terminal:  # a log or CI: wide enough for the verdict table
        console = Console(width=150)
    outcome = asyncio.run(run_chaos(config, console))
    print_verdict(console, outcome)
    if outcome.violations:
        raise typer.Exit(1)


def bench(
    n: Annotated[int, typer.Option("--n", min=0, help="withdrawals at --concurrency")] = 300,
    concurrency: Annotated[int, typer.Option(min=1, help="customers at once")] = 20,
    serial: Annotated[int, typer.Option(min=0, help="withdrawals at c=1 (latency)")] = 50,
    warmup: Annotated[int, typer.Option(min=0, help="unmeasured flows before each")] = 20,
    hold: Annotated[
        int, typer.Option(min=0, help="then this many waiting for their OTP at once")
    ] = 0,
    status_windows: Annotated[
        int,
        typer.Option(
            min=1, help="with --hold: windows of 1,000 status calls, 30 s apart, idle and waiting"
        ),
    ] = 5,
    bare: Annotated[bool, typer.Option(help="run the bare withdraw shape too")] = True,
    api_url: Annotated[
        str | None, typer.Option(help="a running stack's API (default: start one)")
    ] = None,
    sim_url: Annotated[str | None, typer.Option(help="with --api-url: its simulators")] = None,
    data_dir: DataDir = None,
    report: Annotated[Path | None, typer.Option(help="write the figures as JSON here")] = None,
    plot: Annotated[Path | None, typer.Option(help="write the latency plot (PNG) here")] = None,
) -> None:
    """Drive withdrawals through the public API and the bare withdraw shape (the same Temporal
    calls with no-op activities) on the same server, in one run; print the figures side by
    side with the targets (docs/performance.md). Not a test: it asserts nothing."""
    from rich.console import Console

    from withdraw_service.bench.run import BenchConfig, run_bench

    settings = load_settings()
    config = BenchConfig(
        n=n,
        concurrency=concurrency,
        serial=serial,
        warmup=warmup,
        hold=hold,
        bare=bare,
        status_windows=status_windows,
        api_url=api_url,
        sim_url=sim_url,
        data_dir=data_dir.resolve() if data_dir else None,
    )
    console = Console()
    if not console.is_terminal:
        console = Console(width=150)
    found = asyncio.run(run_bench(config, settings, console))
    found.print(console)
    if report:
        found.write(report)
        console.print(f"report: {report}")
    if plot:
        found.plot(plot)
        console.print(f"plot: {plot}")
