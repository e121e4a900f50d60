"""Idempotency-Keys, decided in the database so that API restarts and replicas agree: on
POST /withdraw/initiate the first request with a key decides which withdrawal it means; on
PUT /withdraw/finalize the first final answer is kept, so that a repeat gets it instead of
submitting the OTP again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, Engine, delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from withdraw_service.persistence.db import get_for_update
from withdraw_service.persistence.tables import FinalizeKeyRow, IdempotencyKeyRow


@dataclass(frozen=True)
class KeyedWithdrawal:
    workflow_id: str
    correlation_id: str
    first_use: bool


KeyRow = TypeVar("KeyRow", IdempotencyKeyRow, FinalizeKeyRow)


class KeyReusedForAnotherRequest(Exception):
    pass


@dataclass(frozen=True)
class FinalizeKey:
    first_use: bool
    answer: dict[str, Any] | None
    """The first request's final answer, once it had one."""


class IdempotencyRepository:
    def __init__(self, engine: Engine) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def claim(
        self, user_id: str, key: str, request_hash: str, workflow_id: str, correlation_id: str
    ) -> KeyedWithdrawal:
        """The withdrawal this key stands for: the proposed one if the key is new, else the
        one it started first. The same key with another request is refused."""
        existing = self._first_or_existing(
            IdempotencyKeyRow(
                user_id=user_id,
                key=key,
                request_hash=request_hash,
                workflow_id=workflow_id,
                correlation_id=correlation_id,
                created_at=datetime.now(UTC),
            )
        )
        if existing is None:
            return KeyedWithdrawal(workflow_id, correlation_id, first_use=True)
        if existing.request_hash != request_hash:
            raise KeyReusedForAnotherRequest(key)
        return KeyedWithdrawal(existing.workflow_id, existing.correlation_id, first_use=False)

    def claim_finalize(self, user_id: str, key: str, workflow_id: str) -> FinalizeKey:
        """This finalize key, new or seen before (with its answer if it had one). A key used
        for another withdrawal is refused."""
        existing = self._first_or_existing(
            FinalizeKeyRow(
                user_id=user_id,
                key=key,
                workflow_id=workflow_id,
                answer=None,
                created_at=datetime.now(UTC),
            )
        )
        if existing is None:
            return FinalizeKey(first_use=True, answer=None)
        if existing.workflow_id != workflow_id:
            raise KeyReusedForAnotherRequest(key)
        return FinalizeKey(first_use=False, answer=existing.answer)

    def _first_or_existing(self, row: KeyRow) -> KeyRow | None:
        """Store `row`; None when it went in, else the row already stored under its key (the
        primary key decides, so concurrent first uses cannot both win)."""
        try:
            with self._sessions.begin() as session:
                session.add(row)
            return None
        except IntegrityError:
            pass
        with self._sessions() as session:
            existing = session.get(type(row), (row.user_id, row.key))
            assert existing is not None
            return existing

    def record_finalize(self, user_id: str, key: str, answer: dict[str, Any]) -> None:
        """Keep the first final answer (a later one never replaces it)."""
        with self._sessions.begin() as session:
            row = get_for_update(session, FinalizeKeyRow, (user_id, key))
            if row is not None and row.answer is None:
                row.answer = answer

    def purge(self, older_than: datetime) -> int:
        """Forget keys first used before `older_than`; how many were removed. A key is a
        promise for a client's retries, kept for days, not forever."""
        removed = 0
        for table in (IdempotencyKeyRow, FinalizeKeyRow):
            with self._sessions.begin() as session:  # one table's trouble spares the other
                result = session.execute(delete(table).where(table.created_at < older_than))
                removed += int(cast(CursorResult[Any], result).rowcount)
        return removed
