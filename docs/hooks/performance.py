"""The Performance page's results, drawn from the benchmark's files when the site is built.

`benchmarks/run.py` writes `docs/performance/results-<device>.json` (`cpu`, and `cuda` when run
with `--device cuda`): the machine (`environment`), each case (`cases`: title with the shapes,
reference, target), one row per implementation and case (`rows`), the ATen-operation census of
every public loss next to torch's version of it (`aten_ops`, `summary`) and the libraries that
did not import (`left_out`). For each file present, this hook puts a section in place of
`MARKER` on `performance.md`:

- a chart of the forward + backward time of every implementation relative to the case's
  reference, grouped by case under the case's title (its shapes), in the light and the dark
  palette (`plots.THEMES`), with text large enough for a phone;
- the table of every measurement, the libraries left out, the table of the targets, and the
  machine and versions.

After them comes the census, once (it does not depend on the machine): from the first file that
has one, the CPU's.

A file from an older or newer benchmark is still shown: a case without metadata is titled by
its key, and a numeric field of the rows that the table does not know becomes one more column.
The GPU section appears as soon as `results-cuda.json` exists; nothing else is needed.
"""

from __future__ import annotations

import io
import json
import math
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt
import plots
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

if TYPE_CHECKING:
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.structure.pages import Page

PAGE = "performance.md"
MARKER = "<!-- performance-results -->"
DEVICES = {"cpu": "CPU", "cuda": "GPU"}
"""Device tag of the file name -> the section's name, in the page's order."""

# The columns of the table: field of a row, header, format. Other numeric fields come after.
COLUMNS = (
    ("forward_ms", "forward (ms)", ".2f", ""),
    ("forward_backward_ms", "forward + backward (ms)", ".2f", ""),
    ("forward_ratio", "ratio, forward", ".2f", "×"),
    ("forward_backward_ratio", "ratio, forward + backward", ".2f", "×"),
    ("memory_mib", "peak extra memory (MiB)", ".1f", ""),
    ("memory_ratio", "memory ratio", ".2f", "×"),
)
_KNOWN = {"case", "impl", "kind", "error", *(column[0] for column in COLUMNS)}
OURS = frozenset({"ours", "compiled"})

# Chart colours: the placeholders of plots.py, so that plots.themed() writes both palettes.
_KIND_COLOURS = {
    "torch": plots._INK,
    "ours": plots._CURVES[0],
    "compiled": plots._CURVES[5],
    "library": plots._CURVES[1],
}
_KIND_LABELS = {
    "torch": "the case's reference",
    "ours": "DeepLossDive",
    "compiled": "DeepLossDive, compiled",
    "library": "other libraries",
}
CHART_WIDTH = 6.0
"""Inches. With 10.5-pt text the smallest text is above 8 px on a 390-px phone."""
CHART_FONT = 10.5


@dataclass
class Results:
    device: str
    environment: dict[str, str]
    cases: list[dict[str, Any]]
    rows: list[dict[str, Any]]
    census: list[dict[str, Any]] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)
    left_out: dict[str, str] = field(default_factory=dict)
    charts: dict[str, str] = field(default_factory=dict)  # theme -> URI of the SVG

    def title(self, key: str) -> str:
        for case in self.cases:
            if case.get("key") == key:
                return str(case.get("title") or key)
        return key

    def case_keys(self) -> list[str]:
        """Cases in the order of `cases`, then those only found in the rows."""
        keys = [str(case["key"]) for case in self.cases if "key" in case]
        for row in self.rows:
            if row["case"] not in keys:
                keys.append(row["case"])
        return keys

    def rows_of(self, key: str) -> list[dict[str, Any]]:
        return [row for row in self.rows if row["case"] == key]


