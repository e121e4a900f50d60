"""`withdraw-service bench` at a small N, as `make bench` runs it: it starts its own stack, drives
withdrawals through the API and the bare shape, holds some at their OTP, and writes its report
and plot. It proves the command works; it asserts no timing (figures are for people to read)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_the_benchmark_runs_end_to_end_and_reports(tmp_path: Path) -> None:
    report, plot = tmp_path / "report.json", tmp_path / "latency.png"
    args = ["--n", "12", "--concurrency", "3", "--serial", "4", "--warmup", "1", "--hold", "6"]
    args += ["--status-windows", "1"]  # windows 30 s apart: tests/unit/test_bench.py has two
    ran = subprocess.run(
        [
            *(sys.executable, "-m", "withdraw_service.cli", "bench", *args),
            *("--data-dir", str(tmp_path / "stack"), "--report", str(report), "--plot", str(plot)),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert "this service vs the bare withdraw shape" in ran.stdout

    found = json.loads(report.read_text())
    phases = {(p["name"], p["concurrency"]): p for p in found["phases"]}
    assert set(phases) == {("service", 1), ("bare", 1), ("service", 3), ("bare", 3)}
    for (_, concurrency), phase in phases.items():
        assert phase["completed"] == (4 if concurrency == 1 else 12), phase
        assert phase["failed"] == {}
        assert set(phase["initiate_ms"]) == {"p50", "p95", "p99"}
    # Every part of the stack spent CPU on the service's withdrawals; the bare shape's own
    # worker runs in the bench process.
    assert {"temporal", "worker", "api", "simulators", "bench"} <= set(
        phases[("service", 3)]["cpu_ms_per_flow"]
    )
    hold = found["hold"]
    assert (hold["waiting"], hold["failed"]) == (6, {})
    assert hold["worker_rss_mb"] > 0
    assert len(hold["status_idle_window_p99"]) == len(hold["status_waiting_window_p99"]) == 1
    assert {t["what"] for t in found["targets"]} >= {"c=1 initiate p50", "c=3 completed/s vs bare"}
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The stack it started is gone: its log says every part stopped.
    assert "stopping temporal" in ran.stdout
