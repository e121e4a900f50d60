"""The production-shaped stack a chaos run breaks, on one machine: the Temporal dev server on
its file database, the simulators, two (or more) workers and API processes, the application
database on PostgreSQL (a fresh database per run) reached through a proxy that can cut it.
Production mode, with secrets and a payload key generated for the run. Everything listens on
loopback, and everything is stopped at the end, whatever happens."""

from __future__ import annotations

import base64
import os
import secrets
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import yaml
from sqlalchemy import make_url

from withdraw_service.activities.deadline import CALLS
from withdraw_service.chaos.processes import Child, free_port
from withdraw_service.chaos.proxy import TcpProxy
from withdraw_service.domain.policies import ActivityName
from withdraw_service.persistence.db import migrate
from withdraw_service.settings import UNREACHABLE_LIMITS, Settings
from withdraw_service.stack import child_env, temporal_server_args

_ME = [sys.executable, "-m", "withdraw_service.cli"]


def short_attempt(activity: str) -> str:
    """A short `startToCloseTimeout` that start-up still accepts for the activity's calls
    (`deadline.check_policies`), so that an attempt on a killed worker is retried soon."""
    return f"{max(5, 2 * CALLS.get(ActivityName(activity), 1))}s"


def chaos_policies(shipped: Path, target: Path) -> Path:
    """The shipped retry policies with every wait shrunk (same attempt counts, same
    non-retryable types, so each scenario takes the branch it takes in production, sooner)."""
    config = yaml.safe_load(shipped.read_text())
    for name, activity in config["activities"].items():
        activity["startToCloseTimeout"] = short_attempt(name)
        retry = activity.setdefault("retryPolicy", {})
        retry["initialInterval"] = "100ms"
        retry["maximumInterval"] = "1s"
    config["transferVerification"] = {"interval": "500ms", "maxAttempts": 4}
    target.write_text(yaml.safe_dump(config))
    return target


def temporal_child(settings: Settings) -> Child:
    """The Temporal dev server on its file database under `settings.data_dir`, as a child
    that can be killed and started again on the same port and data (no settings of ours)."""
    return Child(
        "temporal",
        temporal_server_args(settings),
        env={"PATH": "/usr/bin:/bin"},
        log=settings.data_dir / "temporal.log",
        port=settings.temporal_port,
    )


def run_secrets() -> dict[str, str]:
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    return {
        "jwt_secret": secrets.token_urlsafe(48),
        "jwt_audience": "withdraw-api",
        "jwt_issuer": "chaos-run",
        "codec_keys": f"chaos-1:{key}",
        "dw_client_secret": secrets.token_urlsafe(24),
        "dw_app_key": secrets.token_urlsafe(24),
    }


