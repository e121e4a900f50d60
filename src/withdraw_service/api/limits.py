"""Abuse limits per user (docs/api.md, Security): requests per minute on every endpoint that
takes a bearer token, initiations per hour, and wrong OTPs per day, after which every new
initiation is refused until the day (UTC) is over. Over a limit: `429 RATE_LIMITED` with
`Retry-After` (the seconds until the window ends).

Counted in the database (persistence/counters.py), in fixed windows (the minute, the hour,
the UTC day), so the limits hold across API replicas and restarts. A fixed window lets a
burst of up to twice a limit through across a window's edge; what the limits stop is the
sustained loop (a stolen token guessing OTPs all day), not a burst.

When the database does not answer, nothing is counted or refused (logged): the limits must
not turn a database outage into refusals (status calls answer from Temporal then, and a
withdrawal started then is saved once the database is back).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from withdraw_service.domain.errors import RateLimited
from withdraw_service.persistence.counters import AbuseCounters

log = logging.getLogger(__name__)

MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)


@dataclass(frozen=True)
class Limits:
    requests_per_minute: int = 120
    initiations_per_hour: int = 10
    wrong_otps_per_day: int = 10


def _window(now: datetime, length: timedelta) -> tuple[datetime, datetime]:
    """The fixed window `now` falls in: its start and its end (UTC)."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    start = epoch + ((now - epoch) // length) * length
    return start, start + length


def _retry_after(now: datetime, end: datetime) -> int:
    return max(1, math.ceil((end - now).total_seconds()))


class AbuseLimits:
    """Synchronous: called from threads (FastAPI runs sync dependencies in its pool)."""

    def __init__(
        self,
        counters: AbuseCounters,
        limits: Limits,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._counters = counters
        self._limits = limits
        self._clock = clock

    def request(self, user_id: str) -> None:
        """Count one request; RateLimited beyond the minute's allowance."""
        now = self._clock()
        start, end = _window(now, MINUTE)
        with _unless_the_database_is_away("request"):
            seen = self._counters.hit(user_id, "requests", start, end)
            if seen > self._limits.requests_per_minute:
                raise RateLimited(
                    f"more than {self._limits.requests_per_minute} requests in a minute",
                    retry_after=_retry_after(now, end),
                )

    def initiation(self, user_id: str) -> None:
        """Before a withdrawal is started: refused after too many wrong OTPs today, or beyond
        the hour's initiations (every attempt counts, a refused one too)."""
        now = self._clock()
        day, day_end = _window(now, DAY)
        hour, hour_end = _window(now, HOUR)
        with _unless_the_database_is_away("initiation"):
            wrong = self._counters.count(user_id, "wrong-otps", day)
            if wrong >= self._limits.wrong_otps_per_day:
                raise RateLimited(
                    f"{self._limits.wrong_otps_per_day} wrong one-time codes today: "
                    "new withdrawals are refused until the day (UTC) is over",
                    retry_after=_retry_after(now, day_end),
                )
            started = self._counters.hit(user_id, "initiations", hour, hour_end)
            if started > self._limits.initiations_per_hour:
                raise RateLimited(
                    f"more than {self._limits.initiations_per_hour} withdrawals started in an hour",
                    retry_after=_retry_after(now, hour_end),
                )

    def wrong_otp(self, user_id: str) -> None:
        """Count a wrong one-time code (answered OTP_INVALID, or the last attempt spent)."""
        day, day_end = _window(self._clock(), DAY)
        with _unless_the_database_is_away("wrong OTP"):
            self._counters.hit(user_id, "wrong-otps", day, day_end)


@contextlib.contextmanager
def _unless_the_database_is_away(what: str) -> Iterator[None]:
    try:
        yield
    except (DBAPIError, PoolTimeoutError) as exc:
        log.warning("%s not counted for the abuse limits: %s", what, type(exc).__name__)
