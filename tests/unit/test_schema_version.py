"""Outside dev mode nothing but `withdraw-service migrate` changes the schema: a worker or an
API starting on an older schema refuses to run (and says what to do), one on a newer schema
(a rollout under way: the migration Job ran first) runs on."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from fastapi import FastAPI
from sqlalchemy import text
from typer.testing import CliRunner

from tests.unit.conftest import RETRY_POLICIES
from withdraw_service.api.app import create_app
from withdraw_service.cli import app as cli
from withdraw_service.persistence.db import (
    SchemaBehind,
    _alembic,
    make_engine,
    migrate,
    require_schema,
    schema_version,
)
from withdraw_service.settings import Settings
from withdraw_service.worker import prepare_schema

pytestmark = pytest.mark.unit


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'withdraw.db'}"


def _set_revision(url: str, revision: str) -> None:
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    engine.dispose()


def _head_and_previous(url: str) -> tuple[str, str]:
    script = ScriptDirectory.from_config(_alembic(url))
    (head,) = script.get_heads()
    previous = script.get_revision(head).down_revision
    assert isinstance(previous, str)
    return head, previous


def test_the_schema_is_placed_against_this_releases_migrations(tmp_path: Path) -> None:
    url = _url(tmp_path)
    never = schema_version(url)
    assert (never.database, never.current, never.ahead) == ((), False, False)
    with pytest.raises(SchemaBehind, match=r"has no schema yet.*run `withdraw-service migrate`"):
        require_schema(url)

    migrate(url)
    head, previous = _head_and_previous(url)
    assert require_schema(url).database == (head,)
    assert schema_version(url).current

    _set_revision(url, previous)  # the release before this one's migration
    with pytest.raises(SchemaBehind, match=f"schema is at {previous}; this release needs {head}"):
        require_schema(url)

    _set_revision(url, "9999_from_a_newer_release")
    newer = require_schema(url)
    assert (newer.current, newer.ahead, newer.known) == (False, True, False)


def test_a_worker_migrates_only_in_dev_mode_or_when_told(tmp_path: Path) -> None:
    url = _url(tmp_path)
    production_like = Settings(environment="dev", database_url=url, migrate_on_start=False)
    assert Settings(environment="production").migrates_on_start is False
    assert Settings(environment="dev").migrates_on_start is True
    with pytest.raises(SchemaBehind):
        prepare_schema(production_like)
    assert schema_version(url).database == ()  # nothing was changed

    prepare_schema(Settings(environment="dev", database_url=url))
    assert schema_version(url).current
    prepare_schema(production_like)  # at the newest schema: runs


def test_an_api_on_an_older_schema_does_not_start(tmp_path: Path) -> None:
    settings = Settings(
        environment="dev",
        database_url=_url(tmp_path),
        migrate_on_start=False,
        retry_policies=RETRY_POLICIES,
    )
    api: FastAPI = create_app(settings)

    async def start() -> None:
        async with api.router.lifespan_context(api):
            raise AssertionError("the API started on a database with no schema")

    with pytest.raises(SchemaBehind):
        asyncio.run(start())


def test_migrate_refuses_sqlite_outside_dev_mode(tmp_path: Path) -> None:
    """A production Job whose Secret lacks WITHDRAW_DATABASE_URL would otherwise migrate a
    SQLite file of its own and report success."""
    runner = CliRunner()
    env = {"WITHDRAW_ENVIRONMENT": "production", "WITHDRAW_DATABASE_URL": ""}
    run = runner.invoke(cli, ["migrate", "--data-dir", str(tmp_path)], env=env)
    assert run.exit_code == 1, run.output
    assert "set WITHDRAW_DATABASE_URL" in run.output
    assert list(tmp_path.iterdir()) == []  # no database made


def test_migrate_says_where_the_schema_was_and_is(tmp_path: Path) -> None:
    url = _url(tmp_path)
    runner = CliRunner(env={"WITHDRAW_ENVIRONMENT": "dev"})
    first = runner.invoke(cli, ["migrate", "--database-url", url])
    assert first.exit_code == 0, first.output
    head, _ = _head_and_previous(url)
    assert f"none -> {head}" in first.output
    again = runner.invoke(cli, ["migrate", "--database-url", url])
    assert f"{head} -> {head}" in again.output

    _set_revision(url, "9999_from_a_newer_release")
    older_release = runner.invoke(cli, ["migrate", "--database-url", url])
    assert older_release.exit_code == 0, older_release.output
    assert "newer than this release" in older_release.output
