"""The operator console's pages and actions on the real app and a real (SQLite) database, with
Temporal and the bank faked: who may sign in, what a session is, what every form must carry,
and how each crafted input is answered (a page saying what is wrong, never a 500)."""

from __future__ import annotations

import base64
import os
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import jwt
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from tests.unit.conftest import PRODUCTION_PLACES, RETRY_POLICIES, MakeState
from tests.unit.test_operator_desk import FakeClient
from withdraw_service.adapters.ports import DwToken, TransferStatusReport
from withdraw_service.api.app import create_app, install_state
from withdraw_service.api.auth import TokenRules, authenticate, mint_token, token_for
from withdraw_service.bootstrap import api_state, load_policies
from withdraw_service.console import session as sessions
from withdraw_service.console.ledgers import Ledgers
from withdraw_service.console.render import age
from withdraw_service.domain.errors import Forbidden, Unauthenticated
from withdraw_service.domain.outcomes import FailureCode, TaskKind, TaskState
from withdraw_service.domain.statuses import WithdrawStatus as S
from withdraw_service.persistence.operations import OperationsRepository
from withdraw_service.persistence.repository import WithdrawalRepository
from withdraw_service.settings import Settings

SECRET = "console-unit-test-secret-" * 3
RULES = TokenRules(SECRET)
WF = "WITHDRAW-00000000-0000-0000-0000-0000000000c1"
BASE = "http://console.test"


def ops_token(user: str = "ops-erin", ttl: int = 600) -> str:
    return mint_token(SECRET, user, ["ops"], ttl)


class FakeChecker:
    async def status(self, reference_number: str) -> TransferStatusReport:
        return TransferStatusReport(reference_number, "SUCCESS")

    async def status_by_correlation(self, correlation_id: str) -> TransferStatusReport | None:
        return None


class DownDriveWealth:
    async def get_token(self) -> DwToken:
        raise httpx.ConnectError("connection refused")


@pytest.fixture
def task_id(repository: WithdrawalRepository, make_state: MakeState) -> str:
    repository.save(
        make_state(
            WF,
            statuses=[S.INITIATED, S.COMPENSATING, S.MANUAL_COMPENSATION_REQUIRED],
            transfer_reference_number="TRF0001",
            dw_redemption_id="RED-1",
            failure_code=FailureCode.DW_REDEMPTION_FAILED,
            product_number="12345678901234",
        )
    )
    task, _ = OperationsRepository(repository.engine).open_task(
        WF, f"cid-{WF}", TaskKind.COMPENSATION_FAILED, Decimal("150.00"), "reversal refused"
    )
    return task.id


@pytest.fixture
def temporal() -> FakeClient:
    return FakeClient()


@pytest.fixture
async def console(
    tmp_path: Path, repository: WithdrawalRepository, temporal: FakeClient
) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        environment="dev",
        data_dir=tmp_path,  # the `repository` fixture's database
        retry_policies=RETRY_POLICIES,
        jwt_secret=SecretStr(SECRET),
        api_wait_seconds=1.0,
    )
    app: FastAPI = create_app(settings)
    state = api_state(settings, temporal, load_policies(RETRY_POLICIES))  # type: ignore[arg-type]
    install_state(app, state)
    app.state.ledgers = Ledgers(FakeChecker(), DownDriveWealth())  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    # As a browser posts the console's forms: saying they come from the console's origin.
    headers = {"Origin": BASE}
    async with httpx.AsyncClient(transport=transport, base_url=BASE, headers=headers) as client:
        yield client
    await state.http.aclose()
    state.repository.engine.dispose()


async def signed_in(console: httpx.AsyncClient, token: str | None = None) -> str:
    """Sign in; answers the CSRF token the pages' forms carry."""
    answer = await console.post("/ops/console/sign-in", data={"token": token or ops_token()})
    assert answer.status_code == 303, answer.text
    page = await console.get("/ops/console/tasks")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found
    return found[1]


# -- the session -------------------------------------------------------------------------------


def test_a_session_is_for_the_console_only_and_ends_with_the_token() -> None:
    session, cookie = sessions.sign_in(ops_token(ttl=120), RULES, SECRET, max_seconds=3600)
    assert session.operator == "ops-erin"
    assert session.expires_at <= int(time.time()) + 120  # never beyond the pasted token
    assert sessions.read(cookie, SECRET) == session
    # Not a bearer token for the API: it is addressed to the console.
    with pytest.raises(Unauthenticated):
        authenticate(f"Bearer {cookie}", RULES)
    # ...and an API token is no session.
    with pytest.raises(Unauthenticated):
        sessions.read(ops_token(), SECRET)
    _, short = sessions.sign_in(ops_token(ttl=3600), RULES, SECRET, max_seconds=60)
    assert sessions.read(short, SECRET).expires_at <= int(time.time()) + 60


