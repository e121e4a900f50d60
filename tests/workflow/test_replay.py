"""Checked-in histories replay against today's workflow code: a non-deterministic change to a
released workflow fails here (it must go through `workflow.patched` instead)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.support.paths import ROOT
from withdraw_service.bootstrap import WORKFLOWS

FOLDER = ROOT / "tests" / "histories"
WORKFLOW_IDS: dict[str, str] = json.loads((FOLDER / "workflow_ids.json").read_text())
HISTORIES = sorted(p for p in FOLDER.glob("*.json") if p.name != "workflow_ids.json")


def test_histories_are_checked_in() -> None:
    assert {p.stem for p in HISTORIES} >= {
        "happy_path",
        "compensation",
        "compensation_before_saga_v2",
        "verification",
        "manual_compensation",
    }


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_history_replays_deterministically(path: Path) -> None:
    workflow_id = WORKFLOW_IDS.get(path.stem, path.stem)
    history = WorkflowHistory.from_json(workflow_id, path.read_text())
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
