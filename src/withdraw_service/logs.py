"""Structured logs: one JSON object per line from the API, the worker, its activities and the
simulators, each with the `workflowId` and `correlationId` it concerns where one is known.

Where the ids come from, first found wins:
  1. `extra={"workflowId": ..., "correlationId": ...}` on the logging call itself;
  2. Temporal's loggers: `workflow.logger` / `activity.logger` records carry
     `temporal_workflow` / `temporal_activity`, and inside an activity `activity.info()` knows
     the workflow, the activity type and the attempt;
  3. `log_context(...)` / `bind_log_context(...)`: a contextvar, set per HTTP request by the
     API's middleware and per activity by `LogContextInterceptor`.

Every message, traceback and string field is masked on the way out (`mask`), as a safety net
under the rule that code never logs an OTP, a token, a secret or a full account number:
DriveWealth account numbers and 8+ digit runs keep their last 4, JWTs and bearer tokens go,
and so does the value of any `otp=` / `"token": ...`-like pair.

`configure_logging()` puts this on the root logger (stderr) for every process of ours.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    ExecuteWorkflowInput,
    Interceptor,
    StartActivityInput,
    StartLocalActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

REDACTED = "[redacted]"
_MASK = "******"

# -- masking ---------------------------------------------------------------------------------

# A pair whose key names a secret: `otp=123456`, `"otpCode": "123456"`, `'client_secret': 'x'`,
# `access_token=...&`, `Authorization: Bearer x`. The key ends in the sensitive word.
_SENSITIVE_WORD = (
    r"(?:otp(?:[_-]?code)?|token|secret|password|passwd|app[_-]?key|api[_-]?key|authorization)"
)
_SENSITIVE_KEY = re.compile(rf"^[\w.-]*?{_SENSITIVE_WORD}$", re.IGNORECASE)
_PAIR = re.compile(
    rf"""(?P<key>(?<![\w.-])(?P<kq>["']?)[\w.-]*?{_SENSITIVE_WORD}(?P=kq)\s*[=:]\s*)"""
    r"""(?P<value>"[^"]*"|'[^']*'|(?:bearer|basic)\s+[^\s,;&'")}\]]+|[^\s,;&'")}\]]+)""",
    re.IGNORECASE,
)
_HEX = "[0-9a-fA-F]"
_SCRUB = re.compile(
    r"(?P<jwt>eyJ[\w-]*\.[\w-]+\.[\w-]*)"
    r"|(?P<bearer>(?i:bearer)\s+[\w.~+/=-]+)"
    # A UUID is left alone (its first group can be all digits): matched to be skipped.
    rf"|(?P<uuid>{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}})"
    # DriveWealth account number, also leading a redemption id (DWAA001001-3F2A...).
    r"|(?P<account>(?<![A-Za-z0-9])[A-Z]{4}\d{6}(?!\d))"
    # 8+ digits (not the fraction of a decimal number such as 0.123456789).
    r"|(?P<digits>(?<!\d)(?<!\d\.)\d{8,}(?!\d))"
)


def mask_account(number: str) -> str:
    """An account number (or any identifier) as it may be logged: its last 4 characters."""
    return _MASK + number[-4:] if len(number) > 4 else _MASK


def mask(text: str) -> str:
    """`text` without OTPs, tokens, secrets or full account numbers (see the module doc)."""
    text = _PAIR.sub(_redact_pair, text)
    return _SCRUB.sub(_scrub, text)


def _redact_pair(match: re.Match[str]) -> str:
    value = match["value"]
    quote = value[0] if value[0] in "\"'" else ""
    return f"{match['key']}{quote}{REDACTED}{quote}"


def _scrub(match: re.Match[str]) -> str:
    if match["uuid"]:
        return match["uuid"]
    if match["bearer"]:
        return f"Bearer {REDACTED}"
    if match["jwt"]:
        return REDACTED
    return mask_account(match[0])


def _masked_value(key: str, value: Any) -> Any:
    if _SENSITIVE_KEY.match(key):
        return REDACTED
    if value is None or isinstance(value, bool | int | float):
        return value
    return mask(value if isinstance(value, str) else str(value))


# -- context ---------------------------------------------------------------------------------

# The ids of the innermost `log_context` block: one dict per block, shared by the tasks started
# inside it, so that an id bound in one of them (the gateway, under Starlette's `call_next`)
# reaches the block's later lines too (uvicorn's access line).
_CONTEXT: ContextVar[dict[str, str] | None] = ContextVar("withdraw_log_context", default=None)


def _ids(workflow_id: str | None, correlation_id: str | None) -> dict[str, str]:
    pairs = (("workflowId", workflow_id), ("correlationId", correlation_id))
    return {key: value for key, value in pairs if value}


@contextmanager
def log_context(
    *, workflow_id: str | None = None, correlation_id: str | None = None
) -> Iterator[None]:
    """Every line logged inside the block (this task, and tasks it starts) carries these ids,
    and those that `bind_log_context` adds inside it."""
    token = _CONTEXT.set({**(_CONTEXT.get() or {}), **_ids(workflow_id, correlation_id)})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def bind_log_context(*, workflow_id: str | None = None, correlation_id: str | None = None) -> None:
    """Add ids to the innermost `log_context` block until it ends; outside any block, to the
    current task's context."""
    current = _CONTEXT.get()
    if current is None:
        _CONTEXT.set(_ids(workflow_id, correlation_id))
    else:
        current.update(_ids(workflow_id, correlation_id))


def new_log_context(*, workflow_id: str | None = None, correlation_id: str | None = None) -> None:
    """Only these ids from here to the end of the current task (no block to leave)."""
    _CONTEXT.set(_ids(workflow_id, correlation_id))


def current_log_context() -> dict[str, str]:
    return dict(_CONTEXT.get() or {})


# -- the formatter ---------------------------------------------------------------------------

# Attributes every LogRecord has, and ones we read ourselves: not copied as extra fields.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's coloured copy of the message
    "workflowId",
    "correlationId",
}
_CORE_FIELDS = ("ts", "level", "logger", "message")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts (UTC), level, logger, message, the withdrawal's ids where
    known, extra fields, and for an exception its type and its (masked) traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": mask(record.getMessage()),
        }
        entry.update(_ids_of(record))
        for key, value in record.__dict__.items():
            if key in _RECORD_ATTRIBUTES or key.startswith(("_", "temporal_")) or key in entry:
                continue
            entry[key] = _masked_value(key, value)
        if record.exc_info and record.exc_info[0] is not None:
            entry["exc_type"] = record.exc_info[0].__name__
            entry["exception"] = mask(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = mask(self.formatStack(record.stack_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


def _ids_of(record: logging.LogRecord) -> dict[str, Any]:
    ids: dict[str, Any] = current_log_context()
    details = record.__dict__
    in_workflow = details.get("temporal_workflow")
    if isinstance(in_workflow, Mapping):
        _take(ids, "workflowId", in_workflow.get("workflow_id"))
        _take(ids, "workflowType", in_workflow.get("workflow_type"))
        _take(ids, "updateName", in_workflow.get("update_name"))
    in_activity = details.get("temporal_activity")
    if isinstance(in_activity, Mapping):
        _take(ids, "workflowId", in_activity.get("workflow_id"))
        _take(ids, "activityType", in_activity.get("activity_type"))
        _take(ids, "attempt", in_activity.get("attempt"))
    elif activity.in_activity():
        info = activity.info()
        _take(ids, "workflowId", info.workflow_id)
        _take(ids, "workflowType", info.workflow_type)
        _take(ids, "activityType", info.activity_type)
        _take(ids, "attempt", info.attempt)
    for key in ("workflowId", "correlationId"):
        _take(ids, key, details.get(key))
    return {key: mask(value) if isinstance(value, str) else value for key, value in ids.items()}


def _take(ids: dict[str, Any], key: str, value: Any) -> None:
    if value is not None and value != "":
        ids[key] = value


# -- process set-up --------------------------------------------------------------------------

QUIET_LOGGERS = ("httpx", "httpcore")  # INFO lines with full URLs, which may carry ids
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for the whole process, replacing any earlier set-up. Uvicorn's
    loggers go through the same handler when it runs with `log_config=None`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # The ids are fields of their own: no "({'workflow_id': ...})" appended to messages.
    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False
    logging.captureWarnings(True)
    # A crash is one JSON line too, masked (typer's hook would print locals, values and all).
    sys.excepthook = _log_uncaught


def _log_uncaught(
    kind: type[BaseException], error: BaseException, trace: TracebackType | None
) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, trace)
        return
    logging.getLogger("withdraw_service").critical(
        "uncaught %s: %s", kind.__name__, error, exc_info=error
    )


def temporal_core_logging() -> LoggingConfig:
    """Temporal's Rust core logs through Python logging (so as JSON lines) instead of printing
    its own format to stderr; same levels as the SDK's default."""
    return LoggingConfig(
        filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
        forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
    )


def forward_temporal_core_logs() -> None:
    """The same for clients on the default runtime (the API's): call before connecting."""
    Runtime.set_default(
        Runtime(telemetry=TelemetryConfig(logging=temporal_core_logging())),
        error_if_already_set=False,
    )


# -- Temporal: the correlation id of every activity ----------------------------------------

CORRELATION_HEADER = "withdraw-correlation-id"
log = logging.getLogger(__name__)


def correlation_of(arg: Any) -> str | None:
    """The correlation id an activity's or workflow's input carries, if any."""
    for holder in (arg, getattr(arg, "state", None)):
        value = getattr(holder, "correlation_id", None)
        if isinstance(value, str) and value:
            return value
    return None


class LogContextInterceptor(Interceptor):
    """Gives every activity's log lines its withdrawal's ids, and logs its completion.

    The workflow side copies the correlation id of the workflow's input into a header of each
    activity it schedules (deterministic: the input never changes; headers are not compared on
    replay); the activity side reads that header, else its own input's `correlation_id`."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityLogContext(next)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        return _WorkflowLogContext


class _ActivityLogContext(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        correlation_id = _header_value(input.headers.get(CORRELATION_HEADER)) or correlation_of(
            input.args[0] if input.args else None
        )
        # Not reset afterwards on purpose: every activity runs in an asyncio task of its own,
        # and the SDK's own "Completing activity as failed" line comes after this returns.
        new_log_context(workflow_id=activity.info().workflow_id, correlation_id=correlation_id)
        started = time.monotonic()
        result = await super().execute_activity(input)
        log.info(
            "activity completed",
            extra={"durationMs": round((time.monotonic() - started) * 1000, 1)},
        )
        return result


class _WorkflowLogContext(WorkflowInboundInterceptor):
    correlation_id: str | None = None

    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_WorkflowOutboundLogContext(outbound, self))

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        self.correlation_id = correlation_of(input.args[0] if input.args else None)
        return await super().execute_workflow(input)


class _WorkflowOutboundLogContext(WorkflowOutboundInterceptor):
    def __init__(self, next: WorkflowOutboundInterceptor, inbound: _WorkflowLogContext) -> None:
        super().__init__(next)
        self._inbound = inbound

    def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle[Any]:
        input.headers = self._with_correlation(input.headers)
        return super().start_activity(input)

    def start_local_activity(self, input: StartLocalActivityInput) -> workflow.ActivityHandle[Any]:
        input.headers = self._with_correlation(input.headers)
        return super().start_local_activity(input)

    def _with_correlation(self, headers: Mapping[str, Payload]) -> Mapping[str, Payload]:
        if not self._inbound.correlation_id:
            return headers
        return {**headers, CORRELATION_HEADER: _header_payload(self._inbound.correlation_id)}


def _header_payload(value: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(value).encode())


def _header_value(payload: Payload | None) -> str | None:
    if payload is None:
        return None
    try:
        value = json.loads(payload.data)
    except ValueError:
        return None
    return value if isinstance(value, str) else None
