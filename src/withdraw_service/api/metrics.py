"""The API's `/metrics`: HTTP requests by route template and status, their latency, and
gauges read from the database at scrape time (withdrawals in flight by status, open operator
tasks by kind and the age of the oldest), which every API replica reports alike (aggregate
them with `max`).

The business counters (initiated, completed, failed...) are the worker's, on `:9464`: they are
counted where a status is committed, once. One registry per app, so several apps in one
process (the tests) do not collide.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

from withdraw_service.domain.outcomes import TaskKind
from withdraw_service.domain.statuses import IN_FLIGHT
from withdraw_service.persistence.operations import OperationsRepository
from withdraw_service.persistence.repository import WithdrawalRepository

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30)
METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"})


Counts = tuple[dict[str, tuple[int, datetime]], dict[str, tuple[int, datetime]]]


class DatabaseGauges(Collector):
    """Read from the database at most once per `max_age` seconds, however often it is scraped
    (a flood of scrapes is not a flood of queries); a database that does not answer yields no
    sample (not a zero, which would read as "nothing in flight")."""

    def __init__(
        self,
        repository: WithdrawalRepository,
        operations: OperationsRepository,
        max_age: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._repository = repository
        self._operations = operations
        self._max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        self._read: tuple[float, Counts] | None = None

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """Nothing up front: registering must not query the database (in the event loop)."""
        return iter(())

    def _counts(self) -> Counts:
        with self._lock:  # concurrent scrapes wait for one read
            if self._read is None or self._clock() - self._read[0] >= self._max_age:
                counts = (self._repository.in_flight_by_status(), self._operations.open_by_kind())
                self._read = (self._clock(), counts)
            return self._read[1]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            in_flight, open_tasks = self._counts()
        except Exception as exc:  # the scrape must still answer with the other metrics
            log.warning("database gauges not read: %s", type(exc).__name__)
            return
        now = datetime.now(UTC)
        flight = GaugeMetricFamily(
            "withdraw_in_flight", "withdrawals not yet terminal, by status", labels=["status"]
        )
        stuck = GaugeMetricFamily(
            "withdraw_in_flight_oldest_seconds",
            "seconds since the withdrawal longest in this status entered it (0 when none is)",
            labels=["status"],
        )
        for status in sorted(s.value for s in IN_FLIGHT):
            count, since = in_flight.get(status, (0, now))
            flight.add_metric([status], count)
            stuck.add_metric([status], max((now - since).total_seconds(), 0.0))
        yield flight
        yield stuck
        tasks = GaugeMetricFamily(
            "withdraw_operator_tasks_open", "operator tasks waiting for a person", labels=["kind"]
        )
        age = GaugeMetricFamily(
            "withdraw_operator_task_oldest_open_seconds",
            "age of the oldest OPEN operator task (0 when none is open)",
            labels=["kind"],
        )
        for kind in sorted({*TaskKind, *open_tasks}):
            count, oldest = open_tasks.get(kind, (0, now))
            tasks.add_metric([kind], count)
            age.add_metric([kind], max((now - oldest).total_seconds(), 0.0))
        yield tasks
        yield age


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # Not GCCollector: it hooks `gc.callbacks` for good, which would keep every app (and
        # its database pool) alive in a process that makes several, as the tests do.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.requests = Counter(
            "withdraw_http_requests",
            "HTTP requests answered, by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "withdraw_http_request_duration_seconds",
            "time to answer, by route template",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._database: DatabaseGauges | None = None

    def watch_database(
        self,
        repository: WithdrawalRepository,
        operations: OperationsRepository,
        max_age: float = 10.0,
    ) -> None:
        if self._database is not None:
            self.registry.unregister(self._database)
        self._database = DatabaseGauges(repository, operations, max_age)
        self.registry.register(self._database)

    async def middleware(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = _route_template(request)
            method = request.method if request.method in METHODS else "OTHER"
            self.requests.labels(method, route, str(status)).inc()
            self.latency.labels(method, route).observe(time.perf_counter() - started)

    async def render(self) -> Response:
        body = await asyncio.to_thread(generate_latest, self.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)


def _route_template(request: Request) -> str:
    """`/withdraw/status/{workflow_id}`, never the id itself: bounded label values. The
    router records the route it matched in the scope."""
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"
