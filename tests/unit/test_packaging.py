"""The wheel (what an image installs) carries everything the code reads at run time besides
Python modules: the retry policies, the migrations, the console's templates and styles."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "withdraw_service"


def _tracked(folder: Path) -> list[str]:
    """The files git tracks under `folder`, relative to it."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--", "."],
        cwd=folder, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return [name for name in listed.stdout.split("\0") if name]


def test_the_wheel_carries_every_data_file_the_code_reads(tmp_path: Path) -> None:
    source = tmp_path / "source"  # a copy: setuptools leaves build/ where it builds
    for name in _tracked(PACKAGE):  # what a clean clone holds, nothing made here
        (source / "src" / "withdraw_service" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PACKAGE / name, source / "src" / "withdraw_service" / name)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(tmp_path), str(source)],
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("withdraw_service-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = {f"withdraw_service/{name}" for name in _tracked(PACKAGE)}
    assert "withdraw_service/retry-policies.yaml" in wanted
    assert wanted - names == set(), "package data missing from pyproject's package-data"


pytestmark = pytest.mark.unit
