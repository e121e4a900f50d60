"""The benchmark's arithmetic: percentiles, per-flow CPU, the targets met or not, and what it
reads of a process. (The command itself runs in tests/e2e/test_bench.py.)"""

from __future__ import annotations

import asyncio
import math
import os
from collections import Counter

import pytest

from withdraw_service.bench.drive import Samples
from withdraw_service.bench.procs import cpu_between, usage
from withdraw_service.bench.report import Hold, Phase, Report, percentile
from withdraw_service.bench.run import STATUS_SAMPLES, _status_ms


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 99), percentile(values, 100)) == (
        50.0,
        99.0,
        100.0,
    )
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))


def _phase(name: str, c: int, per_flow_ms: float, rate_flows: int, seconds: float) -> Phase:
    samples = Samples(
        initiate_ms=[per_flow_ms] * rate_flows,
        finalize_ms=[per_flow_ms] * rate_flows,
        failed=Counter(),
        seconds=seconds,
    )
    return Phase.of(name, c, samples, {"temporal": 2.0, "worker": 1.0})


def test_cpu_is_per_completed_flow_and_targets_compare_with_the_bare_shape() -> None:
    service = _phase("service", 20, 100.0, 100, 10.0)  # 10/s
    assert service.per_second == 10.0
    assert service.cpu_ms_per_flow == {"temporal": 20.0, "worker": 10.0}
    report = Report(
        machine={},
        phases=[
            _phase("service", 1, 50.0, 10, 1.0),
            _phase("bare", 1, 20.0, 10, 1.0),
            service,
            _phase("bare", 20, 80.0, 100, 8.0),  # 12.5/s: the service does 0.8 of it
        ],
    )
    met = {t.what: (t.found, t.met) for t in report.targets()}
    assert met["c=1 initiate p50"] == ("50 ms", True)
    assert met["c=20 completed/s vs bare"] == ("0.80 x", False)
    assert met["c=20 initiate p99 vs bare"] == ("1.25 x", True)
    report.hold = Hold(
        waiting=10_000,
        initiate_seconds=1.0,
        worker_rss_mb=300.0,
        worker_rss_idle_mb=100.0,
        status_idle_ms={"p50": 5.0, "p99": 10.0},
        status_waiting_ms={"p50": 5.0, "p99": 11.0},
        status_idle_window_p99=[10.0],
        status_waiting_window_p99=[11.0],
        drain_seconds=1.0,
        failed={},
    )
    met = {t.what: (t.found, t.met) for t in report.targets()}
    assert met["worker RSS, 10000 waiting"] == ("300 MB", False)
    assert met["status p99 while waiting vs idle"] == ("1.10 x", True)
    assert "samples" not in report.as_json()["phases"][0]  # figures only in the JSON


def test_a_process_usage_is_read_from_proc() -> None:
    before = usage(os.getpid())
    assert before is not None and before.rss_bytes > 0
    sum(i * i for i in range(200_000))  # spend a little CPU
    after = usage(os.getpid())
    spent = cpu_between({"me": before, "gone": before}, {"me": after, "gone": None})
    assert set(spent) == {"me"} and spent["me"] >= 0
    assert usage(2**22 + 12345) is None  # no such process


async def test_status_calls_are_sampled_in_windows_and_pooled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each window's p99 is kept; the p50 and p99 are over every call of every window (the
    slow calls of one window are 1.5 % of it, 0.75 % of the pool)."""
    ms = iter([1.0] * 1000 + [2.0] * 985 + [50.0] * 15)

    class Probe:
        def __init__(self) -> None:
            self.calls: list[tuple[int, str]] = []

        async def status_ms(self, lane: int, workflow_id: str) -> float:
            self.calls.append((lane, workflow_id))
            return next(ms)

    probe = Probe()
    held = {0: {"workflowId": "w0"}, 1: {"workflowId": "w1"}, 2: {"workflowId": "w2"}}
    pauses: list[float] = []

    async def pause(seconds: float) -> None:
        pauses.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", pause)
    found = await _status_ms(probe, held, [[0, 9], [7], [1, 2]], pause=30)
    assert pauses == [30]  # between the two windows only: lane 7's group is not held
    assert found.window_p99 == [1.0, 50.0]
    assert found.quantiles == {"p50": 1.0, "p99": 2.0}
    # A window reads its own group's withdrawals only (lane 9 is not held).
    assert set(probe.calls[:STATUS_SAMPLES]) == {(0, "w0")}
    assert set(probe.calls[STATUS_SAMPLES:]) == {(1, "w1"), (2, "w2")}
    nothing = await _status_ms(probe, {}, [[0], [1]], pause=30)
    assert nothing.window_p99 == [] and len(probe.calls) == 2 * STATUS_SAMPLES
    assert pauses == [30]
    assert all(math.isnan(v) for v in nothing.quantiles.values())
