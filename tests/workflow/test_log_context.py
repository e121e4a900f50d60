"""The worker's log-context interceptor adds a header to every activity a workflow schedules:
histories recorded without it must still replay with it (headers are not compared on replay)."""

from __future__ import annotations

import json

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from tests.support.paths import ROOT
from withdraw_service.bootstrap import WORKFLOWS, data_converter
from withdraw_service.logs import LogContextInterceptor
from withdraw_service.settings import Settings

FOLDER = ROOT / "tests" / "histories"
WORKFLOW_IDS: dict[str, str] = json.loads((FOLDER / "workflow_ids.json").read_text())


@pytest.mark.parametrize("name", ["happy_path", "compensation", "manual_compensation"])
async def test_old_histories_replay_with_the_interceptor(name: str) -> None:
    path = FOLDER / f"{name}.json"
    history = WorkflowHistory.from_json(WORKFLOW_IDS.get(name, name), path.read_text())
    replayer = Replayer(
        workflows=WORKFLOWS,
        data_converter=data_converter(Settings(environment="dev")),
        interceptors=[LogContextInterceptor()],
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
