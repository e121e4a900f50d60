"""What a benchmark run found: figures per phase, the ratios to the bare shape, the targets of
docs/performance.md met or not; as a table, JSON and a plot."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from withdraw_service.bench.drive import Samples


def percentile(values: list[float], p: float) -> float:
    """Nearest rank; NaN when there is nothing to rank."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass
class Phase:
    """One load (this service or the bare shape) at one concurrency."""

    name: str
    concurrency: int
    completed: int
    failed: dict[str, int]
    seconds: float
    per_second: float
    initiate_ms: dict[str, float]
    finalize_ms: dict[str, float]
    cpu_ms_per_flow: dict[str, float] = field(default_factory=dict)
    samples: dict[str, list[float]] = field(default_factory=dict)

    @classmethod
    def of(cls, name: str, concurrency: int, samples: Samples, cpu: dict[str, float]) -> Phase:
        done = max(samples.completed, 1)
        return cls(
            name=name,
            concurrency=concurrency,
            completed=samples.completed,
            failed=dict(samples.failed),
            seconds=round(samples.seconds, 3),
            per_second=round(samples.completed / samples.seconds, 2) if samples.seconds else 0,
            initiate_ms=_quantiles(samples.initiate_ms),
            finalize_ms=_quantiles(samples.finalize_ms),
            cpu_ms_per_flow={k: round(v * 1000 / done, 1) for k, v in sorted(cpu.items())},
            samples={"initiate": samples.initiate_ms, "finalize": samples.finalize_ms},
        )


def _quantiles(values: list[float]) -> dict[str, float]:
    return {f"p{p}": round(percentile(values, p), 1) for p in (50, 95, 99)}


@dataclass
class Hold:
    """Withdrawals waiting for their OTP at once, then all finalized."""

    waiting: int
    initiate_seconds: float
    worker_rss_mb: float
    worker_rss_idle_mb: float
    status_idle_ms: dict[str, float]
    status_waiting_ms: dict[str, float]
    status_idle_window_p99: list[float]
    status_waiting_window_p99: list[float]
    drain_seconds: float
    failed: dict[str, int]


@dataclass
class Target:
    what: str
    wanted: str
    found: str
    met: bool


