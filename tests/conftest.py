"""Test tiers: each directory under tests/ is one tier, marked automatically."""

from __future__ import annotations

from pathlib import Path

import pytest

_TIERS = ("unit", "workflow", "integration", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).parts
        for tier in _TIERS:
            if tier in parts:
                item.add_marker(getattr(pytest.mark, tier))
