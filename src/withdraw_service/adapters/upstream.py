"""What an external call can end in, besides an answer.

    ExternalServiceError          service, operation
    ├── UpstreamUnknownOutcome    the call may or may not have been applied: a timeout, a
    │                             5xx, 409 "in progress", 408, 429, a connection lost after
    │                             sending; look the result up before deciding (CONTRACT 5)
    ├── UpstreamUnavailableError  provably not sent: the connection was refused or never
    │                             made, or no time was left; nothing can have been applied
    ├── UpstreamUnauthorized      401: credentials or token refused before the request was read
    ├── UpstreamNotFound          404: the thing asked for does not exist
    └── UpstreamRefused           any other 4xx, with the upstream's error code; only the
                                  caller knows which codes are that service's own business
                                  refusals (an unknown code is an unknown outcome)

Messages carry the service, the operation and the upstream's error code, never a body that
could hold an OTP, a token or an account number.
"""

from __future__ import annotations


class ExternalServiceError(Exception):
    def __init__(self, service: str, operation: str, detail: str = "") -> None:
        self.service = service
        self.operation = operation
        self.detail = detail
        super().__init__(f"{service}.{operation}: {detail}" if detail else f"{service}.{operation}")


class UpstreamUnknownOutcome(ExternalServiceError):
    pass


class UpstreamUnavailableError(ExternalServiceError):
    pass


class UpstreamUnauthorized(ExternalServiceError):
    pass


class UpstreamNotFound(ExternalServiceError):
    pass


class UpstreamRefused(ExternalServiceError):
    def __init__(
        self,
        service: str,
        operation: str,
        error_code: str,
        detail: str = "",
        attempts_remaining: int | None = None,
    ) -> None:
        super().__init__(service, operation, f"{error_code} {detail}".strip())
        self.error_code = error_code
        self.attempts_remaining = attempts_remaining
