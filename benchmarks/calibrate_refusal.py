"""Calibrate the extractive answerer's decision to answer or refuse, on development data only.

Every question of the development sets is answered once with refusals off (threshold 0). For the
sentence each answer rests on, the script keeps its evidence (``assistant/answering/evidence.py``:
score, names and words of the question it lacks, kinds of answer missing, opposites, another year,
peak) and whether quoting it was right. Then:

* ``--fit`` fits the logistic model that maps evidence to the chance the answer is right (each set
  weighs the same, whatever its size) and prints ``BIAS`` and ``WEIGHTS`` for ``evidence.py``;
* without it, the model in ``evidence.py`` is used as it stands;

and the threshold on that chance is swept: per set, answerable questions answered right and
unanswerable ones refused. A question refused even at 0 (a name no document mentions, nothing of the
asked kind) stays refused.

The development sets: the seed gold set, the multi-document gold set, and the SQuAD 2.0 slice from the
shared benchmarks. XQuAD, the test set for answers, is never read here.

    python benchmarks/calibrate_refusal.py            # the sweep with the weights in evidence.py
    python benchmarks/calibrate_refusal.py --fit      # refit, then the sweep with the new weights
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_data import squad2  # noqa: E402
from bench_retrieval import write_folder  # noqa: E402

from assistant import Assistant, Settings  # noqa: E402
from assistant.answering import evidence  # noqa: E402
from assistant.evaluation import contains, load_gold, score_case  # noqa: E402
from assistant.questions import Question  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
L2 = 1.0  # ridge on the weights (not the bias): keeps a feature few questions show from dominating


def answer_with_evidence(bot: Assistant, text: str, history: list[str]):
    """The extractive answer with refusals off, and the evidence of the sentence it rests on (None for
    a refusal or an overview/enumeration of whole documents, which the model does not gate)."""
    answerer = bot.answerer_for("extractive")
    question = Question.ask(text, history)
    vector = bot.retriever.embed_query(question.query)
    passages = bot.retriever.search(question, vector=vector)
    ranked = answerer.candidates(question, passages, vector)
    choice = answerer.choose(ranked, question, passages, floor=0.0)
    if not choice.chosen:
        return answerer.refusal(ranked, question, passages, missing=choice.missing), None
    best = max(choice.chosen, key=lambda c: c.confidence)
    return answerer.cited(choice.chosen, question, passages), best.evidence


def gold_rows(gold: Path, docs: Path, work: Path) -> list[dict]:
    bot = Assistant.from_folder(docs, index_dir=work / f"index-{gold.stem}", settings=Settings(show_progress=False))
    rows = []
    for case in load_gold(gold):
        answer, found = answer_with_evidence(bot, case.turns[-1], list(case.turns[:-1]))
        rows.append({"set": gold.stem, "id": case.id, "unanswerable": case.refuse,
                     "right": (not case.refuse) and score_case(case, answer).passed,
                     "refused": answer.refused, "features": found and list(found.vector())})
    return rows


def squad_rows(work: Path) -> list[dict]:
    data = squad2()
    write_folder(data, work / "squad" / "docs")
    bot = Assistant.from_folder(work / "squad" / "docs", index_dir=work / "squad" / "index",
                                settings=Settings(show_progress=False))
    rows = []
    for q in data.questions:
        answer, found = answer_with_evidence(bot, q.text, [])
        rows.append({"set": "squad2", "id": q.id, "unanswerable": not q.relevant,
                     "right": bool(q.relevant) and not answer.refused and any(contains(answer.text, g) for g in q.answers),
                     "refused": answer.refused, "features": found and list(found.vector())})
    return rows


def fit(rows: list[dict]) -> tuple[float, tuple[float, ...]]:
    """Logistic regression (Newton steps, ridge ``L2``), each set weighing the same."""
    used = [r for r in rows if r["features"] is not None]
    x = np.array([r["features"] for r in used], dtype=float)
    y = np.array([float(r["right"]) for r in used])
    sets = sorted({r["set"] for r in used})
    size = {s: sum(r["set"] == s for r in used) for s in sets}
    weight = np.array([len(used) / (len(sets) * size[r["set"]]) for r in used])
    x1 = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(x1.shape[1])
    ridge = L2 * np.diag(np.r_[0.0, np.ones(x.shape[1])])
    for _ in range(100):
        p = 1 / (1 + np.exp(-x1 @ w))
        gradient = x1.T @ (weight * (p - y)) + ridge @ w
        hessian = (x1 * (weight * p * (1 - p))[:, None]).T @ x1 + ridge
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return float(w[0]), tuple(float(v) for v in w[1:])


def probability(features, bias: float, weights) -> float:
    z = bias + sum(w * x for w, x in zip(weights, features))
    return 1 / (1 + np.exp(-z))


def sweep(rows: list[dict], bias: float, weights) -> list[dict]:
    out = []
    for step in range(5, 96, 5):
        t = step / 100
        point = {"threshold": t}
        for name in sorted({r["set"] for r in rows}):
            mine = [r for r in rows if r["set"] == name]
            refused = [r["refused"] or (r["features"] is not None and probability(r["features"], bias, weights) < t)
                       for r in mine]
            answerable = [r for r, no in zip(mine, refused) if not r["unanswerable"]]
            right = sum(r["right"] and not no for r, no in zip(mine, refused) if not r["unanswerable"])
            caught = sum(no for r, no in zip(mine, refused) if r["unanswerable"])
            unanswerable = sum(r["unanswerable"] for r in mine)
            point[name] = {"answerable_right": round(right / max(len(answerable), 1), 3),
                           "refusal_recall": round(caught / max(unanswerable, 1), 3),
                           "accuracy": round((right + caught) / len(mine), 3)}
        out.append(point)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", action="store_true", help="refit the model and print its weights")
    parser.add_argument("--json", help="write the rows, weights and sweep here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        rows = gold_rows(ROOT / "tests/gold/seed.yaml", ROOT / "seeds", work)
        rows += gold_rows(ROOT / "tests/gold/multidoc.yaml", ROOT / "tests/gold/multidoc", work)
        rows += squad_rows(work)
    bias, weights = fit(rows) if args.fit else (evidence.BIAS, evidence.WEIGHTS)
    if args.fit:
        print(f"BIAS = {bias:.3f}")
        print(f"WEIGHTS = ({', '.join(f'{w:.3f}' for w in weights)})  # {', '.join(evidence.FEATURES)}")
    points = sweep(rows, bias, weights)
    names = sorted({r["set"] for r in rows})
    print(f"{'threshold':>9} " + " ".join(f"{n + ' right/refused':>24}" for n in names) + f" {'mean accuracy':>14}")
    for p in points:
        mean = sum(p[n]["accuracy"] for n in names) / len(names)
        print(f"{p['threshold']:>9.2f} " + " ".join(
            f"{p[n]['answerable_right']:>15.3f}/{p[n]['refusal_recall']:.3f}" for n in names) + f" {mean:>14.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"bias": bias, "weights": weights, "features": evidence.FEATURES,
                                               "sweep": points, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
