"""MkDocs hook: the project's basics on every page, with no request to another host.

- The version shown in the header (next to the repository) and in the footer is the package's
  `deeplossdive.__version__` (`extra.package_version`, read by `overrides/partials/`).
- The repository link is plain HTML (`overrides/partials/source.html`): Material's own asks
  api.github.com for stars and forks on every page view. `repo_url` must be the repository of
  `extra.repository` (the notebooks' install cells and Colab links use that one).
- `license.md` and `changelog.md` are generated from `LICENSE` and `CHANGELOG.md` at the root of
  the repository: one source each, shown on GitHub and on the site.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

import deeplossdive

if TYPE_CHECKING:
    from mkdocs.config.defaults import MkDocsConfig

LICENSE_PAGE = "license.md"
CHANGELOG_PAGE = "changelog.md"


def _root(config: MkDocsConfig) -> Path:
    return Path(config.config_file_path).resolve().parent


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    config.extra["package_version"] = deeplossdive.__version__
    expected = f"https://github.com/{config.extra.get('repository', '')}"
    if (config.repo_url or "").rstrip("/") != expected:
        raise PluginError(
            f"mkdocs.yml: repo_url is {config.repo_url!r}, expected {expected!r} (the repository "
            "of extra.repository, where the notebooks install the package from)"
        )
    return config


def license_page(text: str) -> str:
    return (
        "# Licence\n\n"
        "DeepLossDive is free software under the MIT licence: use, copy, modify and distribute "
        "it, as long as this notice goes with it. The text, from the `LICENSE` file of the "
        "repository:\n\n"
        f"```text\n{text.strip()}\n```\n"
    )


def on_files(files: Files, config: MkDocsConfig) -> Files:
    root = _root(config)
    sources = {LICENSE_PAGE: root / "LICENSE", CHANGELOG_PAGE: root / "CHANGELOG.md"}
    missing = [str(path) for path in sources.values() if not path.is_file()]
    if missing:
        raise PluginError(f"project pages: {', '.join(missing)} not found")
    license_text = sources[LICENSE_PAGE].read_text(encoding="utf-8")
    files.append(File.generated(config, LICENSE_PAGE, content=license_page(license_text)))
    changelog = sources[CHANGELOG_PAGE].read_text(encoding="utf-8")
    files.append(File.generated(config, CHANGELOG_PAGE, content=changelog))
    return files
