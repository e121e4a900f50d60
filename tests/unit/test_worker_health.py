"""The worker's probes: alive while its loop answers, ready only while it polls (not before,
not while draining), nothing else served; a client that misbehaves (not HTTP, an overlong
line, a request dribbled out, too many connections at once) gets nothing and stops no one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.servers import free_port
from withdraw_service import worker_health
from withdraw_service.worker_health import MAX_CONNECTIONS, WorkerHealth

pytestmark = pytest.mark.unit

HEALTHZ = b"GET /healthz HTTP/1.1\r\n\r\n"


@contextlib.asynccontextmanager
async def serving() -> AsyncIterator[tuple[WorkerHealth, int]]:
    health = WorkerHealth()
    port = free_port()
    await health.start("127.0.0.1", port)
    try:
        yield health, port
    finally:
        await health.close()


async def _exchange(port: int, request: bytes) -> bytes:
    """Send `request`, answer what came back before the server closed (b"": nothing)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    except ConnectionError:
        return b""
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_ready_only_while_polling_and_nothing_else_is_served() -> None:
    async with (
        serving() as (health, port),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as probe,
    ):
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
    with pytest.raises(OSError):  # closed with the worker
        await asyncio.open_connection("127.0.0.1", port)


async def test_a_request_that_is_not_http_gets_400() -> None:
    async with serving() as (_, port):
        answer = await _exchange(port, b"\x16\x03\x01 hello\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")


async def test_an_overlong_line_is_closed_unanswered_and_the_server_goes_on() -> None:
    async with serving() as (_, port):
        assert await _exchange(port, b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\n\r\n") == b""
        assert (await _exchange(port, HEALTHZ)).startswith(b"HTTP/1.1 200 OK\r\n")


async def test_a_request_dribbled_past_the_read_limit_is_cut_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(worker_health, "READ_SECONDS", 0.5)
    async with serving() as (_, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\n")
        cut_off = False
        for _ in range(50):  # a header line every 0.1 s, each well within any per-line limit
            try:
                writer.write(b"X-Slow: 1\r\n")
                await writer.drain()
            except ConnectionError:
                cut_off = True
                break
            if reader.at_eof() or await _closed(reader):
                cut_off = True
                break
        assert cut_off, "a request sent for 5 s was still being read after a 0.5 s limit"
        writer.close()


async def _closed(reader: asyncio.StreamReader) -> bool:
    try:
        return await asyncio.wait_for(reader.read(1), 0.1) == b""
    except TimeoutError:
        return False


async def test_connections_past_the_cap_are_closed_and_served_again_once_freed() -> None:
    async with serving() as (_, port):
        idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(MAX_CONNECTIONS)]
        await asyncio.sleep(0.2)  # each is being read (and says nothing)
        assert await _exchange(port, HEALTHZ) == b""
        for _, writer in idle:
            writer.close()
        for _ in range(50):  # as soon as the server has seen them go
            answer = await _exchange(port, HEALTHZ)
            if answer:
                break
            await asyncio.sleep(0.1)
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
