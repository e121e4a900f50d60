"""The bare shape's only activity: does nothing, so what it costs is the engine's round trip."""

from __future__ import annotations

from temporalio import activity

BARE_STEP = "bareStep"


@activity.defn(name=BARE_STEP)
async def bare_step() -> None:
    return None
