"""What the public port shows: `/docs` and `/openapi.json` only in dev mode (or when enabled),
`/metrics` only to the configured networks reaching the API directly; the database gauges
read at most once per interval however often they are scraped."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from tests.unit.conftest import PRODUCTION_PLACES, RETRY_POLICIES
from withdraw_service.api.app import create_app
from withdraw_service.api.metrics import DatabaseGauges
from withdraw_service.settings import Settings

KEY = "k1:" + base64.b64encode(b"k" * 32).decode()


def _settings(tmp_path: Path, **changes: Any) -> Settings:
    base: dict[str, Any] = {
        "environment": "production",
        "data_dir": tmp_path,
        "retry_policies": RETRY_POLICIES,
        "jwt_secret": SecretStr("exposure-unit-test-secret-" * 2),
        "codec_keys": SecretStr(KEY),
        **PRODUCTION_PLACES,
    }
    return Settings(**{**base, **changes})


async def _get(
    settings: Settings, path: str, client: tuple[str, int] = ("127.0.0.1", 50000), **headers: str
) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_app(settings), client=client)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        return await http.get(path, headers=headers)


@pytest.mark.parametrize("path", ["/docs", "/openapi.json", "/docs/assets/swagger-ui.css"])
async def test_the_api_documents_itself_in_dev_or_when_asked(tmp_path: Path, path: str) -> None:
    assert (await _get(_settings(tmp_path), path)).status_code == 404
    assert (await _get(_settings(tmp_path, api_docs=True), path)).status_code == 200
    assert (await _get(_settings(tmp_path, environment="dev"), path)).status_code == 200
    assert (
        await _get(_settings(tmp_path, environment="dev", api_docs=False), path)
    ).status_code == 404


@pytest.mark.parametrize(
    ("client", "headers", "networks", "served"),
    [
        (("127.0.0.1", 1), {}, None, True),
        (("::1", 1), {}, None, True),
        (("10.1.2.3", 1), {}, None, False),  # not loopback: not by default
        (("10.1.2.3", 1), {}, "10.0.0.0/8", True),  # Prometheus' network, configured
        (("10.1.2.3", 1), {"X-Forwarded-For": "203.0.113.9"}, "10.0.0.0/8", False),
        (("127.0.0.1", 1), {"Forwarded": "for=203.0.113.9"}, None, False),  # via a proxy
        (("testclient", 1), {}, None, False),  # not an address
    ],
)
async def test_metrics_answer_only_the_configured_networks_directly(
    tmp_path: Path,
    client: tuple[str, int],
    headers: dict[str, str],
    networks: str | None,
    served: bool,
) -> None:
    changes = {"metrics_allowed_networks": networks} if networks else {}
    response = await _get(_settings(tmp_path, **changes), "/metrics", client, **headers)
    if served:
        assert response.status_code == 200 and "withdraw_http_requests" in response.text
    else:
        assert response.status_code == 404
        assert response.json()["code"] == "NOT_FOUND"
        assert "withdraw_" not in response.text


class Counting:
    def __init__(self) -> None:
        self.reads = 0

    def in_flight_by_status(self) -> dict[str, tuple[int, datetime]]:
        self.reads += 1
        return {"AWAITING_OTP": (self.reads, datetime.now(UTC))}

    def open_by_kind(self) -> dict[str, tuple[int, datetime]]:
        return {}


def test_the_database_gauges_are_read_once_per_interval() -> None:
    now = [100.0]
    source = Counting()
    gauges = DatabaseGauges(source, source, max_age=10, clock=lambda: now[0])  # type: ignore[arg-type]

    def awaiting() -> float:
        (flight,) = [f for f in gauges.collect() if f.name == "withdraw_in_flight"]
        return next(s.value for s in flight.samples if s.labels["status"] == "AWAITING_OTP")

    assert [awaiting() for _ in range(50)] == [1.0] * 50
    assert source.reads == 1
    now[0] += 10
    assert awaiting() == 2.0
    assert source.reads == 2
