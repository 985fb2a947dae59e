"""The cache of executed notebooks never serves the output of other code.

docs/hooks/notebook_cache.py stores a rendered notebook under
`.cache/mkdocs-jupyter/<fingerprint>/<key>.json`: the
fingerprint covers the package's files and the library versions, mkdocs-jupyter's key the
notebook's bytes and its options. Each part is checked here on copies, without executing
anything.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from mkdocs.config import load_config
from mkdocs_jupyter.plugin import _compute_cache_key

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs" / "hooks"))

import notebook_cache  # noqa: E402  (docs/hooks is not a package)

VERSIONS = ["python=3.11", "torch=2.13.0"]


@pytest.fixture
def package(tmp_path: Path) -> Path:
    copy = tmp_path / "deeplossdive"
    shutil.copytree(ROOT / "deeplossdive", copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_the_fingerprint_is_stable(package: Path) -> None:
    assert notebook_cache.fingerprint(package, VERSIONS) == notebook_cache.fingerprint(
        package, list(VERSIONS)
    )


def test_a_change_to_any_source_file_changes_the_fingerprint(package: Path) -> None:
    before = notebook_cache.fingerprint(package, VERSIONS)
    files = notebook_cache.package_files(package)
    assert package / "__init__.py" in files
    assert any(path.parent.name == "losses" for path in files), "the loss modules are hashed"
    for path in files:
        original = path.read_bytes()
        path.write_bytes(original + b"\n")
        assert notebook_cache.fingerprint(package, VERSIONS) != before, path.name
        path.write_bytes(original)
    assert notebook_cache.fingerprint(package, VERSIONS) == before


def test_a_new_or_renamed_file_changes_the_fingerprint(package: Path) -> None:
    before = notebook_cache.fingerprint(package, VERSIONS)
    added = package / "losses" / "new_loss.py"
    added.write_text("X = 1\n")
    with_file = notebook_cache.fingerprint(package, VERSIONS)
    assert with_file != before
    added.rename(package / "losses" / "renamed_loss.py")
    assert notebook_cache.fingerprint(package, VERSIONS) not in {before, with_file}


def test_bytecode_does_not_change_the_fingerprint(package: Path) -> None:
    before = notebook_cache.fingerprint(package, VERSIONS)
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"\0")
    assert notebook_cache.fingerprint(package, VERSIONS) == before


def test_a_library_version_changes_the_fingerprint(package: Path) -> None:
    before = notebook_cache.fingerprint(package, VERSIONS)
    assert notebook_cache.fingerprint(package, ["python=3.11", "torch=2.14.0"]) != before
    versions = notebook_cache.environment()
    assert any(version.startswith("torch=") for version in versions)
    assert any(version.startswith("python=") for version in versions)


def test_a_change_to_the_notebook_changes_its_key(tmp_path: Path) -> None:
    """Inside one fingerprint's directory, mkdocs-jupyter keys each entry on the notebook."""
    config = load_config(str(ROOT / "mkdocs.yml"))
    options = config.plugins["mkdocs-jupyter"].config
    notebook = tmp_path / "study.ipynb"
    source = ROOT / "docs" / "notebooks" / "focal_loss_in_action.ipynb"
    notebook.write_bytes(source.read_bytes())
    before = _compute_cache_key(str(notebook), options, True)
    notebook.write_bytes(source.read_bytes().replace(b"gamma", b"gamma_", 1))
    assert _compute_cache_key(str(notebook), options, True) != before


def test_the_build_uses_a_directory_per_fingerprint(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hook points mkdocs-jupyter at `.cache/mkdocs-jupyter/<fingerprint>/`, and the kernel
    imports the package of this checkout (the root first on its PYTHONPATH)."""
    monkeypatch.setenv("PYTHONPATH", ".")
    monkeypatch.delenv("JUPYTER_CONFIG_PATH", raising=False)
    config = load_config(str(ROOT / "mkdocs.yml"))
    options = config.plugins["mkdocs-jupyter"].config
    assert options["cache"], "mkdocs.yml: mkdocs-jupyter's cache is off"
    notebook_cache.on_config(config)
    key = notebook_cache.fingerprint(ROOT / "deeplossdive", notebook_cache.environment())
    assert Path(options["cache_dir"]) == ROOT / ".cache" / "mkdocs-jupyter" / key[:32]
    assert os.environ["PYTHONPATH"].split(os.pathsep) == [str(ROOT), "."]
    jupyter = os.environ["JUPYTER_CONFIG_PATH"].split(os.pathsep)[0]
    assert (Path(jupyter) / "jupyter_nbconvert_config.json").is_file()


def test_the_plot_cache_is_keyed_on_the_package_and_on_the_plot_specs(package: Path) -> None:
    """The loss pages' plots (docs/hooks/deep_dive.py) are cached under the same fingerprint,
    plus the source of docs/hooks/plots.py."""
    import deep_dive
    import plots

    source = Path(plots.__file__).read_bytes()
    before = deep_dive.plot_fingerprint(package, source)
    assert deep_dive.plot_fingerprint(package, source + b"\n") != before
    (package / "losses" / "focal.py").write_bytes(
        (package / "losses" / "focal.py").read_bytes() + b"\n"
    )
    assert deep_dive.plot_fingerprint(package, source) != before
