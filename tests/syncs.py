"""The detector of host-device synchronisations, shared by the tests that prove a loss free of them.

`NoSync`, a `TorchDispatchMode`, fails on every ATen operation that needs tensor data on the host
(`SYNCING`, the `unique` family, boolean-mask indexing); `cuda_sync_errors` turns on CUDA's own
report of synchronising operations. `tests/test_no_sync.py` runs every loss under them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode

SYNCING: frozenset[str] = frozenset(
    {
        "_local_scalar_dense",  # .item(), float(t), int(t), bool(t)
        "item",
        "is_nonzero",  # bool(t), `if t:`, max(t1, t2)
        "equal",  # torch.equal
        "allclose",
        "nonzero",  # its output size is data: torch.where(mask) with one argument, argwhere
        "nonzero_numpy",
        "argwhere",
        "masked_select",
        "bincount",  # its output size is the largest value
        "repeat_interleave",  # with tensor repeats, its output size is their sum
    }
)
"""ATen operations that read tensor data on the host (their result or its size is data)."""


class SyncError(AssertionError):
    """An operation that synchronises the host with the device was dispatched."""


def _is_boolean_index(indices: object) -> bool:
    return isinstance(indices, (list, tuple)) and any(
        isinstance(i, Tensor) and i.dtype in (torch.bool, torch.uint8) for i in indices
    )


def syncs(func: Any, args: tuple[Any, ...]) -> bool:
    """Whether dispatching `func` on `args` needs data on the host."""
    name: str = func.overloadpacket.__name__
    if name in SYNCING or name.startswith(("unique", "_unique")):
        return True
    # x[mask] and x[mask] = v: a boolean index becomes the positions of its True entries.
    if name in ("index", "index_put", "index_put_", "_index_put_impl_", "_unsafe_index"):
        return len(args) > 1 and _is_boolean_index(args[1])
    return False


class NoSync(TorchDispatchMode):
    """Fails on the first ATen operation that synchronises (see `SYNCING`), naming it."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # torch leaves it unannotated

    def __torch_dispatch__(
        self,
        func: Any,
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        if syncs(func, args):
            raise SyncError(f"{func} synchronises the host with the device")
        return func(*args, **(kwargs or {}))


@contextmanager
def cuda_sync_errors() -> Iterator[None]:
    """`torch.cuda.set_sync_debug_mode("error")` inside the block."""
    previous = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode(previous)
