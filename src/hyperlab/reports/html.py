"""A study as one self-contained HTML report.

:func:`write_report` writes a single HTML file that opens without a network: the study's
question and description, its configuration (the resolved base configuration, the sweep
axis and values, repeats and seeds), every figure of the study, the summary table
(sortable), the verdict, and per swept value each seed's training history (one small
figure per value, one line per seed) with a table of every run's final metrics.

Everything is inline: figures are PNG ``data:`` URIs, the style sheet and the few lines of
script are in the page, fonts are the system's, and a Content-Security-Policy forbids any
other source, so the page can load nothing from anywhere. All text is escaped.

The page checks itself: a first inline script records every JavaScript error (uncaught
exceptions, rejected promises, ``console.error``, blocked or failed resources) into
``<html data-js-errors="[...]">``; after ``load`` a last script records how many images
there are and which did not decode (``data-images``, ``data-images-broken``) and sets
``data-ready="1"``. A browser test reads these attributes from the rendered DOM.
"""
from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import json
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hyperlab._fileio import write_text
from hyperlab.reports import figures as _figures
from hyperlab.reports import summary as _summary
from hyperlab.studies.results import StudyResults, ValueResult

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from hyperlab.studies.spec import Study

__all__ = ["write_report", "render_report", "ReportPathError", "REPORT_NAME"]

#: The report's file name inside a study's output folder (``OUT/<study>/report.html``).
REPORT_NAME = "report.html"
FIGURE_DPI = 80          # study figures: legible, small, quick to encode
HISTORY_DPI = 72         # per-value history small multiples
_PNG_OPTIONS = {"compress_level": 3}  # zlib level: most of the size for a fraction of the time


class ReportPathError(ValueError):
    """The report cannot be written where asked (the message names the path and why)."""


def _e(value: Any) -> str:
    """Any value as escaped HTML text (quotes too: safe in attributes)."""
    return html.escape(str(value), quote=True)


