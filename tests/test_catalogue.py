"""Every public loss has a page, a plot and a notebook, and the catalogue lists it.

Runs the site's `deep_dive` hook (docs/hooks/deep_dive.py) on the real `mkdocs.yml` and the
real pages, without a full build: its `on_config` fills the navigation's Losses section, and
`on_files` draws every plot and converts every page of docs/losses/ to a notebook, as
`mkdocs build` does. Then:

- every function of `deeplossdive.functional.__all__` declares its facts and plot
  (`describe(...)` in its loss file), and is rendered (`:::`) on a page of docs/losses/, as is
  its module;
- every loss page is in the navigation, under the family its functions declare;
- every loss page has a leaf in the home page's flowchart (`describe(..., chart=Leaf(...))`),
  under a branch of `CHART` in docs/hooks/flowchart.py;
- its plot renders (finite loss and gradient on the whole sweep, one SVG per theme);
- its page yields a notebook that nbformat validates, installs the package from the configured
  repository, and holds every ```python block of the page (as sybil collects them), in order;
- the catalogue table and the API reference's table have a row per function, linked to its
  page, function and module.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import nbformat
import pytest
import torch
from mkdocs.config import load_config
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import Files, get_files
from sybil import Document
from sybil.parsers.markdown import PythonCodeBlockParser

import deeplossdive.functional
import deeplossdive.nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs" / "hooks"))

import catalogue  # noqa: E402  (docs/hooks is not a package)
import deep_dive  # noqa: E402
import flowchart  # noqa: E402
import plots  # noqa: E402

from deeplossdive._about import ABOUT, losses_of  # noqa: E402

FUNCTIONS = losses_of(deeplossdive.functional.__all__)


@pytest.fixture(scope="module")
def config() -> MkDocsConfig:
    return load_config(str(ROOT / "mkdocs.yml"))


@pytest.fixture(scope="module")
def files(config: MkDocsConfig) -> Files:
    """The site's files after the hook made the plots and the notebooks."""
    # What MkDocs records while it runs a plugin's event (File.generated reads it).
    setattr(config.plugins, "_current_plugin", "deep_dive")  # noqa: B010
    deep_dive.on_config(config)
    return deep_dive.on_files(get_files(config), config)


def page_of(name: str) -> str | None:
    for uri, page in deep_dive.STATE.pages.items():
        if name in page.functions:
            return uri
    return None


def test_every_public_function_declares_its_facts_and_plot() -> None:
    missing, stale = catalogue.missing_about(FUNCTIONS)
    assert not missing, f"no `describe(function, ...)` in the loss file of {missing}"
    assert not stale, f"described, but not public: {stale}"


def test_every_loss_page_is_in_the_navigation_under_its_family(config: MkDocsConfig) -> None:
    deep_dive.on_config(config)
    nav = config.nav or []
    (losses,) = [item[deep_dive.LOSSES_NAV] for item in nav if deep_dive.LOSSES_NAV in item]
    sections = {family: pages for section in losses for family, pages in section.items()}
    for page in LOSS_PAGES:
        uri = page.relative_to(ROOT / "docs").as_posix()
        functions = deep_dive._functions(page.read_text(encoding="utf-8"))
        family = ABOUT[functions[0]].family
        assert uri in sections.get(family, []), f"{uri} is not in the navigation under {family}"


def test_every_loss_page_has_a_leaf_in_the_flowchart(files: Files) -> None:
    """The leaves resolve to branches of `CHART` (in their declared order), lead to loss pages,
    and every loss page has one."""
    missing, left_out = deep_dive.flowchart_gaps()
    assert not missing, f"flowchart leaves on no loss page: {missing}"
    assert not left_out, f"loss pages without a leaf (`describe(..., chart=Leaf(...))`): {left_out}"
    outputs = [output.label for task in flowchart.tree() for output in task.outputs]
    assert outputs == [output for outputs in flowchart.CHART.values() for output in outputs]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_public_loss_has_a_page(name: str, files: Files) -> None:
    uri = page_of(name)
    assert uri is not None, (
        f"{name} is not rendered (`::: deeplossdive.functional.{name}`) on docs/losses/"
    )
    module = catalogue.modules_by_function().get(name)
    assert module is not None, f"no module of deeplossdive.nn has `function={name}`"
    assert f"deeplossdive.nn.{module}" in deep_dive.STATE.api_pages, (
        f"{module} is not rendered (`::: deeplossdive.nn.{module}`) on any page of docs/losses/"
    )


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_public_loss_has_a_plot(name: str, files: Files) -> None:
    about = ABOUT.get(name)
    assert about is not None, f"no `describe({name}, ...)` in its loss file"
    sweep = plots.sweep(about.plot)
    for label in sweep.losses:
        loss, gradient = sweep.losses[label], sweep.gradients[label]
        assert torch.isfinite(loss).all(), f"{name}, {label}: non-finite loss on the sweep"
        assert torch.isfinite(gradient).all(), f"{name}, {label}: non-finite gradient"
    uri = page_of(name)
    assert uri is not None, f"{name} has no page, so no plot is shown"
    panels = deep_dive.STATE.pages[uri].plots.get(name, {})
    assert set(panels) == set(plots.PANELS), f"{name}: panels {sorted(panels)} only"
    shown = [(theme, plot) for themes in panels.values() for theme, plot in themes.items()]
    assert len(shown) == len(plots.PANELS) * len(plots.THEMES), f"{name}: plots {shown}"
    for theme, plot_uri in shown:
        file = files.get_file_from_path(plot_uri)
        assert file is not None, f"{plot_uri} is not among the site's files"
        svg = file.content_string
        assert "<svg" in svg, f"{plot_uri} is not an SVG"
        assert "#0a0b0" not in svg, f"{plot_uri}: a placeholder colour is left"
        assert "#010203" not in svg, f"{plot_uri}: a placeholder colour is left"
        assert theme in plot_uri


