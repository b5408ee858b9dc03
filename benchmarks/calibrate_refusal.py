"""Calibrate the extractive answerer's decision to answer or refuse, on development data only.

Every question of the development sets is answered once with refusals off (threshold 0). For the
sentence each answer rests on, the script keeps its evidence (``assistant/answering/evidence.py``:
score, names and words of the question it lacks, opposites, another year) and whether quoting it was
right. Then it prints

* for each candidate rule of evidence against a sentence, how many right answers it would cost and how
  many unanswerable questions it would refuse, per set, among the answers the threshold lets through
  (the rules ``Evidence.against`` applies are those that refuse many for few);
* the threshold sweep with those rules: per set, answerable questions answered right and unanswerable
  ones refused. A question refused even at 0 (a name no document mentions, nothing of the asked kind)
  stays refused.

The development sets: the seed gold set, the multi-document gold set, and the SQuAD 2.0 slice from the
shared benchmarks. XQuAD, the test set for answers, is never read here.

    python benchmarks/calibrate_refusal.py [--json rows.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_data import squad2  # noqa: E402
from bench_retrieval import write_folder  # noqa: E402

from assistant import Assistant, Settings  # noqa: E402
from assistant.answering import evidence  # noqa: E402
from assistant.evaluation import contains, load_gold, score_case  # noqa: E402
from assistant.questions import Question  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def answer_with_evidence(bot: Assistant, text: str, history: list[str]):
    """The extractive answer with refusals off, and the evidence of the sentence it rests on (None for
    a refusal or an overview/enumeration of whole documents, which the threshold does not gate)."""
    answerer = bot.answerer_for("extractive")
    question = Question.ask(text, history)
    vector = bot.retriever.embed_query(question.query)
    passages = bot.retriever.search(question, vector=vector)
    question = question.recased([p.text for p in passages])  # as Assistant.stream reads it
    ranked = answerer.candidates(question, passages, vector)
    found = {id(c): c.evidence for c in ranked}
    for c in ranked:  # answer as if nothing spoke against any sentence; the rules are applied below
        c.evidence = None
    choice = answerer.choose(ranked, question, passages, floor=0.0)
    if not choice.chosen:
        return answerer.refusal(ranked, question, passages, missing=choice.missing), None
    best = max(choice.chosen, key=lambda c: c.score)
    return answerer.cited(choice.chosen, question, passages), found.get(id(best))


def gold_rows(gold: Path, docs: Path, work: Path) -> list[dict]:
    bot = Assistant.from_folder(docs, index_dir=work / f"index-{gold.stem}", settings=Settings(show_progress=False))
    rows = []
    for case in load_gold(gold):
        answer, found = answer_with_evidence(bot, case.turns[-1], list(case.turns[:-1]))
        rows.append({"set": gold.stem, "id": case.id, "unanswerable": case.refuse, "kind": answer.kind,
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
        rows.append({"set": "squad2", "id": q.id, "unanswerable": not q.relevant, "kind": answer.kind,
                     "right": bool(q.relevant) and not answer.refused and any(contains(answer.text, g) for g in q.answers),
                     "refused": answer.refused, "features": found and list(found.vector())})
    return rows


RULES = {  # candidate evidence against a sentence (features in evidence.FEATURES order)
    "another year (used)": lambda f: f[5] > 0,
    "an opposite (used)": lambda f: f[4] > 0,
    f"known words missing > {evidence.KNOWN_MISSING_LIMIT} (used)": lambda f: f[2] > evidence.KNOWN_MISSING_LIMIT,
    "another owner's role or parties (used)": lambda f: f[7] > 0,
    "the role asked about missing (used)": lambda f: f[6] > 0,
    "another time: the next one, what was done, when not (used)": lambda f: f[8] > 0,
    "another document's subject (used)": lambda f: f[9] > 0,
    "known words missing > 0.2": lambda f: f[2] > 0.2,
    "a name missing": lambda f: f[1] > 0,
    "unknown words missing > 0.4": lambda f: f[3] > 0.4,
}


GATED = ("fact", "yesno", "reason", "comparison")  # kinds whose sentence the evidence can refuse (lists are not)


def against(features) -> bool:
    return bool(evidence.Evidence(*features).against)


def rules_table(rows: list[dict], threshold: float) -> None:
    print(f"evidence against the sentence, among answers scored >= {threshold} (right answers lost / unanswerable refused):")
    for name in sorted({r["set"] for r in rows}):
        passed = [r for r in rows if r["set"] == name and r["features"] and not r["refused"]
                  and r["features"][0] >= threshold and r["kind"] in GATED]
        cells = []
        for rule, test in RULES.items():
            hit = [r for r in passed if test(r["features"])]
            cells.append(f"{rule}: -{sum(r['right'] for r in hit)}/+{sum(r['unanswerable'] for r in hit)}")
        print(f"  {name:9} " + "; ".join(cells))


def sweep(rows: list[dict]) -> list[dict]:
    out = []
    for step in range(30, 71, 5):
        t = step / 100
        point = {"threshold": t}
        for name in sorted({r["set"] for r in rows}):
            mine = [r for r in rows if r["set"] == name]
            refused = [r["refused"] or (r["features"] is not None and (r["features"][0] < t or (
                r["kind"] in GATED and against(r["features"])))) for r in mine]
            answerable = [r for r in mine if not r["unanswerable"]]
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
    parser.add_argument("--json", help="write the rows and the sweep here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        rows = gold_rows(ROOT / "tests/gold/seed.yaml", ROOT / "seeds", work)
        rows += gold_rows(ROOT / "tests/gold/multidoc.yaml", ROOT / "tests/gold/multidoc", work)
        rows += squad_rows(work)
    rules_table(rows, Settings().refusal_threshold)
    points = sweep(rows)
    names = sorted({r["set"] for r in rows})
    print(f"{'threshold':>9} " + " ".join(f"{n + ' right/refused':>24}" for n in names) + f" {'mean accuracy':>14}")
    for p in points:
        mean = sum(p[n]["accuracy"] for n in names) / len(names)
        print(f"{p['threshold']:>9.2f} " + " ".join(
            f"{p[n]['answerable_right']:>15.3f}/{p[n]['refusal_recall']:.3f}" for n in names) + f" {mean:>14.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"features": evidence.FEATURES, "sweep": points, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
