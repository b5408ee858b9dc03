"""Reports of a gold-set run: a Markdown or HTML page, and the accuracy-by-tag chart as a PNG.

>>> from assistant.evaluation import compare, evaluate, load_run          # doctest: +SKIP
>>> from assistant.reports import write_report                            # doctest: +SKIP
>>> result = evaluate(bot, "tests/gold/seed.yaml")                        # doctest: +SKIP
>>> write_report(result, "report.md", compare(result, load_run("run.json")))  # doctest: +SKIP
PosixPath('report.md')

``report.png`` (the chart) is written beside ``report.md``; an ``.html`` report embeds it.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from .wording import counted

# The runs and comparisons are evaluation.EvalResult, Comparison and SideBySide, named in annotations only:
# evaluation re-exports these functions under their old names, so this module imports nothing of it.

__all__ = ["METRIC_LABELS", "plot_by_tag", "write_comparison_report", "write_report"]

METRIC_LABELS = [
    ("accuracy", "accuracy (all cases)"),
    ("answer_accuracy", "answer accuracy (answerable cases)"),
    ("refusal_precision", "refusal precision"),
    ("refusal_recall", "refusal recall"),
    ("citation_precision", "citation precision"),
    ("hit@5", "retrieval hit@5"),
    ("mrr", "retrieval MRR"),
    ("median_words", "median answer length (words)"),
    ("latency_p50_s", "latency p50 (s)"),
    ("latency_p95_s", "latency p95 (s)"),
    ("first_piece_p50_s", "time to first piece p50 (s)"),
    ("dropped_share", "generated sentences dropped as unsupported"),
]


COLOURS = ("#4C72B0", "#DD8452")  # a run's bars; a second run's beside them


def plot_by_tag(result: EvalResult, path: str | Path, other: EvalResult | None = None,
                labels: tuple[str, str] = ("", "")) -> Path:
    """A PNG bar chart of accuracy by tag; with ``other``, its bars beside each tag's (named by ``labels``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [result] if other is None else [result, other]
    tags = list(dict.fromkeys(t for run in runs for t in run.by_tag))
    width = 0.8 / len(runs)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(runs) * len(tags) + 2), 3.6), dpi=110)
    for n, run in enumerate(runs):
        values = [(run.by_tag.get(t) or {}).get("accuracy") or 0.0 for t in tags]
        counts = [(run.by_tag.get(t) or {}).get("cases", 0) for t in tags]
        name = f"{labels[n]}: " if other is not None else ""
        bars = ax.bar([i + (n - (len(runs) - 1) / 2) * width for i in range(len(tags))], values, width * 0.95,
                      color=COLOURS[n], label=f"{name}overall {run.metrics['accuracy'] or 0:.2f}")
        for bar, value, count in zip(bars, values, counts):
            ax.text(bar.get_x() + bar.get_width() / 2, value + 0.02, f"{value:.2f}\nn={count}", ha="center",
                    fontsize=8 if other is None else 7)
        ax.axhline(run.metrics["accuracy"] or 0, color="#C44E52" if n == 0 else COLOURS[1], linestyle="--",
                   linewidth=1)
    ax.set_xticks(range(len(tags)), tags)
    ax.set_ylim(0, 1.15)
    ax.set_ylabel("accuracy")
    ax.set_title("Gold-set accuracy by tag")
    ax.legend(loc="upper right", fontsize=8)
    plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def write_report(result: EvalResult, path: str | Path, comparison: Comparison | None = None,
                 title: str = "Gold-set evaluation", chart: Path | None = None) -> Path:
    """A Markdown (``.md``) or HTML (``.html``) report, with the accuracy-by-tag chart as a PNG beside it
    (``chart``: one drawn already for this run, as a second report of it has)."""

    path = Path(path)
    chart = chart or plot_by_tag(result, path.with_suffix(".png"))
    m = result.metrics
    rows = [(label, m.get(key)) for key, label in _labels(m) if key in m]
    tag_rows = [(tag, t["cases"], t["accuracy"], t["refusal_recall"], t["median_words"]) for tag, t in result.by_tag.items()]
    failures = result.failures
    if path.suffix.lower() in (".html", ".htm"):
        esc = html.escape
        img = base64.b64encode(chart.read_bytes()).decode()
        parts = [f"<!doctype html><meta charset='utf-8'><title>{esc(title)}</title>", _STYLE,
                 f"<h1>{esc(title)}</h1><p>{m['passed']} of {counted(m['cases'], 'case')} passed.</p><table>"]
        parts += [f"<tr><th>{esc(label)}</th><td>{_fmt(v)}</td></tr>" for label, v in rows]
        parts.append(f"</table><h2>By tag</h2><img alt='accuracy by tag' src='data:image/png;base64,{img}'><table>"
                     "<tr><th>tag</th><th>cases</th><th>accuracy</th><th>refusal recall</th><th>median words</th></tr>")
        parts += [f"<tr><td>{esc(t)}</td><td>{n}</td><td>{_fmt(a)}</td><td>{_fmt(r)}</td><td>{_fmt(w)}</td></tr>"
                  for t, n, a, r, w in tag_rows]
        parts.append("</table>")
        if comparison:
            for name, items in (("Worse than the baseline", comparison.worse), ("Better than the baseline", comparison.better)):
                parts.append(f"<h2>{name} ({len(items)})</h2><table><tr><th>case</th><th>before</th><th>now</th></tr>")
                parts += [f"<tr><td><b>{esc(i['id'])}</b><br>{esc(i['question'])}</td><td>{esc(i['before'])}</td>"
                          f"<td>{esc(i['after'])}</td></tr>" for i in items]
                parts.append("</table>")
        parts.append(f"<h2>Failing cases ({len(failures)})</h2><table><tr><th>case</th><th>why</th><th>answer</th>"
                     "<th>cited</th></tr>")
        parts += [f"<tr><td><b>{esc(c.id)}</b><br>{esc(c.question)}</td><td>{esc(c.why)}</td><td>{esc(c.answer)}</td>"
                  f"<td>{esc(_cited(c))}</td></tr>" for c in failures]
        parts.append("</table>")
        path.write_text("\n".join(parts), encoding="utf-8")
        return path
    md = [f"# {title}", "", f"{m['passed']} of {counted(m['cases'], 'case')} passed.", "", "| metric | value |", "|---|---|"]
    md += [f"| {label} | {_fmt(v)} |" for label, v in rows]
    md += ["", "## By tag", "", f"![accuracy by tag]({chart.name})", "",
           "| tag | cases | accuracy | refusal recall | median words |", "|---|---|---|---|---|"]
    md += [f"| {t} | {n} | {_fmt(a)} | {_fmt(r)} | {_fmt(w)} |" for t, n, a, r, w in tag_rows]
    if comparison:
        for name, items in (("Worse than the baseline", comparison.worse), ("Better than the baseline", comparison.better)):
            md += ["", f"## {name} ({len(items)})", "", "| case | before | now |", "|---|---|---|"]
            md += [f"| **{i['id']}** {_cell(i['question'])} | {_cell(i['before'])} | {_cell(i['after'])} |" for i in items]
    md += ["", f"## Failing cases ({len(failures)})", "", "| case | why | answer | cited |", "|---|---|---|---|"]
    md += [f"| **{c.id}** {_cell(c.question)} | {_cell(c.why)} | {_cell(c.answer)} | {_cell(_cited(c))} |"
           for c in failures]
    path.write_text("\n".join(md) + "\n", encoding="utf-8")
    return path


