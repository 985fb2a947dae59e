"""Guard: every fence of the docs either runs under sybil or is explicitly show-only.

Stock sybil collects only fences whose info string is exactly `python`; `py`, `pycon` or
`python title="…"` would be shown on the site and silently never run. This test fails on them,
and checks that sybil really collects one example per `python` fence.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sybil import Sybil

from tests import doc_scripts
from tests.doc_collection import DOCS, ROOT

RUN = "python"
# Run by tests/doc_scripts.py: a script saved under its title, and the commands that start it.
RUN_AS_FILES = re.compile(f"{doc_scripts.SCRIPT_INFO}|{doc_scripts.CONSOLE_INFO}")
SHOW_ONLY = frozenset({"text", "bash", "yaml", "toml", "json", "latex"})
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


def runs(info: str) -> bool:
    return info == RUN or RUN_AS_FILES.fullmatch(info) is not None


def test_docs_have_pages() -> None:
    assert PAGES, "no Markdown pages under docs/"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_fence_runs_or_is_show_only(page: Path) -> None:
    bad = [
        f"{page.relative_to(ROOT)}:{first}: ```{info}"
        for first, last, info in fences(page)
        if not (runs(info) or info in SHOW_ONLY) or last == -1
    ]
    assert not bad, (
        f"fences sybil would not run or never close (use exactly `{RUN}`, "
        f'`python title="name.py"` with a `console` fence that runs it, '
        f"or one of {sorted(SHOW_ONLY)}): {bad}"
    )


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_sybil_collects_every_fence_that_runs(page: Path) -> None:
    lines = [example.line for example in DOCS.parse(page).examples()]  # same parsers as README
    missed = [
        first
        for first, last, info in fences(page)
        if runs(info) and not any(first <= line <= last for line in lines)
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
    assert [runs(info) for _, _, info in fences(page)] == [True, False, True]
    assert not runs('python title="x.py" hl_lines="2"')
    assert not runs("pycon")


def _run_page(tmp_path: Path, text: str) -> None:
    page = tmp_path / "page.md"
    page.write_text(text)
    sybil = Sybil(
        [doc_scripts.ScriptParser(), doc_scripts.ConsoleParser()],
        path=str(tmp_path),
        patterns=["page.md"],
        setup=doc_scripts.setup,
        teardown=doc_scripts.teardown,
    )
    document = sybil.parse(page)
    doc_scripts.setup(document.namespace)
    try:
        for example in document.examples():
            example.evaluate()
    finally:
        doc_scripts.teardown(document.namespace)


SCRIPT = '```python title="hello.py"\nimport sys\n\nprint("hello", sys.argv[1])\n```\n\n'


def test_console_fence_runs_the_saved_script(tmp_path: Path) -> None:
    _run_page(tmp_path, SCRIPT + "```console\n$ python hello.py reader\nhello reader\n```\n")


@pytest.mark.parametrize(
    ("console", "error", "message"),
    [
        ("$ python hello.py reader\nhello you\n", AssertionError, "shown output:\nhello you"),
        ("$ python missing.py\n", AssertionError, "exit status 2"),
        ("$ ls\n", ValueError, "commands must start with one of"),
    ],
)
def test_console_fence_fails_on_other_output_a_failed_command_or_an_unknown_program(
    tmp_path: Path, console: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=re.escape(message)):
        _run_page(tmp_path, SCRIPT + f"```console\n{console}```\n")


HOUSE_LINE_LENGTH = 100
"""ruff's line length (pyproject.toml). The site's column shows a code line of this length at
1280 px without scrolling (tests/test_site.py checks it in a browser); a longer line would be
cut off on a desktop."""


def long_lines(path: Path) -> list[int]:
    """Line numbers, in fences, of lines longer than the house line length (the fence's own
    indentation aside: a fence inside an admonition or a tab is indented)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found = []
    for first, last, _ in fences(path):
        indent = len(lines[first - 1]) - len(lines[first - 1].lstrip())
        for number in range(first + 1, last if last != -1 else len(lines) + 1):
            if len(lines[number - 1][indent:].rstrip()) > HOUSE_LINE_LENGTH:
                found.append(number)
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_code_lines_fit_the_column(page: Path) -> None:
    found = [f"{page.relative_to(ROOT)}:{number}" for number in long_lines(page)]
    assert not found, (
        f"code lines longer than {HOUSE_LINE_LENGTH} characters, cut off on a desktop (wrap "
        f"them): {found}"
    )


def test_long_line_guard_counts_from_the_fence_indentation(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    line = "x" * HOUSE_LINE_LENGTH
    page.write_text(
        f"```python\n{line}\n```\n\n    ```python\n    {line}\n    ```\n\n```text\n{line}y\n```\n"
    )
    assert long_lines(page) == [10]
