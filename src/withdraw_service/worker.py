"""The worker process: runs WithdrawWorkflow and its activities until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.common import MetricMeter

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
from withdraw_service.metrics import WithdrawMetrics
from withdraw_service.persistence.db import migrate
from withdraw_service.settings import Settings

log = logging.getLogger(__name__)


BACKLOG_INTERVAL_SECONDS = 15.0


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    await asyncio.to_thread(migrate, settings.effective_database_url)
    runtime = metrics_runtime(settings.worker_metrics_port, settings.worker_metrics_host)
    client = await connect_temporal(settings, runtime)
    metrics = WithdrawMetrics(runtime.metric_meter)
    stop = stop or asyncio.Event()
    async with build_http(settings) as http:
        repository = build_repository(settings)
        activities = build_activities(settings, http, repository, metrics)
        operations = OperationsActivities(build_operations(repository), repository, metrics)
        worker = build_worker(client, settings.task_queue, activities, operations)
        log.info("worker polling task queue %s", settings.task_queue)
        async with worker:
            backlog = asyncio.create_task(
                watch_backlog(client, settings.task_queue, runtime.metric_meter, stop)
            )
            try:
                await stop.wait()
            finally:
                backlog.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await backlog


async def watch_backlog(
    client: Client,
    task_queue: str,
    meter: MetricMeter,
    stop: asyncio.Event,
    interval: float = BACKLOG_INTERVAL_SECONDS,
) -> None:
    """Export the task queue's approximate backlog (workflow + activity tasks waiting for a
    worker) as `withdraw_task_queue_backlog`: the SDK has no such metric, and the seed's
    WorkerQueueBacklog alert needs one. Every worker reports the same queue-wide figure."""
    gauge = meter.create_gauge(
        "withdraw_task_queue_backlog", "tasks waiting in the task queue for a worker"
    ).with_additional_attributes({"task_queue": task_queue})
    while not stop.is_set():
        try:
            gauge.set(await task_queue_backlog(client, task_queue))
        except Exception as exc:  # a blip must not stop the worker; the gauge keeps its value
            log.warning("task queue backlog not read: %s", type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


async def task_queue_backlog(client: Client, task_queue: str) -> int:
    total = 0
    for kind in (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY):
        answer = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=task_queue),
                task_queue_type=kind,
                report_stats=True,
            ),
            timeout=timedelta(seconds=5),
        )
        if not answer.HasField("stats"):  # a server too old to report it: no figure, not 0
            raise LookupError("the Temporal server does not report task queue stats")
        total += answer.stats.approximate_backlog_count
    return total
