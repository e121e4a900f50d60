"""The deployment's commands, each run as a Kubernetes Job (docs/deployment.md): `migrate`
(the only way the schema changes outside dev mode) and `setup-temporal` (the namespace and the
search attributes a Temporal cluster needs)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Annotated

import typer

from withdraw_service.cli_options import (
    DatabaseUrl,
    DataDir,
    Namespace,
    TemporalAddress,
    load_settings,
)
from withdraw_service.logs import configure_logging


def migrate(database_url: DatabaseUrl = None, data_dir: DataDir = None) -> None:
    """Bring the database to the newest schema: in production the only way it changes (the
    migration Job). Safe to run twice at once on PostgreSQL: one waits for the other."""
    from withdraw_service.persistence.db import migrate as upgrade
    from withdraw_service.persistence.db import schema_version

    settings = load_settings(database_url=database_url, data_dir=data_dir)
    configure_logging(settings.log_level)
    try:
        settings.check_database()
    except ValueError as refused:
        typer.echo(f"migrate: {refused}", err=True)
        raise typer.Exit(1) from None
    before = schema_version(settings.effective_database_url)
    if before.ahead:
        typer.echo(f"the database is at {', '.join(before.database)}, newer than this release")
        return
    upgrade(settings.effective_database_url)
    after = schema_version(settings.effective_database_url).database
    typer.echo(
        f"database schema: {', '.join(before.database) or 'none'} -> {', '.join(after)} (newest)"
    )


def setup_temporal(
    temporal_address: TemporalAddress = None,
    temporal_namespace: Namespace = None,
    retention_days: Annotated[
        int, typer.Option(min=1, help="how long closed withdrawals stay in a new namespace")
    ] = 30,
    check_only: Annotated[
        bool,
        typer.Option(help="change nothing, only check (Temporal Cloud: made in its console)"),
    ] = False,
) -> None:
    """Register the namespace (unless it exists) and the search attributes every withdrawal
    is started with. Safe to repeat: what exists is left as it is."""
    from temporalio.client import Client

    from withdraw_service.bootstrap import temporal_tls
    from withdraw_service.temporal_setup import SetupRefused
    from withdraw_service.temporal_setup import setup_temporal as ensure

    settings = load_settings(
        temporal_address=temporal_address, temporal_namespace=temporal_namespace
    )
    configure_logging(settings.log_level)
    settings.check_temporal_connection()

    async def run() -> list[str]:
        api_key = settings.temporal_api_key
        client = await Client.connect(  # no payloads pass: no data converter, no codec keys
            settings.effective_temporal_address,
            namespace=settings.temporal_namespace,
            tls=temporal_tls(settings),
            api_key=api_key.get_secret_value() if api_key else None,
        )
        return await ensure(
            client,
            settings.temporal_namespace,
            timedelta(days=retention_days),
            check_only=check_only,
        )

    try:
        report = asyncio.run(run())
    except SetupRefused as refused:
        logging.getLogger(__name__).error("%s", refused)
        raise typer.Exit(1) from None
    for line in report:
        typer.echo(line)
