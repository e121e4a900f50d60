"""Load: N flows at a given concurrency, each lane one customer doing its flows one after the
other (a brokerage account has one withdrawal in flight at a time). A flow is a withdrawal
through the public API, or the bare shape straight on Temporal; both report how long their
initiate and their finalize took."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal

import httpx
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowUpdateStage
from temporalio.common import WorkflowIDConflictPolicy

from withdraw_service.bench.shape import BareWithdrawShape
from withdraw_service.domain.statuses import WithdrawStatus

Flow = Callable[[int], Awaitable[tuple[float, float]]]
"""One flow by lane number: answers (initiate ms, finalize ms), or raises FlowFailed."""


class FlowFailed(Exception):
    """A flow that did not end as a completed withdrawal; the text says how (no secrets)."""


@dataclass
class Samples:
    initiate_ms: list[float] = field(default_factory=list)
    finalize_ms: list[float] = field(default_factory=list)
    failed: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def completed(self) -> int:
        return len(self.finalize_ms)


async def run_load(
    flow: Flow, n: int, concurrency: int, advance: Callable[[], None] = lambda: None
) -> Samples:
    samples = Samples()
    remaining = iter(range(n))

    async def lane(number: int) -> None:
        for _ in remaining:
            try:
                initiate, finalize = await flow(number)
            except FlowFailed as failed:
                samples.failed[str(failed)] += 1
            else:
                samples.initiate_ms.append(initiate)
                samples.finalize_ms.append(finalize)
            advance()

    started = time.perf_counter()
    await asyncio.gather(*(lane(i) for i in range(concurrency)))
    samples.seconds = time.perf_counter() - started
    return samples


def elapsed_ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000


@dataclass
class ServiceFlows:
    """Withdrawals through the public API, one simulated customer per lane."""

    http: httpx.AsyncClient
    api_url: str
    sim_url: str
    tokens: dict[int, str]  # lane -> the lane's customer's bearer token
    amount: Decimal = Decimal("1.00")

    async def flow(self, lane: int) -> tuple[float, float]:
        headers = {"Authorization": f"Bearer {self.tokens[lane]}"}
        started = time.perf_counter()
        answer = await self.http.post(
            f"{self.api_url}/withdraw/initiate",
            json={
                "amount": str(self.amount),
                "productNumber": f"BENCH-{lane:05d}",
                "frontendSimaReady": False,
            },
            headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
        )
        initiate = elapsed_ms(started)
        data = _data(answer, "initiate", WithdrawStatus.AWAITING_OTP)
        otp = (await self.http.get(f"{self.sim_url}/_sim/otp/{data['authorisationId']}")).json()
        started = time.perf_counter()
        answer = await self.http.put(
            f"{self.api_url}/withdraw/finalize/{data['workflowId']}",
            json={"otpCode": otp["otp"]},
            headers=headers,
        )
        finalize = elapsed_ms(started)
        _data(answer, "finalize", WithdrawStatus.COMPLETED)
        return initiate, finalize

    async def hold(self, lane: int) -> dict[str, str]:
        """Initiate only: the withdrawal waits for its OTP."""
        answer = await self.http.post(
            f"{self.api_url}/withdraw/initiate",
            json={"amount": str(self.amount), "productNumber": "BENCH", "frontendSimaReady": False},
            headers={"Authorization": f"Bearer {self.tokens[lane]}"},
        )
        data: dict[str, str] = _data(answer, "initiate", WithdrawStatus.AWAITING_OTP)
        return data

    async def release(self, lane: int, data: dict[str, str]) -> None:
        otp = (await self.http.get(f"{self.sim_url}/_sim/otp/{data['authorisationId']}")).json()
        answer = await self.http.put(
            f"{self.api_url}/withdraw/finalize/{data['workflowId']}",
            json={"otpCode": otp["otp"]},
            headers={"Authorization": f"Bearer {self.tokens[lane]}"},
        )
        _data(answer, "finalize", WithdrawStatus.COMPLETED)

    async def status_ms(self, lane: int, workflow_id: str) -> float:
        started = time.perf_counter()
        answer = await self.http.get(
            f"{self.api_url}/withdraw/status/{workflow_id}",
            headers={"Authorization": f"Bearer {self.tokens[lane]}"},
        )
        took = elapsed_ms(started)
        # Still waiting: a withdrawal whose OTP ran out (a running stack's own timeout may be
        # shorter than the hold) would no longer be what is measured.
        _data(answer, "status", WithdrawStatus.AWAITING_OTP)
        return took


def _data(answer: httpx.Response, step: str, status: str) -> dict[str, str]:
    if answer.status_code != 200:
        raise FlowFailed(f"{step} answered {answer.status_code}")
    data: dict[str, str] = answer.json()["data"]
    if data.get("status") != status:
        raise FlowFailed(f"{step} ended {data.get('status')}")
    return data


@dataclass
class BareFlows:
    """The bare withdraw shape on the same server (its worker runs in this process)."""

    client: Client
    task_queue: str
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    count: int = 0

    async def flow(self, lane: int) -> tuple[float, float]:
        self.count += 1
        start = WithStartWorkflowOperation(
            BareWithdrawShape.run,
            id=f"bare-{self.run_id}-{self.count}",
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
        started = time.perf_counter()
        handle = await self.client.start_update_with_start_workflow(
            BareWithdrawShape.initiate,
            start_workflow_operation=start,
            wait_for_stage=WorkflowUpdateStage.COMPLETED,
        )
        if await handle.result() != WithdrawStatus.AWAITING_OTP:
            raise FlowFailed("bare initiate")
        initiate = elapsed_ms(started)
        workflow = await start.workflow_handle()
        started = time.perf_counter()
        if (
            await workflow.execute_update(BareWithdrawShape.finalize, "123456")
            != WithdrawStatus.COMPLETED
        ):
            raise FlowFailed("bare finalize")
        return initiate, elapsed_ms(started)
