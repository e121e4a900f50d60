"""Requests the API must refuse before anything happens (docs/api.md): 422
VALIDATION_ERROR as problem+json, no stack trace, the rejected value never echoed back, and
nothing started (no withdrawal listed, no transfer initiated at the bank). Odd bodies never
get a 5xx.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.integration._paths import (
    USER,
    calls,
    cancel,
    otp_of,
    problem,
    start,
    status,
    wait_terminal,
)
from tests.integration.conftest import Stack

VALID = {"amount": "150.00", "productNumber": "ACC-1", "frontendSimaReady": False}


def _json(**changes: Any) -> bytes:
    """The valid initiate body with some fields changed (a value of `...` removes the field)."""
    body = {**VALID, **changes}
    return json.dumps({k: v for k, v in body.items() if v is not ...}).encode()


def _raw_amount(number: str) -> bytes:
    """A body whose amount is this JSON number, written as is (no float on the way)."""
    return b'{"amount": ' + number.encode() + b', "productNumber": "ACC-1"}'


@dataclass(frozen=True)
class Refused:
    body: bytes
    secret: str | None = None  # a rejected value distinctive enough to look for in the answer
    headers: dict[str, Any] = field(default_factory=dict)


INITIATE_REFUSALS: dict[str, Refused] = {
    # amount
    "amount-zero": Refused(_json(amount=0)),
    "amount-zero-string": Refused(_json(amount="0.00")),
    "amount-negative": Refused(_json(amount=-1)),
    "amount-negative-string": Refused(_json(amount="-1.00")),
    "amount-3-decimals-string": Refused(_json(amount="1.001"), "1.001"),
    "amount-3-decimals-number": Refused(_raw_amount("1.001"), "1.001"),
    "amount-letters": Refused(_json(amount="abc"), "abc"),
    "amount-true": Refused(_json(amount=True)),
    "amount-null": Refused(_json(amount=None)),
    "amount-missing": Refused(_json(amount=...)),
    "amount-NaN": Refused(_json(amount="NaN"), "NaN"),
    "amount-Infinity": Refused(_json(amount="Infinity"), "Infinity"),
    "amount-above-max-string": Refused(_json(amount="250000.01"), "250000.01"),
    "amount-above-max-number": Refused(_raw_amount("250000.01"), "250000.01"),
    "amount-1e30": Refused(_json(amount="1e30"), "1e30"),
    "amount-1e30-number": Refused(_raw_amount("1e30"), "1e30"),
    "amount-empty-string": Refused(_json(amount="")),
    "amount-object": Refused(_json(amount={"value": "150.00"})),
    "amount-list": Refused(_json(amount=["150.00"])),
    # productNumber
    "product-missing": Refused(_json(productNumber=...)),
    "product-empty": Refused(_json(productNumber="")),
    "product-65-chars": Refused(_json(productNumber="P" * 65), "P" * 65),
    "product-spaces": Refused(_json(productNumber="ACC 1 SPACED"), "ACC 1 SPACED"),
    "product-script": Refused(_json(productNumber="<script>x</script>"), "<script>"),
    "product-number": Refused(_json(productNumber=12345678), "12345678"),
    "product-null": Refused(_json(productNumber=None)),
    # the body as a whole
    "unknown-field": Refused(_json(userId="user-1002-from-body"), "user-1002-from-body"),
    "not-json": Refused(b"amount=150.00&productNumber=ACC-1", "amount=150.00"),
    "truncated-json": Refused(b'{"amount": "150.00", "productNumber": "ACC-'),
    "json-array": Refused(json.dumps([VALID]).encode()),
    "json-string": Refused(json.dumps("150.00").encode()),
    "json-null": Refused(b"null"),
    "empty-body": Refused(b""),
    "not-utf8": Refused(b'{"amount": "150.00", "productNumber": "\xff\xfe"}'),
    # 17 KiB of whitespace inside an otherwise valid object: refused for its size alone
    "over-16-KiB": Refused(_json()[:-1] + b" " * (17 * 1024) + b"}"),
    "frontendSimaReady-not-bool": Refused(_json(frontendSimaReady="maybe"), "maybe"),
    # Idempotency-Key (1-255 printable ASCII characters)
    "key-256-chars": Refused(_json(), "K" * 256, {"Idempotency-Key": "K" * 256}),
    "key-newline": Refused(_json(), None, {"Idempotency-Key": b"key\nwith-newline"}),
    "key-non-ascii": Refused(_json(), None, {"Idempotency-Key": "clé-ünïcode".encode()}),
    "key-empty": Refused(_json(), None, {"Idempotency-Key": ""}),
}


def assert_refused(response: httpx.Response, secret: str | None) -> dict[str, Any]:
    body = problem(response, 422, "VALIDATION_ERROR")
    assert "Traceback" not in response.text and 'File "' not in response.text
    if secret is not None:
        assert secret not in response.text, response.text  # the rejected value is not echoed
    for entry in body.get("errors") or []:
        assert set(entry) <= {"field", "message"}, entry  # where and what, never the input
    return body


async def _nothing_started(stack: Stack, initiates_before: int, user: str = USER) -> None:
    listed = await stack.api.get("/withdraw", headers=stack.auth(user))
    assert listed.status_code == 200, listed.text
    assert listed.json()["data"] == {"items": [], "nextCursor": None}
    assert await calls(stack, "transfer.initiate") == initiates_before


@pytest.mark.parametrize("case", list(INITIATE_REFUSALS))
async def test_initiate_refuses(stack: Stack, case: str) -> None:
    refused = INITIATE_REFUSALS[case]
    initiates_before = await calls(stack, "transfer.initiate")

    response = await stack.api.post(
        "/withdraw/initiate",
        content=refused.body,
        headers={**stack.auth(USER), "Content-Type": "application/json", **refused.headers},
    )

    assert_refused(response, refused.secret)
    await _nothing_started(stack, initiates_before)


async def test_product_number_errors_name_the_field(stack: Stack) -> None:
    response = await stack.api.post(
        "/withdraw/initiate", json={**VALID, "productNumber": "A B"}, headers=stack.auth(USER)
    )
    body = assert_refused(response, "A B")
    assert [e["field"] for e in body["errors"]] == ["productNumber"], body


async def test_unknown_field_names_the_field_not_its_value(stack: Stack) -> None:
    response = await stack.api.post(
        "/withdraw/initiate", json={**VALID, "extra": "hidden-value"}, headers=stack.auth(USER)
    )
    body = assert_refused(response, "hidden-value")
    assert [e["field"] for e in body["errors"]] == ["extra"], body


# -- finalize --------------------------------------------------------------------------------

OTP_REFUSALS: dict[str, Any] = {
    "5-digits": {"otpCode": "12345"},
    "7-digits": {"otpCode": "1234567"},
    "letters": {"otpCode": "abcdef"},
    "number": {"otpCode": 123456},
    "empty": {"otpCode": ""},
    "padded": {"otpCode": " 12345"},
    "null": {"otpCode": None},
    "missing": {},
    "unknown-field": {"otpCode": "<otp>", "userId": "user-1002"},
    "simaStan-too-long": {"otpCode": "<otp>", "simaStan": "S" * 65},
    "array": ["<otp>"],
}


@pytest.mark.parametrize("case", list(OTP_REFUSALS))
async def test_finalize_refuses_malformed_otp_without_using_an_attempt(
    stack: Stack, case: str
) -> None:
    started = await start(stack)
    try:
        otp = await otp_of(stack, started.authorisation_id)
        body = json.loads(json.dumps(OTP_REFUSALS[case]).replace("<otp>", otp))
        finalizes_before = await calls(stack, "transfer.finalize")

        response = await stack.api.put(
            f"/withdraw/finalize/{started.workflow_id}", json=body, headers=stack.auth(USER)
        )

        value = body.get("otpCode") if isinstance(body, dict) else None
        assert_refused(response, str(value) if value and len(str(value)) >= 5 else None)
        assert otp not in response.text
        assert await calls(stack, "transfer.finalize") == finalizes_before
        state = await status(stack, started.workflow_id)
        assert state["status"] == "AWAITING_OTP"
        assert [h["status"] for h in state["history"]] == ["INITIATED", "AWAITING_OTP"]
    finally:
        cancelled = await cancel(stack, started.workflow_id)
        assert cancelled.status_code == 200, cancelled.text
    # No attempt was used up: the withdrawal could still take all three codes.
    assert (await wait_terminal(stack, started.workflow_id))["status"] == "CANCELLED"


async def test_finalize_refused_body_then_right_otp_completes(stack: Stack) -> None:
    """A malformed body neither counts as an attempt nor spoils the withdrawal."""
    started = await start(stack)
    headers = stack.auth(USER)
    url = f"/withdraw/finalize/{started.workflow_id}"
    for body in ({"otpCode": "12345"}, {"otpCode": 123456}, {"otpCode": "abcdef"}):
        assert_refused(await stack.api.put(url, json=body, headers=headers), None)
    otp = await otp_of(stack, started.authorisation_id)
    done = await stack.api.put(url, json={"otpCode": otp}, headers=headers)
    assert done.status_code == 200, done.text
    assert done.json()["data"]["status"] == "COMPLETED"


# -- listings --------------------------------------------------------------------------------

QUERY_REFUSALS: dict[str, dict[str, str]] = {
    "limit-0": {"limit": "0"},
    "limit-101": {"limit": "101"},
    "limit-negative": {"limit": "-5"},
    "limit-letters": {"limit": "ten"},
    "status-unknown": {"status": "NOT_A_STATUS"},
    "status-lowercase": {"status": "cancelled"},
    "cursor-garbage": {"cursor": "garbage!!"},
    "cursor-b64-no-separator": {"cursor": "Z2FyYmFnZQ"},  # "garbage"
    "cursor-b64-bad-date": {"cursor": "bm90LWEtZGF0ZXxXSVRIRFJBVy14"},  # not-a-date|WITHDRAW-x
    "cursor-b64-not-utf8": {"cursor": "__79"},
    "cursor-too-long": {"cursor": "A" * 201},
}


@pytest.mark.parametrize("path", ["/withdraw", "/ops/withdrawals"], ids=["mine", "ops"])
@pytest.mark.parametrize("case", list(QUERY_REFUSALS))
async def test_listing_refuses_bad_query(stack: Stack, case: str, path: str) -> None:
    from withdraw_service.api.auth import mint_token

    if path.startswith("/ops"):
        secret = stack.settings.jwt_secret.get_secret_value()
        headers = {"Authorization": f"Bearer {mint_token(secret, 'ops-1', ['ops'], 600)}"}
    else:
        headers = stack.auth(USER)
    params = QUERY_REFUSALS[case]
    initiates_before = await calls(stack, "transfer.initiate")

    response = await stack.api.get(path, params=params, headers=headers)

    value = next(iter(params.values()))
    assert_refused(response, value if len(value) >= 5 else None)
    await _nothing_started(stack, initiates_before)


# -- fuzz --------------------------------------------------------------------------------------


MATH_DIGITS = "\U0001d7d9\U0001d7dd\U0001d7d8"  # "150" in mathematical double-struck digits


def _odd_value(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(12 if depth < 4 else 8)
    if choice == 0:
        return rng.choice([None, True, False])
    if choice == 1:
        return rng.choice([0, -1, 2**63, -(2**64), 10**300, 7])
    if choice == 2:
        return rng.choice([1e308, -0.0, 5e-324, 123.456])
    if choice == 3:
        return rng.choice(["", " ", "150.00", "1" * 400, "١٢٣.٤٥", MATH_DIGITS, "0x96", "1_000"])
    if choice == 4:
        return "".join(chr(rng.randrange(0x20, 0x2FFF)) for _ in range(rng.randrange(1, 40)))
    if choice == 5:
        return rng.choice(["\u0000", "\u202e150.00", "ACC-1\r\nX-Injected: 1", "'; DROP --"])
    if choice == 6:
        return rng.choice(["NaN", "-Infinity", "1e-400", "1E+999999999", "+150.00", "150.00 "])
    if choice == 7:
        return rng.choice(["ACC-1", "A" * 64, "ÄCC-1", "ACC/1", "../../etc"])
    if choice in (8, 9):
        return [_odd_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    return {
        rng.choice(["amount", "productNumber", "frontendSimaReady", "x", "ü", ""]): _odd_value(
            rng, depth + 1
        )
        for _ in range(rng.randrange(0, 4))
    }


def _odd_bodies(count: int) -> list[bytes]:
    rng = random.Random(20240611)
    bodies: list[bytes] = [
        b'{"amount": ' + b"9" * 4000 + b', "productNumber": "ACC-1"}',  # a huge integer
        b'{"amount": 1' + b"0" * 5000 + b', "productNumber": "ACC-1"}',  # past int-parsing limits
        b'{"amount": 1e999999999999, "productNumber": "ACC-1"}',
        b'{"amount": "150.00", "productNumber": "ACC-1", "amount": "1.001"}',  # duplicate key
        b'{"a":' * 200 + b"1" + b"}" * 200,  # nested 200 deep
        b"[" * 500 + b"]" * 500,
        b'{"amount": "150.00", "productNumber": "\\ud800"}',  # lone surrogate
        b'{"\\udfff": 1, "amount": "150.00", "productNumber": "ACC-1"}',  # ...as a key
        b'\xef\xbb\xbf{"amount": "150.00", "productNumber": "ACC-1"}',  # UTF-8 BOM
        json.dumps({"amount": {"amount": {"amount": "1.00"}}, "productNumber": "ACC-1"}).encode(),
        b'{"amount": NaN, "productNumber": "ACC-1"}',
        b'{"amount": Infinity, "productNumber": "ACC-1"}',
        b'{"amount": -0, "productNumber": "ACC-1"}',
    ]
    while len(bodies) < count:
        shape = rng.randrange(3)
        if shape == 0:
            value: Any = {
                "amount": _odd_value(rng),
                "productNumber": _odd_value(rng),
                **({"frontendSimaReady": _odd_value(rng)} if rng.random() < 0.5 else {}),
            }
        elif shape == 1:
            value = _odd_value(rng)
        else:
            value = {**VALID, rng.choice(["amount", "productNumber"]): _odd_value(rng)}
        bodies.append(json.dumps(value, ensure_ascii=rng.random() < 0.5).encode()[:16000])
    return bodies


async def _send(stack: Stack, body: bytes) -> tuple[int, str]:
    """Status and text; an exception escaping the app counts as the 500 a server would send."""
    try:
        response = await stack.api.post(
            "/withdraw/initiate",
            content=body,
            headers={**stack.auth(USER), "Content-Type": "application/json"},
        )
    except Exception as exc:  # the in-process app raised instead of answering
        return 500, f"{type(exc).__name__}: {exc}"[:300]
    if response.status_code in (200, 202):  # an odd body that is valid after all
        workflow_id = response.json()["data"]["workflowId"]
        assert (await cancel(stack, workflow_id)).status_code == 200
        await wait_terminal(stack, workflow_id)
    return response.status_code, response.text[:300]


async def test_odd_bodies_never_get_a_5xx(stack: Stack) -> None:
    failures = []
    for body in _odd_bodies(45):
        code, text = await _send(stack, body)
        if code >= 500:
            failures.append((body[:80], code, text))
        else:
            assert "Traceback" not in text
    assert failures == []


async def test_deeply_nested_body_is_a_validation_error(stack: Stack) -> None:
    body = b'{"amount": ' + b"[" * 5000 + b"]" * 5000 + b', "productNumber": "ACC-1"}'
    assert len(body) < 16 * 1024
    code, text = await _send(stack, body)
    assert code == 422, text
