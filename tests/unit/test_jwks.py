"""An identity provider's tokens (RS256/ES256), checked by its published keys (JWKS), fetched
with httpx (a MockTransport here): the keys it names, refreshed when a new key id appears, at
most once per interval however many forged key ids arrive; HMAC tokens refused then."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from withdraw_service.api.auth import TokenRules, authenticate
from withdraw_service.api.jwks import JwksKeys
from withdraw_service.domain.errors import TemporarilyUnavailable, Unauthenticated

AUDIENCE, ISSUER = "withdraw-api", "https://id.example.com/"
URL = "https://id.example.com/.well-known/jwks.json"


class Provider:
    """A fake identity provider: its keys, and how often its JWKS was fetched."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {
            "rsa-1": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "ec-1": ec.generate_private_key(ec.SECP256R1()),
        }
        self.published = ["rsa-1", "ec-1"]
        self.fetches = 0
        self.down = False

    def jwks(self, request: httpx.Request) -> httpx.Response:
        self.fetches += 1
        if self.down:
            return httpx.Response(503)
        keys = []
        for kid in self.published:
            key = self.keys[kid]
            algorithm = jwt.algorithms.RSAAlgorithm if kid.startswith("rsa") else None
            if algorithm is not None:
                jwk = json.loads(algorithm.to_jwk(key.public_key()))
                jwk.update(alg="RS256")
            else:
                jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
                jwk.update(alg="ES256")
            keys.append({**jwk, "kid": kid, "use": "sig"})
        return httpx.Response(200, json={"keys": keys})

    def token(self, kid: str, **claims: Any) -> str:
        now = int(time.time())
        body = {
            "sub": "user-1001",
            "roles": ["customer"],
            "iat": now,
            "exp": now + 300,
            "aud": AUDIENCE,
            "iss": ISSUER,
            **claims,
        }
        algorithm = "RS256" if kid.startswith("rsa") else "ES256"
        return jwt.encode(body, self.keys[kid], algorithm=algorithm, headers={"kid": kid})


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def provider() -> Provider:
    return Provider()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def rules(provider: Provider, clock: Clock) -> TokenRules:
    client = httpx.Client(transport=httpx.MockTransport(provider.jwks))
    keys = JwksKeys(URL, client=client, clock=clock, min_refetch_seconds=30)
    return TokenRules("unused-secret-" * 3, audience=AUDIENCE, issuer=ISSUER, keys=keys)


def bearer(token: str) -> str:
    return f"Bearer {token}"


@pytest.mark.parametrize("kid", ["rsa-1", "ec-1"])
def test_a_providers_token_is_checked_by_its_published_key(
    provider: Provider, rules: TokenRules, kid: str
) -> None:
    principal = authenticate(bearer(provider.token(kid)), rules)
    assert (principal.user_id, principal.roles) == ("user-1001", frozenset({"customer"}))
    authenticate(bearer(provider.token(kid)), rules)
    assert provider.fetches == 1  # kept, not fetched per request


def test_a_new_key_is_fetched_once_it_is_named(
    provider: Provider, rules: TokenRules, clock: Clock
) -> None:
    authenticate(bearer(provider.token("rsa-1")), rules)
    provider.keys["rsa-2"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    provider.published.append("rsa-2")
    clock.now += 31
    assert authenticate(bearer(provider.token("rsa-2")), rules).user_id == "user-1001"
    assert provider.fetches == 2


def test_forged_key_ids_do_not_make_us_hammer_the_provider(
    provider: Provider, rules: TokenRules, clock: Clock
) -> None:
    authenticate(bearer(provider.token("rsa-1")), rules)
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    provider.keys["forged"] = forger
    for n in range(20):
        token = jwt.encode(
            {"sub": "user-1001", "iat": int(time.time()), "exp": int(time.time()) + 60},
            forger,
            algorithm="RS256",
            headers={"kid": f"forged-{n}"},
        )
        with pytest.raises(Unauthenticated):
            authenticate(bearer(token), rules)
    assert provider.fetches == 1  # within the refetch interval: no new fetch
    clock.now += 31
    with pytest.raises(Unauthenticated):
        authenticate(bearer(token), rules)
    assert provider.fetches == 2


def test_a_token_signed_by_another_key_under_a_published_id_is_refused(
    provider: Provider, rules: TokenRules
) -> None:
    genuine = provider.keys["rsa-1"]
    provider.keys["rsa-1"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = provider.token("rsa-1")
    provider.keys["rsa-1"] = genuine
    with pytest.raises(Unauthenticated, match="invalid token"):
        authenticate(bearer(forged), rules)


def test_hmac_tokens_are_refused_when_a_provider_is_configured(rules: TokenRules) -> None:
    """No algorithm confusion: the shared secret signs nothing then, whatever the header."""
    now = int(time.time())
    claims = {"sub": "u-1", "iat": now, "exp": now + 60, "aud": AUDIENCE, "iss": ISSUER}
    for headers in ({}, {"kid": "rsa-1"}):
        token = jwt.encode(claims, rules.secret, algorithm="HS256", headers=headers)
        with pytest.raises(Unauthenticated):
            authenticate(bearer(token), rules)


def test_the_providers_audience_issuer_and_lifetime_rules_still_hold(
    provider: Provider, rules: TokenRules
) -> None:
    now = int(time.time())
    for claims in ({"aud": "other"}, {"iss": "https://evil.example/"}, {"exp": now + 7200}):
        with pytest.raises(Unauthenticated):
            authenticate(bearer(provider.token("ec-1", **claims)), rules)


def test_a_provider_that_cannot_be_reached_is_temporarily_unavailable(
    provider: Provider, rules: TokenRules, clock: Clock
) -> None:
    provider.down = True
    with pytest.raises(TemporarilyUnavailable):
        authenticate(bearer(provider.token("rsa-1")), rules)
    provider.down = False
    clock.now += 31
    authenticate(bearer(provider.token("rsa-1")), rules)
    # Once known, the keys outlive an outage of the provider.
    provider.down = True
    clock.now += 7200
    authenticate(bearer(provider.token("rsa-1")), rules)


def test_a_provider_that_is_down_is_asked_once_per_interval(
    provider: Provider, rules: TokenRules, clock: Clock
) -> None:
    provider.down = True
    for _ in range(20):
        with pytest.raises(TemporarilyUnavailable):
            authenticate(bearer(provider.token("rsa-1")), rules)
    assert provider.fetches == 1
    clock.now += 31
    provider.down = False
    authenticate(bearer(provider.token("rsa-1")), rules)
    assert provider.fetches == 2
