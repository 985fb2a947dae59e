"""The catalogue of every loss, generated from the package.

Where each column comes from (one source of truth each):

- function: `deeplossdive.functional.__all__`; module: the class of `deeplossdive.nn.__all__`
  whose docstring says "Module form of [...][deeplossdive.functional.<name>]";
- page: the page of docs/losses/ that renders the function (`::: deeplossdive.functional.<name>`),
  the link goes to the function's section there;
- inputs: the function's positional-only parameters (its signature);
- paper: the first link of the function's docstring that is neither a cross-reference nor
  PyTorch's documentation (the docstring cites the paper as a link);
- task and closest torch equivalent: `FACTS` below, one entry per public function (the build
  fails with the name of a function without one).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import deeplossdive.functional
import deeplossdive.nn


@dataclass(frozen=True)
class Facts:
    """What the code cannot say about a loss."""

    task: str
    torch: str
    """The closest function of PyTorch (Markdown), or "—"; the page explains the differences."""


FACTS: dict[str, Facts] = {
    "binary_cross_entropy": Facts("Binary, multi-label", "`F.binary_cross_entropy`"),
    "binary_cross_entropy_with_logits": Facts(
        "Binary, multi-label", "`F.binary_cross_entropy_with_logits`"
    ),
    "contrastive_loss": Facts("Metric learning (pairs)", "—"),
    "cosine_embedding_loss": Facts("Metric learning (pairs)", "`F.cosine_embedding_loss`"),
    "cross_entropy": Facts("Multi-class, segmentation", "`F.cross_entropy`"),
    "dice_loss": Facts("Segmentation (multi-class)", "—"),
    "distillation_loss": Facts("Knowledge distillation", "—"),
    "focal_loss": Facts("Imbalanced multi-class, segmentation", "—"),
    "hinge_loss": Facts("Binary (max-margin)", "— (not `F.hinge_embedding_loss`)"),
    "huber_loss": Facts("Regression with outliers", "`F.huber_loss`"),
    "jaccard_loss": Facts("Segmentation (multi-class)", "—"),
    "kl_div": Facts("Matching distributions", "`F.kl_div`"),
    "l1_loss": Facts("Regression (median), outliers", "`F.l1_loss`"),
    "log_cosh_loss": Facts("Regression with outliers", "—"),
    "mse_loss": Facts("Regression", "`F.mse_loss`"),
    "multiclass_hinge_loss": Facts("Multi-class (max-margin)", "`F.multi_margin_loss`"),
    "nll_loss": Facts("Multi-class, segmentation", "`F.nll_loss`"),
    "nt_xent_loss": Facts("Self-supervised contrastive", "—"),
    "poly1_cross_entropy": Facts("Multi-class", "—"),
    "quantile_loss": Facts("Quantile regression, intervals", "—"),
    "sigmoid_dice_loss": Facts("Segmentation (binary, multi-label)", "—"),
    "sigmoid_focal_loss": Facts(
        "Imbalanced binary, multi-label, detection", "— (`torchvision.ops.sigmoid_focal_loss`)"
    ),
    "sigmoid_jaccard_loss": Facts("Segmentation (binary, multi-label)", "—"),
    "sigmoid_tversky_loss": Facts("Imbalanced segmentation (binary, multi-label)", "—"),
    "smooth_l1_loss": Facts("Regression with outliers, box regression", "`F.smooth_l1_loss`"),
    "supervised_contrastive_loss": Facts("Supervised contrastive", "—"),
    "triplet_margin_loss": Facts("Metric learning (triplets)", "`F.triplet_margin_loss`"),
    "tversky_loss": Facts("Imbalanced segmentation (multi-class)", "—"),
    "poisson_nll_loss": Facts("Count regression", "`F.poisson_nll_loss`"),
    "gaussian_nll_loss": Facts(
        "Heteroscedastic regression (mean and variance)", "`F.gaussian_nll_loss` (no `beta`)"
    ),
    "margin_ranking_loss": Facts("Ranking (pairs)", "`F.margin_ranking_loss`"),
    "soft_margin_loss": Facts("Binary (labels ±1)", "`F.soft_margin_loss`"),
    "hinge_embedding_loss": Facts("Metric learning (pair distances)", "`F.hinge_embedding_loss`"),
    "multilabel_soft_margin_loss": Facts("Multi-label", "`F.multilabel_soft_margin_loss`"),
    "multilabel_margin_loss": Facts("Multi-label (max-margin)", "`F.multilabel_margin_loss`"),
    "generalized_box_iou_loss": Facts(
        "Box regression (detection)", "— (`torchvision.ops.generalized_box_iou_loss`)"
    ),
    "distance_box_iou_loss": Facts(
        "Box regression (detection)", "— (`torchvision.ops.distance_box_iou_loss`)"
    ),
    "complete_box_iou_loss": Facts(
        "Box regression (detection)", "— (`torchvision.ops.complete_box_iou_loss`)"
    ),
    "ctc_loss": Facts("Sequence labelling without alignment (speech, text)", "`F.ctc_loss`"),
}
"""One entry per name of `deeplossdive.functional.__all__`."""

_MODULE_FORM = re.compile(r"Module form of\s+\[`?(\w+)`?\]\[deeplossdive\.functional\.(\w+)\]")
_LINK = re.compile(r"\[(?P<text>[^\[\]]+)\]\((?P<url>https?://[^)\s]+)\)")


def missing_facts(public: list[str]) -> tuple[list[str], list[str]]:
    """Public functions without facts, and facts for names that are not public."""
    return sorted(set(public) - FACTS.keys()), sorted(FACTS.keys() - set(public))


def modules_by_function() -> dict[str, str]:
    """Function name -> name of its module in `deeplossdive.nn` ("Module form of ...")."""
    found = {}
    for name in deeplossdive.nn.__all__:
        match = _MODULE_FORM.search(inspect.getdoc(getattr(deeplossdive.nn, name)) or "")
        if match:
            found[match[2]] = name
    return found


def paper(function: Callable[..., object]) -> str | None:
    """The first link of the docstring that is not PyTorch's documentation, as Markdown."""
    for match in _LINK.finditer(inspect.getdoc(function) or ""):
        if "pytorch.org" not in match["url"] and not match["text"].startswith("`"):
            return f"[{match['text']}]({match['url']})"
    return None


