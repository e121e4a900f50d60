"""Record a workflow history for the replay tests: `python -m tests.support.record_history`.

Runs the current WithdrawWorkflow against fake activities on the time-skipping server and
writes the history to tests/histories/. Re-record only for a new path; a recorded history is
what released code produced, and replaying it is how a non-deterministic change gets caught.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

from temporalio.client import Client
from temporalio.common import HeaderCodecBehavior
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Interceptor, Worker

from tests.support.fake_activities import GOOD_OTP, FakeActivities
from tests.support.paths import RETRY_POLICIES, ROOT, TEMPORAL_TEST_SERVER
from tests.support.temporal import register_search_attributes
from tests.support.workflow_runs import with_policy
from withdraw_service.bootstrap import WORKFLOWS, data_converter, load_policies
from withdraw_service.domain.outcomes import DwRedemptionStatus, FailureType
from withdraw_service.domain.policies import ActivityName
from withdraw_service.logs import LogContextInterceptor
from withdraw_service.settings import Settings
from withdraw_service.workflows.models import OtpSubmission, WithdrawInput
from withdraw_service.workflows.withdraw import WithdrawWorkflow

PATHS = {
    "happy_path": FakeActivities,
    "compensation": lambda: FakeActivities(redemption_error=FailureType.INSUFFICIENT_BALANCE),
    "verification": lambda: FakeActivities(
        finalize_outcomes=[FailureType.TRANSFER_OUTCOME_UNKNOWN],
        verify_statuses=["PENDING", "SUCCESS"],
    ),
    "manual_compensation": lambda: FakeActivities(
        redemption_error=FailureType.INSUFFICIENT_BALANCE,
        rollback_error=FailureType.REVERSAL_REFUSED,
    ),
    # Recorded as the production worker runs (bootstrap's converter: payload codec with the dev
    # key, encrypted failures and headers; the log-context interceptor's activity headers).
    "happy_path_encrypted": FakeActivities,
    "compensation_encrypted": lambda: FakeActivities(
        redemption_error=FailureType.INSUFFICIENT_BALANCE
    ),
    # checkRestrictions cannot reach our database twice: the workflow waits (patch
    # wait-for-database) and checks again.
    "database_wait": lambda: FakeActivities(
        restriction_errors=[FailureType.DATABASE_UNAVAILABLE] * 2
    ),
    # DriveWealth accepts the redemption PENDING; it is followed (patch dw-settlement) until
    # SUCCESSFUL, or until FAILED reverses the transfer.
    "settlement": lambda: FakeActivities(
        redemption_status=DwRedemptionStatus.PENDING,
        settlement=[DwRedemptionStatus.PENDING, DwRedemptionStatus.SUCCESSFUL],
    ),
    "settlement_failed": lambda: FakeActivities(
        redemption_status=DwRedemptionStatus.PENDING,
        settlement=[DwRedemptionStatus.FAILED],
    ),
    # The redemption was never sent and no fresh token can be had: "Token Failed" reverses.
    "redemption_not_sent": lambda: FakeActivities(
        redemption_error=FailureType.DW_NOT_SENT,
        token_errors=[None, FailureType.INVALID_CREDENTIALS],
    ),
    # Every status saved first in the worker (patch local-saves): local-activity markers,
    # their payloads encrypted too.
    "local_saves_encrypted": FakeActivities,
    "local_saves_compensation": lambda: FakeActivities(
        redemption_error=FailureType.INSUFFICIENT_BALANCE
    ),
    # The API's finalize as one update: an accepted code answered with the receipt.
    "receipt_in_one_update_encrypted": FakeActivities,
    # validateUser and checkRestrictions in the worker (patch local-lookups): their results
    # are markers; a refusal and a database outage reach the workflow as the error itself.
    "local_lookups_encrypted": FakeActivities,
    "local_lookups_refused": lambda: FakeActivities(user_error=FailureType.USER_INVALID),
    "local_lookups_database_wait": lambda: FakeActivities(
        restriction_errors=[FailureType.DATABASE_UNAVAILABLE] * 2
    ),
    # validateUser outlives its (shortened) timeout twice: replayed, the failure reaches the
    # workflow as a bare TimeoutError, not the ActivityError it was live.
    "local_lookups_timeout": lambda: FakeActivities(user_delay=1.0),
}
# Paths recorded with a policy of their own.
POLICY_CHANGES: dict[str, Callable[[WithdrawInput], WithdrawInput]] = {
    "local_lookups_timeout": lambda request: with_policy(
        request,
        ActivityName.VALIDATE_USER,
        start_to_close=timedelta(milliseconds=200),
        maximum_attempts=2,
    ),
}
# Paths whose workflow waits on timers before `initiate` can answer: the time-skipping server
# skips time only while a client waits on a result, so the recorder skips it explicitly.
WAITS_BEFORE_INITIATE = {
    "database_wait": timedelta(seconds=10),
    "local_lookups_database_wait": timedelta(seconds=10),
}


def converter_for(name: str) -> DataConverter:
    if name.endswith("_encrypted"):
        return data_converter(Settings(environment="dev"))
    return pydantic_data_converter


async def record(name: str) -> None:
    async with await WorkflowEnvironment.start_time_skipping(
        data_converter=converter_for(name),
        test_server_existing_path=str(TEMPORAL_TEST_SERVER),
    ) as env:
        await register_search_attributes(env.client)
        client = env.client
        interceptors: list[Interceptor] = []
        if name.endswith("_encrypted"):
            client = await Client.connect(
                env.client.service_client.config.target_host,
                namespace=env.client.namespace,
                data_converter=converter_for(name),
                header_codec_behavior=HeaderCodecBehavior.CODEC,
            )
            interceptors = [LogContextInterceptor()]
        fakes = PATHS[name]()
        async with Worker(
            client,
            task_queue="record",
            workflows=WORKFLOWS,
            activities=fakes.all(),
            interceptors=interceptors,
        ):
            request = WithdrawInput(
                correlation_id=str(uuid.uuid4()),
                user_id="user-1001",
                amount=Decimal("150.00"),
                product_number="ACC-1",
                policies=load_policies(RETRY_POLICIES),
            )
            change = POLICY_CHANGES.get(name)
            handle = await client.start_workflow(
                WithdrawWorkflow.run,
                change(request) if change else request,
                id=f"WITHDRAW-{uuid.uuid4()}",
                task_queue="record",
            )
            if name in WAITS_BEFORE_INITIATE:
                await env.sleep(WAITS_BEFORE_INITIATE[name])
            initiated = await handle.execute_update(WithdrawWorkflow.initiate)
            if not initiated.status.is_terminal:  # a refused initiation has no OTP to take
                await handle.execute_update(
                    WithdrawWorkflow.submit_otp,
                    OtpSubmission(otp_code=GOOD_OTP, until_receipt=name.startswith("receipt_")),
                )
            await handle.result()
            history = await handle.fetch_history()
    folder = ROOT / "tests" / "histories"
    (folder / f"{name}.json").write_text(history.to_json())
    # The workflow id is part of what replays (a child's id derives from it): keep it too.
    ids_file = folder / "workflow_ids.json"
    ids = json.loads(ids_file.read_text()) if ids_file.exists() else {}
    ids[name] = handle.id
    ids_file.write_text(json.dumps(ids, indent=2, sort_keys=True) + "\n")
    print(f"wrote {folder / name}.json")


if __name__ == "__main__":
    for path in sys.argv[1:] or list(PATHS):
        asyncio.run(record(path))
