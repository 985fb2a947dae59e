"""Docs examples that run as files and commands, the way a reader runs them.

Some examples are not snippets for one interpreter: a DDP script is started by `torchrun`, one
process per rank. A page shows such a script in a fence titled with its file name and the command
in a `console` fence; the tests do what the page says, in a fresh directory per page:

- ```` ```python title="name.py" ```` saves the fence, as shown, under that name;
- ```` ```console ```` runs every `$ command` line there (`python` and `torchrun` mean this
  environment's interpreter) and requires exit status 0 and, as the other lines of the fence,
  exactly the standard output shown.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sybil import Document, Example, Region
from sybil.parsers.abstract.lexers import LexingException
from sybil.parsers.markdown.lexers import RawFencedCodeBlockLexer

DIRECTORY = "__doc_scripts__"
LAUNCHERS = {
    "python": [sys.executable],
    "torchrun": [sys.executable, "-m", "torch.distributed.run"],
}
TIMEOUT_S = 300


def setup(namespace: dict[str, Any]) -> None:
    namespace[DIRECTORY] = tempfile.TemporaryDirectory(prefix="deeplossdive-docs-")


def teardown(namespace: dict[str, Any]) -> None:
    namespace.pop(DIRECTORY).cleanup()


def _directory(example: Example) -> Path:
    return Path(example.namespace[DIRECTORY].name)


SCRIPT_INFO = r'python title="(?P<name>[\w-]+\.py)"'
"""The info string of a script fence; the file name is the group `name`."""
CONSOLE_INFO = "console"
"""The info string of a fence of commands to run."""


class ScriptParser:
    """```` ```python title="name.py" ```` fences: the evaluator saves the script."""

    lexer = RawFencedCodeBlockLexer(info_pattern=re.compile(SCRIPT_INFO + r"$\n", re.MULTILINE))

    def __call__(self, document: Document) -> Iterator[Region]:
        for region in self.lexer(document):
            region.parsed = (region.lexemes["name"], str(region.lexemes["source"]))
            region.evaluator = self.save
            yield region

    @staticmethod
    def save(example: Example) -> None:
        name, source = example.parsed
        (_directory(example) / name).write_text(source, encoding="utf-8")


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip("\n").splitlines()]


def commands(session: str) -> list[tuple[str, list[str]]]:
    """The `$ command` lines of a console fence, each with the output lines shown under it."""
    found: list[tuple[str, list[str]]] = []
    for line in session.splitlines():
        if line.startswith("$ "):
            found.append((line[2:].strip(), []))
        elif found:
            found[-1][1].append(line.rstrip())
        elif line.strip():
            raise LexingException(f"console fence: output before any `$ ` command: {line!r}")
    if not found:
        raise LexingException("console fence without a `$ ` command")
    return found


class ConsoleParser:
    """```` ```console ```` fences: the evaluator runs each command and checks its output."""

    lexer = RawFencedCodeBlockLexer(info_pattern=re.compile(CONSOLE_INFO + r"$\n", re.MULTILINE))

    def __call__(self, document: Document) -> Iterator[Region]:
        for region in self.lexer(document):
            region.parsed = commands(str(region.lexemes["source"]))
            region.evaluator = self.run
            yield region

    @staticmethod
    def run(example: Example) -> None:
        for command, shown in example.parsed:
            program, *arguments = shlex.split(command)
            if program not in LAUNCHERS:
                raise ValueError(
                    f"console fence: commands must start with one of {sorted(LAUNCHERS)}, "
                    f"got {command!r}"
                )
            result = subprocess.run(
                [*LAUNCHERS[program], *arguments],
                cwd=_directory(example),
                capture_output=True,
                text=True,
                timeout=TIMEOUT_S,
                check=False,
            )
            if result.returncode != 0 or _lines(result.stdout) != _lines("\n".join(shown)):
                raise AssertionError(
                    f"$ {command}\nexit status {result.returncode}\n"
                    f"shown output:\n{chr(10).join(shown)}\n"
                    f"standard output:\n{result.stdout}\nstandard error:\n{result.stderr}"
                )
