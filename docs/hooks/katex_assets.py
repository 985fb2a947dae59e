"""MkDocs hooks of the DeepLossDive site: serve KaTeX locally and keep every page offline.

- `on_files` adds KaTeX (installed from npm by `npm ci`, pinned in `package-lock.json`) to the
  site under `assets/katex/`: `katex.min.js`, `katex.min.css`, `contrib/auto-render.min.js` and
  `fonts/*`. Nothing is copied into the repository and nothing is fetched from a CDN.
- `on_post_page` fails the build if a page loads a script, stylesheet or font from another host.

This file lives under `docs/` only to sit next to what it serves; `exclude_docs` keeps it out of
the built site.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

if TYPE_CHECKING:
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.structure.pages import Page

SITE_DIR = "assets/katex"
"""Where the KaTeX files land in the built site (the URLs `extra_css`/`extra_javascript` use)."""

KATEX_FILES = ("katex.min.js", "katex.min.css", "contrib/auto-render.min.js")
"""Files of `node_modules/katex/dist` the site needs, besides `fonts/*`."""

# rel values of <link> that only name a URL (the browser fetches nothing).
_LINK_RELS_NOT_FETCHED = frozenset({"canonical", "alternate", "author", "license", "help"})
# A CSS url(...) to another host, scheme-qualified or protocol-relative.
_EXTERNAL_CSS_URL = re.compile(r"""\burl\(\s*["']?((?:https?:)?//[^"')\s]+)""", re.IGNORECASE)


def _is_external(url: str) -> bool:
    return url.lower().startswith(("http://", "https://", "//"))


class _ExternalAssets(HTMLParser):
    """Collects what a page would fetch from other hosts: scripts, stylesheets, fonts, images..."""

    def __init__(self) -> None:
        super().__init__()
        self.found: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {name: value or "" for name, value in attrs}
        if tag == "link":
            rels = set(attr.get("rel", "").lower().split())
            if rels and rels <= _LINK_RELS_NOT_FETCHED:
                return
            urls = [attr.get("href", "")]
        elif tag in {"script", "img", "iframe", "source", "audio", "video", "embed"}:
            urls = [attr.get("src", "")]
        else:
            urls = []
        if "style" in attr:
            urls += _EXTERNAL_CSS_URL.findall(attr["style"])
        self.found.update(url for url in urls if _is_external(url))

    def handle_data(self, data: str) -> None:
        if self.lasttag == "style":
            self.found.update(_EXTERNAL_CSS_URL.findall(data))


def _katex_dist(config: MkDocsConfig) -> Path:
    """`node_modules/katex/dist` next to `mkdocs.yml`; a clear error if `npm ci` was not run."""
    root = Path(config.config_file_path).resolve().parent
    dist = root / "node_modules" / "katex" / "dist"
    missing = [name for name in KATEX_FILES if not (dist / name).is_file()]
    if missing or not any((dist / "fonts").glob("*.woff2")):
        raise PluginError(
            f"KaTeX not found in {dist} (missing: {', '.join(missing) or 'fonts/*.woff2'}). "
            "The site renders math with the npm package `katex` pinned in package-lock.json: "
            f"run `npm ci` in {root} first."
        )
    return dist


def on_files(files: Files, config: MkDocsConfig) -> Files:
    dist = _katex_dist(config)
    sources = [dist / name for name in KATEX_FILES]
    sources += sorted(p for p in (dist / "fonts").iterdir() if p.is_file())
    for source in sources:
        uri = f"{SITE_DIR}/{source.relative_to(dist).as_posix()}"
        files.append(File.generated(config, uri, abs_src_path=str(source)))
    return files


def on_post_page(output: str, page: Page, config: MkDocsConfig) -> str:
    parser = _ExternalAssets()
    parser.feed(output)
    parser.close()
    if parser.found:
        external = sorted(parser.found)
        raise PluginError(
            f"{page.file.src_uri} loads assets from other hosts: {', '.join(external)}. "
            "The site must work offline and leak no page views: serve the file from the site "
            "instead (see docs/hooks/katex_assets.py), or turn off the feature that adds it."
        )
    return output