@dataclass
class Report:
    machine: dict[str, Any]
    phases: list[Phase] = field(default_factory=list)
    hold: Hold | None = None
    worker_rss_mb: float | None = None

    def phase(self, name: str, concurrency: int) -> Phase | None:
        return next(
            (p for p in self.phases if p.name == name and p.concurrency == concurrency), None
        )

    def targets(self) -> list[Target]:
        found: list[Target] = []
        serial = self.phase("service", 1)
        if serial:
            for step, quantiles in (
                ("initiate", serial.initiate_ms),
                ("finalize", serial.finalize_ms),
            ):
                p50 = quantiles["p50"]
                found.append(Target(f"c=1 {step} p50", "<= 60 ms", f"{p50:.0f} ms", p50 <= 60))
        loaded = [p for p in self.phases if p.name == "service" and p.concurrency > 1]
        for service in loaded:
            bare = self.phase("bare", service.concurrency)
            if bare is None or not bare.per_second:
                continue
            c = service.concurrency
            ratio = service.per_second / bare.per_second
            found.append(
                Target(f"c={c} completed/s vs bare", ">= 0.85 x", f"{ratio:.2f} x", ratio >= 0.85)
            )
            p99 = service.initiate_ms["p99"] / bare.initiate_ms["p99"]
            found.append(
                Target(f"c={c} initiate p99 vs bare", "<= 1.3 x", f"{p99:.2f} x", p99 <= 1.3)
            )
        if self.hold:
            rss, waiting = self.hold.worker_rss_mb, self.hold.waiting
            found.append(
                Target(f"worker RSS, {waiting} waiting", "<= 250 MB", f"{rss:.0f} MB", rss <= 250)
            )
            idle, busy = self.hold.status_idle_ms["p99"], self.hold.status_waiting_ms["p99"]
            found.append(
                Target(
                    "status p99 while waiting vs idle",
                    "<= 1.2 x",
                    f"{busy / idle:.2f} x",
                    busy <= 1.2 * idle,
                )
            )
        return found

    def as_json(self) -> dict[str, Any]:
        body = asdict(self)
        for phase in body["phases"]:
            phase.pop("samples")
        body["targets"] = [asdict(t) for t in self.targets()]
        return body

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.as_json(), indent=2) + "\n", encoding="utf-8")

    def print(self, console: Console) -> None:
        table = Table(title="withdraw-service bench: this service vs the bare withdraw shape")
        for column in ("", "this service", "bare shape", "ratio"):
            table.add_column(column, justify="right" if column else "left")
        for service in (p for p in self.phases if p.name == "service"):
            bare = self.phase("bare", service.concurrency)
            c = service.concurrency
            table.add_row(
                f"c={c}: completed/s ({service.completed} done, "
                f"{sum(service.failed.values())} failed)",
                f"{service.per_second:.1f}",
                f"{bare.per_second:.1f}" if bare else "-",
                _ratio(service.per_second, bare.per_second if bare else None),
            )
            for step in ("initiate", "finalize"):
                ours = getattr(service, f"{step}_ms")
                theirs = getattr(bare, f"{step}_ms") if bare else None
                table.add_row(
                    f"c={c}: {step} p50 / p95 / p99 ms",
                    _triple(ours),
                    _triple(theirs) if theirs else "-",
                    _ratio(ours["p99"], theirs["p99"] if theirs else None) + " (p99)",
                )
            ours_cpu = service.cpu_ms_per_flow
            bare_cpu = bare.cpu_ms_per_flow if bare else {}
            for name in sorted({*ours_cpu, *bare_cpu}):
                mine, theirs = ours_cpu.get(name, 0.0), bare_cpu.get(name, 0.0)
                table.add_row(
                    f"c={c}: CPU ms per withdrawal, {name}",
                    f"{mine:.0f}",
                    f"{theirs:.0f}" if bare else "-",
                    # Only where both spent some: the bare shape has no API or simulators.
                    _ratio(mine, theirs) if mine >= 1 and theirs >= 1 else "",
                )
            table.add_row(
                f"c={c}: CPU ms per withdrawal, all",
                f"{sum(ours_cpu.values()):.0f}",
                f"{sum(bare_cpu.values()):.0f}" if bare else "-",
                _ratio(sum(ours_cpu.values()), sum(bare_cpu.values()) if bare else None),
            )
        if self.worker_rss_mb is not None:
            table.add_row("worker RSS after the loads", f"{self.worker_rss_mb:.0f} MB", "", "")
        console.print(table)
        if self.hold:
            h = self.hold
            console.print(
                f"hold: {h.waiting} waiting for their OTP "
                f"(initiated in {h.initiate_seconds:.0f} s); "
                f"worker RSS {h.worker_rss_idle_mb:.0f} MB idle -> {h.worker_rss_mb:.0f} MB; "
                f"status p50/p99 idle {h.status_idle_ms['p50']}/{h.status_idle_ms['p99']} ms, "
                f"waiting {h.status_waiting_ms['p50']}/{h.status_waiting_ms['p99']} ms "
                f"(each window's p99: idle {h.status_idle_window_p99}, "
                f"waiting {h.status_waiting_window_p99}); "
                f"all finalized in {h.drain_seconds:.0f} s; failed {h.failed or 0}"
            )
        targets = Table(title="targets (docs/performance.md)")
        for column in ("target", "wanted", "found", "met"):
            targets.add_column(column)
        for target in self.targets():
            targets.add_row(target.what, target.wanted, target.found, "yes" if target.met else "NO")
        console.print(targets)

    def plot(self, path: Path) -> None:
        """Latency distributions (CDF) per phase and step: a PNG."""
        try:
            import matplotlib  # type: ignore[import-not-found,unused-ignore]

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt  # type: ignore[import-not-found,unused-ignore]
        except ImportError as exc:  # the dev extra brings it
            raise RuntimeError("--plot needs matplotlib (pip install -e '.[dev]')") from exc
        figure, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
        for axis, step in zip(axes, ("initiate", "finalize"), strict=True):
            for phase in self.phases:
                values = sorted(phase.samples.get(step, []))
                if values:
                    share = [(i + 1) / len(values) for i in range(len(values))]
                    style = "-" if phase.name == "service" else "--"
                    axis.plot(values, share, style, label=f"{phase.name} c={phase.concurrency}")
            axis.set_xscale("log")
            axis.set_xlabel(f"{step} latency (ms, log scale)")
            axis.grid(True, which="both", alpha=0.3)
            axis.legend()
        axes[0].set_ylabel("share of requests at or below")
        figure.suptitle("withdraw-service bench: latency distributions")
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=110)
        plt.close(figure)


def _triple(q: dict[str, float]) -> str:
    return f"{q['p50']:.0f} / {q['p95']:.0f} / {q['p99']:.0f}"


def _ratio(ours: float, theirs: float | None) -> str:
    if not theirs or math.isnan(ours) or math.isnan(theirs):
        return "-"
    return f"{ours / theirs:.2f}"
