"""The refusal trade-off on the SQuAD 2.0 slice: accuracy on answerable questions against refusal recall on
unanswerable ones, as the refusal threshold moves; with ``--before`` an earlier run's curve is drawn
beside this one's in the same PNG.

Every question is asked once with the threshold at 0 (``Assistant.ask``, the public API). A question is
refused at threshold t when its answer's confidence is under t, or when it was refused even at 0 (a name
the documents never mention, nothing of the asked kind: refusals that do not depend on the threshold).
List, time and overview answers are gathered, not gated, so their confidence is held against 0.6 t
and overviews against nothing, as the answerer does.

    .venv/bin/python benchmarks/refusal_tradeoff.py --rows /tmp/after.json --before /tmp/before.json \
        --plot benchmarks/refusal_tradeoff.png
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_data import squad2, write_folder  # noqa: E402

from assistant import Assistant, Settings  # noqa: E402
from assistant.evaluation import contains  # noqa: E402

GATHERED = {"list": 0.6, "time": 0.6, "overview": 0.0}  # share of the threshold these kinds are held to
THRESHOLDS = np.round(np.arange(0.30, 0.801, 0.01), 2).tolist()


def ask_all(limit: int | None = None) -> list[dict]:
    dataset = squad2()
    questions = dataset.questions[:limit] if limit else dataset.questions
    with tempfile.TemporaryDirectory() as work:
        write_folder(dataset, Path(work) / "docs")
        bot = Assistant.from_folder(Path(work) / "docs", index_dir=Path(work) / "index",
                                    settings=Settings(show_progress=False, refusal_threshold=0.0))
        rows = []
        for q in questions:
            answer = bot.ask(q.text)
            rows.append({"answerable": bool(q.relevant), "confidence": answer.confidence,
                         "refused": answer.refused, "kind": getattr(answer, "kind", "fact"),
                         "right": bool(q.relevant) and not answer.refused
                         and any(contains(answer.text, gold) for gold in q.answers)})
    return rows


def curve(rows: list[dict]) -> list[dict]:
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    out = []
    for t in THRESHOLDS:
        def refused(r: dict) -> bool:
            return r["refused"] or r["confidence"] < GATHERED.get(r.get("kind", "fact"), 1.0) * t
        out.append({"threshold": t,
                    "answerable_accuracy": round(sum(r["right"] and not refused(r) for r in answerable) / len(answerable), 3),
                    "refusal_recall": round(sum(refused(r) for r in unanswerable) / len(unanswerable), 3)})
    return out


def plot(curves: dict[str, list[dict]], defaults: dict[str, float], path: Path, n: tuple[int, int],
         title: str = "SQuAD 2.0 slice: refusing vs answering (ringed: the default)") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=110)
    for (label, points), color in zip(curves.items(), ("#9aa5b1", "#3b6ea8", "#d97706")):
        ax.plot([p["refusal_recall"] for p in points], [p["answerable_accuracy"] for p in points], marker=".",
                color=color, label=label)
        for p in points[::10]:
            ax.annotate(f"{p['threshold']:.2f}", (p["refusal_recall"], p["answerable_accuracy"]), fontsize=7,
                        textcoords="offset points", xytext=(4, 4), color="#555")
        at = min(points, key=lambda p: abs(p["threshold"] - defaults[label]))
        ax.scatter([at["refusal_recall"]], [at["answerable_accuracy"]], s=70, color=color, edgecolor="#c0392b",
                   linewidth=1.5, zorder=3)
    ax.set_xlabel(f"refusal recall on unanswerable questions (n={n[1]})")
    ax.set_ylabel(f"accuracy on answerable questions (n={n[0]})")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=Path, help="save (or, with --reuse, read) this run's answers as JSON")
    parser.add_argument("--reuse", action="store_true", help="read --rows instead of asking again")
    parser.add_argument("--before", type=Path, help="an earlier run's --rows, drawn beside this one")
    parser.add_argument("--before-default", type=float, default=0.50, help="the earlier run's default threshold")
    parser.add_argument("--plot", type=Path, help="write the PNG here")
    parser.add_argument("--limit", type=int, help="only the first N questions (a smoke run)")
    args = parser.parse_args()

    rows = json.loads(args.rows.read_text()) if args.reuse else ask_all(args.limit)
    if args.rows and not args.reuse:
        args.rows.write_text(json.dumps(rows))
    default = Settings().refusal_threshold
    curves = {"now": curve(rows)}
    defaults = {"now": default}
    if args.before:
        curves = {"before": curve(json.loads(args.before.read_text())), **curves}
        defaults["before"] = args.before_default
    for label, points in curves.items():
        at = min(points, key=lambda p: abs(p["threshold"] - defaults[label]))
        print(f"{label}: at the default {defaults[label]:.2f}: answerable accuracy {at['answerable_accuracy']:.3f}, "
              f"refusal recall {at['refusal_recall']:.3f}")
        for p in points[::5]:
            print(f"  {p['threshold']:.2f}  {p['answerable_accuracy']:.3f}  {p['refusal_recall']:.3f}")
    if args.plot:
        answerable = sum(r["answerable"] for r in rows)
        plot(curves, defaults, args.plot, (answerable, len(rows) - answerable))
        print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
