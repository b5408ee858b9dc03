"""Calibrate the extractive answerer's refusal threshold on a gold set.

Runs every case once with refusals off (threshold 0), keeps each answer's confidence and whether the
answer was right, then sweeps the threshold: a case is refused when its confidence is under it, or
when it was refused even at 0 (a name the documents never mention, nothing of the asked kind). Prints
accuracy, refusal precision and recall per threshold and the threshold with the best accuracy (ties go
to the higher threshold: refusing beats citing something loosely related).

    python benchmarks/calibrate_refusal.py tests/gold/seed.yaml --docs seeds
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile

from assistant import Assistant, Settings
from assistant.evaluation import load_gold, run_case, score_case


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gold")
    parser.add_argument("--docs", default="seeds")
    parser.add_argument("--json", help="write the sweep here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as index_dir:
        bot = Assistant.from_folder(args.docs, index_dir=index_dir,
                                    settings=Settings(show_progress=False, refusal_threshold=0.0))
        rows = []
        for case in load_gold(args.gold):
            answer, _ = run_case(bot, case)
            result = score_case(case, answer)
            rows.append({"id": case.id, "confidence": answer.confidence, "unanswerable": case.refuse,
                         "right_if_answered": (not case.refuse) and result.passed, "refused": answer.refused,
                         "kind": answer.kind})
    sweep = []
    for step in range(20, 81):
        t = step / 100
        refused = [r for r in rows if r["refused"] or r["confidence"] < t]
        answered = [r for r in rows if not (r["refused"] or r["confidence"] < t)]
        correct = sum(r["unanswerable"] for r in refused) + sum(r["right_if_answered"] for r in answered)
        unanswerable = sum(r["unanswerable"] for r in rows)
        sweep.append({
            "threshold": t,
            "accuracy": round(correct / len(rows), 4),
            "refusal_precision": round(sum(r["unanswerable"] for r in refused) / len(refused), 4) if refused else None,
            "refusal_recall": round(sum(r["unanswerable"] for r in refused) / unanswerable, 4) if unanswerable else None,
        })
    best = max(sweep, key=lambda s: (s["accuracy"], s["threshold"]))
    print(f"{'threshold':>9} {'accuracy':>8} {'ref.prec':>8} {'ref.rec':>8}")
    for s in sweep:
        mark = "  <- best" if s is best else ""
        print(f"{s['threshold']:>9.2f} {s['accuracy']:>8.3f} {s['refusal_precision'] or 0:>8.3f} "
              f"{s['refusal_recall'] or 0:>8.3f}{mark}")
    print(f"\nbest threshold on {args.gold}: {best['threshold']:.2f} (accuracy {best['accuracy']:.3f}, "
          f"{len(rows)} cases)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"cases": rows, "sweep": sweep, "best": best}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
