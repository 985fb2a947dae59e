"""The sybil set-up: which documents are tested, and how.

- `docs/**/*.md` and `README.md`: every fence whose info string is exactly `python` runs, top to
  bottom, in one namespace per page; a fence starting with `>>>` is checked as a doctest. Stock
  sybil silently skips `py`, `pycon` and `python title=…` fences: `tests/test_doc_fences.py`
  forbids them.
- `docs/**/*.md`: a ```` ```python title="name.py" ```` fence is saved as that file and a
  ```` ```console ```` fence runs its commands and checks their output (`tests/doc_scripts.py`):
  a DDP script is started by `torchrun`, as the page tells the reader.
- `deeplossdive/**/*.py`: every docstring example, as a doctest.

- A `print` whose comment shows what it prints (`print(loss)  # 0.0946`) is checked against what
  it printed, at the comment's precision (`tests/doc_printed.py`).

Numbers compare with sybil's NUMBER flag: `tensor(0.17)` matches `tensor(0.1733)`.
"""

from __future__ import annotations

from doctest import ELLIPSIS, NORMALIZE_WHITESPACE
from pathlib import Path

from sybil import Sybil
from sybil.evaluators.doctest import NUMBER
from sybil.parsers.markdown import ClearNamespaceParser, SkipParser
from sybil.parsers.rest import DocTestParser
from sybil.sybil import SybilCollection
from sybil.typing import Parser

from tests import doc_scripts
from tests.doc_printed import CheckedPythonCodeBlockParser

ROOT = Path(__file__).resolve().parent.parent
FLAGS = ELLIPSIS | NORMALIZE_WHITESPACE | NUMBER

MARKDOWN_PARSERS: list[Parser] = [
    CheckedPythonCodeBlockParser(doctest_optionflags=FLAGS),
    SkipParser(),
    ClearNamespaceParser(),
]
DOCS = Sybil(
    [*MARKDOWN_PARSERS, doc_scripts.ScriptParser(), doc_scripts.ConsoleParser()],
    path=str(ROOT / "docs"),
    patterns=["*.md", "**/*.md"],
    name="docs",
    setup=doc_scripts.setup,
    teardown=doc_scripts.teardown,
)
README = Sybil(MARKDOWN_PARSERS, path=str(ROOT), patterns=["README.md"], name="readme")
DOCSTRINGS = Sybil(
    parsers=[DocTestParser(optionflags=FLAGS)],
    path=str(ROOT / "deeplossdive"),
    patterns=["*.py", "**/*.py"],
    name="docstrings",
)

pytest_collect_file = SybilCollection((DOCS, README, DOCSTRINGS)).pytest()
