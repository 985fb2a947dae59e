r"""What the site says of each loss besides its docstrings: its catalogue facts, its plot and
its leaf in the home page's flowchart.

Each public loss function declares them in its own file, next to it:

```python
describe(
    focal_loss,
    family="Classification",
    task="Imbalanced multi-class, segmentation",
    plot=Plot(P_T, TWO_CLASSES, {f"γ = {g:g}": two_class(focal_loss, gamma=g) for g in (0, 2)}),
    chart=Leaf("Classify: one class per example", "C logits", "many easy examples", rank=2),
)
```

The site's hooks (`docs/hooks/`) read [`ABOUT`][deeplossdive._about.ABOUT]: the catalogue row
(task, closest function of torch), the plot on the loss's page (drawn with autograd from the
curves, which call the package itself), the section of the navigation that lists the page
(its family), and the leaf of the "Which loss?" flowchart (`chart`: the task and the output of
`CHART` in `docs/hooks/flowchart.py` that it hangs from). The build and the tests name any public
function that declares nothing, a leaf under a branch that `CHART` does not have, and a loss page
none of whose functions has a leaf.

A curve maps the swept input `u` of shape $(n)$ (what `Axis.to_input` makes of the natural
variable) to the loss of each point, shape $(n)$; points must not interact (a loss that couples
the samples of a batch evaluates each point as its own batch, `each`). Nothing here imports a
plotting library: these are small records and functions of tensors.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

Curve = Callable[[Tensor], Tensor]
"""Maps the swept input, shape $(n)$, to the loss of each point, shape $(n)$."""


def _identity(x: Tensor) -> Tensor:
    return x


@dataclass(frozen=True)
class Axis:
    r"""The natural variable of a plot and the input that the gradient is taken with respect to.

    `x` and `wrt` are math (`$…$`), rendered both by matplotlib and, in the caption, by KaTeX:
    keep to the commands both know.
    """

    x: str
    x_range: tuple[float, float]
    wrt: str
    to_input: Callable[[Tensor], Tensor] = _identity
    """Maps the natural variable to that input (e.g. $p_t$ to the logit $z_t$)."""


@dataclass(frozen=True)
class Plot:
    """A loss and its gradient against its natural variable: one curve per label."""

    axis: Axis
    setup: str
    """One Markdown sentence for the caption: what is fixed while the variable moves."""
    curves: Mapping[str, Curve]
    points: int = 121


@dataclass(frozen=True)
class Leaf:
    """Where a loss stands in the home page's "Which loss?" flowchart."""

    task: str
    """The task, as `CHART` of `docs/hooks/flowchart.py` names it ("Segment images")."""
    output: str
    """What the model outputs, one of that task's outputs in `CHART` ("C logits per pixel")."""
    note: str = ""
    """When to pick it, in a few words."""
    rank: int = 0
    """Its place among the losses of its output, smallest first (then in declaration order)."""


@dataclass(frozen=True)
class About:
    """What the code cannot say about a loss function."""

    family: str
    """The section of the navigation that lists its page ("Classification", "Segmentation")."""
    task: str
    """What it is for, in the catalogue."""
    torch: str
    """The closest function of PyTorch (Markdown), or "—"; the page explains the differences."""
    plot: Plot
    chart: Leaf | None
    """Its leaf in the flowchart; a page needs one for at least one of its functions."""


ABOUT: dict[str, About] = {}
"""Public function name -> what it declared with [`describe`][deeplossdive._about.describe]."""

HELPERS: set[str] = set()
"""Public functions that are not losses (declared with [`helper`][deeplossdive._about.helper])."""


def helper(function: Callable[..., Tensor]) -> None:
    """Declare a public function of `deeplossdive.functional` that is not a loss (it computes a
    loss's inputs): it has a page and tests of its own, but no module, `LossSpec`, catalogue row
    or plot."""
    HELPERS.add(function.__name__)


def losses_of(public: Iterable[str]) -> list[str]:
    """The names in `public` that are losses: all but the helpers."""
    return [name for name in public if name not in HELPERS]


def describe(
    function: Callable[..., Tensor],
    *,
    family: str,
    task: str,
    torch: str = "—",
    plot: Plot,
    chart: Leaf | None = None,
) -> None:
    """Declare the catalogue facts, the plot and the flowchart's leaf of `function` (see the
    module docstring)."""
    ABOUT[function.__name__] = About(family, task, torch, plot, chart)


# The natural variables and the inputs built from them, shared by several losses.


def logit(p: Tensor) -> Tensor:
    return torch.log(p) - torch.log1p(-p)


