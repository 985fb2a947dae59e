"""MkDocs hooks of the loss pages: plots, notebooks and the catalogue, all made at build time.

For every page of `docs/losses/`, from the functions it renders (`::: deeplossdive.functional.X`)
and what each declares next to itself (`describe(...)`, `deeplossdive._about.ABOUT`):

- its place in the navigation: mkdocs.yml's `Losses` section is generated, a section per family
  of the functions (in the order of `FAMILIES`), and in each the pages by title;
- plots: each function's loss and gradient against its natural variable (its `Plot`),
  drawn from the package with autograd, written as one SVG per panel (loss, gradient) and
  palette (light, dark) next to the page, and shown in a "Plots" section added after the
  page's "The gradient" section (else before "API", else at the end);
- search: the page's functions, their modules and its title as its `tags`
  (`search_names`), so that Material's search lists the page first for each of them;
- a notebook: the page's own source converted (`notebooks.page_to_notebook`), validated with
  nbformat, written next to the page; a "Download notebook" and an "Open in Colab" link under
  the page's title. Colab opens the notebook from the branch the site is published to:
  `extra.repository` and `extra.notebooks_branch` in mkdocs.yml.

The case studies (pages that mkdocs-jupyter renders from `docs/notebooks/`) get the same two
links, to the notebook that the plugin copies next to the page (`include_source: true`).

`catalogue.md` gets the table of every loss (`catalogue.table`) in place of its marker, and
`reference/index.md` the table of the API reference (`catalogue.reference_table`).

The build fails with a clear message when a public function declares no facts and plot, when
the functions of a page declare different families, or when a plot or a notebook cannot be made.
The plots are cached in `.cache/plots/<fingerprint>/`, keyed like the notebooks
(`notebook_cache.fingerprint`: every file of the package, where each loss declares its plot, and
the library versions) and on the bytes of `plots.py`: a change to the package, to a plot or to
matplotlib draws them again. Nothing else is cached.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import posixpath
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import catalogue
import flowchart
import notebook_cache
import notebooks
import plots
import tomllib
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

import deeplossdive.functional
from deeplossdive._about import ABOUT, Plot, losses_of

if TYPE_CHECKING:
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.structure.pages import Page

LOSS_PAGES = "losses/"
CATALOGUE_PAGE = "catalogue.md"
CATALOGUE_MARKER = "<!-- catalogue-table -->"
REFERENCE_PAGE = "reference/index.md"
REFERENCE_MARKER = "<!-- reference-table -->"
LOSSES_NAV = "Losses"
FAMILIES = (
    "Classification",
    "Distributions",
    "Regression",
    "Metric learning",
    "Segmentation",
    "Language models",
)
"""The order of the families in the navigation; any other family comes after, by name."""
HOME_PAGE = "index.md"
FLOWCHART_MARKER = "<!-- which-loss-flowchart -->"
COLAB = "https://colab.research.google.com/github"
_DIRECTIVE = re.compile(r"^[ \t]*:::[ \t]+(deeplossdive\.(?:functional|nn)\.\w+)[ \t]*$", re.M)
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")
_REPOSITORY = re.compile(r"^[\w.-]+/[\w.-]+$")


@dataclass
class LossPage:
    """What the hooks made for one page of docs/losses/."""

    title: str
    functions: list[str]
    notebook: str  # URI of the notebook, relative to docs/
    # function -> panel -> theme -> URI
    plots: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)


@dataclass
class State:
    repository: str = ""
    branch: str = ""
    site: str = ""  # where the site is published (site_url): the notebooks link to it
    pages: dict[str, LossPage] = field(default_factory=dict)
    api_pages: dict[str, str] = field(default_factory=dict)  # identifier -> page URI
    nav_order: list[str] = field(default_factory=list)
    studies: list[str] = field(default_factory=list)  # the case studies' notebooks in the site
    plot_cache: Path | None = None  # .cache/plots/<fingerprint>/
    plots_drawn: int = 0  # plots drawn by this build (the others came from the cache)
    seconds: float = 0.0  # time spent making the plots and notebooks


STATE = State()
LOG = logging.getLogger("mkdocs.hooks.deep_dive")


def _nav_uris(nav: object) -> list[str]:
    """Page URIs of mkdocs.yml's `nav`, in order."""
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [uri for item in nav for uri in _nav_uris(item)]
    if isinstance(nav, dict):
        return [uri for value in nav.values() for uri in _nav_uris(value)]
    return []


