"""One vocabulary: every status, failure code, task kind and state, verdict and problem code is an
enum in `domain/`; no other module of `src/` spells one of their values as a string. And the
retry-policy file names only failure types that an activity really raises."""

from __future__ import annotations

import ast
from enum import Enum
from pathlib import Path

import pytest
import yaml

from tests.support.paths import RETRY_POLICIES
from withdraw_service.activities.failures import failure
from withdraw_service.domain import outcomes
from withdraw_service.domain.policies import ActivityName
from withdraw_service.domain.statuses import WithdrawStatus

SRC = Path(outcomes.__file__).resolve().parents[1]
VOCABULARY: list[type[Enum]] = [
    WithdrawStatus,
    ActivityName,
    outcomes.FailureCode,
    outcomes.TaskKind,
    outcomes.TaskState,
    outcomes.CompensationStatus,
    outcomes.CheckerStatus,
    outcomes.UpstreamCode,
    outcomes.FinalizeOutcome,
    outcomes.OtpVerdict,
    outcomes.FailureType,
    outcomes.ProblemCode,
    outcomes.NotificationKind,
]
WORDS = {str(member.value): enum.__name__ for enum in VOCABULARY for member in enum}
# DriveWealth's status names (an IntEnum: its names are the words).
WORDS |= {member.name: "DwRedemptionStatus" for member in outcomes.DwRedemptionStatus}


def _string_literals(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def _modules_outside_domain() -> list[Path]:
    return [
        path
        for path in sorted(SRC.rglob("*.py"))
        if "domain" not in path.relative_to(SRC).parts
        and "migrations" not in path.relative_to(SRC).parts  # history: frozen as written
    ]


def test_no_module_outside_domain_spells_a_word_of_the_vocabulary() -> None:
    found = [
        f"{path.relative_to(SRC)}:{line}: {value!r} is {WORDS[value]}.{value}"
        for path in _modules_outside_domain()
        for line, value in _string_literals(path)
        if value in WORDS
    ]
    assert found == [], "use the domain enums instead:\n" + "\n".join(found)


def test_the_check_catches_a_literal(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text('"""Doc mentioning OPEN."""\nSTATE = "OPEN"\n')
    assert _string_literals(module) == [(2, "OPEN")]


def _raised_failure_types() -> set[str]:
    """Every `FailureType.X` the activities' source names: they name one only to raise it
    through `failure(...)`, which the first assertion makes sure they call."""
    raised: set[str] = set()
    for path in (SRC / "activities").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source)):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == outcomes.FailureType.__name__
            ):
                assert f"{failure.__name__}(" in source, path
                raised.add(outcomes.FailureType[node.attr].value)
    return raised


def _non_retryable(path: Path) -> dict[str, list[str]]:
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {
        name: list(activity.get("retryPolicy", {}).get("nonRetryableErrorTypes", []))
        for name, activity in config["activities"].items()
    }


def test_the_policy_file_names_only_failure_types_that_are_raised() -> None:
    raised = _raised_failure_types()
    named = {t for types in _non_retryable(RETRY_POLICIES).values() for t in types}
    assert named, "the shipped file names no non-retryable type"
    assert named - raised == set(), "named in nonRetryableErrorTypes but never raised"


def test_every_business_refusal_is_non_retryable_in_the_shipped_file() -> None:
    # Refusals no retry can change: retrying them would only delay the customer's answer.
    refusals = {
        "validateUser": {outcomes.FailureType.USER_INVALID},
        "checkRestrictions": {
            outcomes.FailureType.WITHDRAW_RESTRICTED,
            outcomes.FailureType.INSUFFICIENT_FUNDS,
        },
        "initiateTransfer": {
            outcomes.FailureType.INSUFFICIENT_FUNDS,
            outcomes.FailureType.ACCOUNT_BLOCKED,
        },
        "finalizeTransfer": {outcomes.FailureType.TRANSFER_OUTCOME_UNKNOWN},
        "getDwToken": {outcomes.FailureType.INVALID_CREDENTIALS},
        "createDwRedemption": set(outcomes.DW_REFUSALS),
        "rollbackTransfer": {outcomes.FailureType.REVERSAL_REFUSED},
    }
    shipped = _non_retryable(RETRY_POLICIES)
    for activity, types in refusals.items():
        assert {t.value for t in types} <= set(shipped[activity]), activity


def test_a_type_that_nothing_raises_is_caught(tmp_path: Path) -> None:
    config = yaml.safe_load(RETRY_POLICIES.read_text(encoding="utf-8"))
    config["activities"]["finalizeTransfer"]["retryPolicy"]["nonRetryableErrorTypes"] = [
        "OtpInvalidException"
    ]
    planted = tmp_path / "policies.yaml"
    planted.write_text(yaml.safe_dump(config))
    named = {t for types in _non_retryable(planted).values() for t in types}
    assert named - _raised_failure_types() == {"OtpInvalidException"}


@pytest.mark.parametrize("seed_name", sorted(outcomes.SEED_ANSWERS))
def test_each_seed_exception_name_maps_to_a_type_or_an_answer(seed_name: str) -> None:
    assert seed_name not in {t.value for t in outcomes.FailureType}
    assert isinstance(outcomes.SEED_ANSWERS[seed_name], outcomes.FinalizeOutcome)
