"""Bearer JWTs: who is calling and with which roles; anything doubtful is Unauthenticated."""

from __future__ import annotations

import time

import jwt
import pytest

from withdraw_service.api.auth import Principal, authenticate, mint_token
from withdraw_service.domain.errors import Forbidden, Unauthenticated

SECRET = "unit-test-secret-" * 4  # 64+ bytes: long enough for any HMAC
OTHER_SECRET = "another-secret-" * 5


def bearer(token: str) -> str:
    return f"Bearer {token}"


def test_a_minted_token_authenticates_its_user_and_roles() -> None:
    before = int(time.time())
    token = mint_token(SECRET, "user-1001", ["customer", "ops"], ttl_seconds=60)
    principal = authenticate(bearer(token), SECRET)
    assert principal.user_id == "user-1001"
    assert principal.roles == frozenset({"customer", "ops"})
    assert before + 60 <= principal.expires_at <= int(time.time()) + 60


def test_the_scheme_is_case_insensitive() -> None:
    token = mint_token(SECRET, "user-1001", ["customer"], ttl_seconds=60)
    assert authenticate(f"bearer {token}", SECRET).user_id == "user-1001"


def test_a_token_without_roles_is_a_customer() -> None:
    token = jwt.encode({"sub": "u-1", "exp": int(time.time()) + 60}, SECRET, algorithm="HS256")
    assert authenticate(bearer(token), SECRET).roles == frozenset({"customer"})


def test_roles_outside_the_contract_are_ignored() -> None:
    claims = {"sub": "u-1", "roles": ["admin", "ops"], "exp": int(time.time()) + 60}
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    assert authenticate(bearer(token), SECRET).roles == frozenset({"ops"})


def test_minting_refuses_unknown_roles() -> None:
    with pytest.raises(ValueError, match="admin"):
        mint_token(SECRET, "u-1", ["admin"], ttl_seconds=60)


def test_a_missing_role_is_forbidden() -> None:
    principal = Principal("u-1", frozenset({"customer"}))
    principal.require("customer")
    with pytest.raises(Forbidden, match="ops"):
        principal.require("ops")


def _unsigned(claims: dict[str, object]) -> str:
    return jwt.encode(claims, key=None, algorithm="none")


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, "missing"),
        ("", "missing"),
        ("Bearer", "expected"),
        ("Bearer    ", "expected"),
        ("Basic dXNlcjpwYXNz", "expected"),
        ("Token abc", "expected"),
        ("Bearer not-a-jwt", "invalid token"),
        ("Bearer a.b.c", "invalid token"),
    ],
)
def test_missing_or_malformed_authorization_is_unauthenticated(
    authorization: str | None, message: str
) -> None:
    with pytest.raises(Unauthenticated, match=message):
        authenticate(authorization, SECRET)


def test_an_expired_token_is_unauthenticated() -> None:
    token = mint_token(SECRET, "u-1", ["customer"], ttl_seconds=-1)
    with pytest.raises(Unauthenticated, match="expired"):
        authenticate(bearer(token), SECRET)


def test_a_token_signed_with_another_secret_is_unauthenticated() -> None:
    token = mint_token(OTHER_SECRET, "u-1", ["customer"], ttl_seconds=60)
    with pytest.raises(Unauthenticated, match="invalid token"):
        authenticate(bearer(token), SECRET)


@pytest.mark.parametrize(
    "token",
    [
        _unsigned({"sub": "u-1", "exp": int(time.time()) + 600}),
        jwt.encode({"sub": "u-1"}, SECRET, algorithm="HS256"),  # never expires
        jwt.encode({"exp": int(time.time()) + 600}, SECRET, algorithm="HS256"),  # nobody
        jwt.encode({"sub": "u-1", "exp": int(time.time()) + 600}, SECRET, algorithm="HS512"),
    ],
    ids=["alg-none", "no-exp", "no-sub", "hs512"],
)
def test_tokens_the_service_did_not_issue_this_way_are_unauthenticated(token: str) -> None:
    with pytest.raises(Unauthenticated):
        authenticate(bearer(token), SECRET)


@pytest.mark.parametrize(
    "claims",
    [{"sub": "", "roles": ["customer"]}, {"sub": "u-1", "roles": "ops"}],
    ids=["empty-sub", "roles-not-a-list"],
)
def test_tokens_with_unusable_claims_are_unauthenticated(claims: dict[str, object]) -> None:
    token = jwt.encode({**claims, "exp": int(time.time()) + 600}, SECRET, algorithm="HS256")
    with pytest.raises(Unauthenticated):
        authenticate(bearer(token), SECRET)


def test_the_error_never_echoes_the_token() -> None:
    token = mint_token(OTHER_SECRET, "u-1", ["customer"], ttl_seconds=60)
    with pytest.raises(Unauthenticated) as caught:
        authenticate(bearer(token), SECRET)
    assert token not in str(caught.value)
    assert token.split(".")[1] not in caught.value.message
