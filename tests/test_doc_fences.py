"""Guard: every fence of the docs either runs under sybil or is explicitly show-only.

Stock sybil collects only fences whose info string is exactly `python`; `py`, `pycon` or
`python title="…"` would be shown on the site and silently never run. This test fails on them,
and checks that sybil really collects one example per `python` fence.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.doc_collection import DOCS, ROOT

RUN = "python"
SHOW_ONLY = frozenset({"text", "console", "bash", "yaml", "toml", "json", "latex"})
FENCE = re.compile(r"^(?P<indent>\s*)(?P<marks>`{3,}|~{3,})(?P<info>.*)$")
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def fences(path: Path) -> list[tuple[int, int, str]]:
    """(first line, last line, info string) of every fence."""
    found: list[tuple[int, int, str]] = []
    opening: tuple[int, str, str] | None = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = FENCE.match(line)
        if match is None:
            continue
        marks, info = match["marks"], match["info"].strip()
        if opening is None:
            opening = (number, marks, info)
        elif marks.startswith(opening[1]) and not info:
            found.append((opening[0], number, opening[2]))
            opening = None
    if opening is not None:
        found.append((opening[0], -1, opening[2]))
    return found


def test_docs_have_pages() -> None:
    assert PAGES, "no Markdown pages under docs/"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_fence_runs_or_is_show_only(page: Path) -> None:
    bad = [
        f"{page.relative_to(ROOT)}:{first}: ```{info}"
        for first, last, info in fences(page)
        if (info != RUN and info not in SHOW_ONLY) or last == -1
    ]
    assert not bad, (
        f"fences sybil would not run or never close (use exactly `{RUN}`, "
        f"or one of {sorted(SHOW_ONLY)}): {bad}"
    )


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_sybil_collects_every_python_fence(page: Path) -> None:
    lines = [example.line for example in DOCS.parse(page).examples()]  # same parsers as README
    missed = [
        first
        for first, last, info in fences(page)
        if info == RUN and not any(first <= line <= last for line in lines)
    ]
    assert not missed, f"{page.relative_to(ROOT)}: sybil does not collect the fences at {missed}"


# Sybil directives that hide setup from the reader or skip a block: a snippet must run as copied.
HIDDEN_OR_SKIPPED = re.compile(r"<!--\s*(invisible-code-block|skip\s*:)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_hidden_setup_or_skipped_block(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    found = [
        f"{page.relative_to(ROOT)}:{text.count(chr(10), 0, match.start()) + 1}: {match[0]}"
        for match in HIDDEN_OR_SKIPPED.finditer(text)
    ]
    assert not found, f"hidden setup or skipped blocks (readers copy what they see): {found}"


def test_hidden_setup_guard_matches_the_directives() -> None:
    assert HIDDEN_OR_SKIPPED.search("<!-- invisible-code-block: python -->")
    assert HIDDEN_OR_SKIPPED.search("<!--skip: next-->")
    assert not HIDDEN_OR_SKIPPED.search("<!-- clear-namespace -->")


def test_guard_catches_silently_skipped_fences(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        '```python title="x.py"\nraise SystemExit\n```\n\n```py\n1\n```\n~~~python\n~~~\n'
    )
    assert fences(page) == [(1, 3, 'python title="x.py"'), (5, 7, "py"), (8, 9, "python")]
