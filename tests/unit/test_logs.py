"""Structured logs (logs.py): one JSON object per record, the withdrawal's ids from wherever
they are known, and nothing in them that could be an OTP, a token, a secret or an account."""

from __future__ import annotations

import asyncio
import contextvars
import io
import json
import logging
import re
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from temporalio import activity, workflow

from withdraw_service.api.logging_context import workflow_id_of
from withdraw_service.logs import (
    CORRELATION_HEADER,
    REDACTED,
    JsonFormatter,
    _header_payload,
    _header_value,
    bind_log_context,
    configure_logging,
    correlation_of,
    current_log_context,
    log_context,
    mask,
    mask_account,
    new_log_context,
)

WORKFLOW_ID = "WITHDRAW-0b1c2d3e-4f50-4617-8a9b-0c1d2e3f4a5b"
CORRELATION_ID = "7d0e5a52-3b1c-4c2f-9e8d-1a2b3c4d5e6f"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiJ1c2VyLTEwMDEiLCJyb2xlcyI6WyJjdXN0b21lciJdfQ"
    ".c2lnbmF0dXJlLWJ5dGVzLWhlcmUtXy0"
)


@pytest.fixture
def capture() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger of its own whose records go through JsonFormatter into a buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.unit.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, buffer
    logger.removeHandler(handler)


def lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_one_json_object_per_record_with_the_core_fields(
    capture: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, buffer = capture
    logger.info("first %s", "line")
    logger.warning("second\nline")  # a newline in a message does not split the record

    assert buffer.getvalue().count("\n") == 2
    first, second = lines(buffer)
    assert first["message"] == "first line"
    assert first["level"] == "INFO"
    assert first["logger"] == "tests.unit.logs"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["ts"])
    assert second["message"] == "second\nline"
    assert second["level"] == "WARNING"
    assert "workflowId" not in first and "correlationId" not in first


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("account DWAA001001", "account ******1001"),
        ("redemption DWAA001001-3F2A9C1E", "redemption ******1001-3F2A9C1E"),
        ("number 1234567890 here", "number ******7890 here"),
        ("reference TRF0123456789", "reference TRF******6789"),
        (f"token {JWT} end", f"token {REDACTED} end"),
        ("Authorization: Bearer abc.def-ghi", f"Authorization: {REDACTED}"),
        ("sent with Bearer abc.def-ghi", f"sent with Bearer {REDACTED}"),
        ("otp=123456", f"otp={REDACTED}"),
        ('{"otp": "123456"}', f'{{"otp": "{REDACTED}"}}'),
        (
            '{"otpCode": "123456", "amount": "1.00"}',
            f'{{"otpCode": "{REDACTED}", "amount": "1.00"}}',
        ),
        ("{'otp_code': '123456'}", f"{{'otp_code': '{REDACTED}'}}"),
        ("client_secret=s3cr3t&grant=x", f"client_secret={REDACTED}&grant=x"),
        ('"access_token":"abc"', f'"access_token":"{REDACTED}"'),
        ("appKey=k1 password=p1", f"appKey={REDACTED} password={REDACTED}"),
    ],
)
def test_masking(text: str, expected: str) -> None:
    assert mask(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        WORKFLOW_ID,
        "WITHDRAW-12345678-1234-4234-8234-123456789012",  # a UUID whose groups are all digits
        f"{CORRELATION_ID}:redemption",
        "amount 150.00 of 250000.00",
        "at 2026-01-05T09:30:00.123456+00:00",
        "listening on 127.0.0.1:8000",
        "took 0.123456789 s",
        "otpExpiresAt=2026-01-05 otp_timeout_seconds=300 attemptsRemaining=2",
        "operator task 42 opened: COMPENSATION_FAILED",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert mask(text) == text


def test_mask_account() -> None:
    assert mask_account("DWAA001001") == "******1001"
    assert mask_account("123") == "******"


def test_messages_and_string_fields_are_masked(
    capture: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, buffer = capture
    logger.info(
        "redeeming from %s with otp=%s",
        "DWAA001001",
        "123456",
        extra={"note": "via DWAB002002", "app_key": "k-123", "count": 3},
    )

    [entry] = lines(buffer)
    assert entry["message"] == f"redeeming from ******1001 with otp={REDACTED}"
    assert entry["note"] == "via ******2002"
    assert entry["app_key"] == REDACTED
    assert entry["count"] == 3
    assert "123456" not in buffer.getvalue()
    assert "DWA" not in buffer.getvalue()


def test_ids_from_the_context(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, buffer = capture
    with log_context(workflow_id=WORKFLOW_ID):
        logger.info("in the request")
        with log_context(correlation_id=CORRELATION_ID):
            logger.info("both known")
        bind_log_context(correlation_id=CORRELATION_ID)  # e.g. the gateway, mid-request
        logger.info("bound")
    logger.info("after")

    inside, both, bound, after = lines(buffer)
    assert inside["workflowId"] == WORKFLOW_ID and "correlationId" not in inside
    assert (both["workflowId"], both["correlationId"]) == (WORKFLOW_ID, CORRELATION_ID)
    assert bound["correlationId"] == CORRELATION_ID
    assert "workflowId" not in after and "correlationId" not in after  # ended with the block
    assert current_log_context() == {}


async def test_an_id_bound_in_a_child_task_reaches_the_rest_of_the_block(
    capture: tuple[logging.Logger, io.StringIO],
) -> None:
    """As under Starlette's `call_next`: the gateway binds the correlationId in a task of its
    own, and uvicorn's access line, logged outside that task, still carries it."""
    logger, buffer = capture

    async def handler() -> None:
        bind_log_context(correlation_id=CORRELATION_ID)

    with log_context(workflow_id=WORKFLOW_ID):
        await asyncio.create_task(handler())
        logger.info("access line")
    with log_context():
        logger.info("the next request")

    access, following = lines(buffer)
    assert (access["workflowId"], access["correlationId"]) == (WORKFLOW_ID, CORRELATION_ID)
    assert "correlationId" not in following


def test_outside_any_block_ids_last_as_long_as_the_context() -> None:
    def activity_task() -> dict[str, str]:
        bind_log_context(workflow_id="WITHDRAW-other")
        new_log_context(workflow_id=WORKFLOW_ID, correlation_id=CORRELATION_ID)
        return current_log_context()

    context = contextvars.copy_context()
    assert context.run(activity_task) == {
        "workflowId": WORKFLOW_ID,
        "correlationId": CORRELATION_ID,
    }
    assert current_log_context() == {}


def test_ids_from_temporal_records_and_explicit_extra(
    capture: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, buffer = capture
    # What workflow.logger / activity.logger put on their records.
    logger.info(
        "from a workflow",
        extra={
            "temporal_workflow": {
                "workflow_id": WORKFLOW_ID,
                "workflow_type": "WithdrawWorkflow",
                "attempt": 1,
                "run_id": "r",
            },
            "correlationId": CORRELATION_ID,
        },
    )
    logger.info(
        "from an activity",
        extra={
            "temporal_activity": {
                "workflow_id": WORKFLOW_ID,
                "activity_type": "createDwRedemption",
                "attempt": 2,
            }
        },
    )
    with log_context(workflow_id="WITHDRAW-other"):
        logger.info("explicit", extra={"workflowId": WORKFLOW_ID})

    from_workflow, from_activity, explicit = lines(buffer)
    assert from_workflow["workflowId"] == WORKFLOW_ID
    assert from_workflow["workflowType"] == "WithdrawWorkflow"
    assert from_workflow["correlationId"] == CORRELATION_ID
    assert "temporal_workflow" not in from_workflow
    assert from_activity["activityType"] == "createDwRedemption"
    assert from_activity["attempt"] == 2
    assert from_activity["workflowId"] == WORKFLOW_ID
    assert explicit["workflowId"] == WORKFLOW_ID


def test_an_exception_is_typed_and_masked(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, buffer = capture
    try:
        raise ValueError(f"client_secret=s3cr3t otp=123456 account DWAA001001 bearer {JWT}")
    except ValueError:
        logger.exception("it failed")

    [entry] = lines(buffer)
    assert entry["exc_type"] == "ValueError"
    assert "Traceback" in entry["exception"]
    assert "test_an_exception_is_typed_and_masked" in entry["exception"]
    for secret in ("s3cr3t", "123456", "DWAA001001", JWT, "eyJ"):
        assert secret not in buffer.getvalue()


def test_configure_logging_puts_json_on_the_root_logger(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, sys.excepthook)
    names = ("httpx", "uvicorn.access")
    saved_loggers = {n: (logging.getLogger(n).level, logging.getLogger(n).propagate) for n in names}
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    try:
        configure_logging("debug")
        assert root.level == logging.DEBUG
        assert [type(h.formatter) for h in root.handlers] == [JsonFormatter]
        assert logging.getLogger("httpx").level == logging.WARNING
        assert logging.getLogger("uvicorn.access").propagate
        # An in-process uvicorn of another test (log_level="warning") may have raised it.
        logging.getLogger("uvicorn.access").setLevel(logging.INFO)
        logging.getLogger("uvicorn.access").info('127.0.0.1:1 - "GET /healthz HTTP/1.1" 200')
        error = ValueError("refused client_secret=s3cr3t")
        sys.excepthook(ValueError, error, None)  # a crash: one JSON line, masked
        access, crash = [json.loads(line) for line in stderr.getvalue().splitlines()]
        assert access["logger"] == "uvicorn.access"
        assert crash["level"] == "CRITICAL"
        assert crash["exc_type"] == "ValueError"
        assert "s3cr3t" not in stderr.getvalue()
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        sys.excepthook = saved[2]
        logging.captureWarnings(False)
        workflow.logger.workflow_info_on_message = True  # the SDK's defaults
        activity.logger.activity_info_on_message = True
        for name, (level, propagate) in saved_loggers.items():
            logging.getLogger(name).setLevel(level)
            logging.getLogger(name).propagate = propagate


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (f"/withdraw/finalize/{WORKFLOW_ID}", WORKFLOW_ID),
        (f"/withdraw/status/{WORKFLOW_ID}", WORKFLOW_ID),
        (f"/withdraw/{WORKFLOW_ID}/cancel", WORKFLOW_ID),
        ("/withdraw/initiate", None),
        ("/withdraw/status/not-a-withdrawal", None),
        ("/ops/compensation-tasks", None),
    ],
)
def test_the_workflow_id_of_a_request_path(path: str, expected: str | None) -> None:
    assert workflow_id_of(path) == expected


def test_correlation_id_of_activity_inputs_and_its_header() -> None:
    class Holder:
        correlation_id = CORRELATION_ID

    class Saved:
        state = Holder()

    assert correlation_of(Holder()) == CORRELATION_ID
    assert correlation_of(Saved()) == CORRELATION_ID  # SaveToDbInput: state.correlation_id
    assert correlation_of(None) is None
    assert correlation_of("text") is None
    assert _header_value(_header_payload(CORRELATION_ID)) == CORRELATION_ID
    assert _header_value(None) is None
    assert CORRELATION_HEADER
