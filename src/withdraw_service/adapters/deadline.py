"""How long an external call may take: what is left of the activity attempt that makes it.

An activity attempt that outlives its `startToCloseTimeout` is abandoned by Temporal, which may
start the next attempt while the first still waits on the network: two attempts of the same
money-moving call in flight at once, and the first one's outcome lost. So every call gets the
time left in its attempt (minus a margin) as a total deadline; when it expires the call's
outcome is unknown (`UpstreamUnknownOutcome`), which the workflow looks up, never guesses.

The deadline lives in a context variable set when an activity starts (`activities/deadline.py`)
so that adapters need not know about Temporal. Outside an activity there is none.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_DEADLINE: ContextVar[float | None] = ContextVar("withdraw_call_deadline", default=None)


@contextmanager
def deadline_after(seconds: float) -> Iterator[None]:
    """Calls made inside the block must be done within `seconds` from now."""
    token = _DEADLINE.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def seconds_left() -> float | None:
    """What is left of the current deadline (may be <= 0), or None when there is none."""
    deadline = _DEADLINE.get()
    return None if deadline is None else deadline - time.monotonic()
