"""How every business call of every simulated service runs, faults included.

A route works out what the call concerns (`CallTarget`) and hands `run_call` a synchronous
`decide` function. `run_call` counts the call, takes the fault that hits it, acts out the
transport faults (500, 401, 409 in progress, hang, latency), runs `decide` under the store's
lock, saves, and for `timeout_after_commit` hangs after the change is saved. Business faults
(reject, pending, fail, accept_pending, fail_after_accept) are passed to `decide`, which alone
knows what they mean for its operation.

A call with an Idempotency-Key is "in progress" from the moment it is worked on until its
answer is kept: another call with the same key meanwhile answers `409 IDEMPOTENCY_IN_PROGRESS`
at once and applies nothing (and takes no fault), as the real services do, instead of waiting
behind the first. A `latency` fault is the time the work takes, so a client that gives up
during it and retries with the same key meets that 409; a `timeout` is a request lost on its
way, never worked on, so it holds no key.
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


def key_of(scope: str, request: Request) -> str | None:
    """The call's Idempotency-Key within its operation, for `run_call(key=...)`."""
    key = request.headers.get("Idempotency-Key")
    return f"{scope}:{key}" if key else None


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
IN_PROGRESS = error(
    409, "IDEMPOTENCY_IN_PROGRESS", "a request with this Idempotency-Key is in progress"
)


async def run_call(
    store: SimStore,
    target: CallTarget,
    decide: Callable[[Fault | None], Answer],
    *,
    modes: frozenset[str] = ALL_MODES,
    key: str | None = None,
) -> Response:
    """Run one business call: count it, act out its fault, decide under the lock, save.

    `key` names the call's Idempotency-Key within its operation (`<service>.<operation>:<key>`)
    when it has one: the call is in progress under it until decided."""
    begun = await store.begin_call(target, modes, key)
    if begun.busy:
        return IN_PROGRESS.response()
    fault = begun.fault
    if fault is not None:
        if fault.mode == "error_500":
            return error(500, "E500", "simulated internal server error").response()
        if fault.mode == "unauthorized_401":
            return error(401, "L075", "unauthorized").response()
        if fault.mode == "in_progress_409":
            return IN_PROGRESS.response()
        if fault.mode == "timeout":  # lost on its way: never worked on, holds no key
            await asyncio.sleep(_hang_seconds(fault, store))
            return _TIMEOUT.response()
    try:
        if is_mode(fault, "latency"):
            assert fault is not None
            await asyncio.sleep((fault.delay_ms or 0) / 1000)
        async with store.lock:
            try:
                result = decide(fault)
            except Refusal as refusal:
                result = refusal.answer
            await store.save()
    finally:
        if begun.claimed is not None:
            store.in_flight.discard(begun.claimed)
    if is_mode(fault, "timeout_after_commit"):
        assert fault is not None
        await asyncio.sleep(_hang_seconds(fault, store))
        return _TIMEOUT.response()
    return result.response()
