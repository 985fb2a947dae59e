"""Oracles for `deeplossdive/losses/lovasz.py`: the authors' reference implementation.

Transcribed from https://github.com/bermanmaxim/LovaszSoftmax, `pytorch/lovasz_losses.py` at
commit 7d48792d35a04d3167de488dd00daabbccd8334b (Maxim Berman 2018, MIT License), the code of
Berman, Rannen Triki and Blaschko, "The Lovász-Softmax loss", CVPR 2018: `lovasz_grad`,
`lovasz_hinge`, `lovasz_hinge_flat`, `flatten_binary_scores`, `lovasz_softmax`,
`lovasz_softmax_flat`, `flatten_probas` and `mean`, with their Python loops over images and
classes and one sort per (image, class). Changes, none of them to a formula: `Variable` dropped
(a no-op since PyTorch 0.4); `lovasz_grad`'s counts `.double()`, not `.float()` (the oracle
runs in float64, and `torch.dot` takes one dtype); `classes is 'present'` written `==` (`is` on
a string literal); `flatten_probas` indexes with the boolean mask (its
`valid.nonzero().squeeze()` drops the pixel dimension when one pixel is valid); long lines of
the docstrings wrapped.

`lovasz_softmax` and `lovasz_hinge` below (the package's signatures) call the reference per image
or on the pooled batch, with the rules the reference leaves open: an image whose pixels are all
ignored has loss 0 and is left out of the mean (the reference's `lovasz_softmax_flat` returns an
empty tensor there), a batch without a valid pixel has loss 0. Everything runs in float64.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import filterfalse as ifilterfalse
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from tests.oracles import reduce_literal

# --- the reference, pytorch/lovasz_losses.py ---------------------------------------------------


def lovasz_grad(gt_sorted: Tensor) -> Tensor:
    """
    Computes gradient of the Lovasz extension w.r.t sorted errors
    See Alg. 1 in paper
    """
    p = len(gt_sorted)
    gts = gt_sorted.sum()
    intersection = gts - gt_sorted.double().cumsum(0)
    union = gts + (1 - gt_sorted).double().cumsum(0)
    jaccard = 1.0 - intersection / union
    if p > 1:  # cover 1-pixel case
        jaccard[1:p] = jaccard[1:p] - jaccard[0:-1]
    return jaccard


def lovasz_hinge_ref(
    logits: Tensor, labels: Tensor, per_image: bool = True, ignore: Any = None
) -> Any:
    """
    Binary Lovasz hinge loss
      logits: [B, H, W] Variable, logits at each pixel (between -\\infty and +\\infty)
      labels: [B, H, W] Tensor, binary ground truth masks (0 or 1)
      per_image: compute the loss per image instead of per batch
      ignore: void class id
    """
    if per_image:
        loss = mean(
            lovasz_hinge_flat(*flatten_binary_scores(log.unsqueeze(0), lab.unsqueeze(0), ignore))
            for log, lab in zip(logits, labels, strict=True)
        )
    else:
        loss = lovasz_hinge_flat(*flatten_binary_scores(logits, labels, ignore))
    return loss


def lovasz_hinge_flat(logits: Tensor, labels: Tensor) -> Tensor:
    """
    Binary Lovasz hinge loss
      logits: [P] Variable, logits at each prediction (between -\\infty and +\\infty)
      labels: [P] Tensor, binary ground truth labels (0 or 1)
      ignore: label to ignore
    """
    if len(labels) == 0:
        # only void pixels, the gradients should be 0
        return logits.sum() * 0.0
    signs = 2.0 * labels.float() - 1.0
    errors = 1.0 - logits * signs
    errors_sorted, perm = torch.sort(errors, dim=0, descending=True)
    perm = perm.data
    gt_sorted = labels[perm]
    grad = lovasz_grad(gt_sorted)
    loss = torch.dot(F.relu(errors_sorted), grad)
    return loss  # noqa: RET504  # the reference's code


def flatten_binary_scores(
    scores: Tensor, labels: Tensor, ignore: Any = None
) -> tuple[Tensor, Tensor]:
    """
    Flattens predictions in the batch (binary case)
    Remove labels equal to 'ignore'
    """
    scores = scores.view(-1)
    labels = labels.view(-1)
    if ignore is None:
        return scores, labels
    valid = labels != ignore
    vscores = scores[valid]
    vlabels = labels[valid]
    return vscores, vlabels


def lovasz_softmax_ref(
    probas: Tensor,
    labels: Tensor,
    classes: Any = "present",
    per_image: bool = False,
    ignore: Any = None,
) -> Any:
    """
    Multi-class Lovasz-Softmax loss
      probas: [B, C, H, W] Variable, class probabilities at each prediction (between 0 and 1).
              Interpreted as binary (sigmoid) output with outputs of size [B, H, W].
      labels: [B, H, W] Tensor, ground truth labels (between 0 and C - 1)
      classes: 'all' for all, 'present' for classes present in labels, or a list of classes to
               average.
      per_image: compute the loss per image instead of per batch
      ignore: void class labels
    """
    if per_image:
        loss = mean(
            lovasz_softmax_flat(
                *flatten_probas(prob.unsqueeze(0), lab.unsqueeze(0), ignore), classes=classes
            )
            for prob, lab in zip(probas, labels, strict=True)
        )
    else:
        loss = lovasz_softmax_flat(*flatten_probas(probas, labels, ignore), classes=classes)
    return loss


def lovasz_softmax_flat(probas: Tensor, labels: Tensor, classes: Any = "present") -> Any:
    """
    Multi-class Lovasz-Softmax loss
      probas: [P, C] Variable, class probabilities at each prediction (between 0 and 1)
      labels: [P] Tensor, ground truth labels (between 0 and C - 1)
      classes: 'all' for all, 'present' for classes present in labels, or a list of classes to
               average.
    """
    if probas.numel() == 0:
        # only void pixels, the gradients should be 0
        return probas * 0.0
    C = probas.size(1)
    losses = []
    class_to_sum = list(range(C)) if classes in ["all", "present"] else classes
    for c in class_to_sum:
        fg = (labels == c).float()  # foreground for class c
        if classes == "present" and fg.sum() == 0:
            continue
        if C == 1:
            if len(classes) > 1:
                raise ValueError("Sigmoid output possible only with 1 class")
            class_pred = probas[:, 0]
        else:
            class_pred = probas[:, c]
        errors = (fg - class_pred).abs()
        errors_sorted, perm = torch.sort(errors, 0, descending=True)
        perm = perm.data
        fg_sorted = fg[perm]
        losses.append(torch.dot(errors_sorted, lovasz_grad(fg_sorted)))
    return mean(losses)


def flatten_probas(probas: Tensor, labels: Tensor, ignore: Any = None) -> tuple[Tensor, Tensor]:
    """
    Flattens predictions in the batch
    """
    if probas.dim() == 3:
        # assumes output of a sigmoid layer
        B, H, W = probas.size()
        probas = probas.view(B, 1, H, W)
    B, C, H, W = probas.size()
    probas = probas.permute(0, 2, 3, 1).contiguous().view(-1, C)  # B * H * W, C = P, C
    labels = labels.view(-1)
    if ignore is None:
        return probas, labels
    valid = labels != ignore
    vprobas = probas[valid]  # the reference: probas[valid.nonzero().squeeze()]
    vlabels = labels[valid]
    return vprobas, vlabels


def isnan(x: Any) -> Any:
    return x != x


def mean(values: Iterable[Any], ignore_nan: bool = False, empty: Any = 0) -> Any:
    """
    nanmean compatible with generators.
    """
    it = iter(values)
    if ignore_nan:
        it = ifilterfalse(isnan, it)
    try:
        n = 1
        acc = next(it)
    except StopIteration:
        if empty == "raise":
            raise ValueError("Empty mean") from None
        return empty
    for n, v in enumerate(it, 2):  # noqa: B007  # the reference's loop, n read after it
        acc += v
    if n == 1:
        return acc
    return acc / n


# --- the package's signatures, on top of the reference ----------------------------------------


def _as_images(tensor: Tensor, batch: int, *lead: int) -> Tensor:
    """`(N, *lead, d_1, ...)` -> `(N, *lead, P, 1)`: the reference's [B, (C,) H, W]."""
    return tensor.contiguous().reshape(batch, *lead, -1, 1)