def python_blocks(page: Path) -> list[str]:
    """The ```python blocks of a page, as sybil collects (and runs) them."""
    document = Document.parse(str(page), PythonCodeBlockParser())
    return [textwrap.dedent(str(region.parsed)).strip("\n") for region in document]


LOSS_PAGES = sorted((ROOT / "docs" / "losses").glob("*.md"))


@pytest.mark.parametrize("page", LOSS_PAGES, ids=[page.stem for page in LOSS_PAGES])
def test_every_loss_page_yields_its_notebook(
    page: Path, files: Files, config: MkDocsConfig
) -> None:
    uri = page.relative_to(ROOT / "docs").as_posix()
    info = deep_dive.STATE.pages.get(uri)
    assert info is not None, f"the hook made nothing for {uri}"
    file = files.get_file_from_path(info.notebook)
    assert file is not None, f"{info.notebook} is not among the site's files"
    notebook = json.loads(file.content_string)
    nbformat.validate(notebook)
    assert notebook["nbformat"] == 4
    code = [cell["source"] for cell in notebook["cells"] if cell["cell_type"] == "code"]
    repository = config.extra["repository"]
    assert code, f"{info.notebook} has no code cell"
    assert f"git+https://github.com/{repository}" in code[0], code[0]
    assert code[0].lstrip("# ").count("%pip install") == 1
    blocks = python_blocks(page)
    assert [source.strip("\n") for source in code[1:]] == blocks, (
        f"{info.notebook}: its code cells are not the {len(blocks)} python blocks of {uri}"
    )
    assert not any(cell["outputs"] for cell in notebook["cells"] if cell["cell_type"] == "code")


def test_loss_page_links_its_notebook_and_colab(files: Files, config: MkDocsConfig) -> None:
    uri, info = next(iter(deep_dive.STATE.pages.items()))
    page: Any = type("P", (), {"file": files.get_file_from_path(uri), "meta": {}})()
    markdown = deep_dive.on_page_markdown(
        Path(ROOT / "docs" / uri).read_text(encoding="utf-8"), page, config, files
    )
    colab = (
        f"https://colab.research.google.com/github/{config.extra['repository']}/blob/"
        f"{config.extra['notebooks_branch']}/{info.notebook}"
    )
    assert colab in markdown
    assert "[Download notebook](" in markdown
    assert markdown.count("## Plots") == 1
    assert markdown.count('<figure class="dld-plot"') == len(info.plots)


def test_the_catalogue_lists_every_loss(files: Files, config: MkDocsConfig) -> None:
    page: Any = type("P", (), {"file": files.get_file_from_path(deep_dive.CATALOGUE_PAGE)})()
    source = (ROOT / "docs" / deep_dive.CATALOGUE_PAGE).read_text(encoding="utf-8")
    markdown = deep_dive.on_page_markdown(source, page, config, files)
    assert deep_dive.CATALOGUE_MARKER not in markdown
    for name in FUNCTIONS:
        row = f"| [`{name}`][deeplossdive.functional.{name}] |"
        assert row in markdown, f"the catalogue has no linked row for {name}"
    modules = [name for name in deeplossdive.nn.__all__ if name != "Loss"]
    assert set(catalogue.modules_by_function().values()) == set(modules)


def test_the_api_reference_lists_every_function_and_module(
    files: Files, config: MkDocsConfig
) -> None:
    page: Any = type("P", (), {"file": files.get_file_from_path(deep_dive.REFERENCE_PAGE)})()
    source = (ROOT / "docs" / deep_dive.REFERENCE_PAGE).read_text(encoding="utf-8")
    markdown = deep_dive.on_page_markdown(source, page, config, files)
    assert deep_dive.REFERENCE_MARKER not in markdown
    modules = catalogue.modules_by_function()
    for name in FUNCTIONS:
        row = f"| [`{name}`][deeplossdive.functional.{name}] | [`{modules[name]}`]"
        assert row in markdown, f"the API reference has no row for {name} and its module"


# Losses older than any one paper (or defined by torch's conventions): no Paper column entry.
WITHOUT_A_PAPER = frozenset(
    {
        "binary_cross_entropy",
        "binary_cross_entropy_with_logits",
        "cosine_embedding_loss",
        "cross_entropy",
        "kl_div",
        "l1_loss",
        "log_cosh_loss",
        "mse_loss",
        "nll_loss",
    }
)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_catalogue_cites_a_paper_where_there_is_one(name: str) -> None:
    """The Paper column comes from the docstring's first external link: every loss that comes
    from a paper cites it (a sigmoid variant as much as its softmax twin)."""
    cited = catalogue.paper(getattr(deeplossdive.functional, name))
    if name in WITHOUT_A_PAPER:
        assert cited is None, f"{name} cites {cited}: remove it from WITHOUT_A_PAPER"
    else:
        assert cited is not None, f"{name}: its docstring cites no paper (a link)"
