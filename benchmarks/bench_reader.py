"""The reading model against the hand rules, side by side on public data: the SQuAD 2.0 slice (answerable
right, unanswerable refused, and the trade-off curve as the threshold moves) and XQuAD (answers holding
the gold answer), each question asked once per way through the public API.

Each set is indexed once; every question is asked with ``refusal_threshold`` 0, once with the reader off
(the rules) and once with it on (the defaults: it ranks and vetoes as ``answering/extractive.py`` says,
and gives the short answer), so one pass gives the whole curve: at threshold t an answer whose confidence
is under t is refused, as the answerer would (refusals that do not depend on a threshold, such as a name
no document mentions, stay refused). Rows of another run can be added to the plot with ``--also``.

    .venv/bin/python benchmarks/bench_reader.py --plot benchmarks/reader_tradeoff.png --rows /tmp/reader-rows.json
    .venv/bin/python benchmarks/bench_reader.py --reuse --rows /tmp/reader-rows.json   # redraw, re-sweep
    .venv/bin/python benchmarks/bench_reader.py --limit 20                             # a smoke run
    .venv/bin/python benchmarks/bench_reader.py --speed                                # warm ask() against its floors
    .venv/bin/python benchmarks/bench_reader.py --against NEW.onnx --rows /tmp/vs.json # the bundled reader beside another

``--against`` compares two reader files on the same candidates: for every question, the sentences the
cheap score ranks first (``COMPARE_TOP``) are read by both, and each reader's choices are replayed from the
recorded probabilities: the best by probability plus cheap score among the first ``READ_TOP``, whether it
holds the gold answer and whether its short answer does (and how many of the short answers shown are
right), and, on SQuAD 2.0, how well the best probability tells answerable from unanswerable (AUC, and
answerable right against unanswerable refused as a probability floor moves).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import refusal_tradeoff  # noqa: E402  (its plot draws these curves too)
from bench_data import squad2, write_folder, xquad  # noqa: E402

from assistant import Assistant, Settings  # noqa: E402
from assistant.answering.extractive import SHORT_ANSWER_P  # noqa: E402
from assistant.evaluation import contains  # noqa: E402

WAYS = {"rules": {"reader": "off", "refusal_threshold": 0.0},
        "reader": {"reader": "bundled", "refusal_threshold": 0.0}}
GATHERED = {"list": 0.6, "time": 0.6, "overview": 0.0}  # share of the refusal threshold these kinds are held to
READ = {"fact", "reason", "yesno", "time"}  # "reader-p" rows: the kinds the reader's probability gated
THRESHOLDS = np.round(np.arange(0.0, 1.0001, 0.01), 2).tolist()


def ask_all(dataset, limit: int | None, log) -> dict[str, list[dict]]:
    questions = dataset.questions[:limit] if limit else dataset.questions
    out = {}
    with tempfile.TemporaryDirectory() as work:
        write_folder(dataset, Path(work) / "docs")
        for way, overrides in WAYS.items():
            bot = Assistant.from_folder(Path(work) / "docs", index_dir=Path(work) / "index",
                                        settings=Settings(show_progress=False, **overrides))
            started, rows = time.perf_counter(), []
            for q in questions:
                answer = bot.ask(q.text)
                rows.append({"answerable": bool(q.relevant), "confidence": answer.confidence,
                             "refused": answer.refused, "kind": answer.kind,
                             "right": bool(q.relevant) and not answer.refused
                             and any(contains(answer.text, gold) for gold in q.answers)})
            log(f"  {way}: {len(rows)} questions in {time.perf_counter() - started:.0f} s")
            out[way] = rows
    return out


COMPARE_TOP = 24


def read_both(dataset, limit: int | None, other: Path, log) -> list[dict]:
    """Per question: its kind, whether it is answerable, and the first ``COMPARE_TOP`` candidates by the cheap
    score with each reader's probability, and whether the sentence and each reader's short answer hold a
    gold answer."""
    from assistant.questions import Question
    from assistant.reader import Candidate, load_reader

    questions = dataset.questions[:limit] if limit else dataset.questions
    readers = {"bundled": load_reader("bundled"), "other": load_reader(str(other))}
    rows = []
    with tempfile.TemporaryDirectory() as work:
        write_folder(dataset, Path(work) / "docs")
        bot = Assistant.from_folder(Path(work) / "docs", index_dir=Path(work) / "index",
                                    settings=Settings(show_progress=False, reader="off"))
        answerer = bot.answerer_for("extractive")
        started = time.perf_counter()
        for q in questions:
            question = Question.ask(q.text)
            vector = bot.retriever.embed_query(q.text)
            ranked = answerer.candidates(question, bot.retriever.search(question, vector=vector), vector)[:COMPARE_TOP]
            inputs = [Candidate(c.text, *c.context) for c in ranked]
            row = {"kind": question.kind, "answerable": bool(q.relevant),
                   "score": [round(c.score, 4) for c in ranked],
                   "confidence": [round(c.confidence, 4) for c in ranked],
                   "holds": [any(contains(c.text, g) for g in q.answers) for c in ranked]}
            for name, reader in readers.items():
                readings = reader.score(q.text, inputs)
                row[name] = [round(r.p, 4) for r in readings]
                shown = [r.span is not None and r.span_p >= SHORT_ANSWER_P for r in readings]
                row[f"{name}_shown"] = shown
                row[f"{name}_short"] = [s and any(contains(c.text[r.span[0]:r.span[1]], g) for g in q.answers)
                                        for s, c, r in zip(shown, ranked, readings)]
            rows.append(row)
        log(f"  {len(rows)} questions read by both in {time.perf_counter() - started:.0f} s")
    return rows


def auc(positive: list[float], negative: list[float]) -> float | None:
    if not positive or not negative:
        return None
    values = np.array(positive + negative)
    ranks = values.argsort().argsort() + 1.0
    for v in np.unique(values):  # ties share their mean rank
        ranks[values == v] = ranks[values == v].mean()
    return round(float((ranks[:len(positive)].sum() - len(positive) * (len(positive) + 1) / 2)
                       / (len(positive) * len(negative))), 3)


def replay(rows: list[dict], name: str | None, kinds=READ) -> dict:
    """One reader's choices among the first ``READ_TOP`` candidates, replayed (``name`` None: the cheap score
    alone): the best by probability plus cheap score; over the kinds the reader decides."""
    from assistant.answering.extractive import READ_TOP

    rows = [r for r in rows if r["kind"] in kinds and r["score"]]
    picks = []
    for r in rows:
        n = min(READ_TOP, len(r["score"]))
        value = [r["score"][i] + (r[name][i] if name else 0.0) for i in range(n)]
        best = max(range(n), key=lambda i: value[i])
        picks.append((r, best, max(r[name][:n]) if name else max(r["score"][:n])))
    answerable = [(r, b, top) for r, b, top in picks if r["answerable"]]
    out = {"questions": len(rows),
           "best_holds_answer": round(sum(r["holds"][b] for r, b, _ in answerable) / max(len(answerable), 1), 3)}
    if name:
        out["short_answer_holds_it"] = round(sum(r[f"{name}_short"][b] for r, b, _ in answerable)
                                             / max(len(answerable), 1), 3)
        if all(f"{name}_shown" in r for r, _, _ in picks):  # rows of runs before the flag was kept lack it
            shown = [(r, b) for r, b, _ in answerable if r[f"{name}_shown"][b]]
            out["short_answers_shown"] = round(len(shown) / max(len(answerable), 1), 3)
            out["short_answers_right"] = round(sum(r[f"{name}_short"][b] for r, b in shown) / max(len(shown), 1), 3)
    unanswerable = [top for r, _, top in picks if not r["answerable"]]
    if unanswerable:
        out["auc_best_p"] = auc([top for _, _, top in answerable], unanswerable)
        sweep = []
        for t in THRESHOLDS:
            right = sum(r["holds"][b] and top >= t for r, b, top in answerable)
            refused = sum(top < t for top in unanswerable)
            sweep.append({"floor": t, "answerable_right": round(right / len(answerable), 3),
                          "unanswerable_refused": round(refused / len(unanswerable), 3),
                          "overall": round((right + refused) / len(picks), 3)})
        out["at_0.5"] = next(p for p in sweep if p["floor"] == 0.5) if name else None
        out["best_overall"] = max(sweep, key=lambda p: p["overall"])
    return out


def speed(questions: int = 150, rounds: int = 3) -> dict:
    """Warm ``ask()`` p50 with the reader off and on, alternated question by question in one process, and
    the floors: the query embedding alone, and the query embedding plus one reader pass over the
    candidates the reader reads."""
    from assistant.answering.extractive import READ_TOP
    from assistant.questions import Question
    from assistant.reader import Candidate

    dataset = xquad()
    texts = [q.text for q in dataset.questions][:questions]
    times: dict[str, list[float]] = {"reader off": [], "reader on": [], "query embedding": [], "floor": []}
    with tempfile.TemporaryDirectory() as work:
        write_folder(dataset, Path(work) / "docs")
        bots = {way: Assistant.from_folder(Path(work) / "docs", index_dir=Path(work) / "index",
                                           settings=Settings(show_progress=False, reader=setting))
                for way, setting in (("reader off", "off"), ("reader on", "bundled"))}
        for bot in bots.values():
            bot.warm_up()
            for text in texts[:20]:
                bot.ask(text)
        on = bots["reader on"]
        answerer = on.answerer_for("extractive")
        for _ in range(rounds):
            for text in texts:
                for way, bot in bots.items():
                    started = time.perf_counter()
                    bot.ask(text)
                    times[way].append(time.perf_counter() - started)
                started = time.perf_counter()
                vector = on.retriever.embed_query(text)
                times["query embedding"].append(time.perf_counter() - started)
                question = Question.ask(text)
                ranked = answerer.candidates(question, on.retriever.search(question, vector=vector), vector)[:READ_TOP]
                started = time.perf_counter()
                on.retriever.embed_query(text + " ")  # not the cached vector
                answerer.reader.score(text, [Candidate(c.text, *c.context) for c in ranked])
                times["floor"].append(time.perf_counter() - started)
    p50 = {way: round(1000 * float(np.median(t)), 1) for way, t in times.items()}
    return {"p50_ms": p50, "ask_over_floor": round(p50["reader on"] / p50["floor"], 2),
            "floor_over_query_embedding": round(p50["floor"] / p50["query embedding"], 2)}


def refused_at(row: dict, t: float, way: str) -> bool:
    if row["refused"]:
        return True
    if way == "reader-p":  # rows of an earlier run whose confidence was the reader's probability
        return row["kind"] in READ and row["confidence"] < t
    return row["confidence"] < GATHERED.get(row["kind"], 1.0) * t


def point(rows: list[dict], t: float, way: str) -> dict:
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    right = sum(r["right"] and not refused_at(r, t, way) for r in answerable)
    refused = sum(refused_at(r, t, way) for r in unanswerable)
    return {"threshold": t,
            "answerable_right": round(right / max(len(answerable), 1), 3),
            "unanswerable_refused": round(refused / max(len(unanswerable), 1), 3) if unanswerable else None,
            "overall": round((right + refused) / len(rows), 3)}


def default_of(way: str) -> float:
    return 0.5 if way == "reader-p" else Settings().refusal_threshold


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=Path, help="save (or, with --reuse, read) the answers as JSON")
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--plot", type=Path, help="the SQuAD 2.0 trade-off PNG")
    parser.add_argument("--limit", type=int, help="only the first N questions of each set (a smoke run)")
    parser.add_argument("--sets", default="squad2,xquad")
    parser.add_argument("--also", nargs="*", default=[], metavar="WAY=ROWS.json:SET/WAY",
                        help="curves of other runs to draw beside, e.g. reader-p=/tmp/old.json:squad2/reader")
    parser.add_argument("--speed", action="store_true", help="only the warm ask() timings (XQuAD)")
    parser.add_argument("--against", type=Path, metavar="ONNX",
                        help="replay the bundled reader beside this reader file on the same candidates")
    args = parser.parse_args(argv)
    if args.speed:
        print(json.dumps(speed()))
        return 0

    def log(*parts):
        print(*parts, flush=True)

    def gathered(ask) -> dict:
        """Each set's rows: read back from --rows with --reuse, else ``ask(dataset)`` per set, saved to --rows."""
        if args.reuse:
            return json.loads(args.rows.read_text())
        loaders = {"squad2": squad2, "xquad": xquad}
        out = {}
        for name in args.sets.split(","):
            log(f"{name}:")
            out[name] = ask(loaders[name]())
        if args.rows:
            args.rows.write_text(json.dumps(out))
        return out

    if args.against:
        read = gathered(lambda dataset: read_both(dataset, args.limit, args.against, log))
        summary = {f"{name}/{way}": replay(rows, None if way == "rules" else way)
                   for name, rows in read.items() for way in ("rules", "bundled", "other")}
        for key, value in summary.items():
            log(key, json.dumps(value))
        print(json.dumps(summary))
        return 0

    rows = gathered(lambda dataset: ask_all(dataset, args.limit, log))
    for also in args.also:
        way, _, source = also.partition("=")
        path, _, key = source.rpartition(":")
        name, _, old_way = key.partition("/")
        rows.setdefault(name, {})[way] = json.loads(Path(path).read_text())[name][old_way]
    summary = {}
    for name, ways in rows.items():
        for way, got in ways.items():
            at = point(got, default_of(way), way)
            best = max((point(got, t, way) for t in THRESHOLDS), key=lambda p: p["overall"])
            summary[f"{name}/{way}"] = {"default": at, "best_overall": best}
            log(f"{name} {way}: at the default {at}; best overall {best}")
    if "squad2" in rows:
        for way, got in rows["squad2"].items():
            log(f"squad2 {way} sweep (threshold, answerable right, unanswerable refused, overall):")
            for t in THRESHOLDS[::5]:
                p = point(got, t, way)
                log(f"  {t:.2f}  {p['answerable_right']:.3f}  {p['unanswerable_refused']:.3f}  {p['overall']:.3f}")
    if args.plot and "squad2" in rows:
        labels = {way: f"{way} (default {default_of(way):.2f})" for way in rows["squad2"]}
        curves = {labels[way]: [{"threshold": p["threshold"], "answerable_accuracy": p["answerable_right"],
                                 "refusal_recall": p["unanswerable_refused"]}
                                for p in (point(got, t, way) for t in THRESHOLDS)]
                  for way, got in rows["squad2"].items()}
        some = next(iter(rows["squad2"].values()))
        answerable = sum(r["answerable"] for r in some)
        refusal_tradeoff.plot(curves, {labels[way]: default_of(way) for way in labels},
                              args.plot, (answerable, len(some) - answerable),
                              "SQuAD 2.0 slice: the reader against the rules (ringed: the default)")
        log(f"plot: {args.plot}")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
