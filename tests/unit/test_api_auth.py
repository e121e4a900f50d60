"""Bearer JWTs: who is calling and with which roles; anything doubtful is Unauthenticated."""

from __future__ import annotations

import time

import jwt
import pytest

from withdraw_service.api.auth import Principal, TokenRules, authenticate, mint_token
from withdraw_service.domain.errors import Forbidden, Unauthenticated

SECRET = "unit-test-secret-" * 4  # 64+ bytes: long enough for any HMAC
OTHER_SECRET = "another-secret-" * 5
RULES = TokenRules(SECRET)


def bearer(token: str) -> str:
    return f"Bearer {token}"


def test_a_minted_token_authenticates_its_user_and_roles() -> None:
    before = int(time.time())
    token = mint_token(SECRET, "user-1001", ["customer", "ops"], ttl_seconds=60)
    principal = authenticate(bearer(token), RULES)
    assert principal.user_id == "user-1001"
    assert principal.roles == frozenset({"customer", "ops"})
    assert before + 60 <= principal.expires_at <= int(time.time()) + 60


def test_the_scheme_is_case_insensitive() -> None:
    token = mint_token(SECRET, "user-1001", ["customer"], ttl_seconds=60)
    assert authenticate(f"bearer {token}", RULES).user_id == "user-1001"


def claims_now(**claims: object) -> dict[str, object]:
    now = int(time.time())
    return {"iat": now, "exp": now + 60, **claims}


def test_a_token_without_roles_has_none() -> None:
    token = jwt.encode(claims_now(sub="u-1"), SECRET, algorithm="HS256")
    principal = authenticate(bearer(token), RULES)
    assert principal.roles == frozenset()
    with pytest.raises(Forbidden, match="customer"):
        principal.require("customer")


def test_roles_outside_the_contract_are_ignored() -> None:
    claims = claims_now(sub="u-1", roles=["admin", "ops"])
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    assert authenticate(bearer(token), RULES).roles == frozenset({"ops"})


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
        authenticate(authorization, RULES)


def test_an_expired_token_is_unauthenticated() -> None:
    token = mint_token(SECRET, "u-1", ["customer"], ttl_seconds=-1)
    with pytest.raises(Unauthenticated, match="expired"):
        authenticate(bearer(token), RULES)


def test_a_token_signed_with_another_secret_is_unauthenticated() -> None:
    token = mint_token(OTHER_SECRET, "u-1", ["customer"], ttl_seconds=60)
    with pytest.raises(Unauthenticated, match="invalid token"):
        authenticate(bearer(token), RULES)


@pytest.mark.parametrize(
    "token",
    [
        _unsigned({"sub": "u-1", "exp": int(time.time()) + 600}),
        jwt.encode({"sub": "u-1", "iat": int(time.time())}, SECRET, algorithm="HS256"),
        jwt.encode(claims_now(), SECRET, algorithm="HS256"),  # nobody
        jwt.encode(claims_now(sub="u-1"), SECRET, algorithm="HS512"),
        jwt.encode({"sub": "u-1", "exp": int(time.time()) + 600}, SECRET, algorithm="HS256"),
    ],
    ids=["alg-none", "no-exp", "no-sub", "hs512", "no-iat"],
)
def test_tokens_the_service_did_not_issue_this_way_are_unauthenticated(token: str) -> None:
    with pytest.raises(Unauthenticated):
        authenticate(bearer(token), RULES)


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "", "roles": ["customer"]},
        {"sub": "u-1", "roles": "ops"},
        {"sub": "user-1001#x", "roles": ["customer"]},  # would load user-1001 upstream
        {"sub": "user-1001/../x", "roles": ["customer"]},
        {"sub": "u" * 129, "roles": ["customer"]},
        {"sub": "usér", "roles": ["customer"]},
    ],
    ids=[
        "empty-sub",
        "roles-not-a-list",
        "sub-with-hash",
        "sub-with-path",
        "long-sub",
        "non-ascii",
    ],
)
def test_tokens_with_unusable_claims_are_unauthenticated(claims: dict[str, object]) -> None:
    token = jwt.encode(claims_now(**claims), SECRET, algorithm="HS256")
    with pytest.raises(Unauthenticated):
        authenticate(bearer(token), RULES)


