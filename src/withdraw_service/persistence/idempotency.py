"""Idempotency-Key of POST /withdraw/initiate: the first request with a key decides which
withdrawal it means, in the database, so API restarts and replicas agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from withdraw_service.persistence.tables import IdempotencyKeyRow


@dataclass(frozen=True)
class KeyedWithdrawal:
    workflow_id: str
    correlation_id: str
    first_use: bool


class KeyReusedForAnotherRequest(Exception):
    pass


class IdempotencyRepository:
    def __init__(self, engine: Engine) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def claim(
        self, user_id: str, key: str, request_hash: str, workflow_id: str, correlation_id: str
    ) -> KeyedWithdrawal:
        """The withdrawal this key stands for: the proposed one if the key is new, else the
        one it started first. The same key with another request is refused."""
        try:
            with self._sessions.begin() as session:
                session.add(
                    IdempotencyKeyRow(
                        user_id=user_id,
                        key=key,
                        request_hash=request_hash,
                        workflow_id=workflow_id,
                        correlation_id=correlation_id,
                        created_at=datetime.now(UTC),
                    )
                )
            return KeyedWithdrawal(workflow_id, correlation_id, first_use=True)
        except IntegrityError:
            pass
        with self._sessions() as session:
            row = session.get(IdempotencyKeyRow, (user_id, key))
            assert row is not None
            if row.request_hash != request_hash:
                raise KeyReusedForAnotherRequest(key)
            return KeyedWithdrawal(row.workflow_id, row.correlation_id, first_use=False)
