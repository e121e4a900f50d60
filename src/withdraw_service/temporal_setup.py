"""`withdraw-service setup-temporal`: what a Temporal cluster needs before the first withdrawal
(the dev server gets the same from its flags, stack.py): the namespace, and the search
attributes every withdrawal is started with (`CorrelationId`, `UserId`, `WithdrawStatus`;
without them every initiate is refused by the server). Idempotent: run it at every release.

On Temporal Cloud a namespace and its search attributes are made through Cloud's own API or
console, not the operator service: run with `check_only` there, and the command only checks
that the namespace and the attributes exist (docs/deployment.md)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    RegisterNamespaceRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode

from withdraw_service.workflows.models import SEARCH_ATTRIBUTES

# What a cluster answers while a new namespace spreads or a frontend restarts: worth a retry.
SETTLING = frozenset({RPCStatusCode.NOT_FOUND, RPCStatusCode.UNAVAILABLE})


class SetupRefused(RuntimeError):
    """The cluster cannot be made ready as asked (a name taken with another type, a missing
    namespace we were told not to create)."""


def _proto_type(key: SearchAttributeKey[Any]) -> IndexedValueType.ValueType:
    return IndexedValueType.Value(f"INDEXED_VALUE_TYPE_{key.indexed_value_type.name}")


async def ensure_namespace(
    client: Client, namespace: str, retention: timedelta, *, create: bool
) -> str:
    try:
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace)
        )
        return f"namespace {namespace}: exists"
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
    if not create:
        raise SetupRefused(f"namespace {namespace} does not exist (and creating it is not asked)")
    period = Duration()
    period.FromTimedelta(retention)
    try:
        request = RegisterNamespaceRequest(
            namespace=namespace, workflow_execution_retention_period=period
        )
        await client.workflow_service.register_namespace(request)
    except RPCError as taken:
        if taken.status != RPCStatusCode.ALREADY_EXISTS:  # another run got there first
            raise
    return f"namespace {namespace}: created (retention {retention.days} days)"


async def ensure_search_attributes(
    client: Client,
    namespace: str,
    keys: Sequence[SearchAttributeKey[Any]] = SEARCH_ATTRIBUTES,
    *,
    add: bool = True,
) -> list[str]:
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    existing = {**listed.system_attributes, **listed.custom_attributes}
    report, missing = [], {}
    for key in keys:
        wanted = _proto_type(key)
        if key.name not in existing:
            missing[key.name] = wanted
        elif existing[key.name] != wanted:
            have = IndexedValueType.Name(existing[key.name])
            raise SetupRefused(
                f"search attribute {key.name} exists in {namespace} as {have}, "
                f"not {IndexedValueType.Name(wanted)}: rename or remove it first"
            )
        else:
            report.append(f"search attribute {key.name}: exists")
    if missing and not add:
        raise SetupRefused(f"search attributes missing in {namespace}: {sorted(missing)}")
    if missing:
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
            )
        except RPCError as error:
            if error.status != RPCStatusCode.ALREADY_EXISTS:
                raise
        report += [f"search attribute {name}: added" for name in sorted(missing)]
    return report


async def setup_temporal(
    client: Client,
    namespace: str,
    retention: timedelta,
    *,
    check_only: bool = False,
    settle_seconds: float = 30.0,
) -> list[str]:
    """Make `namespace` ready for withdrawals (or, `check_only`, say whether it is); the lines
    say what was found and what done. A namespace just registered is not known to every
    server part at once, and a frontend may be briefly unavailable (a cluster rolling out):
    reading and adding its attributes is retried for up to `settle_seconds`. A failure to
    connect or to describe the namespace is raised (the Job is retried by Kubernetes)."""
    report = [await ensure_namespace(client, namespace, retention, create=not check_only)]
    deadline = asyncio.get_running_loop().time() + settle_seconds
    while True:
        try:
            return report + await ensure_search_attributes(client, namespace, add=not check_only)
        except RPCError as error:
            late = asyncio.get_running_loop().time() > deadline
            if error.status not in SETTLING or late:
                raise
        await asyncio.sleep(1.0)