def _pins(config: MkDocsConfig) -> dict[str, str]:
    """Top-level module -> pinned requirement, for the test libraries the pages compare with."""
    pyproject = Path(config.config_file_path).resolve().parent / "pyproject.toml"
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    requirements = data["project"]["optional-dependencies"]["test"]
    modules = {
        "kornia": "kornia",
        "monai": "monai",
        "pytorch-metric-learning": "pytorch_metric_learning",
        "scikit-learn": "sklearn",
    }
    pins = {}
    for requirement in requirements:
        name = re.split(r"[=<>!~\[; ]", requirement, maxsplit=1)[0]
        if name in modules:
            pins[modules[name]] = requirement
    return pins


def _title(markdown: str, uri: str) -> str:
    for line in markdown.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return uri


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    extra = config.extra
    repository = str(extra.get("repository", ""))
    branch = str(extra.get("notebooks_branch", ""))
    if not _REPOSITORY.match(repository) or not branch:
        raise PluginError(
            "mkdocs.yml needs `extra: {repository: <owner>/<name>, notebooks_branch: <branch>}`: "
            "the notebooks' install cell and 'Open in Colab' links are built from them "
            f"(got repository={repository!r}, notebooks_branch={branch!r})"
        )
    owner, name = repository.split("/")
    STATE.repository, STATE.branch = repository, branch
    site = config.site_url or f"https://{owner}.github.io/{name}/"
    STATE.site = site if site.endswith("/") else site + "/"
    STATE.pages.clear()
    STATE.api_pages.clear()
    STATE.studies.clear()
    _fill_losses_nav(config)
    root = Path(config.config_file_path).resolve().parent
    STATE.plot_cache = root / PLOT_CACHE / plot_fingerprint(root / "deeplossdive")[:32]
    STATE.plots_drawn = 0
    STATE.nav_order = _nav_uris(config.nav)
    return config


def _functions(markdown: str) -> list[str]:
    """The functions a page renders (`::: deeplossdive.functional.<name>`), in order."""
    return [
        identifier.rsplit(".", 1)[1]
        for identifier in _DIRECTIVE.findall(markdown)
        if identifier.startswith("deeplossdive.functional.")
    ]


def _fill_losses_nav(config: MkDocsConfig) -> None:
    """Generate the `Losses` section of the navigation from the pages of docs/losses/."""
    entry = next(
        (item for item in config.nav or [] if isinstance(item, dict) and LOSSES_NAV in item), None
    )
    if entry is None:
        raise PluginError(f"mkdocs.yml's nav needs a `- {LOSSES_NAV}: []` entry to fill")
    families: dict[str, list[tuple[str, str]]] = {}
    problems = []
    for path in sorted((Path(config.docs_dir) / LOSS_PAGES).glob("*.md")):
        uri, markdown = f"{LOSS_PAGES}{path.name}", path.read_text(encoding="utf-8")
        found = sorted({ABOUT[name].family for name in _functions(markdown) if name in ABOUT})
        if len(found) != 1:
            problems.append(f"{uri}: its functions declare the families {found}, not one")
            continue
        families.setdefault(found[0], []).append((_title(markdown, uri), uri))
    if problems:
        raise PluginError("Every loss page needs one family:\n  " + "\n  ".join(problems))
    rank = {family: index for index, family in enumerate(FAMILIES)}
    order = sorted(families, key=lambda family: (rank.get(family, len(FAMILIES)), family))
    entry[LOSSES_NAV] = [{family: [uri for _, uri in sorted(families[family])]} for family in order]


