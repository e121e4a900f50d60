"""The simulators' incremental store: what is saved is what reloads, a save's cost follows the
change and not the history, and a crash mid-save loses only that save."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from withdraw_service.domain.outcomes import CheckerStatus
from withdraw_service.sim import journal as journal_module
from withdraw_service.sim.config import SimConfig
from withdraw_service.sim.state import Fault, Reversal, SimState, StoredAnswer, Transfer
from withdraw_service.sim.store import SimStore

WHEN = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _transfer(n: int) -> Transfer:
    return Transfer(
        authorisation_id=f"auth-{n}",
        reference_number=f"ref-{n}",
        correlation_id=f"corr-{n}",
        user_id="user-1001",
        amount=Decimal("10.00"),
        currency="USD",
        product_number=None,
        status=CheckerStatus.INITIATED,
        expiry_time=WHEN,
    )


def _fault() -> Fault:
    return Fault(
        id="f-1",
        service="transfer",
        operation="finalize",
        mode="error_500",
        times=2,
        probability=None,
        delay_ms=None,
        match_user_id=None,
        match_account_no=None,
    )


def _store(path: Path) -> SimStore:
    return SimStore(SimConfig(state_file=path))


async def test_every_kind_of_change_reloads_as_it_was_made(tmp_path: Path) -> None:
    path = tmp_path / "sim.json"
    store = _store(path)
    state = store.state
    async with store.lock:
        state.transfers["auth-1"] = _transfer(1)
        state.transfers["auth-2"] = _transfer(2)
        state.calls["transfer.initiate"] = 7
        state.otp_inbox["auth-1"] = "123456"
        state.tokens["t-1"] = WHEN
        state.faults.append(_fault())
        await store.save()
    async with store.lock:
        state.transfers["auth-1"].status = CheckerStatus.SUCCESS  # a record changed in place
        state.users["user-1001"].cash_balance -= Decimal("10.00")
        del state.otp_inbox["auth-1"]
        state.tokens.pop("t-1")
        state.faults[0].times -= 1
        state.reversals.append(
            Reversal(
                reference_number="ref-2",
                correlation_id=None,
                amount=Decimal("10.00"),
                status=CheckerStatus.SUCCESS,
            )
        )
        state.idempotency["transfer.finalize:k"] = StoredAnswer(status_code=200, body="{}")
        await store.save()

    assert path.with_name("sim.json.journal").read_text().count("\n") == 2
    reloaded = _store(path).state
    assert reloaded.model_dump() == state.model_dump()
    assert reloaded.transfers["auth-1"].status == CheckerStatus.SUCCESS
    assert reloaded.faults[0].times == 1 and "auth-1" not in reloaded.otp_inbox


async def test_a_save_costs_the_change_not_the_history(tmp_path: Path) -> None:
    """After 2,000 transfers, changing one appends a line of that one transfer."""
    path = tmp_path / "sim.json"
    store = _store(path)
    for n in range(2_000):
        async with store.lock:
            store.state.transfers[f"auth-{n}"] = _transfer(n)
            await store.save()
    journal = path.with_name("sim.json.journal")
    before = journal.stat().st_size
    async with store.lock:
        store.state.transfers["auth-5"].status = CheckerStatus.SUCCESS
        await store.save()
    grown = journal.stat().st_size - before
    assert 0 < grown < 600, grown
    assert _store(path).state.transfers["auth-5"].status == CheckerStatus.SUCCESS


async def test_the_journal_is_folded_into_the_snapshot_once_as_long_as_the_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same transfer changed over and over: the journal never holds more lines than the
    state has items (at least COMPACT_AFTER), so reading it back costs the state's size."""
    monkeypatch.setattr(journal_module, "COMPACT_AFTER", 10)
    path = tmp_path / "sim.json"
    journal = path.with_name("sim.json.journal")
    store = _store(path)
    async with store.lock:
        store.state.transfers["auth-1"] = _transfer(1)
        await store.save()
    items = sum(len(v) for v in store.state.model_dump().values())  # users, calls, the transfer
    lines = []
    for n in range(2 * items):
        async with store.lock:
            store.state.transfers["auth-1"].wrong_otps = n
            await store.save()
        lines.append(journal.read_text().count("\n"))
    assert max(lines) < items and lines.count(0) >= 1  # written whole, then journaled again
    snapshot = SimState.model_validate_json(path.read_text())
    assert snapshot.transfers["auth-1"].wrong_otps > 0  # the snapshot holds the later changes
    assert _store(path).state.transfers["auth-1"].wrong_otps == 2 * items - 1


