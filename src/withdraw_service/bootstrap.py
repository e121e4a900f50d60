"""Wiring: turns one `Settings` into the clients, repositories, activities and Temporal
connections that the API, the worker and the tests use. Nothing connects until called.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import httpx
import yaml
from temporalio.client import Client
from temporalio.common import HeaderCodecBehavior
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker

from withdraw_service.activities.operations import OperationsActivities
from withdraw_service.activities.withdraw import WithdrawActivities
from withdraw_service.adapters.http_base import JsonServiceClient
from withdraw_service.adapters.http_clients import (
    HttpDriveWealth,
    HttpTransferChecker,
    HttpTransferService,
    HttpUserDirectory,
)
from withdraw_service.codec import EncryptionCodec, KeyRing
from withdraw_service.domain.policies import RetryPolicies
from withdraw_service.logs import LogContextInterceptor, temporal_core_logging
from withdraw_service.metrics import DURATION, DURATION_BUCKETS, WithdrawMetrics
from withdraw_service.persistence.db import make_engine
from withdraw_service.persistence.operations import OperationsRepository
from withdraw_service.persistence.repository import WithdrawalRepository
from withdraw_service.settings import Settings
from withdraw_service.workflows.compensation import CompensationWorkflow
from withdraw_service.workflows.withdraw import WithdrawWorkflow

WORKFLOWS = [WithdrawWorkflow, CompensationWorkflow]


def load_policies(path: Path) -> RetryPolicies:
    with path.open(encoding="utf-8") as handle:
        return RetryPolicies.model_validate(yaml.safe_load(handle))


def keyring(settings: Settings) -> KeyRing:
    return KeyRing.parse(settings.codec_keys.get_secret_value(), settings.codec_key_id)


def data_converter(settings: Settings) -> DataConverter:
    """Pydantic payloads (Decimal stays Decimal), encrypted by the codec: the same converter
    for the API, the worker and anything else that reads or writes withdrawal payloads.
    Failures' messages and stack traces travel as encoded attributes, so they are encrypted
    too (an upstream's error text may hold anything); the code that reads them sees them
    decoded, and failures recorded before this decode as they were."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(keyring(settings)),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def connect_temporal(settings: Settings, runtime: Runtime | None = None) -> Client:
    return await Client.connect(
        settings.effective_temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
        # Headers (the correlation id the log interceptor passes to activities) are payloads
        # too: encrypted like the rest.
        header_codec_behavior=HeaderCodecBehavior.CODEC,
        runtime=runtime,
    )


def metrics_runtime(port: int, host: str = "127.0.0.1") -> Runtime:
    """A Temporal runtime that exports the SDK's metrics, and the business metrics made on its
    `metric_meter`, for Prometheus on `host:port`."""
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(
                bind_address=f"{host}:{port}",
                # `_total` on counters, as Prometheus names them (and the seed's alerts expect).
                counters_total_suffix=True,
                histogram_bucket_overrides={DURATION: DURATION_BUCKETS},
            ),
            logging=temporal_core_logging(),
        )
    )


def build_http(settings: Settings) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=httpx.Timeout(settings.http_timeout_seconds))


def build_activities(
    settings: Settings,
    http: httpx.AsyncClient,
    repository: WithdrawalRepository,
    metrics: WithdrawMetrics | None = None,
) -> WithdrawActivities:
    def client(service: str) -> JsonServiceClient:
        return JsonServiceClient(service, http, settings.service_url(service))

    return WithdrawActivities(
        users=HttpUserDirectory(client("session"), client("flex")),
        transfers=HttpTransferService(client("transfer")),
        checker=HttpTransferChecker(client("transfer-checker")),
        drivewealth=HttpDriveWealth(
            client("drivewealth"),
            settings.dw_client_id,
            settings.dw_client_secret.get_secret_value(),
            settings.dw_app_key.get_secret_value(),
        ),
        repository=repository,
        redemption_type=settings.dw_redemption_type,
        restriction_start=settings.restriction_start_date,
        metrics=metrics,
    )


def build_repository(settings: Settings) -> WithdrawalRepository:
    return WithdrawalRepository(make_engine(settings.effective_database_url))


def build_operations(repository: WithdrawalRepository) -> OperationsRepository:
    """On the withdrawals' engine: one connection pool per process."""
    return OperationsRepository(repository.engine)


def build_worker(
    client: Client,
    task_queue: str,
    activities: WithdrawActivities,
    operations: OperationsActivities,
) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=[*activities.all(), *operations.all()],  # type: ignore[list-item]
        interceptors=[LogContextInterceptor()],  # workflowId/correlationId on activity logs
    )
