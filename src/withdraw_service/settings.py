"""The one settings object: read from `WITHDRAW_*` environment variables (or `--flags`) once, at
startup, by the entry point, then passed to whatever needs it. Nothing here runs at import.

It must never hold a default that is unsafe outside development: `check_production()` refuses
the dev-only JWT secret.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

DEV_JWT_SECRET = "dev-only-insecure-jwt-secret-change-me"
# base64 of b"dev-only-insecure-payload-key-32": refused outside dev, like the JWT secret.
DEV_CODEC_KEYS = "dev-1:ZGV2LW9ubHktaW5zZWN1cmUtcGF5bG9hZC1rZXktMzI="
# The simulated DriveWealth's credentials: refused outside dev mode.
SIM_DW_CLIENT_ID, SIM_DW_CLIENT_SECRET, SIM_DW_APP_KEY = (
    "sim-dw-client",
    "sim-dw-secret",
    "sim-dw-app-key",
)
# Package data, next to this module: the seed's per-activity timeouts and retry policies.
SHIPPED_RETRY_POLICIES = Path(__file__).resolve().parent / "retry-policies.yaml"
SERVICES = ("session", "flex", "transfer", "transfer-checker", "drivewealth")
# Abuse limits no load run reaches (the bench, the chaos run): still counted, never refused.
UNREACHABLE_LIMITS: dict[str, Any] = {
    "rate_limit_requests_per_minute": 10**9,
    "rate_limit_initiations_per_hour": 10**9,
    "rate_limit_wrong_otps_per_day": 10**9,
}


def is_loopback(host: str) -> bool:
    """`localhost`, 127.0.0.0/8 or ::1 (what a dev stack may listen on or reach)."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    """docs/configuration.md, plus the wiring the embedded stack needs."""

    model_config = SettingsConfigDict(env_prefix="WITHDRAW_", extra="ignore", frozen=True)

    environment: Literal["dev", "production"] = "production"
    data_dir: Path = Path(".data")
    database_url: str | None = None
    temporal_address: str | None = None
    temporal_namespace: str = "default"
    task_queue: str = "WITHDRAW_TASK_QUEUE"
    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    # Checked when set (`aud`, `iss`); both required outside dev. With a JWKS URL, tokens are
    # an identity provider's (RS256/ES256, by its published keys), not signed with the secret.
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    jwt_jwks_url: str | None = None
    # Longest lifetime (exp - iat) accepted, whatever the exp; unset: 3600 s for a customer's
    # token, 8 h for an operator's (api/auth.py DEFAULT_MAX_TTL).
    jwt_max_ttl_seconds: int | None = Field(default=None, gt=0)
    # Payload encryption (codec.py): `id:base64key[,id:base64key...]`; `codec_key_id` (default:
    # the first) encrypts, every key listed decrypts, so a key is rotated by adding the new one
    # first and removing the old one when no history needs it.
    codec_keys: SecretStr = SecretStr(DEV_CODEC_KEYS)
    codec_key_id: str | None = None
    # Outside dev mode payloads that are not encrypted are refused (codec.py); set only to
    # replay histories recorded before the codec.
    codec_allow_plaintext: bool = False
    # The Temporal frontend's TLS (required outside dev mode unless it is on this host): the CA
    # that signed its certificate, a client certificate and key for mTLS, the name to expect in
    # its certificate; or an API key (Temporal Cloud), which implies TLS.
    temporal_tls: bool = False
    temporal_tls_ca_file: Path | None = None
    temporal_tls_cert_file: Path | None = None
    temporal_tls_key_file: Path | None = None
    temporal_tls_server_name: str | None = None
    temporal_api_key: SecretStr | None = None
    otp_timeout_seconds: int = Field(default=300, gt=0)
    otp_max_attempts: int = Field(default=3, gt=0)
    api_wait_seconds: float = Field(default=20.0, gt=0)
    max_amount: Decimal = Decimal("250000.00")
    # The shipped policies are package data (they go where the code goes, whatever the
    # working directory); WITHDRAW_RETRY_POLICIES names another file.
    retry_policies: Path = SHIPPED_RETRY_POLICIES
    restriction_start_date: date = date(2020, 1, 1)
    # The seed's 1 h could kill a withdrawal mid-money (a slow checker, a stack stopped
    # overnight) with no compensation; the workflow bounds its own steps, this is a backstop.
    workflow_execution_timeout_seconds: int = Field(default=7 * 24 * 3600, gt=0)
    # A redemption DriveWealth accepted but has not settled: looked up every interval, for at
    # most max (then an operator task, DW_SETTLEMENT_OVERDUE).
    dw_settlement_interval_seconds: float = Field(default=60.0, gt=0)
    dw_settlement_max_seconds: float = Field(default=432000.0, gt=0)
    # Reconciliation (docs/runbook.md): the daily Schedule's cron (UTC) and how many days of
    # withdrawals each run compares (a redemption may take days to settle).
    reconcile_cron: str = "0 3 * * *"
    reconcile_window_days: int = Field(default=7, gt=0)

    sim_url: str = "http://127.0.0.1:8100"
    session_url: str | None = None
    flex_url: str | None = None
    transfer_url: str | None = None
    transfer_checker_url: str | None = None
    drivewealth_url: str | None = None
    dw_client_id: str = SIM_DW_CLIENT_ID
    dw_client_secret: SecretStr = SecretStr(SIM_DW_CLIENT_SECRET)
    dw_app_key: SecretStr = SecretStr(SIM_DW_APP_KEY)
    # The external services are the simulators on purpose (the chaos run): production then
    # accepts them, on this machine only.
    simulated_services: bool = False
    dw_redemption_type: Literal["ACH", "WIRE", "CASH_TRANSFER", "BULK_FUNDING"] = "CASH_TRANSFER"
    http_timeout_seconds: float = Field(default=10.0, gt=0)

    # The worker's tuning (the seed's MAX_CONCURRENT_*): how many activities and workflow
    # tasks one worker runs at once, and how long a stopping worker lets running activities
    # finish before it cancels them (SIGTERM in a rollout).
    max_concurrent_activities: int = Field(default=100, gt=0)
    max_concurrent_workflow_tasks: int = Field(default=50, gt=0)
    worker_shutdown_grace_seconds: float = Field(default=30.0, ge=0)
    # Workflow executions a worker keeps in memory between their tasks (about 180 KB each);
    # one evicted is replayed from its history at its next task. 300 keeps a worker under
    # 250 MB however many withdrawals wait (docs/performance.md, "Workflow cache").
    max_cached_workflows: int = Field(default=300, ge=0)
    # Connections per process, and the threads that use them (database calls run in threads).
    database_pool_size: int = Field(default=10, gt=0)
    # Below every activity's timeout: a blocked database call fails (and is retried) before
    # Temporal abandons the attempt that made it. Not below the 2 s a status save gets in the
    # worker first (progress.LOCAL_SAVE_WITHIN): one that outlives it may still commit, and
    # counts its metrics then; the server's attempt after it finds the rows stored.
    database_lock_timeout_seconds: float = Field(default=5.0, gt=0)
    # Whether a starting worker migrates the database (unset: in dev mode only). Otherwise the
    # worker and the API check the schema and refuse to start on an older one: in production
    # `withdraw-service migrate` (the migration Job) changes it (docs/deployment.md).
    migrate_on_start: bool | None = None
    # Abuse limits per user (api/limits.py), counted in the database: requests per minute on
    # every endpoint with a bearer token, withdrawals started per hour, wrong OTPs per UTC day
    # (then no new withdrawal until the day is over). Over a limit: 429 RATE_LIMITED.
    rate_limit_requests_per_minute: int = Field(default=120, gt=0)
    rate_limit_initiations_per_hour: int = Field(default=10, gt=0)
    rate_limit_wrong_otps_per_day: int = Field(default=10, gt=0)
    # How long an Idempotency-Key (initiate's, finalize's) is remembered; workers remove older.
    idempotency_key_ttl_days: int = Field(default=30, gt=0)

    # `/docs` and `/openapi.json`: served in dev mode; elsewhere only when set to true.
    api_docs: bool | None = None
    # Who may read the API's `/metrics`: clients in these networks, reaching it directly (a
    # request that came through a proxy, which says so with X-Forwarded-For or Forwarded, is
    # refused whatever its address). Everyone else gets a 404. Set to the Prometheus pods'
    # network in a cluster.
    metrics_allowed_networks: str = "127.0.0.0/8,::1/128"
    # The API's gauges read from the database (in flight, open tasks): at most once per this
    # many seconds, whatever the scrape rate.
    metrics_gauge_max_age_seconds: float = Field(default=10.0, ge=0)
    log_level: str = "INFO"  # JSON lines on stderr (logs.py), for every process of ours
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    sim_host: str = "127.0.0.1"
    sim_port: int = 8100
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    # Where operators open a workflow in the Temporal Web UI (the console links to it);
    # default: the embedded dev server's UI.
    temporal_ui_url: str | None = None
    # How long an operator console sign-in lasts at most (never beyond the pasted token).
    console_session_seconds: int = Field(default=8 * 3600, gt=0)
    # The console's public origin (`https://ops.example.com`) where a proxy in front changes
    # the scheme or host; forms from any other origin are refused. Default: as addressed.
    console_origin: str | None = None
    worker_metrics_port: int = 9464
    # 0.0.0.0 where Prometheus scrapes from another host; loopback by default.
    worker_metrics_host: str = "127.0.0.1"
    # The worker's probes (/healthz, /readyz: polling), on the metrics host; off unless set.
    worker_health_port: int | None = Field(default=None, gt=0, lt=65536)
    codec_server_host: str = "127.0.0.1"
    codec_server_port: int = 8081
    # Browser origins allowed to call the codec server (the Web UI's); default: the embedded UI.
    codec_cors_origins: str | None = None

    @property
    def api_drain_seconds(self) -> int:
        """How long a stopping API lets its requests finish: one that waits for its withdrawal
        (WITHDRAW_API_WAIT_SECONDS) and 5 s more."""
        return int(self.api_wait_seconds) + 5

    @property
    def migrates_on_start(self) -> bool:
        return self.environment == "dev" if self.migrate_on_start is None else self.migrate_on_start

    @property
    def effective_codec_cors_origins(self) -> list[str]:
        if self.codec_cors_origins:
            return [o.strip() for o in self.codec_cors_origins.split(",") if o.strip()]
        return [f"http://{host}:{self.temporal_ui_port}" for host in ("127.0.0.1", "localhost")]

    @model_validator(mode="after")
    def _settlement_fits_the_execution(self) -> Settings:
        # The withdrawal must outlive the wait for DriveWealth, with a day for the rest.
        if self.dw_settlement_max_seconds + 86400 > self.workflow_execution_timeout_seconds:
            raise ValueError(
                "WITHDRAW_DW_SETTLEMENT_MAX_SECONDS must stay a day below "
                "WITHDRAW_WORKFLOW_EXECUTION_TIMEOUT_SECONDS"
            )
        return self

    @property
    def is_dev(self) -> bool:
        return self.environment == "dev"

    @property
    def serves_docs(self) -> bool:
        return self.api_docs if self.api_docs is not None else self.is_dev

    @property
    def metrics_networks(self) -> list[IPv4Network | IPv6Network]:
        return [
            ip_network(part.strip(), strict=False)
            for part in self.metrics_allowed_networks.split(",")
            if part.strip()
        ]

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'withdraw.db'}"

    @property
    def effective_temporal_ui_url(self) -> str:
        return (self.temporal_ui_url or f"http://127.0.0.1:{self.temporal_ui_port}").rstrip("/")

    @property
    def effective_temporal_address(self) -> str:
        return self.temporal_address or f"127.0.0.1:{self.temporal_port}"

    @property
    def temporal_on_loopback(self) -> bool:
        """A frontend on this host (the embedded server, a sidecar): no network to protect."""
        return is_loopback(self.effective_temporal_address.rsplit(":", 1)[0])

    def _check_dev_stays_here(self) -> None:
        """Dev mode accepts the dev-only secrets from the source: it listens on loopback only,
        and its Temporal and database are on this machine."""
        binds = {
            "WITHDRAW_API_HOST": self.api_host,
            "WITHDRAW_SIM_HOST": self.sim_host,
            "WITHDRAW_CODEC_SERVER_HOST": self.codec_server_host,
            "WITHDRAW_WORKER_METRICS_HOST": self.worker_metrics_host,
        }
        for name, host in binds.items():
            if not is_loopback(host):
                raise ValueError(
                    f"{name}={host} is not loopback: dev mode (dev-only secrets, anyone may mint "
                    "tokens) listens on this machine only"
                )
        if not self.temporal_on_loopback:
            raise ValueError("dev mode uses a Temporal frontend on this machine only")
        url = make_url(self.effective_database_url)
        if url.get_backend_name() != "sqlite" and not is_loopback(url.host or ""):
            raise ValueError("dev mode uses SQLite or a database on this machine only")

    def check_database(self) -> None:
        """Outside dev mode no SQLite file per process (`migrate` too: a Secret without
        WITHDRAW_DATABASE_URL would otherwise migrate a file of its own in /tmp)."""
        if not self.is_dev and make_url(self.effective_database_url).get_backend_name() == (
            "sqlite"
        ):
            raise ValueError(
                "SQLite is for dev mode: set WITHDRAW_DATABASE_URL to PostgreSQL "
                "(postgresql+psycopg://...) outside dev mode"
            )

    def _check_real_services(self) -> None:
        """Outside dev mode: no SQLite file per process, and the real external services over
        HTTPS with real DriveWealth credentials, never a silent fall-back to the simulators.
        `WITHDRAW_SIMULATED_SERVICES=true` says a deployment means the simulators (a chaos
        run, a rehearsal): then they must be on this machine."""
        self.check_database()
        urls = {service: self.service_url(service) for service in SERVICES}
        if self.simulated_services:
            for service, url in urls.items():
                if not is_loopback(urlsplit(url).hostname or ""):
                    raise ValueError(f"the simulated {service} service must be on this machine")
            return
        for service, explicit in self.explicit_service_urls.items():
            if explicit is None:
                raise ValueError(
                    f"WITHDRAW_{service.upper().replace('-', '_')}_URL is not set: outside dev "
                    "mode every external service is named (no fall-back to the simulators; "
                    "WITHDRAW_SIMULATED_SERVICES=true if the simulators are meant)"
                )
            if urlsplit(explicit).scheme != "https":
                raise ValueError(f"the {service} service is reached over HTTPS outside dev mode")
        credentials = (
            (self.dw_client_id, SIM_DW_CLIENT_ID),
            (self.dw_client_secret.get_secret_value(), SIM_DW_CLIENT_SECRET),
            (self.dw_app_key.get_secret_value(), SIM_DW_APP_KEY),
        )
        if any(given in ("", simulated) for given, simulated in credentials):
            raise ValueError(
                "WITHDRAW_DW_CLIENT_ID, WITHDRAW_DW_CLIENT_SECRET and WITHDRAW_DW_APP_KEY must "
                "be DriveWealth's, not the simulator's, outside dev mode"
            )

    def check_simulators(self) -> None:
        """The simulators hand out OTPs to anyone (`/_sim/otp/...`): dev mode or a deployment
        that says it means them, and on loopback only."""
        if not (self.is_dev or self.simulated_services):
            raise ValueError(
                "the simulators run in dev mode (WITHDRAW_ENVIRONMENT=dev) or with "
                "WITHDRAW_SIMULATED_SERVICES=true only"
            )
        if not is_loopback(self.sim_host):
            raise ValueError(
                f"WITHDRAW_SIM_HOST={self.sim_host}: the simulators listen on loopback only"
            )

    @property
    def explicit_service_urls(self) -> dict[str, str | None]:
        return {
            "session": self.session_url,
            "flex": self.flex_url,
            "transfer": self.transfer_url,
            "transfer-checker": self.transfer_checker_url,
            "drivewealth": self.drivewealth_url,
        }

    def service_url(self, service: str) -> str:
        """Base URL of one external service; the simulators serve each under a path prefix."""
        explicit = self.explicit_service_urls[service]
        return explicit or f"{self.sim_url.rstrip('/')}/{service}"

    def check_production(self, *, connects: bool = True) -> None:
        """Refuse what is unsafe where it runs: dev mode off this machine; a real deployment
        with the dev-only or an empty secret or key and, for a process that `connects` to
        Temporal, the database and the external services (not the codec server), with SQLite,
        the simulators, plain HTTP or a Temporal frontend elsewhere without TLS."""
        if self.is_dev:
            self._check_dev_stays_here()
            return
        secret = self.jwt_secret.get_secret_value()
        if not secret or secret == DEV_JWT_SECRET or len(secret) < 32:
            raise ValueError(
                "WITHDRAW_JWT_SECRET must be set to a secret of 32+ characters outside dev mode "
                "(WITHDRAW_ENVIRONMENT=dev runs with the dev-only secret)"
            )
        if not (self.jwt_audience and self.jwt_issuer):
            raise ValueError(
                "WITHDRAW_JWT_AUDIENCE and WITHDRAW_JWT_ISSUER must be set outside dev mode "
                "(the service refuses tokens addressed to another service or from another issuer)"
            )
        if DEV_CODEC_KEYS.split(":", 1)[1] in self.codec_keys.get_secret_value():
            raise ValueError(
                "WITHDRAW_CODEC_KEYS must not hold the dev-only payload key outside dev mode "
                "(`withdraw-service codec-key` prints a new one)"
            )
        if connects:
            self._check_temporal_tls()
            self._check_real_services()

    def check_temporal_connection(self) -> None:
        """The checks of a command that only talks to Temporal's services (setup-temporal)."""
        if self.is_dev:
            self._check_dev_stays_here()
        else:
            self._check_temporal_tls()

    def _check_temporal_tls(self) -> None:
        if not self.temporal_on_loopback and not (
            self.temporal_tls
            or self.temporal_tls_cert_file
            or self.temporal_tls_ca_file
            or self.temporal_api_key
        ):
            raise ValueError(
                f"the Temporal frontend {self.effective_temporal_address} is not on this host: "
                "outside dev mode its connection needs TLS (WITHDRAW_TEMPORAL_TLS, "
                "WITHDRAW_TEMPORAL_TLS_CERT_FILE/_KEY_FILE for mTLS, or WITHDRAW_TEMPORAL_API_KEY)"
            )
        if (self.temporal_tls_cert_file is None) != (self.temporal_tls_key_file is None):
            raise ValueError(
                "WITHDRAW_TEMPORAL_TLS_CERT_FILE and WITHDRAW_TEMPORAL_TLS_KEY_FILE go together"
            )
