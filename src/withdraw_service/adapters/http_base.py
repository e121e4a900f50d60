"""One place that turns httpx outcomes into the adapter error tree (`upstream.py`)."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import httpx

from withdraw_service.adapters.deadline import seconds_left
from withdraw_service.adapters.upstream import (
    UpstreamNotFound,
    UpstreamRefused,
    UpstreamUnauthorized,
    UpstreamUnavailableError,
    UpstreamUnknownOutcome,
)

# Errors raised before a connection carried any byte of the request.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# The error code of a 409 answered while an earlier request with the same Idempotency-Key is
# still being worked on (the Transfer Service's and DriveWealth's stand-ins answer it).
IN_PROGRESS = "IDEMPOTENCY_IN_PROGRESS"


class JsonServiceClient:
    """A named external service behind one httpx client (shared, built by bootstrap)."""

    def __init__(self, service: str, http: httpx.AsyncClient, base_url: str) -> None:
        self.service = service
        self._http = http
        self._base_url = base_url.rstrip("/")

    async def request(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """Send one request; answer its JSON body, or raise what the outcome means.

        Bounded by the activity attempt's deadline as a whole (httpx's timeout bounds each
        phase of the call, not the call)."""
        left = seconds_left()
        if left is not None and left <= 0:  # not sent: nothing can have been applied
            raise UpstreamUnavailableError(self.service, operation, "no time left to call")
        try:
            async with asyncio.timeout(left):
                response = await self._http.request(
                    method, self._base_url + path, json=json, params=params, headers=headers
                )
        except TimeoutError:
            raise UpstreamUnknownOutcome(self.service, operation, "deadline passed") from None
        except NOT_SENT as exc:
            # No connection was made (refused, or none within the timeout): nothing was sent.
            raise UpstreamUnavailableError(self.service, operation, type(exc).__name__) from None
        except httpx.TransportError as exc:
            # Lost or timed out after the request may have gone out (a read timeout, a reset,
            # a connection the server closed as it was reused): it may have been applied.
            raise UpstreamUnknownOutcome(self.service, operation, type(exc).__name__) from None
        return self._interpret(operation, response)

    def _interpret(self, operation: str, response: httpx.Response) -> Any:
        status = response.status_code
        if status < 400:
            # Numbers become Decimal, never float: DriveWealth answers amounts as JSON numbers.
            try:
                return json.loads(response.content, parse_float=Decimal)
            except ValueError:
                # It answered success but we cannot read what it did: treat as unknown.
                raise UpstreamUnknownOutcome(self.service, operation, "unreadable answer") from None
        body = _error_body(response)
        code = str(body.get("errorCode") or f"HTTP_{status}")
        if status >= 500 or status in (408, 429) or code == IN_PROGRESS:
            # A 5xx may come after the service applied the call; a 409 "in progress" means an
            # earlier attempt with this key is still being worked on; 408 and 429 are not the
            # service's business answer. None of them says what happened (CONTRACT 5).
            raise UpstreamUnknownOutcome(self.service, operation, f"HTTP {status} {code}")
        if status == 401:
            raise UpstreamUnauthorized(self.service, operation, code)
        if status == 404:
            raise UpstreamNotFound(self.service, operation, code)
        remaining = body.get("attemptsRemaining")
        # Only the error code travels on: an upstream's message could hold an account number.
        raise UpstreamRefused(
            self.service,
            operation,
            code,
            f"HTTP {status}",
            attempts_remaining=int(remaining) if isinstance(remaining, int) else None,
        )


def _error_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
