"""Each request's log lines (uvicorn's access line included) carry the withdrawal it concerns:
the `workflowId` in its path, and the `correlationId` once the gateway knows it.

Plain ASGI, not `BaseHTTPMiddleware`: the handler, and uvicorn's access line written when the
response starts, run inside this context.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

from withdraw_service.logs import log_context

# /withdraw/finalize/{id}, /withdraw/status/{id}, /withdraw/{id}/cancel, ...
_WORKFLOW_ID = re.compile(r"/withdraw/(?:[a-z-]+/)?(WITHDRAW-[0-9a-fA-F-]{36})(?:/|$)")


def workflow_id_of(path: str) -> str | None:
    match = _WORKFLOW_ID.search(path)
    return match[1] if match else None


class LogContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Always a block of its own: what the gateway binds later ends with the request.
        with log_context(workflow_id=workflow_id_of(scope.get("path", ""))):
            await self.app(scope, receive, send)
