"""The Performance page shows the benchmark's files as they are (docs/hooks/performance.py).

Every number of the page's tables comes from `docs/performance/results-<device>.json`: these
tests render the page's sections from the committed file and from variants of it (a GPU file,
extra fields, missing metadata) and compare them with the file's numbers.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from mkdocs.config import load_config
from mkdocs.structure.files import Files

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs" / "hooks"))

import performance  # noqa: E402  (docs/hooks is not a package)

CPU = ROOT / "docs" / "performance" / "results-cpu.json"


def cpu_results() -> performance.Results:
    return performance.load(CPU, "cpu")


def cells(table: str) -> list[list[str]]:
    """The body rows of a Markdown table, as lists of cells."""
    rows = [line for line in table.splitlines() if line.startswith("|")][2:]
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows]


def test_every_measurement_is_in_the_table() -> None:
    results = cpu_results()
    body = cells(performance.rows_table(results))
    assert len(body) == len(results.rows)
    by_name = {(row[0], row[1].strip("*")): row for row in body}
    for row in results.rows:
        shown = by_name[(results.title(row["case"]), row["impl"])]
        assert shown[2] == f"{row['forward_ms']:.2f}"
        assert shown[3] == f"{row['forward_backward_ms']:.2f}"
        assert shown[4] == f"{row['forward_ratio']:.2f}×"
        assert shown[5] == f"{row['forward_backward_ratio']:.2f}×"
        assert shown[6] == f"{row['memory_mib']:.1f}"
        assert shown[7] == f"{row['memory_ratio']:.2f}×"


def test_cases_are_titled_with_their_shapes() -> None:
    results = cpu_results()
    titles = [results.title(key) for key in results.case_keys()]
    assert all(re.search(r"\(\d+(, \d+)+\)", title) for title in titles), titles
    svgs = performance.chart(results)
    assert set(svgs) == {"light", "dark"}
    for theme, svg in svgs.items():
        text = html.unescape(svg)
        for title in titles:
            assert title in text, f"{theme}: no title {title!r} in the chart"
        assert "#0a0b0" not in svg, f"{theme}: a placeholder colour is left"
        assert "#010203" not in svg, f"{theme}: a placeholder colour is left"
    assert svgs["light"] != svgs["dark"]


def test_targets_follow_the_measured_ratio() -> None:
    results = cpu_results()
    found = performance.targets(results)
    assert len(found) == sum(1 for case in results.cases if case.get("target") is not None)
    for (label, measured, met), case in zip(
        found, [c for c in results.cases if c.get("target") is not None], strict=True
    ):
        ours = next(row for row in results.rows_of(case["key"]) if row["kind"] == "ours")
        assert label.startswith(case["title"])
        assert measured.startswith(f"{ours['forward_backward_ratio']:.2f}×")
        if case.get("memory_target") is None:
            assert met == (ours["forward_backward_ratio"] <= case["target"])


def write(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data), encoding="utf-8")


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    """A copy of docs/performance.md and docs/performance/ in a docs directory of its own."""
    (tmp_path / "performance").mkdir()
    shutil.copy(ROOT / "docs" / "performance.md", tmp_path / "performance.md")
    shutil.copy(CPU, tmp_path / "performance" / "results-cpu.json")
    return tmp_path


def render_page(docs: Path) -> str:
    config = load_config(str(ROOT / "mkdocs.yml"))
    config.docs_dir = str(docs)
    # What MkDocs records while it runs a plugin's event (File.generated reads it).
    setattr(config.plugins, "_current_plugin", "performance")  # noqa: B010
    files = performance.on_files(Files([]), config)
    page: Any = type("P", (), {"file": type("F", (), {"src_uri": performance.PAGE})()})()
    markdown = (docs / performance.PAGE).read_text(encoding="utf-8")
    rendered = performance.on_page_markdown(markdown, page, config, files)
    for results in performance.STATE.values():
        for uri in results.charts.values():
            assert files.get_file_from_path(uri) is not None, uri
    return rendered


def test_the_page_has_a_cpu_section_and_no_gpu_section_without_its_file(docs: Path) -> None:
    markdown = render_page(docs)
    assert performance.MARKER not in markdown
    assert "## Results on the CPU" in markdown
    assert "## Results on the GPU" not in markdown
    assert "](performance/cpu.light.svg#only-light)" in markdown
    assert "](performance/cpu.dark.svg#only-dark)" in markdown


def test_a_gpu_file_adds_its_section_with_its_extra_fields(docs: Path) -> None:
    data = json.loads(CPU.read_text(encoding="utf-8"))
    data["environment"]["device"] = "NVIDIA H200"
    for index, row in enumerate(data["rows"]):
        row["forward_backward_ratio"] = 0.5 + index / 100
        row["aten_ops"] = 10 + index  # a field this page does not know
    data["unknown_section"] = {"ignored": True}
    write(docs / "performance" / "results-cuda.json", data)
    markdown = render_page(docs)
    assert markdown.index("## Results on the CPU") < markdown.index("## Results on the GPU")
    gpu = markdown[markdown.index("## Results on the GPU") :]
    assert "Measured on NVIDIA H200" in gpu
    assert "| aten ops |" in gpu
    assert "](performance/cuda.dark.svg#only-dark)" in gpu
    table = gpu[gpu.index("| case |") :]
    body = cells(table.split("\n\n")[0])
    assert [row[-1] for row in body] == [str(10 + i) for i in range(len(data["rows"]))]
    assert [row[5] for row in body] == [f"{0.5 + i / 100:.2f}×" for i in range(len(body))]


def test_a_file_without_case_metadata_still_renders(docs: Path) -> None:
    data = json.loads(CPU.read_text(encoding="utf-8"))
    del data["cases"]
    data["rows"][0]["error"] = "RuntimeError: out of memory"
    write(docs / "performance" / "results-cpu.json", data)
    markdown = render_page(docs)
    assert f"| {data['rows'][1]['case']} |" in markdown  # titled by its key
    assert "failed: RuntimeError: out of memory" in markdown
    assert "### Targets on the CPU" not in markdown


def test_the_page_keeps_its_marker() -> None:
    text = (ROOT / "docs" / performance.PAGE).read_text(encoding="utf-8")
    assert text.count(performance.MARKER) == 1


def test_the_census_of_every_loss_is_on_the_page(docs: Path) -> None:
    """The ATen-operation census of the JSON (each loss: ours against torch's version, and the
    summary lines) appears once, after the device sections."""
    data = json.loads(CPU.read_text(encoding="utf-8"))
    assert data["aten_ops"], "results-cpu.json has no census: run benchmarks/run.py --census-only"
    markdown = render_page(docs)
    assert markdown.count("## ATen operations per loss") == 1
    census = markdown[markdown.index("## ATen operations per loss") :]
    body = {row[0]: row for row in cells(census.split("\n\n")[2])}
    assert len(body) == len(data["aten_ops"])
    for entry in data["aten_ops"]:
        row = body[f"`{entry['name']}`"]
        assert row[1] == str(entry["ours"])
        assert row[2] == entry["torch_name"]
        if entry["torch"]:
            assert row[3] == str(entry["torch"])
            assert row[4] == f"{entry['ours'] / entry['torch']:.2f}×"
    for line in data["summary"]:
        assert f"- {line}." in census
