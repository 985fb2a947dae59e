"""The built site in a real browser, offline.

Serves the site on 127.0.0.1, opens every page in Debian's chromium through Playwright, and
checks what a reader would see: math rendered by KaTeX (no raw TeX, no `.katex-error`), KaTeX's
fonts loaded from the site itself, plots in the notebook pages, math re-rendered after instant
navigation, search answering, and not one request to another host.

Every page is also laid out at 1280 × 900 (a desktop, light palette) and at 390 × 844 (a phone,
dark palette), and checked for what a reader trips over: a code block cut off on the desktop, a
name broken inside a table cell, a box wider than the column that does not say it scrolls, a
display formula or anything else wider than the screen, a parameter table that loses a
column on the phone, and plot text smaller than 8 px as rendered. Search must list a loss's own
page first for its function names, its module names and its usual name (the page's title).

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
import inspect
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
from urllib.parse import urljoin, urlsplit
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
from deeplossdive._about import losses_of

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
PHONE: ViewportSize = {"width": 390, "height": 844}
SMALLEST_TEXT_PX = 8.0
"""The smallest text of a plot or of the flowchart, in CSS px as rendered."""
NOTEBOOK_PLOT_SCALE = 0.6
"""The least a notebook plot may be shrunk (100-dpi PNGs: 10-pt text stays above 8 px)."""
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


# Runs in the page at either viewport once math is rendered: what would be cut off, broken or
# too small for the reader.
LAYOUT_REPORT_JS = r"""
async () => {
  await document.fonts.ready;
  await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
  const visible = (el) => el.checkVisibility() && el.getClientRects().length > 0;
  const content = document.querySelector(".md-content");
  const longest = (text) => text.split("\n").reduce((a, b) => (a.length >= b.length ? a : b), "");
  // Code blocks wider than their box (they scroll, and the reader may miss the end).
  const cutCode = [...content.querySelectorAll("pre > code")]
    .filter((code) => visible(code) && code.scrollWidth > code.clientWidth + 1)
    .map((code) => longest(code.textContent).trim().slice(0, 100));
  // Inline code in a table cell broken inside a name: a line break between two characters of
  // a (dotted) name, as in `binary_cross_entropy_|with_logits` or `CrossEntropyLos|s`. A break
  // at a space, or between `)` and `(`, leaves every name whole.
  const brokenNames = [];
  for (const code of content.querySelectorAll("td code, th code")) {
    if (!visible(code) || code.getClientRects().length < 2) continue;
    const range = document.createRange();
    let previous = null;
    let top = null;
    const walker = document.createTreeWalker(code, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (let i = 0; i < node.data.length; i++) {
        range.setStart(node, i);
        range.setEnd(node, i + 1);
        const rect = range.getClientRects()[0];
        if (!rect) continue;
        const char = node.data[i];
        if (top !== null && rect.top > top + 2 && /[\w.]/.test(char) && /[\w.]/.test(previous)) {
          brokenNames.push(`${code.textContent.slice(0, 60)} (broken before "${char}")`);
        }
        top = rect.top;
        previous = char;
      }
    }
  }
  // Boxes wider than the column: they must scroll sideways and say so (scroll-hint.js).
  const silentScroll = [];
  for (const box of content.querySelectorAll(
    ".md-typeset__scrollwrap, .jupyter-wrapper .jp-RenderedImage"
  )) {
    if (!visible(box) || box.scrollWidth <= box.clientWidth + 1) continue;
    const style = getComputedStyle(box);
    const scrolls = ["auto", "scroll"].includes(style.overflowX);
    const hinted =
      box.classList.contains("dld-scrolls") &&
      (style.maskImage || style.webkitMaskImage || "none") !== "none";
    if (!scrolls || !hinted) {
      silentScroll.push(`${box.className}: ${box.textContent.trim().slice(0, 60)}`);
    }
  }
  // Display formulas: each scrolls in its own box, which stays on the screen.
  const mathOff = [...content.querySelectorAll(".katex-display")]
    .filter((el) => visible(el))
    .filter((el) => {
      const scrolls = ["auto", "scroll"].includes(getComputedStyle(el).overflowX);
      return !scrolls || el.getBoundingClientRect().right > window.innerWidth + 1;
    })
    .map((el) => el.textContent.slice(0, 60));
  // Parameter tables of the API: every cell, the default included, on the screen.
  const lostCells = [...content.querySelectorAll("tr.doc-section-item")]
    .filter((row) => row.children.length >= 4 && visible(row))
    .flatMap((row) => [...row.children])
    .filter((cell) => {
      const rect = cell.getBoundingClientRect();
      return !visible(cell) || rect.left < -1 || rect.right > window.innerWidth + 1;
    })
    .map((cell) => cell.closest("tr").textContent.trim().split(/\s+/)[0]);
  // Text of the SVG plots as rendered: font size times the image's scale. Per <text>, its
  // largest size (a sub- or superscript is smaller by design).
  const plotText = [];
  for (const img of content.querySelectorAll("figure img")) {
    const src = img.currentSrc.split("#")[0];
    if (!visible(img) || !src.endsWith(".svg")) continue;
    const svg = new DOMParser().parseFromString(
      await (await fetch(src)).text(), "image/svg+xml"
    ).documentElement;
    const size = (el) => {
      const style = /font(?:-size)?:[^;]*?([\d.]+)px/.exec(el.getAttribute("style") || "");
      return parseFloat(el.style.fontSize || (style || [])[1]);
    };
    const sizes = [...svg.querySelectorAll("text")]
      .map((text) => [text, ...text.querySelectorAll("tspan")].map(size).filter((x) => x > 0))
      .map((found) => Math.max(...found))
      .filter((x) => Number.isFinite(x));
    const scale = img.clientWidth / svg.viewBox.baseVal.width;
    plotText.push([src.split("/").slice(-2).join("/"), Math.min(...sizes) * scale]);
  }
  // Notebook plots (PNG): shown at no less than NOTEBOOK_PLOT_SCALE of their size.
  const notebookScales = [...content.querySelectorAll(".jupyter-wrapper img")]
    .filter((img) => visible(img) && img.naturalWidth > 0)
    .map((img) => img.clientWidth / img.naturalWidth);
  // The flowchart: one layout shown, its text large enough, each name inside its box.
  const flow = [...content.querySelectorAll(".dld-flow svg")].filter(visible);
  const flowText = flow.flatMap((svg) => {
    const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
    return [...svg.querySelectorAll("text")].map(
      (text) => parseFloat(getComputedStyle(text).fontSize) * scale
    );
  });
  const flowOverflow = flow.flatMap((svg) =>
    [...svg.querySelectorAll(".dld-flow__loss")]
      .filter((link) => {
        const box = link.querySelector("rect").getBBox();
        const text = link.querySelector("text").getBBox();
        return text.x < box.x || text.x + text.width > box.x + box.width;
      })
      .map((link) => link.textContent.trim())
  );
  return {
    cutCode,
    brokenNames,
    silentScroll,
    pageOverflow: document.documentElement.scrollWidth > window.innerWidth + 1,
    mathOff,
    lostCells,
    plotText,
    notebookScales,
    flowcharts: flow.length,
    flowText: flowText.length ? Math.min(...flowText) : null,
    flowOverflow,
    darkPlots: [...content.querySelectorAll('img[src$="#only-dark"]')].filter(visible).length,
    lightPlots: [...content.querySelectorAll('img[src$="#only-light"]')].filter(visible).length,
  };
}
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
class Layout:
    """What `LAYOUT_REPORT_JS` found on one page at one viewport."""

    path: str
    cut_code: list[str]
    broken_names: list[str]
    silent_scroll: list[str]
    page_overflow: bool
    math_off: list[str]
    lost_cells: list[str]
    plot_text: list[tuple[str, float]]
    notebook_scales: list[float]
    flowcharts: int
    flow_text: float | None
    flow_overflow: list[str]
    dark_plots: int
    light_plots: int

    @classmethod
    def from_js(cls, path: str, data: dict[str, Any]) -> Layout:
        return cls(
            path=path,
            cut_code=data["cutCode"],
            broken_names=data["brokenNames"],
            silent_scroll=data["silentScroll"],
            page_overflow=data["pageOverflow"],
            math_off=data["mathOff"],
            lost_cells=data["lostCells"],
            plot_text=[(src, size) for src, size in data["plotText"]],
            notebook_scales=data["notebookScales"],
            flowcharts=data["flowcharts"],
            flow_text=data["flowText"],
            flow_overflow=data["flowOverflow"],
            dark_plots=data["darkPlots"],
            light_plots=data["lightPlots"],
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
    layouts: dict[str, str] = field(default_factory=dict)  # viewport -> its figures
    search: str = ""

    def line(self) -> str:
        lines = [
            f"site check: {self.pages} pages visited, {self.formulas} formulas rendered, "
            f"{self.plots} notebook plots, {self.loss_plots} loss plots on {self.loss_pages} "
            f"loss pages, {self.external} external requests"
        ]
        lines += [f"site layout at {size}: {text}" for size, text in self.layouts.items()]
        if self.search:
            lines.append(f"site search: {self.search}")
        return "\n".join(lines)


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


def layout_figures(layouts: list[Layout]) -> str:
    """The figures an issue note quotes, for one viewport."""
    plot_text = [size for layout in layouts for _, size in layout.plot_text]
    return (
        f"{sum(len(layout.cut_code) for layout in layouts)} code blocks wider than the column, "
        f"{sum(len(layout.broken_names) for layout in layouts)} names broken in tables, "
        f"{sum(layout.page_overflow for layout in layouts)} pages wider than the screen, "
        f"smallest plot text {min(plot_text, default=float('nan')):.1f} px"
    )


@dataclass
class Visit:
    reports: list[PageReport]
    layouts: list[Layout]


@pytest.fixture(scope="session")
def desktop(
    site: Path, server: str, context: BrowserContext, traffic: Traffic, summary: Summary
) -> Visit:
    """Visit every page once at 1280 x 900 (light palette) and report what is on it."""
    page = new_page(context, traffic)
    found, layouts = [], []
    for path in site_pages(site):
        page.goto(server + path, wait_until="load")
        wait_for_math(page)
        found.append(PageReport.from_js(path, page.evaluate(PAGE_REPORT_JS)))
        layouts.append(Layout.from_js(path, page.evaluate(LAYOUT_REPORT_JS)))
    page.close()
    summary.pages = len(found)
    summary.formulas = sum(report.katex for report in found)
    summary.plots = sum(report.plots for report in found)
    loss_reports = [report for report in found if report.path.startswith("losses/")]
    summary.loss_pages = len(loss_reports)
    summary.loss_plots = sum(report.loss_plots for report in loss_reports)
    summary.layouts["1280x900"] = layout_figures(layouts)
    return Visit(found, layouts)


@pytest.fixture(scope="session")
def reports(desktop: Visit) -> list[PageReport]:
    return desktop.reports


@pytest.fixture(scope="session")
def phone(
    site: Path, server: str, browser: Browser, traffic: Traffic, summary: Summary
) -> list[Layout]:
    """Visit every page at 390 x 844, in the dark palette, and report its layout."""
    context = browser.new_context(viewport=PHONE, color_scheme="dark")
    context.set_default_timeout(TIMEOUT_MS)
    context.route("**/*", traffic.guard)
    context.on("response", traffic.on_response)
    context.on("requestfailed", traffic.on_request_failed)
    page = new_page(context, traffic)
    layouts = []
    for path in site_pages(site):
        page.goto(server + path, wait_until="load")
        wait_for_math(page)
        layouts.append(Layout.from_js(path, page.evaluate(LAYOUT_REPORT_JS)))
    context.close()
    summary.layouts["390x844"] = layout_figures(layouts)
    return layouts


VIEWPORTS = pytest.mark.parametrize("viewport", ["desktop", "phone"])


def layouts_at(request: pytest.FixtureRequest, viewport: str) -> list[Layout]:
    """The layout of every page at 1280 x 900 ("desktop") or 390 x 844 ("phone")."""
    if viewport == "desktop":
        visit: Visit = request.getfixturevalue("desktop")
        return visit.layouts
    phone: list[Layout] = request.getfixturevalue("phone")
    return phone


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
        functions = losses_of(
            name.removeprefix("deeplossdive.functional.")
            for name in DIRECTIVE.findall(source.read_text(encoding="utf-8"))
            if name.startswith("deeplossdive.functional.")
        )
        # Two plots per loss function (helpers have none): the loss and its gradient.
        if report.loss_plots < max(1, 2 * len(functions)):
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


def problems_by_page(layouts: list[Layout], found: Callable[[Layout], list[str]]) -> list[str]:
    return [f"/{layout.path}: {items}" for layout in layouts if (items := found(layout))]


def test_no_code_block_is_cut_off_on_a_desktop(desktop: Visit) -> None:
    """At 1280 x 900 every code block shows its longest line: the column holds the house line
    length (100 characters, tests/test_doc_fences.py keeps the pages to it)."""
    problems = problems_by_page(desktop.layouts, lambda layout: layout.cut_code)
    assert not problems, "code blocks wider than the column:\n" + "\n".join(problems)


@VIEWPORTS
def test_names_are_never_broken_in_tables(request: pytest.FixtureRequest, viewport: str) -> None:
    layouts = layouts_at(request, viewport)
    problems = problems_by_page(layouts, lambda layout: layout.broken_names)
    assert not problems, "code in table cells broken mid-name:\n" + "\n".join(problems)


@VIEWPORTS
def test_wide_boxes_scroll_and_say_so(request: pytest.FixtureRequest, viewport: str) -> None:
    """A table or notebook plot wider than the column scrolls inside its box, which shows its
    scrollbar and fades on the side with more (docs/javascripts/scroll-hint.js)."""
    layouts = layouts_at(request, viewport)
    problems = problems_by_page(layouts, lambda layout: layout.silent_scroll)
    assert not problems, "boxes that scroll without saying so:\n" + "\n".join(problems)


@VIEWPORTS
def test_nothing_is_wider_than_the_screen(request: pytest.FixtureRequest, viewport: str) -> None:
    """No page scrolls sideways as a whole; a display formula scrolls in its own box."""
    layouts = layouts_at(request, viewport)
    wide = [f"/{layout.path}" for layout in layouts if layout.page_overflow]
    assert not wide, f"pages wider than the screen: {wide}"
    problems = problems_by_page(layouts, lambda layout: layout.math_off)
    assert not problems, "display formulas off the screen:\n" + "\n".join(problems)


def test_parameter_tables_keep_every_column_on_a_phone(phone: list[Layout]) -> None:
    """The API's tables of parameters (name, type, description, default) show every cell."""
    problems = problems_by_page(phone, lambda layout: layout.lost_cells)
    assert not problems, "parameters with a cell off the screen:\n" + "\n".join(problems)
    reference = next(layout for layout in phone if layout.path == "losses/focal/")
    assert not reference.lost_cells


@VIEWPORTS
def test_plot_text_is_legible(request: pytest.FixtureRequest, viewport: str) -> None:
    """The text of every SVG plot (loss pages, Performance) is at least SMALLEST_TEXT_PX on the
    screen, and a notebook plot keeps at least NOTEBOOK_PLOT_SCALE of its size."""
    layouts = layouts_at(request, viewport)
    small = [
        f"/{layout.path} {src}: {size:.1f} px"
        for layout in layouts
        for src, size in layout.plot_text
        if not size >= SMALLEST_TEXT_PX
    ]
    assert not small, f"plot text under {SMALLEST_TEXT_PX} px:\n" + "\n".join(small)
    shrunk = [
        f"/{layout.path}: shown at {scale:.2f} of its size"
        for layout in layouts
        for scale in layout.notebook_scales
        if scale < NOTEBOOK_PLOT_SCALE - 0.005
    ]
    assert not shrunk, "notebook plots shrunk too far:\n" + "\n".join(shrunk)
    measured = {layout.path for layout in layouts if layout.plot_text}
    assert "losses/focal/" in measured, sorted(measured)
    assert "performance/" in measured, sorted(measured)


@VIEWPORTS
def test_loss_plots_follow_the_palette(request: pytest.FixtureRequest, viewport: str) -> None:
    """The desktop pass reads the light palette, the phone pass the dark one: each loss page
    shows only the plots drawn for it, two per function (the loss and its gradient)."""
    layouts = [
        layout for layout in layouts_at(request, viewport) if layout.path.startswith("losses/")
    ]
    shown, hidden = ("light", "dark") if viewport == "desktop" else ("dark", "light")
    for layout in layouts:
        counts = {"light": layout.light_plots, "dark": layout.dark_plots}
        assert counts[shown] >= 2, f"/{layout.path}: {counts[shown]} {shown} plots shown"
        assert counts[hidden] == 0, f"/{layout.path}: {counts[hidden]} {hidden} plots shown"


@VIEWPORTS
def test_home_page_shows_the_which_loss_flowchart(
    request: pytest.FixtureRequest, viewport: str
) -> None:
    """One layout of the flowchart shows (three columns on a desktop, an outline on a phone),
    its text is legible and every loss name fits its box."""
    home = next(layout for layout in layouts_at(request, viewport) if layout.path == "")
    assert home.flowcharts == 1, f"{home.flowcharts} flowcharts shown on the home page"
    assert home.flow_text is not None, "no text in the flowchart"
    assert home.flow_text >= SMALLEST_TEXT_PX, f"flowchart text of {home.flow_text:.1f} px"
    assert not home.flow_overflow, f"names wider than their box: {home.flow_overflow}"


def test_flowchart_links_every_loss_page(
    server: str, context: BrowserContext, traffic: Traffic
) -> None:
    """Every page of docs/losses/ is reached from the flowchart, and every link leads to a
    page of this site that has the linked section."""
    page = new_page(context, traffic)
    page.goto(server, wait_until="load")
    links = page.evaluate(
        "() => [...document.querySelectorAll('.dld-flow__wide a')].map("
        "(a) => new URL(a.href.baseVal, location.href).href)"
    )
    page.close()
    assert links, "no link in the flowchart"
    reached = set()
    for link in links:
        assert link.startswith(server), link
        path, _, anchor = link.removeprefix(server).partition("#")
        with urlopen(server + path, timeout=10) as response:
            assert f'id="{anchor}"' in response.read().decode(), f"{link}: no section {anchor}"
        reached.add(path)
    pages = {f"losses/{source.stem}/" for source in (ROOT / "docs" / "losses").glob("*.md")}
    assert pages <= reached, f"loss pages the flowchart does not reach: {sorted(pages - reached)}"


# Search: the names a reader types for a loss.
MODULE_FORM = re.compile(r"Module form of\s+\[`?\w+`?\]\[deeplossdive\.functional\.(\w+)\]")
ISSUE_NAMES = {
    "focal": "focal",
    "FocalLoss": "focal",
    "dice": "dice",
    "DiceLoss": "dice",
    "cross_entropy": "cross_entropy",
    "KLDivLoss": "kl_div",
    "triplet": "triplet",
    "huber": "regression",
    "NT-Xent": "nt_xent",
    "tversky": "tversky",
}
"""The ten names of issue #14, with the page (docs/losses/<stem>.md) each must find first."""


def search_names() -> dict[str, str]:
    """Name typed -> URL path of the loss page it must find first: for every page of
    docs/losses/, its functions (`::: deeplossdive.functional.*`), their modules (the class of
    `deeplossdive.nn` whose docstring says "Module form of" the function), each function's
    usual name (its name without `_loss`: `huber`, `triplet_margin`) and the page's title
    without a parenthesis (`NT-Xent`, `Jaccard loss`); then the names of issue #14."""
    modules = {}
    for name in deeplossdive.nn.__all__:
        match = MODULE_FORM.search(inspect.getdoc(getattr(deeplossdive.nn, name)) or "")
        if match:
            modules[match[1]] = name
    expected = {}
    for source in sorted((ROOT / "docs" / "losses").glob("*.md")):
        markdown = source.read_text(encoding="utf-8")
        path = f"losses/{source.stem}/"
        title = next(line[2:] for line in markdown.splitlines() if line.startswith("# "))
        expected[re.sub(r"\s*\(.*?\)", "", title).strip()] = path
        for identifier in DIRECTIVE.findall(markdown):
            function = identifier.rsplit(".", 1)[1]
            if identifier.startswith("deeplossdive.functional."):
                expected[function] = path
                expected[function.removesuffix("_loss")] = path
                if function in modules:
                    expected[modules[function]] = path
    expected.update({name: f"losses/{stem}/" for name, stem in ISSUE_NAMES.items()})
    return expected


def test_search_lists_the_loss_page_first(
    server: str, context: BrowserContext, traffic: Traffic, summary: Summary
) -> None:
    """Typing a loss's function name, module name or usual name into the search box lists the
    loss's own page first, for every loss page (see `search_names`)."""
    expected = search_names()
    assert set(ISSUE_NAMES) <= set(expected)
    assert len(expected) > len(ISSUE_NAMES)
    page = new_page(context, traffic)
    page.goto(server, wait_until="load")
    box = page.locator(".md-search__input")
    box.click()
    items = page.locator(".md-search-result__item")
    wrong = []
    for name, path in expected.items():
        # Material searches on key events: empty the box (results cleared), then type.
        box.fill("")
        box.press("End")
        page.wait_for_function("() => !document.querySelector('.md-search-result__item')")
        box.fill(name)
        box.press("End")
        items.first.wait_for(state="attached")
        first = page.evaluate(
            "() => document.querySelector('.md-search-result__item > a').getAttribute('href')"
        )
        found = urlsplit(urljoin(server, first)).path.removeprefix("/")
        if found != path:
            wrong.append(f"{name!r}: first result /{found}, expected /{path}")
    page.close()
    issue = [line for line in wrong if line.split(":")[0].strip("'") in ISSUE_NAMES]
    summary.search = (
        f"{len(ISSUE_NAMES) - len(issue)} of {len(ISSUE_NAMES)} names of issue #14 and "
        f"{len(expected) - len(wrong)} of {len(expected)} names in all find their page first"
    )
    assert not wrong, "search does not list the loss's page first:\n" + "\n".join(wrong)


# Project basics.


def test_project_basics_without_another_host(
    server: str, context: BrowserContext, traffic: Traffic
) -> None:
    """The header links the repository and shows the package's version (without Material's
    star count, which asks api.github.com); the footer links the licence and the changelog;
    pages link to the previous and the next; canonical links use site_url."""
    page = new_page(context, traffic)
    page.goto(server + "losses/focal/", wait_until="load")
    facts = page.evaluate(
        """() => ({
          repository: document.querySelector(".md-header .md-source")?.getAttribute("href"),
          version: document.querySelector(".md-header .md-source__fact--version")
            ?.textContent.trim(),
          component: document.querySelectorAll('[data-md-component="source"]').length,
          footer: [...document.querySelectorAll(".md-copyright a")].map((a) => a.href),
          previous: document.querySelector(".md-footer__link--prev")?.href ?? null,
          next: document.querySelector(".md-footer__link--next")?.href ?? null,
          canonical: document.querySelector('link[rel="canonical"]')?.getAttribute("href"),
        })"""
    )
    page.close()
    repository = f"https://github.com/{configured_repository()}"
    assert facts["repository"] == repository, facts
    assert facts["version"] == deeplossdive.__version__, facts
    assert facts["component"] == 0, "Material's source component would ask api.github.com"
    for target in ("license/", "changelog/"):
        assert server + target in facts["footer"], (target, facts["footer"])
        with urlopen(server + target, timeout=10) as response:
            assert response.status == 200
    assert facts["previous"], f"no link to the previous page: {facts}"
    assert facts["next"], f"no link to the next page: {facts}"
    assert facts["canonical"].startswith(configured_site_url()), facts["canonical"]


def configured_site_url() -> str:
    from mkdocs.config import load_config

    config = load_config(str(ROOT / "mkdocs.yml"))
    return str(config.site_url)


def test_site_url_is_settable(monkeypatch: pytest.MonkeyPatch) -> None:
    """`DEEPLOSSDIVE_SITE_URL` sets site_url (sitemap, canonical links) for a deployment."""
    from mkdocs.config import load_config

    monkeypatch.setenv("DEEPLOSSDIVE_SITE_URL", "https://docs.example.org/deeplossdive/")
    config = load_config(str(ROOT / "mkdocs.yml"))
    assert config.site_url == "https://docs.example.org/deeplossdive/"
    monkeypatch.delenv("DEEPLOSSDIVE_SITE_URL")
    default = load_config(str(ROOT / "mkdocs.yml")).site_url
    assert default, "mkdocs.yml sets no site_url"
    assert "127.0.0.1" not in default, f"the default site_url is a local address: {default}"


def test_sitemap_uses_site_url(site: Path) -> None:
    text = (site / "sitemap.xml").read_text(encoding="utf-8")
    locs = re.findall(r"<loc>\s*(\S+?)\s*</loc>", text)
    assert locs, "sitemap.xml lists no page"
    assert all(loc.startswith(configured_site_url()) for loc in locs), locs[:3]


def test_nothing_leaves_the_machine(
    reports: list[PageReport], phone: list[Layout], traffic: Traffic, summary: Summary
) -> None:
    """Runs last: every request of the browser tests above (both viewports) went to the
    site's server."""
    summary.external = len(traffic.external)
    assert not traffic.external, f"requests to other hosts (blocked): {traffic.external}"
    assert not traffic.failed, f"failed requests: {traffic.failed}"
    assert not traffic.page_errors, f"JavaScript errors: {traffic.page_errors}"
