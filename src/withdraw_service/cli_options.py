"""The options the `withdraw-service` commands share, and how they become one `Settings`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from withdraw_service.settings import Settings

DataDir = Annotated[Path | None, typer.Option(help="where state files live (WITHDRAW_DATA_DIR)")]
DatabaseUrl = Annotated[str | None, typer.Option(help="SQLAlchemy URL (WITHDRAW_DATABASE_URL)")]
TemporalAddress = Annotated[
    str | None, typer.Option(help="host:port of Temporal (WITHDRAW_TEMPORAL_ADDRESS)")
]
Namespace = Annotated[str | None, typer.Option(help="WITHDRAW_TEMPORAL_NAMESPACE")]
TaskQueue = Annotated[str | None, typer.Option(help="WITHDRAW_TASK_QUEUE")]
SimUrl = Annotated[str | None, typer.Option(help="simulators' base URL (WITHDRAW_SIM_URL)")]
Environment = Annotated[str | None, typer.Option(help="dev or production (WITHDRAW_ENVIRONMENT)")]
Port = Annotated[int | None, typer.Option(help="port to listen on")]
Host = Annotated[str | None, typer.Option(help="address to listen on")]


def load_settings(**overrides: Any) -> Settings:
    """Environment first, then the flags that were given."""
    given = {key: value for key, value in overrides.items() if value is not None}
    return Settings(**given)
