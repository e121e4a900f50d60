"""Settings: `WITHDRAW_*` variables, the production guard on the JWT secret, service URLs."""

from __future__ import annotations

import base64
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError
from temporalio.service import TLSConfig

from withdraw_service.bootstrap import temporal_tls
from withdraw_service.settings import DEV_JWT_SECRET, SHIPPED_RETRY_POLICIES, Settings

STRONG_SECRET = "s" * 32


def test_contract_defaults() -> None:
    settings = Settings()
    assert settings.task_queue == "WITHDRAW_TASK_QUEUE"
    assert settings.temporal_namespace == "default"
    assert settings.otp_timeout_seconds == 300
    assert settings.otp_max_attempts == 3
    assert settings.api_wait_seconds == 20
    assert settings.max_amount == Decimal("250000.00")
    assert settings.retry_policies == SHIPPED_RETRY_POLICIES
    assert SHIPPED_RETRY_POLICIES.is_file()
    assert settings.restriction_start_date == date(2020, 1, 1)
    assert settings.sim_url == "http://127.0.0.1:8100"
    assert settings.effective_temporal_address == "127.0.0.1:7233"
    assert settings.effective_database_url == "sqlite:///.data/withdraw.db"


def test_environment_variables_with_the_withdraw_prefix_are_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WITHDRAW_MAX_AMOUNT", "1000.50")
    monkeypatch.setenv("WITHDRAW_OTP_MAX_ATTEMPTS", "5")
    monkeypatch.setenv("WITHDRAW_TEMPORAL_ADDRESS", "temporal.internal:7233")
    monkeypatch.setenv("WITHDRAW_DATABASE_URL", "postgresql+psycopg://db/withdraw")
    monkeypatch.setenv("WITHDRAW_RESTRICTION_START_DATE", "2024-03-01")
    monkeypatch.setenv("MAX_AMOUNT", "1")  # unprefixed: not ours
    settings = Settings()
    assert settings.max_amount == Decimal("1000.50")
    assert settings.otp_max_attempts == 5
    assert settings.effective_temporal_address == "temporal.internal:7233"
    assert settings.effective_database_url == "postgresql+psycopg://db/withdraw"
    assert settings.restriction_start_date == date(2024, 3, 1)


@pytest.mark.parametrize("name", ["OTP_TIMEOUT_SECONDS", "OTP_MAX_ATTEMPTS", "API_WAIT_SECONDS"])
def test_non_positive_timeouts_and_attempts_are_refused(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv(f"WITHDRAW_{name}", "0")
    with pytest.raises(ValidationError):
        Settings()


def test_the_database_defaults_to_a_sqlite_file_under_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'withdraw.db'}"


@pytest.mark.parametrize(
    "secret", [DEV_JWT_SECRET, "", "too-short-secret", "x" * 31], ids=["dev", "empty", "16", "31"]
)
def test_production_refuses_the_dev_or_a_weak_jwt_secret(secret: str) -> None:
    settings = Settings(environment="production", jwt_secret=SecretStr(secret))
    with pytest.raises(ValueError, match="WITHDRAW_JWT_SECRET"):
        settings.check_production()


def test_production_is_the_default_so_a_forgotten_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="WITHDRAW_JWT_SECRET"):
        Settings().check_production()


def test_production_accepts_a_strong_secret_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WITHDRAW_JWT_SECRET", STRONG_SECRET)
    key = "k1:" + base64.b64encode(b"k" * 32).decode()
    monkeypatch.setenv("WITHDRAW_CODEC_KEYS", key)
    monkeypatch.setenv("WITHDRAW_JWT_AUDIENCE", "withdraw-api")
    monkeypatch.setenv("WITHDRAW_JWT_ISSUER", "https://id.example.com/")
    for name, value in REAL_PLACES.items():
        monkeypatch.setenv(f"WITHDRAW_{name.upper()}", str(value))
    settings = Settings()
    settings.check_production()
    assert settings.jwt_secret.get_secret_value() == STRONG_SECRET
    assert STRONG_SECRET not in repr(settings)
    assert key not in repr(settings)


