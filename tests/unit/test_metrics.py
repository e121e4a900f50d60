"""The business metrics on a real Temporal runtime meter (buffered, read back): what one
withdrawal's saves add, by terminal status."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import timedelta

import pytest
from temporalio.runtime import MetricBuffer, Runtime, TelemetryConfig

from tests.unit.conftest import T0
from withdraw_service.domain.statuses import WithdrawStatus as S
from withdraw_service.domain.withdrawal import HistoryEntry
from withdraw_service.metrics import WithdrawMetrics


@pytest.fixture
def recorded() -> tuple[WithdrawMetrics, MetricBuffer]:
    buffer = MetricBuffer(10_000)
    runtime = Runtime(telemetry=TelemetryConfig(metrics=buffer))
    metrics = WithdrawMetrics(runtime.metric_meter)
    metrics.runtime = runtime  # type: ignore[attr-defined]  # keep it alive with the test
    return metrics, buffer


def _totals(buffer: MetricBuffer) -> Counter[str]:
    totals: Counter[str] = Counter()
    for update in buffer.retrieve_updates():
        if update.metric.kind == 0:  # counters (histogram values are checked separately)
            labels = ",".join(f"{k}={v}" for k, v in sorted(_ours(update.attributes).items()))
            totals[update.metric.name + (f"{{{labels}}}" if labels else "")] += int(update.value)
    return totals


def _ours(attributes: Mapping[str, str | int | float | bool]) -> dict[str, object]:
    """Without the runtime's own `service_name`."""
    return {k: v for k, v in attributes.items() if k != "service_name"}


def _entry(status: S, seconds: float) -> HistoryEntry:
    return HistoryEntry(status=status, at=T0 + timedelta(seconds=seconds))


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (S.COMPLETED, None, {"withdraw_completed": 1}),
        (S.CANCELLED, None, {"withdraw_cancelled": 1}),
        (
            S.OTP_TIMEOUT,
            "OTP_TIMEOUT",
            {
                "withdraw_failed{failure_code=OTP_TIMEOUT,status=OTP_TIMEOUT}": 1,
                "withdraw_otp_timeout": 1,
            },
        ),
        (
            S.COMPENSATED,
            "DW_REDEMPTION_FAILED",
            {
                "withdraw_failed{failure_code=DW_REDEMPTION_FAILED,status=COMPENSATED}": 1,
                "withdraw_compensated": 1,
            },
        ),
        (S.USER_INVALID, None, {"withdraw_failed{failure_code=none,status=USER_INVALID}": 1}),
    ],
)
def test_a_withdrawal_counts_once_per_metric(
    recorded: tuple[WithdrawMetrics, MetricBuffer],
    status: S,
    code: str | None,
    expected: dict[str, int],
) -> None:
    metrics, buffer = recorded
    metrics.saved(True, [_entry(S.INITIATED, 0)], T0, None)
    metrics.saved(False, [_entry(S.AWAITING_OTP, 1)], T0, None)
    metrics.saved(False, [_entry(status, 42)], T0, code)
    metrics.saved(False, [], T0, code)  # a retried save that wrote nothing
    assert _totals(buffer) == Counter({"withdraw_initiated": 1, **expected})


def test_the_duration_is_from_creation_to_the_terminal_status(
    recorded: tuple[WithdrawMetrics, MetricBuffer],
) -> None:
    metrics, buffer = recorded
    metrics.saved(True, [_entry(S.INITIATED, 0), _entry(S.COMPLETED, 42.5)], T0, None)
    durations = [
        (u.value, _ours(u.attributes))
        for u in buffer.retrieve_updates()
        if u.metric.name == "withdraw_duration_seconds"
    ]
    assert durations == [(42.5, {"status": "COMPLETED"})]


def test_operator_compensation_and_failed_compensation(
    recorded: tuple[WithdrawMetrics, MetricBuffer],
) -> None:
    metrics, buffer = recorded
    metrics.compensation_failed()
    metrics.compensated_by_operator()
    assert _totals(buffer) == Counter(
        {"withdraw_compensation_failed": 1, "withdraw_compensated": 1}
    )