def inputs(function: Callable[..., object]) -> str:
    """The positional-only parameters, e.g. "`logits`, `target`"."""
    parameters = inspect.signature(function).parameters.values()
    return ", ".join(f"`{p.name}`" for p in parameters if p.kind is p.POSITIONAL_ONLY)


@dataclass(frozen=True)
class Row:
    function: str
    module: str | None
    page_uri: str | None
    page_title: str | None
    task: str
    inputs: str
    torch: str
    paper: str | None


def rows(pages: Mapping[str, tuple[str, list[str]]], order: list[str]) -> list[Row]:
    """One row per public function, in the order of the pages in `order` (nav order) and of the
    functions on each page; functions on no page last.

    `pages` maps a page's source URI to its title and the functions it renders.
    """
    modules = modules_by_function()
    page_of = {name: uri for uri, (_, names) in pages.items() for name in names}
    rank = {uri: index for index, uri in enumerate(order)}

    def key(name: str) -> tuple[int, str, int]:
        uri = page_of.get(name)
        if uri is None:
            return (len(order) + 1, "", 0)
        return (rank.get(uri, len(order)), uri, pages[uri][1].index(name))

    result = []
    for name in sorted(deeplossdive.functional.__all__, key=key):
        function = getattr(deeplossdive.functional, name)
        facts = FACTS.get(name, Facts("?", "?"))
        uri = page_of.get(name)
        result.append(
            Row(
                function=name,
                module=modules.get(name),
                page_uri=uri,
                page_title=None if uri is None else pages[uri][0],
                task=facts.task,
                inputs=inputs(function),
                torch=facts.torch,
                paper=paper(function),
            )
        )
    return result


def table(catalogue: list[Row], link: Callable[[str], str]) -> str:
    """The Markdown table; `link(uri)` is the link from the catalogue page to a page."""
    lines = [
        "| Function | Module | Page | Task | Inputs | Closest in torch | Paper |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in catalogue:
        # Cross-references need the object rendered somewhere: only for functions on a page.
        function = f"`{row.function}`"
        module = "—" if row.module is None else f"`{row.module}`"
        if row.page_uri is not None:
            function = f"[{function}][deeplossdive.functional.{row.function}]"
            if row.module is not None:
                module = f"[{module}][deeplossdive.nn.{row.module}]"
        page = "—" if row.page_uri is None else f"[{row.page_title}]({link(row.page_uri)})"
        cells = [function, module, page, row.task, row.inputs, row.torch, row.paper or "—"]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)
