"""Checked-in histories replay against today's workflow code: a non-deterministic change to a
released workflow fails here (it must go through `workflow.patched` instead)."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.support.paths import ROOT
from withdraw_service.bootstrap import WORKFLOWS

HISTORIES = sorted((ROOT / "tests" / "histories").glob("*.json"))


def test_histories_are_checked_in() -> None:
    assert {p.stem for p in HISTORIES} >= {"happy_path", "compensation"}


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_history_replays_deterministically(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
