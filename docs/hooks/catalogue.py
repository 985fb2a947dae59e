"""The catalogue of every loss, generated from the package.

Where each column comes from (one source of truth each):

- function: `deeplossdive.functional.__all__`; module: the class of `deeplossdive.nn.__all__`
  whose `function` is it (`class FocalLoss(Loss[Reduction], function=focal_loss)`);
- page: the page of docs/losses/ that renders the function (`::: deeplossdive.functional.<name>`),
  the link goes to the function's section there;
- inputs: the function's positional-only parameters (its signature);
- paper: the first link of the function's docstring that is neither a cross-reference nor
  PyTorch's documentation (the docstring cites the paper as a link);
- task and closest torch equivalent: what the loss file declares with `describe(...)`
  (`deeplossdive._about.ABOUT`; the build fails with the name of a function without one).

The same rows make the table of the API reference (`reference_table`).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import deeplossdive.functional
import deeplossdive.nn
from deeplossdive._about import ABOUT, losses_of

_LINK = re.compile(r"\[(?P<text>[^\[\]]+)\]\((?P<url>https?://[^)\s]+)\)")


def missing_about(public: list[str]) -> tuple[list[str], list[str]]:
    """Public functions that declare nothing with `describe`, and declared names not public."""
    return sorted(set(public) - ABOUT.keys()), sorted(ABOUT.keys() - set(public))


def modules_by_function() -> dict[str, str]:
    """Function name -> name of its module in `deeplossdive.nn` (the module's `function`)."""
    found = {}
    for name in deeplossdive.nn.__all__:
        module = getattr(deeplossdive.nn, name)
        function = getattr(module, "function", None)
        if function is not None:
            found[function.__name__] = name
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
    for name in sorted(losses_of(deeplossdive.functional.__all__), key=key):
        function = getattr(deeplossdive.functional, name)
        about = ABOUT.get(name)
        uri = page_of.get(name)
        result.append(
            Row(
                function=name,
                module=modules.get(name),
                page_uri=uri,
                page_title=None if uri is None else pages[uri][0],
                task="?" if about is None else about.task,
                inputs=inputs(function),
                torch="?" if about is None else about.torch,
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


def reference_table(catalogue: list[Row], link: Callable[[str], str]) -> str:
    """The table of the API reference: each loss's page, function, module and inputs."""
    lines = [
        "| Loss | Function (`deeplossdive.functional`) | Module (`deeplossdive.nn`) | Inputs |",
        "| --- | --- | --- | --- |",
    ]
    for row in catalogue:
        if row.page_uri is None:
            continue  # A function on no page cannot be cross-referenced; the build says so.
        page = f"[{row.page_title}]({link(row.page_uri)})"
        function = f"[`{row.function}`][deeplossdive.functional.{row.function}]"
        module = "—" if row.module is None else f"[`{row.module}`][deeplossdive.nn.{row.module}]"
        lines.append(f"| {page} | {function} | {module} | {row.inputs} |")
    return "\n".join(lines)