def _check_registries() -> None:
    public = losses_of(deeplossdive.functional.__all__)
    problems = []
    missing, stale = catalogue.missing_about(public)
    problems += [f"{name} declares no facts and plot: `describe({name}, ...)`" for name in missing]
    problems += [f"{name} is described but not public" for name in stale]
    if problems:
        raise PluginError(
            "Every public loss function declares, in its loss file, its family, catalogue facts "
            "and plot (deeplossdive/_about.py):\n  " + "\n  ".join(problems)
        )


def _site_url(uri: str) -> str:
    """Published URL of a docs/ file: a page (use_directory_urls) or another file."""
    if uri.endswith(".md"):
        path = uri[: -len(".md")]
        path = "" if path in {"index", "README"} else path.removesuffix("/index") + "/"
        return STATE.site + path
    return STATE.site + uri


def _api_url(identifier: str) -> str | None:
    uri = STATE.api_pages.get(identifier)
    return None if uri is None else f"{_site_url(uri)}#{identifier}"


_NOT_RELATIVE = re.compile(r"^[a-z][a-z0-9+.-]*:|^#|^/")
"""A link target with a scheme, an anchor of the page itself, or a root-absolute path."""


def _resolve(target: str, base: str) -> tuple[str, str]:
    """A relative link target, joined to the directory `base`: (path, "#anchor" or "")."""
    path, _, anchor = target.partition("#")
    joined = posixpath.normpath(posixpath.join(base, path)) + ("/" if path.endswith("/") else "")
    return joined, f"#{anchor}" if anchor else ""


def _notebook(file: File, markdown: str) -> str:
    base = posixpath.dirname(file.src_uri)

    def link_url(target: str) -> str:
        if _NOT_RELATIVE.match(target):
            return target if not target.startswith("#") else _site_url(file.src_uri) + target
        uri, anchor = _resolve(target, base)
        return _site_url(uri) + anchor

    notebook = notebooks.page_to_notebook(
        markdown,
        page_url=_site_url(file.src_uri),
        repository=STATE.repository,
        pins=_PINS,
        api_url=_api_url,
        link_url=link_url,
    )
    return notebooks.dumps(notebook)


_PINS: dict[str, str] = {}
PLOT_CACHE = Path(".cache") / "plots"
"""Relative to the repository root."""


def plot_fingerprint(package: Path, plots_source: bytes | None = None) -> str:
    """The key of the cached plots: the package's files, the library versions (matplotlib and
    torch among them; each loss declares its plot in its file) and the source of `plots.py` (the
    drawing)."""
    if plots_source is None:
        plots_source = Path(plots.__file__).read_bytes()
    digest = hashlib.sha256(plots_source).hexdigest()
    return notebook_cache.fingerprint(package, [*notebook_cache.environment(), f"plots={digest}"])


def _plot_svgs(plot: Plot, function: str) -> dict[str, dict[str, str]]:
    """panel -> theme -> SVG of `function`: from the cache, or drawn (and cached)."""
    cache = STATE.plot_cache
    names = {
        (panel, theme): f"{function}.{panel}.{theme}.svg"
        for panel in plots.PANELS
        for theme in plots.THEMES
    }
    if cache is not None and all((cache / name).is_file() for name in names.values()):
        found: dict[str, dict[str, str]] = {}
        for (panel, theme), name in names.items():
            found.setdefault(panel, {})[theme] = (cache / name).read_text(encoding="utf-8")
        return found
    svgs = plots.render_svg(plot, function)
    STATE.plots_drawn += 1
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        for (panel, theme), name in names.items():
            (cache / name).write_text(svgs[panel][theme], encoding="utf-8")
    return svgs


