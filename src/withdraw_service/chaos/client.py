"""Customers of a chaos run, each driving one withdrawal through the public API as a real app
would: it sends a request again after a connection error or a `503 TEMPORARILY_UNAVAILABLE`
(after `Retry-After`, at most 1 s, to the next API process in turn), keeps its
Idempotency-Keys for its repeats, and reads the status until the withdrawal ends. Every HTTP
answer is counted; a 500 is never sent again."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

from withdraw_service.api.auth import token_for
from withdraw_service.chaos.scenarios import AMOUNT, START_CASH, Behaviour, Scenario
from withdraw_service.domain.outcomes import DwRedemptionStatus, ProblemCode
from withdraw_service.domain.statuses import TERMINAL
from withdraw_service.domain.statuses import WithdrawStatus as S
from withdraw_service.settings import Settings

CALL_DEADLINE_SECONDS = 180.0
END_DEADLINE_SECONDS = 600.0


@dataclass
class Answers:
    """Every HTTP status the customers saw, and what they could not do."""

    statuses: Counter[int] = field(default_factory=Counter)
    connection_errors: int = 0
    server_errors: list[str] = field(default_factory=list)  # each 500, with its request


class Api:
    """The API processes behind one client: a request goes to the next one in turn."""

    def __init__(self, urls: list[str], answers: Answers) -> None:
        self._clients = [httpx.AsyncClient(base_url=url, timeout=30) for url in urls]
        self._turn = itertools.cycle(range(len(urls)))
        self._retired: list[httpx.AsyncClient] = []
        self.answers = answers

    def replace(self, old: str, new: str) -> None:
        """Send new requests to `new` instead of `old`, as a load balancer does once a
        rollout's new pod is ready and the old one terminating; those under way finish."""
        for index, client in enumerate(self._clients):
            if str(client.base_url).rstrip("/") == old.rstrip("/"):
                self._retired.append(client)
                self._clients[index] = httpx.AsyncClient(base_url=new, timeout=30)
                return
        raise ValueError(f"no API at {old}")

    async def aclose(self) -> None:
        for client in [*self._clients, *self._retired]:
            await client.aclose()

    async def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        deadline = time.monotonic() + CALL_DEADLINE_SECONDS
        while True:
            client = self._clients[next(self._turn)]
            try:
                response = await client.request(method, path, **kwargs)
            except httpx.TransportError:
                self.answers.connection_errors += 1
                response = None
            if response is not None:
                self.answers.statuses[response.status_code] += 1
                if response.status_code >= 500 and not may_repeat(response):
                    if response.status_code == 500:
                        self.answers.server_errors.append(f"{method} {path}: {response.text}")
                    return response
                if response.status_code < 500:
                    return response
                pause = min(float(response.headers.get("Retry-After", "1")), 1.0)
            else:
                pause = 0.3
            if time.monotonic() > deadline:
                raise TimeoutError(f"{method} {path}: no answer for {CALL_DEADLINE_SECONDS:g}s")
            await asyncio.sleep(pause)


def may_repeat(response: httpx.Response) -> bool:
    """Only `503 TEMPORARILY_UNAVAILABLE` says the same request may succeed later."""
    if response.status_code != 503:
        return False
    try:
        return bool(response.json().get("code") == ProblemCode.TEMPORARILY_UNAVAILABLE)
    except ValueError:
        return False


def sim_customer(user_id: str, tag: str, number: int) -> dict[str, Any]:
    """A `POST /_sim/users` body for a customer of its own: pin and accounts made unique by
    `tag` (two capital letters) and `number`, the demo customers' cash."""
    return {
        "userId": user_id,
        "pin": f"{tag}{number:06d}",
        "customerName": f"Customer {tag}-{number}",
        "dwAccountNo": f"DW{tag}{number:06d}",
        "dwAccountId": f"acc-{tag.lower()}-{number}",
        "cashBalance": str(START_CASH),
    }


@dataclass
class Outcome:
    number: int
    scenario: str
    expected: S
    user_id: str
    workflow_id: str | None = None
    correlation_id: str | None = None
    reached: str | None = None  # the end status, or why none was seen
    findings: list[str] = field(default_factory=list)  # what the customer saw that is wrong


