"""The simulator's state holder: one lock, incremental persistence, lookups and the ledger.

Every change happens while `lock` is held and ends with `save()`, which appends what changed
to the state's journal (`journal.py`: a snapshot plus one line per save, a crash loses at
most a save that had not finished). Loading happens once, when the store is built.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

from pydantic import ValidationError

from withdraw_service.sim.config import SimConfig
from withdraw_service.sim.faults import CallTarget, all_operations, take_fault
from withdraw_service.sim.journal import Journal
from withdraw_service.sim.money import money_text
from withdraw_service.sim.state import Fault, SimState, SimUser, StoredAnswer, Transfer, demo_users


def fresh_state() -> SimState:
    """An empty ledger with the demo customers and every call counter at zero."""
    state = SimState()
    for user in demo_users():
        state.users[user.user_id] = user
    state.calls = dict.fromkeys(all_operations(), 0)
    return state


def load_state(journal: Journal[SimState]) -> SimState | None:
    """The state saved by `journal`, or None when there is none yet."""
    try:
        return journal.load()
    except (ValidationError, ValueError) as exc:
        # Refuse to start rather than silently re-seed and lose a ledger someone relies on.
        raise RuntimeError(f"simulator state file {journal.path} is not valid: {exc}") from exc


# Faults that answer without the call being worked on: they hold no Idempotency-Key.
NOT_WORKED_ON = frozenset({"error_500", "unauthorized_401", "in_progress_409", "timeout"})


@dataclass(frozen=True)
class Begun:
    """How a call starts: the fault that hits it, whether its key was busy (409), and the key
    it claimed (to be released once it is decided)."""

    fault: Fault | None
    busy: bool = False
    claimed: str | None = None


class SimStore:
    """The state of one simulator app, guarded by one asyncio lock."""

    def __init__(self, config: SimConfig, rng: random.Random | None = None) -> None:
        self.config = config
        self.rng = rng or random.Random()
        self.lock = asyncio.Lock()
        # `<service>.<operation>:<Idempotency-Key>` of the calls being worked on (not saved: a
        # call in progress does not survive a restart of the simulators).
        self.in_flight: set[str] = set()
        self.journal: Journal[SimState] | None = None
        loaded = None
        if config.state_file is not None:
            config.state_file.parent.mkdir(parents=True, exist_ok=True)
            self.journal = Journal(config.state_file, SimState)
            loaded = load_state(self.journal)
        self.state = self._adopt(loaded if loaded is not None else fresh_state(), loaded is None)

    def _adopt(self, state: SimState, fresh: bool) -> SimState:
        """Track `state`'s changes for the journal; a fresh one is written whole first."""
        if self.journal is None:
            return state
        if fresh:
            self.journal.write_whole(state)
        return self.journal.track(state)

    async def save(self) -> None:
        """Persist what changed; call it while holding `lock`, after every change. A line
        appended to a file: cheaper than handing it to a thread."""
        if self.journal is not None:
            self.journal.save(self.state)

    async def reset(self) -> None:
        """Forget everything and re-seed the demo customers."""
        async with self.lock:
            if self.journal is None:
                self.state = fresh_state()
            else:
                self.state = self.journal.replace(fresh_state())

    async def begin_call(
        self, target: CallTarget, modes: frozenset[str], key: str | None = None
    ) -> Begun:
        """Count a business call; unless its key is in progress (`busy`: it takes no fault),
        take the fault that hits it, and claim the key when the call will be worked on."""
        async with self.lock:
            self.state.calls[target.key] = self.state.calls.get(target.key, 0) + 1
            if key is not None and key in self.in_flight:
                await self.save()
                return Begun(None, busy=True)
            fault = take_fault(self.state.faults, target, modes, self.rng)
            await self.save()
            if key is None or (fault is not None and fault.mode in NOT_WORKED_ON):
                return Begun(fault)
            self.in_flight.add(key)
            return Begun(fault, claimed=key)

    # Lookups: reads need no lock, as no change is ever half-done between two awaits.

    def user_by_pin(self, pin: str) -> SimUser | None:
        return next((u for u in self.state.users.values() if u.pin == pin), None)

    def user_by_account_no(self, account_no: str) -> SimUser | None:
        return next((u for u in self.state.users.values() if u.dw_account_no == account_no), None)

    def user_by_account_id(self, account_id: str) -> SimUser | None:
        return next((u for u in self.state.users.values() if u.dw_account_id == account_id), None)

    def transfer_by_reference(self, reference_number: str) -> Transfer | None:
        return next(
            (t for t in self.state.transfers.values() if t.reference_number == reference_number),
            None,
        )

    def transfer_by_correlation(self, correlation_id: str) -> Transfer | None:
        """The latest transfer initiated under `correlation_id`."""
        found = [t for t in self.state.transfers.values() if t.correlation_id == correlation_id]
        return found[-1] if found else None

    def target_for_user(self, service: str, operation: str, user_id: str | None) -> CallTarget:
        user = self.state.users.get(user_id) if user_id is not None else None
        account_no = user.dw_account_no if user is not None else None
        return CallTarget(service, operation, user_id, account_no)

    def target_for_account(
        self, service: str, operation: str, account_no: str | None
    ) -> CallTarget:
        user = self.user_by_account_no(account_no) if account_no is not None else None
        user_id = user.user_id if user is not None else None
        return CallTarget(service, operation, user_id, account_no)

    # Idempotency: the first answer under a key is kept verbatim.

    def replay(self, scope: str, key: str) -> StoredAnswer | None:
        return self.state.idempotency.get(f"{scope}:{key}")

    def remember(self, scope: str, key: str, status_code: int, body: str) -> None:
        self.state.idempotency[f"{scope}:{key}"] = StoredAnswer(status_code=status_code, body=body)

    def ledger(self) -> dict[str, object]:
        """`GET /_sim/ledger`, in exactly the contract's shape."""
        state = self.state
        return {
            "transfers": [
                {
                    "referenceNumber": t.reference_number,
                    "authorisationId": t.authorisation_id,
                    "correlationId": t.correlation_id,
                    "amount": money_text(t.amount),
                    "status": t.status,
                }
                for t in state.transfers.values()
            ],
            "reversals": [
                {
                    "referenceNumber": r.reference_number,
                    "correlationId": r.correlation_id,
                    "amount": money_text(r.amount),
                    "status": r.status,
                }
                for r in state.reversals
            ],
            "redemptions": [
                {
                    "id": r.id,
                    "accountNo": r.account_no,
                    "correlationId": r.correlation_id,
                    "amount": money_text(r.amount),
                    "status": r.status,
                }
                for r in state.redemptions.values()
            ],
            "accounts": [
                {"dwAccountNo": u.dw_account_no, "cashBalance": money_text(u.cash_balance)}
                for u in state.users.values()
                if u.dw_account_no is not None
            ],
            "calls": dict(state.calls),
        }
