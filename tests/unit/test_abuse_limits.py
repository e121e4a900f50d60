"""Abuse limits per user (api/limits.py), counted in the database in fixed windows: requests
per minute, initiations per hour, wrong OTPs per UTC day (then no new initiation until the
day is over). Two limiters on one database stand for two API replicas."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError

from withdraw_service.api.limits import AbuseLimits, Limits
from withdraw_service.domain.errors import RateLimited
from withdraw_service.persistence.counters import AbuseCounters
from withdraw_service.persistence.repository import WithdrawalRepository


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 30, 10, 15, 20, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def counters(repository: WithdrawalRepository) -> AbuseCounters:
    return AbuseCounters(repository.engine)


def limiter(counters: AbuseCounters, clock: Clock, **limits: int) -> AbuseLimits:
    return AbuseLimits(counters, Limits(**limits), clock)


def test_requests_beyond_the_minutes_allowance_wait_for_the_next_minute(
    counters: AbuseCounters, clock: Clock
) -> None:
    api_a = limiter(counters, clock, requests_per_minute=3)
    api_b = limiter(counters, clock, requests_per_minute=3)  # another replica
    api_a.request("user-1")
    api_b.request("user-1")
    api_a.request("user-1")
    with pytest.raises(RateLimited) as refused:
        api_b.request("user-1")
    assert refused.value.retry_after_seconds == 40  # 10:15:20 -> 10:16:00
    api_a.request("user-2")  # per user
    clock.now += timedelta(seconds=40)
    api_b.request("user-1")


def test_initiations_beyond_the_hours_allowance_are_refused(
    counters: AbuseCounters, clock: Clock
) -> None:
    limits = limiter(counters, clock, initiations_per_hour=2)
    limits.initiation("user-1")
    limits.initiation("user-1")
    with pytest.raises(RateLimited, match="2 withdrawals") as refused:
        limits.initiation("user-1")
    assert refused.value.retry_after_seconds == 44 * 60 + 40  # until 11:00
    clock.now = clock.now.replace(hour=11, minute=0, second=0)
    limits.initiation("user-1")


def test_wrong_otps_refuse_every_new_initiation_until_the_day_is_over(
    counters: AbuseCounters, clock: Clock
) -> None:
    limits = limiter(counters, clock, wrong_otps_per_day=3, initiations_per_hour=100)
    for _ in range(2):
        limits.wrong_otp("user-1")
    limits.initiation("user-1")  # 2 of 3: still allowed
    limits.wrong_otp("user-1")
    clock.now += timedelta(hours=5)  # hours later, the same day
    with pytest.raises(RateLimited, match="wrong one-time codes today") as refused:
        limits.initiation("user-1")
    assert refused.value.retry_after_seconds == (24 - 15) * 3600 - 15 * 60 - 20  # to midnight
    limits.initiation("user-2")
    clock.now = datetime(2026, 12, 1, 0, 0, 1, tzinfo=UTC)
    limits.initiation("user-1")


def test_windows_that_are_over_are_purged(counters: AbuseCounters, clock: Clock) -> None:
    limits = limiter(counters, clock)
    limits.request("user-1")
    limits.wrong_otp("user-1")
    assert counters.purge(clock.now) == 0
    assert counters.purge(clock.now + timedelta(minutes=1)) == 1  # the minute's
    assert counters.purge(clock.now + timedelta(days=1)) == 1  # the day's


def test_a_database_that_does_not_answer_counts_nothing_and_refuses_nothing(
    clock: Clock,
) -> None:
    engine = create_engine("sqlite:////nonexistent/dir/withdraw.db")
    limits = limiter(AbuseCounters(engine), clock, requests_per_minute=1)
    for _ in range(3):
        limits.request("user-1")
        limits.initiation("user-1")
    limits.wrong_otp("user-1")


def test_codes_are_refused_too_once_the_days_wrong_codes_are_reached(
    counters: AbuseCounters, clock: Clock
) -> None:
    """Withdrawals started before the limit was reached cannot be used to go on guessing."""
    limits = limiter(counters, clock, wrong_otps_per_day=2)
    limits.before_otp("user-1")
    limits.wrong_otp("user-1")
    limits.before_otp("user-1")
    limits.wrong_otp("user-1")
    with pytest.raises(RateLimited, match="codes are refused"):
        limits.before_otp("user-1")
    limits.before_otp("user-2")


class Failing:
    """A database that does not answer, counting how often it was asked."""

    def __init__(self) -> None:
        self.asked = 0

    def hit(self, *_: object) -> int:
        self.asked += 1
        raise OperationalError("INSERT", {}, Exception("connection refused"))

    def count(self, *_: object) -> int:
        self.asked += 1
        raise OperationalError("SELECT", {}, Exception("connection refused"))


def test_after_a_database_error_nothing_is_tried_for_a_pause(clock: Clock) -> None:
    """Each try would wait for a connection: one failure pauses the counting (10 s), so an
    outage does not make every request wait; then it tries again."""
    database, now = Failing(), [0.0]
    limits = AbuseLimits(
        database,  # type: ignore[arg-type]
        Limits(requests_per_minute=1),
        clock,
        pause_seconds=10,
        monotonic=lambda: now[0],
    )
    for _ in range(5):
        limits.request("user-1")
        limits.initiation("user-1")
        limits.before_otp("user-1")
        limits.wrong_otp("user-1")
    assert database.asked == 1
    now[0] = 10.5
    limits.request("user-1")
    assert database.asked == 2
