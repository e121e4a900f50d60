"""The simulators' state on disk, written incrementally: a snapshot plus a journal of changes.

Every collection of `SimState` is tracked while the store holds it: a dict records the keys set
or deleted, a list that it changed, and each record (a customer, a transfer...) that one of its
fields was assigned. A save appends one JSON line with what changed since the last one (an
item's whole value, never an increment), so its cost follows the change, not the history.
Once the journal has as many lines as the state has items (at least `COMPACT_AFTER`), the
whole state is written as the new snapshot and the journal starts again: amortised, each save
still costs a constant.

Every change reaches the journal before any snapshot holds it, so the journal replayed over
the newest snapshot always ends at the newest state: a crash between writing a snapshot and
emptying the journal replays lines whose values the snapshot already has. A process crash
mid-save leaves a torn last line: it is dropped (that save never finished), the rest
replayed. No fsync: a process crash is the concern, as before.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Generic, SupportsIndex, TypeVar, get_args

from pydantic import BaseModel, PrivateAttr, TypeAdapter

COMPACT_AFTER = 1_000  # journal lines at least, before the state is written whole

StateT = TypeVar("StateT", bound=BaseModel)
Change = tuple[str, str | None]  # (field, key); key None: the whole field


class Tracked(BaseModel):
    """A record that reports its own field assignments (`transfer.status = ...`)."""

    _on_change: Callable[[], None] | None = PrivateAttr(default=None)

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if not name.startswith("_") and self._on_change is not None:
            self._on_change()


def _watch(value: Any, on_change: Callable[[], None]) -> None:
    if isinstance(value, Tracked):
        value._on_change = on_change


class TrackedDict(dict[str, Any]):
    """A dict that reports each key set or deleted, and watches the records it holds."""

    def __init__(self, items: dict[str, Any], field: str, changed: set[Change]) -> None:
        super().__init__(items)
        self._field, self._changed = field, changed
        for key, value in items.items():
            _watch(value, self._marker(key))

    def _marker(self, key: str) -> Callable[[], None]:
        return lambda: self._changed.add((self._field, key))

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self._changed.add((self._field, key))
        _watch(value, self._marker(key))

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._changed.add((self._field, key))

    def pop(self, key: str, *default: Any) -> Any:
        self._changed.add((self._field, key))
        return super().pop(key, *default)

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def clear(self) -> None:
        super().clear()
        self._changed.add((self._field, None))

    def popitem(self) -> tuple[str, Any]:
        self._changed.add((self._field, None))
        return super().popitem()

    def __ior__(self, other: Any) -> TrackedDict:  # type: ignore[override,misc]
        self.update(other)
        return self


class TrackedList(list[Any]):
    """A list that reports any change to itself or to a record it holds (the whole list is
    written again: the simulators' lists are the faults set, and reversals, which are only
    ever appended)."""

    def __init__(self, items: Iterable[Any], field: str, changed: set[Change]) -> None:
        super().__init__(items)
        self._field, self._changed = field, changed
        for value in self:
            _watch(value, self._mark)

    def _mark(self) -> None:
        self._changed.add((self._field, None))

    def append(self, value: Any) -> None:
        super().append(value)
        self._mark()
        _watch(value, self._mark)

    def remove(self, value: Any) -> None:
        super().remove(value)
        self._mark()

    def clear(self) -> None:
        super().clear()
        self._mark()

    def pop(self, index: SupportsIndex = -1) -> Any:
        self._mark()
        return super().pop(index)

    def insert(self, index: SupportsIndex, value: Any) -> None:
        super().insert(index, value)
        self._mark()
        _watch(value, self._mark)

    def extend(self, values: Iterable[Any]) -> None:
        for value in values:
            self.append(value)

    def __setitem__(self, index: Any, value: Any) -> None:
        super().__setitem__(index, value)
        self._mark()

    def __delitem__(self, index: Any) -> None:
        super().__delitem__(index)
        self._mark()

    def __iadd__(self, values: Iterable[Any]) -> TrackedList:  # type: ignore[misc]
        self.extend(values)
        return self

    def sort(self, *args: Any, **kwargs: Any) -> None:
        super().sort(*args, **kwargs)
        self._mark()

    def reverse(self) -> None:
        super().reverse()
        self._mark()


class Journal(Generic[StateT]):
    """Snapshot at `path`, changes appended to `path` + `.journal`."""

    def __init__(self, path: Path, model: type[StateT]) -> None:
        self.path = path
        self.journal_path = path.with_name(f"{path.name}.journal")
        self.model = model
        self.changed: set[Change] = set()
        self._lines = 0
        self._items: dict[str, TypeAdapter[Any]] = {}
        self._wholes: dict[str, TypeAdapter[Any]] = {}
        for name, field in model.model_fields.items():
            self._wholes[name] = TypeAdapter(field.annotation)
            args = get_args(field.annotation)
            if len(args) == 2:  # dict[str, V]
                self._items[name] = TypeAdapter(args[1])

    # -- reading ---------------------------------------------------------------------------

    def load(self) -> StateT | None:
        """The state as last saved (snapshot, then the journal), or None when there is none.
        Refuses a snapshot or a journal line that is not valid, but a torn last line."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        state = self.model.model_validate_json(text)
        try:
            lines = self.journal_path.read_text(encoding="utf-8").split("\n")
        except FileNotFoundError:
            lines = []
        torn = bool(lines) and lines[-1] != ""  # the last save's line did not end
        complete = lines[:-1] if lines else []
        for number, line in enumerate(complete, start=1):
            try:
                self._apply(state, json.loads(line))
            except ValueError as exc:
                raise ValueError(f"{self.journal_path} line {number}: {exc}") from exc
        if torn:
            try:
                last = json.loads(lines[-1])
            except ValueError:
                last = None  # written in part when the process died: that save never finished
            if last is not None:
                self._apply(state, last)
        self._lines = len(complete) + torn
        if torn:
            self.write_whole(state)
        return state

    def _apply(self, state: StateT, line: dict[str, Any]) -> None:
        for name, key, value in line.get("set", []):
            collection = getattr(state, name)
            if key is None:
                setattr(state, name, self._wholes[name].validate_python(value))
            else:
                collection[key] = self._items[name].validate_python(value)
        for name, key in line.get("deleted", []):
            getattr(state, name).pop(key, None)

    # -- tracking and writing --------------------------------------------------------------

    def track(self, state: StateT) -> StateT:
        """Make `state`'s collections report their changes here; answers `state`."""
        for name in self.model.model_fields:
            value = getattr(state, name)
            if isinstance(value, dict) and not isinstance(value, TrackedDict):
                setattr(state, name, TrackedDict(value, name, self.changed))
            elif isinstance(value, list) and not isinstance(value, TrackedList):
                setattr(state, name, TrackedList(value, name, self.changed))
        self.changed.clear()
        return state

    def replace(self, state: StateT) -> StateT:
        """Start over from `state` (a reset): tracked, and journaled whole like any change."""
        self.track(state)
        self.changed.update((name, None) for name in self.model.model_fields)
        self.save(state)
        return state

    def save(self, state: StateT) -> None:
        """Append what changed since the last save; then, once the journal has grown as large
        as the state, write the whole state as the new snapshot."""
        if not self.changed:
            return
        line = self._line(state)
        with self.journal_path.open("a", encoding="utf-8") as journal:
            journal.write(line + "\n")  # one write: a crash tears at most this line
        self.changed.clear()  # only once written: a failed write is tried again next time
        self._lines += 1
        items = sum(len(getattr(state, name)) for name in self.model.model_fields)
        if self._lines >= max(COMPACT_AFTER, items):
            self.write_whole(state)

    def _line(self, state: StateT) -> str:
        sets: list[list[Any]] = []
        deleted: list[list[str]] = []
        for name, key in sorted(self.changed, key=lambda c: (c[0], c[1] or "")):
            collection = getattr(state, name)
            if key is None:
                sets.append([name, None, self._wholes[name].dump_python(collection, mode="json")])
            elif (name, None) in self.changed:
                continue  # the whole field is written
            elif key in collection:
                value = self._items[name].dump_python(collection[key], mode="json")
                sets.append([name, key, value])
            else:
                deleted.append([name, key])
        return json.dumps({"set": sets, "deleted": deleted}, separators=(",", ":"))

    def write_whole(self, state: StateT) -> None:
        """The whole state as the new snapshot (in one rename), then an empty journal. Only
        for a state whose every change is journaled already (or that has no journal yet)."""
        temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        temporary.write_text(state.model_dump_json(), encoding="utf-8")
        os.replace(temporary, self.path)
        self.journal_path.write_text("", encoding="utf-8")
        self._lines = 0
        self.changed.clear()
