"""The repository explains itself: docs/openapi.json is what the app serves, no file points
outside the repository, and every relative link of the README and docs/ leads somewhere.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from withdraw_service.cli import app

REPO_ROOT = Path(__file__).resolve().parents[2]
OPENAPI = REPO_ROOT / "docs" / "openapi.json"

# Spelled in pieces so that this file does not find itself.
OUTSIDE_REFERENCES = (
    "../" + "shared",  # the directory beside the repository
    "CONTRACT" + ".md",
    "shared/" + "seed",
    "000_" + "8582416876bd1758",  # the seed design's file name
)

_FENCED_BLOCK = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def test_openapi_document_is_current(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # From anywhere: the shipped retry policies are package data, not a path from the root.
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "openapi.json"
    result = CliRunner().invoke(app, ["openapi", "--out", str(out)])
    assert result.exit_code == 0, result.output
    committed = OPENAPI.read_text(encoding="utf-8") if OPENAPI.exists() else ""
    assert out.read_text(encoding="utf-8") == committed, "docs/openapi.json is stale: run make docs"


def _repository_files() -> list[str]:
    """Tracked files, and new ones not ignored (so a file is checked before its commit)."""
    if shutil.which("git") is None or not (REPO_ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return sorted({name for name in listed.split("\0") if name})


def _text(path: Path) -> str | None:
    """The file's text, or None for a binary (or vanished) file."""
    try:
        raw = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return None
    if b"\0" in raw:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def test_no_file_points_outside_the_repository() -> None:
    found = []
    for name in _repository_files():
        text = _text(REPO_ROOT / name)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            found += [f"{name}:{number}: {ref}" for ref in OUTSIDE_REFERENCES if ref in line]
    assert not found, "files refer to documents outside the repository:\n" + "\n".join(found)


def _documents() -> list[Path]:
    return [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]


def relative_links(markdown: str) -> list[str]:
    """Link targets of a Markdown text that are paths (no URL, no bare #anchor), outside code."""
    prose = _CODE_SPAN.sub("", _FENCED_BLOCK.sub("", markdown))
    targets = [match.group(1) for match in _LINK.finditer(prose)]
    return [t for t in targets if not _SCHEME.match(t) and not t.startswith("#")]


def test_relative_links_point_at_files_in_the_repository() -> None:
    broken = []
    for document in _documents():
        for target in relative_links(document.read_text(encoding="utf-8")):
            path = target.split("#", 1)[0].split("?", 1)[0]
            resolved = (document.parent / path).resolve()
            if not resolved.is_relative_to(REPO_ROOT) or not resolved.exists():
                broken.append(f"{document.relative_to(REPO_ROOT)}: {target}")
    assert not broken, "links to nothing in the repository:\n" + "\n".join(broken)


def test_links_are_found_the_way_a_reader_sees_them() -> None:
    text = (
        "See [the API](docs/api.md#errors), [site](https://example.com) and [top](#top).\n"
        "`[not a link](nowhere.md)`\n"
        "```\n[nor this](nowhere.md)\n```\n"
        '![diagram](docs/flow.png "title")\n'
    )
    assert relative_links(text) == ["docs/api.md#errors", "docs/flow.png"]


def test_every_setting_is_documented() -> None:
    """docs/configuration.md names every `WITHDRAW_*` variable the settings object reads."""
    from withdraw_service.settings import Settings

    documented = (REPO_ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    missing = [n for n in Settings.model_fields if f"`WITHDRAW_{n.upper()}`" not in documented]
    assert missing == [], missing
