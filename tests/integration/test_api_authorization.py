"""Who may call what (docs/api.md): every endpoint against every kind of caller.

- a missing, malformed, expired or wrongly signed token: 401 UNAUTHENTICATED everywhere, as
  problem+json with `WWW-Authenticate`, and nothing happens;
- another customer: 404 NOT_FOUND on a withdrawal that is not theirs, answered exactly like an
  id that does not exist (never reveal which); their own listing does not show it;
- customers on /ops/*: 403 FORBIDDEN; operators (role `ops`): allowed there.

Each cell starts one withdrawal awaiting its OTP (owned by user-1001), calls one endpoint as
one caller, checks the answer and that the withdrawal is untouched, then cancels it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest

from tests.integration._paths import (
    USER,
    Started,
    calls,
    cancel,
    otp_of,
    problem,
    start,
    status,
    wait_terminal,
    wrong,
)
from tests.integration.conftest import Stack
from withdraw_service.api.auth import mint_token

OTHER = "user-1002"
OPERATOR = "ops-alice"
FOREIGN_SECRET = "not-the-service-secret-but-long-enough-for-hs256"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _secret(stack: Stack) -> str:
    return stack.settings.jwt_secret.get_secret_value()


# -- callers ---------------------------------------------------------------------------------

CALLERS: dict[str, Callable[[Stack], dict[str, str]]] = {
    "no-token": lambda stack: {},
    "bearer-alone": lambda stack: {"Authorization": "Bearer"},
    "basic-scheme": lambda stack: {"Authorization": "Basic x"},
    "bearer-not-a-jwt": lambda stack: {"Authorization": "Bearer not.a.jwt"},
    "expired": lambda stack: _bearer(mint_token(_secret(stack), USER, ["customer"], -10)),
    "wrongly-signed": lambda stack: _bearer(mint_token(FOREIGN_SECRET, USER, ["customer"], 600)),
    "other-customer": lambda stack: stack.auth(OTHER),
    "owner": lambda stack: stack.auth(USER),
    "operator": lambda stack: _bearer(mint_token(_secret(stack), OPERATOR, ["ops"], 600)),
}
BAD_CREDENTIALS = (
    "no-token",
    "bearer-alone",
    "basic-scheme",
    "bearer-not-a-jwt",
    "expired",
    "wrongly-signed",
)


# -- endpoints -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # "{id}": the withdrawal's workflowId; "{task}": an operator task id
    body: dict[str, Any] | None = None

    @property
    def per_withdrawal(self) -> bool:
        return "{id}" in self.path

    def url(self, workflow_id: str, task_id: str) -> str:
        return self.path.format(id=workflow_id, task=task_id)


INITIATE_BODY = {"amount": "150.00", "productNumber": "ACC-1", "frontendSimaReady": False}
ENDPOINTS: dict[str, Endpoint] = {
    "initiate": Endpoint("POST", "/withdraw/initiate", INITIATE_BODY),
    "finalize": Endpoint("PUT", "/withdraw/finalize/{id}", {"otpCode": "<otp>"}),
    "status": Endpoint("GET", "/withdraw/status/{id}"),
    "list": Endpoint("GET", "/withdraw"),
    "cancel": Endpoint("POST", "/withdraw/{id}/cancel"),
    "ops-tasks": Endpoint("GET", "/ops/compensation-tasks"),
    "ops-retry": Endpoint("POST", "/ops/compensation-tasks/{task}/retry"),
    "ops-resolve": Endpoint("POST", "/ops/compensation-tasks/{task}/resolve", {"note": "done"}),
    "ops-withdrawals": Endpoint("GET", f"/ops/withdrawals?userId={USER}"),
}

# What the authenticated callers get (HTTP status, problem code or None for success). The
# bad-credential rows are 401 UNAUTHENTICATED everywhere.
EXPECTED: dict[tuple[str, str], tuple[int, str | None]] = {
    # another customer: their own initiate/listing work; someone else's withdrawal is unknown
    ("initiate", "other-customer"): (200, None),
    ("finalize", "other-customer"): (404, "NOT_FOUND"),
    ("status", "other-customer"): (404, "NOT_FOUND"),
    ("list", "other-customer"): (200, None),
    ("cancel", "other-customer"): (404, "NOT_FOUND"),
    # the owner: a second initiate meets the first one in flight; a wrong OTP is counted
    ("initiate", "owner"): (409, "WITHDRAW_RESTRICTED"),
    ("finalize", "owner"): (422, "OTP_INVALID"),
    ("status", "owner"): (200, None),
    ("list", "owner"): (200, None),
    ("cancel", "owner"): (200, None),
    # the customer endpoints need the customer role: an operator's token is refused there
    **{
        (customer_endpoint, "operator"): (403, "FORBIDDEN")
        for customer_endpoint in ("initiate", "finalize", "status", "list", "cancel")
    },
    # /ops/*: customers are forbidden; an operator gets through (unknown task ids: 404)
    **{
        (ops, customer): (403, "FORBIDDEN")
        for ops in ("ops-tasks", "ops-retry", "ops-resolve", "ops-withdrawals")
        for customer in ("other-customer", "owner")
    },
    ("ops-tasks", "operator"): (200, None),
    ("ops-retry", "operator"): (404, "NOT_FOUND"),
    ("ops-resolve", "operator"): (404, "NOT_FOUND"),
    ("ops-withdrawals", "operator"): (200, None),
}


def _cells() -> list[Any]:
    return [
        pytest.param(endpoint, caller, id=f"{endpoint}-{caller}")
        for endpoint in ENDPOINTS
        for caller in CALLERS
    ]


async def _call(
    stack: Stack, endpoint: Endpoint, headers: dict[str, str], workflow_id: str, otp: str
) -> httpx.Response:
    body = endpoint.body
    if body is not None and body.get("otpCode") == "<otp>":
        body = {"otpCode": otp}
    return await stack.api.request(
        endpoint.method,
        endpoint.url(workflow_id, str(uuid.uuid4())),
        json=body,
        headers=headers,
    )


def _unknown_id() -> str:
    return f"WITHDRAW-{uuid.uuid4()}"


@pytest.mark.parametrize(("endpoint_name", "caller"), _cells())
async def test_authorization_matrix(stack: Stack, endpoint_name: str, caller: str) -> None:
    endpoint = ENDPOINTS[endpoint_name]
    started = await start(stack)
    try:
        await _cell(stack, endpoint_name, endpoint, caller, started)
    finally:
        await _cancel_if_waiting(stack, started)


async def _cell(
    stack: Stack, endpoint_name: str, endpoint: Endpoint, caller: str, started: Started
) -> None:
    before = await status(stack, started.workflow_id)
    finalizes_before = await calls(stack, "transfer.finalize")
    initiates_before = await calls(stack, "transfer.initiate")
    headers = CALLERS[caller](stack)
    otp = await otp_of(stack, started.authorisation_id)
    # The owner's finalize is sent a wrong code (it must reach the workflow and be counted);
    # everyone else sends the right one, which must not be applied.
    code = wrong(otp) if caller == "owner" else otp

    response = await _call(stack, endpoint, headers, started.workflow_id, code)

    if caller in BAD_CREDENTIALS:
        _assert_unauthenticated(response, headers)
        assert await calls(stack, "transfer.initiate") == initiates_before
    else:
        http_status, problem_code = EXPECTED[(endpoint_name, caller)]
        if problem_code is None:
            assert response.status_code == http_status, response.text
            assert response.headers["content-type"].startswith("application/json")
            await _check_success(stack, endpoint_name, caller, response, started)
        else:
            body = problem(response, http_status, problem_code)
            if caller == "owner" and endpoint_name == "finalize":
                assert body["attemptsRemaining"] == 2, body
        if http_status == 404 and endpoint.per_withdrawal:
            # The same caller asking about an id that does not exist gets the same answer.
            unknown = await _call(stack, endpoint, headers, _unknown_id(), code)
            _assert_same_answer(response, unknown)

    # Only the owner's (wrong) code reached the bank, which checks OTPs; it applied nothing.
    sent = 1 if (endpoint_name, caller) == ("finalize", "owner") else 0
    assert await calls(stack, "transfer.finalize") == finalizes_before + sent
    if (endpoint_name, caller) == ("cancel", "owner"):
        assert (await wait_terminal(stack, started.workflow_id))["status"] == "CANCELLED"
        return
    after = await status(stack, started.workflow_id)
    assert after["status"] == "AWAITING_OTP", after
    added = [entry["status"] for entry in after["history"][len(before["history"]) :]]
    assert after["history"][: len(before["history"])] == before["history"]
    # A wrong code goes to the bank and back; nothing else moves the withdrawal.
    assert added == (["FINALIZING_TRANSFER", "AWAITING_OTP"] if sent else []), after


async def _cancel_if_waiting(stack: Stack, started: Started) -> None:
    if (await status(stack, started.workflow_id))["status"] == "AWAITING_OTP":
        cancelled = await cancel(stack, started.workflow_id)
        assert cancelled.status_code == 200, cancelled.text
    assert (await wait_terminal(stack, started.workflow_id))["status"] == "CANCELLED"


def _assert_unauthenticated(response: httpx.Response, headers: dict[str, str]) -> None:
    body = problem(response, 401, "UNAUTHENTICATED")
    assert response.headers.get("www-authenticate", "").startswith("Bearer"), response.headers
    credential = headers.get("Authorization", "").partition(" ")[2]
    if len(credential) >= 8:
        assert credential not in response.text  # the token is never echoed
    assert "Traceback" not in response.text
    assert set(body) <= {"type", "title", "status", "detail", "code"}, body


def _assert_same_answer(response: httpx.Response, unknown: httpx.Response) -> None:
    assert unknown.status_code == response.status_code, unknown.text
    assert unknown.headers["content-type"] == response.headers["content-type"]
    assert unknown.json() == response.json()
    assert set(unknown.headers) == set(response.headers)


async def _check_success(
    stack: Stack, endpoint: str, caller: str, response: httpx.Response, started: Started
) -> None:
    data = response.json()["data"]
    if endpoint == "initiate":  # another customer's own withdrawal, independent of user-1001's
        theirs = await stack.api.get(
            f"/withdraw/status/{data['workflowId']}", headers=stack.auth(OTHER)
        )
        ended = await cancel(stack, data["workflowId"], OTHER)  # first: end it whatever follows
        assert ended.status_code == 200, ended.text
        assert data["status"] == "AWAITING_OTP", data
        assert data["workflowId"] != started.workflow_id
        assert theirs.json()["data"]["userId"] == OTHER
    elif endpoint == "status":
        assert data["workflowId"] == started.workflow_id
        assert data["userId"] == USER
        assert data["status"] == "AWAITING_OTP"
    elif endpoint == "list":
        listed = [item["workflowId"] for item in data["items"]]
        assert listed == ([started.workflow_id] if caller == "owner" else []), data
        assert all(item["userId"] == USER for item in data["items"])
    elif endpoint == "cancel":
        assert data["status"] == "CANCELLED", data
    elif endpoint == "ops-tasks":
        assert data == []
    elif endpoint == "ops-withdrawals":
        assert [item["workflowId"] for item in data["items"]] == [started.workflow_id]
        assert data["items"][0]["userId"] == USER
    else:  # pragma: no cover - the table above lists every success
        raise AssertionError(f"no success expected for {endpoint} as {caller}")


async def test_the_roles_decide_not_the_user_id(stack: Stack) -> None:
    """The roles decide, not the user id: user-1001 holding `ops` alone gets through /ops/*
    but not the customer endpoints, a token listing both roles works on both sides, and a
    token without roles (or with unknown ones) has none."""
    both = _bearer(mint_token(_secret(stack), USER, ["customer", "ops"], 600))
    ops_only = _bearer(mint_token(_secret(stack), USER, ["ops"], 600))
    for headers in (both, ops_only):
        response = await stack.api.get("/ops/compensation-tasks", headers=headers)
        assert response.status_code == 200, response.text
    listed = await stack.api.get("/withdraw", headers=both)
    assert listed.status_code == 200, listed.text
    problem(await stack.api.get("/withdraw", headers=ops_only), 403, "FORBIDDEN")
    for roles in (["admin"], None):
        none = _bearer(_forge(_secret(stack), USER, roles))
        problem(await stack.api.get("/ops/withdrawals", headers=none), 403, "FORBIDDEN")
        problem(await stack.api.get("/withdraw", headers=none), 403, "FORBIDDEN")


def _forge(secret: str, user_id: str, roles: list[str] | None) -> str:
    """A correctly signed token carrying roles mint_token would refuse to put in (None: no
    `roles` claim at all)."""
    now = int(time.time())
    claims: dict[str, Any] = {"sub": user_id, "iat": now, "exp": now + 600}
    if roles is not None:
        claims["roles"] = roles
    return jwt.encode(claims, secret, algorithm="HS256")


def _signed(secret: str, claims: dict[str, Any], algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": USER, "roles": ["customer"], "iat": now, "exp": now + 600}
    for key, value in changes.items():
        if value is None:
            claims.pop(key, None)
        else:
            claims[key] = value
    return claims


ODD_TOKENS: dict[str, Callable[[str], str]] = {
    "alg-none": lambda secret: jwt.encode(_claims(), None, algorithm="none"),
    "hs512-right-secret": lambda secret: _signed(secret, _claims(), "HS512"),
    "no-exp": lambda secret: _signed(secret, _claims(exp=None)),
    "no-sub": lambda secret: _signed(secret, _claims(sub=None)),
    "empty-sub": lambda secret: _signed(secret, _claims(sub="")),
    "sub-not-a-string": lambda secret: _signed(secret, _claims(sub=1001)),
    "roles-not-a-list": lambda secret: _signed(secret, _claims(roles="ops")),
    # user-1001#x once loaded user-1001 from the Session service
    "sub-with-a-fragment": lambda secret: _signed(secret, _claims(sub=f"{USER}#x")),
    "sub-with-a-path": lambda secret: _signed(secret, _claims(sub=f"../users/{USER}")),
    "no-iat": lambda secret: _signed(secret, _claims(iat=None)),
    "a-year-long-operator-token": lambda secret: _signed(
        secret, _claims(roles=["ops"], exp=int(time.time()) + 365 * 86400)
    ),
    "addressed-to-the-console": lambda secret: _signed(secret, _claims(aud="withdraw-console")),
    "tampered-payload": lambda secret: _tamper(_signed(secret, _claims())),
}


def _tamper(token: str) -> str:
    """The owner's valid token with its payload swapped for another user's: bad signature."""
    header, _, signature = token.split(".")
    other = _signed("x" * 32, _claims(sub=OTHER)).split(".")[1]
    return f"{header}.{other}.{signature}"


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
@pytest.mark.parametrize("variant", list(ODD_TOKENS))
async def test_other_bad_tokens_are_401(stack: Stack, variant: str) -> None:
    started = await start(stack)
    try:
        headers = _bearer(ODD_TOKENS[variant](_secret(stack)))
        for path in (f"/withdraw/status/{started.workflow_id}", "/ops/compensation-tasks"):
            _assert_unauthenticated(await stack.api.get(path, headers=headers), headers)
    finally:
        await _cancel_if_waiting(stack, started)
