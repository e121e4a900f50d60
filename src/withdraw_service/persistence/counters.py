"""Per-user counters in fixed windows, for the abuse limits (api/limits.py). One statement per
count: an insert that adds one to the window's row when it exists (PostgreSQL and SQLite both
do `INSERT ... ON CONFLICT DO UPDATE ... RETURNING`), so concurrent requests on any replica
count exactly."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Engine, Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from withdraw_service.persistence.tables import AbuseCounterRow

T = cast(Table, AbuseCounterRow.__table__)


class AbuseCounters:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        dialect = engine.dialect.name
        if dialect not in ("postgresql", "sqlite"):
            raise ValueError(f"abuse counters need PostgreSQL or SQLite, not {dialect}")
        self._insert = postgresql.insert if dialect == "postgresql" else sqlite.insert

    def hit(self, user_id: str, kind: str, window_start: datetime, expires_at: datetime) -> int:
        """Count one more in the window; answers the count with this one."""
        statement = (
            self._insert(T)
            .values(
                user_id=user_id,
                kind=kind,
                window_start=window_start,
                count=1,
                expires_at=expires_at,
            )
            .on_conflict_do_update(
                index_elements=[T.c.user_id, T.c.kind, T.c.window_start],
                set_={"count": T.c.count + 1},
            )
            .returning(T.c.count)
        )
        with self._engine.begin() as connection:
            return int(connection.execute(statement).scalar_one())

    def count(self, user_id: str, kind: str, window_start: datetime) -> int:
        query = select(T.c.count).where(
            T.c.user_id == user_id, T.c.kind == kind, T.c.window_start == window_start
        )
        with self._engine.connect() as connection:
            return int(connection.execute(query).scalar() or 0)

    def purge(self, now: datetime) -> int:
        """Remove the windows that are over."""
        with self._engine.begin() as connection:
            return connection.execute(delete(T).where(T.c.expires_at < now)).rowcount
