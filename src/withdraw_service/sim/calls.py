"""How every business call of every simulated service runs, faults included.

A route works out what the call concerns (`CallTarget`) and hands `run_call` a synchronous
`decide` function. `run_call` counts the call, takes the fault that hits it, acts out the
transport faults (500, 401, hang, latency), runs `decide` under the store's lock, saves, and
for `timeout_after_commit` hangs after the change is saved. Business faults (reject,
pending, fail) are passed to `decide`, which alone knows what they mean for its operation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import Request, Response

from withdraw_service.sim.faults import BUSINESS_MODES, TRANSPORT_MODES, CallTarget
from withdraw_service.sim.money import parse_json, render_json
from withdraw_service.sim.state import Fault
from withdraw_service.sim.store import SimStore

ALL_MODES = TRANSPORT_MODES | frozenset(BUSINESS_MODES)


@dataclass(frozen=True)
class Answer:
    """An HTTP answer of a simulated service, kept as rendered JSON so it can be replayed."""

    status_code: int
    body: str

    def response(self) -> Response:
        return Response(self.body, self.status_code, media_type="application/json")


class Refusal(Exception):
    """Raised inside `decide` to answer at once (bad request, missing header, bad token)."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.body)
        self.answer = answer


def answer(status_code: int, payload: object) -> Answer:
    return Answer(status_code, render_json(payload))


def error(status_code: int, code: str, message: str, **extra: object) -> Answer:
    """The simulated services' error body: `{"errorCode", "message", ...extra}`."""
    return answer(status_code, {"errorCode": code, "message": message, **extra})


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds and a `Z`."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def is_mode(fault: Fault | None, mode: str) -> bool:
    return fault is not None and fault.mode == mode


async def read_object(request: Request) -> dict[str, Any] | None:
    """The request's JSON object body, or None when it is missing or not an object."""
    raw = await request.body()
    try:
        payload = parse_json(raw)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def text_field(payload: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    """A string field of a body; raises ValueError naming the field when it does not fit."""
    value = payload.get(name)
    if value is None:
        if required:
            raise ValueError(f"{name} is required")
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise ValueError(f"{name} must be a non-empty string")
    return value


def idempotently(store: SimStore, scope: str, key: str, decide: Callable[[], Answer]) -> Answer:
    """Replay the first answer given under `key`, or decide now and keep the answer.

    Answers raised as `Refusal` (malformed requests) are not kept, so a corrected request
    under the same key is judged afresh.
    """
    stored = store.replay(scope, key)
    if stored is not None:
        return Answer(stored.status_code, stored.body)
    result = decide()
    store.remember(scope, key, result.status_code, result.body)
    return result


def _hang_seconds(fault: Fault, store: SimStore) -> float:
    if fault.delay_ms is not None:
        return fault.delay_ms / 1000
    return store.config.hang_seconds


_TIMEOUT = error(504, "E504", "simulated timeout: the service did not answer in time")


async def run_call(
    store: SimStore,
    target: CallTarget,
    decide: Callable[[Fault | None], Answer],
    *,
    modes: frozenset[str] = ALL_MODES,
) -> Response:
    """Run one business call: count it, act out its fault, decide under the lock, save."""
    fault = await store.begin_call(target, modes)
    if fault is not None:
        if fault.mode == "error_500":
            return error(500, "E500", "simulated internal server error").response()
        if fault.mode == "unauthorized_401":
            return error(401, "L075", "unauthorized").response()
        if fault.mode == "timeout":
            await asyncio.sleep(_hang_seconds(fault, store))
            return _TIMEOUT.response()
        if fault.mode == "latency":
            await asyncio.sleep((fault.delay_ms or 0) / 1000)
    async with store.lock:
        try:
            result = decide(fault)
        except Refusal as refusal:
            result = refusal.answer
        await store.save()
    if is_mode(fault, "timeout_after_commit"):
        assert fault is not None
        await asyncio.sleep(_hang_seconds(fault, store))
        return _TIMEOUT.response()
    return result.response()
