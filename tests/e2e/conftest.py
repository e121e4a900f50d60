"""The end-to-end tier: `withdraw-service dev` (what `make run` starts) as a child process on
ports of its own, driven only through the public HTTP API and the simulators' control surface,
exactly as a client or an operator would."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support.servers import free_port

READY_TIMEOUT = 180.0


@dataclass
class RunningStack:
    data_dir: Path
    ports: dict[str, int]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    # WITHDRAW_* settings of this stack's own (the caller's environment never leaks in).
    settings_env: dict[str, str] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}"

    @property
    def sim_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['sim']}"

    def start(self) -> None:
        args = [
            sys.executable, "-m", "withdraw_service.cli", "dev",
            "--data-dir", str(self.data_dir),
            "--api-port", str(self.ports["api"]),
            "--sim-port", str(self.ports["sim"]),
            "--temporal-port", str(self.ports["temporal"]),
            "--temporal-ui-port", str(self.ports["ui"]),
            "--metrics-port", str(self.ports["metrics"]),
            "--codec-port", str(self.ports["codec"]),
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("WITHDRAW_")}
        env.update(self.settings_env)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"stack exited early:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.api_url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"stack not ready in {READY_TIMEOUT}s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # what Ctrl-C sends
            self.process.wait(timeout=60)
        self.process = None

    def listening(self) -> list[str]:
        busy = []
        for name, port in self.ports.items():
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    busy.append(name)
        return busy


@pytest.fixture(scope="session")
def running_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    root = tmp_path_factory.mktemp("stack")
    ports = {name: free_port() for name in ("api", "sim", "temporal", "ui", "metrics", "codec")}
    stack = RunningStack(data_dir=root / "data", ports=ports, log=root / "stack.log")
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()
