"""The worker is tuned by the settings, as the configuration page says."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client

from tests.support.fake_activities import FakeActivities
from withdraw_service.bootstrap import build_worker
from withdraw_service.settings import Settings


async def test_the_settings_size_the_worker(client: Client, task_queue: str) -> None:
    settings = Settings(
        max_concurrent_activities=7,
        max_concurrent_workflow_tasks=5,
        max_cached_workflows=3,
        worker_shutdown_grace_seconds=12,
    )
    worker = build_worker(client, task_queue, FakeActivities().all(), settings)
    config = worker.config()
    assert config.get("max_concurrent_activities") == 7
    assert config.get("max_concurrent_workflow_tasks") == 5
    assert config.get("max_cached_workflows") == 3
    assert config.get("graceful_shutdown_timeout") == timedelta(seconds=12)
