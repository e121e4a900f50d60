"""Child processes that a fault plan can kill (SIGKILL), stop (SIGTERM) and start again,
each writing its output to a log file of its own and dying with its parent."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from withdraw_service.stack import die_with_parent, wait_for_port


@dataclass
class Child:
    name: str
    args: Sequence[str]
    env: dict[str, str]
    log: Path
    port: int | None = None  # waited for after each start, when set
    cwd: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    starts: int = field(default=0, init=False)

    def start(self, timeout: float = 60.0) -> None:
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            out.write(f"\n--- start {self.starts + 1} of {self.name}\n".encode())
            out.flush()
            self.process = subprocess.Popen(  # noqa: S603 - our own binaries, no shell
                list(self.args),
                env=self.env,
                cwd=self.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )
        self.starts += 1
        if self.port is not None:
            wait_for_port(self.port, timeout, self.process, self.name)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"{self.name} was never started")
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as a crash or an OOM kill."""
        if self.process is not None and self.running:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM, as a rollout does; wait for the exit and answer its code."""
        self.ask_to_stop()
        return self.wait(timeout)

    def ask_to_stop(self) -> None:
        """SIGTERM, without waiting."""
        if self.process is None:
            raise RuntimeError(f"{self.name} was never started")
        if self.running:
            self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 60.0) -> int:
        """The exit code, once it has exited; killed (and TimeoutExpired) after `timeout`."""
        if self.process is None:
            raise RuntimeError(f"{self.name} was never started")
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def stop(self) -> None:
        """Whatever state it is in: gone afterwards."""
        if self.running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.terminate(timeout=30)

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
