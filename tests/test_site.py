"""The built site in a real browser, offline.

Serves the site on 127.0.0.1, opens every page in Debian's chromium through Playwright, and
checks what a reader would see: math rendered by KaTeX (no raw TeX, no `.katex-error`), KaTeX's
fonts loaded from the site itself, plots in the notebook pages, math re-rendered after instant
navigation, search answering, and not one request to another host.

The site is `$DEEPLOSSDIVE_SITE` when set (`make test` builds it first), otherwise this module
builds it with `mkdocs build --strict` into a temporary directory. Without chromium the tests
skip: never `playwright install` (it downloads a browser from the internet).

Run with `-s` to see the summary line (pages, formulas, plots, external requests).

One test needs no browser: every public loss is rendered on a page of docs/losses/ (the table of
the API reference is generated at build time: tests/test_catalogue.py checks it).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import urlopen

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Request,
    Response,
    Route,
    ViewportSize,
    sync_playwright,
)
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

import deeplossdive.functional
import deeplossdive.nn

ROOT = Path(__file__).resolve().parent.parent
SITE_ENV = "DEEPLOSSDIVE_SITE"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Wide enough for Material's desktop layout: the navigation sidebar and the search box are shown.
VIEWPORT: ViewportSize = {"width": 1280, "height": 900}
TIMEOUT_MS = 10_000

# Runs in the page once math had its chance to render. Text inside code, scripts and rendered
# KaTeX is not prose: raw TeX anywhere else means a formula the reader sees as source.
PAGE_REPORT_JS = r"""
async () => {
  await document.fonts.ready;
  // (mkdocs-jupyter keeps a hidden copy of each code cell for its copy button.)
  const skip = "pre, code, script, style, textarea, .katex, .clipboard-copy-txt";
  const leftovers = (roots, pattern) => {
    const hits = [];
    for (const root of roots) {
      const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        if (node.parentElement.closest(skip)) continue;
        if (pattern.test(node.data)) hits.push(node.data.trim().slice(0, 80));
      }
    }
    return hits;
  };
  // The content, plus navigation and table of contents (where a formula in a heading lands).
  const content = [...document.querySelectorAll(".md-content, .md-sidebar")];
  const arithmatex = [...document.querySelectorAll(".md-content .arithmatex")];
  return {
    title: document.title,
    arithmatex: arithmatex.length,
    arithmatexRendered: arithmatex.filter((el) => el.querySelector(".katex")).length,
    katex: document.querySelectorAll(".md-content .katex").length,
    // A parse error becomes a `.katex-error`; an unknown command (`\foo`) renders inside the
    // formula in KaTeX's errorColor, visible in its MathML as a coloured <mtext>\foo</mtext>.
    katexErrors: [
      ...[...document.querySelectorAll(".katex-error")].map((el) => el.textContent),
      ...[...document.querySelectorAll('.katex-mathml mstyle[mathcolor="#cc0000"] > mtext')]
        .map((el) => el.textContent)
        .filter((text) => text.startsWith("\\"))
        .map((text) => `undefined command ${text}`),
    ],
    // \( \[ (arithmatex output), $$ or $x$ (notebook markdown, or math arithmatex missed).
    rawTex: leftovers(content, /\\\(|\\\[|\$\$|\$[^$\s][^$]*\$/),
    notebook: document.querySelector(".jupyter-wrapper") !== null,
    plots: [...document.querySelectorAll(".jupyter-wrapper img")].filter(
      (img) => img.src.startsWith("data:image/png") && img.naturalWidth > 0
    ).length,
    download: document.querySelector(".dld-notebook-download a")?.href ?? null,
    // Loss pages: the plots of the current palette (the other palette's copy is hidden), and
    // the "Open in Colab" link next to "Download notebook".
    lossPlots: [...document.querySelectorAll(".md-content figure.dld-plot img")].filter(
      (img) => img.complete && img.naturalWidth > 0 && img.checkVisibility()
    ).length,
    colab: document.querySelector(".dld-notebook-download a.dld-colab")?.href ?? null,
    katexFonts: [...document.fonts]
      .filter((face) => face.family.replace(/"/g, "").startsWith("KaTeX_"))
      .map((face) => [face.family.replace(/"/g, ""), face.status]),
  };
}
"""
# True once every formula of the page is rendered (or the page has none).
MATH_RENDERED_JS = """
() => [...document.querySelectorAll(".md-content .arithmatex")].every(
  (el) => el.querySelector(".katex")
)
"""


@dataclass
class Traffic:
    """Every request of the browser context: what left the machine, what failed."""

    origin: str
    external: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    font_responses: dict[str, int] = field(default_factory=dict)
    page_errors: list[str] = field(default_factory=list)

    def guard(self, route: Route) -> None:
        """Let requests to the site's server through; record and abort everything else
        (another host, and also another port of 127.0.0.1: a hard-coded site_url)."""
        if route.request.url.startswith(self.origin):
            route.continue_()
        else:
            self.external.append(route.request.url)
            route.abort("blockedbyclient")

    def on_response(self, response: Response) -> None:
        if "/assets/katex/fonts/" in response.url:
            self.font_responses[response.url] = response.status
        if response.status >= 400:
            self.failed.append(f"{response.status} {response.url}")

    def on_page_error(self, page: Page, error: PlaywrightError) -> None:
        self.page_errors.append(f"{page.url}: {error}")

    def on_console(self, page: Page, message: ConsoleMessage) -> None:
        # KaTeX's auto-render logs a formula it cannot parse here, then leaves it as text.
        if message.type == "error":
            self.page_errors.append(f"{page.url}: console: {message.text}")

    def on_request_failed(self, request: Request) -> None:
        # net::ERR_ABORTED is the browser cancelling a request it no longer needs (leaving
        # the page); anything else from the local server is a broken site.
        if request.url.startswith(self.origin) and request.failure != "net::ERR_ABORTED":
            self.failed.append(f"{request.failure} {request.url}")


@dataclass
class PageReport:
    """What `PAGE_REPORT_JS` found on one page."""

    path: str
    arithmatex: int
    arithmatex_rendered: int
    katex: int
    katex_errors: list[str]
    raw_tex: list[str]
    notebook: bool
    plots: int
    download: str | None
    loss_plots: int
    colab: str | None
    katex_fonts: list[tuple[str, str]]

    @classmethod
    def from_js(cls, path: str, data: dict[str, Any]) -> PageReport:
        return cls(
            path=path,
            arithmatex=data["arithmatex"],
            arithmatex_rendered=data["arithmatexRendered"],
            katex=data["katex"],
            katex_errors=data["katexErrors"],
            raw_tex=data["rawTex"],
            notebook=data["notebook"],
            plots=data["plots"],
            download=data["download"],
            loss_plots=data["lossPlots"],
            colab=data["colab"],
            katex_fonts=[(family, status) for family, status in data["katexFonts"]],
        )


@dataclass
class Summary:
    """Counts for the summary line, filled as the tests run."""

    pages: int = 0
    formulas: int = 0
    plots: int = 0
    loss_pages: int = 0
    loss_plots: int = 0
    external: int = 0

    def line(self) -> str:
        return (
            f"site check: {self.pages} pages visited, {self.formulas} formulas rendered, "
            f"{self.plots} notebook plots, {self.loss_plots} loss plots on {self.loss_pages} "
            f"loss pages, {self.external} external requests"
        )


# Without a browser: the site's inventory of losses is complete.
DIRECTIVE = re.compile(r"^:::\s+(deeplossdive\.(?:functional|nn)\.\w+)\s*$", re.MULTILINE)


def public_losses() -> list[str]:
    functions = [f"deeplossdive.functional.{name}" for name in deeplossdive.functional.__all__]
    modules = [f"deeplossdive.nn.{name}" for name in deeplossdive.nn.__all__ if name != "Loss"]
    return functions + modules


def test_every_public_loss_has_a_page() -> None:
    """Each public function and module is rendered (`:::`) on exactly one page under
    docs/losses/."""
    rendered: dict[str, list[str]] = {}
    for page in sorted((ROOT / "docs" / "losses").glob("*.md")):
        for name in DIRECTIVE.findall(page.read_text(encoding="utf-8")):
            rendered.setdefault(name, []).append(page.name)
    problems = []
    for name in public_losses():
        pages = rendered.get(name, [])
        if len(pages) != 1:
            problems.append(f"{name} is rendered on {len(pages)} pages of docs/losses/ {pages}")
    assert not problems, "\n".join(problems)


# With a browser.


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def chromium() -> str:
    executable = find_chromium()
    if executable is None:
        pytest.skip("Debian's chromium not found: apt-get install chromium (.ci/run does this)")
    return executable


@pytest.fixture(scope="session")
def site(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built site: `$DEEPLOSSDIVE_SITE`, or a fresh `mkdocs build --strict`."""
    given = os.environ.get(SITE_ENV)
    if given:
        path = Path(given).resolve()
        if not (path / "index.html").is_file():
            pytest.fail(
                f"{SITE_ENV}={given} is not a built site (no index.html); build it or unset it"
            )
        return path
    path = tmp_path_factory.mktemp("site")
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(path)]
    result = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}"[-6000:])
    return path


class SiteServer(ThreadingHTTPServer):
    """Serves a built site on 127.0.0.1 at a free port, as if it were deployed at its site_url.

    Material's instant navigation only intercepts links listed in `sitemap.xml`, and it matches
    them on scheme, host *and port* against `site_url`. A deployed site is served at its
    site_url; this server is not (the port is random), so it serves `sitemap.xml` with its own
    origin in place of site_url. Every other file is served as built.
    """

    daemon_threads = True

    def __init__(self, site: Path) -> None:
        super().__init__(("127.0.0.1", 0), functools.partial(SiteHandler, directory=str(site)))
        self.base_url = f"http://127.0.0.1:{self.server_address[1]}/"
        self.sitemap: bytes | None = None
        sitemap = site / "sitemap.xml"
        if sitemap.is_file():
            text = sitemap.read_text(encoding="utf-8")
            locs = re.findall(r"<loc>\s*(\S+?)\s*</loc>", text)
            if locs:  # The first page is the home page: its URL is site_url.
                self.sitemap = text.replace(locs[0], self.base_url).encode()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The browser drops connections (aborted prefetches, navigation): not a site error.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class SiteHandler(SimpleHTTPRequestHandler):
    server: SiteServer

    def do_GET(self) -> None:
        if urlsplit(self.path).path == "/sitemap.xml" and self.server.sitemap is not None:
            self.send_response(200)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(self.server.sitemap)))
            self.end_headers()
            self.wfile.write(self.server.sitemap)
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def server(site: Path) -> Iterator[str]:
    """Base URL of the site, served on 127.0.0.1 at a free port."""
    with SiteServer(site) as httpd:
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        yield httpd.base_url
        httpd.shutdown()
        thread.join()


@pytest.fixture(scope="session")
def browser(chromium: str) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_FLAGS
        )
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def traffic(server: str) -> Traffic:
    return Traffic(origin=server)


@pytest.fixture(scope="session")
def summary(report: Callable[[str], None]) -> Iterator[Summary]:
    counts = Summary()
    yield counts
    report(counts.line())


@pytest.fixture(scope="session")
def context(browser: Browser, traffic: Traffic) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    context.route("**/*", traffic.guard)
    context.on("response", traffic.on_response)
    context.on("requestfailed", traffic.on_request_failed)
    yield context
    context.close()


def new_page(context: BrowserContext, traffic: Traffic) -> Page:
    page = context.new_page()
    page.on("pageerror", lambda error: traffic.on_page_error(page, error))
    page.on("console", lambda message: traffic.on_console(page, message))
    return page


def wait_for_math(page: Page) -> None:
    """Give KaTeX its chance; a page that never renders is reported by the assertions."""
    with contextlib.suppress(PlaywrightTimeoutError):
        page.wait_for_function(MATH_RENDERED_JS, timeout=5_000)


def site_pages(site: Path) -> list[str]:
    """URL paths of every HTML page, except 404.html and search's assets."""
    paths = []
    for html in sorted(site.rglob("*.html")):
        relative = html.relative_to(site).as_posix()
        if relative == "404.html" or relative.startswith(("search/", "assets/")):
            continue
        paths.append(relative.removesuffix("index.html"))
    return paths


@pytest.fixture(scope="session")
def reports(
    site: Path, server: str, context: BrowserContext, traffic: Traffic, summary: Summary
) -> list[PageReport]:
    """Visit every page once and report what is on it."""
    page = new_page(context, traffic)
    found = []
    for path in site_pages(site):
        page.goto(server + path, wait_until="load")
        wait_for_math(page)
        found.append(PageReport.from_js(path, page.evaluate(PAGE_REPORT_JS)))
    page.close()
    summary.pages = len(found)
    summary.formulas = sum(report.katex for report in found)
    summary.plots = sum(report.plots for report in found)
    loss_reports = [report for report in found if report.path.startswith("losses/")]
    summary.loss_pages = len(loss_reports)
    summary.loss_plots = sum(report.loss_plots for report in loss_reports)
    return found


def test_site_has_the_expected_pages(reports: list[PageReport]) -> None:
    paths = {report.path for report in reports}
    expected = {"", "losses/focal/", "conventions/", "reference/"}
    assert expected <= paths, f"missing pages: {sorted(expected - paths)}"
    assert any(report.notebook for report in reports), f"no notebook page among {sorted(paths)}"


def test_every_formula_is_rendered(reports: list[PageReport]) -> None:
    problems = []
    for report in reports:
        if report.arithmatex_rendered != report.arithmatex:
            problems.append(
                f"/{report.path}: {report.arithmatex - report.arithmatex_rendered} of "
                f"{report.arithmatex} formulas not rendered"
            )
        if report.katex_errors:
            problems.append(f"/{report.path}: KaTeX errors {report.katex_errors}")
        if report.raw_tex:
            problems.append(f"/{report.path}: raw TeX {report.raw_tex}")
    assert not problems, "\n".join(problems)
    assert sum(report.katex for report in reports) > 0, "no formula on the whole site"


def test_katex_fonts_load_from_the_site(reports: list[PageReport], traffic: Traffic) -> None:
    for report in reports:
        if report.katex == 0:
            continue
        statuses = dict(report.katex_fonts)
        broken = sorted(family for family, status in report.katex_fonts if status == "error")
        assert not broken, f"/{report.path}: KaTeX fonts failed to load: {broken}"
        assert "loaded" in statuses.values(), f"/{report.path}: no KaTeX font loaded: {statuses}"
    assert traffic.font_responses, "no KaTeX font was requested from the site"
    bad = {url: status for url, status in traffic.font_responses.items() if status != 200}
    assert not bad, f"KaTeX font requests failed: {bad}"


def test_notebook_pages_show_plots_and_offer_the_notebook(
    reports: list[PageReport], server: str
) -> None:
    repository = configured_repository()
    notebooks = [report for report in reports if report.notebook]
    assert {report.path for report in notebooks} >= {
        f"notebooks/{path.stem}/" for path in CASE_STUDIES
    }
    for report in notebooks:
        assert report.plots >= 1, f"/{report.path}: no plot (img with a data: PNG)"
        assert report.download, f"/{report.path}: no 'Download notebook' link"
        assert report.download.startswith(server), f"/{report.path}: {report.download}"
        published = report.download.removeprefix(server)
        expected = f"https://colab.research.google.com/github/{repository}/blob/"
        assert report.colab, f"/{report.path}: no 'Open in Colab' link"
        assert report.colab.startswith(expected), f"/{report.path}: {report.colab}"
        assert report.colab.endswith("/" + published), (report.colab, published)
        with urlopen(report.download, timeout=10) as response:
            notebook = json.load(response)
        assert notebook["nbformat"] == 4
        outputs = [cell.get("outputs") for cell in notebook["cells"] if cell["cell_type"] == "code"]
        assert not any(outputs), f"/{report.path}: the offered notebook carries outputs"
        # Downloaded or opened in Colab, a link relative to the page would lead nowhere.
        markdown = "".join(
            "".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "markdown"
        )
        assert "](../" not in markdown, f"/{report.path}: relative links in the offered notebook"


CASE_STUDIES = sorted((ROOT / "docs" / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", CASE_STUDIES, ids=lambda path: path.stem)
def test_case_study_installs_the_configured_repository(path: Path) -> None:
    """Run in Colab, a notebook first installs DeepLossDive from the repository of mkdocs.yml
    (the same one its "Open in Colab" link names), and its cells carry no outputs."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    code = ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]
    assert f'"deeplossdive @ git+https://github.com/{configured_repository()}"' in code[0]
    assert not any(cell.get("outputs") for cell in cells if cell["cell_type"] == "code")


def configured_repository() -> str:
    """`extra.repository` of mkdocs.yml: the Colab links and install cells are built from it."""
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    match = re.search(r"^extra:\s*\n(?:[ \t]+.*\n)*?[ \t]+repository:[ \t]*(\S+)", text, re.M)
    assert match, "mkdocs.yml has no extra.repository"
    return match[1].strip("\"'")


def test_every_loss_page_shows_its_plots_and_offers_its_notebook(
    reports: list[PageReport], server: str
) -> None:
    """Each page of docs/losses/ shows a plot per function it renders (the deep_dive hook draws
    them), and links its generated notebook (served, valid JSON) and Colab (the configured
    repository)."""
    repository = configured_repository()
    loss_reports = [report for report in reports if report.path.startswith("losses/")]
    sources = sorted((ROOT / "docs" / "losses").glob("*.md"))
    assert len(loss_reports) == len(sources), [report.path for report in loss_reports]
    problems = []
    for report in loss_reports:
        source = ROOT / "docs" / f"{report.path.rstrip('/')}.md"
        functions = [
            name
            for name in DIRECTIVE.findall(source.read_text(encoding="utf-8"))
            if name.startswith("deeplossdive.functional.")
        ]
        if report.loss_plots < max(1, len(functions)):
            problems.append(
                f"/{report.path}: {report.loss_plots} plots shown for {len(functions)} functions"
            )
        if not report.download or not report.download.startswith(server):
            problems.append(
                f"/{report.path}: no local 'Download notebook' link ({report.download})"
            )
        else:
            with urlopen(report.download, timeout=10) as response:
                status = response.status
                notebook = json.load(response)
            if status != 200 or notebook.get("nbformat") != 4:
                problems.append(f"/{report.path}: {report.download} is not a notebook ({status})")
        expected = f"https://colab.research.google.com/github/{repository}/blob/"
        if not report.colab or not report.colab.startswith(expected):
            problems.append(f"/{report.path}: Colab link {report.colab}, expected {expected}…")
        elif not report.colab.endswith(".ipynb"):
            problems.append(f"/{report.path}: Colab link {report.colab} is not a notebook")
    assert not problems, "\n".join(problems)


def test_instant_navigation_renders_math(
    server: str, context: BrowserContext, traffic: Traffic, summary: Summary
) -> None:
    page = new_page(context, traffic)
    page.goto(server, wait_until="load")
    page.evaluate("() => { window.__deeplossdiveMarker = true; }")
    # A link in the page body: the sidebar's groups are collapsed until opened.
    page.locator('.md-content a[href$="losses/focal/"]').first.click()
    page.wait_for_url("**/losses/focal/")
    page.wait_for_function(MATH_RENDERED_JS, timeout=5_000)
    instant = page.evaluate("() => window.__deeplossdiveMarker === true")
    rendered = page.locator(".md-content .katex").count()
    page.close()
    assert instant, "the click reloaded the page: instant navigation is off or broken"
    assert rendered > 0, "no rendered math on the focal loss page after instant navigation"


def test_search_finds_results(server: str, context: BrowserContext, traffic: Traffic) -> None:
    page = new_page(context, traffic)
    page.goto(server, wait_until="load")
    page.locator(".md-search__input").click()
    page.locator(".md-search__input").press_sequentially("focal", delay=20)
    results = page.locator(".md-search-result__item")
    with contextlib.suppress(PlaywrightTimeoutError):
        results.first.wait_for(state="visible")
    count = results.count()
    page.close()
    assert count > 0, "searching 'focal' showed no results"


def test_nothing_leaves_the_machine(
    reports: list[PageReport], traffic: Traffic, summary: Summary
) -> None:
    """Runs last: every request of the browser tests above went to the site's server."""
    summary.external = len(traffic.external)
    assert not traffic.external, f"requests to other hosts (blocked): {traffic.external}"
    assert not traffic.failed, f"failed requests: {traffic.failed}"
    assert not traffic.page_errors, f"JavaScript errors: {traffic.page_errors}"