def on_files(files: Files, config: MkDocsConfig) -> Files:
    start = time.perf_counter()
    _check_registries()
    _PINS.clear()
    _PINS.update(_pins(config))
    sources: dict[str, tuple[File, str]] = {}
    for file in files.documentation_pages():
        if file.src_uri.startswith(LOSS_PAGES) and file.abs_src_path:
            markdown = Path(file.abs_src_path).read_text(encoding="utf-8")
            sources[file.src_uri] = (file, markdown)
            for identifier in _DIRECTIVE.findall(markdown):
                STATE.api_pages.setdefault(identifier, file.src_uri)
    for uri, (file, markdown) in sources.items():
        stem = posixpath.splitext(uri)[0]
        name = posixpath.basename(stem)
        functions = _functions(markdown)
        page = LossPage(_title(markdown, uri), functions, f"{stem}/{name}.ipynb")
        for function in functions:
            about = ABOUT.get(function)
            if about is None:  # A name rendered on a page but not public: mkdocstrings says so.
                continue
            try:
                svgs = _plot_svgs(about.plot, function)
            except Exception as error:
                raise PluginError(f"{uri}: the plot of {function} failed: {error!r}") from error
            page.plots[function] = {}
            for panel, themes in svgs.items():
                page.plots[function][panel] = {}
                for theme, svg in themes.items():
                    plot_uri = f"{stem}/{function}.{panel}.{theme}.svg"
                    files.append(File.generated(config, plot_uri, content=svg))
                    page.plots[function][panel][theme] = plot_uri
        try:
            content = _notebook(file, markdown)
        except Exception as error:
            raise PluginError(f"{uri}: its notebook could not be made: {error!r}") from error
        files.append(File.generated(config, page.notebook, content=content))
        STATE.pages[uri] = page
    STATE.seconds = time.perf_counter() - start
    return files


def _relative(target: str, page: Page) -> str:
    """A Markdown link from the page's source to another file of docs/."""
    return posixpath.relpath(target, posixpath.dirname(page.file.src_uri) or ".")


def _colab(notebook: str) -> str:
    """Colab's URL of a notebook of the built site (its path under the site's root)."""
    return f"{COLAB}/{STATE.repository}/blob/{STATE.branch}/{notebook}"


def _notebook_links(info: LossPage, page: Page) -> str:
    name = posixpath.basename(info.notebook)
    colab = _colab(info.notebook)
    return (
        f'[Download notebook]({_relative(info.notebook, page)}){{ .md-button download="{name}" '
        f'title="This page as a Jupyter notebook" }}\n'
        f"[Open in Colab]({colab})"
        '{ .md-button .dld-colab title="Run this page in Google Colab" }\n'
        "{ .dld-notebook-download }"
    )


def _plots_section(info: LossPage, page: Page) -> str:
    parts = [
        "## Plots",
        "",
        "Each loss and its gradient against the variable it is best read in, drawn when this "
        "site was built from the package itself: the gradient is autograd's, through the same "
        "function. Every curve is a sweep of one input with everything else fixed, as stated "
        "under the plot.",
        "",
    ]
    alts = {"loss": "Plot of {}", "gradient": "Plot of the gradient of {}"}
    for function, panels in info.plots.items():
        plot = ABOUT[function].plot
        images = [
            f"![{alts[panel].format(function)}]({_relative(uri, page)}#only-{theme})"
            for panel, themes in panels.items()
            for theme, uri in themes.items()
        ]
        parts += [
            '<figure class="dld-plot" markdown>',
            "",
            *images,
            "",
            "<figcaption markdown>",
            "",
            f"[`{function}`][deeplossdive.functional.{function}]: the loss and its gradient "
            f"with respect to {plot.axis.wrt}, against {plot.axis.x}. {plot.setup}",
            "",
            "</figcaption>",
            "</figure>",
            "",
        ]
    return "\n".join(parts)


def _headings(markdown: str) -> list[tuple[int, str]]:
    """(line index, text) of the level-2 headings outside fenced code."""
    found = []
    fence: str | None = None
    for index, line in enumerate(markdown.splitlines()):
        match = _FENCE.match(line)
        if match:
            marker = match[1]
            if fence is None:
                fence = marker
            elif marker.startswith(fence) and not line.strip().strip(marker[0]):
                fence = None
            continue
        if fence is None and line.startswith("## "):
            found.append((index, line[3:].strip()))
    return found


