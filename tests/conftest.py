"""Parametrizes the shared loss tester (`tests/harness.py`) from each test class's spec."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from tests.harness import LossSpec

MEASUREMENTS = pytest.StashKey[list[str]]()
"""Lines that tests report (figures an issue note quotes), shown in pytest's terminal summary."""


@pytest.fixture(scope="session")
def report(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Append a line to the terminal summary: output that capturing does not swallow."""
    return request.config.stash.setdefault(MEASUREMENTS, []).append


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _parametrized_by_marker(metafunc: pytest.Metafunc, name: str) -> bool:
    return any(name in marker.args[0] for marker in metafunc.definition.iter_markers("parametrize"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    spec: LossSpec | None = getattr(metafunc.cls, "spec", None)
    if spec is None:
        return
    names = metafunc.fixturenames
    if "shape" in names:
        ids = ["x".join(map(str, s)) for s in spec.shapes]
        metafunc.parametrize("shape", spec.shapes, ids=ids)
    if "options" in names:
        metafunc.parametrize("options", spec.options, ids=spec.option_ids())
    if "reduction" in names and not _parametrized_by_marker(metafunc, "reduction"):
        metafunc.parametrize("reduction", spec.reductions)
    if "weighted" in names:
        weighted = [False, True] if spec.weights is not None else [False]
        metafunc.parametrize("weighted", weighted, ids=["unweighted", "weighted"][: len(weighted)])
    if "ignored" in names:
        ignored = [False, True] if spec.ignore is not None else [False]
        metafunc.parametrize("ignored", ignored, ids=["all", "ignored"][: len(ignored)])
    if "error_case" in names:
        metafunc.parametrize("error_case", spec.errors, ids=[e.id for e in spec.errors])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Show what the tests measured (browser-check counts, distributed differences) in every run."""
    for line in terminalreporter.config.stash.get(MEASUREMENTS, []):
        terminalreporter.write_sep("-", line)
