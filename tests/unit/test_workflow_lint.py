"""The lint rule that keeps workflow code deterministic (pyproject's banned-api, TID251): it
refuses the clock, randomness and I/O in every module of the workflows' folder, helpers
included, and only there."""

from __future__ import annotations

import subprocess

import pytest

from tests.support.paths import BIN, ROOT

PROBE = """\
import datetime
import random
import time
import uuid

import httpx


def probe() -> object:
    return (datetime.datetime.now(), random.random(), time.time(), uuid.uuid4(), httpx)
"""


def _banned(module: str) -> list[str]:
    """The banned-api findings ruff reports for PROBE as if it were `module`."""
    checked = subprocess.run(
        [str(BIN / "ruff"), "check", "--no-cache", "--select", "TID251",
         "--output-format", "concise", "--stdin-filename", module, "-"],
        cwd=ROOT, input=PROBE, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert checked.returncode in (0, 1), checked.stderr  # 2: ruff itself failed, found nothing
    return [line for line in checked.stdout.splitlines() if "TID251" in line]


def test_workflow_modules_may_not_read_the_clock_draw_or_do_io() -> None:
    found = "\n".join(_banned("src/withdraw_service/workflows/probe.py"))
    for name in ("datetime.datetime.now", "random", "time", "uuid.uuid4", "httpx"):
        assert f"`{name}` is banned" in found, found


def test_the_rule_leaves_activities_alone() -> None:
    assert _banned("src/withdraw_service/activities/probe.py") == []


pytestmark = pytest.mark.unit
