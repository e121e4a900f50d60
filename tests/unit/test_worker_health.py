"""The worker's probes: alive while its loop answers, ready only while it polls (not before,
not while draining), nothing else served."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.support.servers import free_port
from withdraw_service.worker_health import WorkerHealth

pytestmark = pytest.mark.unit


async def test_ready_only_while_polling_and_nothing_else_is_served() -> None:
    health = WorkerHealth()
    port = free_port()
    await health.start("127.0.0.1", port)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as probe:
            assert (await probe.get("/healthz")).status_code == 200
            starting = await probe.get("/readyz")
            assert (starting.status_code, starting.text) == (503, "not polling\n")
            health.polling = True
            polling = await probe.get("/readyz")
            assert (polling.status_code, polling.text) == (200, "polling\n")
            assert (await probe.head("/readyz")).status_code == 200
            assert (await probe.get("/metrics")).status_code == 404
            assert (await probe.post("/readyz")).status_code == 405
            health.polling = False  # told to stop: draining
            assert (await probe.get("/readyz")).status_code == 503
    finally:
        await health.close()


async def test_a_request_that_is_not_http_gets_400() -> None:
    health = WorkerHealth()
    port = free_port()
    await health.start("127.0.0.1", port)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"\x16\x03\x01 hello\r\n\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 5)
        assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
        writer.close()
        await writer.wait_closed()
    finally:
        await health.close()
    with pytest.raises(OSError):  # closed with the worker
        await asyncio.open_connection("127.0.0.1", port)
