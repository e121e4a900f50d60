"""The engine's own settings on the real PostgreSQL: lock and statement timeouts below the
activities' timeouts, added to (never replacing) what the URL asks for, e.g. a search_path."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from tests.support.databases import postgres_schema_url
from withdraw_service.persistence.db import make_engine


@pytest.fixture
def schema_url() -> Iterator[str]:
    with postgres_schema_url() as url:
        yield url


def test_the_engine_keeps_the_urls_options_and_adds_its_timeouts(schema_url: str) -> None:
    engine = make_engine(schema_url, lock_timeout_seconds=3)
    try:
        with engine.connect() as connection:
            search_path = connection.execute(text("SHOW search_path")).scalar()
            lock_timeout = connection.execute(text("SHOW lock_timeout")).scalar()
            statement_timeout = connection.execute(text("SHOW statement_timeout")).scalar()
    finally:
        engine.dispose()
    assert search_path == schema_url.rsplit("%3D", 1)[1]
    assert (lock_timeout, statement_timeout) == ("3s", "4s")
