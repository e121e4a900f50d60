"""What the bank and DriveWealth say about one withdrawal, for the console's withdrawal page:
read-only look-ups through the same adapters the workers use. A service that does not answer
in time is shown as unavailable; the page never waits on it for long."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from withdraw_service.activities.token_cache import DwTokenCache
from withdraw_service.adapters.ports import DriveWealth, TransferChecker
from withdraw_service.domain.withdrawal import WithdrawState

LOOKUP_SECONDS = 5.0
T = TypeVar("T")


@dataclass(frozen=True)
class LedgerLine:
    service: str
    subject: str
    answer: str
    ok: bool


class Ledgers:
    def __init__(self, checker: TransferChecker, drivewealth: DriveWealth) -> None:
        self._checker = checker
        self._drivewealth = drivewealth
        self._tokens = DwTokenCache(drivewealth)

    async def look(self, state: WithdrawState) -> list[LedgerLine]:
        asks = [self._bank(state)]
        if state.dw_redemption_id:
            asks.append(self._redemption(state.dw_redemption_id))
        return list(await asyncio.gather(*asks))  # each bounded: the page waits 5 s at most

    async def _bank(self, state: WithdrawState) -> LedgerLine:
        if state.transfer_reference_number:
            subject = f"transfer {state.transfer_reference_number}"
            found, why = await _ask(self._checker.status(state.transfer_reference_number))
        else:
            subject = f"a transfer of correlation id {state.correlation_id}"
            found, why = await _ask(self._checker.status_by_correlation(state.correlation_id))
        if why:
            return LedgerLine("Transfer Checker", subject, why, ok=False)
        if found is None:
            return LedgerLine("Transfer Checker", subject, "no such transfer", ok=True)
        return LedgerLine("Transfer Checker", subject, found.status, ok=True)

    async def _redemption(self, redemption_id: str) -> LedgerLine:
        subject = f"redemption {redemption_id}"

        async def read() -> str:
            found = await self._tokens.authorised(
                lambda token: self._drivewealth.get_redemption(token, redemption_id)
            )
            return f"{found.status_message} (status {found.status_id})"

        answer, why = await _ask(read())
        return LedgerLine("DriveWealth", subject, why or answer or "", ok=not why)


async def _ask(call: Awaitable[T]) -> tuple[T | None, str | None]:
    """The answer, or a short text saying why there is none (never the upstream's own text:
    it may carry anything)."""
    try:
        return await asyncio.wait_for(call, LOOKUP_SECONDS), None
    except TimeoutError:
        return None, f"unavailable (no answer in {LOOKUP_SECONDS:.0f} s)"
    except Exception as exc:  # any failure of a read-only look-up is shown, not raised
        return None, f"unavailable ({type(exc).__name__})"
