"""Run an ASGI app on a real loopback port in a background thread, for tests that must talk
to it over real HTTP (the simulators, in the integration tier)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

from withdraw_service.chaos.processes import free_port

__all__ = ["control_client", "free_port", "serve_in_thread"]


@contextmanager
def serve_in_thread(app: Any, port: int) -> Iterator[str]:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"server on port {port} did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def control_client(url: str) -> httpx.AsyncClient:
    """A client of a server run by `serve_in_thread` (the simulators' control surface).

    Its idle connections are dropped after 1 s, well inside uvicorn's 5 s keep-alive: with
    both at 5 s, a request sent on a connection just as the server closes it fails with a
    ReadError (seen under CI load)."""
    return httpx.AsyncClient(base_url=url, timeout=30, limits=httpx.Limits(keepalive_expiry=1.0))
