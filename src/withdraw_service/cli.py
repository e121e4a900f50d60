"""`withdraw-service`: one command for every part (dev stack, api, worker, sim, codec-server)
and the tools around them (token, codec-key, demo, migrate, setup-temporal, openapi). Settings
come from `WITHDRAW_*` variables, and the flags below override them; the resolved `Settings`
object is then passed to the part that runs.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from withdraw_service import cli_deploy, cli_load
from withdraw_service.cli_options import (
    DatabaseUrl,
    DataDir,
    Environment,
    Host,
    Namespace,
    Port,
    SimUrl,
    TaskQueue,
    TemporalAddress,
    load_settings,
)
from withdraw_service.settings import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
app.command()(cli_load.chaos)
app.command()(cli_load.bench)
app.command()(cli_deploy.migrate)
app.command("setup-temporal")(cli_deploy.setup_temporal)


def _logging(settings: Settings) -> None:
    """JSON lines on stderr (logs.py), at WITHDRAW_LOG_LEVEL. Every long-running command calls
    this before it starts; uvicorn then runs with `log_config=None` so its lines are JSON too."""
    from withdraw_service.logs import configure_logging

    configure_logging(settings.log_level)


def _serve(asgi: Any, host: str, port: int, log_level: str, grace_seconds: int) -> None:
    import uvicorn

    uvicorn.run(
        asgi,
        host=host,
        port=port,
        log_config=None,  # uvicorn's loggers (access lines included) go through ours: JSON
        log_level=log_level.lower(),
        timeout_graceful_shutdown=grace_seconds,
    )


@app.command()
def dev(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    temporal_address: TemporalAddress = None,
    api_port: Port = None,
    sim_port: Annotated[int | None, typer.Option(help="simulators' port")] = None,
    temporal_port: Annotated[int | None, typer.Option(help="Temporal frontend port")] = None,
    temporal_ui_port: Annotated[int | None, typer.Option(help="Temporal Web UI port")] = None,
    metrics_port: Annotated[int | None, typer.Option(help="worker metrics port")] = None,
    codec_port: Annotated[int | None, typer.Option(help="codec server's port")] = None,
) -> None:
    """The whole embedded stack: Temporal dev server + UI, simulators, worker, API."""
    from withdraw_service.stack import run_dev_stack

    settings = load_settings(
        environment="dev",
        data_dir=data_dir,
        database_url=database_url,
        temporal_address=temporal_address,
        api_port=api_port,
        sim_port=sim_port,
        temporal_port=temporal_port,
        temporal_ui_port=temporal_ui_port,
        worker_metrics_port=metrics_port,
        codec_server_port=codec_port,
    )
    if sim_port is not None:
        settings = settings.model_copy(update={"sim_url": f"http://127.0.0.1:{sim_port}"})
    raise typer.Exit(run_dev_stack(settings))


@app.command()
def api(
    host: Host = None,
    port: Port = None,
    environment: Environment = None,
    database_url: DatabaseUrl = None,
    temporal_address: TemporalAddress = None,
    temporal_namespace: Namespace = None,
    task_queue: TaskQueue = None,
    api_wait_seconds: Annotated[float | None, typer.Option()] = None,
    otp_timeout_seconds: Annotated[int | None, typer.Option()] = None,
    otp_max_attempts: Annotated[int | None, typer.Option()] = None,
    max_amount: Annotated[str | None, typer.Option()] = None,
    retry_policies: Annotated[Path | None, typer.Option()] = None,
) -> None:
    """The public HTTP API."""

    from withdraw_service.api.app import create_app
    from withdraw_service.logs import forward_temporal_core_logs

    settings = load_settings(
        api_host=host,
        api_port=port,
        environment=environment,
        database_url=database_url,
        temporal_address=temporal_address,
        temporal_namespace=temporal_namespace,
        task_queue=task_queue,
        api_wait_seconds=api_wait_seconds,
        otp_timeout_seconds=otp_timeout_seconds,
        otp_max_attempts=otp_max_attempts,
        max_amount=max_amount,
        retry_policies=retry_policies,
    )
    _logging(settings)
    forward_temporal_core_logs()
    _serve(
        create_app(settings),
        settings.api_host,
        settings.api_port,
        settings.log_level,
        settings.api_drain_seconds,
    )


@app.command()
def worker(
    environment: Environment = None,
    database_url: DatabaseUrl = None,
    temporal_address: TemporalAddress = None,
    temporal_namespace: Namespace = None,
    task_queue: TaskQueue = None,
    sim_url: SimUrl = None,
    metrics_port: Annotated[int | None, typer.Option(help="SDK metrics port")] = None,
) -> None:
    """The Temporal worker: WithdrawWorkflow and its activities."""
    from withdraw_service.worker import run_worker

    settings = load_settings(
        environment=environment,
        database_url=database_url,
        temporal_address=temporal_address,
        temporal_namespace=temporal_namespace,
        task_queue=task_queue,
        sim_url=sim_url,
        worker_metrics_port=metrics_port,
    )
    _logging(settings)  # first: a refusal below is a JSON line too
    settings.check_production()
    import uvloop  # the event loop the API and the simulators run on too (uvicorn's choice)

    from withdraw_service.persistence.db import SchemaBehind

    try:
        uvloop.run(_run_until_signal(run_worker, settings))
    except SchemaBehind as refused:
        logging.getLogger("withdraw_service.worker").error("%s", refused)
        raise typer.Exit(1) from None


async def _run_until_signal(run: Any, settings: Settings) -> None:
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await run(settings, stop)


@app.command()
def sim(
    host: Host = None,
    port: Port = None,
    data_dir: DataDir = None,
    state_file: Annotated[
        Path | None, typer.Option(help="default: DATA_DIR/sim-state.json")
    ] = None,
    in_memory: Annotated[
        bool,
        typer.Option(
            help="keep the state in memory only: faster under load (the chaos run), "
            "lost when the simulators stop"
        ),
    ] = False,
) -> None:
    """The simulated external services (Session, Flex, Transfer, Checker, DriveWealth)."""

    from withdraw_service.sim.app import create_sim_app
    from withdraw_service.sim.config import SimConfig

    settings = load_settings(sim_host=host, sim_port=port, data_dir=data_dir)
    _logging(settings)  # first: a refusal below is a JSON line too
    settings.check_simulators()
    config = SimConfig(
        state_file=None if in_memory else state_file or settings.data_dir / "sim-state.json",
        dw_client_id=settings.dw_client_id,
        dw_client_secret=settings.dw_client_secret.get_secret_value(),
        dw_app_key=settings.dw_app_key.get_secret_value(),
        # The simulated bank's code lives 5 minutes, or as long as the service waits for it
        # when that is longer: a withdrawal held longer (the bench's --hold) would otherwise
        # meet a code the bank expired.
        otp_ttl_seconds=max(300, settings.otp_timeout_seconds),
    )
    # No access lines: the simulators' traffic is the tests' own.
    _serve(create_sim_app(config), settings.sim_host, settings.sim_port, "warning", 2)


@app.command("codec-server")
def codec_server(
    host: Host = None,
    port: Port = None,
    environment: Environment = None,
    temporal_namespace: Namespace = None,
) -> None:
    """Temporal's codec server (POST /decode, /encode) for the Web UI and the CLI."""
    from withdraw_service.bootstrap import keyring
    from withdraw_service.codec import EncryptionCodec
    from withdraw_service.codec_server import create_codec_app

    settings = load_settings(
        codec_server_host=host,
        codec_server_port=port,
        environment=environment,
        temporal_namespace=temporal_namespace,
    )
    _logging(settings)
    # It only shows payloads to an operator: one recorded before the codec is shown as it is.
    server = create_codec_app(settings, EncryptionCodec(keyring(settings), allow_plaintext=True))
    _serve(server, settings.codec_server_host, settings.codec_server_port, "warning", 2)


