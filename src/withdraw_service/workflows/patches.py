"""`workflow.patched` ids: one per change made to a workflow after histories were recorded.

Each id is remembered on its own, so a history from before a change replays the old branch at
every site of that change. Never reuse or rename one; `tests/histories/` replays them all.
"""

SAGA_V2 = "saga-v2"  # compensation as a child workflow
SECOND_LOOK = "redemption-second-look"  # ask DriveWealth again before compensating on a guess
REVIEW_TASK = "review-task"  # an unresolved transfer opens an operator task
FINALIZE_RESEND = "finalize-resend"  # the Transfer Checker says INITIATED: finalize again
# An execution never fails: a compensation that cannot run, or any unexpected failure, ends the
# withdrawal MANUAL_* with an operator task instead.
NEVER_FAIL = "never-fail"
# checkRestrictions failing because our database is away waits for it and checks again,
# instead of ending the withdrawal INITIATION_FAILED.
WAIT_FOR_DATABASE = "wait-for-database"
# Redemption evidence and settlement: "not sent" on a first attempt compensates (after one
# more round once getDwToken has a token again); a redemption DriveWealth has not settled is
# followed (DW_REDEMPTION_PENDING) until it settles or is overdue.
DW_SETTLEMENT = "dw-settlement"
# A status save runs first in the worker, inside the workflow task that makes the change (a
# local activity, one attempt, bounded): no round trip through the server. Handed to the server
# as before when that attempt fails or takes too long.
LOCAL_SAVES = "local-saves"
# The bank's attemptsRemaining may only lower the OTP attempts left, never raise them above
# WITHDRAW_OTP_MAX_ATTEMPTS.
OTP_ATTEMPTS_CEILING = "otp-attempts-ceiling"
# validateUser and checkRestrictions run in the worker (local activities, with their own
# timeouts and retry policies): two round trips through the server fewer before the OTP.
LOCAL_LOOKUPS = "local-lookups"
