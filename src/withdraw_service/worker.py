"""The worker process: runs WithdrawWorkflow and its activities until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.common import MetricMeter
from temporalio.worker import Interceptor

from withdraw_service.bootstrap import (
    connect_temporal,
    database_threads,
    metrics_runtime,
    worker_parts,
)
from withdraw_service.metrics import WithdrawMetrics
from withdraw_service.persistence.counters import AbuseCounters
from withdraw_service.persistence.db import migrate, require_schema
from withdraw_service.persistence.idempotency import IdempotencyRepository
from withdraw_service.schedules import ensure_reconciliation_schedule
from withdraw_service.settings import Settings
from withdraw_service.worker_health import WorkerHealth

log = logging.getLogger(__name__)


async def _schedule_reconciliation(client: Client, settings: Settings) -> None:
    """Reconciliation is a chore of the deployment, not of a withdrawal: a Schedule that
    cannot be created is reported, and withdrawals are still worked on."""
    try:
        await ensure_reconciliation_schedule(client, settings)
    except Exception:
        log.exception("the reconciliation schedule could not be created")


BACKLOG_INTERVAL_SECONDS = 15.0
PURGE_INTERVAL_SECONDS = 3600.0


async def run_worker(
    settings: Settings,
    stop: asyncio.Event | None = None,
    interceptors: Sequence[Interceptor] = (),
) -> None:
    asyncio.get_running_loop().set_default_executor(database_threads(settings))
    health = WorkerHealth()
    if settings.worker_health_port is not None:
        await health.start(settings.worker_metrics_host, settings.worker_health_port)
    try:
        await _prepare_and_poll(settings, stop or asyncio.Event(), interceptors, health)
    finally:
        await health.close()


async def _prepare_and_poll(
    settings: Settings,
    stop: asyncio.Event,
    interceptors: Sequence[Interceptor],
    health: WorkerHealth,
) -> None:
    await asyncio.to_thread(prepare_schema, settings)
    runtime = metrics_runtime(settings.worker_metrics_port, settings.worker_metrics_host)
    client = await connect_temporal(settings, runtime)
    metrics = WithdrawMetrics(runtime.metric_meter)
    await _schedule_reconciliation(client, settings)
    async with worker_parts(settings, metrics) as parts:
        worker = parts.worker(client, settings.task_queue, interceptors)
        log.info("worker polling task queue %s", settings.task_queue)
        keys = IdempotencyRepository(parts.repository.engine)
        async with worker:
            health.polling = True
            chores = [
                asyncio.create_task(
                    watch_backlog(client, settings.task_queue, runtime.metric_meter, stop)
                ),
                asyncio.create_task(
                    purge_expired_keys(
                        keys,
                        timedelta(days=settings.idempotency_key_ttl_days),
                        stop,
                        counters=AbuseCounters(parts.repository.engine),
                    )
                ),
            ]
            try:
                await stop.wait()
            finally:
                health.polling = False  # draining: not ready from the stop on
                for chore in chores:
                    chore.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await chore


def prepare_schema(settings: Settings) -> None:
    """Dev mode migrates; production refuses an older schema (the migration Job's work)."""
    if settings.migrates_on_start:
        migrate(settings.effective_database_url)
        return
    version = require_schema(settings.effective_database_url)
    if version.ahead:
        log.warning("the database's schema is newer than this release's (a rollout under way)")


async def purge_expired_keys(
    keys: IdempotencyRepository,
    ttl: timedelta,
    stop: asyncio.Event,
    interval: float = PURGE_INTERVAL_SECONDS,
    *,
    counters: AbuseCounters | None = None,
) -> None:
    """Remove Idempotency-Keys older than `ttl` (and the abuse limits' windows that are
    over), at start and then every `interval`. Every worker does it; a delete by age is the
    same whoever runs it."""
    while not stop.is_set():
        try:
            removed = await asyncio.to_thread(keys.purge, datetime.now(UTC) - ttl)
            if removed:
                log.info("removed %d expired Idempotency-Keys", removed)
            if counters is not None:
                await asyncio.to_thread(counters.purge, datetime.now(UTC))
        except Exception as exc:  # the database away: next time
            log.warning("expired Idempotency-Keys not removed: %s", type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


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
