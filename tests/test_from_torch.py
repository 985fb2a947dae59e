"""The "from torch.nn" guide stays complete: a row for every torch.nn module whose name ends in
`Loss`, and for every loss of torchvision.ops; each row names a public function of ours."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import torch

from deeplossdive import functional

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "guides" / "from_torch.md"
_ROW = re.compile(r"^\| `(?P<name>(torch\.nn|torchvision\.ops)\.\w+)` \| (?P<ours>[^|]*) \|")
_FUNCTION = re.compile(r"\[`(\w+)`\]\[deeplossdive\.functional\.(\w+)\]")

# torchvision.ops' losses (it does not import beside this project's CPU build of torch).
TORCHVISION_LOSSES = {
    "sigmoid_focal_loss",
    "generalized_box_iou_loss",
    "distance_box_iou_loss",
    "complete_box_iou_loss",
}


def _rows() -> dict[str, str]:
    rows = {}
    for line in GUIDE.read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line)
        if match:
            assert match["name"] not in rows, f"two rows for {match['name']}"
            rows[match["name"]] = match["ours"]
    return rows


def test_every_torch_nn_loss_module_has_a_row() -> None:
    modules = {
        f"torch.nn.{name}"
        for name in dir(torch.nn)
        if name.endswith("Loss") and inspect.isclass(getattr(torch.nn, name))
    }
    listed = {name for name in _rows() if name.startswith("torch.nn.")}
    assert modules - listed == set(), f"torch.nn losses without a row in {GUIDE.name}"
    assert listed - modules == set(), "rows for names that torch.nn does not have"


def test_every_torchvision_loss_has_a_row() -> None:
    listed = {name.removeprefix("torchvision.ops.") for name in _rows() if "torchvision" in name}
    assert listed == TORCHVISION_LOSSES
    try:
        import torchvision.ops  # type: ignore[import-not-found,unused-ignore]
    except Exception:  # not installed, or a build that does not load beside this torch
        return
    found = {name for name in dir(torchvision.ops) if name.endswith("_loss")}
    assert found == TORCHVISION_LOSSES


def test_each_row_names_a_public_function() -> None:
    for name, ours in _rows().items():
        if ours.strip() == "—":
            continue
        references = _FUNCTION.findall(ours)
        assert references, f"{name}: no function referenced in {ours!r}"
        for text, target in references:
            assert text == target, (name, text, target)
            assert target in functional.__all__, (name, target)


def test_every_new_loss_of_the_issue_is_mapped() -> None:
    """The torch modules that had no function here before issue #15 now map to one."""
    rows = _rows()
    for module in (
        "CTCLoss",
        "PoissonNLLLoss",
        "GaussianNLLLoss",
        "MultiLabelSoftMarginLoss",
        "MarginRankingLoss",
        "SoftMarginLoss",
        "MultiLabelMarginLoss",
        "HingeEmbeddingLoss",
        "TripletMarginWithDistanceLoss",
    ):
        assert _FUNCTION.search(rows[f"torch.nn.{module}"]), module