@app.command("codec-key")
def codec_key(
    key_id: Annotated[str, typer.Argument(help="the new key's id, e.g. 2026-11")],
) -> None:
    """Print a new random payload key as `id:base64key`, for WITHDRAW_CODEC_KEYS."""
    from withdraw_service.codec import new_key

    typer.echo(f"{key_id}:{new_key()}")


@app.command()
def token(
    user_id: Annotated[str, typer.Argument(help="the customer's user id (the token's sub)")],
    role: Annotated[list[str] | None, typer.Option(help="customer (default) and/or ops")] = None,
    ttl: Annotated[int, typer.Option(help="lifetime in seconds")] = 3600,
) -> None:
    """Print a bearer token signed with the configured WITHDRAW_JWT_SECRET."""
    from withdraw_service.api.auth import token_for

    settings = load_settings()
    roles = role or ["customer"]
    typer.echo(token_for(settings, user_id, roles, ttl))


@app.command()
def demo(
    api_url: Annotated[str, typer.Option()] = "http://127.0.0.1:8000",
    sim_url: SimUrl = None,
    user_id: Annotated[str, typer.Option()] = "user-1001",
    amount: Annotated[str, typer.Option()] = "150.00",
    product_number: Annotated[str, typer.Option()] = "ACC-0001",
) -> None:
    """Walk one withdrawal through a running stack, printing each step and the final ledger."""
    from withdraw_service.demo import run_demo

    settings = load_settings(sim_url=sim_url)
    raise typer.Exit(run_demo(settings, api_url, user_id, amount, product_number))


@app.command()
def openapi(
    out: Annotated[Path | None, typer.Option(help="write here instead of stdout")] = None,
    retry_policies: Annotated[Path | None, typer.Option()] = None,
) -> None:
    """Print the API's OpenAPI document (JSON), as `make docs` writes it to docs/openapi.json."""
    import json

    from withdraw_service.api.app import create_app

    # Nothing is served or connected (that happens in the app's lifespan), so the dev-mode
    # checks are enough: the document does not depend on secrets.
    settings = load_settings(environment="dev", retry_policies=retry_policies)
    document = json.dumps(create_app(settings).openapi(), indent=2, sort_keys=True) + "\n"
    if out is None:
        typer.echo(document, nl=False)
    else:
        out.write_text(document, encoding="utf-8")


@app.command()
def reconcile(
    since: Annotated[
        str | None,
        typer.Option(
            help="ISO-8601 start of the window (default: WITHDRAW_RECONCILE_WINDOW_DAYS ago)"
        ),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="ISO-8601 end of the window (default: now)")
    ] = None,
    database_url: DatabaseUrl = None,
    sim_url: SimUrl = None,
    environment: Environment = None,
) -> None:
    """Compare the withdrawals created in a window with the bank's and DriveWealth's records;
    open a RECONCILIATION_MISMATCH task for each that disagrees; print what was found. Exit
    code 1 when anything disagrees (the daily Schedule runs the same comparison)."""
    from withdraw_service.bootstrap import reconcile_once
    from withdraw_service.reconciliation import window

    settings = load_settings(database_url=database_url, sim_url=sim_url, environment=environment)
    settings.check_production()
    try:
        start, end = window(since, until, settings.reconcile_window_days)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since/--until") from None

    report = asyncio.run(reconcile_once(settings, start, end))
    for line in report.lines():
        typer.echo(line)
    if report.mismatches:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
