"""The operator console in a real browser (Debian's chromium driven by Playwright), against the
running stack: an operator signs in with an ops token, finds a failed reversal among the open
tasks, retries it once the bank takes reversals again and sees the withdrawal COMPENSATED,
resolves another task with a note; a customer's token and a form without its CSRF token are
refused; `/docs` renders from the app alone. Each page is saved as a screenshot under
test-output/console/."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright

from tests.e2e.conftest import RunningStack
from tests.e2e.test_withdrawal import finalize, initiate, ledger_for, token

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "console"
OPERATOR = "ops-dana"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), "Debian's chromium is missing: `make chromium` installs it"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    opened = context.new_page()
    yield opened
    context.close()


UNLABELLED = """() => [...document.querySelectorAll(
    'input:not([type=hidden]), select, textarea, button, a[href]')]
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                && !el.textContent.trim())
  .map(el => el.outerHTML)"""


def shot(page: Page, name: str, console: bool = True) -> None:
    """Save the page, after checking what every console page must have: a language, one
    heading to start from, and a name for every control (a label, or the text a screen reader
    reads)."""
    if console:
        check_accessible(page, name)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def check_accessible(page: Page, name: str) -> None:
    assert page.locator("html").get_attribute("lang") == "en", name
    expect(page.locator("h1")).to_have_count(1)
    assert page.evaluate(UNLABELLED) == [], name


def sign_in(page: Page, stack: RunningStack, who: str = OPERATOR, role: str = "ops") -> None:
    bearer = token(stack, who, role)["Authorization"].removeprefix("Bearer ")
    page.goto(f"{stack.api_url}/ops/console/tasks")
    expect(page).to_have_url(f"{stack.api_url}/ops/console/sign-in")  # no session yet
    page.get_by_label("Operator token").fill(bearer)
    # The form's POST is a navigation (to the tasks, or back to the sign-in page with its
    # refusal): wait for its page to load, so a key pressed next reaches that page.
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Sign in").click()


def customer(stack: RunningStack, user_id: str, account: str) -> dict[str, str]:
    created = httpx.post(
        f"{stack.sim_url}/_sim/users",
        json={
            "userId": user_id,
            "pin": f"P-{user_id}",
            "customerName": f"Customer {user_id}",
            "dwAccountNo": f"DW{account}",
            "dwAccountId": f"acc-{account}",
        },
    )
    assert created.status_code in (200, 201), created.text
    return token(stack, user_id)


def fault(stack: RunningStack, service: str, operation: str, mode: str, user_id: str) -> None:
    httpx.post(
        f"{stack.sim_url}/_sim/faults",
        json={
            "service": service,
            "operation": operation,
            "mode": mode,
            "probability": 1.0,
            "match": {"userId": user_id},
        },
    ).raise_for_status()


def failed_reversal(stack: RunningStack, user_id: str, account: str, amount: str) -> dict[str, Any]:
    """A withdrawal whose redemption DriveWealth refused and whose reversal the bank refused:
    it waits for an operator (MANUAL_COMPENSATION_REQUIRED, a COMPENSATION_FAILED task)."""
    headers = customer(stack, user_id, account)
    fault(stack, "drivewealth", "redemption", "reject", user_id)
    fault(stack, "transfer", "reverse", "reject", user_id)
    data = initiate(stack, headers, amount)
    answer = finalize(stack, headers, data)
    assert answer.status_code in (200, 202), answer.text
    return {**data, "headers": headers, "state": wait_status(stack, data, headers)}


def wait_status(stack: RunningStack, data: dict[str, Any], headers: dict[str, str]) -> Any:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = httpx.get(
            f"{stack.api_url}/withdraw/status/{data['workflowId']}", headers=headers
        ).json()["data"]
        if state["status"] == "MANUAL_COMPENSATION_REQUIRED" and state["compensation"]["taskId"]:
            return state
        time.sleep(0.5)
    raise AssertionError(f"never reached MANUAL_COMPENSATION_REQUIRED: {state}")


def task_row(page: Page, task_id: str) -> Any:
    return page.locator(f"tr[data-task='{task_id}']")


def test_an_operator_retries_a_failed_reversal_from_the_console(
    running_stack: RunningStack, page: Page
) -> None:
    stack = running_stack
    withdrawal = failed_reversal(stack, "user-console-a", "C001", "321.45")
    task_id = withdrawal["state"]["compensation"]["taskId"]

    page.goto(f"{stack.api_url}/ops/console/sign-in")
    shot(page, "01-sign-in")
    sign_in(page, stack)
    expect(page).to_have_url(f"{stack.api_url}/ops/console/tasks")
    expect(page.get_by_text(f"Signed in as {OPERATOR}")).to_be_visible()
    # The session is a cookie the page's scripts cannot read, sent to this site only.
    (cookie,) = page.context.cookies()
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (
        True,
        "Strict",
        "/ops/console",
    )

    # Open tasks, oldest first, with the count per kind the alerts use.
    row = task_row(page, task_id)
    expect(row).to_contain_text("COMPENSATION_FAILED")
    expect(row).to_contain_text("USD 321.45")
    expect(row).to_contain_text("OPEN")
    count = page.locator("td[data-kind-count='COMPENSATION_FAILED']")
    assert int(count.inner_text()) >= 1
    shot(page, "02-open-tasks")

    # The withdrawal: timeline, references, what the bank says now, a link to Temporal.
    row.get_by_role("link", name=withdrawal["workflowId"]).click()
    expect(page.locator("#status")).to_have_text("MANUAL_COMPENSATION_REQUIRED")
    expect(page.locator("ol.timeline li")).to_have_count(len(withdrawal["state"]["history"]))
    ledger = page.locator("table.ledger")
    expect(ledger).to_contain_text(withdrawal["state"]["transferReferenceNumber"])
    expect(ledger).to_contain_text("SUCCESS")  # the bank still shows the customer paid
    link = page.get_by_role("link", name="Open the workflow in the Temporal UI")
    assert link.get_attribute("href") == (
        f"http://127.0.0.1:{stack.ports['ui']}/namespaces/default/workflows/"
        f"{withdrawal['workflowId']}"
    )
    shot(page, "03-withdrawal")

    # The bank takes reversals again; the operator retries, after reading what it will do.
    httpx.delete(f"{stack.sim_url}/_sim/faults").raise_for_status()
    task_row(page, task_id).get_by_role("link", name="Retry reversal").click()
    expect(page.get_by_role("note")).to_contain_text(
        "USD 321.45 leaves the customer's bank account"
    )
    shot(page, "04-confirm-retry")
    page.get_by_role("button", name="Yes, retry the reversal").click()
    expect(page.get_by_role("status")).to_contain_text("the withdrawal is COMPENSATED")
    shot(page, "05-retried")

    page.get_by_role("link", name="See the withdrawal").click()
    expect(page.locator("#status")).to_have_text("COMPENSATED")
    expect(task_row(page, task_id).locator(".task-state")).to_have_text("RESOLVED")
    expect(task_row(page, task_id)).to_contain_text(f"resolved by {OPERATOR}")

    # The API, the database and the bank agree: reversed once, in the operator's name.
    state = httpx.get(
        f"{stack.api_url}/withdraw/status/{withdrawal['workflowId']}",
        headers=withdrawal["headers"],
    ).json()["data"]
    assert state["status"] == "COMPENSATED"
    money = ledger_for(stack, withdrawal["correlationId"])
    assert [t["status"] for t in money["transfers"]] == ["REVERSED"]
    # The bank's refusal, then the operator's retry: one reversal applied.
    assert [r["status"] for r in money["reversals"]] == ["FAILED", "SUCCESS"]
    assert money["redemptions"] == []
    ops = token(stack, "ops-auditor", "ops")
    resolved = httpx.get(
        f"{stack.api_url}/ops/compensation-tasks", params={"state": "RESOLVED"}, headers=ops
    ).json()["data"]
    assert [t["resolvedBy"] for t in resolved if t["id"] == task_id] == [OPERATOR]


def test_an_operator_resolves_a_task_with_a_note(running_stack: RunningStack, page: Page) -> None:
    stack = running_stack
    withdrawal = failed_reversal(stack, "user-console-b", "C002", "12.30")
    httpx.delete(f"{stack.sim_url}/_sim/faults").raise_for_status()
    task_id = withdrawal["state"]["compensation"]["taskId"]
    sign_in(page, stack)

    # By keyboard: the first Tab reaches "Skip to content", which moves focus to the page.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    task_row(page, task_id).get_by_role("link", name="Resolve").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("note")).to_contain_text("No money moves")
    note = page.get_by_label("Note: what was done (required)")
    assert note.get_attribute("required") is not None
    # A blank note (the browser's own check bypassed) is refused by the server too.
    note.evaluate("element => element.removeAttribute('required')")
    note.fill("   ")
    page.get_by_role("button", name="Resolve the task").click()
    expect(page.get_by_role("alert")).to_contain_text("A note of 1 to 2,000 characters")
    note.fill("Reversed by hand at the bank, ticket BNK-4411")
    shot(page, "06-confirm-resolve")
    page.get_by_role("button", name="Resolve the task").click()
    expect(page.get_by_role("status")).to_contain_text("No money was moved")
    shot(page, "07-resolved")

    ops = token(stack, "ops-auditor", "ops")
    resolved = httpx.get(
        f"{stack.api_url}/ops/compensation-tasks", params={"state": "RESOLVED"}, headers=ops
    ).json()["data"]
    (done,) = [t for t in resolved if t["id"] == task_id]
    assert (done["resolvedBy"], done["note"]) == (
        OPERATOR,
        "Reversed by hand at the bank, ticket BNK-4411",
    )
    money = ledger_for(stack, withdrawal["correlationId"])
    assert [r["status"] for r in money["reversals"]] == ["FAILED"]  # only the bank's refusal

    # Search by user id and by correlation id; in flight now.
    page.get_by_role("link", name="Search").click()
    page.get_by_label("Workflow id, correlation id or user id").fill("user-console-b")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("table.results")).to_contain_text(withdrawal["workflowId"])
    page.get_by_label("Workflow id, correlation id or user id").fill(withdrawal["correlationId"])
    page.get_by_role("button", name="Search").click()
    expect(page.locator("table.results tbody tr")).to_have_count(1)
    shot(page, "08-search")
    waiting = initiate(stack, withdrawal["headers"], "5.00")
    page.get_by_role("link", name="In flight").click()
    expect(page.locator("table.in-flight")).to_contain_text("AWAITING_OTP")
    shot(page, "09-in-flight")
    httpx.post(
        f"{stack.api_url}/withdraw/{waiting['workflowId']}/cancel", headers=withdrawal["headers"]
    ).raise_for_status()


def test_a_customer_token_and_forged_forms_are_refused(
    running_stack: RunningStack, page: Page
) -> None:
    stack = running_stack
    sign_in(page, stack, "user-1001", "customer")
    expect(page.get_by_role("alert")).to_contain_text("the ops role is required")
    assert page.context.cookies() == []  # no session was opened
    shot(page, "10-customer-refused")

    withdrawal = failed_reversal(stack, "user-console-c", "C003", "7.00")
    httpx.delete(f"{stack.sim_url}/_sim/faults").raise_for_status()
    task_id = withdrawal["state"]["compensation"]["taskId"]
    sign_in(page, stack)
    url = f"{stack.api_url}/ops/console/tasks/{task_id}/resolve"
    page.goto(url)
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    # The session cookie goes along (same context); only the CSRF token or origin is wrong.
    own = {"Origin": stack.api_url}
    for form, headers in (
        ({"note": "forged"}, own),
        ({"note": "forged", "csrf": "not-the-token"}, own),
        ({"note": "forged", "csrf": csrf}, {"Origin": "http://evil.example"}),
        ({"note": "forged", "csrf": csrf}, {}),  # says nothing of where it comes from
    ):
        refused = page.request.post(url, form=form, headers=headers, max_redirects=0)
        assert refused.status == 403, refused.text()
    retry = page.request.post(
        f"{stack.api_url}/ops/console/tasks/{task_id}/retry", form={}, headers=own, max_redirects=0
    )
    assert retry.status == 403
    page.reload()
    expect(page.locator("dd.task-state")).to_have_text("OPEN")  # nothing changed
    money = ledger_for(stack, withdrawal["correlationId"])
    assert [Decimal(t["amount"]) for t in money["transfers"]] == [Decimal("7.00")]
    assert [r["status"] for r in money["reversals"]] == ["FAILED"]  # only the bank's refusal

    # Signed out, the same page is the sign-in again.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{stack.api_url}/ops/console/sign-in")
    page.goto(url)
    expect(page).to_have_url(f"{stack.api_url}/ops/console/sign-in")


def test_the_api_docs_render_without_any_other_host(
    running_stack: RunningStack, page: Page
) -> None:
    stack = running_stack
    elsewhere: list[str] = []

    def only_loopback(route: Route) -> None:
        host = httpx.URL(route.request.url).host
        if host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_loopback)
    page.goto(f"{stack.api_url}/docs")
    operations = httpx.get(f"{stack.api_url}/openapi.json").json()["paths"]
    count = sum(len(methods) for methods in operations.values())
    expect(page.locator(".opblock")).to_have_count(count)
    expect(page.locator(".opblock-summary-path", has_text="/withdraw/initiate")).to_be_visible()
    shot(page, "11-api-docs", console=False)
    assert elsewhere == []
