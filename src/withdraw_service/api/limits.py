"""Abuse limits per user (docs/api.md, Security): requests per minute on every endpoint that
takes a bearer token, initiations per hour, and wrong OTPs per day (codes the bank refused),
after which every new initiation and every code is refused until the day (UTC) is over.
Over a limit: `429 RATE_LIMITED` with `Retry-After` (the seconds until the window ends).

Counted in the database (persistence/counters.py), in fixed windows (the minute, the hour,
the UTC day), so the limits hold across API replicas and restarts. A fixed window lets a
burst of up to twice a limit through across a window's edge; what the limits stop is the
sustained loop (a stolen token guessing OTPs all day), not a burst.

When the database does not answer, nothing is counted or refused (logged), and for the next
10 s nothing is even tried: the limits must not turn a database outage into refusals or into
every request waiting on a connection (status calls answer from Temporal then, and a
withdrawal started then is saved once the database is back).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from withdraw_service.domain.errors import RateLimited
from withdraw_service.persistence.counters import AbuseCounters

log = logging.getLogger(__name__)

MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
# After a database error: how long nothing is counted (then the next request tries again).
PAUSE_AFTER_AN_OUTAGE_SECONDS = 10.0


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
        pause_seconds: float = PAUSE_AFTER_AN_OUTAGE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._counters = counters
        self._limits = limits
        self._clock = clock
        self._pause = pause_seconds
        self._monotonic = monotonic
        self._away_until = 0.0

    def request(self, user_id: str) -> None:
        """Count one request; RateLimited beyond the minute's allowance."""
        now = self._clock()
        start, end = _window(now, MINUTE)
        with self._unless_the_database_is_away("request") as counting:
            if counting:
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
        hour, hour_end = _window(now, HOUR)
        with self._unless_the_database_is_away("initiation") as counting:
            if counting:
                self._refuse_after_wrong_codes(user_id, now)
                started = self._counters.hit(user_id, "initiations", hour, hour_end)
                if started > self._limits.initiations_per_hour:
                    raise RateLimited(
                        f"more than {self._limits.initiations_per_hour} withdrawals started "
                        "in an hour",
                        retry_after=_retry_after(now, hour_end),
                    )

    def before_otp(self, user_id: str) -> None:
        """Before a code is submitted: refused once today's wrong codes reached the limit (so
        withdrawals started before it cannot be used to guess on)."""
        with self._unless_the_database_is_away("OTP check") as counting:
            if counting:
                self._refuse_after_wrong_codes(user_id, self._clock())

    def wrong_otp(self, user_id: str) -> None:
        """Count a wrong one-time code (answered OTP_INVALID, or the last attempt spent)."""
        day, day_end = _window(self._clock(), DAY)
        with self._unless_the_database_is_away("wrong OTP") as counting:
            if counting:
                self._counters.hit(user_id, "wrong-otps", day, day_end)

    def _refuse_after_wrong_codes(self, user_id: str, now: datetime) -> None:
        day, day_end = _window(now, DAY)
        if self._counters.count(user_id, "wrong-otps", day) >= self._limits.wrong_otps_per_day:
            raise RateLimited(
                f"{self._limits.wrong_otps_per_day} wrong one-time codes today: new "
                "withdrawals and codes are refused until the day (UTC) is over",
                retry_after=_retry_after(now, day_end),
            )

    @contextlib.contextmanager
    def _unless_the_database_is_away(self, what: str) -> Iterator[bool]:
        """Yields whether to count; after a database error nothing is counted for a pause
        (each attempt would wait for the pool or a connect timeout, request after request)."""
        if self._monotonic() < self._away_until:
            yield False
            return
        try:
            yield True
        except (DBAPIError, PoolTimeoutError) as exc:
            self._away_until = self._monotonic() + self._pause
            log.warning(
                "%s not counted for the abuse limits (none for %.0f s): %s",
                what,
                self._pause,
                type(exc).__name__,
            )
