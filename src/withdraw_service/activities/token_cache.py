"""DriveWealth bearer token, cached in the worker until shortly before DW says it expires.

Kept in process memory on purpose: a token must never reach Temporal history.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime

from withdraw_service.adapters.ports import DriveWealth

REFRESH_MARGIN_SECONDS = 60.0


class DwTokenCache:
    def __init__(self, drivewealth: DriveWealth, clock: Callable[[], float] = time.monotonic):
        self._drivewealth = drivewealth
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._valid_until = 0.0
        self._expires_at = datetime.now(UTC)

    async def token(self, *, refresh: bool = False) -> str:
        async with self._lock:
            if refresh or self._token is None or self._clock() >= self._valid_until:
                fresh = await self._drivewealth.get_token()
                self._token = fresh.access_token
                margin = min(REFRESH_MARGIN_SECONDS, fresh.expires_in / 2)
                self._valid_until = self._clock() + fresh.expires_in - margin
                self._expires_at = datetime.fromtimestamp(time.time() + fresh.expires_in, UTC)
            return self._token

    @property
    def expires_at(self) -> datetime:
        return self._expires_at

    def invalidate(self) -> None:
        self._token = None