def _insert(markdown: str, section: str, links: str) -> str:
    lines = markdown.splitlines()
    headings = _headings(markdown)
    where = len(lines)
    gradient = [i for i, (_, text) in enumerate(headings) if text.startswith("The gradient")]
    api = [index for index, text in headings if text == "API"]
    if gradient and gradient[0] + 1 < len(headings):
        where = headings[gradient[0] + 1][0]
    elif api:
        where = api[0]
    lines[where:where] = [section, ""]
    title = next((i for i, line in enumerate(lines) if line.startswith("# ")), -1)
    lines[title + 1 : title + 1] = ["", links, ""]
    return "\n".join(lines) + "\n"


_PUNCTUATION = re.compile(r"[^\w\s-]+")


def search_names(title: str, functions: list[str]) -> list[str]:
    """The names a reader types to find a loss page: its functions, their modules, and the
    page's title (the loss's usual name: "Focal loss", "NT-Xent (SimCLR)").

    Material's search matches a typed word as a prefix (`huber` finds `huber_loss`, `triplet`
    finds `triplet_margin_loss`), except a word before a hyphen (`NT-Xent` is `nt` and `xent*`),
    which the title's words match; and it weighs a match in a page's `tags` far above any other.
    Given these names as its tags, a loss page comes first for each of them.
    """
    modules = catalogue.modules_by_function()
    names = []
    for function in functions:
        names.append(function)
        if function in modules:
            names.append(modules[function])
    names.append(" ".join(_PUNCTUATION.sub(" ", title).split()))
    return list(dict.fromkeys(names))


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    uri = page.file.src_uri
    if uri in STATE.pages:
        info = STATE.pages[uri]
        tags = [str(tag) for tag in page.meta.get("tags") or []]
        page.meta["tags"] = list(dict.fromkeys([*tags, *search_names(info.title, info.functions)]))
        return _insert(markdown, _plots_section(info, page), _notebook_links(info, page))
    if uri == HOME_PAGE and FLOWCHART_MARKER in markdown:
        return markdown.replace(FLOWCHART_MARKER, _flowchart(page, files))
    tables = {
        CATALOGUE_PAGE: (CATALOGUE_MARKER, catalogue.table),
        REFERENCE_PAGE: (REFERENCE_MARKER, catalogue.reference_table),
    }
    if uri in tables:
        marker, make_table = tables[uri]
        if marker not in markdown:
            raise PluginError(f"{uri}: the marker {marker} for the table is missing")
        pages = {u: (info.title, info.functions) for u, info in STATE.pages.items()}
        rows = catalogue.rows(pages, STATE.nav_order)
        return markdown.replace(marker, make_table(rows, lambda target: _relative(target, page)))
    return markdown


def flowchart_gaps() -> tuple[list[str], list[str]]:
    """The chart's leaves that no loss page renders, and the loss pages without a leaf."""
    identifiers = [f"deeplossdive.functional.{name}" for name in flowchart.functions()]
    missing = [name for name in identifiers if name not in STATE.api_pages]
    pages = {STATE.api_pages[name] for name in identifiers if name in STATE.api_pages}
    return missing, sorted(set(STATE.pages) - pages)


def _flowchart(page: Page, files: Files) -> str:
    """The "Which loss?" chart (`flowchart.CHART` and the leaves the loss files declare), each
    loss linked to its section. The build fails on a leaf under a branch `CHART` lacks, on a
    leaf that is not rendered on a loss page, and on a loss page the chart misses."""
    try:
        missing, left_out = flowchart_gaps()
    except ValueError as error:
        raise PluginError(str(error)) from error
    if missing or left_out:
        raise PluginError(
            f"the flowchart's leaves {missing} are on no loss page, and the loss pages "
            f"{left_out} have no leaf: give one of their functions "
            "`describe(..., chart=Leaf(task, output, note))` in its loss file"
        )

    def link(function: str) -> str:
        identifier = f"deeplossdive.functional.{function}"
        target = files.get_file_from_path(STATE.api_pages[identifier])
        assert target is not None
        return f"{target.url_relative_to(page.file)}#{identifier}"

    return flowchart.render(link)


