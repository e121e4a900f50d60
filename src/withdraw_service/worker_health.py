"""The worker's probes, for an orchestrator (Kubernetes' liveness and readiness): a bare HTTP
server on `WITHDRAW_WORKER_HEALTH_PORT` (off unless set), on the metrics host.

- `GET /healthz`: 200 while the worker's event loop answers (liveness);
- `GET /readyz`: 200 while the worker polls its task queue; 503 before it does (migrations,
  connecting) and from the moment it is told to stop (draining), so a rollout waits for the
  new pod to poll before it stops an old one.

Nothing else is served: any other path is 404. No payload, setting or secret is in any answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger(__name__)

READ_SECONDS = 5.0  # for the whole request: a client that dribbles it is cut off
MAX_HEADER_LINES = 100
MAX_LINE_BYTES = 8192
MAX_CONNECTIONS = 16  # probes come one at a time; more at once are closed unanswered


class WorkerHealth:
    def __init__(self) -> None:
        self.polling = False
        self._server: asyncio.Server | None = None
        self._open = 0

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._answer, host, port, limit=MAX_LINE_BYTES)
        log.info("worker probes on %s:%d (/healthz, /readyz)", host, port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    def status(self, method: str, path: str) -> tuple[int, str]:
        if method not in {"GET", "HEAD"}:
            return 405, "method not allowed"
        if path == "/healthz":
            return 200, "ok"
        if path == "/readyz":
            return (200, "polling") if self.polling else (503, "not polling")
        return 404, "no such resource"

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open += 1
        try:
            if self._open <= MAX_CONNECTIONS:
                await self._respond(reader, writer)
        except (TimeoutError, ConnectionError, UnicodeError, ValueError):
            pass  # a probe that went away, never spoke, or sent a line past the limit
        finally:
            self._open -= 1
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _respond(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async with asyncio.timeout(READ_SECONDS):
            line = await reader.readline()
            parts = line.decode("latin-1").split()
            for _ in range(MAX_HEADER_LINES):  # the headers: read and ignored
                header = await reader.readline()
                if header in {b"\r\n", b"\n", b""}:
                    break
        code, text = self.status(*parts[:2]) if len(parts) == 3 else (400, "bad request")
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
        body = (text + "\n").encode() if parts[:1] != ["HEAD"] else b""
        writer.write(
            f"HTTP/1.1 {code} {reason.get(code, 'Service Unavailable')}\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(text) + 1}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        async with asyncio.timeout(READ_SECONDS):
            await writer.drain()
