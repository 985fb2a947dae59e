"""The "Which loss?" flowchart of the home page: task, what the model outputs, loss, its page.

`CHART` holds the branches of the decision tree, tasks and outputs, written by hand (what the
code cannot say); each loss file declares its leaf next to the loss, `describe(...,
chart=Leaf(task, output, note, rank))` (`deeplossdive/_about.py`). `render` draws the tree as an
inline SVG at build time, twice: a wide layout (three columns, left to right) for a desktop
and a narrow one (an indented outline) for a phone, `extra.css` showing the one that fits.
Each loss is a link to its section on its page. Colours are Material's CSS variables, so the
chart follows the light and the dark palette; the text is real text, in the page's fonts.

Text widths are estimated from the font size (`_SANS`, `_MONO`: generous averages of the
system fonts Material falls back to); tests/test_site.py measures in a browser that each name
fits its box and that no text is smaller than 8 px on the screen.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass

import deeplossdive.functional  # noqa: F401  (its loss files declare the leaves)
from deeplossdive._about import ABOUT

CHART: dict[str, tuple[str, ...]] = {
    "Classify: one class per example": ("C logits", "C log-probabilities"),
    "Binary or multi-label": (
        "one logit per label",
        "a score, labels ±1",
        "a score per label, lists of labels",
        "probabilities",
    ),
    "Segment images": ("C logits per pixel", "a logit per pixel and channel"),
    "Predict a number": (
        "a value per target",
        "a value per quantile",
        "a log-rate per count",
        "a mean and a variance",
    ),
    "Localize objects": ("boxes (x1, y1, x2, y2)",),
    "Transcribe sequences": ("(T, N, C) log-probabilities, no alignment",),
    "Match a distribution": ("log-probabilities", "student and teacher logits"),
    "Learn embeddings": (
        "pairs, same or not",
        "a distance per pair, labels ±1",
        "anchor, positive, negative",
        "two scores, which ranks higher",
        "two views of each example",
        "matching pairs of two modalities",
        "embeddings and labels",
        "embeddings, one class each",
    ),
    "Train a language model": ("hidden states, the output layer's weight",),
    "Align a language model": ("preference pairs: sequence log-probabilities",),
}
"""The branches of the chart, in the order shown: each task and what the model outputs for it
(and what the target is). The losses are the leaves that the loss files declare,
`describe(..., chart=Leaf(task, output, note, rank))`: every loss page has at least one (the build
checks it, and names a page left out). A loss that serves a new task or output adds it here."""


# The tree as drawn: `CHART` with its leaves in place (`tree()`).


@dataclass(frozen=True)
class Node:
    function: str
    note: str
    """When to pick it, in a few words."""


@dataclass(frozen=True)
class Output:
    label: str
    leaves: tuple[Node, ...]


@dataclass(frozen=True)
class Task:
    label: str
    outputs: tuple[Output, ...]


def tree() -> tuple[Task, ...]:
    """`CHART` with the leaves declared by the loss files: under each output by their `rank`,
    then in declaration order. Fails on a leaf under a branch that `CHART` lacks, and on an
    output left without a leaf."""
    declared = [(name, about.chart) for name, about in ABOUT.items() if about.chart is not None]
    branches = {(task, output) for task, outputs in CHART.items() for output in outputs}
    unknown = [
        f"{name}: {leaf.task!r} / {leaf.output!r}"
        for name, leaf in declared
        if (leaf.task, leaf.output) not in branches
    ]
    if unknown:
        raise ValueError(
            "describe(..., chart=Leaf(task, output, ...)) names a branch that CHART in "
            f"docs/hooks/flowchart.py does not have: {unknown}"
        )
    tasks = []
    for task, outputs in CHART.items():
        resolved = []
        for output in outputs:
            mine = sorted(
                (leaf.rank, order, name, leaf.note)
                for order, (name, leaf) in enumerate(declared)
                if (leaf.task, leaf.output) == (task, output)
            )
            if not mine:
                raise ValueError(
                    f"docs/hooks/flowchart.py: no loss declares a leaf under {task!r} / {output!r}"
                )
            resolved.append(Output(output, tuple(Node(name, note) for *_, name, note in mine)))
        tasks.append(Task(task, tuple(resolved)))
    return tuple(tasks)


def functions() -> list[str]:
    return [leaf.function for task in tree() for output in task.outputs for leaf in output.leaves]


# Sizes in px (the SVG is shown at its own size, or smaller on a narrow screen).
_FONT = 13.0
_SMALL = 12.0
_SANS = 0.56
"""Average advance of a character, in em, for the sans-serif fonts (generous)."""
_MONO = 0.62
_PAD = 8.0
_BOX = 24.0
_ROW = 30.0


def _width(text: str, size: float, mono: bool = False) -> float:
    return len(text) * size * (_MONO if mono else _SANS)


def _wrap(text: str, size: float, width: float) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and _width(f"{lines[-1]} {word}", size) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def _text(x: float, y: float, text: str, css: str, anchor: str = "start") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" class="{css}" text-anchor="{anchor}" '
        f'dominant-baseline="central">{html.escape(text)}</text>'
    )


def _lines(x: float, y: float, lines: list[str], css: str, size: float) -> str:
    top = y - (len(lines) - 1) * size * 0.6
    return "".join(_text(x, top + i * size * 1.2, line, css) for i, line in enumerate(lines))


def _leaf(x: float, y: float, leaf: Node, href: str, note_below: bool) -> tuple[str, float]:
    """A loss: its name in a box linking to its page, and the note; (SVG, right edge)."""
    width = _width(leaf.function, _FONT, mono=True) + 2 * _PAD
    parts = [
        # xlink:href, not href: Material's instant navigation rewrites every `[href]` element
        # by assigning its `href`, which an SVG link only has as a getter (a script error).
        f'<a xlink:href="{html.escape(href)}" class="dld-flow__loss">',
        f"<title>{html.escape(leaf.function)}: its page</title>",
        f'<rect x="{x:.1f}" y="{y - _BOX / 2:.1f}" width="{width:.1f}" height="{_BOX}" rx="4"/>',
        _text(x + _PAD, y, leaf.function, "dld-flow__name"),
        "</a>",
    ]
    right = x + width
    if leaf.note:
        if note_below:
            parts.append(_text(x + _PAD, y + _BOX / 2 + _SMALL * 0.8, leaf.note, "dld-flow__note"))
        else:
            parts.append(_text(right + _PAD, y, leaf.note, "dld-flow__note"))
            right += _PAD + _width(leaf.note, _SMALL)
    return "".join(parts), right


def _edge(path: str) -> str:
    return f'<g class="dld-flow__edge"><path d="{path}"/></g>'


def _curve(x1: float, y1: float, x2: float, y2: float) -> str:
    middle = (x1 + x2) / 2
    return _edge(
        f"M{x1:.1f},{y1:.1f} C{middle:.1f},{y1:.1f} {middle:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
    )


def _svg(layout: str, width: float, height: float, body: list[str]) -> str:
    return (
        f'<svg class="dld-flow__{layout}" xmlns="http://www.w3.org/2000/svg" '
        'xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'aria-labelledby="dld-flow-{layout}-title">'
        f'<title id="dld-flow-{layout}-title">Which loss? From the task and what the model '
        "outputs to a loss and its page</title>" + "".join(body) + "</svg>"
    )


def render_wide(link: Callable[[str], str]) -> str:
    """Three columns: task, output, losses; curves from each node to the next column."""
    task_width, output_width, gap = 170.0, 200.0, 30.0
    output_x = task_width + gap
    leaf_x = output_x + output_width + gap
    body: list[str] = []
    y = 2.0  # top of the next row
    right = leaf_x
    for task in tree():
        task_top = y
        output_centres = []
        for output in task.outputs:
            lines = _wrap(output.label, _FONT, output_width - 2 * _PAD)
            height = max(_BOX, len(lines) * _FONT * 1.2 + 6)
            block = max(len(output.leaves) * _ROW, height + _ROW - _BOX)
            centre = y + block / 2
            first = centre - (len(output.leaves) - 1) * _ROW / 2
            leaf_ys = [first + i * _ROW for i in range(len(output.leaves))]
            for leaf, leaf_y in zip(output.leaves, leaf_ys, strict=True):
                svg, edge = _leaf(leaf_x, leaf_y, leaf, link(leaf.function), note_below=False)
                body.append(svg)
                right = max(right, edge)
            output_centres.append(centre)
            body.append(
                f'<g class="dld-flow__output"><rect x="{output_x}" y="{centre - height / 2:.1f}" '
                f'width="{output_width}" height="{height:.1f}" rx="4"/>'
                + _lines(output_x + _PAD, centre, lines, "dld-flow__label", _FONT)
                + "</g>"
            )
            body += [_curve(output_x + output_width, centre, leaf_x, ly) for ly in leaf_ys]
            y += block
        centre = (task_top + y) / 2
        lines = _wrap(task.label, _FONT, task_width - 2 * _PAD)
        height = max(_BOX, len(lines) * _FONT * 1.2 + 8)
        body.append(
            f'<g class="dld-flow__task"><rect x="0" y="{centre - height / 2:.1f}" '
            f'width="{task_width}" height="{height:.1f}" rx="4"/>'
            + _lines(_PAD, centre, lines, "dld-flow__label", _FONT)
            + "</g>"
        )
        body += [_curve(task_width, centre, output_x, oy) for oy in output_centres]
        y += _ROW / 2  # air between tasks
    return _svg("wide", right + 2, y - _ROW / 2 + 2, body)


def render_narrow(link: Callable[[str], str], width: float = 340.0) -> str:
    """An indented outline for a phone: the task, its outputs below it, their losses below."""
    output_x, leaf_x = 14.0, 28.0
    body: list[str] = []
    y = 12.0
    for task in tree():
        lines = _wrap(task.label, _FONT, width)
        centre = y + (len(lines) - 1) * _FONT * 0.6
        body.append(_lines(0, centre, lines, "dld-flow__heading", _FONT))
        y += len(lines) * _FONT * 1.2 + 6
        trunk_top = y - 6
        for output in task.outputs:
            y += 4
            body.append(_edge(f"M4,{trunk_top:.1f} V{y:.1f} H10"))
            body.append(_text(output_x, y, output.label, "dld-flow__label dld-flow__label--output"))
            branch_top = y + 8
            y += 22
            for leaf in output.leaves:
                fits = (
                    leaf_x
                    + _width(leaf.function, _FONT, mono=True)
                    + 3 * _PAD
                    + _width(leaf.note, _SMALL)
                    <= width
                )
                svg, _ = _leaf(leaf_x, y, leaf, link(leaf.function), note_below=not fits)
                body.append(svg)
                body.append(_edge(f"M18,{branch_top:.1f} V{y:.1f} H{leaf_x}"))
                y += _ROW + (_SMALL * 1.3 if leaf.note and not fits else 0)
            trunk_top = y - _ROW + 4
        y += 12
    return _svg("narrow", width, y - 10, body)


def render(link: Callable[[str], str]) -> str:
    """Both layouts in one block, kept out of the search index (its words are the pages')."""
    return (
        '<div class="dld-flow" data-search-exclude>'
        + render_wide(link)
        + render_narrow(link)
        + "</div>"
    )
