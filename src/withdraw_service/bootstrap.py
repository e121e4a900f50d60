"""Wiring: turns one `Settings` into the clients, repositories, activities and Temporal
connections that the API, the worker and the tests use. Nothing connects until called.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml
from temporalio.client import Client
from temporalio.common import HeaderCodecBehavior
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import TLSConfig
from temporalio.worker import Interceptor, Worker

from withdraw_service.activities.deadline import CallDeadlineInterceptor, check_policies
from withdraw_service.activities.operations import OperationsActivities
from withdraw_service.activities.reconciliation import ReconciliationActivities, heartbeat
from withdraw_service.activities.token_cache import DwTokenCache
from withdraw_service.activities.withdraw import WithdrawActivities
from withdraw_service.adapters.http_base import JsonServiceClient
from withdraw_service.adapters.http_clients import (
    HttpDriveWealth,
    HttpTransferChecker,
    HttpTransferService,
    HttpUserDirectory,
)
from withdraw_service.api.gateway import GatewayConfig, WithdrawGateway
from withdraw_service.api.limits import AbuseLimits, Limits
from withdraw_service.api.operators import OperatorDesk
from withdraw_service.codec import EncryptionCodec, KeyRing
from withdraw_service.console.ledgers import Ledgers
from withdraw_service.domain.outcomes import FailureType
from withdraw_service.domain.policies import NEVER_RETRIED, DwSettlement, RetryPolicies
from withdraw_service.logs import LogContextInterceptor, temporal_core_logging
from withdraw_service.metrics import DURATION, DURATION_BUCKETS, WithdrawMetrics
from withdraw_service.persistence.counters import AbuseCounters
from withdraw_service.persistence.db import make_engine
from withdraw_service.persistence.idempotency import IdempotencyRepository
from withdraw_service.persistence.operations import OperationsRepository
from withdraw_service.persistence.repository import WithdrawalRepository
from withdraw_service.reconciliation import Reconciler, Report
from withdraw_service.settings import Settings
from withdraw_service.workflows.compensation import CompensationWorkflow
from withdraw_service.workflows.reconciliation import ReconcileWorkflow
from withdraw_service.workflows.withdraw import WithdrawWorkflow

WORKFLOWS = [WithdrawWorkflow, CompensationWorkflow, ReconcileWorkflow]


def load_policies(path: Path) -> RetryPolicies:
    """The retry-policy file, refused when it names a failure type no activity raises (a typo
    there would silently make a business refusal retryable, or the reverse)."""
    with path.open(encoding="utf-8") as handle:
        policies = RetryPolicies.model_validate(yaml.safe_load(handle))
    known = {t.value for t in FailureType}
    for name, policy in policies.activities.items():
        unknown = sorted(set(policy.retry_policy.non_retryable_error_types) - known)
        if unknown:
            raise ValueError(f"{path}: {name} names unknown failure types {unknown}")
    for activity, types in NEVER_RETRIED.items():
        missing = sorted(types - set(policies.of(activity).retry_policy.non_retryable_error_types))
        if missing:
            raise ValueError(f"{path}: {activity} must list {missing} as non-retryable")
    check_policies(policies)
    return policies


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
        payload_codec=EncryptionCodec(
            keyring(settings), allow_plaintext=settings.is_dev or settings.codec_allow_plaintext
        ),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def temporal_tls(settings: Settings) -> TLSConfig | bool:
    """TLS to the Temporal frontend (mTLS with a client certificate), from the settings' files;
    False for a plain connection (dev mode, or a frontend on this host)."""
    ca, cert, key = (
        settings.temporal_tls_ca_file,
        settings.temporal_tls_cert_file,
        settings.temporal_tls_key_file,
    )
    if not (settings.temporal_tls or ca or cert or settings.temporal_api_key):
        return False

    def read(path: Path | None) -> bytes | None:
        return path.read_bytes() if path is not None else None

    return TLSConfig(
        server_root_ca_cert=read(ca),
        client_cert=read(cert),
        client_private_key=read(key),
        domain=settings.temporal_tls_server_name,
    )


async def connect_temporal(settings: Settings, runtime: Runtime | None = None) -> Client:
    api_key = settings.temporal_api_key
    return await Client.connect(
        settings.effective_temporal_address,
        namespace=settings.temporal_namespace,
        tls=temporal_tls(settings),
        api_key=api_key.get_secret_value() if api_key else None,
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
        return _client(settings, http, service)

    return WithdrawActivities(
        users=HttpUserDirectory(client("session"), client("flex")),
        transfers=HttpTransferService(client("transfer")),
        checker=HttpTransferChecker(client("transfer-checker")),
        drivewealth=_drivewealth(settings, http),
        repository=repository,
        redemption_type=settings.dw_redemption_type,
        restriction_start=settings.restriction_start_date,
        metrics=metrics,
    )


def build_reconciler(
    settings: Settings,
    http: httpx.AsyncClient,
    repository: WithdrawalRepository,
    metrics: WithdrawMetrics | None = None,
) -> Reconciler:
    drivewealth = _drivewealth(settings, http)
    return Reconciler(
        repository,
        build_operations(repository),
        HttpTransferChecker(_client(settings, http, "transfer-checker")),
        drivewealth,
        DwTokenCache(drivewealth),
        metrics,
        alive=heartbeat,
    )


async def reconcile_once(settings: Settings, since: datetime, until: datetime) -> Report:
    """One reconciliation run outside Temporal (`withdraw-service reconcile`)."""
    async with build_http(settings) as http:
        repository = build_repository(settings)
        try:
            return await build_reconciler(settings, http, repository).run(since, until)
        finally:
            repository.engine.dispose()


def _client(settings: Settings, http: httpx.AsyncClient, service: str) -> JsonServiceClient:
    return JsonServiceClient(service, http, settings.service_url(service))


def _drivewealth(settings: Settings, http: httpx.AsyncClient) -> HttpDriveWealth:
    return HttpDriveWealth(
        _client(settings, http, "drivewealth"),
        settings.dw_client_id,
        settings.dw_client_secret.get_secret_value(),
        settings.dw_app_key.get_secret_value(),
    )


def build_repository(settings: Settings) -> WithdrawalRepository:
    return WithdrawalRepository(
        make_engine(
            settings.effective_database_url,
            pool_size=settings.database_pool_size,
            lock_timeout_seconds=settings.database_lock_timeout_seconds,
        )
    )


def database_threads(settings: Settings) -> ThreadPoolExecutor:
    """The threads database calls run in (`asyncio.to_thread`): one per pooled connection,
    plus a few for the rest, instead of the default `cpu_count + 4`."""
    return ThreadPoolExecutor(
        max_workers=settings.database_pool_size + 4, thread_name_prefix="withdraw-db"
    )


def build_operations(repository: WithdrawalRepository) -> OperationsRepository:
    """On the withdrawals' engine: one connection pool per process."""
    return OperationsRepository(repository.engine)