def test_a_forged_or_expired_session_is_refused() -> None:
    _, cookie = sessions.sign_in(ops_token(), RULES, SECRET, max_seconds=3600)
    with pytest.raises(Unauthenticated):
        sessions.read(cookie, "another-secret-" * 4)
    expired = jwt.encode(
        {"sub": "ops-erin", "aud": sessions.AUDIENCE, "csrf": "x", "exp": int(time.time()) - 1},
        SECRET,
        algorithm="HS256",
    )
    with pytest.raises(Unauthenticated):
        sessions.read(expired, SECRET)
    with pytest.raises(Unauthenticated):
        sessions.read(None, SECRET)


def test_only_an_ops_token_opens_a_session() -> None:
    with pytest.raises(Forbidden):
        sessions.sign_in(mint_token(SECRET, "user-1001", ["customer"], 600), RULES, SECRET, 3600)
    with pytest.raises(Unauthenticated):
        sessions.sign_in("not-a-token", RULES, SECRET, 3600)


def test_ages_are_said_in_two_units() -> None:
    now = datetime(2026, 1, 5, tzinfo=UTC)
    assert age(now - timedelta(seconds=40), now) == "40 s"
    assert age(now - timedelta(minutes=2, seconds=5), now) == "2 min 5 s"
    assert age(now - timedelta(hours=2, minutes=5), now) == "2 h 5 min"
    assert age(now - timedelta(days=3, hours=4, minutes=1), now) == "3 d 4 h"
    assert age(now + timedelta(seconds=5), now) == "0 s"  # a clock a little ahead


# -- pages and actions -------------------------------------------------------------------------


async def test_without_a_session_every_page_is_the_sign_in(console: httpx.AsyncClient) -> None:
    for path in ("tasks", f"withdrawals/{WF}", "search?q=x", "in-flight", "tasks/x/resolve"):
        answer = await console.get(f"/ops/console/{path}")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/ops/console/sign-in"
    console.cookies.set(sessions.COOKIE, ops_token(), path="/ops/console")  # an API token
    assert (await console.get("/ops/console/tasks")).status_code == 303


async def test_a_customer_token_is_refused_and_sets_nothing(console: httpx.AsyncClient) -> None:
    customer = mint_token(SECRET, "user-1001", ["customer"], 600)
    answer = await console.post("/ops/console/sign-in", data={"token": customer})
    assert answer.status_code == 403
    assert "the ops role is required" in answer.text
    assert "set-cookie" not in answer.headers
    assert customer not in answer.text  # the token is never echoed back
    bad = await console.post("/ops/console/sign-in", data={"token": "x.y.z"})
    assert bad.status_code == 401 and "set-cookie" not in bad.headers
    blank = await console.post("/ops/console/sign-in", data={"token": " "})
    assert blank.status_code == 422 and "paste an operator token" in blank.text


async def test_the_session_cookie_is_httponly_strict_and_scoped(
    console: httpx.AsyncClient,
) -> None:
    answer = await console.post("/ops/console/sign-in", data={"token": ops_token()})
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/ops/console" in cookie
    page = await console.get("/ops/console/tasks")
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


async def test_the_tasks_page_counts_and_lists_oldest_first(
    console: httpx.AsyncClient, task_id: str
) -> None:
    await signed_in(console)
    page = (await console.get("/ops/console/tasks")).text
    assert re.search(r'data-kind-count="COMPENSATION_FAILED">1<', page)
    assert re.search(r'data-kind-count="TRANSFER_UNRESOLVED">0<', page)
    assert f'data-task="{task_id}"' in page and "USD 150.00" in page
    other = await console.get("/ops/console/tasks", params={"kind": "TRANSFER_UNRESOLVED"})
    assert f'data-task="{task_id}"' not in other.text
    every = await console.get("/ops/console/tasks", params={"kind": "", "state": ""})
    assert f'data-task="{task_id}"' in every.text


async def test_the_withdrawal_page_shows_no_full_account_number(
    console: httpx.AsyncClient, task_id: str
) -> None:
    await signed_in(console)
    page = await console.get(f"/ops/console/withdrawals/{WF}")
    assert page.status_code == 200
    assert "12345678901234" not in page.text and "1234" in page.text
    assert "MANUAL_COMPENSATION_REQUIRED" in page.text and "TRF0001" in page.text
    # What the services say: the bank answered, DriveWealth did not (said, not raised).
    assert "SUCCESS" in page.text
    assert "unavailable (ConnectError)" in page.text