def write_private(path: Path, text: str) -> None:
    """A file only its owner can read, never readable by others even for a moment."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)


@dataclass
class Topology:
    root: Path
    postgres: str  # an administrative DSN: the run's database is created and dropped there
    workers: int = 2
    apis: int = 2
    # Longer than an outage of the plan: a customer kept from answering by a 503 still can.
    otp_timeout_seconds: int = 90
    settings: Settings = field(init=False)
    database: str = field(init=False, default="")
    proxy: TcpProxy = field(init=False)
    server: Child = field(init=False)
    sim: Child = field(init=False)
    worker_children: list[Child] = field(init=False, default_factory=list)
    api_children: list[Child] = field(init=False, default_factory=list)
    health_ports: dict[str, int] = field(init=False, default_factory=dict)  # worker's probes

    # -- start and stop ------------------------------------------------------------------------

    def start(self, shipped_policies: Path) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        name = f"chaos_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.postgres, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.database = name  # only now: stop() drops it
        target = make_url(self.direct_database_url)
        self.proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432)
        self.proxy.start()
        proxied = target.set(host="127.0.0.1", port=self.proxy.port)
        # Every setting that could point elsewhere is given here: nothing of the caller's
        # WITHDRAW_* environment may send this run's traffic to a real service.
        self.settings = Settings(
            environment="production",
            simulated_services=True,  # the simulators, on purpose, on this machine
            # The run is about faults, not abuse: its customers retry and poll freely.
            **UNREACHABLE_LIMITS,
            data_dir=self.root,
            database_url=proxied.render_as_string(hide_password=False),
            temporal_address=None,
            temporal_namespace="default",
            session_url=None,
            flex_url=None,
            transfer_url=None,
            transfer_checker_url=None,
            drivewealth_url=None,
            codec_key_id=None,
            task_queue="WITHDRAW_TASK_QUEUE",
            temporal_port=free_port(),
            temporal_ui_port=free_port(),
            codec_server_port=free_port(),
            sim_port=free_port(),
            sim_url="",  # set below, once the port is known
            retry_policies=chaos_policies(shipped_policies, self.root / "retry-policies.yaml"),
            otp_timeout_seconds=self.otp_timeout_seconds,
            http_timeout_seconds=2.0,
            # A redemption DriveWealth leaves pending: looked up every second, for 30 s.
            dw_settlement_interval_seconds=1.0,
            dw_settlement_max_seconds=30.0,
            worker_shutdown_grace_seconds=10.0,
            log_level="WARNING",
            **run_secrets(),  # type: ignore[arg-type]
        )
        self.settings = self.settings.model_copy(
            update={"sim_url": f"http://127.0.0.1:{self.settings.sim_port}"}
        )
        self.settings.check_production()
        # A kept run (failed, or --keep) can be read: its Temporal histories are encrypted with
        # this run's payload key. Owner-only; gone with the folder when the run passes.
        write_private(self.root / "codec-keys", self.settings.codec_keys.get_secret_value())
        migrate(self.direct_database_url)
        self.server = temporal_child(self.settings)
        # In memory: the simulators are never restarted here, and writing their whole state
        # to a file on every call would make them the bottleneck of a long run.
        self.sim = self._ours(
            "simulators", [*_ME, "sim", "--in-memory"], self.settings.sim_port, self.settings
        )
        self.server.start()
        self.sim.start()
        for _ in range(self.workers):
            self.new_worker()
        for _ in range(self.apis):
            self.new_api()

    def new_worker(self) -> Child:
        """One more worker process, started, with its probes on a port of its own
        (`health_ports`): a rollout's new pod. Waited for until its metrics port listens,
        which it opens once it has checked the schema (its probes answer from the start)."""
        settings = self.settings.model_copy(
            update={"worker_metrics_port": free_port(), "worker_health_port": free_port()}
        )
        assert settings.worker_health_port is not None
        name = f"worker-{len(self.worker_children) + 1}"
        child = self._ours(name, [*_ME, "worker"], settings.worker_metrics_port, settings)
        self.health_ports[name] = settings.worker_health_port
        self.worker_children.append(child)
        child.start()
        return child

    def new_api(self) -> Child:
        """One more API process, started and listening."""
        port = free_port()
        name = f"api-{len(self.api_children) + 1}"
        child = self._ours(name, [*_ME, "api", "--port", str(port)], port)
        self.api_children.append(child)
        child.start()
        return child

    def _ours(
        self, name: str, args: list[str], port: int, settings: Settings | None = None
    ) -> Child:
        return Child(
            name,
            args,
            env=child_env(settings or self.settings),
            log=self.root / f"{name}.log",
            port=port,
        )

    def stop(self) -> None:
        for child in [*self.api_children, *self.worker_children]:
            child.kill()  # what is left is judged from the databases, not from them
        started: list[Child] = [
            child for child in (getattr(self, "sim", None), getattr(self, "server", None)) if child
        ]
        for child in started:
            child.stop()
        if getattr(self, "proxy", None) is not None:
            self.proxy.stop()
        if self.database:
            with psycopg.connect(self.postgres, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    # -- where things are ----------------------------------------------------------------------

    @property
    def direct_database_url(self) -> str:
        """The run's database without the proxy: the verdict reads it, outage or not."""
        target = urlsplit(self.postgres)
        return urlunsplit(target._replace(scheme="postgresql+psycopg", path=f"/{self.database}"))

    @property
    def api_urls(self) -> list[str]:
        return [self.url_of(child) for child in self.api_children]

    @staticmethod
    def url_of(api: Child) -> str:
        return f"http://127.0.0.1:{api.port}"

    @property
    def sim_url(self) -> str:
        return self.settings.sim_url

    @property
    def temporal_address(self) -> str:
        return self.settings.effective_temporal_address
