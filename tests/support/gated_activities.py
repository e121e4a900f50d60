"""Fake activities that hold one step until the test lets it go, for races between the
workflow's steps and its updates (an OTP or a cancel arriving mid-save)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from temporalio import activity

from tests.support.fake_activities import FakeActivities
from withdraw_service.activities.models import (
    AuthorisationResult,
    FinalizeTransferInput,
    FinalizeTransferResult,
    InitiateTransferInput,
    SaveToDbInput,
)


@dataclass
class GatedFakes(FakeActivities):
    """Holds initiateTransfer, finalizeTransfer or one saveToDb until `release` is set."""

    hold: str = ""  # "initiateTransfer", "finalizeTransfer" or a status whose save is held
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def _gate(self, name: str) -> None:
        if name == self.hold:
            self.entered.set()
            await self.release.wait()

    @activity.defn(name="initiateTransfer")
    async def initiate_transfer(self, request: InitiateTransferInput) -> AuthorisationResult:
        await self._gate("initiateTransfer")
        return await super().initiate_transfer(request)

    @activity.defn(name="finalizeTransfer")
    async def finalize_transfer(self, request: FinalizeTransferInput) -> FinalizeTransferResult:
        await self._gate("finalizeTransfer")
        return await super().finalize_transfer(request)

    @activity.defn(name="saveToDb")
    async def save_to_db(self, request: SaveToDbInput) -> None:
        await self._gate(request.state.status.value)
        await super().save_to_db(request)
