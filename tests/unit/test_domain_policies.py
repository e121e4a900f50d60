"""Retry policies in the seed's YAML shape: durations, the nine activity names, the shipped file."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.conftest import RETRY_POLICIES
from withdraw_service.bootstrap import load_policies
from withdraw_service.domain.outcomes import FailureType
from withdraw_service.domain.policies import (
    ACTIVITY_NAMES,
    RetryPolicies,
    parse_duration,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("10s", timedelta(seconds=10)),
        ("2m", timedelta(minutes=2)),
        ("500ms", timedelta(milliseconds=500)),
        ("1h", timedelta(hours=1)),
        ("1.5s", timedelta(seconds=1.5)),
        (" 30s ", timedelta(seconds=30)),
        ("PT30S", timedelta(seconds=30)),
        ("PT2M", timedelta(minutes=2)),
        (7, timedelta(seconds=7)),
        (0.25, timedelta(milliseconds=250)),
        (timedelta(seconds=3), timedelta(seconds=3)),
    ],
)
def test_durations_in_the_seed_form_iso_form_or_seconds(raw: object, expected: timedelta) -> None:
    assert parse_duration(raw) == expected


@pytest.mark.parametrize("raw", ["10", "ten seconds", "5 parsecs", "-5s", "", True, None, [10]])
def test_unreadable_durations_are_refused(raw: object) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(raw)


def _policies(names: tuple[str, ...] = ACTIVITY_NAMES) -> dict[str, Any]:
    return {"activities": {name: {"startToCloseTimeout": "10s"} for name in names}}


def test_every_one_of_the_nine_activities_needs_a_policy() -> None:
    assert len(ACTIVITY_NAMES) == 9
    RetryPolicies.model_validate(_policies())
    with pytest.raises(ValueError, match="missing \\['saveToDb'\\]"):
        RetryPolicies.model_validate(_policies(tuple(n for n in ACTIVITY_NAMES if n != "saveToDb")))


def test_a_misspelled_activity_name_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown \\['validateUsr'\\]"):
        RetryPolicies.model_validate(_policies((*ACTIVITY_NAMES, "validateUsr")))


def test_unknown_keys_in_a_policy_are_refused() -> None:
    data = _policies()
    data["activities"]["saveToDb"]["retryPolicy"] = {"maxAttempts": 3}  # seed says maximumAttempts
    with pytest.raises(ValueError, match="maxAttempts"):
        RetryPolicies.model_validate(data)


def test_defaults_when_a_policy_gives_only_its_timeout() -> None:
    policies = RetryPolicies.model_validate(_policies())
    policy = policies.of("validateUser")
    assert policy.start_to_close_timeout == timedelta(seconds=10)
    assert policy.retry_policy.maximum_attempts == 1
    assert policies.transfer_verification.interval == timedelta(seconds=30)
    assert policies.transfer_verification.max_attempts == 10


def test_the_shipped_file_holds_the_seed_values() -> None:
    data = yaml.safe_load(RETRY_POLICIES.read_text(encoding="utf-8"))
    policies = RetryPolicies.model_validate(data)
    assert set(policies.activities) == set(ACTIVITY_NAMES)
    finalize = policies.of("finalizeTransfer")
    assert finalize.start_to_close_timeout == timedelta(seconds=90)
    assert finalize.retry_policy.initial_interval == timedelta(seconds=3)
    assert finalize.retry_policy.maximum_interval == timedelta(seconds=60)
    assert finalize.retry_policy.maximum_attempts == 5
    # the seed's OtpInvalidException is finalizeTransfer's answer here, not a failure
    assert finalize.retry_policy.non_retryable_error_types == (
        FailureType.TRANSFER_OUTCOME_UNKNOWN,
    )
    assert policies.of("getDwToken").retry_policy.non_retryable_error_types == (
        FailureType.INVALID_CREDENTIALS,
    )
    assert policies.transfer_verification.interval == timedelta(seconds=30)
    assert policies.transfer_verification.max_attempts == 10


def test_policies_survive_a_json_round_trip_as_workflow_input() -> None:
    policies = RetryPolicies.model_validate(
        yaml.safe_load(RETRY_POLICIES.read_text(encoding="utf-8"))
    )
    again = RetryPolicies.model_validate_json(policies.model_dump_json())
    assert again == policies


def test_a_file_that_would_retry_an_unknown_finalize_is_refused(tmp_path: Path) -> None:
    data = yaml.safe_load(RETRY_POLICIES.read_text(encoding="utf-8"))
    data["activities"]["finalizeTransfer"]["retryPolicy"]["nonRetryableErrorTypes"] = []
    planted = tmp_path / "policies.yaml"
    planted.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ValueError, match="finalizeTransfer must list"):
        load_policies(planted)