@pytest.mark.parametrize("missing", ["jwt_audience", "jwt_issuer"])
def test_production_requires_an_audience_and_an_issuer(missing: str) -> None:
    key = "k1:" + base64.b64encode(b"k" * 32).decode()
    addressed = {"jwt_audience": "withdraw-api", "jwt_issuer": "https://id.example.com/"}
    addressed.pop(missing)
    settings = Settings(
        environment="production",
        jwt_secret=SecretStr(STRONG_SECRET),
        codec_keys=SecretStr(key),
        **addressed,  # type: ignore[arg-type]
    )
    with pytest.raises(ValueError, match="WITHDRAW_JWT_AUDIENCE and WITHDRAW_JWT_ISSUER"):
        settings.check_production()


def test_dev_mode_runs_with_the_dev_secret() -> None:
    Settings(environment="dev").check_production()


def test_simulated_services_share_one_base_url_under_a_prefix_each() -> None:
    settings = Settings(sim_url="http://sim.local:8100/")
    assert settings.service_url("session") == "http://sim.local:8100/session"
    assert settings.service_url("transfer-checker") == "http://sim.local:8100/transfer-checker"
    assert settings.service_url("drivewealth") == "http://sim.local:8100/drivewealth"


def test_production_points_each_service_at_its_own_url() -> None:
    settings = Settings(
        drivewealth_url="https://bo-api.drivewealth.io", transfer_url="https://bank/transfer"
    )
    assert settings.service_url("drivewealth") == "https://bo-api.drivewealth.io"
    assert settings.service_url("transfer") == "https://bank/transfer"
    assert settings.service_url("flex") == "http://127.0.0.1:8100/flex"


def test_an_unknown_service_name_is_an_error() -> None:
    with pytest.raises(KeyError):
        Settings().service_url("ledger")


def _production(**changes: object) -> Settings:
    key = "k1:" + base64.b64encode(b"k" * 32).decode()
    return Settings(
        **{
            "environment": "production",
            "jwt_secret": SecretStr(STRONG_SECRET),
            "codec_keys": SecretStr(key),
            "jwt_audience": "withdraw-api",
            "jwt_issuer": "https://id.example.com/",
            **REAL_PLACES,
            **changes,
        }
    )


# A real deployment's places: PostgreSQL, each service by its own HTTPS URL, DriveWealth's
# credentials.
REAL_PLACES: dict[str, object] = {
    "database_url": "postgresql+psycopg://withdraw@db.internal:5432/withdraw",
    "session_url": "https://session.bank.example",
    "flex_url": "https://flex.bank.example",
    "transfer_url": "https://transfer.bank.example",
    "transfer_checker_url": "https://checker.bank.example",
    "drivewealth_url": "https://bo-api.drivewealth.io",
    "dw_client_id": "withdraw-prod",
    "dw_client_secret": "dw-client-secret-from-the-vault",
    "dw_app_key": "dw-app-key-from-the-vault",
}


