"""Executed case studies are cached, keyed on the notebook *and* on the package's source.

mkdocs-jupyter executes the notebooks of `docs/notebooks/` on every build (about 10 s each) and
can cache what it renders, but its key is the notebook and its own options only: after a change
to `deeplossdive/` it would serve the outputs of the old code. This hook makes the key whole:

- `cache_dir` of mkdocs-jupyter becomes `.cache/mkdocs-jupyter/<fingerprint>/`, where the
  fingerprint hashes every file of the package (path and bytes) and the versions of Python and
  of the libraries the notebooks run on (`ENVIRONMENT`). Inside it, mkdocs-jupyter keys each
  entry on the notebook's bytes and its options. A change to a notebook, to any file of the
  package or to a pinned library therefore re-executes; nothing else does. Older fingerprints
  are deleted after a successful build.
- The kernel imports the package of this checkout: the repository root goes first on the
  kernel's `PYTHONPATH` (a relative `PYTHONPATH=.` would point at `docs/notebooks/`, where the
  kernel starts, and an editable install elsewhere could be imported instead: output of code
  the fingerprint never saw).
- The kernel's sockets are encrypted with CurveZMQ keys that the kernel manager provisions
  (`jupyter/jupyter_nbconvert_config.json`, found through `JUPYTER_CONFIG_PATH`; ipykernel's
  kernelspec declares the support): no "running over TCP without encryption" warning per
  notebook.

CI starts from a clean clone, so it always executes every notebook.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from mkdocs.exceptions import PluginError

if TYPE_CHECKING:
    from mkdocs.config.defaults import MkDocsConfig

PACKAGE = "deeplossdive"
CACHE = Path(".cache") / "mkdocs-jupyter"
"""Relative to the repository root (the directory of mkdocs.yml)."""
JUPYTER_CONFIG = Path(__file__).resolve().parent / "jupyter"
ENVIRONMENT = (
    "torch",
    "numpy",
    "matplotlib",
    "scikit-learn",
    "ipykernel",
    "nbconvert",
    "nbclient",
    "mkdocs-jupyter",
)
"""Distributions whose version is part of the key: what the notebooks import and what runs them."""
_SKIPPED_PARTS = frozenset({"__pycache__"})
_SKIPPED_SUFFIXES = frozenset({".pyc", ".pyo"})

LOG = logging.getLogger("mkdocs.hooks.notebook_cache")


def package_files(package: Path) -> list[Path]:
    """Every file of the package that can change what it computes, in a stable order."""
    return sorted(
        path
        for path in package.rglob("*")
        if path.is_file()
        and not _SKIPPED_PARTS.intersection(path.relative_to(package).parts)
        and path.suffix not in _SKIPPED_SUFFIXES
    )


def environment() -> list[str]:
    """Python's version and the version of each distribution of `ENVIRONMENT`."""
    versions = [f"python={sys.version}"]
    for name in ENVIRONMENT:
        try:
            versions.append(f"{name}={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name}=absent")
    return versions


def fingerprint(package: Path, versions: Iterable[str]) -> str:
    """SHA-256 of the package's files (relative path and bytes) and of `versions`."""
    hasher = hashlib.sha256()
    for path in package_files(package):
        relative = path.relative_to(package).as_posix().encode()
        content = path.read_bytes()
        hasher.update(b"file\0%d\0%s\0%d\0" % (len(relative), relative, len(content)))
        hasher.update(content)
    for version in versions:
        hasher.update(b"version\0" + version.encode() + b"\0")
    return hasher.hexdigest()


def _prepend(variable: str, entry: str) -> None:
    current = [item for item in os.environ.get(variable, "").split(os.pathsep) if item]
    os.environ[variable] = os.pathsep.join([entry, *(item for item in current if item != entry)])


STATE: dict[str, Path] = {}


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    root = Path(config.config_file_path).resolve().parent
    package = root / PACKAGE
    if not (package / "__init__.py").is_file():
        raise PluginError(f"notebook cache: {package} is not the package's source")
    plugin = config.plugins.get("mkdocs-jupyter")
    if plugin is None:
        raise PluginError("notebook cache: the mkdocs-jupyter plugin is not configured")
    key = fingerprint(package, environment())
    directory = root / CACHE / key[:32]
    plugin.config["cache_dir"] = str(directory)
    STATE["directory"] = directory
    _prepend("PYTHONPATH", str(root))
    _prepend("JUPYTER_CONFIG_PATH", str(JUPYTER_CONFIG))
    if plugin.config["cache"]:
        LOG.info("notebook cache: %s", directory.relative_to(root))
    return config


def on_post_build(config: MkDocsConfig) -> None:
    """Delete the entries of other fingerprints: they can never be hit again until the package
    goes back to the same bytes, and each holds every notebook's rendered page."""
    directory = STATE.get("directory")
    if directory is None or not directory.parent.is_dir():
        return
    for other in directory.parent.iterdir():
        if other != directory and other.is_dir():
            shutil.rmtree(other)