def load(path: Path, device: str) -> Results:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        rows = [row for row in data["rows"] if "case" in row and "impl" in row]
        return Results(
            device=device,
            environment={str(k): str(v) for k, v in data.get("environment", {}).items()},
            cases=[case for case in data.get("cases") or [] if isinstance(case, dict)],
            rows=rows,
            census=[row for row in data.get("aten_ops") or [] if isinstance(row, dict)],
            summary=[str(line) for line in data.get("summary") or []],
            left_out={str(k): str(v) for k, v in (data.get("left_out") or {}).items()},
        )
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise PluginError(f"{path}: not a benchmark result ({error!r})") from error


def _number(value: Any, spec: str, suffix: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return "–"
    return f"{value:{spec}}{suffix}"


def extra_columns(results: Results) -> list[str]:
    """Numeric fields of the rows that `COLUMNS` does not name, in first-seen order."""
    found: dict[str, None] = {}
    for row in results.rows:
        for key, value in row.items():
            if key not in _KNOWN and isinstance(value, int | float) and not isinstance(value, bool):
                found.setdefault(key, None)
    return list(found)


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def rows_table(results: Results) -> str:
    """Every measurement: the columns of `COLUMNS`, then any other numeric field."""
    extra = extra_columns(results)
    headers = ["case", "implementation", *(c[1] for c in COLUMNS)]
    headers += [name.replace("_", " ") for name in extra]
    lines = [_row(headers), "| --- | --- |" + " ---: |" * (len(headers) - 2)]
    for key in results.case_keys():
        for row in results.rows_of(key):
            name = f"**{row['impl']}**" if row.get("kind") in OURS else str(row["impl"])
            if row.get("error"):
                cells = [f"failed: {row['error']}"] + [""] * (len(headers) - 3)
            else:
                cells = [_number(row.get(f), spec, unit) for f, _, spec, unit in COLUMNS]
                cells += [_number(row.get(name), ".4g", "") for name in extra]
            lines.append(_row([results.title(key), name, *cells]))
    return "\n".join(lines)


def targets(results: Results) -> list[tuple[str, str, bool]]:
    """(target, measured, met) for each case with a target, from ours' forward + backward
    ratio, and for a memory target, ours' memory against the named implementation's."""
    found = []
    for case in results.cases:
        target = case.get("target")
        if not isinstance(target, int | float):
            continue
        rows = results.rows_of(str(case.get("key")))
        mine = [row for row in rows if row.get("kind") == "ours"]
        for ours in mine:
            ratio = ours.get("forward_backward_ratio")
            if not isinstance(ratio, int | float):
                continue
            measured = _number(ratio, ".2f", "×")
            met = ratio <= target
            memory = case.get("memory_target")
            if isinstance(memory, dict):
                other = next((row for row in rows if row["impl"] == memory.get("impl")), None)
                if other and other.get("memory_mib") and ours.get("memory_mib") is not None:
                    share = ours["memory_mib"] / other["memory_mib"]
                    measured += f"; memory {share:.2f}× {memory['impl']}'s"
                    met = met and share <= float(memory.get("ratio", math.inf))
            title = str(case.get("title", case.get("key")))
            if len(mine) > 1:  # several of ours in one case (the GPU cases): name each
                title += f", `{ours['impl']}`"
            label = f"{title}: {case.get('target_text', '')}".rstrip(": ")
            found.append((label, measured, met))
    return found


def targets_table(results: Results) -> str:
    lines = ["| target (forward + backward) | measured | met |", "| --- | ---: | :---: |"]
    lines += [
        _row([label, measured, "yes" if met else "no"]) for label, measured, met in targets(results)
    ]
    return "\n".join(lines) if len(lines) > 2 else ""


def census_table(results: Results) -> str:
    """Every public loss's ATen operations per forward + backward next to torch's version's."""
    lines = [
        "| loss | ours | torch's version | torch | ratio | contended atomic adds |",
        "| --- | ---: | --- | ---: | ---: | --- |",
    ]
    for row in results.census:
        ours, theirs = row.get("ours"), row.get("torch")
        ratio = (
            _number(ours / theirs, ".2f", "×")
            if isinstance(ours, int) and isinstance(theirs, int) and theirs
            else "–"
        )
        contended = "; ".join(sorted(set(row.get("contended") or []))) or "none"
        lines.append(
            _row(
                [
                    f"`{row.get('name')}`",
                    str(ours),
                    str(row.get("torch_name", "")),
                    str(theirs or "–"),
                    ratio,
                    contended,
                ]
            )
        )
    return "\n".join(lines)


def census_section(results: Results) -> str:
    parts = [
        "## ATen operations per loss",
        "",
        "The operations one forward + backward dispatches, as CUDA tensors run them (value checks "
        "off), counted on small CPU tensors: each is at least one kernel launch on a GPU, and the "
        "count does not depend on the machine. A contended atomic add is a `scatter_add`, "
        "`index_add` or accumulating `index_put_` into an output at least 8 times smaller than "
        "its source: on a GPU every element of a class then adds into the same address.",
        "",
        census_table(results),
        "",
    ]
    parts += [f"- {line}." for line in results.summary]
    return "\n".join([*parts, ""])


def environment_table(results: Results) -> str:
    lines = ["| machine and versions | |", "| --- | --- |"]
    lines += [_row([key, value]) for key, value in results.environment.items()]
    return "\n".join(lines)


# Chart geometry, in inches.
_LABELS = 2.95
"""Width of the implementation names, left of the bars (the longest name at 10.5 pt)."""
_ROW = 0.28
_TITLE = 0.34
_GAP = 0.14
_TOP = 0.62  # the legend
_BOTTOM = 0.95  # tick labels and the axis label


def chart(results: Results) -> dict[str, str]:
    """Forward + backward time relative to the reference, one panel per case titled with its
    shapes, as an SVG per theme."""
    keys = [key for key in results.case_keys() if results.rows_of(key)]
    if not keys:
        return {}
    values = [
        row["forward_backward_ratio"]
        for row in results.rows
        if isinstance(row.get("forward_backward_ratio"), int | float)
    ]
    low = min([*values, 1.0]) / 1.6
    high = max([*values, 1.0]) * 9.0  # room for the value right of the longest bar
    height = _TOP + _BOTTOM + sum(_TITLE + _ROW * len(results.rows_of(k)) + _GAP for k in keys)
    left = _LABELS / CHART_WIDTH
    width = 1 - left - 0.02
    style = {**plots._STYLE, "font.size": CHART_FONT, "axes.grid": False}
    with mpl.rc_context(style):
        figure = plt.figure(figsize=(CHART_WIDTH, height))
        try:
            top = height - _TOP
            first = None
            for key in keys:
                rows = results.rows_of(key)
                top -= _TITLE
                figure.text(0.01, (top + 0.09) / height, results.title(key), fontweight="bold")
                box = _ROW * len(rows)
                ax = figure.add_axes(
                    (left, (top - box) / height, width, box / height), sharex=first
                )
                first = first or ax
                top -= box + _GAP
                positions = list(range(len(rows)))[::-1]
                for y, row in zip(positions, rows, strict=True):
                    ratio = row.get("forward_backward_ratio")
                    kind = str(row.get("kind", "library"))
                    if not isinstance(ratio, int | float):
                        ax.text(low * 1.1, y, "failed", va="center")
                        continue
                    ax.barh(
                        y,
                        ratio - low,
                        left=low,
                        height=0.72,
                        color=_KIND_COLOURS.get(kind, plots._CURVES[1]),
                        alpha=0.45 if kind == "torch" else 1.0,
                    )
                    ax.text(ratio * 1.06, y, f"{ratio:.2f}×", va="center")
                ax.set_yticks(positions, [str(row["impl"]) for row in rows])
                ax.tick_params(axis="y", length=0)
                ax.tick_params(axis="x", labelbottom=key == keys[-1])
                ax.axvline(1.0, color=plots._INK, linewidth=0.8)
                ax.set_xscale("log")
                ax.set_xlim(low, high)
                ax.set_ylim(-0.6, len(rows) - 0.4)
                ax.spines["left"].set_visible(False)
            ax.set_xlabel(
                "forward + backward time\n÷ the case's reference\n(log scale; below 1 is faster)"
            )
            handles = [
                mpl.patches.Patch(
                    color=colour, alpha=0.45 if kind == "torch" else 1.0, label=_KIND_LABELS[kind]
                )
                for kind, colour in _KIND_COLOURS.items()
            ]
            figure.legend(
                handles=handles, loc="upper left", bbox_to_anchor=(0.0, 1.0), ncols=2, frameon=False
            )
            buffer = io.StringIO()
            figure.savefig(buffer, format="svg", metadata={"Date": None})
        finally:
            plt.close(figure)
    return plots.themed(buffer.getvalue())


def section(results: Results, link: Any) -> str:
    """The page's section for one device; `link(uri)` is the link from the page to a file."""
    name = DEVICES.get(results.device, results.device)
    env = results.environment
    machine = ", ".join(
        part
        for part in (env.get("device"), env.get("threads") and f"{env['threads']} threads")
        if part
    )
    parts = [f"## Results on the {name}", ""]
    parts += [
        f"Measured on {machine or 'the machine below'} ({env.get('date', 'date not recorded')}). "
        "The chart shows the forward + backward time of each implementation relative to the "
        "case's reference (the first row of the case in the table); the table has every "
        "measurement.",
        "",
    ]
    if results.device == "cuda":
        parts += [
            "The workloads of the GPU table of issue #13, each against the reference it names "
            "(`python benchmarks/run.py --device cuda`; `benchmarks/gpu_check.sh` runs it "
            "together with the CUDA contract tests).",
            "",
        ]
    if results.charts:
        alt = f"Forward + backward time relative to the reference, per case, on the {name}"
        parts += [
            '<figure class="dld-chart" markdown>',
            "",
            *(f"![{alt}]({link(uri)}#only-{theme})" for theme, uri in results.charts.items()),
            "",
            "</figure>",
            "",
        ]
    parts += [rows_table(results), ""]
    if results.left_out:
        left_out = "; ".join(f"{name} ({why})" for name, why in results.left_out.items())
        parts += [f"Not measured here (not importable): {left_out}.", ""]
    table = targets_table(results)
    if table:
        parts += [f"### Targets on the {name}", "", table, ""]
    parts += [f"### Machine and versions ({name})", "", environment_table(results), ""]
    return "\n".join(parts)


STATE: dict[str, Results] = {}


def on_files(files: Files, config: MkDocsConfig) -> Files:
    STATE.clear()
    docs = Path(config.docs_dir)
    for device in DEVICES:
        path = docs / "performance" / f"results-{device}.json"
        if not path.is_file():
            continue
        results = load(path, device)
        try:
            svgs = chart(results)
        except Exception as error:
            raise PluginError(f"{path}: the chart could not be drawn: {error!r}") from error
        for theme, svg in svgs.items():
            uri = f"performance/{device}.{theme}.svg"
            files.append(File.generated(config, uri, content=svg))
            results.charts[theme] = uri
        STATE[device] = results
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise PluginError(f"{PAGE}: the marker {MARKER} for the results is missing")
    if not STATE:
        raise PluginError(f"{PAGE}: no docs/performance/results-<device>.json to show")

    def link(uri: str) -> str:
        return posixpath.relpath(uri, posixpath.dirname(page.file.src_uri) or ".")

    sections = [section(results, link) for results in STATE.values()]
    census = next((results for results in STATE.values() if results.census), None)
    if census is not None:
        sections.append(census_section(census))
    return markdown.replace(MARKER, "\n".join(sections))