@pytest.mark.parametrize(
    "path",
    [
        "tasks?kind=NOPE",
        "tasks?state=DONE",
        "search?status=FINISHED",
        f"search?q={'x' * 129}",
        f"tasks?kind={'K' * 300}",
        "withdrawals/WITHDRAW-unknown",
        "withdrawals/" + "w" * 300,
        "tasks/no-such-task/retry",
        "tasks/no-such-task/resolve",
    ],
)
async def test_crafted_addresses_get_a_page_not_a_500(
    console: httpx.AsyncClient, path: str
) -> None:
    await signed_in(console)
    answer = await console.get(f"/ops/console/{path}")
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.headers["content-type"].startswith("text/html")  # a page, not JSON
    assert "That did not work" in answer.text and "Traceback" not in answer.text


async def test_an_action_needs_the_session_csrf_token_and_this_origin(
    console: httpx.AsyncClient, task_id: str, temporal: FakeClient
) -> None:
    csrf = await signed_in(console)
    url = f"/ops/console/tasks/{task_id}/resolve"
    for data, headers in (
        ({"note": "forged"}, {}),  # no CSRF token
        ({"note": "forged", "csrf": "wrong"}, {}),
        ({"note": "forged", "csrf": "é"}, {}),  # beyond ASCII: refused, not a 500
        ({"note": "forged", "csrf": csrf}, {"Origin": "https://evil.example"}),
        ({"note": "forged", "csrf": csrf}, {"Origin": "https://console.test"}),  # other scheme
        ({"note": "forged", "csrf": csrf}, {"Origin": "null"}),
    ):
        refused = await console.post(url, data=data, headers=headers)
        assert refused.status_code == 403, (data, headers, refused.text)
    # Saying nothing of where it comes from is refused too; a same-origin fetch may say so.
    del console.headers["Origin"]
    refused = await console.post(url, data={"note": "forged", "csrf": csrf})
    assert refused.status_code == 403
    console.headers["Sec-Fetch-Site"] = "cross-site"
    assert (await console.post(url, data={"note": "x", "csrf": csrf})).status_code == 403
    console.headers["Origin"] = BASE
    retry = await console.post(f"/ops/console/tasks/{task_id}/retry", data={"csrf": "wrong"})
    assert retry.status_code == 403
    assert temporal.started == []
    not_a_form = await console.post(url, content=b"note=x&csrf=" + csrf.encode())
    assert not_a_form.status_code == 422  # no form content type
    huge = await console.post(url, data={"note": "n" * 70_000, "csrf": csrf})
    assert huge.status_code == 422
    as_json = await console.post(url, json={"note": "x", "csrf": csrf})
    assert as_json.status_code == 422
    tasks = (await console.get("/ops/console/tasks")).text
    assert f'data-task="{task_id}"' in tasks  # still open


async def test_resolving_needs_a_note_and_records_the_operator(
    console: httpx.AsyncClient, task_id: str, repository: WithdrawalRepository
) -> None:
    csrf = await signed_in(console)
    url = f"/ops/console/tasks/{task_id}/resolve"
    blank = await console.post(url, data={"note": "  ", "csrf": csrf})
    assert blank.status_code == 422 and "A note of 1 to 2,000 characters" in blank.text
    nul = await console.post(url, data={"note": "by hand\x00", "csrf": csrf})
    assert nul.status_code == 422  # a control character (PostgreSQL cannot store a NUL)
    # A long note in a script that percent-encodes to many bytes still fits the form.
    wide = "資" * 2000
    kept = await console.post(url, data={"note": wide + "x", "csrf": csrf})
    assert kept.status_code == 422 and wide in kept.text  # too long: shown again, not lost
    done = await console.post(url, data={"note": "reversed by hand", "csrf": csrf})
    assert done.status_code == 200 and "No money was moved" in done.text
    task = OperationsRepository(repository.engine).get_task(task_id)
    assert task is not None
    assert (task.state, task.resolved_by, task.note) == (
        TaskState.RESOLVED,
        "ops-erin",
        "reversed by hand",
    )
    again = await console.post(url, data={"note": "again", "csrf": csrf})
    assert again.status_code == 409 and "not open" in again.text


async def test_a_retry_runs_in_the_operators_name(
    console: httpx.AsyncClient, task_id: str, temporal: FakeClient
) -> None:
    csrf = await signed_in(console)
    confirm = await console.get(f"/ops/console/tasks/{task_id}/retry")
    assert "USD 150.00 leaves the customer&#39;s bank account" in confirm.text
    done = await console.post(f"/ops/console/tasks/{task_id}/retry", data={"csrf": csrf})
    assert done.status_code == 200
    # What the retry's workflow answered (the fake: reversed) is what the page says.
    assert "The transfer is reversed" in done.text
    assert [(r.operator, r.retry_of_task) for r, _ in temporal.started] == [("ops-erin", task_id)]


