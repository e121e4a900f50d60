"""Checked-in histories replay against today's workflow code: a non-deterministic change to a
released workflow fails here (it must go through `workflow.patched` instead)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.api.history.v1 import History
from temporalio.client import WorkflowHistory
from temporalio.common import HeaderCodecBehavior
from temporalio.worker import Replayer

from tests.support.fake_activities import GOOD_OTP
from tests.support.paths import ROOT
from withdraw_service.bootstrap import WORKFLOWS, data_converter
from withdraw_service.logs import LogContextInterceptor
from withdraw_service.settings import Settings

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
        "happy_path_encrypted",
        "compensation_encrypted",
        "database_wait",
        "local_lookups_encrypted",
        "local_lookups_refused",
        "local_lookups_database_wait",
        "local_lookups_timeout",
    }


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_history_replays_deterministically(path: Path) -> None:
    workflow_id = WORKFLOW_IDS.get(path.stem, path.stem)
    history = WorkflowHistory.from_json(workflow_id, path.read_text())
    # As the production worker runs: its converter (histories from before the codec pass
    # through it unchanged), encrypted headers, and the log-context interceptor, which adds a
    # header to every activity (histories recorded without it replay: headers are not compared).
    replayer = Replayer(
        workflows=WORKFLOWS,
        data_converter=data_converter(Settings(environment="dev")),
        header_codec_behavior=HeaderCodecBehavior.CODEC,
        interceptors=[LogContextInterceptor()],
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


def test_encrypted_history_holds_no_otp_in_the_clear() -> None:
    plain = WorkflowHistory.from_json("x", (FOLDER / "happy_path.json").read_text())
    sealed = WorkflowHistory.from_json("x", (FOLDER / "happy_path_encrypted.json").read_text())
    # Binary protobuf holds payload bytes as they are (the JSON file holds them in base64).
    assert GOOD_OTP.encode() in _raw(plain)  # so the check below can fail
    assert GOOD_OTP.encode() not in _raw(sealed)


def _raw(history: WorkflowHistory) -> bytes:
    return History(events=history.events).SerializeToString()


async def test_encrypted_history_needs_its_key() -> None:
    path = FOLDER / "happy_path_encrypted.json"
    history = WorkflowHistory.from_json(WORKFLOW_IDS[path.stem], path.read_text())
    other = "other:" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="  # 32 x "A"
    converter = data_converter(Settings(environment="dev", codec_keys=other))
    replayer = Replayer(workflows=WORKFLOWS, data_converter=converter)
    # A worker without the key fails the workflow task (retried until the key is back);
    # nothing is decided on a payload it cannot read.
    # (The failure's own message is encrypted like every failure: its type says it.)
    with pytest.raises(RuntimeError, match='type: "CodecError"'):
        await replayer.replay_workflow(history, raise_on_replay_failure=True)
