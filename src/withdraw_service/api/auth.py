"""Bearer JWTs (HS256): who is calling, and with which roles. The user id comes from `sub`,
never from a request body. Tokens are never logged or echoed back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

from withdraw_service.domain.errors import Forbidden, Unauthenticated

ALGORITHM = "HS256"
ROLES = frozenset({"customer", "ops"})


@dataclass(frozen=True)
class Principal:
    user_id: str
    roles: frozenset[str]
    expires_at: int = 0  # the token's `exp` (seconds since the epoch)

    def require(self, role: str) -> None:
        if role not in self.roles:
            raise Forbidden(f"the {role} role is required")


def mint_token(secret: str, user_id: str, roles: list[str], ttl_seconds: int) -> str:
    unknown = set(roles) - ROLES
    if unknown:
        raise ValueError(f"unknown roles: {sorted(unknown)}")
    now = int(time.time())
    claims = {"sub": user_id, "roles": roles, "iat": now, "exp": now + ttl_seconds}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def authenticate(authorization: str | None, secret: str) -> Principal:
    if not authorization:
        raise Unauthenticated("missing bearer token")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("expected 'Authorization: Bearer <token>'")
    try:
        claims = jwt.decode(
            token.strip(), secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]}
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("token expired") from None
    except jwt.PyJWTError:
        raise Unauthenticated("invalid token") from None
    sub, roles = claims.get("sub"), claims.get("roles", ["customer"])
    if not isinstance(sub, str) or not sub or not isinstance(roles, list):
        raise Unauthenticated("invalid token claims")
    return Principal(
        user_id=sub,
        roles=frozenset(str(r) for r in roles) & ROLES,
        expires_at=int(claims["exp"]),
    )
