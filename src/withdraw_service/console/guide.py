"""What each kind of operator task means and what to do about it, in the console's words; and
what each action does to the money, said on its confirmation page before anything happens."""

from __future__ import annotations

from withdraw_service.domain.outcomes import TaskKind
from withdraw_service.persistence.operations import OperatorTask

MEANING = {
    TaskKind.COMPENSATION_FAILED: (
        "The bank transfer went through, DriveWealth did not redeem the cash, and reversing "
        "the transfer failed: the customer holds money the brokerage account never paid. "
        "Retry the reversal once the bank can take it, or reverse it by hand and resolve."
    ),
    TaskKind.TRANSFER_UNRESOLVED: (
        "The bank transfer's outcome could not be verified. Look it up below (or with the "
        "bank), settle it by hand, then resolve with what the bank said. The customer's "
        "account stays restricted until then."
    ),
    TaskKind.DW_SETTLEMENT_OVERDUE: (
        "DriveWealth accepted the redemption but did not settle it in time. Look it up below "
        "(or with DriveWealth), settle it by hand, then resolve with what you found."
    ),
    TaskKind.RECONCILIATION_MISMATCH: (
        "The daily reconciliation found the bank or DriveWealth disagreeing with our records. "
        "Compare them below, correct the money by hand where needed, then resolve."
    ),
}


def retry_effect(task: OperatorTask, reference: str | None) -> str:
    return (
        f"The Transfer Checker is asked first whether transfer {reference} was already "
        "reversed: if it was, nothing is sent and the task closes. If the bank still shows it "
        f"paid, the bank is asked to reverse it: USD {task.amount:,.2f} leaves the customer's "
        "bank account. The request carries one key per task, so however often it is retried "
        "the bank reverses it at most once. On success the withdrawal ends COMPENSATED and "
        "this task is resolved in your name; on failure the task stays open."
    )


RESOLVE_EFFECT = (
    "No money moves. You state that this task has been settled by hand; it closes in your "
    "name with your note, and the withdrawal keeps its status. Say what you did and what the "
    "bank or DriveWealth confirmed."
)
