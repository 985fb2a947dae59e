"""Parametrizes the shared loss tester (`tests/harness.py`) from each test class's spec, and sets
Hypothesis's profile.

Hypothesis runs derandomized by default (profile `ci`): every run draws the same examples, so a
test never fails by chance, in CI or anywhere else. To look for new counterexamples, explore with
random seeds and many more examples:

    HYPOTHESIS_PROFILE=explore .venv/bin/pytest tests -k "invariants or ignoring or soft_target"

A counterexample found that way is printed with the `@reproduce_failure` line that replays it;
fix the cause, and add it as an `@example` if the `ci` profile would not draw it.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
import torch
from hypothesis import settings

from tests.harness import DEVICES, LossSpec

settings.register_profile("ci", derandomize=True, database=None, deadline=None, max_examples=50)
settings.register_profile("explore", derandomize=False, deadline=None, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

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
    if "device" in names:
        no_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
        devices = [pytest.param(d, marks=no_gpu if d == "cuda" else ()) for d in DEVICES]
        metafunc.parametrize("device", devices)
    if "error_case" in names:
        metafunc.parametrize("error_case", spec.errors, ids=[e.id for e in spec.errors])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Show what the tests measured (browser-check counts, distributed differences) in every run."""
    for line in terminalreporter.config.stash.get(MEASUREMENTS, []):
        terminalreporter.write_sep("-", line)
