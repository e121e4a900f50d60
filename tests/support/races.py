"""Two transactions at once, in a chosen order: does the second slip between the first's read
and its write?"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Engine, event

T = TypeVar("T")
U = TypeVar("U")


def race(
    engine: Engine, first: Callable[[], T], second: Callable[[], U], paused_after: str
) -> tuple[T, U]:
    """`first` runs in a thread and is paused for half a second right after its statement
    containing `paused_after`; `second` runs meanwhile in this thread (or waits for a lock
    `first` holds). Answers both results."""
    first_thread = 0  # set by the thread itself
    first_has_read = threading.Event()
    results: dict[str, Any] = {}

    def pause(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if threading.get_ident() == first_thread and paused_after in statement:
            first_has_read.set()
            time.sleep(0.5)

    def run_first() -> None:
        nonlocal first_thread
        first_thread = threading.get_ident()
        try:
            results["first"] = first()
        except Exception as exc:  # re-raised below, in the test's thread
            results["error"] = exc

    event.listen(engine, "after_cursor_execute", pause)
    try:
        thread = threading.Thread(target=run_first)
        thread.start()
        assert first_has_read.wait(5), f"the first never ran a statement with {paused_after!r}"
        answer = second()
        thread.join(10)
    finally:
        event.remove(engine, "after_cursor_execute", pause)
    assert not thread.is_alive()
    if "error" in results:
        raise results["error"]
    return results["first"], answer