# --------------------------------------------------------------------------- output path
def _check_target(path: Path) -> Path:
    """``path``, once its folder exists (created if needed) and is writable. Raises
    ReportPathError naming the path, before anything is drawn."""
    if path.is_dir():
        raise ReportPathError(f"report path {path} is a directory; give a file name, "
                              f"e.g. {path / REPORT_NAME}")
    parent = path.parent
    blocker = next((p for p in (parent, *parent.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise ReportPathError(f"cannot write the report to {path}: {blocker} is a file, not a "
                              "folder")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ReportPathError(f"cannot write the report to {path}: cannot create folder "
                              f"{parent} ({err.strerror or err})") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ReportPathError(f"cannot write the report to {path}: folder {parent} is not "
                              "writable")
    return path


def _png(fig: Figure, dpi: int) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None},
                pil_kwargs=_PNG_OPTIONS)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _img(b64: str, alt: str, cls: str = "") -> str:
    klass = f' class="{_e(cls)}"' if cls else ""
    return f'<img{klass} alt="{_e(alt)}" src="data:image/png;base64,{b64}">'


def _study_figures(results: StudyResults) -> list[tuple[str, str]]:
    """(layout name, base64 PNG) for every layout of the study."""
    unknown = [name for name in results.figures if name not in _figures.LAYOUTS]
    if unknown:
        raise ValueError(f"unknown figure layout(s) {unknown} in study {results.name!r}; "
                         f"known: {sorted(_figures.LAYOUTS)}")
    plt = _figures._pyplot()
    out = []
    for name in dict.fromkeys(results.figures):
        fig = _figures.LAYOUTS[name](results)
        try:
            out.append((name, _png(fig, FIGURE_DPI)))
        finally:
            plt.close(fig)
    return out


def _finite(values: Iterable[float]) -> np.ndarray:
    a = np.asarray(list(values), dtype=float)
    return np.where(np.isfinite(a), a, np.nan)


def _history_figures(results: StudyResults) -> list[str | None]:
    """One small-multiple PNG per value (loss | accuracy, one colour per seed, solid train,
    dashed validation), drawn on ONE reused figure; None for a value without runs."""
    plt = _figures._pyplot()
    # Fixed margins, no layout engine: a layout engine would make every savefig draw twice.
    fig, axes = plt.subplots(1, 2, figsize=(10.0, 3.0))
    fig.subplots_adjust(left=0.06, right=0.99, bottom=0.15, top=0.83, wspace=0.15)
    out: list[str | None] = []
    try:
        for value in results.values:
            if not value.runs:
                out.append(None)
                continue
            colors = _figures._colors(len(value.runs))
            for ax, key, name in ((axes[0], "loss", "loss"), (axes[1], "accuracy", "accuracy")):
                ax.cla()
                curves = []
                for run, color in zip(value.runs, colors):
                    for k, style in ((key, "-"), (f"val_{key}", "--")):
                        y = _finite(run.history.get(k) or [])
                        if y.size:
                            ax.plot(np.arange(1, y.size + 1), y, style, color=color, linewidth=1.0,
                                    label=f"seed {run.seed}" if k == key else None)
                            curves.append(y)
                if key == "loss" and _figures._spans_decades(curves, 2.0):
                    ax.set_yscale("log")
                if key == "accuracy":
                    ax.set_ylim(0.0, 1.0)
                ax.set_title(f"{name} (solid: train, dashed: validation)", fontsize=9)
                ax.set_xlabel("epoch", fontsize=8)
                ax.tick_params(labelsize=7)
                ax.grid(alpha=0.3)
            if len(value.runs) <= 12:
                axes[1].legend(fontsize=7, loc="lower right", ncol=2 if len(value.runs) > 4 else 1)
            fig.suptitle(f"{results.axis} = {value.label}", fontsize=10)
            out.append(_png(fig, HISTORY_DPI))
    finally:
        plt.close(fig)
    return out


# --------------------------------------------------------------------------- pieces
def _num(x: Any, fmt: str = ".4f") -> str:
    if x is None:
        return "—"
    try:
        f = float(x)
    except (TypeError, ValueError):
        return str(x)
    return "n/a" if not math.isfinite(f) else format(f, fmt)


def _sort_key(x: Any) -> str:
    """A ``data-sort`` attribute value: a number as text, '' for missing (sorted last)."""
    if isinstance(x, bool):
        return str(int(x))
    if isinstance(x, (int, float, np.integer, np.floating)):
        return repr(float(x)) if math.isfinite(float(x)) else ""
    return str(x)


def _flatten(config: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(config, dict) and config:
        out: list[tuple[str, Any]] = []
        for k, v in config.items():
            out += _flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    return [(prefix, config)]


def _json(value: Any) -> str:
    def default(o: Any) -> Any:
        if hasattr(o, "item"):
            return o.item()
        return repr(o)
    return json.dumps(value, indent=2, sort_keys=False, default=default)


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=repr)


def _resolved_base(results: StudyResults, study: Study | None) -> dict[str, Any]:
    if study is not None:
        try:
            from hyperlab.studies import spec
            return spec.resolve(study.base, f"{study.source}: base configuration")
        except (ValueError, TypeError):  # a base that only makes sense with the sweep applied
            pass
    return results.config


def _seeds_text(results: StudyResults) -> str:
    per_value = [tuple(sorted(r.seed for r in v.runs)) for v in results.values]
    distinct = sorted(set(per_value))
    if len(distinct) == 1:
        return ", ".join(map(str, distinct[0])) or "none"
    return "; ".join(f"{v.label}: {', '.join(map(str, s)) or 'none'}"
                     for v, s in zip(results.values, per_value))


def _section(id_: str, title: str, body: str, open_: bool = True) -> str:
    return (f'<details class="section" id="{_e(id_)}"{" open" if open_ else ""}>'
            f"<summary><h2>{_e(title)}</h2></summary>\n{body}\n</details>\n")


def _table(header: list[str], rows: list[list[tuple[str, ...]]], *, cls: str = "",
           row_classes: list[str] | None = None, caption: str = "") -> str:
    """rows: cells as (display text, sort key[, class]); text is escaped here. The table is
    wrapped in a horizontally scrolling block."""
    head = "".join(f'<th scope="col">{_e(h)}</th>' for h in header)
    body = []
    for i, row in enumerate(rows):
        rc = (row_classes or [""] * len(rows))[i]
        cells = "".join(f'<td data-sort="{_e(c[1])}"'
                        + (f' class="{_e(c[2])}"' if len(c) > 2 else "") + f">{_e(c[0])}</td>"
                        for c in row)
        klass = f' class="{_e(rc)}"' if rc else ""
        body.append(f"<tr{klass}>{cells}</tr>")
    cap = f"<caption>{_e(caption)}</caption>" if caption else ""
    return (f'<div class="scroll"><table class="{_e(cls)}">{cap}<thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def _kv(pairs: list[tuple[str, str]]) -> str:
    rows = "".join(f'<tr><th scope="row">{_e(k)}</th><td>{_e(v)}</td></tr>' for k, v in pairs)
    return f'<table class="kv"><tbody>{rows}</tbody></table>'


def _overview(results: StudyResults, study: Study | None) -> str:
    parts = []
    question = getattr(study, "question", "") if study is not None else ""
    if question:
        parts.append(f'<p class="question">{_e(question)}</p>')
    if results.description:
        parts.append(f'<p class="description">{_e(results.description)}</p>')
    n_runs = sum(len(v.runs) for v in results.values)
    repeats = study.repeats if study is not None else max((len(v.runs) for v in results.values),
                                                          default=0)
    pairs = [("study", results.name)]
    if study is not None:
        pairs.append(("source", study.source))
    pairs += [("swept", results.axis),
              ("values", ", ".join(v.label for v in results.values)),
              ("repeats (seeds per value)", str(repeats)),
              ("seeds", _seeds_text(results)),
              ("runs in this report", f"{n_runs} of {len(results.values) * repeats}"),
              ("accuracy threshold", f"{100 * results.threshold:g}% validation accuracy"),
              ("figures", ", ".join(results.figures))]
    parts.append(_kv(pairs))
    return "\n".join(parts)


def _configuration(results: StudyResults, study: Study | None) -> str:
    parts = []
    swept: dict[str, int] = {}
    if study is not None and study.sweeps:
        rows = []
        for i, sweep in enumerate(study.sweeps):
            for field in sweep["fields"]:
                swept[field] = i
            values = [", ".join(_show(x) for x in v) if len(sweep["fields"]) > 1 else _show(v)
                      for v in sweep["values"]]
            rows.append([(" + ".join(sweep["fields"]), str(i)),
                         (", ".join(sweep["labels"]), ""), ("; ".join(values), "")])
        kind = "grid product" if len(study.sweeps) > 1 else "one axis"
        parts.append(f"<h3>Sweep ({_e(kind)})</h3>")
        parts.append(_table(["field(s)", "labels", "values"], rows, cls="sweep"))
    else:
        rows = [[(v.label, str(i)), (_show(v.value), "")] for i, v in enumerate(results.values)]
        parts.append(f"<h3>Sweep: {_e(results.axis)}</h3>")
        parts.append(_table(["label", "value"], rows, cls="sweep"))
    base = _resolved_base(results, study)
    flat = _flatten(base)
    if flat and flat != [("", {})]:
        parts.append("<h3>Base configuration (resolved)</h3>")
        rows = []
        for key, value in flat:
            shown = _show(value)
            hit = next((f for f in swept if key == f or key.startswith(f + ".")), None)
            if hit is not None:
                shown += "  (swept: overridden by each value)"
            rows.append([(key, key), (shown, "")])
        parts.append(_table(["field", "value"], rows, cls="config"))
        parts.append(f"<details><summary>as JSON</summary><pre>{_e(_json(base))}</pre></details>")
    return "\n".join(parts)


_SORT_FIELDS = ("value", "n", "val_accuracy_mean", "accuracy_mean", "val_loss_mean",
                "best_epoch_mean", "epochs_to_threshold_mean", "updates_mean",
                "wall_time_s_mean", "diverged")


def _summary_table(results: StudyResults, rows: list[dict[str, Any]],
                   verdict: dict[str, Any]) -> str:
    header = _summary._display_header(rows)
    body, classes = [], []
    tie = set(map(str, verdict.get("no_difference_detected", [])))
    for i, row in enumerate(rows):
        cells = _summary._display_cells(row)
        keys = [str(i)] + [_sort_key(row[f]) for f in _SORT_FIELDS[1:]]
        body.append(list(zip(cells, keys)))
        label = str(row["value"])
        classes.append("best" if label == str(verdict.get("best")) else
                       "tie" if label in tie else "")
    note = ("Means ± sample sd over each value's runs (final epoch). Click a column header to "
            "sort. Highlighted: the best value (dark) and the values where no difference "
            "from it was detected with these seeds (light).")
    return (f'<p class="note">{_e(note)}</p>'
            + _table(header, body, cls="sortable summary", row_classes=classes))


def _verdict(results: StudyResults, verdict: dict[str, Any]) -> str:
    """The answer, then per declared measure (the leading one first) its answer and a
    table: each value's estimate with its interval, verdict, Holm-adjusted p against the
    best and the seeds that would detect a 1-point difference."""
    parts = [f'<p class="verdict">{_e(verdict.get("text", ""))}</p>']
    for m in verdict.get("measures", []):
        conf = f"{100 * m['level']:g}%"
        show = (lambda x: "—" if x is None else f"{100 * x:.1f}%") if m["percent"] else (
            lambda x: "—" if x is None else f"{x:.3g}")
        rows = [[(str(v["label"]), str(i)), (show(v["estimate"]), _sort_key(v["estimate"])),
                 (f"{show(v['low'])} – {show(v['high'])}", ""), (str(v["n"]), str(v["n"])),
                 (v["verdict"] + (" (unstable)" if v["unstable"] else ""), ""),
                 (_fmt_p(v["p_adj_to_best"]), _sort_key(v["p_adj_to_best"])),
                 (_fmt_seeds(v["seeds_needed"]), "")]
                for i, v in enumerate(m["values"])]
        lead = " (leading)" if m["name"] == verdict.get("leading") else ""
        parts.append(f"<h3>{_e(m['title'])}{lead}</h3>")
        if m["answer"] != verdict.get("text"):
            parts.append(f"<p>{_e(m['answer'])}</p>")
        parts.append(_table([results.axis, "estimate", f"{conf} interval", "n", "verdict",
                             "p vs best (Holm)", "seeds to detect 1 point"], rows,
                            cls="sortable pvalues"))
        parts.append(f'<p class="note">{_e(m["test"] or "no test possible")}, '
                     f"α = {m['alpha']:g}, {m['comparisons']} comparison(s) corrected.</p>")
    return "\n".join(parts)


def _fmt_p(p: float | None) -> str:
    return "—" if p is None or not np.isfinite(p) else f"{p:.3g}"


def _fmt_seeds(n: int | None) -> str:
    return "—" if n is None else str(n)


def _epoch(index: int | None) -> tuple[str, str]:
    """A stored 0-based epoch index as a 1-based epoch (display, sort key)."""
    return ("—", "") if index is None else (str(index + 1), str(index + 1))


def _run_table(value: ValueResult) -> str:
    header = ["seed", "val acc", "train acc", "val loss", "train loss", "best val acc (epoch)",
              "epochs", "stopped", "diverged", "updates", "wall s", "run key"]
    rows = []
    for run in value.runs:
        best, best_epoch = _summary._best(run)
        va, ta = _summary._final(run, "val_accuracy"), _summary._final(run, "accuracy")
        vl, tl = _summary._final(run, "val_loss"), _summary._final(run, "loss")
        best_txt = "n/a" if not np.isfinite(best) else f"{100 * best:.1f}% ({best_epoch:.0f})"
        rows.append([
            (str(run.seed), str(run.seed)),
            ("n/a" if not np.isfinite(va) else f"{100 * va:.1f}%", _sort_key(va)),
            ("n/a" if not np.isfinite(ta) else f"{100 * ta:.1f}%", _sort_key(ta)),
            (_num(vl), _sort_key(vl)), (_num(tl), _sort_key(tl)),
            (best_txt, _sort_key(best)),
            (str(run.epochs_run), str(run.epochs_run)),
            _epoch(run.stopped_epoch), _epoch(run.diverged_epoch),
            (f"{run.updates:,}", str(run.updates)),
            (_num(run.wall_time_s, ".3f"), _sort_key(run.wall_time_s)),
            (run.key[:12], run.key, "key"),
        ])
    return _table(header, rows, cls="sortable runs")


def _runs(results: StudyResults, histories: list[str | None]) -> str:
    parts = ['<p class="note">Every run of every value: its training history (one colour per '
             "seed; solid train, dashed validation) and its final metrics: epochs trained, the "
             "epoch EarlyStopping stopped it and the first epoch with a non-finite loss (1-based; "
             "— for none), weight updates, the run's share of the wall time of the cohort it "
             "trained in, and the start of its key in the results store.</p>"]
    for i, (value, b64) in enumerate(zip(results.values, histories)):
        n = len(value.runs)
        finals = _summary.final_values(value)
        finals = finals[np.isfinite(finals)]
        mean = f", mean val acc {100 * finals.mean():.1f}%" if finals.size else ""
        title = f"{results.axis} = {value.label} — {n} run{'s' * (n != 1)}{mean}"
        flags = []
        if any(r.diverged_epoch is not None for r in value.runs):
            flags.append('<span class="flag">diverged</span>')
        if any(r.stopped_epoch is not None for r in value.runs):
            flags.append('<span class="flag stop">stopped early</span>')
        inner = ("<p>No stored runs for this value.</p>" if not value.runs else
                 _img(b64 or "", f"training history, {results.axis} = {value.label}", "history")
                 + _run_table(value))
        parts.append(f'<details class="value" id="value-{i}"><summary>{_e(title)} '
                     f'{" ".join(flags)}</summary>{inner}</details>')
    return "\n".join(parts)


# --------------------------------------------------------------------------- page
_CSS = """
:root { color-scheme: light; --fg: #1d1f23; --muted: #5b616b; --line: #d8dce2; --best: #c9e7c4; --tie: #eaf5e7; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       color: var(--fg); max-width: 1280px; margin: 0 auto; padding: 1.2rem 1.5rem 4rem; }
h1 { font-size: 1.6rem; margin: 0.2rem 0 0.4rem; }
h2 { display: inline; font-size: 1.25rem; margin: 0; }
h3 { font-size: 1.05rem; margin: 1.2rem 0 0.4rem; }
nav a { margin-right: 1rem; color: #1f5fa8; }
.question { font-size: 1.15rem; font-style: italic; margin: 0.4rem 0; }
.description, .note, footer { color: var(--muted); }
details.section { border-top: 1px solid var(--line); padding: 0.8rem 0; }
details.section > summary { cursor: pointer; list-style-position: outside; }
details.value { border: 1px solid var(--line); border-radius: 6px; margin: 0.5rem 0; padding: 0.4rem 0.7rem; }
details.value > summary { cursor: pointer; font-weight: 600; }
.flag { background: #f6d6d3; color: #7d1d12; border-radius: 4px; padding: 0 0.4rem; font-size: 0.8rem; font-weight: 500; }
.flag.stop { background: #dde7f6; color: #1d3b7d; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid var(--line); padding: 0.25rem 0.6rem; text-align: right; vertical-align: top; }
th:first-child, td:first-child, table.kv th, table.kv td, table.config th, table.config td,
table.sweep th, table.sweep td { text-align: left; }
.scroll { overflow-x: auto; }
td.key { font-family: ui-monospace, monospace; font-size: 0.78rem; color: var(--muted); }
table.kv th { font-weight: 600; padding-right: 1.5rem; }
table.sortable th { cursor: pointer; user-select: none; white-space: nowrap; }
table.sortable th[aria-sort=ascending]::after { content: " \\25B2"; }
table.sortable th[aria-sort=descending]::after { content: " \\25BC"; }
tr.best td { background: var(--best); }
tr.tie td { background: var(--tie); }
table.config td, table.sweep td { word-break: break-word; }
pre { background: #f5f6f8; padding: 0.7rem; overflow: auto; font-size: 0.82rem; }
figure { margin: 0.6rem 0 1.2rem; }
figcaption { color: var(--muted); font-size: 0.85rem; }
img { max-width: 100%; height: auto; display: block; }
img.history { margin: 0.4rem 0; }
.verdict { font-size: 1.05rem; font-weight: 600; }
"""

# First script of the page: record every error before anything else can fail.
_ERRORS_JS = """
(function () {
  var root = document.documentElement, errors = [];
  function record(msg) {
    errors.push(String(msg).slice(0, 500));
    root.setAttribute("data-js-errors", JSON.stringify(errors));
  }
  window.__reportError = record;
  window.addEventListener("error", function (e) {
    if (e.target && e.target !== window && e.target.tagName) {
      record("failed to load <" + e.target.tagName.toLowerCase() + "> " +
             (e.target.alt || String(e.target.src || e.target.href || "").slice(0, 80)));
    } else {
      record((e.message || "error") + (e.lineno ? " (line " + e.lineno + ")" : ""));
    }
  }, true);
  window.addEventListener("unhandledrejection", function (e) { record("unhandled rejection: " + e.reason); });
  document.addEventListener("securitypolicyviolation", function (e) { record("blocked by CSP: " + e.blockedURI); });
  var consoleError = console.error;
  console.error = function () {
    record("console.error: " + Array.prototype.join.call(arguments, " "));
    return consoleError.apply(console, arguments);
  };
})();
"""

# Last script: sortable tables, then the self-check after load.
_MAIN_JS = """
(function () {
  function key(cell) {
    var k = cell.getAttribute("data-sort");
    if (k === null || k === "") return null;
    var n = Number(k);
    return isNaN(n) ? k : n;
  }
  function sortBy(table, col, th) {
    var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[col]), y = key(b.cells[col]);
      if (x === null || y === null) return x === y ? 0 : (x === null ? 1 : -1);
      if (typeof x === "number" && typeof y === "number") return (x - y) * dir;
      return String(x).localeCompare(String(y), undefined, {numeric: true}) * dir;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.tabIndex = 0;
      th.title = "sort";
      th.addEventListener("click", function () { sortBy(table, col, th); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(table, col, th); }
      });
    });
  });
  window.addEventListener("load", function () {
    var root = document.documentElement, imgs = document.images, broken = [];
    for (var i = 0; i < imgs.length; i++) {
      if (!(imgs[i].complete && imgs[i].naturalWidth > 0)) broken.push(imgs[i].alt || ("#" + i));
    }
    root.setAttribute("data-images", String(imgs.length));
    root.setAttribute("data-images-broken", JSON.stringify(broken));
    root.setAttribute("data-ready", "1");
  });
})();
"""

_CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'")


def render_report(results: StudyResults, *, study: Study | None = None) -> str:
    """The report of ``results`` as one HTML string (see :func:`write_report`)."""
    from hyperlab._version import __version__

    if not any(v.runs for v in results.values):
        raise ValueError(f"study {results.name!r} has no stored runs to report; run "
                         f"'hyperlab run {results.name}' first")
    rows = _summary.summarize(results)
    verdict = _summary.verdict(results, rows)
    study_figs = _study_figures(results)
    histories = _history_figures(results)

    figs = "\n".join(
        f'<figure id="figure-{_e(name)}">{_img(b64, f"{results.name}: {name} figure", "study")}'
        f"<figcaption>{_e(name)}</figcaption></figure>" for name, b64 in study_figs)
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    sections = [
        _section("overview", "Study", _overview(results, study)),
        _section("verdict", "Verdict", _verdict(results, verdict)),
        _section("figures", "Figures", figs),
        _section("summary", "Summary table", _summary_table(results, rows, verdict)),
        _section("configuration", "Configuration", _configuration(results, study)),
        _section("runs", "Runs", _runs(results, histories)),
    ]
    nav = "".join(f'<a href="#{k}">{_e(t)}</a>' for k, t in (
        ("overview", "Study"), ("verdict", "Verdict"), ("figures", "Figures"),
        ("summary", "Summary"), ("configuration", "Configuration"), ("runs", "Runs")))
    title = f"hyperlab report: {results.name}"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en" data-js-errors="[]" data-ready="0">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_e(_CSP)}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="hyperlab {_e(__version__)}">\n'
        f"<title>{_e(title)}</title>\n<script>{_ERRORS_JS}</script>\n<style>{_CSS}</style>\n"
        "</head>\n<body>\n"
        f"<header><h1>{_e(title)}</h1><nav>{nav}</nav></header>\n<main>\n"
        + "".join(sections)
        + "</main>\n"
        f"<footer>Generated by hyperlab {_e(__version__)} on {_e(now)} from "
        f"{sum(len(v.runs) for v in results.values)} stored runs.</footer>\n"
        f"<script>{_MAIN_JS}</script>\n</body>\n</html>\n")


def write_report(results: StudyResults, path: str | os.PathLike[str], *,
                 study: Study | None = None) -> Path:
    """Write the study's report as ONE self-contained HTML file at ``path``; returns it.

    ``study`` (the :class:`~hyperlab.studies.spec.Study` the results came from) adds its
    question, source, sweep fields and repeats, and the fully resolved base configuration;
    without it the report shows what ``results`` holds. The file is written atomically
    (a temporary file beside it, then ``os.replace``). Raises ValueError when the results
    hold no runs (suggesting ``hyperlab run``), ReportPathError when ``path`` cannot be
    written there (before anything is drawn), and OutputError (a ValueError) when writing
    fails, e.g. on a full disk, leaving any previous report as it was.
    """
    if not any(v.runs for v in results.values):
        raise ValueError(f"study {results.name!r} has no stored runs to report; run "
                         f"'hyperlab run {results.name}' first")
    path = _check_target(Path(path))
    return write_text(path, render_report(results, study=study), "the report")
