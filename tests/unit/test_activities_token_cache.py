"""The DriveWealth token cache: one token until shortly before DW says it expires."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from withdraw_service.activities.token_cache import REFRESH_MARGIN_SECONDS, DwTokenCache
from withdraw_service.adapters.fakes import FakeDriveWealth
from withdraw_service.adapters.ports import DwToken


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class WallClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


class ShortLivedTokens(FakeDriveWealth):
    def __init__(self, expires_in: int) -> None:
        super().__init__()
        self.expires_in = expires_in

    async def get_token(self) -> DwToken:
        self.token_requests += 1
        await asyncio.sleep(0)  # let concurrent callers pile up behind the lock
        return DwToken(f"token-{self.token_requests}", self.expires_in)


async def test_the_token_is_reused_until_shortly_before_it_expires() -> None:
    clock, dw = Clock(), FakeDriveWealth()
    cache = DwTokenCache(dw, clock=clock)
    assert await cache.token() == "token-1"
    clock.now += 3600 - REFRESH_MARGIN_SECONDS - 1
    assert await cache.token() == "token-1"
    assert dw.token_requests == 1
    clock.now += 1  # inside the refresh margin: DW may expire it any moment
    assert await cache.token() == "token-2"
    assert dw.token_requests == 2


async def test_a_short_lived_token_is_refreshed_halfway_through_its_life() -> None:
    clock, dw = Clock(), ShortLivedTokens(expires_in=60)
    cache = DwTokenCache(dw, clock=clock)
    await cache.token()
    clock.now += 29
    assert await cache.token() == "token-1"
    clock.now += 1
    assert await cache.token() == "token-2"


async def test_refresh_and_invalidate_force_a_new_token() -> None:
    clock, dw = Clock(), FakeDriveWealth()
    cache = DwTokenCache(dw, clock=clock)
    await cache.token()
    assert await cache.token(refresh=True) == "token-2"
    cache.invalidate()
    assert await cache.token() == "token-3"


async def test_concurrent_callers_share_one_token_request() -> None:
    dw = ShortLivedTokens(expires_in=3600)
    cache = DwTokenCache(dw, clock=Clock())
    tokens = await asyncio.gather(*(cache.token() for _ in range(5)))
    assert tokens == ["token-1"] * 5
    assert dw.token_requests == 1


async def test_expires_at_is_when_dw_says_the_token_ends() -> None:
    """Both clocks injected: the monotonic one decides the refresh, the wall clock the
    `expires_at` a token gets (DW's expires_in after the moment it was fetched)."""
    clock, wall, dw = Clock(), WallClock(T0), ShortLivedTokens(expires_in=600)
    cache = DwTokenCache(dw, clock=clock, now=wall)
    assert cache.expires_at == T0  # nothing fetched yet: already due

    assert await cache.token() == "token-1"
    assert cache.expires_at == T0 + timedelta(seconds=600)

    # Reused: neither clock moves expires_at until a new token is fetched.
    clock.now += 600 - REFRESH_MARGIN_SECONDS - 1
    wall.now += timedelta(seconds=600 - REFRESH_MARGIN_SECONDS - 1)
    assert await cache.token() == "token-1"
    assert cache.expires_at == T0 + timedelta(seconds=600)

    # Inside the refresh margin by the monotonic clock: a new token, dated by the wall clock
    # (which a test can move independently, as NTP moves the real one).
    clock.now += 1
    wall.now = T0 + timedelta(hours=2)
    assert await cache.token() == "token-2"
    assert cache.expires_at == T0 + timedelta(hours=2, seconds=600)

    # A forced refresh is dated by the wall clock too, whatever the monotonic one says.
    wall.now += timedelta(seconds=5)
    assert await cache.token(refresh=True) == "token-3"
    assert cache.expires_at == T0 + timedelta(hours=2, seconds=605)
    assert dw.token_requests == 3
