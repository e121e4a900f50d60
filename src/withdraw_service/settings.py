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
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "dev-only-insecure-jwt-secret-change-me"
# base64 of b"dev-only-insecure-payload-key-32": refused outside dev, like the JWT secret.
DEV_CODEC_KEYS = "dev-1:ZGV2LW9ubHktaW5zZWN1cmUtcGF5bG9hZC1rZXktMzI="


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
    retry_policies: Path = Path("config/retry-policies.yaml")
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
    dw_client_id: str = "sim-dw-client"
    dw_client_secret: SecretStr = SecretStr("sim-dw-secret")
    dw_app_key: SecretStr = SecretStr("sim-dw-app-key")
    dw_redemption_type: Literal["ACH", "WIRE", "CASH_TRANSFER", "BULK_FUNDING"] = "CASH_TRANSFER"
    http_timeout_seconds: float = Field(default=10.0, gt=0)

    # The worker's tuning (the seed's MAX_CONCURRENT_*): how many activities and workflow
    # tasks one worker runs at once, and how long a stopping worker lets running activities
    # finish before it cancels them (SIGTERM in a rollout).
    max_concurrent_activities: int = Field(default=100, gt=0)
    max_concurrent_workflow_tasks: int = Field(default=50, gt=0)
    worker_shutdown_grace_seconds: float = Field(default=30.0, ge=0)
    # Workflow executions a worker keeps in memory between their tasks (the SDK's default);
    # one evicted is replayed from its history at its next task (docs/performance.md).
    max_cached_workflows: int = Field(default=1000, ge=0)
    # Connections per process, and the threads that use them (database calls run in threads).
    database_pool_size: int = Field(default=10, gt=0)
    # Below every activity's timeout: a blocked database call fails (and is retried) before
    # Temporal abandons the attempt that made it. Not below the 2 s a status save gets in the
    # worker first (progress.LOCAL_SAVE_WITHIN): one that outlives it may still commit, and
    # counts its metrics then; the server's attempt after it finds the rows stored.
    database_lock_timeout_seconds: float = Field(default=5.0, gt=0)
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
    codec_server_host: str = "127.0.0.1"
    codec_server_port: int = 8081
    # Browser origins allowed to call the codec server (the Web UI's); default: the embedded UI.
    codec_cors_origins: str | None = None

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
        host = self.effective_temporal_address.rsplit(":", 1)[0].strip("[]")
        if host == "localhost":
            return True
        try:
            return ip_address(host).is_loopback
        except ValueError:
            return False

    def service_url(self, service: str) -> str:
        """Base URL of one external service; the simulators serve each under a path prefix."""
        explicit = {
            "session": self.session_url,
            "flex": self.flex_url,
            "transfer": self.transfer_url,
            "transfer-checker": self.transfer_checker_url,
            "drivewealth": self.drivewealth_url,
        }[service]
        return explicit or f"{self.sim_url.rstrip('/')}/{service}"

    def check_production(self) -> None:
        """Refuse to run a real deployment with the dev-only or an empty secret or key."""
        if self.is_dev:
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
        if DEV_CODEC_KEYS.split(":", 1)[1] in self.codec_keys.get_secret_value():
            raise ValueError(
                "WITHDRAW_CODEC_KEYS must not hold the dev-only payload key outside dev mode "
                "(`withdraw-service codec-key` prints a new one)"
            )
