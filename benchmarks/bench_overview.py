"""Overviews of long documents, on Wikipedia articles nobody here wrote (issue 24, item 6).

Each article (all its paragraphs, 12k to 60k characters) is indexed alone and asked "Summarize the
article" (and, with ``--question``, anything else) through the public API. Measured per article:

* lead first: the overview opens with the article's first sentence (Wikipedia's lead states the
  thesis by convention);
* coverage: the share of the article's five equal fifths the overview quotes from;
* sentences quoted.

Two samples of SQuAD 1.1's training articles (from ``../shared/training`` or ``$ASSISTANT_TRAINING_DATA``;
overviews use no trained model): ``tuning`` (random seed 7, the one the thesis constants were chosen
on) and ``held-out`` (seed 11, measured once), plus the SQuAD 2.0 slice's two articles (Normans, Rhine).

    .venv/bin/python benchmarks/bench_overview.py                  # 25 + 25 + 2 articles, about 10 minutes
    .venv/bin/python benchmarks/bench_overview.py --articles 3     # a smoke run
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_data import squad2  # noqa: E402

from assistant import Assistant, Settings  # noqa: E402

TRAINING = Path(os.environ.get("ASSISTANT_TRAINING_DATA") or Path(__file__).resolve().parents[2] / "shared" / "training")
LENGTHS = (12_000, 60_000)  # characters: long documents only


def wikipedia_sample(seed: int, n: int) -> list[tuple[str, str]]:
    """``n`` long SQuAD 1.1 training articles drawn with ``seed``: (title, text)."""
    path = TRAINING / "squad1.1-train.json.gz"
    if not path.is_file():
        raise SystemExit(f"no {path}: set ASSISTANT_TRAINING_DATA to the folder holding squad1.1-train.json.gz")
    articles = json.load(gzip.open(path))["data"]
    drawn = random.Random(seed).sample(articles, 60)
    texts = [(a["title"].replace("_", " "), "\n\n".join(p["context"] for p in a["paragraphs"])) for a in drawn]
    return [t for t in texts if LENGTHS[0] < len(t[1]) < LENGTHS[1]][:n]


def slice_articles() -> list[tuple[str, str]]:
    """The SQuAD 2.0 slice's articles, each whole (its paragraphs are the dataset's documents)."""
    data = squad2()
    by_title: dict[str, list[str]] = {}
    for title, text in data.documents.values():
        by_title.setdefault(title.split(" (")[0], []).append(text)
    return [(title, "\n\n".join(parts)) for title, parts in by_title.items()]


def measure(articles: list[tuple[str, str]], question: str, log) -> dict:
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for k, (title, text) in enumerate(articles):
            folder = Path(work) / f"a{k}"
            folder.mkdir()
            (folder / f"{title.replace('/', '-')}.txt").write_text(text)
            bot = Assistant.from_folder(folder, index_dir=Path(work) / f"i{k}", settings=Settings(show_progress=False))
            answer = bot.ask(question)
            first = text.lstrip()[:60]
            starts = [c.start for c in answer.citations]
            lead_first = bool(answer.citations) and answer.citations[0].quote.startswith(first[:40])
            fifths = sorted({min(4, 5 * s // len(text)) for s in starts})
            rows.append({"title": title, "lead_first": lead_first, "fifths": fifths, "sentences": len(starts),
                         "refused": answer.refused})
            log(f"  {title[:32]:32} lead first {lead_first!s:5} fifths {fifths} sentences {len(starts)}")
    n = max(len(rows), 1)
    return {"articles": len(rows), "lead_first": round(sum(r["lead_first"] for r in rows) / n, 3),
            "coverage": round(sum(len(r["fifths"]) / 5 for r in rows) / n, 3),
            "sentences": round(sum(r["sentences"] for r in rows) / n, 2),
            "refused": sum(r["refused"] for r in rows)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=25, help="articles per SQuAD 1.1 sample")
    parser.add_argument("--question", default="Summarize the article")
    args = parser.parse_args(argv)
    log = lambda *parts: print(*parts, file=sys.stderr, flush=True)  # noqa: E731
    results = {}
    for name, articles in (("tuning", wikipedia_sample(7, args.articles)),
                           ("held-out", wikipedia_sample(11, args.articles)),
                           ("squad2 slice", slice_articles())):
        log(f"{name}: {len(articles)} articles")
        results[name] = measure(articles, args.question, log)
    print(f"question: {args.question}")
    print("| sample | articles | lead first | coverage (fifths) | sentences | refused |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {r['articles']} | {r['lead_first']:.3f} | {r['coverage']:.3f} | {r['sentences']:.2f} | "
              f"{r['refused']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
