"""Follow-up rewriting: does the rule-based stand-alone query beat the obvious alternatives?

    .venv/bin/python benchmarks/bench_followups.py                # tests/gold/seed.yaml, seeds/
    .venv/bin/python benchmarks/bench_followups.py --json /tmp/followups.json  # --gold FILE --docs DIR --threads N
    .venv/bin/python benchmarks/bench_followups.py --smoke     # a few cases of each part: checks it runs

In extractive mode a follow-up ("Who was his counterpart?") is turned into a retrieval query by a
rewrite function ``(question, previous_questions) -> query``. Four strategies are compared, each passed
to ``Assistant.ask(question, history, rewrite=strategy)`` for every turn of a conversation:

* ``none``      the question alone;
* ``rules``     the default, ``questions.standalone_query`` (join the last two turns only when the
                question looks like a follow-up: a pronoun, a leading "and", under two content words);
* ``always``    always join the last two previous questions;
* ``previous``  always join the last previous question only.

``Assistant.ask`` passes the earlier turns to the answerer as context only when the query differs
from the question, so a strategy decides both the query and that context; both are kept as they are.

Each strategy runs over (a) the gold cases tagged ``multiturn`` (only the last turn is scored),
(b) hand-written topic switches below (a second question that is self-contained and about another part
of the article: the cost of joining when nothing should be joined), and (c) every gold case (single-turn
cases have no history, so they cannot differ; shown to confirm no harm). Reported: accuracy (the gold
set's ``passed``), document hit@5 from ``evaluation.metrics`` (always 1.0 with a one-document folder),
answer-passage hit@1 / MRR (rank of the first retrieved passage holding the expected text: passage
level, so it could move with one document, though the seed article is only 3 passages, all retrieved)
and how many scored turns were rewritten (query != question). Per-case queries, answers and the
answerer's confidence go to ``--json``. ``--smoke`` scores only the first few cases of each part
(seconds; tests/test_benchmarks.py runs it): its numbers mean nothing.

Everything is built in a temporary index directory; the project's ``index/`` is never touched. The
topic-switch expectations are checked against the indexed article text before anything is scored.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from assistant import Answer, Assistant, Settings  # noqa: E402
from assistant.evaluation import CaseResult, GoldCase, contains, load_gold, metrics, score_case  # noqa: E402
from assistant.questions import standalone_query  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SOURCE = "india-russia-2plus2-ak203-summit.txt"
SMOKE_CASES = 3  # --smoke: cases of each part (multiturn, topic switches, all)

STRATEGIES = {
    "none": lambda question, previous: question,
    "rules": standalone_query,
    "always": lambda question, previous: " ".join([*previous[-2:], question]),
    "previous": lambda question, previous: " ".join([*previous[-1:], question]),
}

# (first question, second question, expected text in the answer to the second). Each second question
# stands alone and is about a different part of the article than the first. The last two hold words the
# rules read as follow-up cues ("they", "counterpart") on purpose: there the rules join too.
TOPIC_SWITCHES = [
    ("How many AK-203 rifles will India procure?", "Where did Modi and Putin meet in November 2019?", "Brasilia"),
    ("Who is India's External Affairs Minister?", "Why was the annual summit not held in 2020?", "Covid-19"),
    ("Why was the annual summit not held in 2020?", "How many AK-203 rifles will India procure?", "6,01,427"),
    ("Who did Rajnath Singh meet in Delhi?", "Which city did Modi visit in September 2019?", "Vladivostok"),
    ("What did Jaishankar say the meeting would address?",
     "On what date was the Kalashnikov small arms manufacturing agreement signed?", "February 18, 2019"),
    ("Where did Modi go for the previous annual summit?", "Who is Russia's Foreign Minister?", "Lavrov"),
    ("How many AK-203 rifles will India procure?",
     "What did Jaishankar and Lavrov do when they met in New Delhi?", "bump elbows"),
    ("Why was the annual summit not held in 2020?", "Who was Rajnath Singh's Russian counterpart?", "Shoigu"),
]


def topic_switch_cases() -> list[GoldCase]:
    return [GoldCase(id=f"switch-{i}", turns=(first, second), expect_any=(expected,), sources=(SOURCE,),
                     tags=("topic-switch",))
            for i, (first, second, expected) in enumerate(TOPIC_SWITCHES, start=1)]


def check_expectations(bot: Assistant, cases: list[GoldCase]) -> None:
    """A topic switch whose expected text is not in the documents would measure nothing."""
    text = " ".join(bot.document_text(d.doc_id) for d in bot.documents)
    missing = [(c.id, e) for c in cases for e in c.expect_any if not contains(text, e)]
    if missing:
        raise SystemExit(f"topic-switch expectations not found in the documents: {missing}")


def answer_rank(case: GoldCase, passages) -> int | None:
    """1-based rank of the first retrieved passage holding the expected answer (None: none does)."""
    for i, p in enumerate(passages, start=1):
        if ((not case.expect_any or any(contains(p.text, e) for e in case.expect_any))
                and all(contains(p.text, e) for e in case.expect_all)):
            return i
    return None


def ask_case(bot: Assistant, case: GoldCase, rewrite) -> tuple[Answer, float]:
    """Every turn of the case in one conversation, each made stand-alone by ``rewrite``; returns the
    last turn's answer and its latency (what ``evaluation.run_case`` does with the default rewriting)."""
    history: list[str] = []
    for turn in case.turns[:-1]:
        history.append(bot.ask(turn, history, rewrite=rewrite).question)
    started = time.perf_counter()
    answer = bot.ask(case.turns[-1], history, rewrite=rewrite)
    return answer, time.perf_counter() - started


