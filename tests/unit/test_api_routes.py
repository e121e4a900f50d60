"""The public API in-process (httpx.ASGITransport) with a fake gateway in place of Temporal:
problem details for every error, authentication, amount and body validation, 200 vs 202, and
no OTP or token in any response.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from tests.unit.conftest import RETRY_POLICIES, T0, MakeState, make_state_value
from withdraw_service.api.app import create_app, install_state
from withdraw_service.api.auth import mint_token
from withdraw_service.api.gateway import Answer
from withdraw_service.bootstrap import ApiState, build_limits
from withdraw_service.domain import errors
from withdraw_service.domain.outcomes import FailureCode, ProblemCode
from withdraw_service.domain.reasons import CUSTOMER_REASONS
from withdraw_service.domain.statuses import WithdrawStatus as S
from withdraw_service.domain.withdrawal import WithdrawState
from withdraw_service.persistence.operations import OperationsRepository
from withdraw_service.persistence.repository import WithdrawalRepository
from withdraw_service.settings import Settings

SECRET = "api-unit-test-secret-" * 3
USER = "user-1001"
OTP = "482913"
WF = "WITHDRAW-11111111-2222-3333-4444-555555555555"
OTHERS_WF = "WITHDRAW-99999999-2222-3333-4444-555555555555"
PROBLEM_FIELDS = {"type", "title", "status", "detail", "code"}


@dataclass
class FakeGateway:
    """Stands in for `WithdrawGateway`: records what the routes ask, answers from `states`."""

    states: dict[str, WithdrawState] = field(default_factory=dict)
    initiated: list[tuple[str, Decimal, str, bool]] = field(default_factory=list)
    finalized: list[tuple[str, str, str, str | None]] = field(default_factory=list)
    settled: bool = True
    initiate_ends: tuple[S, str] | None = None  # (terminal status, failure code)
    finalize_error: Exception | None = None
    finalize_ends: tuple[S, FailureCode | None] | None = None  # (end status, failure code)
    crash: Exception | None = None

    async def initiate(
        self,
        user_id: str,
        amount: Decimal,
        product_number: str,
        frontend_sima_ready: bool,
        idempotency_key: str | None = None,
    ) -> Answer:
        if self.crash:
            raise self.crash
        self.initiated.append((user_id, amount, product_number, frontend_sima_ready))
        walk = [S.INITIATED, S.AWAITING_OTP] if self.settled else [S.INITIATED]
        changes: dict[str, Any] = {"authorisation_id": "auth-1"} if self.settled else {}
        if self.initiate_ends:
            walk = [S.INITIATED, self.initiate_ends[0]]
            changes = {"failure_code": self.initiate_ends[1], "failure_reason": "refused"}
        state = make_state_value(
            WF,
            user_id=user_id,
            amount=amount,
            statuses=walk,
            product_number=product_number,
            **changes,
        )
        self.states[WF] = state
        return Answer(state, self.settled)

    async def finalize(
        self,
        workflow_id: str,
        user_id: str,
        otp_code: str,
        sima_stan: str | None,
        idempotency_key: str | None = None,
    ) -> Answer:
        state = await self.status(workflow_id, user_id)
        self.finalized.append((workflow_id, user_id, otp_code, sima_stan))
        if self.finalize_error:
            raise self.finalize_error
        status = S.COMPLETED if self.settled else S.VERIFYING_TRANSFER
        changes: dict[str, Any] = {}
        if self.finalize_ends:
            status, failure_code = self.finalize_ends
            changes = {"failure_code": failure_code, "failure_reason": "scripted"}
        walk = [h.status for h in state.history] + [status]
        done = make_state_value(workflow_id, user_id=user_id, statuses=walk, **changes)
        return Answer(done, self.settled)

    async def status(self, workflow_id: str, user_id: str | None) -> WithdrawState:
        state = self.states.get(workflow_id)
        if state is None or (user_id is not None and state.user_id != user_id):
            raise errors.WithdrawalNotFound("no such withdrawal")
        return state


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        environment="dev",
        data_dir=tmp_path_factory.mktemp("api"),
        retry_policies=RETRY_POLICIES,
        jwt_secret=SecretStr(SECRET),
        max_amount=Decimal("250000.00"),
    )


@pytest.fixture(scope="module")
def shared_app(settings: Settings) -> FastAPI:
    # One app per module: building it (policies YAML, route dependants) costs ~40 ms.
    return create_app(settings)


@pytest.fixture
def app(
    shared_app: FastAPI,
    settings: Settings,
    repository: WithdrawalRepository,
    gateway: FakeGateway,
) -> FastAPI:
    # ASGITransport does not run the lifespan: wire what it would, fresh for each test, with
    # a fake gateway (no Temporal) and no operator desk or console look-ups (these are
    # customer routes).
    state = ApiState(
        settings=settings,
        temporal=None,  # type: ignore[arg-type]
        repository=repository,
        operations=OperationsRepository(repository.engine),
        gateway=gateway,  # type: ignore[arg-type]
        desk=None,  # type: ignore[arg-type]
        http=None,  # type: ignore[arg-type]
        ledgers=None,  # type: ignore[arg-type]
        limits=build_limits(settings, repository),
    )
    install_state(shared_app, state)
    return shared_app


@pytest.fixture
async def api(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    # raise_app_exceptions=False: a test sees what a client sees, a 500 included.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


TOKEN = mint_token(SECRET, USER, ["customer"], ttl_seconds=3600)
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert set(body) >= PROBLEM_FIELDS
    assert body["status"] == status
    assert body["code"] == code
    assert isinstance(body["type"], str)
    assert body["type"]
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert_no_secrets(response)
    return body


def assert_no_secrets(response: httpx.Response, *more: str) -> None:
    text = response.text
    for secret in (TOKEN, TOKEN.split(".")[1], TOKEN.split(".")[2], SECRET, OTP, *more):
        assert secret not in text
    assert "Traceback" not in text


def initiate_body(amount: Any = "150.00", **extra: Any) -> dict[str, Any]:
    return {"amount": amount, "productNumber": "PRD-0001", **extra}


async def initiate(api: httpx.AsyncClient, content: str | bytes) -> httpx.Response:
    headers = {**AUTH, "Content-Type": "application/json"}
    return await api.post("/withdraw/initiate", content=content, headers=headers)


# -- health ---------------------------------------------------------------------------------


async def test_healthz_answers_without_a_token(api: httpx.AsyncClient) -> None:
    response = await api.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_the_openapi_document_describes_the_withdraw_endpoints(
    api: httpx.AsyncClient,
) -> None:
    spec = (await api.get("/openapi.json")).json()
    assert {"/withdraw/initiate", "/withdraw/finalize/{workflowId}"} <= set(spec["paths"])
    body = spec["paths"]["/withdraw/initiate"]["post"]["requestBody"]
    assert "amount" in body["content"]["application/json"]["schema"]["properties"]


# -- authentication -------------------------------------------------------------------------

ENDPOINTS = [
    ("POST", "/withdraw/initiate", initiate_body()),
    ("PUT", f"/withdraw/finalize/{WF}", {"otpCode": OTP}),
    ("GET", f"/withdraw/status/{WF}", None),
    ("GET", "/withdraw", None),
]


def _expired() -> str:
    return mint_token(SECRET, USER, ["customer"], ttl_seconds=-10)


def _wrongly_signed() -> str:
    return mint_token("someone-elses-secret-" * 3, USER, ["customer"], ttl_seconds=3600)


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer",
        f"Basic {TOKEN}",
        "Bearer not.a.jwt",
        f"Bearer {_expired()}",
        f"Bearer {_wrongly_signed()}",
    ],
    ids=["missing", "empty-bearer", "wrong-scheme", "malformed", "expired", "wrongly-signed"],
)
@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=[e[1] for e in ENDPOINTS])
async def test_a_bad_token_is_401_on_every_endpoint(
    api: httpx.AsyncClient,
    gateway: FakeGateway,
    authorization: str | None,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await api.request(method, path, json=body, headers=headers)
    assert_problem(response, 401, "UNAUTHENTICATED")
    assert response.headers["www-authenticate"] == "Bearer"
    if authorization and "." in authorization:
        assert authorization.split()[-1] not in response.text
    assert gateway.initiated == []
    assert gateway.finalized == []


# -- initiate: amounts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw_amount", "expected"),
    [('"150.00"', "150.00"), ("150", "150.00"), ("150.5", "150.50"), ('"0.01"', "0.01")],
    ids=["string", "integer", "json-number", "one-cent"],
)
async def test_valid_amounts_reach_the_gateway_as_exact_decimals(
    api: httpx.AsyncClient, gateway: FakeGateway, raw_amount: str, expected: str
) -> None:
    response = await initiate(api, f'{{"amount": {raw_amount}, "productNumber": "PRD-0001"}}')
    assert response.status_code == 200, response.text
    ((user_id, amount, product, sima),) = gateway.initiated
    assert (user_id, product, sima) == (USER, "PRD-0001", False)
    assert isinstance(amount, Decimal)
    assert str(amount) == expected
    data = response.json()["data"]
    assert data["amount"] == expected
    assert data["workflowId"] == WF
    assert data["status"] == "AWAITING_OTP"
    assert data["authorisationId"] == "auth-1"


@pytest.mark.parametrize(
    "raw_amount",
    [
        "0",
        "-1",
        '"0.00"',
        '"-1"',
        '"1.001"',
        "1.001",
        '"abc"',
        '""',
        '"250000.01"',
        "250001",
        '"NaN"',
        "NaN",
        "Infinity",
        '"Infinity"',
        "null",
        "false",
        '["150"]',
        '{"value": "150"}',
    ],
)
async def test_bad_amounts_are_422_and_start_nothing(
    api: httpx.AsyncClient, gateway: FakeGateway, raw_amount: str
) -> None:
    response = await initiate(api, f'{{"amount": {raw_amount}, "productNumber": "PRD-0001"}}')
    assert_problem(response, 422, "VALIDATION_ERROR")
    assert gateway.initiated == []


async def test_a_boolean_amount_is_422(api: httpx.AsyncClient, gateway: FakeGateway) -> None:
    response = await initiate(api, '{"amount": true, "productNumber": "PRD-0001"}')
    assert_problem(response, 422, "VALIDATION_ERROR")
    assert gateway.initiated == []


@pytest.mark.parametrize(
    "raw_amount",
    [
        '"1e30"',
        "1e30",
        "1000000000000000000000000000000",
        # exponents Decimal cannot hold: these were 500s
        "1e9999999999999999999",
        "-1e-9999999999999999999",
        '"1e9999999999999999999"',
        "1E-999999999999999999",
        '"1E+999999999999999999"',
    ],
)
async def test_a_huge_amount_is_422(
    api: httpx.AsyncClient, gateway: FakeGateway, raw_amount: str
) -> None:
    response = await initiate(api, f'{{"amount": {raw_amount}, "productNumber": "PRD-0001"}}')
    assert_problem(response, 422, "VALIDATION_ERROR")


# -- initiate: the body -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        json.dumps(initiate_body(userId="someone-else")),
        json.dumps(initiate_body(currency="EUR")),
        json.dumps({"amount": "150.00"}),
        json.dumps(initiate_body(productNumber="")),
        json.dumps(initiate_body(productNumber="PRD 1; DROP TABLE")),
        json.dumps(initiate_body(frontendSimaReady="maybe")),
        '{"amount": "150.00", "productNumber": "PRD-0001"',
        "amount=150.00",
        "",
        "[]",
        '"150.00"',
        b'{"amount": "150.00", "productNumber": "\xff\xfe"}',
    ],
    ids=[
        "unknown-field-userId",
        "unknown-field-currency",
        "missing-product",
        "empty-product",
        "bad-product",
        "bad-flag",
        "truncated-json",
        "form-encoded",
        "empty-body",
        "array",
        "bare-string",
        "not-utf8",
    ],
)
async def test_malformed_bodies_are_422(
    api: httpx.AsyncClient, gateway: FakeGateway, content: str | bytes
) -> None:
    response = await initiate(api, content)
    assert_problem(response, 422, "VALIDATION_ERROR")
    assert gateway.initiated == []


async def test_a_body_over_16_kib_is_422(api: httpx.AsyncClient, gateway: FakeGateway) -> None:
    content = json.dumps(initiate_body()).replace("{", "{" + " " * (16 * 1024), 1)
    assert json.loads(content) == initiate_body()  # valid JSON, only too big
    response = await initiate(api, content)
    problem = assert_problem(response, 422, "VALIDATION_ERROR")
    assert "larger than" in problem["detail"]
    assert gateway.initiated == []


async def test_field_errors_say_where_without_echoing_the_value(api: httpx.AsyncClient) -> None:
    secretish = "SECRET-LOOKING-VALUE-12345"
    response = await initiate(api, json.dumps(initiate_body(otp=secretish)))
    problem = assert_problem(response, 422, "VALIDATION_ERROR")
    assert secretish not in response.text
    assert [e["field"] for e in problem["errors"]] == ["otp"]


async def test_the_user_comes_from_the_token_and_the_flag_is_passed_on(
    api: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    response = await api.post(
        "/withdraw/initiate", json=initiate_body(frontendSimaReady=True), headers=AUTH
    )
    assert response.status_code == 200
    assert gateway.initiated == [(USER, Decimal("150.00"), "PRD-0001", True)]
    assert response.json()["data"]["userId"] == USER


async def test_initiate_not_settled_within_the_wait_is_202_with_what_is_known(
    api: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    gateway.settled = False
    response = await api.post("/withdraw/initiate", json=initiate_body(), headers=AUTH)
    assert response.status_code == 202
    data = response.json()["data"]
    assert (data["workflowId"], data["status"]) == (WF, "INITIATED")
    assert data["authorisationId"] is None


@pytest.mark.parametrize(
    ("ends", "status", "code"),
    [
        ((S.USER_INVALID, "USER_INVALID"), 403, "USER_INVALID"),
        ((S.INITIATION_FAILED, "ACCOUNT_BLOCKED"), 403, "USER_INVALID"),
        ((S.WITHDRAW_RESTRICTED, "WITHDRAW_RESTRICTED"), 409, "WITHDRAW_RESTRICTED"),
        ((S.INITIATION_FAILED, "INSUFFICIENT_FUNDS"), 422, "INSUFFICIENT_FUNDS"),
        ((S.INITIATION_FAILED, "UPSTREAM_UNAVAILABLE"), 503, "UPSTREAM_UNAVAILABLE"),
    ],
)
async def test_a_withdrawal_that_ends_before_the_otp_answers_its_contract_error(
    api: httpx.AsyncClient, gateway: FakeGateway, ends: tuple[S, str], status: int, code: str
) -> None:
    gateway.initiate_ends = ends
    response = await api.post("/withdraw/initiate", json=initiate_body(), headers=AUTH)
    problem = assert_problem(response, status, code)
    assert problem["workflowId"] == WF
    assert problem["status"] == status  # the HTTP status, not the withdrawal's


# -- finalize -----------------------------------------------------------------------------------


def started(gateway: FakeGateway, make_state: MakeState, user_id: str = USER) -> None:
    workflow_id = WF if user_id == USER else OTHERS_WF
    gateway.states[workflow_id] = make_state(
        workflow_id,
        user_id=user_id,
        statuses=[S.INITIATED, S.AWAITING_OTP],
        authorisation_id="auth-1",
        otp_expires_at=T0 + timedelta(minutes=5),
    )


async def test_finalize_settled_is_200_with_the_receipt(
    api: httpx.AsyncClient, gateway: FakeGateway, make_state: MakeState
) -> None:
    started(gateway, make_state)
    response = await api.put(
        f"/withdraw/finalize/{WF}", json={"otpCode": OTP, "simaStan": "S-1"}, headers=AUTH
    )
    assert response.status_code == 200
    assert response.json()["data"]["status"] == "COMPLETED"
    assert gateway.finalized == [(WF, USER, OTP, "S-1")]
    assert_no_secrets(response)


async def test_finalize_still_working_is_202(
    api: httpx.AsyncClient, gateway: FakeGateway, make_state: MakeState
) -> None:
    started(gateway, make_state)
    gateway.settled = False
    response = await api.put(f"/withdraw/finalize/{WF}", json={"otpCode": OTP}, headers=AUTH)
    assert response.status_code == 202
    assert response.json()["data"]["status"] == "VERIFYING_TRANSFER"
    assert_no_secrets(response)


@pytest.mark.parametrize(
    ("ends", "code"),
    [
        (S.TRANSFER_REJECTED, FailureCode.TRANSFER_REJECTED),
        (S.TRANSFER_FAILED, FailureCode.TRANSFER_FAILED),
        (S.COMPENSATED, FailureCode.DW_REDEMPTION_FAILED),
    ],
)
async def test_finalize_ending_without_money_moving_is_422_withdrawal_failed(
    api: httpx.AsyncClient,
    gateway: FakeGateway,
    make_state: MakeState,
    ends: S,
    code: FailureCode,
) -> None:
    """docs/api.md: the OTP was accepted but no money moved (or it was given back): 422
    WITHDRAWAL_FAILED, the state in `withdrawal`, why in `failureCode`."""
    started(gateway, make_state)
    gateway.finalize_ends = (ends, code)
    response = await api.put(f"/withdraw/finalize/{WF}", json={"otpCode": OTP}, headers=AUTH)
    problem = assert_problem(response, 422, ProblemCode.WITHDRAWAL_FAILED)
    assert problem["failureCode"] == code
    withdrawal = problem["withdrawal"]
    assert (withdrawal["workflowId"], withdrawal["status"]) == (WF, ends)
    # What the workflow recorded ("scripted") is for operators; the customer reads the
    # fixed sentence for the code.
    assert (withdrawal["failureCode"], withdrawal["failureReason"]) == (
        code,
        CUSTOMER_REASONS[code],
    )
    assert [h["status"] for h in withdrawal["history"]] == [S.INITIATED, S.AWAITING_OTP, ends]


@pytest.mark.parametrize(
    ("ends", "code"),
    [
        (S.MANUAL_REVIEW_REQUIRED, FailureCode.TRANSFER_UNRESOLVED),
        (S.MANUAL_COMPENSATION_REQUIRED, FailureCode.DW_REDEMPTION_UNKNOWN),
    ],
)
async def test_finalize_ending_for_an_operator_answers_the_state_not_a_failure(
    api: httpx.AsyncClient,
    gateway: FakeGateway,
    make_state: MakeState,
    ends: S,
    code: FailureCode,
) -> None:
    """An operator will decide; the customer is not told it failed: 202 with the state."""
    started(gateway, make_state)
    gateway.finalize_ends = (ends, code)
    response = await api.put(f"/withdraw/finalize/{WF}", json={"otpCode": OTP}, headers=AUTH)
    assert response.status_code == 202, response.text
    data = response.json()["data"]
    assert (data["workflowId"], data["status"], data["failureCode"]) == (WF, ends, code)


@pytest.mark.parametrize(
    "body",
    [
        {"otpCode": "48291"},
        {"otpCode": "4829134"},
        {"otpCode": "48291a"},
        {"otpCode": " 48291"},
        {"otpCode": "\uff14\uff18\uff12\uff19\uff11\uff13"},  # fullwidth digits
        {"otpCode": 482913},
        {},
        {"otpCode": OTP, "pin": "1234"},
    ],
    ids=["5", "7", "letter", "space", "fullwidth", "number", "missing", "unknown-field"],
)
async def test_an_otp_that_is_not_six_digits_is_422_and_never_echoed(
    api: httpx.AsyncClient, gateway: FakeGateway, make_state: MakeState, body: dict[str, Any]
) -> None:
    started(gateway, make_state)
    response = await api.put(f"/withdraw/finalize/{WF}", json=body, headers=AUTH)
    assert_problem(response, 422, "VALIDATION_ERROR")
    if isinstance(body.get("otpCode"), str):
        assert body["otpCode"].strip() not in response.text
    assert gateway.finalized == []


async def test_a_wrong_otp_is_422_with_attempts_remaining(
    api: httpx.AsyncClient, gateway: FakeGateway, make_state: MakeState
) -> None:
    started(gateway, make_state)
    gateway.finalize_error = errors.OtpInvalid("wrong OTP", attemptsRemaining=2)
    response = await api.put(f"/withdraw/finalize/{WF}", json={"otpCode": OTP}, headers=AUTH)
    problem = assert_problem(response, 422, "OTP_INVALID")
    assert problem["attemptsRemaining"] == 2


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.OtpExpired("the OTP window is over"), 410),
        (errors.InvalidState("the withdrawal has already ended"), 409),
        (errors.UpstreamUnavailable("transfer service down"), 503),
    ],
)
async def test_finalize_refusals_map_to_their_contract_status(
    api: httpx.AsyncClient,
    gateway: FakeGateway,
    make_state: MakeState,
    error: errors.WithdrawError,
    status: int,
) -> None:
    started(gateway, make_state)
    gateway.finalize_error = error
    response = await api.put(f"/withdraw/finalize/{WF}", json={"otpCode": OTP}, headers=AUTH)
    assert_problem(response, status, error.code)


async def test_finalizing_another_users_withdrawal_is_404(
    api: httpx.AsyncClient, gateway: FakeGateway, make_state: MakeState
) -> None:
    started(gateway, make_state, user_id="someone-else")
    response = await api.put(f"/withdraw/finalize/{OTHERS_WF}", json={"otpCode": OTP}, headers=AUTH)
    assert_problem(response, 404, "NOT_FOUND")
    assert gateway.finalized == []


# -- status and list ----------------------------------------------------------------------------


async def test_status_of_ones_own_withdrawal(
    api: httpx.AsyncClient, gateway: FakeGateway, make_state: MakeState
) -> None:
    started(gateway, make_state)
    response = await api.get(f"/withdraw/status/{WF}", headers=AUTH)
    assert response.status_code == 200
    data = response.json()["data"]
    assert (data["workflowId"], data["userId"], data["status"]) == (WF, USER, "AWAITING_OTP")
    assert data["amount"] == "150.00"
    assert [h["status"] for h in data["history"]] == ["INITIATED", "AWAITING_OTP"]


async def test_status_of_another_users_withdrawal_is_the_same_404_as_an_unknown_one(
    api: httpx.AsyncClient, gateway: FakeGateway, make_state: MakeState
) -> None:
    started(gateway, make_state, user_id="someone-else")
    others = await api.get(f"/withdraw/status/{OTHERS_WF}", headers=AUTH)
    unknown = await api.get(f"/withdraw/status/{WF}", headers=AUTH)
    assert assert_problem(others, 404, "NOT_FOUND") == assert_problem(unknown, 404, "NOT_FOUND")


async def test_an_overlong_workflow_id_is_422(api: httpx.AsyncClient) -> None:
    response = await api.get(f"/withdraw/status/WITHDRAW-{'x' * 60}", headers=AUTH)
    assert_problem(response, 422, "VALIDATION_ERROR")


async def test_the_list_is_the_callers_own_newest_first(
    api: httpx.AsyncClient, repository: WithdrawalRepository, make_state: MakeState
) -> None:
    for i in range(3):
        repository.save(
            make_state(
                f"WITHDRAW-0000000{i}-0000-0000-0000-000000000000",
                created_at=T0 + timedelta(minutes=i),
            )
        )
    repository.save(make_state(OTHERS_WF, user_id="someone-else"))
    response = await api.get("/withdraw", headers=AUTH)
    assert response.status_code == 200
    data = response.json()["data"]
    assert [item["workflowId"][:17] for item in data["items"]] == [
        "WITHDRAW-00000002",
        "WITHDRAW-00000001",
        "WITHDRAW-00000000",
    ]
    assert data["nextCursor"] is None
    limited = await api.get("/withdraw", params={"limit": 2}, headers=AUTH)
    assert len(limited.json()["data"]["items"]) == 2


@pytest.mark.parametrize("limit", ["0", "101", "ten"])
async def test_a_list_limit_outside_1_to_100_is_422(api: httpx.AsyncClient, limit: str) -> None:
    response = await api.get("/withdraw", params={"limit": limit}, headers=AUTH)
    assert_problem(response, 422, "VALIDATION_ERROR")


# -- everything else is a problem too -----------------------------------------------------------


async def test_an_unknown_path_is_a_404_problem(api: httpx.AsyncClient) -> None:
    assert_problem(await api.get("/withdraw/nothing/here", headers=AUTH), 404, "NOT_FOUND")


async def test_a_wrong_method_is_a_405_problem(api: httpx.AsyncClient) -> None:
    assert_problem(await api.delete("/withdraw/initiate", headers=AUTH), 405, "METHOD_NOT_ALLOWED")


async def test_an_unexpected_failure_is_a_bare_500_problem(
    api: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    gateway.crash = RuntimeError("postgresql://withdraw:hunter2@db failed")
    response = await api.post("/withdraw/initiate", json=initiate_body(), headers=AUTH)
    assert_problem(response, 500, "INTERNAL")
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text


@pytest.mark.parametrize(
    "raw",
    [
        b"0001-01-01T00:00:00+23:59|x",  # to UTC, it falls before year 1: was a 500
        b"9999-12-31T23:59:59-23:59|x",  # and after year 9999
        b"not a time|x",
        b"no separator",
        b"\xff\xfe|x",
        b"2026-01-01T00:00:00+00:00|WITHDRAW-\x00",  # PostgreSQL refuses a NUL: was a 503
    ],
)
async def test_a_crafted_cursor_is_422(api: httpx.AsyncClient, raw: bytes) -> None:
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    response = await api.get("/withdraw", params={"cursor": cursor}, headers=AUTH)
    assert_problem(response, 422, "VALIDATION_ERROR")


async def test_a_cursor_this_api_gave_out_pages_on(api: httpx.AsyncClient) -> None:
    cursor = base64.urlsafe_b64encode(b"2026-01-01T00:00:00+00:00|WITHDRAW-x").decode()
    response = await api.get("/withdraw", params={"cursor": cursor}, headers=AUTH)
    assert response.status_code == 200, response.text
