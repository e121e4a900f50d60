"""DriveWealth bearer token, cached in the worker until shortly before DW says it expires.

Kept in process memory on purpose: a token must never reach Temporal history.

Time comes only from the two injected clocks: `clock` (monotonic seconds) decides when the
token is due for refresh, `now` (UTC wall clock) says when DW will expire it (`expires_at`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from withdraw_service.adapters.ports import DriveWealth
from withdraw_service.adapters.upstream import UpstreamUnauthorized

ResultT = TypeVar("ResultT")

REFRESH_MARGIN_SECONDS = 60.0


def utc_now() -> datetime:
    return datetime.now(UTC)


class DwTokenCache:
    def __init__(
        self,
        drivewealth: DriveWealth,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utc_now,
    ):
        self._drivewealth = drivewealth
        self._clock = clock
        self._now = now
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._valid_until = 0.0
        self._expires_at = now()

    async def token(self, *, refresh: bool = False) -> str:
        async with self._lock:
            if refresh or self._token is None or self._clock() >= self._valid_until:
                fresh = await self._drivewealth.get_token()
                self._token = fresh.access_token
                margin = min(REFRESH_MARGIN_SECONDS, fresh.expires_in / 2)
                self._valid_until = self._clock() + fresh.expires_in - margin
                self._expires_at = self._now() + timedelta(seconds=fresh.expires_in)
            return self._token

    @property
    def expires_at(self) -> datetime:
        return self._expires_at

    def invalidate(self) -> None:
        self._token = None

    async def authorised(self, call: Callable[[str], Awaitable[ResultT]]) -> ResultT:
        """`call(token)`; a 401 means the token was revoked before its time: drop it, fetch
        a new one and call once more (a second 401 is the caller's to read)."""
        try:
            return await call(await self.token())
        except UpstreamUnauthorized:
            self.invalidate()
            return await call(await self.token(refresh=True))