def run(bot: Assistant, cases: list[GoldCase], rewrite) -> list[dict]:
    rows = []
    for case in cases:
        answer, latency = ask_case(bot, case, rewrite)
        result = score_case(case, answer, latency)
        rows.append({**asdict(result), "query": answer.query, "rewritten": answer.query != answer.question,
                     "confidence": round(answer.confidence, 4),
                     "answer_rank": None if case.refuse else answer_rank(case, answer.passages)})
    return rows


def summary(rows: list[dict], k: int) -> dict:
    """The gold set's own metrics plus answer-passage hit@1/MRR and the rewritten count."""
    fields = set(CaseResult.__dataclass_fields__)
    m = metrics([CaseResult(**{f: v for f, v in r.items() if f in fields}) for r in rows], k=k)
    ranked = [r["answer_rank"] for r in rows if not r["expected_refusal"]]
    return {
        "cases": m["cases"], "passed": m["passed"], "accuracy": m["accuracy"], f"hit@{k}": m[f"hit@{k}"],
        "answer_hit@1": round(sum(r == 1 for r in ranked) / len(ranked), 4) if ranked else None,
        "answer_mrr": round(sum(1 / r for r in ranked if r) / len(ranked), 4) if ranked else None,
        "rewritten": sum(r["rewritten"] for r in rows),
    }


def share(s: dict) -> str:
    return f"{s['accuracy']:.3f} ({s['passed']}/{s['cases']})"


def code_version() -> str:
    """The commit, marked dirty when assistant/ has uncommitted changes (they change the numbers)."""
    def git(*cmd: str) -> str:
        return subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    dirty = " (assistant/ modified)" if git("status", "--porcelain", "assistant") else ""
    return git("rev-parse", "--short", "HEAD") + dirty


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gold", default=str(ROOT / "tests/gold/seed.yaml"))
    parser.add_argument("--docs", default=str(ROOT / "seeds"))
    parser.add_argument("--json", help="also write the summaries and every case to this file")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--smoke", action="store_true",
                        help=f"only the first {SMOKE_CASES} cases of each part: checks that it runs (the tests)")
    args = parser.parse_args()
    import torch

    # Beside another busy process, torch's 2 threads on 2 cores ran this ~30x slower; answers are the same.
    torch.set_num_threads(args.threads)

    started = time.perf_counter()
    gold = load_gold(args.gold)
    multiturn = [c for c in gold if "multiturn" in c.tags]
    switches = topic_switch_cases()
    if args.smoke:
        gold, multiturn, switches = gold[:SMOKE_CASES], multiturn[:SMOKE_CASES], switches[:SMOKE_CASES]
    with tempfile.TemporaryDirectory(prefix="bench_followups_") as index_dir:
        # Plain defaults (no assistant.toml, no ASSISTANT_* env) so runs are comparable.
        bot = Assistant.from_folder(args.docs, index_dir=index_dir, settings=Settings(show_progress=False))
        build_s = time.perf_counter() - started
        check_expectations(bot, switches)
        k = bot.settings.top_k
        results: dict[str, dict] = {}
        for name, strategy in STRATEGIES.items():
            rows = {part: run(bot, cases, strategy)
                    for part, cases in (("multiturn", multiturn), ("topic_switch", switches), ("all", gold))}
            results[name] = {"summary": {part: summary(r, k) for part, r in rows.items()}, "cases": rows}
    total_s = time.perf_counter() - started

    hit = f"hit@{k}"
    print(f"# Follow-up rewriting ({len(multiturn)} multiturn, {len(switches)} topic switches, "
          f"{len(gold)} gold cases{', smoke run' if args.smoke else ''})\n")
    print(f"| strategy | multiturn accuracy | multiturn {hit} | multiturn answer hit@1 / MRR | "
          "topic-switch accuracy | all-cases accuracy | rewritten (multiturn / switch / all) |")
    print("|---|---|---|---|---|---|---|")
    for name, res in results.items():
        mt, ts, al = (res["summary"][p] for p in ("multiturn", "topic_switch", "all"))
        print(f"| {name} | {share(mt)} | {mt[hit]:.3f} | {mt['answer_hit@1']:.3f} / {mt['answer_mrr']:.3f} | "
              f"{share(ts)} | {share(al)} | {mt['rewritten']} / {ts['rewritten']} / {al['rewritten']} |")

    # Case by case, so a change in accuracy can be traced to the questions behind it.
    print("\n| case | " + " | ".join(results) + " |\n|---|" + "---|" * len(results))
    for part in ("multiturn", "topic_switch"):
        for i, case in enumerate(results["rules"]["cases"][part]):
            marks = []
            for res in results.values():
                row = res["cases"][part][i]
                marks.append(("pass" if row["passed"] else "FAIL") + (" (joined)" if row["rewritten"] else ""))
            print(f"| {case['id']} | " + " | ".join(marks) + " |")
    print(f"\ncode {code_version()}; index build {build_s:.1f} s, total {total_s:.1f} s")

    if args.json:
        data = {"gold": args.gold, "docs": args.docs, "smoke": args.smoke, "code": code_version(), "top_k": k,
                "build_s": round(build_s, 2), "total_s": round(total_s, 2), "strategies": results}
        Path(args.json).write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
