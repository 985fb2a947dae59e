"""A loss page's Markdown source, as a Jupyter notebook.

Prose becomes Markdown cells and every ```` ```python ```` fence a code cell, in page order (also
fences inside admonitions and tabs, which sybil runs too); a `::: identifier` line of
mkdocstrings (and its indented options) becomes a link to the rendered API on the site, and
cross-references and relative links become absolute links to the site. A first code cell
installs the package (from its Git repository) and the libraries the page imports besides
torch. `deep_dive.py` writes the notebook next to the page at build time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import nbformat

Cell = dict[str, Any]
Notebook = dict[str, Any]


def _markdown_cell(source: str) -> Cell:
    return {"cell_type": "markdown", "id": "", "metadata": {}, "source": source}


def _code_cell(source: str) -> Cell:
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": "",
        "metadata": {},
        "outputs": [],
        "source": source,
    }


_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<marker>`{3,}|~{3,})[ \t]*(?P<info>[^`\n]*?)[ \t]*$")
_CONTAINER = re.compile(
    r"^(?P<indent>[ \t]*)(?:!!!|\?\?\?\+?|===\+?)[ \t]+(?P<kind>[\w-]*)[ \t]*"
    r"(?:\"(?P<title>[^\"]*)\")?[ \t]*$"
)
_DIRECTIVE = re.compile(r"^(?P<indent>[ \t]*):::[ \t]+(?P<identifier>[\w.]+)[ \t]*$")
_CROSS_REFERENCE = re.compile(r"\[(?P<text>[^\[\]]+)\]\[(?P<identifier>[\w.]*)\]")
_INLINE_LINK = re.compile(r"\]\((?P<target>[^()\s]+)\)")
_IMPORT = re.compile(r"^\s*(?:import|from)\s+(?P<module>[A-Za-z_]\w*)", re.MULTILINE)


def _indentation(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def install_line(repository: str, imports: Iterable[str], pins: Mapping[str, str]) -> str:
    """`%pip install` of the package from GitHub and of the modules in `pins` it imports."""
    extra = sorted({pins[module] for module in imports if module in pins})
    packages = " ".join([f'"deeplossdive @ git+https://github.com/{repository}"', *extra])
    return (
        "# In Colab (or any fresh environment): install DeepLossDive and what this page uses.\n"
        f"%pip install --quiet {packages}"
    )


def page_to_notebook(
    markdown: str,
    *,
    page_url: str,
    repository: str,
    pins: Mapping[str, str],
    api_url: Callable[[str], str | None],
    link_url: Callable[[str], str],
) -> Notebook:
    """The notebook of one page.

    `api_url(identifier)` is the site URL where mkdocstrings renders `identifier` (None if no
    page does); `link_url(target)` makes a link of the page absolute; `pins` maps the top-level
    modules a page may import besides torch to their pinned requirement.
    """
    lines = markdown.splitlines()
    title = lines[0] if lines and lines[0].startswith("# ") else ""
    body = lines[1:] if title else lines

    def links(text: str) -> str:
        def cross_reference(match: re.Match[str]) -> str:
            identifier = match["identifier"] or match["text"].strip("`")
            url = api_url(identifier)
            return match[0] if url is None else f"[{match['text']}]({url})"

        text = _CROSS_REFERENCE.sub(cross_reference, text)
        return _INLINE_LINK.sub(lambda m: f"]({link_url(m['target'])})", text)

    cells: list[Cell] = []
    markdown_lines: list[str] = []

    def flush() -> None:
        source = "\n".join(markdown_lines).strip("\n")
        markdown_lines.clear()
        if source.strip():
            cells.append(_markdown_cell(source))

    containers: list[int] = []  # body indentation of the open admonitions / tabs
    fence: tuple[str, int, bool] | None = None  # (marker, indent, is python)
    code: list[str] = []
    directive_indent: int | None = None
    for raw in body:
        if fence is None and raw.strip():
            while containers and _indentation(raw) < containers[-1]:
                containers.pop()
        depth = containers[-1] if containers else 0
        line = raw[depth:] if raw.strip() else ""
        if fence is not None:
            marker, indent, is_python = fence
            stripped = line.strip()
            if stripped.startswith(marker[0] * len(marker)) and set(stripped) == {marker[0]}:
                fence = None
                if is_python:
                    cells.append(_code_cell("\n".join(code).rstrip("\n")))
                    code.clear()
                else:
                    markdown_lines.append(stripped)
            elif is_python:
                code.append(line[indent:] if line[:indent].strip() == "" else line.lstrip())
            else:
                markdown_lines.append(line)
            continue
        if directive_indent is not None:
            if not line.strip() or _indentation(line) > directive_indent:
                continue
            directive_indent = None
        if match := _FENCE.match(line):
            is_python = match["info"] == "python"
            fence = (match["marker"], len(match["indent"]), is_python)
            if is_python:
                flush()
            else:
                markdown_lines.append(line.strip())
            continue
        if match := _DIRECTIVE.match(line):
            identifier = match["identifier"]
            url = api_url(identifier) or page_url
            name = identifier.rsplit(".", 1)[-1]
            markdown_lines.append(f"API reference of [`{name}`]({url}) on the site.")
            directive_indent = len(match["indent"])
            continue
        if match := _CONTAINER.match(line):
            heading = match["title"] or match["kind"].capitalize()
            markdown_lines += [f"**{heading}**", ""] if heading else [""]
            containers.append(depth + len(match["indent"]) + 4)
            continue
        markdown_lines.append(links(line))
    flush()

    intro = (
        f"{title}\n\n*Generated from [this page of the DeepLossDive documentation]({page_url}):"
        " its prose and every code block, in order. Run the cells top to bottom.*"
    ).strip()
    code_sources = [cell["source"] for cell in cells if cell["cell_type"] == "code"]
    imports = {m["module"] for source in code_sources for m in _IMPORT.finditer(source)}
    header = [
        _markdown_cell(intro),
        _code_cell(install_line(repository, imports, pins)),
    ]
    notebook: Notebook = {
        "cells": header + cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
            "colab": {"provenance": []},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    for index, cell in enumerate(notebook["cells"]):
        cell["id"] = f"cell-{index}"  # Stable ids: the same page gives the same file.
    nbformat.validate(notebook)
    return notebook


def dumps(notebook: Notebook) -> str:
    """The notebook as written by Jupyter (JSON, one-space indent, sorted keys)."""
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