@dataclass
class Customer:
    number: int
    scenario: Scenario
    api: Api
    sim: httpx.AsyncClient
    settings: Settings
    outcome: Outcome = field(init=False)

    def __post_init__(self) -> None:
        self.user_id = f"chaos-{self.number}"
        self.outcome = Outcome(self.number, self.scenario.name, self.scenario.ends, self.user_id)
        token = token_for(self.settings, self.user_id, ["customer"], 3600)
        self.auth = {"Authorization": f"Bearer {token}"}

    async def prepare(self) -> None:
        """The customer exists in every simulated service, with the scenario's faults."""
        customer = sim_customer(self.user_id, "CH", self.number)
        (await self.sim.post("/_sim/users", json=customer)).raise_for_status()
        for fault in self.scenario.faults:
            (await self.sim.post("/_sim/faults", json=fault.body(self.user_id))).raise_for_status()

    async def run(self) -> Outcome:
        try:
            await self._run()
        except Exception as exc:  # reported, never raised: one customer never stops the run
            self.outcome.findings.append(f"{type(exc).__name__}: {exc}")
        return self.outcome

    async def _run(self) -> None:
        behaviour = self.scenario.behaviour
        amount = START_CASH * 2 if behaviour == Behaviour.TOO_LITTLE_CASH else AMOUNT
        key = str(uuid.uuid4())
        state = await self._initiate(amount, key)
        if behaviour == Behaviour.REPEAT_INITIATE:
            again = await self._initiate(amount, key)
            if again.get("workflowId") != state.get("workflowId"):
                self.outcome.findings.append("a repeated initiate made another withdrawal")
        workflow_id = state["workflowId"]
        self.outcome.workflow_id = workflow_id
        self.outcome.correlation_id = state.get("correlationId")
        if state.get("status") == S.INITIATED:
            state = await self._state_when(workflow_id, lambda s: s["status"] != S.INITIATED)
        if state["status"] == S.AWAITING_OTP:
            await self._answer_otp(workflow_id, state)
        if behaviour == Behaviour.DW_SETTLES:
            await self._settle_when_pending(workflow_id)
        end = await self._state_when(workflow_id, lambda s: s["status"] in TERMINAL)
        self.outcome.correlation_id = end.get("correlationId")
        self.outcome.reached = end["status"]

    async def _settle_when_pending(self, workflow_id: str) -> None:
        """DriveWealth settles the redemption it accepted, a moment after accepting it."""
        state = await self._state_when(
            workflow_id, lambda s: s["status"] in TERMINAL or s["status"] == S.DW_REDEMPTION_PENDING
        )
        if state["status"] != S.DW_REDEMPTION_PENDING:
            return
        await asyncio.sleep(1)
        settled = await self.sim.post(
            f"/_sim/drivewealth/redemptions/{state['dwRedemptionId']}/settle",
            json={"status": DwRedemptionStatus.SUCCESSFUL.name},
        )
        if settled.status_code != 200:
            self.outcome.findings.append(f"settling answered {settled.status_code}")

    async def _initiate(self, amount: Decimal, key: str) -> dict[str, Any]:
        response = await self.api.send(
            "POST",
            "/withdraw/initiate",
            json={"amount": str(amount), "productNumber": "ACC-1", "frontendSimaReady": False},
            headers={**self.auth, "Idempotency-Key": key},
        )
        body: dict[str, Any] = response.json()
        if response.status_code in (200, 202):
            data: dict[str, Any] = body["data"]
            return data
        if "workflowId" in body:  # refused: the problem names the withdrawal it ended
            return {
                "workflowId": body["workflowId"],
                "correlationId": body.get("correlationId"),
                "status": body.get("withdrawStatus"),
            }
        raise RuntimeError(f"initiate answered {response.status_code}: {response.text[:300]}")

    async def _answer_otp(self, workflow_id: str, state: dict[str, Any]) -> None:
        behaviour = self.scenario.behaviour
        if behaviour == Behaviour.NO_OTP:
            return
        if behaviour == Behaviour.CANCEL:
            await self.api.send("POST", f"/withdraw/{workflow_id}/cancel", headers=self.auth)
            return
        otp = (await self.sim.get(f"/_sim/otp/{state['authorisationId']}")).json()["otp"]
        wrong = f"{(int(otp) + 1) % 10**6:06d}"
        if behaviour == Behaviour.WRONG_OTP_ALWAYS:
            for _ in range(20):
                answer, _ = await self._code(workflow_id, wrong)
                if answer is None or answer.status_code != 422:
                    return
            self.outcome.findings.append("twenty wrong codes and the OTP never expired")
            return
        if behaviour == Behaviour.WRONG_OTP_ONCE:
            answer = await self._finalize(workflow_id, wrong, str(uuid.uuid4()))
            if answer.status_code == 202:  # still being checked: the right one waits (409s)
                await asyncio.sleep(2)
            elif answer.status_code != 422:
                self.outcome.findings.append(f"a wrong code answered {answer.status_code}")
        first, key = await self._code(workflow_id, otp)
        if behaviour == Behaviour.REPEAT_FINALIZE and first is not None:
            again = await self._finalize(workflow_id, otp, key)  # the key that answered first
            if again.status_code != first.status_code:
                self.outcome.findings.append(
                    f"a repeated finalize answered {again.status_code}, "
                    f"the first {first.status_code}"
                )

    async def _code(self, workflow_id: str, code: str) -> tuple[httpx.Response | None, str]:
        """Send a code as a person would: while an earlier one is still being checked (a 409,
        or a 202 that left it waiting), wait and send it again, under a new Idempotency-Key
        (the old one keeps its first answer). The answer that settled it (None once the
        withdrawal has ended) and the key it answered."""
        for _ in range(60):
            key = str(uuid.uuid4())
            answer = await self._finalize(workflow_id, code, key)
            if answer.status_code not in (202, 409):
                return answer, key
            state = await self._state(workflow_id)
            if state["status"] in TERMINAL:
                return None, key
            if answer.status_code == 202 and state["status"] != S.AWAITING_OTP:
                return answer, key  # taken: the money is moving
            await asyncio.sleep(1)
        raise TimeoutError("a code was never taken or refused")

    async def _finalize(self, workflow_id: str, otp: str, key: str) -> httpx.Response:
        return await self.api.send(
            "PUT",
            f"/withdraw/finalize/{workflow_id}",
            json={"otpCode": otp},
            headers={**self.auth, "Idempotency-Key": key},
        )

    async def _state(self, workflow_id: str) -> dict[str, Any]:
        response = await self.api.send("GET", f"/withdraw/status/{workflow_id}", headers=self.auth)
        if response.status_code != 200:  # a withdrawal the API named is never 404 to its owner
            raise RuntimeError(f"status answered {response.status_code}")
        state: dict[str, Any] = response.json()["data"]
        return state

    async def _state_when(self, workflow_id: str, done: Any) -> dict[str, Any]:
        deadline = time.monotonic() + END_DEADLINE_SECONDS
        while True:
            state = await self._state(workflow_id)
            if done(state):
                return state
            if time.monotonic() > deadline:
                raise TimeoutError(f"not ended after {END_DEADLINE_SECONDS:g}s")
            await asyncio.sleep(0.5)
