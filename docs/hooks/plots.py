"""The plots of the loss pages: each loss and its gradient against its natural variable.

`PLOTS` holds one `PlotSpec` per public function of `deeplossdive.functional`: which variable
the reader thinks in (the margin $y x$, the probability $p_t$ of the right class, the residual,
a distance, a cosine, the overlap of a small object...), how to turn it into the tensors the
function takes, and which curves to draw. `render_svg` calls the package function on that sweep
and takes the gradient with autograd (never a hand-written formula), so a plot cannot drift
from the code. `deep_dive.py` draws them at build time; `tests/test_catalogue.py` checks that
every public function has a spec that renders.

A new loss needs an entry in `PLOTS`: the build fails with the name of any function without
one. Each curve maps the swept input `u` of shape $(n)$ (requires grad) to the loss of each
point, shape $(n)$; points must not interact (a loss that couples the samples of a batch, like
NT-Xent, computes each point as its own batch with `_each`).

Each loss is drawn as two figures, the loss and its gradient (`PANELS`): side by side in a
wide column, one above the other on a phone, so that their text stays legible. Colours: each
figure is drawn once with placeholder colours, then written twice, with the
light and the dark theme's palette (Material shows `#only-light` / `#only-dark` images in the
matching palette), on a transparent background.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt
import torch
from torch import Tensor

import deeplossdive.functional as F

LossOfInput = Callable[[Tensor], Tensor]
"""Maps the swept input, shape $(n)$, to the loss of each point, shape $(n)$."""


def _identity(x: Tensor) -> Tensor:
    return x


def _logit(p: Tensor) -> Tensor:
    return torch.log(p) - torch.log1p(-p)


@dataclass(frozen=True)
class Curve:
    """One curve: a legend label and the loss of each point of the sweep."""

    label: str
    loss: LossOfInput


@dataclass(frozen=True)
class PlotSpec:
    """How to plot one loss function against its natural variable.

    `x` and `wrt` are math (`$…$`), rendered both by matplotlib and, in the caption, by KaTeX:
    keep to the commands both know. `setup` is one Markdown sentence for the caption.
    """

    x: str
    """The natural variable on the horizontal axis."""
    x_range: tuple[float, float]
    wrt: str
    """The input the gradient is taken with respect to (what the model outputs)."""
    setup: str
    curves: tuple[Curve, ...]
    to_input: Callable[[Tensor], Tensor] = _identity
    """Maps the natural variable to that input (e.g. $p_t$ to the logit $z_t$)."""
    points: int = 121


@dataclass(frozen=True)
class Sweep:
    """What a spec computes: the natural variable, and per curve the loss and its gradient."""

    x: Tensor
    losses: dict[str, Tensor] = field(default_factory=dict)
    gradients: dict[str, Tensor] = field(default_factory=dict)


def sweep(spec: PlotSpec) -> Sweep:
    """Evaluate every curve of `spec` on its grid (float64), with the gradient by autograd."""
    lo, hi = spec.x_range
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # Tiny tensors: threads only cost time.
    try:
        return _sweep(spec, torch.linspace(lo, hi, spec.points, dtype=torch.float64))
    finally:
        torch.set_num_threads(threads)


def _sweep(spec: PlotSpec, x: Tensor) -> Sweep:
    result = Sweep(x=x)
    for curve in spec.curves:
        u = spec.to_input(x).detach().requires_grad_(True)
        loss = curve.loss(u)
        if loss.shape != u.shape:
            raise ValueError(
                f"curve {curve.label!r} returned shape {tuple(loss.shape)}, "
                f"expected {tuple(u.shape)}: one loss per point of the sweep"
            )
        (gradient,) = torch.autograd.grad(loss.sum(), u)
        result.losses[curve.label] = loss.detach()
        result.gradients[curve.label] = gradient.detach()
    return result


# Helpers that build the tensors each function takes from the swept input.


def _each(one: Callable[[Tensor], Tensor]) -> LossOfInput:
    """For losses that couple a batch: evaluate each point as its own batch."""

    def loss(u: Tensor) -> Tensor:
        return torch.stack([one(value) for value in u.unbind()])

    return loss


def _two_class(z: Tensor) -> Tensor:
    """Logits $(z, 0)$ per point, shape $(n, 2)$: class 0 has probability $\\sigma(z)$."""
    return torch.stack([z, torch.zeros_like(z)], dim=1)


def _class0(z: Tensor) -> Tensor:
    return torch.zeros(z.shape[0], dtype=torch.long)


def _unit_at_cosine(c: Tensor) -> Tensor:
    """Unit vectors $(c, \\sqrt{1 - c^2}, 0)$ at cosine $c$ to $(1, 0, 0)$, shape $(n, 3)$."""
    return torch.stack([c, torch.sqrt(1 - c * c), torch.zeros_like(c)], dim=-1)


def _softmax_ce(label_smoothing: float = 0.0) -> LossOfInput:
    return lambda z: F.cross_entropy(
        _two_class(z), _class0(z), label_smoothing=label_smoothing, reduction="none"
    )


def _focal(gamma: float) -> LossOfInput:
    return lambda z: F.focal_loss(_two_class(z), _class0(z), gamma=gamma, reduction="none")


def _poly1(epsilon: float) -> LossOfInput:
    return lambda z: F.poly1_cross_entropy(
        _two_class(z), _class0(z), epsilon=epsilon, reduction="none"
    )


def _sigmoid_focal(gamma: float) -> LossOfInput:
    return lambda z: F.sigmoid_focal_loss(
        z, torch.ones_like(z), gamma=gamma, alpha=None, reduction="none"
    )


def _bce(target: float) -> LossOfInput:
    return lambda p: F.binary_cross_entropy(p, torch.full_like(p, target), reduction="none")


def _bce_logits(pos_weight: float | None) -> LossOfInput:
    def loss(x: Tensor) -> Tensor:
        weight = None if pos_weight is None else torch.tensor(pos_weight, dtype=x.dtype)
        return F.binary_cross_entropy_with_logits(
            x, torch.ones_like(x), pos_weight=weight, reduction="none"
        )

    return loss


def _hinge(*, squared: bool) -> LossOfInput:
    return lambda s: F.hinge_loss(s, torch.ones_like(s), squared=squared, reduction="none")


def _multiclass_hinge(variant: str, *, squared: bool = False) -> LossOfInput:
    def loss(s: Tensor) -> Tensor:
        scores = torch.stack([s, torch.zeros_like(s), torch.zeros_like(s)], dim=1)
        return F.multiclass_hinge_loss(
            scores,
            _class0(s),
            variant=variant,  # type: ignore[arg-type]
            squared=squared,
            reduction="none",
        )

    return loss


def _nll(log_p: Tensor) -> Tensor:
    log_probs = torch.stack([log_p, torch.log1p(-torch.exp(log_p))], dim=1)
    return F.nll_loss(log_probs, _class0(log_p), reduction="none")


def _kl(target: float) -> LossOfInput:
    def loss(z: Tensor) -> Tensor:
        log_probs = torch.log_softmax(torch.stack([torch.zeros_like(z), z], dim=1), dim=1)
        p = torch.tensor([1 - target, target], dtype=z.dtype).expand_as(log_probs)
        return F.kl_div(log_probs, p, reduction="none").sum(dim=1)

    return loss


def _distillation(temperature: float) -> LossOfInput:
    def loss(z: Tensor) -> Tensor:
        student = torch.stack([torch.zeros_like(z), z], dim=1)
        teacher = torch.tensor([0.0, math.log(4.0)], dtype=z.dtype).expand_as(student)
        return F.distillation_loss(student, teacher, temperature=temperature, reduction="none")

    return loss


def _regression(function: Callable[..., Tensor], **kwargs: float) -> LossOfInput:
    return lambda x: function(x, torch.zeros_like(x), reduction="none", **kwargs)


def _contrastive(target: int, margin: float = 1.0) -> LossOfInput:
    def loss(d: Tensor) -> Tensor:
        x1 = torch.stack([d, torch.zeros_like(d)], dim=1)
        labels = torch.full_like(d, target, dtype=torch.long)
        return F.contrastive_loss(x1, torch.zeros_like(x1), labels, margin=margin, reduction="none")

    return loss


def _cosine_embedding(target: int, margin: float = 0.0) -> LossOfInput:
    def loss(c: Tensor) -> Tensor:
        x1 = _unit_at_cosine(c)
        x2 = torch.zeros_like(x1)
        x2[:, 0] = 1.0
        labels = torch.full_like(c, target, dtype=torch.long)
        return F.cosine_embedding_loss(x1, x2, labels, margin=margin, reduction="none")

    return loss


def _triplet(margin: float) -> LossOfInput:
    def loss(d: Tensor) -> Tensor:
        zeros = torch.zeros_like(d)
        anchor = torch.stack([zeros, zeros], dim=1)
        positive = torch.stack([torch.ones_like(d), zeros], dim=1)
        negative = torch.stack([zeros, d], dim=1)
        return F.triplet_margin_loss(anchor, positive, negative, margin=margin, reduction="none")

    return loss


def _nt_xent(temperature: float) -> LossOfInput:
    def one(c: Tensor) -> Tensor:
        other = torch.tensor([0.0, 0.0, 1.0], dtype=c.dtype)
        z1 = torch.stack([torch.tensor([1.0, 0.0, 0.0], dtype=c.dtype), other])
        z2 = torch.stack([_unit_at_cosine(c), other])
        return F.nt_xent_loss(z1, z2, temperature=temperature, reduction="none")[0]

    return _each(one)


def _supervised_contrastive(temperature: float) -> LossOfInput:
    def one(c: Tensor) -> Tensor:
        other = torch.tensor([0.0, 0.0, 1.0], dtype=c.dtype)
        anchor = torch.tensor([1.0, 0.0, 0.0], dtype=c.dtype)
        embeddings = torch.stack([anchor, _unit_at_cosine(c), other, other])
        labels = torch.tensor([0, 0, 1, 1])
        return F.supervised_contrastive_loss(
            embeddings, labels, temperature=temperature, reduction="none"
        )[0]

    return _each(one)


# Segmentation: a one-pixel object in a four-pixel image. The object's pixel has foreground
# probability sigma(z); the three background pixels 0.05 each (a soft false positive of 0.15).
_BACKGROUND_LOGIT = math.log(0.05 / 0.95)
_SEGMENTATION_SETUP = (
    "A one-pixel object in a four-pixel image: the object's pixel has foreground probability "
    "$p$, the three background pixels 0.05 each."
)


def _foreground_row(z: Tensor) -> Tensor:
    """Foreground logits of the four pixels, shape $(n, 4)$."""
    background = torch.full((z.shape[0], 3), _BACKGROUND_LOGIT, dtype=z.dtype)
    return torch.cat([z[:, None], background], dim=1)


def _sigmoid_overlap(function: Callable[..., Tensor], **kwargs: float) -> LossOfInput:
    def loss(z: Tensor) -> Tensor:
        logits = _foreground_row(z)[:, None, :]  # (n, 1 channel, 4 pixels)
        target = torch.zeros_like(logits)
        target[..., 0] = 1.0
        return function(logits, target, reduction="none", **kwargs).mean(dim=1)

    return loss


def _softmax_overlap(function: Callable[..., Tensor], **kwargs: float | bool) -> LossOfInput:
    def loss(z: Tensor) -> Tensor:
        foreground = _foreground_row(z)
        logits = torch.stack([torch.zeros_like(foreground), foreground], dim=1)  # (n, 2, 4)
        target = torch.zeros(z.shape[0], 4, dtype=torch.long)
        target[:, 0] = 1
        return function(logits, target, reduction="none", **kwargs).mean(dim=1)

    return loss


# The natural variables.
_P_T = {
    "x": "$p_t$",
    "x_range": (0.01, 0.99),
    "wrt": "$z_t$",
    "to_input": _logit,
}
_TWO_CLASSES = "Two classes, logits $(z_t, 0)$ and target class 0, so that $p_t = \\sigma(z_t)$."
_RESIDUAL = {"x": "$x - y$", "x_range": (-3.0, 3.0), "wrt": "$x$"}
_RESIDUAL_SETUP = "Target $y = 0$, prediction $x$."
_MARGIN = {"x": "$y \\cdot s$", "x_range": (-3.0, 3.0), "wrt": "$s$"}
_OVERLAP = {"x": "$p$", "x_range": (0.01, 0.99), "wrt": "$z$", "to_input": _logit}
_COSINE = {"x": "$\\cos\\theta$", "x_range": (-0.98, 0.98), "wrt": "$\\cos\\theta$"}


def _spec(common: Mapping[str, object], setup: str, *curves: Curve, **more: object) -> PlotSpec:
    return PlotSpec(setup=setup, curves=curves, **{**common, **more})  # type: ignore[arg-type]


PLOTS: dict[str, PlotSpec] = {
    # Classification: probabilities and margins.
    "cross_entropy": _spec(
        _P_T,
        _TWO_CLASSES,
        Curve("cross-entropy", _softmax_ce()),
        Curve("label_smoothing = 0.1", _softmax_ce(label_smoothing=0.1)),
    ),
    "nll_loss": _spec(
        {"x": "$p_t$", "x_range": (0.01, 0.99), "wrt": "$\\log p_t$", "to_input": torch.log},
        "Two classes, log-probabilities $(\\log p_t, \\log(1 - p_t))$, target class 0.",
        Curve("nll_loss", _nll),
    ),
    "focal_loss": _spec(
        _P_T,
        _TWO_CLASSES + " $\\gamma = 0$ is cross-entropy.",
        *(Curve(f"γ = {gamma:g}", _focal(gamma)) for gamma in (0.0, 0.5, 1.0, 2.0, 5.0)),
    ),
    "sigmoid_focal_loss": _spec(
        {**_P_T, "wrt": "$z$"},
        "One logit $z$ with target 1, so that $p_t = \\sigma(z)$; `alpha=None`.",
        *(Curve(f"γ = {gamma:g}", _sigmoid_focal(gamma)) for gamma in (0.0, 1.0, 2.0, 5.0)),
    ),
    "poly1_cross_entropy": _spec(
        _P_T,
        _TWO_CLASSES + " $\\varepsilon = 0$ is cross-entropy.",
        *(Curve(f"ε = {eps:g}", _poly1(eps)) for eps in (-1.0, 0.0, 1.0, 2.0)),
    ),
    "binary_cross_entropy": _spec(
        {"x": "$p$", "x_range": (0.02, 0.98), "wrt": "$p$"},
        "A predicted probability $p$ against a hard target 1 and a soft target 0.7.",
        Curve("t = 1", _bce(1.0)),
        Curve("t = 0.7", _bce(0.7)),
    ),
    "binary_cross_entropy_with_logits": _spec(
        {"x": "$y \\cdot x$", "x_range": (-5.0, 5.0), "wrt": "$x$"},
        "Target $t = 1$, so the margin $y \\cdot x$ with $y = 2t - 1$ is the logit $x$.",
        Curve("pos_weight = None", _bce_logits(None)),
        Curve("pos_weight = 4", _bce_logits(4.0)),
    ),
    "hinge_loss": _spec(
        _MARGIN,
        "Label $y = +1$, score $s$, margin 1.",
        Curve("hinge", _hinge(squared=False)),
        Curve("squared=True", _hinge(squared=True)),
    ),
    "multiclass_hinge_loss": _spec(
        {**_MARGIN, "x": "$s_y - \\max_{j \\ne y} s_j$"},
        "Three classes, scores $(s, 0, 0)$, target class 0, margin 1.",
        Curve("weston_watkins", _multiclass_hinge("weston_watkins")),
        Curve("crammer_singer", _multiclass_hinge("crammer_singer")),
        Curve("weston_watkins, squared", _multiclass_hinge("weston_watkins", squared=True)),
    ),
    # Distributions.
    "kl_div": _spec(
        {"x": "$q_1$", "x_range": (0.01, 0.99), "wrt": "$z$", "to_input": _logit},
        "Two classes: the model's log-probabilities are `log_softmax` of $(0, z)$, so "
        "$q_1 = \\sigma(z)$; the target $p = (1 - p_1, p_1)$. Summed over the classes.",
        Curve("p_1 = 0.8", _kl(0.8)),
        Curve("p_1 = 0.5", _kl(0.5)),
    ),
    "distillation_loss": _spec(
        {"x": "$q_1$", "x_range": (0.01, 0.99), "wrt": "$z$", "to_input": _logit},
        "Two classes: student logits $(0, z)$, so the student's $q_1 = \\sigma(z)$ at "
        "$T = 1$; teacher logits $(0, \\log 4)$ (0.8 on class 1 at $T = 1$).",
        *(Curve(f"T = {t:g}", _distillation(t)) for t in (1.0, 2.0, 4.0)),
    ),
    # Regression: the residual.
    "mse_loss": _spec(_RESIDUAL, _RESIDUAL_SETUP, Curve("mse_loss", _regression(F.mse_loss))),
    "l1_loss": _spec(_RESIDUAL, _RESIDUAL_SETUP, Curve("l1_loss", _regression(F.l1_loss))),
    "log_cosh_loss": _spec(
        _RESIDUAL, _RESIDUAL_SETUP, Curve("log_cosh_loss", _regression(F.log_cosh_loss))
    ),
    "huber_loss": _spec(
        _RESIDUAL,
        _RESIDUAL_SETUP,
        *(Curve(f"δ = {d:g}", _regression(F.huber_loss, delta=d)) for d in (0.5, 1.0, 2.0)),
    ),
    "smooth_l1_loss": _spec(
        _RESIDUAL,
        _RESIDUAL_SETUP,
        *(Curve(f"β = {b:g}", _regression(F.smooth_l1_loss, beta=b)) for b in (0.5, 1.0, 2.0)),
    ),
    "quantile_loss": _spec(
        _RESIDUAL,
        _RESIDUAL_SETUP + " Left of 0 the prediction is too low (under-prediction).",
        *(Curve(f"q = {q:g}", _regression(F.quantile_loss, quantile=q)) for q in (0.1, 0.5, 0.9)),
    ),
    # Metric learning: distances and cosines.
    "contrastive_loss": _spec(
        {"x": "$d$", "x_range": (0.0, 2.5), "wrt": "$d$"},
        "A pair of embeddings at Euclidean distance $d$, margin 1.",
        Curve("similar (target 1)", _contrastive(1)),
        Curve("dissimilar (target 0)", _contrastive(0)),
    ),
    "cosine_embedding_loss": _spec(
        _COSINE,
        "A pair of unit vectors at cosine $\\cos\\theta$.",
        Curve("target +1", _cosine_embedding(1)),
        Curve("target −1, margin 0", _cosine_embedding(-1)),
        Curve("target −1, margin 0.5", _cosine_embedding(-1, margin=0.5)),
    ),
    "triplet_margin_loss": _spec(
        {"x": "$d(a, n)$", "x_range": (0.0, 3.5), "wrt": "$d(a, n)$"},
        "The positive is at distance $d(a, p) = 1$ from the anchor, the negative at $d(a, n)$.",
        *(Curve(f"margin = {m:g}", _triplet(m)) for m in (0.5, 1.0, 2.0)),
    ),
    "nt_xent_loss": _spec(
        {**_COSINE, "points": 61},
        "The loss of one anchor whose positive is at cosine $\\cos\\theta$, with two "
        "negatives at right angles to it ($N = 2$ pairs).",
        *(Curve(f"τ = {t:g}", _nt_xent(t)) for t in (0.1, 0.5, 1.0)),
    ),
    "supervised_contrastive_loss": _spec(
        {**_COSINE, "points": 61},
        "The loss of one anchor whose one positive is at cosine $\\cos\\theta$, with two "
        "negatives (the other label) at right angles to it.",
        *(Curve(f"τ = {t:g}", _supervised_contrastive(t)) for t in (0.1, 0.5, 1.0)),
    ),
    # Segmentation: the overlap of a small object.
    "sigmoid_dice_loss": _spec(
        _OVERLAP,
        _SEGMENTATION_SETUP + " One channel.",
        Curve("smooth = 1e-5", _sigmoid_overlap(F.sigmoid_dice_loss)),
        Curve("smooth = 1", _sigmoid_overlap(F.sigmoid_dice_loss, smooth=1.0)),
    ),
    "sigmoid_jaccard_loss": _spec(
        _OVERLAP,
        _SEGMENTATION_SETUP + " One channel.",
        Curve("smooth = 1e-5", _sigmoid_overlap(F.sigmoid_jaccard_loss)),
        Curve("smooth = 1", _sigmoid_overlap(F.sigmoid_jaccard_loss, smooth=1.0)),
    ),
    "sigmoid_tversky_loss": _spec(
        _OVERLAP,
        _SEGMENTATION_SETUP + " One channel; $\\alpha$ weighs false positives, $\\beta$ false "
        "negatives.",
        Curve("α = β = 0.5", _sigmoid_overlap(F.sigmoid_tversky_loss)),
        Curve("α = 0.3, β = 0.7", _sigmoid_overlap(F.sigmoid_tversky_loss, alpha=0.3, beta=0.7)),
        Curve(
            "α = 0.3, β = 0.7, γ = 0.75",
            _sigmoid_overlap(F.sigmoid_tversky_loss, alpha=0.3, beta=0.7, gamma=0.75),
        ),
    ),
    "dice_loss": _spec(
        _OVERLAP,
        _SEGMENTATION_SETUP + " Two classes (softmax): the curves differ by whether the "
        "background class takes part in the mean.",
        Curve("include_background=False", _softmax_overlap(F.dice_loss, include_background=False)),
        Curve("include_background=True", _softmax_overlap(F.dice_loss, include_background=True)),
    ),
    "jaccard_loss": _spec(
        _OVERLAP,
        _SEGMENTATION_SETUP + " Two classes (softmax): the curves differ by whether the "
        "background class takes part in the mean.",
        Curve(
            "include_background=False", _softmax_overlap(F.jaccard_loss, include_background=False)
        ),
        Curve("include_background=True", _softmax_overlap(F.jaccard_loss, include_background=True)),
    ),
    "tversky_loss": _spec(
        _OVERLAP,
        _SEGMENTATION_SETUP + " Two classes (softmax), the foreground class only "
        "(`include_background=False`).",
        Curve("α = β = 0.5", _softmax_overlap(F.tversky_loss, include_background=False)),
        Curve(
            "α = 0.3, β = 0.7",
            _softmax_overlap(F.tversky_loss, include_background=False, alpha=0.3, beta=0.7),
        ),
        Curve(
            "α = 0.3, β = 0.7, γ = 0.75",
            _softmax_overlap(
                F.tversky_loss, include_background=False, alpha=0.3, beta=0.7, gamma=0.75
            ),
        ),
    ),
}
"""One spec per name of `deeplossdive.functional.__all__`."""


def missing_specs(public: list[str]) -> tuple[list[str], list[str]]:
    """Public functions without a spec, and specs for names that are not public."""
    return sorted(set(public) - PLOTS.keys()), sorted(PLOTS.keys() - set(public))


# Drawing. Placeholder colours are swapped for each theme's palette in the SVG text.
_INK = "#010203"  # text, axes and ticks
_GRID = "#040506"
_CURVES = ("#0a0b01", "#0a0b02", "#0a0b03", "#0a0b04", "#0a0b05", "#0a0b06")
THEMES: dict[str, dict[str, str]] = {
    # Material's default (light) scheme: near-black ink; strong, dark-ish curve colours.
    "light": dict(
        zip(
            (_INK, _GRID, *_CURVES),
            (
                "#3b3b3b",
                "#dcdcdc",
                "#3f51b5",
                "#d84315",
                "#2e7d32",
                "#ad1457",
                "#6d4c41",
                "#00838f",
            ),
            strict=True,
        )
    ),
    # Material's slate (dark) scheme: light ink; light, saturated curve colours.
    "dark": dict(
        zip(
            (_INK, _GRID, *_CURVES),
            (
                "#d5d8e0",
                "#3c4152",
                "#8c9eff",
                "#ff8a65",
                "#81c784",
                "#f48fb1",
                "#bcaaa4",
                "#4dd0e1",
            ),
            strict=True,
        )
    ),
}

_STYLE: dict[Any, Any] = {  # (keys typed as matplotlib's Literal of rc names)
    "svg.fonttype": "none",  # text as <text>: small files, fast to write
    "svg.hashsalt": "deeplossdive",
    "font.size": 9.0,
    "text.color": _INK,
    "axes.edgecolor": _INK,
    "axes.labelcolor": _INK,
    "xtick.color": _INK,
    "ytick.color": _INK,
    "grid.color": _GRID,
    "axes.grid": True,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "figure.facecolor": "none",
    "axes.facecolor": "none",
    "savefig.transparent": True,
}


PANELS = ("loss", "gradient")
"""One figure each: side by side where the column is wide, stacked on a phone (extra.css)."""
PANEL_SIZE = (4.4, 3.0)
"""Inches. At 9-pt text, shown 400 to 460 px wide beside its twin on a desktop and full width
(about 360 px) on a phone, the smallest text is 8 px or more on the screen."""


def themed(svg: str) -> dict[str, str]:
    """The SVG drawn with placeholder colours (`_INK`, `_GRID`, `_CURVES`), once per theme."""
    result = {}
    for theme, palette in THEMES.items():
        text = svg
        for placeholder, color in palette.items():
            text = text.replace(placeholder, color)
        result[theme] = text
    return result


def render_svg(spec: PlotSpec, name: str) -> dict[str, dict[str, str]]:
    """Draw `spec` as two figures, the loss and its gradient (`PANELS`), and return the SVG of
    each per theme (`THEMES`)."""
    if len(spec.curves) > len(_CURVES):
        raise ValueError(f"{name}: at most {len(_CURVES)} curves, got {len(spec.curves)}")
    data = sweep(spec)
    x = data.x.numpy()
    titles = {
        "loss": f"{name}: loss $\\ell$",
        "gradient": f"gradient $\\partial\\ell / \\partial {spec.wrt.strip('$')}$",
    }
    values = {"loss": data.losses, "gradient": data.gradients}
    result = {}
    with mpl.rc_context(_STYLE):
        for panel in PANELS:
            figure, axes = plt.subplots(figsize=PANEL_SIZE)
            # Fixed margins (those the two-panel figure had, in inches): a constrained layout
            # would double the time to draw the plots of the site.
            figure.subplots_adjust(left=0.13, right=0.98, bottom=0.165, top=0.9)
            try:
                for color, curve in zip(_CURVES, spec.curves, strict=False):
                    axes.plot(x, values[panel][curve.label].numpy(), color=color, label=curve.label)
                axes.set_title(titles[panel])
                axes.set_xlabel(spec.x)
                axes.axhline(0.0, color=_INK, linewidth=0.6)
                if panel == "loss" and len(spec.curves) > 1:
                    axes.legend()
                buffer = io.StringIO()
                figure.savefig(buffer, format="svg", metadata={"Date": None})
            finally:
                plt.close(figure)
            result[panel] = themed(buffer.getvalue())
    return result
