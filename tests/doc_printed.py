"""Printed values on the pages: a comment that shows what a `print` prints must be what it prints.

A reader who sees `print(loss)  # 0.0946` is promised 0.0946. The evaluator below runs each Python
fence as sybil's own does, with `print` replaced by one that records what each call site prints,
and then compares every call site that carries such a comment with what it printed:

- the comment is the one at the end of the `print` statement's last line, and the comment lines
  that follow it directly (no blank line, no code in between: continuation lines); a `print`
  without a trailing comment is followed by its comment lines directly below, or has none;
- the numbers (and `True`, `False`, `inf`, `nan`) of the comment must be those of the printed text,
  in order, each at the comment's precision: `0.095` stands for anything that rounds to it, such
  as a printed `0.0946`; `3087` does not stand for a printed `3091`. `...` (or `…`) in the comment
  stands for any run of printed values. Words are not compared: the comment may name what it shows;
- a call site that ran more than once (in a loop) is compared with all it printed, in order.

So prose that follows a `print` needs a blank line before it, or no numbers in it. Values that
depend on the platform (float noise near 0) are printed rounded.
"""

from __future__ import annotations

import ast
import builtins
import io
import re
import sys
import tokenize
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from types import FrameType
from typing import Any

from sybil import Example
from sybil.evaluators.python import PythonEvaluator, pad
from sybil.parsers.markdown import PythonCodeBlockParser

ELLIPSIS = "..."
_TOKEN = re.compile(
    r"(?P<ellipsis>\.\.\.|…)"
    r"|(?<![\w.])(?P<number>[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|inf|nan))(?!\w)"
    r"|\b(?P<word>True|False)\b"
)


@dataclass(frozen=True)
class Value:
    """A value of a comment or of printed text: a number with its precision, or a word."""

    text: str

    @property
    def is_number(self) -> bool:
        return self.text not in ("True", "False", ELLIPSIS)

    def tolerance(self) -> float:
        """Half a unit of the last digit written: what rounding to this many digits allows."""
        if self.text.lstrip("+-") in ("inf", "nan"):
            return 0.0
        exponent = Decimal(self.text).as_tuple().exponent
        assert isinstance(exponent, int)
        return 0.5 * 10.0**exponent

    def shows(self, printed: Value) -> bool:
        """Whether this comment value stands for `printed`, at this value's precision."""
        if not (self.is_number and printed.is_number):
            return self.text == printed.text
        shown, actual = float(self.text), float(printed.text)
        if shown != shown or actual != actual:  # nan
            return shown != shown and actual != actual
        if abs(shown) == float("inf") or abs(actual) == float("inf"):
            return shown == actual
        # 1e-9 relative: the decimal text of a float is not the float itself.
        return abs(actual - shown) <= self.tolerance() * (1 + 1e-9) + 1e-12 * abs(shown)


def values(text: str, *, ellipsis: bool = True) -> list[Value]:
    """The values of a text, in order; `...` and `…` become the ellipsis, or are passed over
    (`ellipsis=False`, for printed text, where torch's summary of a large tensor writes them)."""
    found = []
    for match in _TOKEN.finditer(text):
        if match["ellipsis"]:
            if ellipsis:
                found.append(Value(ELLIPSIS))
            continue
        found.append(Value(match["number"] or match["word"]))
    return found


def mismatch(comment: str, printed: str) -> str | None:
    """None when the comment's values are the printed ones; otherwise what differs."""
    shown, actual = values(comment), values(printed, ellipsis=False)
    if not shown:
        return None
    if _matches(shown, actual):
        return None
    return f"the comment shows {comment.strip()!r}, the code prints {printed.strip()!r}"


def _matches(shown: list[Value], actual: list[Value]) -> bool:
    """Glob matching: each shown value stands for one printed value, the ellipsis for any run."""
    if not shown:
        return not actual
    first, rest = shown[0], shown[1:]
    if first.text == ELLIPSIS:
        return any(_matches(rest, actual[start:]) for start in range(len(actual) + 1))
    return bool(actual) and first.shows(actual[0]) and _matches(rest, actual[1:])


@dataclass(frozen=True)
class Expectation:
    line: int  # the line of the print call in the padded source (the document's numbering)
    comment: str


def expectations(source: str) -> dict[int, Expectation]:
    """The print calls of `source` that carry a comment, keyed by the line each call starts on."""
    lines = source.splitlines()
    comments: dict[int, str] = {}
    code_lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string[1:].strip()
        elif token.type not in (
            tokenize.NL,
            tokenize.NEWLINE,
            tokenize.INDENT,
            tokenize.DEDENT,
            tokenize.ENDMARKER,
        ):
            code_lines.update(range(token.start[0], token.end[0] + 1))
    found: dict[int, Expectation] = {}
    for node in ast.walk(ast.parse(source)):
        if not (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name)
            and node.value.func.id == "print"
        ):
            continue
        last = node.end_lineno or node.lineno
        parts = [comments[last]] if last in comments else []
        following = last + 1
        while (
            following <= len(lines)
            and following in comments
            and following not in code_lines
            and lines[following - 1].strip()
        ):
            parts.append(comments[following])
            following += 1
        if parts:
            found[node.lineno] = Expectation(node.lineno, " ".join(parts))
    return found


class PrintedValuesEvaluator(PythonEvaluator):
    """sybil's Python evaluator, and then each commented `print` compared with what it printed."""

    def __call__(self, example: Example) -> None:
        __tracebackhide__ = True
        source = pad(example.parsed, example.line + example.parsed.line_offset)
        expected = expectations(source)
        printed: dict[int, list[str]] = defaultdict(list)
        path = example.path

        def recording_print(*args: Any, **kwargs: Any) -> None:
            builtins.print(*args, **kwargs)
            if kwargs.get("file") is not None:
                return
            buffer = io.StringIO()
            builtins.print(*args, **{**kwargs, "file": buffer})
            frame = _caller()
            if frame is not None and frame.f_code.co_filename == path:
                printed[frame.f_lineno].append(buffer.getvalue())

        example.namespace["print"] = recording_print
        try:
            super().__call__(example)
        finally:
            example.namespace.pop("print", None)
        problems = []
        for line, expectation in sorted(expected.items()):
            if line not in printed:
                problems.append(f"line {line}: this print never ran, so its comment is unchecked")
                continue
            problem = mismatch(expectation.comment, "".join(printed[line]))
            if problem is not None:
                problems.append(f"line {line}: {problem}")
        if problems:
            details = "\n- ".join(problems)
            raise AssertionError(f"{path}: printed values differ from their comments:\n- {details}")


def _caller() -> FrameType | None:
    """The frame that called `print` (0 is this function, 1 the recording print)."""
    return sys._getframe(2)


class CheckedPythonCodeBlockParser(PythonCodeBlockParser):
    """sybil's Markdown Python parser, with commented `print`s checked (module docstring)."""

    def __init__(self, doctest_optionflags: int = 0) -> None:
        super().__init__(doctest_optionflags=doctest_optionflags)
        self.codeblock_parser = self.codeblock_parser_class("python", PrintedValuesEvaluator())
