"""The API fuzzed from its own OpenAPI document (schemathesis, generated requests over HTTP
against the running stack), as five callers: a customer, an operator, and no, an expired and a
forged token. Every run checks that no answer is a 5xx, every status code and content type is
documented for its operation, and every body (problem+json included) matches its schema.
At least 1,000 requests in all; the count is printed.

The stack is one of its own, with abuse limits too high to reach: the fuzz is about what each
request gets, not about the limits (tests/integration/test_api_abuse_limits.py)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from tests.e2e.conftest import RunningStack
from tests.e2e.test_withdrawal import token
from tests.support.servers import free_port

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    )
)
EXAMPLES_PER_OPERATION = 25
MINIMUM_REQUESTS = 1000


@pytest.fixture(scope="module")
def fuzzed_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    root = tmp_path_factory.mktemp("fuzzed")
    ports = {name: free_port() for name in ("api", "sim", "temporal", "ui", "metrics", "codec")}
    stack = RunningStack(
        data_dir=root / "data",
        ports=ports,
        log=root / "stack.log",
        settings_env={
            "WITHDRAW_RATE_LIMIT_REQUESTS_PER_MINUTE": "1000000",
            "WITHDRAW_RATE_LIMIT_INITIATIONS_PER_HOUR": "1000000",
            "WITHDRAW_RATE_LIMIT_WRONG_OTPS_PER_DAY": "1000000",
        },
    )
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def _forged() -> str:
    now = int(time.time())
    claims = {"sub": "user-1001", "roles": ["customer", "ops"], "iat": now, "exp": now + 600}
    return jwt.encode(claims, "not-the-service-secret-but-long-enough-for-hs256", "HS256")


def _expired() -> str:
    """Minted by `withdraw-service token` with the stack's (dev) secret, a minute in the past."""
    minted = subprocess.run(
        [sys.executable, "-m", "withdraw_service.cli", "token", "user-1001", "--ttl", "-60"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    return minted.stdout.strip()


def _fuzz(stack: RunningStack, caller: str, headers: list[str], report: Path) -> int:
    """One schemathesis run; answers how many requests it generated."""
    args = [str(SCHEMATHESIS), "run", f"{stack.api_url}/openapi.json"]
    for header in headers:
        args += ["-H", header]
    args += [
        "--checks", CHECKS,
        "--max-examples", str(EXAMPLES_PER_OPERATION),
        "--phases", "examples,coverage,fuzzing",
        "--seed", "20261130",
        "--generation-database", "none",
        "--request-timeout", "30",
        "--workers", "1",  # hypothesis in several threads trips over its own AST cache
        "--no-color",
        "--report", "junit",
        "--report-junit-path", str(report),
    ]  # fmt: skip
    run = subprocess.run(args, capture_output=True, text=True, timeout=900, cwd=report.parent)
    output = run.stdout + run.stderr
    assert run.returncode == 0, f"{caller}:\n{output[-6000:]}"
    generated = re.search(r"(\d+) generated", output)
    assert generated, output[-3000:]
    return int(generated[1])


def test_the_fuzzed_api_answers_every_request_as_documented(
    fuzzed_stack: RunningStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = fuzzed_stack
    assert SCHEMATHESIS.exists(), "schemathesis is a dev dependency: make setup installs it"
    callers = {
        "customer": [f"Authorization: {token(stack, 'user-1001')['Authorization']}"],
        "operator": [f"Authorization: {token(stack, 'ops-fuzz', 'ops')['Authorization']}"],
        "no token": [],
        "expired token": [f"Authorization: Bearer {_expired()}"],
        "forged token": [f"Authorization: Bearer {_forged()}"],
    }
    counts = {
        caller: _fuzz(stack, caller, headers, tmp_path / f"{caller.replace(' ', '-')}.xml")
        for caller, headers in callers.items()
    }
    total = sum(counts.values())
    with capsys.disabled():  # on the terminal, in CI's log too, not only on a failure
        print(f"\nfuzzed {total} generated requests: {counts}")
    assert total >= MINIMUM_REQUESTS, counts
