"""The check that a comment showing a printed value is what the code prints (`doc_printed.py`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sybil import Sybil

from tests.doc_collection import FLAGS, ROOT
from tests.doc_printed import CheckedPythonCodeBlockParser, expectations, mismatch


@pytest.mark.parametrize(
    ("comment", "printed"),
    [
        ("0.0946", "0.0946\n"),
        ("0.095", "0.0946"),  # the comment's precision
        ("tensor([0.1054, 2.3026], dtype=torch.float64)", "tensor([0.1054, 2.3026], dtype=...)"),
        ("tensor([1.0536e-03, 1.8651e+00])", "tensor([1.0536e-03, 1.8651e+00])"),
        ("21.9 -> 1770", "21.9 -> 1770"),
        ("tensor(nan, dtype=torch.float64)", "tensor(nan, dtype=torch.float64)"),
        ("tensor([0.0475,    inf])", "tensor([0.0475,    inf])"),
        ("True False", "True False"),
        ("nll_loss: log_probs must be <= 0, got ...", "nll_loss: log_probs must be <= 0, got 0.3"),
        ("tensor([ 1.0e+12, ...", "tensor([ 1.0e+12, -1.0e+12, 0.0e+00])"),
        ("-0.0000", "0.0000"),
        ("the logits", "tensor([1.5, 2.5])"),  # no value shown: nothing promised
        ("torch.bfloat16 tensor([1., 1.])", "torch.bfloat16 tensor([1., 1.])"),
    ],
)
def test_comment_shows_what_is_printed(comment: str, printed: str) -> None:
    assert mismatch(comment, printed) is None


@pytest.mark.parametrize(
    ("comment", "printed"),
    [
        ("3087", "3091"),  # the focal page's old comment
        ("22029", "22028"),  # the cross-entropy page's old comment
        ("2.3436", "2.3435"),
        ("0.0946", "0.0947"),
        ("0.0946", "0.09"),  # more digits than printed
        ("tensor([-3.1588e-12,  1.4914e-01])", "tensor([0.0000, 0.1491])"),
        ("1.0, 2.0", "1.0, 2.0, 3.0"),  # a value left out without `...`
        ("1.0, 2.0, 3.0", "1.0, 2.0"),
        ("True", "False"),
        ("inf", "nan"),
        ("2.00, then 6.00", "q = 0.1: 2.00\nq = 0.5: 6.00"),
    ],
)
def test_comment_that_differs(comment: str, printed: str) -> None:
    assert mismatch(comment, printed) is not None


def test_which_comments_are_expectations() -> None:
    source = """\
x = 1
print(x)  # 1
print(
    x + 1
)  # 2
print(x)
# 1, continued
# on two lines

# prose after a blank line is not an expectation: 5
print(x)

for value in (1, 2):
    print(value)  # 1, then 2
y = x  # 3: a comment on code other than print
"""
    found = {line: e.comment for line, e in expectations(source).items()}
    assert found == {2: "1", 3: "2", 6: "1, continued on two lines", 14: "1, then 2"}


def _run_page(path: Path) -> None:
    sybil = Sybil([CheckedPythonCodeBlockParser(doctest_optionflags=FLAGS)], path=str(path.parent))
    document = sybil.parse(path)
    for example in document.examples():
        example.evaluate()


def test_a_page_passes_and_fails_on_one_changed_digit(tmp_path: Path) -> None:
    """The KL page as it is, then with one digit of one comment changed."""
    text = (ROOT / "docs" / "losses" / "kl_div.md").read_text(encoding="utf-8")
    shown = 'print(f"{loss:.4f}")  # 0.0946'
    assert shown in text
    page = tmp_path / "kl_div.md"
    page.write_text(text, encoding="utf-8")
    _run_page(page)
    page.write_text(text.replace(shown, shown[:-1] + "7"), encoding="utf-8")
    message = r"the comment shows '0\.0947', the code prints '0\.0946'"
    with pytest.raises(AssertionError, match=message):
        _run_page(page)
