"""The console's sign-in session: an operator pastes an ops token once; the browser then holds
a session of its own in an HttpOnly, SameSite=Strict cookie, with a CSRF token bound to it.

The session is a short JWT signed with the service's secret and addressed to the console alone
(`aud`), so it is no bearer token for the API (the API refuses a token with an audience it does
not expect), and the token the operator pasted is never stored anywhere.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass

import jwt

from withdraw_service.api.auth import ALGORITHM, Principal, TokenRules, authenticate
from withdraw_service.domain.errors import Forbidden, Unauthenticated

COOKIE = "withdraw_console"
AUDIENCE = "withdraw-console"
PATH = "/ops/console"


@dataclass(frozen=True)
class ConsoleSession:
    operator: str
    csrf: str
    expires_at: int

    def check_csrf(self, presented: str | None) -> None:
        """The form's token must be this session's (a page of another site cannot read it)."""
        # As bytes: compare_digest refuses a str with characters beyond ASCII.
        if not presented or not hmac.compare_digest(presented.encode(), self.csrf.encode()):
            raise Forbidden("the form's CSRF token is missing or wrong; reload the page")


def sign_in(
    token: str, rules: TokenRules, secret: str, max_seconds: int
) -> tuple[ConsoleSession, str]:
    """Check a pasted token as the API would, require the ops role, and open a session that
    ends with the token or after `max_seconds`, whichever is first. Answers the session and
    the cookie's value."""
    principal: Principal = authenticate(f"Bearer {token.strip()}", rules)
    principal.require("ops")
    expires_at = min(principal.expires_at, int(time.time()) + max_seconds)
    session = ConsoleSession(principal.user_id, secrets.token_urlsafe(32), expires_at)
    cookie = jwt.encode(
        {
            "sub": session.operator,
            "aud": AUDIENCE,
            "csrf": session.csrf,
            "exp": session.expires_at,
        },
        secret,
        algorithm=ALGORITHM,
    )
    return session, cookie


def read(cookie: str | None, secret: str) -> ConsoleSession:
    """The session a cookie holds; `Unauthenticated` when there is none, or it is forged or
    over."""
    if not cookie:
        raise Unauthenticated("not signed in")
    try:
        claims = jwt.decode(
            cookie,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            options={"require": ["exp", "sub", "aud", "csrf"]},
        )
    except jwt.PyJWTError:
        raise Unauthenticated("the console session is over; sign in again") from None
    return ConsoleSession(str(claims["sub"]), str(claims["csrf"]), int(claims["exp"]))