def test_a_real_deployment_passes_every_check() -> None:
    _production().check_production()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"database_url": None}, "SQLite is for dev mode"),
        ({"database_url": "sqlite:////var/lib/withdraw.db"}, "SQLite is for dev mode"),
        ({"flex_url": None}, "WITHDRAW_FLEX_URL is not set"),
        ({"transfer_checker_url": None}, "WITHDRAW_TRANSFER_CHECKER_URL is not set"),
        ({"transfer_url": "http://transfer.bank.example"}, "over HTTPS"),
        ({"dw_client_id": "sim-dw-client"}, "not the simulator's"),
        ({"dw_client_secret": "sim-dw-secret"}, "not the simulator's"),
        ({"dw_app_key": ""}, "not the simulator's"),
        # The simulators on purpose: on this machine only.
        ({"simulated_services": True, "session_url": "http://10.0.0.5/session"}, "this machine"),
        ({"simulated_services": True, "sim_url": "http://sim.internal:8100"}, "this machine"),
    ],
)
def test_production_refuses_sqlite_the_simulators_and_plain_http(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        _production(**changes).check_production()


def test_the_simulators_on_this_machine_are_accepted_when_meant() -> None:
    simulated = dict.fromkeys(
        ("session_url", "flex_url", "transfer_url", "transfer_checker_url", "drivewealth_url")
    )
    _production(simulated_services=True, **simulated).check_production()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"api_host": "0.0.0.0"}, "WITHDRAW_API_HOST=0.0.0.0 is not loopback"),
        ({"sim_host": "10.1.2.3"}, "WITHDRAW_SIM_HOST"),
        ({"codec_server_host": "::"}, "WITHDRAW_CODEC_SERVER_HOST"),
        ({"worker_metrics_host": "0.0.0.0"}, "WITHDRAW_WORKER_METRICS_HOST"),
        ({"temporal_address": "temporal.internal:7233"}, "Temporal frontend on this machine"),
        ({"database_url": "postgresql+psycopg://db.internal/withdraw"}, "database on this"),
    ],
)
def test_dev_mode_stays_on_this_machine(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings(environment="dev", **changes).check_production()  # type: ignore[arg-type]
    Settings(
        environment="dev", database_url="postgresql+psycopg://127.0.0.1:5432/test"
    ).check_production()


def test_the_simulators_run_in_dev_mode_or_when_meant_and_on_loopback_only() -> None:
    Settings(environment="dev").check_simulators()
    Settings(environment="production", simulated_services=True).check_simulators()
    with pytest.raises(ValueError, match="dev mode"):
        Settings(environment="production").check_simulators()
    with pytest.raises(ValueError, match="loopback only"):
        Settings(environment="dev", sim_host="0.0.0.0").check_simulators()


@pytest.mark.parametrize(
    "address", ["127.0.0.1:7233", "localhost:7233", "[::1]:7233", None], ids=str
)
def test_a_temporal_frontend_on_this_host_may_be_reached_without_tls(address: str | None) -> None:
    _production(temporal_address=address).check_production()


def test_a_remote_temporal_frontend_needs_tls_outside_dev(tmp_path: Path) -> None:
    remote = "temporal-frontend.temporal.svc:7233"
    with pytest.raises(ValueError, match="needs TLS"):
        _production(temporal_address=remote).check_production()
    _production(temporal_address=remote, temporal_tls=True).check_production()
    _production(temporal_address=remote, temporal_api_key=SecretStr("k")).check_production()
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    _production(
        temporal_address=remote, temporal_tls_cert_file=cert, temporal_tls_key_file=key
    ).check_production()
    with pytest.raises(ValueError, match="go together"):
        _production(temporal_address=remote, temporal_tls_cert_file=cert).check_production()


def test_the_temporal_connection_takes_the_tls_files(tmp_path: Path) -> None:
    ca, cert, key = (tmp_path / name for name in ("ca.pem", "client.pem", "client.key"))
    for path in (ca, cert, key):
        path.write_bytes(f"-----{path.name}-----".encode())
    assert temporal_tls(_production()) is False
    tls = temporal_tls(
        _production(
            temporal_tls_ca_file=ca,
            temporal_tls_cert_file=cert,
            temporal_tls_key_file=key,
            temporal_tls_server_name="frontend.example.com",
        )
    )
    assert isinstance(tls, TLSConfig)
    assert (tls.server_root_ca_cert, tls.client_cert, tls.client_private_key) == (
        b"-----ca.pem-----",
        b"-----client.pem-----",
        b"-----client.key-----",
    )
    assert tls.domain == "frontend.example.com"
    with_key = temporal_tls(_production(temporal_api_key=SecretStr("cloud-key")))
    assert isinstance(with_key, TLSConfig)  # an API key travels over TLS only
