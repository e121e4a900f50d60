"""setup-temporal's patience with a cluster that is settling: a namespace not yet known to every
server part (NOT_FOUND) or a frontend restarting (UNAVAILABLE) is retried until the attributes
can be read; any other refusal, or the same one past the deadline, is raised."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesResponse
from temporalio.service import RPCError, RPCStatusCode

from withdraw_service.temporal_setup import setup_temporal
from withdraw_service.workflows.models import SEARCH_ATTRIBUTES

pytestmark = pytest.mark.unit

KEYWORD = IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD


class FakeCluster:
    """A client whose namespace exists and whose attribute listing fails with `failures` first."""

    def __init__(self, failures: list[RPCStatusCode]) -> None:
        self.failures = list(failures)
        self.listings = 0
        self.workflow_service = SimpleNamespace(describe_namespace=self._describe)
        self.operator_service = SimpleNamespace(list_search_attributes=self._list)

    async def _describe(self, request: Any) -> None:
        return None

    async def _list(self, request: Any) -> ListSearchAttributesResponse:
        self.listings += 1
        if self.failures:
            raise RPCError("settling", self.failures.pop(0), b"")
        return ListSearchAttributesResponse(
            custom_attributes={key.name: KEYWORD for key in SEARCH_ATTRIBUTES}
        )


async def _setup(cluster: FakeCluster, settle_seconds: float) -> list[str]:
    return await setup_temporal(
        cluster,  # type: ignore[arg-type]
        "withdraw",
        timedelta(days=30),
        check_only=True,
        settle_seconds=settle_seconds,
    )


async def test_a_namespace_still_spreading_and_a_restarting_frontend_are_waited_for() -> None:
    cluster = FakeCluster([RPCStatusCode.NOT_FOUND, RPCStatusCode.UNAVAILABLE])
    report = await _setup(cluster, settle_seconds=30)
    assert cluster.listings == 3
    assert report[0] == "namespace withdraw: exists"
    assert len(report) == 1 + len(SEARCH_ATTRIBUTES)


async def test_any_other_refusal_is_raised_at_once() -> None:
    cluster = FakeCluster([RPCStatusCode.PERMISSION_DENIED])
    with pytest.raises(RPCError) as refused:
        await _setup(cluster, settle_seconds=30)
    assert refused.value.status == RPCStatusCode.PERMISSION_DENIED
    assert cluster.listings == 1


async def test_a_cluster_that_never_settles_is_given_up_on() -> None:
    cluster = FakeCluster([RPCStatusCode.UNAVAILABLE] * 100)
    with pytest.raises(RPCError):
        await _setup(cluster, settle_seconds=0)
    assert cluster.listings == 1
