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
    """`first` runs in a thread and is held right after its statement containing
    `paused_after` until `second`, run meanwhile in this thread, has sent its first statement
    (and a little longer, for it to go on or to wait for a lock `first` holds). Answers both
    results; raises what either raised."""
    first_thread, second_thread = 0, threading.get_ident()  # the first's is set by itself
    first_has_read, first_held, second_started = (threading.Event() for _ in range(3))
    results: dict[str, Any] = {}

    def hold_first(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if threading.get_ident() == first_thread and paused_after in statement:
            first_held.set()
            first_has_read.set()
            assert second_started.wait(10), "the second never sent a statement"
            time.sleep(0.3)

    def mark_second(*_: Any) -> None:
        if threading.get_ident() == second_thread:
            second_started.set()

    def run_first() -> None:
        nonlocal first_thread
        first_thread = threading.get_ident()
        try:
            results["first"] = first()
        except BaseException as exc:  # re-raised below, in the test's thread
            results["error"] = exc
        finally:
            first_has_read.set()  # also when it never got there: the test must not wait

    event.listen(engine, "after_cursor_execute", hold_first)
    event.listen(engine, "before_cursor_execute", mark_second)
    thread = threading.Thread(target=run_first)
    try:
        thread.start()
        assert first_has_read.wait(10), f"the first never ran a statement with {paused_after!r}"
        if "error" in results:
            raise results["error"]
        answer = second()
    finally:
        second_started.set()  # never leave the first held
        thread.join(15)
        event.remove(engine, "after_cursor_execute", hold_first)
        event.remove(engine, "before_cursor_execute", mark_second)
    assert not thread.is_alive()
    if "error" in results:
        raise results["error"]
    assert first_held.is_set(), f"the first ran no statement with {paused_after!r}"
    return results["first"], answer
