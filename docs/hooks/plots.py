"""The plots of the loss pages: each loss and its gradient against its natural variable.

Each public loss function declares its plot next to itself, in its loss file
(`describe(..., plot=Plot(...))`, `deeplossdive/_about.py`): which variable the reader thinks in
(the margin $y x$, the probability $p_t$ of the right class, the residual, a distance, a cosine,
the overlap of a small object...), how to turn it into the tensors the function takes, and which
curves to draw. `sweep` calls the package function on that grid and takes the gradient with
autograd (never a hand-written formula), so a plot cannot drift from the code. `deep_dive.py`
draws them at build time; `tests/test_catalogue.py` checks that every public function has a
plot that renders.

Each loss is drawn as two figures, the loss and its gradient (`PANELS`): side by side in a
wide column, one above the other on a phone, so that their text stays legible. Colours: each
figure is drawn once with placeholder colours, then written twice, with the
light and the dark theme's palette (Material shows `#only-light` / `#only-dark` images in the
matching palette), on a transparent background.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt
import torch
from torch import Tensor

from deeplossdive._about import Plot


@dataclass(frozen=True)
class Sweep:
    """What a plot computes: the natural variable, and per curve the loss and its gradient."""

    x: Tensor
    losses: dict[str, Tensor] = field(default_factory=dict)
    gradients: dict[str, Tensor] = field(default_factory=dict)


def sweep(plot: Plot) -> Sweep:
    """Evaluate every curve of `plot` on its grid (float64), with the gradient by autograd."""
    lo, hi = plot.axis.x_range
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # Tiny tensors: threads only cost time.
    try:
        return _sweep(plot, torch.linspace(lo, hi, plot.points, dtype=torch.float64))
    finally:
        torch.set_num_threads(threads)


def _sweep(plot: Plot, x: Tensor) -> Sweep:
    result = Sweep(x=x)
    for label, curve in plot.curves.items():
        u = plot.axis.to_input(x).detach().requires_grad_(True)
        loss = curve(u)
        if loss.shape != u.shape:
            raise ValueError(
                f"curve {label!r} returned shape {tuple(loss.shape)}, "
                f"expected {tuple(u.shape)}: one loss per point of the sweep"
            )
        (gradient,) = torch.autograd.grad(loss.sum(), u)
        result.losses[label] = loss.detach()
        result.gradients[label] = gradient.detach()
    return result


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


def render_svg(plot: Plot, name: str) -> dict[str, dict[str, str]]:
    """Draw `plot` as two figures, the loss and its gradient (`PANELS`), and return the SVG of
    each per theme (`THEMES`)."""
    if len(plot.curves) > len(_CURVES):
        raise ValueError(f"{name}: at most {len(_CURVES)} curves, got {len(plot.curves)}")
    data = sweep(plot)
    x = data.x.numpy()
    titles = {
        "loss": f"{name}: loss $\\ell$",
        "gradient": f"gradient $\\partial\\ell / \\partial {plot.axis.wrt.strip('$')}$",
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
                for color, label in zip(_CURVES, plot.curves, strict=False):
                    axes.plot(x, values[panel][label].numpy(), color=color, label=label)
                axes.set_title(titles[panel])
                axes.set_xlabel(plot.axis.x)
                axes.axhline(0.0, color=_INK, linewidth=0.6)
                if panel == "loss" and len(plot.curves) > 1:
                    axes.legend()
                buffer = io.StringIO()
                figure.savefig(buffer, format="svg", metadata={"Date": None})
            finally:
                plt.close(figure)
            result[panel] = themed(buffer.getvalue())
    return result