def test_the_error_never_echoes_the_token() -> None:
    token = mint_token(OTHER_SECRET, "u-1", ["customer"], ttl_seconds=60)
    with pytest.raises(Unauthenticated) as caught:
        authenticate(bearer(token), RULES)
    assert token not in str(caught.value)
    assert token.split(".")[1] not in caught.value.message


def test_a_plain_user_id_of_128_characters_is_accepted() -> None:
    user = "Ab9._@-" + "x" * 121
    token = mint_token(SECRET, user, ["customer"], ttl_seconds=60)
    assert authenticate(bearer(token), RULES).user_id == user


@pytest.mark.parametrize(
    ("roles", "lifetime", "accepted"),
    [
        (["customer"], 3600, True),
        (["customer"], 3601, False),
        (["ops"], 8 * 3600, True),
        (["ops"], 8 * 3600 + 1, False),
        (["customer", "ops"], 3601, False),  # the stricter of its roles
        ([], 3601, False),
        (["ops"], 365 * 24 * 3600, False),  # a year-long operator token
    ],
)
def test_a_token_living_longer_than_its_roles_allow_is_refused(
    roles: list[str], lifetime: int, accepted: bool
) -> None:
    now = int(time.time())
    claims = {"sub": "u-1", "roles": roles, "iat": now - 10, "exp": now - 10 + lifetime}
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    if accepted:
        assert authenticate(bearer(token), RULES).user_id == "u-1"
    else:
        with pytest.raises(Unauthenticated, match="lives longer"):
            authenticate(bearer(token), RULES)


def test_one_maximum_lifetime_may_be_configured_for_every_role() -> None:
    rules = TokenRules(SECRET, max_ttl_seconds={"customer": 60, "ops": 60})
    authenticate(bearer(mint_token(SECRET, "u-1", ["ops"], 60)), rules)
    with pytest.raises(Unauthenticated, match="lives longer"):
        authenticate(bearer(mint_token(SECRET, "u-1", ["ops"], 61)), rules)


def test_a_token_issued_in_the_future_is_refused() -> None:
    now = int(time.time())
    claims = {"sub": "u-1", "roles": ["customer"], "iat": now + 600, "exp": now + 900}
    with pytest.raises(Unauthenticated):
        authenticate(bearer(jwt.encode(claims, SECRET, algorithm="HS256")), RULES)


AUDIENCE, ISSUER = "withdraw-api", "https://id.example.com/"
ADDRESSED = TokenRules(SECRET, audience=AUDIENCE, issuer=ISSUER)


def test_audience_and_issuer_are_checked_when_configured() -> None:
    good = mint_token(SECRET, "u-1", ["customer"], 60, audience=AUDIENCE, issuer=ISSUER)
    assert authenticate(bearer(good), ADDRESSED).user_id == "u-1"
    for token, message in (
        (mint_token(SECRET, "u-1", ["customer"], 60, issuer=ISSUER), "invalid token"),
        (mint_token(SECRET, "u-1", ["customer"], 60, audience="other", issuer=ISSUER), "aud"),
        (mint_token(SECRET, "u-1", ["customer"], 60, audience=AUDIENCE), "invalid token"),
        (mint_token(SECRET, "u-1", ["customer"], 60, audience=AUDIENCE, issuer="evil"), "iss"),
    ):
        with pytest.raises(Unauthenticated, match=message):
            authenticate(bearer(token), ADDRESSED)


def test_a_token_addressed_to_someone_is_refused_where_no_audience_is_configured() -> None:
    """The console's session cookie is signed with the same secret but addressed to the
    console: the API never takes it for a bearer token."""
    token = mint_token(SECRET, "u-1", ["ops"], 60, audience="withdraw-console")
    with pytest.raises(Unauthenticated):
        authenticate(bearer(token), RULES)


@pytest.mark.parametrize("field", ["iat", "exp"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), True])
def test_a_time_that_is_not_a_finite_number_is_refused(field: str, value: object) -> None:
    """NaN compares false with everything: an `iat` of NaN once passed the lifetime check."""
    now = int(time.time())
    claims: dict[str, object] = {"sub": "u-1", "roles": ["customer"], "iat": now, "exp": now + 60}
    claims[field] = value
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    with pytest.raises(Unauthenticated):
        authenticate(bearer(token), RULES)