def on_page_content(html: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """A case study's "Download notebook" and "Open in Colab" links, above its first cell.

    mkdocs-jupyter sets `nb_url` on the pages it renders and copies the notebook into the
    directory of the page's HTML file, so a link by file name works wherever the site is served.
    """
    if getattr(page, "nb_url", None) is None or page.file.abs_src_path is None:
        return html
    name = Path(page.file.abs_src_path).name
    published = posixpath.join(posixpath.dirname(page.file.dest_uri), name)
    STATE.studies.append(published)
    links = (
        f'<p class="dld-notebook-download"><a href="{name}" download class="md-button" '
        f'title="Download {name}">Download notebook</a> '
        f'<a href="{_colab(published)}" class="md-button dld-colab" '
        'title="Run this notebook in Google Colab">Open in Colab</a></p>'
    )
    return links + _sized_images(html)


_PNG = re.compile(r'<img (?P<before>[^>]*?)src="data:image/png;base64,(?P<data>[A-Za-z0-9+/=]+)"')
SMALLEST_SCALE = 0.6
"""The least a notebook plot is shrunk to fit a narrow column: matplotlib's inline PNGs are
100 dpi, so default 10-pt text (13.9 px) stays above 8 px; a wider plot scrolls sideways."""


def _sized_images(html: str) -> str:
    """Give each PNG of a notebook page its natural width as the largest, and
    `SMALLEST_SCALE` of it as the smallest (extra.css lets the image box scroll sideways)."""

    def sized(match: re.Match[str]) -> str:
        header = base64.b64decode(match["data"][:32])
        if header[:8] != b"\x89PNG\r\n\x1a\n":
            return match[0]
        width = int.from_bytes(header[16:20], "big")
        style = f"max-width: {width}px; min-width: {round(width * SMALLEST_SCALE)}px"
        return f'<img {match["before"]}style="{style}" src="data:image/png;base64,{match["data"]}"'

    return _PNG.sub(sized, html)


def _absolute_links(notebook: Path, page_dir: str) -> None:
    """Make the relative links of a copied notebook's Markdown cells absolute to the site.

    mkdocs-jupyter copies a case study as it is (after the pages are written), and its links
    (`../../losses/dice/`) are relative to its page: right on the site, broken in the
    downloaded file and in Colab.
    """
    content = json.loads(notebook.read_text(encoding="utf-8"))

    def absolute(match: re.Match[str]) -> str:
        target = match["target"]
        if _NOT_RELATIVE.match(target):
            return match[0]
        path, anchor = _resolve(target, page_dir)
        return f"]({STATE.site}{path}{anchor})"

    for cell in content["cells"]:
        if cell["cell_type"] == "markdown":
            source = notebooks._INLINE_LINK.sub(absolute, "".join(cell["source"]))
            cell["source"] = source.splitlines(keepends=True)
    notebook.write_text(json.dumps(content, indent=1, ensure_ascii=False) + "\n", "utf-8")


def on_post_build(config: MkDocsConfig) -> None:
    for published in STATE.studies:
        _absolute_links(Path(config.site_dir) / published, posixpath.dirname(published))
    total = sum(len(info.plots) for info in STATE.pages.values())
    LOG.info(
        "deep_dive: %d plots (%d drawn, the others cached) and %d notebooks for %d loss pages, "
        "made in %.1f s",
        total,
        STATE.plots_drawn,
        len(STATE.pages),
        len(STATE.pages),
        STATE.seconds,
    )
    cache = STATE.plot_cache
    if cache is not None and cache.parent.is_dir():
        for other in cache.parent.iterdir():
            if other != cache and other.is_dir():
                shutil.rmtree(other)
