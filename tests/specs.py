"""Every `LossSpec` of the shared tester, found in the test modules (for tests that run every
loss, such as tests/test_no_sync.py, and for the check that every public function has one)."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from tests.harness import LossContract, LossSpec


def loss_specs() -> dict[str, list[LossSpec]]:
    """Every `LossSpec` of the shared tester, by the name of its function: each `LossContract`
    class of tests/test_<loss>.py contributes its spec (a function may have several)."""
    specs: dict[str, list[LossSpec]] = {}
    folder = Path(__file__).parent
    for info in pkgutil.iter_modules([str(folder)]):
        # Only the modules that use the tester: the others may need what a GPU machine lacks
        # (playwright, sybil), and tests/test_no_sync.py runs there.
        source = folder / f"{info.name}.py"
        if not info.name.startswith("test_") or "LossContract" not in source.read_text():
            continue
        try:
            module = importlib.import_module(f"tests.{info.name}")
        except ModuleNotFoundError as error:
            # A reference library missing on this machine (kornia, MONAI on a GPU machine): its
            # losses have no spec here, which the coverage tests then name.
            if (error.name or "").split(".")[0] in ("tests", "deeplossdive"):
                raise
            continue
        for value in vars(module).values():
            if not (isinstance(value, type) and issubclass(value, LossContract)):
                continue
            spec = getattr(value, "spec", None)
            if spec is not None and spec not in specs.get(spec.function.__name__, []):
                specs.setdefault(spec.function.__name__, []).append(spec)
    return specs
