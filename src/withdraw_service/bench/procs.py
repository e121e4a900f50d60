"""CPU time and memory of a process, read from /proc (Linux): what each part of the stack spent
during a phase of the benchmark."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Usage:
    cpu_seconds: float  # user + system, the process and its waited-for children
    rss_bytes: int


def usage(pid: int) -> Usage | None:
    """None when the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name may hold spaces and parentheses: the fields start after the last ')'.
    fields = stat.rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    rss = next(
        (int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:")),
        0,
    )
    return Usage((utime + stime + cutime + cstime) / TICKS, rss)


def cpu_between(
    before: dict[str, Usage | None], after: dict[str, Usage | None]
) -> dict[str, float]:
    """CPU seconds each named process spent between two readings (gone ones left out)."""
    spent = {}
    for name, start in before.items():
        end = after.get(name)
        if start is not None and end is not None:
            spent[name] = end.cpu_seconds - start.cpu_seconds
    return spent