P_T = Axis("$p_t$", (0.01, 0.99), "$z_t$", logit)
"""The probability of the right class, swept through its logit."""
RESIDUAL = Axis("$x - y$", (-3.0, 3.0), "$x$")
MARGIN = Axis("$y \\cdot s$", (-3.0, 3.0), "$s$")
COSINE = Axis("$\\cos\\theta$", (-0.98, 0.98), "$\\cos\\theta$")
OVERLAP = Axis("$p$", (0.01, 0.99), "$z$", logit)

TWO_CLASSES = "Two classes, logits $(z_t, 0)$ and target class 0, so that $p_t = \\sigma(z_t)$."
RESIDUAL_SETUP = "Target $y = 0$, prediction $x$."


def each(one: Callable[[Tensor], Tensor]) -> Curve:
    """For losses that couple a batch: evaluate each point as its own batch."""
    return lambda u: torch.stack([one(value) for value in u.unbind()])


def class0(z: Tensor) -> Tensor:
    """Target class 0 for every point."""
    return torch.zeros(z.shape[0], dtype=torch.long)


def two_class_logits(z: Tensor) -> Tensor:
    """Logits $(z, 0)$ per point, shape $(n, 2)$: class 0 has probability $\\sigma(z)$."""
    return torch.stack([z, torch.zeros_like(z)], dim=1)


def two_class(function: Callable[..., Tensor], **options: object) -> Curve:
    """A softmax classification loss of logits $(z, 0)$ against class 0."""
    return lambda z: function(two_class_logits(z), class0(z), reduction="none", **options)


def residual(function: Callable[..., Tensor], **options: object) -> Curve:
    """A regression loss of the prediction $x$ against the target 0."""
    return lambda x: function(x, torch.zeros_like(x), reduction="none", **options)


def unit_at_cosine(c: Tensor) -> Tensor:
    """Unit vectors $(c, \\sqrt{1 - c^2}, 0)$ at cosine $c$ to $(1, 0, 0)$, shape $(n, 3)$."""
    return torch.stack([c, torch.sqrt(1 - c * c), torch.zeros_like(c)], dim=-1)


# Segmentation: a one-pixel object in a four-pixel image. The object's pixel has foreground
# probability sigma(z); the three background pixels 0.05 each (a soft false positive of 0.15).
SEGMENTATION_SETUP = (
    "A one-pixel object in a four-pixel image: the object's pixel has foreground probability "
    "$p$, the three background pixels 0.05 each."
)
_BACKGROUND_LOGIT = math.log(0.05 / 0.95)


def _foreground_row(z: Tensor) -> Tensor:
    """Foreground logits of the four pixels, shape $(n, 4)$."""
    background = torch.full((z.shape[0], 3), _BACKGROUND_LOGIT, dtype=z.dtype)
    return torch.cat([z[:, None], background], dim=1)


def sigmoid_small_object(function: Callable[..., Tensor], **options: object) -> Curve:
    """A sigmoid overlap loss of the small object, one channel."""

    def loss(z: Tensor) -> Tensor:
        logits = _foreground_row(z)[:, None, :]  # (n, 1 channel, 4 pixels)
        target = torch.zeros_like(logits)
        target[..., 0] = 1.0
        return function(logits, target, reduction="none", **options).mean(dim=1)

    return loss


def softmax_small_object(function: Callable[..., Tensor], **options: object) -> Curve:
    """A softmax overlap loss of the small object, two classes (background, object)."""

    def loss(z: Tensor) -> Tensor:
        foreground = _foreground_row(z)
        logits = torch.stack([torch.zeros_like(foreground), foreground], dim=1)  # (n, 2, 4)
        target = torch.zeros(z.shape[0], 4, dtype=torch.long)
        target[:, 0] = 1
        return function(logits, target, reduction="none", **options).mean(dim=1)

    return loss


def softmax_overlap_plot(function: Callable[..., Tensor]) -> Plot:
    """The plot of a softmax overlap loss (Dice, Jaccard): the small object, with and without
    the background class in the mean."""
    return Plot(
        OVERLAP,
        SEGMENTATION_SETUP + " Two classes (softmax): the curves differ by whether the "
        "background class takes part in the mean.",
        {
            f"include_background={flag}": softmax_small_object(function, include_background=flag)
            for flag in (False, True)
        },
    )


def sigmoid_overlap_plot(function: Callable[..., Tensor]) -> Plot:
    """The plot of a sigmoid overlap loss (Dice, Jaccard): the small object, one channel, at the
    default smoothing and at 1."""
    return Plot(
        OVERLAP,
        SEGMENTATION_SETUP + " One channel.",
        {
            "smooth = 1e-5": sigmoid_small_object(function),
            "smooth = 1": sigmoid_small_object(function, smooth=1.0),
        },
    )