async def test_a_torn_last_line_is_dropped_and_an_earlier_bad_one_refused(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sim.json"
    journal = path.with_name("sim.json.journal")
    store = _store(path)
    async with store.lock:
        store.state.transfers["auth-1"] = _transfer(1)
        await store.save()
    async with store.lock:
        store.state.transfers["auth-2"] = _transfer(2)
        await store.save()
    text = journal.read_text()
    journal.write_text(text[: len(text) - 40])  # the process died writing the second save

    reloaded = _store(path).state
    assert set(reloaded.transfers) == {"auth-1"}
    assert journal.read_text() == ""  # written whole at once: the torn line is gone for good

    journal.write_text('{"set": [["transfers", "x", {"nonsense": 1}]]}\n{"set": []}\n')
    with pytest.raises(RuntimeError, match="not valid"):
        _store(path)


async def test_a_crash_between_snapshot_and_emptied_journal_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The save that folds the journal changes a transfer; the process dies after the new
    snapshot is in place, before the journal is emptied: the old lines replayed over the new
    snapshot must not bring the transfer's older value back."""
    monkeypatch.setattr(journal_module, "COMPACT_AFTER", 4)
    path = tmp_path / "sim.json"
    journal_path = path.with_name("sim.json.journal")
    store = _store(path)
    items = sum(len(v) for v in store.state.model_dump().values())
    async with store.lock:
        store.state.transfers["auth-1"] = _transfer(1)
        await store.save()
    items += 1  # the transfer
    for n in range(items - 2):  # the journal one line short of being folded
        async with store.lock:
            store.state.transfers["auth-1"].wrong_otps = n
            await store.save()
    assert journal_path.read_text().count("\n") == items - 1

    real_write_text = Path.write_text

    def dies_emptying_the_journal(self: Path, text: str, *args: object, **kwargs: object) -> int:
        if self == journal_path and text == "":
            raise SystemExit("killed")
        return real_write_text(self, text, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "write_text", dies_emptying_the_journal)
    with pytest.raises(SystemExit):
        async with store.lock:
            store.state.transfers["auth-1"].status = CheckerStatus.SUCCESS
            await store.save()
    monkeypatch.setattr(Path, "write_text", real_write_text)
    assert journal_path.read_text()  # not emptied: its old lines are replayed
    reloaded = _store(path).state
    assert reloaded.transfers["auth-1"].status == CheckerStatus.SUCCESS
    assert reloaded.model_dump() == store.state.model_dump()


async def test_a_reset_starts_a_fresh_ledger_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "sim.json"
    store = _store(path)
    async with store.lock:
        store.state.transfers["auth-1"] = _transfer(1)
        await store.save()
    await store.reset()
    async with store.lock:
        store.state.calls["transfer.finalize"] = 1
        await store.save()
    reloaded = _store(path).state
    assert reloaded.transfers == {} and reloaded.calls["transfer.finalize"] == 1


async def test_a_reset_survives_a_crash_before_its_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reset is journaled like any change: killed before it is folded into a snapshot,
    the old ledger still does not come back."""
    path = tmp_path / "sim.json"
    store = _store(path)
    async with store.lock:
        store.state.transfers["auth-1"] = _transfer(1)
        await store.save()
    monkeypatch.setattr(
        journal_module.Journal, "write_whole", lambda self, state: None
    )  # the process dies before any snapshot is written
    await store.reset()
    monkeypatch.undo()
    assert _store(path).state.transfers == {}
