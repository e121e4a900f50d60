"""Initiate Idempotency-Keys are remembered for a configured time, then forgotten by the
worker's hourly chore: a key older than that starts a new withdrawal. A finalize key keeps the
first answer recorded for it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from tests.support.races import race
from withdraw_service.persistence.idempotency import IdempotencyRepository
from withdraw_service.persistence.repository import WithdrawalRepository
from withdraw_service.persistence.tables import FinalizeKeyRow, IdempotencyKeyRow
from withdraw_service.worker import purge_expired_keys


def _age(repository: WithdrawalRepository, key: str, days: int) -> None:
    with repository.engine.begin() as connection:
        connection.execute(
            update(IdempotencyKeyRow)
            .where(IdempotencyKeyRow.key == key)
            .values(created_at=datetime.now(UTC) - timedelta(days=days))
        )


def test_only_keys_older_than_the_limit_are_forgotten(repository: WithdrawalRepository) -> None:
    keys = IdempotencyRepository(repository.engine)
    keys.claim("user-1", "old", "h", "WITHDRAW-a", "cid-a")
    keys.claim("user-1", "new", "h", "WITHDRAW-b", "cid-b")
    _age(repository, "old", days=31)
    _age(repository, "new", days=29)

    assert keys.purge(datetime.now(UTC) - timedelta(days=30)) == 1

    again = keys.claim("user-1", "old", "h", "WITHDRAW-c", "cid-c")
    assert (again.workflow_id, again.first_use) == ("WITHDRAW-c", True)
    kept = keys.claim("user-1", "new", "h", "WITHDRAW-d", "cid-d")
    assert (kept.workflow_id, kept.first_use) == ("WITHDRAW-b", False)


async def test_the_workers_chore_purges_at_start_and_stops_when_told(
    repository: WithdrawalRepository,
) -> None:
    keys = IdempotencyRepository(repository.engine)
    keys.claim("user-1", "old", "h", "WITHDRAW-a", "cid-a")
    _age(repository, "old", days=40)
    stop = asyncio.Event()
    chore = asyncio.create_task(purge_expired_keys(keys, timedelta(days=30), stop, interval=60))
    for _ in range(100):
        await asyncio.sleep(0.02)
        if keys.claim("user-1", "old", "h", "WITHDRAW-z", "cid-z").first_use:
            break
    else:
        raise AssertionError("the expired key was not removed")
    stop.set()
    await asyncio.wait_for(chore, 5)


def test_finalize_keys_are_forgotten_too(repository: WithdrawalRepository) -> None:
    keys = IdempotencyRepository(repository.engine)
    keys.claim_finalize("user-1", "fin-old", "WITHDRAW-a")
    keys.record_finalize("user-1", "fin-old", {"code": "OTP_INVALID", "message": "m"})
    keys.claim_finalize("user-1", "fin-new", "WITHDRAW-a")
    with repository.engine.begin() as connection:
        connection.execute(
            update(FinalizeKeyRow)
            .where(FinalizeKeyRow.key == "fin-old")
            .values(created_at=datetime.now(UTC) - timedelta(days=31))
        )
    assert keys.purge(datetime.now(UTC) - timedelta(days=30)) == 1
    assert keys.claim_finalize("user-1", "fin-old", "WITHDRAW-a").first_use
    assert not keys.claim_finalize("user-1", "fin-new", "WITHDRAW-a").first_use


def test_of_two_final_answers_recorded_at_once_the_first_is_kept(
    repository: WithdrawalRepository,
) -> None:
    """Two requests with one finalize key both ended: once an answer is recorded, a retry
    gets that one back for good, even when the other records its own between the first's
    read and its write (on SQLite too)."""
    keys = IdempotencyRepository(repository.engine)
    keys.claim_finalize("user-1", "fin", "WITHDRAW-a")
    first = {"code": "OTP_INVALID", "message": "first"}

    def record_second_then_read() -> object:
        keys.record_finalize("user-1", "fin", {"code": "OTP_INVALID", "message": "second"})
        return keys.claim_finalize("user-1", "fin", "WITHDRAW-a").answer

    _, seen_after_second = race(
        repository.engine,
        lambda: keys.record_finalize("user-1", "fin", first),
        record_second_then_read,
        paused_after="FROM finalize_keys",
    )
    assert seen_after_second == first  # the second waited for the first's, and kept it
    assert keys.claim_finalize("user-1", "fin", "WITHDRAW-a").answer == first
