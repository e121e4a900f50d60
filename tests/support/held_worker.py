"""The real worker (`withdraw_service.worker.run_worker`, settings from the environment) with
one activity held at a gate, run as a child process by the crash tests, so that a test can
kill it or stop it while that activity runs.

    python -m tests.support.held_worker ACTIVITY GATE_DIR [--status STATUS]

The first attempt of ACTIVITY (for saveToDb: of the save of STATUS, when given) writes its
workflow id to GATE_DIR/entered and waits until GATE_DIR/release exists, then runs as usual.
Only the first such attempt in the process is held, once as a local activity and once as one
the server scheduled: a save is tried first in the worker, for at most 2 s (its hold ends
there), then handed to the server, whose first attempt is held again.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from withdraw_service.logs import configure_logging
from withdraw_service.settings import Settings
from withdraw_service.worker import run_worker


class Gate(Interceptor):
    def __init__(self, activity_name: str, gate: Path, status: str | None) -> None:
        self.activity_name = activity_name
        self.gate = gate
        self.status = status
        self.used: set[bool] = set()  # `is_local` of the attempts held so far

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Held(next, self)


class _Held(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, gate: Gate) -> None:
        super().__init__(next)
        self._gate = gate

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        if self._holds(input):
            self._gate.used.add(activity.info().is_local)
            # Written whole, then renamed: the test never reads a half-written marker.
            partial = self._gate.gate / "entered.partial"
            partial.write_text(activity.info().workflow_id)
            partial.rename(self._gate.gate / "entered")
            while not (self._gate.gate / "release").exists():
                await asyncio.sleep(0.05)
        return await super().execute_activity(input)

    def _holds(self, input: ExecuteActivityInput) -> bool:
        info = activity.info()
        if (
            info.is_local in self._gate.used
            or info.activity_type != self._gate.activity_name
            or info.attempt != 1
        ):
            return False
        if self._gate.status is None:
            return True
        return str(input.args[0].state.status) == self._gate.status


async def _main(gate: Gate) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await run_worker(Settings(), stop, [gate])


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("activity")
    parser.add_argument("gate", type=Path)
    parser.add_argument("--status")
    args = parser.parse_args()
    configure_logging("INFO")
    asyncio.run(_main(Gate(args.activity, args.gate, args.status)))