def build_worker(
    client: Client,
    task_queue: str,
    activities: Sequence[Callable[..., Any]],
    settings: Settings | None = None,
    interceptors: Sequence[Interceptor] = (),
) -> Worker:
    """The worker of both workflows with the given activities (the real ones, or a test's
    fakes registered under the same names), as production runs it; tuned by `settings`.
    `interceptors` run inside ours (a test's fault injection)."""
    tuning: dict[str, Any] = {}
    if settings is not None:
        tuning = {
            "max_concurrent_activities": settings.max_concurrent_activities,
            "max_concurrent_workflow_tasks": settings.max_concurrent_workflow_tasks,
            "max_cached_workflows": settings.max_cached_workflows,
            "graceful_shutdown_timeout": timedelta(seconds=settings.worker_shutdown_grace_seconds),
        }
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=activities,
        **tuning,
        interceptors=[
            LogContextInterceptor(),  # workflowId/correlationId on activity logs
            CallDeadlineInterceptor(),  # no external call outlives its activity attempt
            *interceptors,
        ],
    )


@dataclass(frozen=True)
class WorkerParts:
    """Everything the worker's activities use, wired from one `Settings`."""

    settings: Settings
    repository: WithdrawalRepository
    operations: OperationsRepository
    activities: WithdrawActivities
    operations_activities: OperationsActivities
    reconciliation_activities: ReconciliationActivities

    def worker(
        self, client: Client, task_queue: str, interceptors: Sequence[Interceptor] = ()
    ) -> Worker:
        activities = [
            *self.activities.all(),
            *self.operations_activities.all(),
            *self.reconciliation_activities.all(),
        ]
        return build_worker(client, task_queue, activities, self.settings, interceptors)


@asynccontextmanager
async def worker_parts(
    settings: Settings, metrics: WithdrawMetrics | None = None
) -> AsyncIterator[WorkerParts]:
    """The worker's parts for as long as the block runs; the HTTP client and the database
    pool are closed after it."""
    async with build_http(settings) as http:
        repository = build_repository(settings)
        operations = build_operations(repository)
        try:
            yield WorkerParts(
                settings=settings,
                repository=repository,
                operations=operations,
                activities=build_activities(settings, http, repository, metrics),
                operations_activities=OperationsActivities(operations, repository, metrics),
                reconciliation_activities=ReconciliationActivities(
                    build_reconciler(settings, http, repository, metrics)
                ),
            )
        finally:
            repository.engine.dispose()


@dataclass(frozen=True)
class ApiState:
    """What the API's routes use, wired from one `Settings` and a Temporal client."""

    settings: Settings
    temporal: Client
    repository: WithdrawalRepository
    operations: OperationsRepository
    gateway: WithdrawGateway
    desk: OperatorDesk
    http: httpx.AsyncClient  # the console's look-ups at the bank and DriveWealth
    ledgers: Ledgers
    limits: AbuseLimits


def api_state(settings: Settings, temporal: Client, policies: RetryPolicies) -> ApiState:
    repository = build_repository(settings)
    operations = build_operations(repository)
    http = build_http(settings)
    config = GatewayConfig(
        task_queue=settings.task_queue,
        wait_seconds=settings.api_wait_seconds,
        otp_timeout_seconds=settings.otp_timeout_seconds,
        otp_max_attempts=settings.otp_max_attempts,
        execution_timeout=timedelta(seconds=settings.workflow_execution_timeout_seconds),
        policies=policies,
        dw_settlement=DwSettlement(
            interval=timedelta(seconds=settings.dw_settlement_interval_seconds),
            max=timedelta(seconds=settings.dw_settlement_max_seconds),
        ),
    )
    return ApiState(
        settings=settings,
        temporal=temporal,
        repository=repository,
        operations=operations,
        gateway=WithdrawGateway(
            temporal, repository, IdempotencyRepository(repository.engine), config
        ),
        desk=OperatorDesk(temporal, repository, operations, config),
        http=http,
        ledgers=Ledgers(
            HttpTransferChecker(_client(settings, http, "transfer-checker")),
            _drivewealth(settings, http),
        ),
        limits=build_limits(settings, repository),
    )


def build_limits(settings: Settings, repository: WithdrawalRepository) -> AbuseLimits:
    return AbuseLimits(
        AbuseCounters(repository.engine),
        Limits(
            requests_per_minute=settings.rate_limit_requests_per_minute,
            initiations_per_hour=settings.rate_limit_initiations_per_hour,
            wrong_otps_per_day=settings.rate_limit_wrong_otps_per_day,
        ),
    )