async def test_a_retry_is_not_offered_where_the_desk_would_refuse_it(
    console: httpx.AsyncClient, task_id: str, repository: WithdrawalRepository
) -> None:
    await signed_in(console)
    OperationsRepository(repository.engine).resolve(task_id, "ops-erin", "done by hand")
    confirm = await console.get(f"/ops/console/tasks/{task_id}/retry")
    assert "This task cannot be retried: the task is not open." in confirm.text
    assert "Yes, retry the reversal" not in confirm.text


async def test_resolving_waits_for_a_running_retry(
    console: httpx.AsyncClient, task_id: str, temporal: FakeClient
) -> None:
    csrf = await signed_in(console)
    temporal.running.add(f"{WF}-compensation-retry-{task_id}")
    form = await console.get(f"/ops/console/tasks/{task_id}/resolve")
    assert "is still running" in form.text
    refused = await console.post(
        f"/ops/console/tasks/{task_id}/resolve", data={"note": "by hand", "csrf": csrf}
    )
    assert refused.status_code == 409 and "still running" in refused.text


async def test_search_finds_by_each_id_and_by_status(
    console: httpx.AsyncClient, task_id: str
) -> None:
    await signed_in(console)
    for params in (
        {"q": WF},
        {"q": f"cid-{WF}"},
        {"q": "user-1001"},
        {"q": "user-1001", "status": "MANUAL_COMPENSATION_REQUIRED"},
        {"status": "MANUAL_COMPENSATION_REQUIRED"},
    ):
        page = await console.get("/ops/console/search", params=params)
        assert f"/ops/console/withdrawals/{WF}" in page.text, params
    none = await console.get(
        "/ops/console/search", params={"q": "user-1001", "status": "COMPLETED"}
    )
    assert "Nothing matches" in none.text


async def test_in_flight_shows_counts_and_oldest_per_status(
    console: httpx.AsyncClient, repository: WithdrawalRepository, make_state: MakeState
) -> None:
    repository.save(make_state(WF, statuses=[S.INITIATED, S.AWAITING_OTP]))
    await signed_in(console)
    page = (await console.get("/ops/console/in-flight")).text
    assert "AWAITING_OTP" in page and "search?status=AWAITING_OTP" in page


async def test_signing_out_ends_the_session(console: httpx.AsyncClient) -> None:
    csrf = await signed_in(console)
    out = await console.post("/ops/console/sign-out", data={"csrf": csrf})
    assert out.status_code == 303
    assert (await console.get("/ops/console/tasks")).status_code == 303


async def test_the_docs_page_loads_its_assets_from_the_app(console: httpx.AsyncClient) -> None:
    page = await console.get("/docs")
    assert "http://" not in page.text and "https://" not in page.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert f"/docs/assets/{asset}" in page.text
        assert (await console.get(f"/docs/assets/{asset}")).status_code == 200
    for other in ("__init__.py", "..%2Fmain.py", "nothing.js"):
        assert (await console.get(f"/docs/assets/{other}")).status_code == 404
    assert (await console.get("/redoc")).status_code == 404  # it would load from a CDN


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    light, dark = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_every_text_colour_keeps_aa_contrast() -> None:
    css = (Path(sessions.__file__).parent / "static" / "console.css").read_text()
    colours = dict(re.findall(r"--([a-z]+):\s*(#[0-9a-fA-F]{6})", css))
    # Text colours on the page, the header band and the "what happens" box; white on buttons.
    for text in ("ink", "muted", "link", "ok", "bad", "warn"):
        for background in (colours["paper"], colours["band"], "#fff8e6"):
            assert contrast(colours[text], background) >= 4.5, (text, background)
    assert contrast("#ffffff", colours["link"]) >= 4.5
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0  # the formula itself


async def test_outside_dev_the_session_cookie_is_secure(
    tmp_path: Path, repository: WithdrawalRepository
) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    settings = Settings(
        environment="production",
        **PRODUCTION_PLACES,
        data_dir=tmp_path,
        retry_policies=RETRY_POLICIES,
        jwt_secret=SecretStr(SECRET),
        codec_keys=SecretStr(f"k1:{key}"),
    )
    app: FastAPI = create_app(settings)
    state = api_state(settings, FakeClient(), load_policies(RETRY_POLICIES))  # type: ignore[arg-type]
    install_state(app, state)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="https://ops.test", headers={"Origin": "https://ops.test"}
    ) as client:
        token = token_for(settings, "ops-erin", ["ops"], 600)
        answer = await client.post("/ops/console/sign-in", data={"token": token})
    await state.http.aclose()
    state.repository.engine.dispose()
    assert answer.status_code == 303
    assert "secure" in answer.headers["set-cookie"].lower()