def write_comparison_report(side: SideBySide, path: str | Path, title: str = "Two settings side by side",
                            chart: Path | None = None) -> Path:
    """The same cases under two settings (``evaluation.evaluate_side_by_side``) as a Markdown or HTML report:
    the metrics of each, accuracy by tag as bars side by side (a PNG beside it) and every case's two answers,
    the cases where they differ first."""
    path = Path(path)
    a_label, b_label = side.labels
    chart = chart or plot_by_tag(side.a, path.with_suffix(".png"), side.b, side.labels)
    rows = [(label, side.a.metrics.get(key), side.b.metrics.get(key)) for key, label in _labels(side.a.metrics)
            if key in side.a.metrics]
    pairs, differ = side.pairs(), len(side.differ())
    lead = f"{counted(len(pairs), 'case')}; the answers differ in {differ}."
    if path.suffix.lower() in (".html", ".htm"):
        esc = html.escape
        img = base64.b64encode(chart.read_bytes()).decode()
        parts = [f"<!doctype html><meta charset='utf-8'><title>{esc(title)}</title>", _STYLE,
                 f"<h1>{esc(title)}</h1><p>A: <b>{esc(a_label)}</b> · B: <b>{esc(b_label)}</b></p><p>{esc(lead)}</p>",
                 "<table><tr><th>metric</th><th>A</th><th>B</th></tr>"]
        parts += [f"<tr><th>{esc(label)}</th><td>{_fmt(a)}</td><td>{_fmt(b)}</td></tr>" for label, a, b in rows]
        parts.append(f"</table><h2>By tag</h2><img alt='accuracy by tag, A beside B' src='data:image/png;base64,{img}'>"
                     f"<h2>Cases, where they differ first</h2><table><tr><th>case</th><th>A: {esc(a_label)}</th>"
                     f"<th>B: {esc(b_label)}</th></tr>")
        parts += [f"<tr><td><b>{esc(a.id)}</b><br>{esc(a.question)}</td><td>{_verdict(a)} {esc(a.answer)}</td>"
                  f"<td>{_verdict(b)} {esc(b.answer)}</td></tr>" for a, b in pairs]
        parts.append("</table>")
        path.write_text("\n".join(parts), encoding="utf-8")
        return path
    md = [f"# {title}", "", f"A: **{a_label}** · B: **{b_label}**", "", lead, "", "| metric | A | B |", "|---|---|---|"]
    md += [f"| {label} | {_fmt(a)} | {_fmt(b)} |" for label, a, b in rows]
    md += ["", "## By tag", "", f"![accuracy by tag, A beside B]({chart.name})", "",
           "## Cases, where they differ first", "", f"| case | A: {_cell(a_label)} | B: {_cell(b_label)} |", "|---|---|---|"]
    md += [f"| **{a.id}** {_cell(a.question)} | {_verdict(a)} {_cell(a.answer)} | {_verdict(b)} {_cell(b.answer)} |"
           for a, b in pairs]
    path.write_text("\n".join(md) + "\n", encoding="utf-8")
    return path


_STYLE = ("<style>body{font-family:sans-serif;max-width:70em;margin:2em auto}td,th{border:1px solid #ccc;"
          "padding:.3em .6em;vertical-align:top}table{border-collapse:collapse}</style>")


def _labels(m: dict[str, Any]) -> list[tuple[str, str]]:
    """The metrics' labels, retrieval hit@k named for the run's k."""
    hit_key = next((key for key in m if key.startswith("hit@")), "hit@5")
    return [(hit_key, f"retrieval {hit_key}") if key == "hit@5" else (key, label) for key, label in METRIC_LABELS]


def _verdict(case: Any) -> str:
    return "✓" if case.passed else "✗"


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _cited(case: Any) -> str:
    """Each cited document with where in it the quote sits: 'report.pdf p. 3; deck.pptx slide 2'."""
    wheres = getattr(case, "locations", None) or [""] * len(case.cited)
    return "; ".join(f"{doc} {where}".strip() for doc, where in zip(case.cited, wheres))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