def _value(loss: Any) -> float:
    """A reference loss as a float: 0 for the empty tensor of an all-void input."""
    if isinstance(loss, Tensor):
        return float(loss.sum()) if loss.numel() != 1 else float(loss)
    return float(loss)


def lovasz_softmax(
    logits: Tensor,
    target: Tensor,
    *,
    aggregation: str = "per_image",
    classes: str = "present",
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    batch, num_classes = logits.shape[:2]
    probas = _as_images(torch.softmax(logits.double(), dim=1), batch, num_classes)
    labels = _as_images(target, batch)
    if aggregation == "batch":
        loss = lovasz_softmax_ref(probas, labels, classes=classes, ignore=ignore_index)
        return torch.tensor(_value(loss), dtype=torch.float64)
    losses, weights = [], []
    for prob, lab in zip(probas, labels, strict=True):
        flat = flatten_probas(prob.unsqueeze(0), lab.unsqueeze(0), ignore_index)
        losses.append(_value(lovasz_softmax_flat(*flat, classes=classes)))
        weights.append(1.0 if flat[1].numel() else 0.0)
    return reduce_literal(losses, weights, (batch,), reduction)


def lovasz_hinge(
    logits: Tensor, target: Tensor, *, aggregation: str = "per_image", reduction: str = "mean"
) -> Tensor:
    batch = logits.shape[0]
    scores, labels = _as_images(logits.double(), batch), _as_images(target, batch).long()
    if aggregation == "batch":
        loss = lovasz_hinge_ref(scores, labels, per_image=False)
        return torch.tensor(_value(loss), dtype=torch.float64)
    losses = [
        _value(lovasz_hinge_flat(*flatten_binary_scores(s.unsqueeze(0), y.unsqueeze(0))))
        for s, y in zip(scores, labels, strict=True)
    ]
    weights = [1.0 if s.numel() else 0.0 for s in scores]
    return reduce_literal(losses, weights, (batch,), reduction)
