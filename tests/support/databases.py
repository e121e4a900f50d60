"""The databases a test tier runs on: SQLite (the default) and the machine's PostgreSQL
(127.0.0.1:5432, trust auth, database `test`), each test session in a schema of its own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

POSTGRES_DSN = "postgresql://postgres@127.0.0.1:5432/test"


@contextmanager
def postgres_schema_url() -> Iterator[str]:
    schema = f"wt_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield (
            f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
        )
    finally:
        with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@contextmanager
def database_url(kind: str, tmp: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'withdraw.db'}"
    else:
        with postgres_schema_url() as url:
            yield url
