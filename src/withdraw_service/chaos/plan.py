"""The chaos schedule of a run, drawn from its seed: which process is broken, how, and when.

"When" is a point in the load (after so many withdrawals have started), not a clock time, so
the same seed breaks the same things at the same point of the load on a fast or a slow
machine. The same seed and counts give the same plan, and the same withdrawals (scenarios).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum


class ActionKind(StrEnum):
    KILL_WORKER = "kill -9 worker"
    ROLL_WORKER = "SIGTERM worker (rollout)"
    RESTART_SERVER = "kill -9 Temporal server"
    KILL_API = "kill -9 API"
    CUT_DATABASE = "database outage"


@dataclass(frozen=True)
class Action:
    after_started: int  # taken once this many withdrawals have started
    kind: ActionKind
    target: int  # which worker or API (0-based); unused for the server and the database
    seconds: float  # down for this long (the outage; before a restart)

    def describe(self) -> str:
        which = {
            ActionKind.KILL_WORKER: f" {self.target + 1}",
            ActionKind.ROLL_WORKER: f" {self.target + 1}",
            ActionKind.KILL_API: f" {self.target + 1}",
        }.get(self.kind, "")
        return f"at {self.after_started} started: {self.kind}{which}, {self.seconds:g}s down"


@dataclass(frozen=True)
class Counts:
    """How many of each action; the defaults are the full run's (`make chaos`)."""

    worker_kills: int = 10
    rollouts: int = 2
    server_restarts: int = 2
    api_kills: int = 1
    db_outages: int = 1
    outage_seconds: float = 30.0


def make_plan(seed: int, n: int, counts: Counts, workers: int, apis: int) -> list[Action]:
    """Actions spread over the first 85% of the load, in the order they are taken."""
    rng = random.Random(f"plan-{seed}")
    kinds = (
        [ActionKind.KILL_WORKER] * counts.worker_kills
        + [ActionKind.ROLL_WORKER] * counts.rollouts
        + [ActionKind.RESTART_SERVER] * counts.server_restarts
        + [ActionKind.KILL_API] * counts.api_kills
        + [ActionKind.CUT_DATABASE] * counts.db_outages
    )
    rng.shuffle(kinds)
    actions = []
    for index, kind in enumerate(kinds):
        # Evenly spaced points, each moved a little (two may share one when n is small).
        slot = (index + rng.uniform(0.2, 0.8)) / max(len(kinds), 1)
        after = max(1, int(n * 0.85 * slot))
        target = rng.randrange(apis if kind == ActionKind.KILL_API else workers)
        seconds = counts.outage_seconds if kind == ActionKind.CUT_DATABASE else 1.0
        actions.append(Action(after, kind, target, seconds))
    return actions
