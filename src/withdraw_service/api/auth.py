"""Bearer JWTs: who is calling, and with which roles. The user id comes from `sub`, never from
a request body. Tokens are never logged or echoed back.

The service's own tokens are HS256 with `WITHDRAW_JWT_SECRET`; with `WITHDRAW_JWT_JWKS_URL`
an identity provider's RS256/ES256 tokens are checked against its published keys instead
(jwks.py). Either way a token must name its user (`sub`, a plain id), say how long it lives
(`iat`, `exp`; no longer than the role's maximum), carry its roles (none without `roles`) and,
when configured, be addressed to this service (`aud`) by the expected issuer (`iss`).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import jwt

from withdraw_service.domain.errors import Forbidden, Unauthenticated

if TYPE_CHECKING:
    from withdraw_service.api.jwks import JwksKeys
    from withdraw_service.settings import Settings

ALGORITHM = "HS256"
PROVIDER_ALGORITHMS = ("RS256", "ES256")
ROLES = frozenset({"customer", "ops"})
# A user id is a plain identifier: it goes into upstream URLs and database rows.
SUBJECT = re.compile(r"[A-Za-z0-9._@-]{1,128}")
DEFAULT_MAX_TTL: Mapping[str, int] = {"customer": 3600, "ops": 8 * 3600}
LEEWAY_SECONDS = 30  # how far ahead of ours the issuer's clock may be (iat)


@dataclass(frozen=True)
class Principal:
    user_id: str
    roles: frozenset[str]
    expires_at: int = 0  # the token's `exp` (seconds since the epoch)

    def require(self, role: str) -> None:
        if role not in self.roles:
            raise Forbidden(f"the {role} role is required")


@dataclass(frozen=True)
class TokenRules:
    """What a bearer token must satisfy here; built once from the settings."""

    secret: str
    audience: str | None = None
    issuer: str | None = None
    max_ttl_seconds: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_MAX_TTL))
    keys: JwksKeys | None = None  # an identity provider's keys: then the secret signs nothing

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenRules:
        """The deployment's rules; an identity provider's keys are fetched at first use."""
        from withdraw_service.api.jwks import JwksKeys

        keys = JwksKeys(settings.jwt_jwks_url) if settings.jwt_jwks_url else None
        limits = dict(DEFAULT_MAX_TTL)
        if settings.jwt_max_ttl_seconds is not None:
            limits = dict.fromkeys(ROLES, settings.jwt_max_ttl_seconds)
        return cls(
            secret=settings.jwt_secret.get_secret_value(),
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            max_ttl_seconds=limits,
            keys=keys,
        )

    def verify(self, token: str) -> Principal:
        try:
            if self.keys is not None:
                key: Any = self.keys.key_for(token)
                algorithms = list(PROVIDER_ALGORITHMS)
            else:
                key, algorithms = self.secret, [ALGORITHM]
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self.audience,
                issuer=self.issuer,
                # iat is checked below, with room for the issuer's clock; exp is exact.
                options={"require": ["exp", "iat", "sub"], "verify_iat": False},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("token expired") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("the token is not addressed to this service (aud)") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("the token comes from another issuer (iss)") from None
        except jwt.PyJWTError:
            raise Unauthenticated("invalid token") from None
        sub, roles = claims.get("sub"), claims.get("roles", [])
        if not isinstance(sub, str) or not SUBJECT.fullmatch(sub) or not isinstance(roles, list):
            raise Unauthenticated("invalid token claims")
        granted = frozenset(str(r) for r in roles) & ROLES
        issued, expires = claims["iat"], claims["exp"]
        for instant in (issued, expires):  # NaN compares false with everything: refuse it
            if isinstance(instant, bool) or not isinstance(instant, int | float):
                raise Unauthenticated("invalid token claims")
            if not math.isfinite(instant):
                raise Unauthenticated("invalid token claims")
        # The strictest of its roles' limits; a token without roles gets the customer's.
        limit = min((self.max_ttl_seconds[r] for r in granted), default=None)
        limit = limit if limit is not None else self.max_ttl_seconds["customer"]
        if issued > time.time() + LEEWAY_SECONDS:
            raise Unauthenticated("the token is issued in the future (iat)")
        if expires - issued > limit:
            raise Unauthenticated(f"the token lives longer than the {limit} s allowed")
        return Principal(user_id=sub, roles=granted, expires_at=int(expires))


def mint_token(
    secret: str,
    user_id: str,
    roles: list[str],
    ttl_seconds: int,
    *,
    audience: str | None = None,
    issuer: str | None = None,
) -> str:
    unknown = set(roles) - ROLES
    if unknown:
        raise ValueError(f"unknown roles: {sorted(unknown)}")
    now = int(time.time())
    claims: dict[str, Any] = {"sub": user_id, "roles": roles, "iat": now, "exp": now + ttl_seconds}
    if audience:
        claims["aud"] = audience
    if issuer:
        claims["iss"] = issuer
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def token_for(settings: Settings, user_id: str, roles: list[str], ttl_seconds: int) -> str:
    """A token this deployment's API accepts (its secret, audience and issuer)."""
    return mint_token(
        settings.jwt_secret.get_secret_value(),
        user_id,
        roles,
        ttl_seconds,
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
    )


def authenticate(authorization: str | None, rules: TokenRules) -> Principal:
    if not authorization:
        raise Unauthenticated("missing bearer token")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("expected 'Authorization: Bearer <token>'")
    return rules.verify(token.strip())
