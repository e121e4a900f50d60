"""The worker process: runs WithdrawWorkflow and its activities until stopped."""

from __future__ import annotations

import asyncio
import logging

from withdraw_service.activities.operations import OperationsActivities
from withdraw_service.bootstrap import (
    build_activities,
    build_http,
    build_operations,
    build_repository,
    build_worker,
    connect_temporal,
    metrics_runtime,
)
from withdraw_service.persistence.db import migrate
from withdraw_service.settings import Settings

log = logging.getLogger(__name__)


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    await asyncio.to_thread(migrate, settings.effective_database_url)
    client = await connect_temporal(settings, metrics_runtime(settings.worker_metrics_port))
    async with build_http(settings) as http:
        repository = build_repository(settings)
        activities = build_activities(settings, http, repository)
        operations = OperationsActivities(build_operations(repository), repository)
        worker = build_worker(client, settings.task_queue, activities, operations)
        log.info("worker polling task queue %s", settings.task_queue)
        async with worker:
            await (stop or asyncio.Event()).wait()
