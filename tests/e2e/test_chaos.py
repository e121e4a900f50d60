"""The short form of `withdraw-service chaos` (docs/chaos.md), as CI runs it on every change:
80 withdrawals drawn from the whole scenario catalogue, while workers are killed and rolled,
the Temporal server and an API process are killed and the database is cut. Any violation of
the verdict (an outcome other than the scenario's, the money rule, a duplicate, a failed
execution, an HTTP 500) fails it; the report says which, and the seed replays it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import ROOT

SEED = 1


@pytest.mark.timeout(960)  # the run's own bound is 900 s; the project's default is 300 s
def test_the_short_chaos_run_finds_no_violation(tmp_path: Path) -> None:
    report = tmp_path / "chaos-report.json"
    args = [
        sys.executable, "-m", "withdraw_service.cli", "chaos",
        "--n", "80", "--concurrency", "16", "--seed", str(SEED),
        "--worker-kills", "3", "--rollouts", "1", "--server-restarts", "1",
        "--api-kills", "1", "--db-outages", "1", "--outage-seconds", "10", "--otp-seconds", "40",
        "--data-dir", str(tmp_path), "--report", str(report),
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("WITHDRAW_")}
    run = subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False
    )

    assert report.exists(), run.stdout[-4000:] + run.stderr[-4000:]
    verdict = json.loads(report.read_text())
    assert verdict["violations"] == [], run.stdout[-6000:]
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert len(verdict["actions_taken"]) == 7, verdict["actions_taken"]
    ended = sum(sum(row["reached"].values()) for row in verdict["scenarios"].values())
    assert ended == 80
    assert verdict["executions"]["Running"] == 0
    assert verdict["executions"]["Completed"] >= 80
    assert "500" not in verdict["http_statuses"]
