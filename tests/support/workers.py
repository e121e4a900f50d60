"""The one place that wires a workflow-tier test worker: both workflows, as production
registers them (`bootstrap.build_worker`, interceptors included), with a test's fake
activities in place of the real ones."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from temporalio.client import Client
from temporalio.worker import Worker

from tests.support.fake_activities import FakeActivities
from withdraw_service.bootstrap import build_worker


@asynccontextmanager
async def fake_worker(
    client: Client, task_queue: str, fakes: FakeActivities
) -> AsyncIterator[Worker]:
    """A running worker on `task_queue` whose activities are `fakes`; stopped on exit."""
    async with build_worker(client, task_queue, fakes.all()) as worker:
        yield worker
