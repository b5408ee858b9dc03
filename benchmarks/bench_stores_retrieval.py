"""XQuAD and SciFact through each store, with the real model: same documents, every question searched,
the figures and the rankings compared question by question with the folder store's.

    python benchmarks/bench_stores_retrieval.py                          # folder, postgres, milvus; both sets
    python benchmarks/bench_stores_retrieval.py --backends milvus --sets xquad --out milvus.json
    python benchmarks/bench_stores_retrieval.py --backends postgres-tsrank   # the lexical side by ts_rank instead
    python benchmarks/bench_stores_retrieval.py --backends folder,milvus --sets scifact --sample 60  # a slow store

The public sets come from ../shared/benchmarks or $ASSISTANT_BENCHMARK_DATA. PostgreSQL with pgvector is
started by pgserver, Milvus Lite runs from a file, both in temporary folders. Prints one line per set and
store (build time, passages, hit@1 / hit@5 / MRR@10 / nDCG@10) and, per set, how many top-10 rankings are
identical to the folder store's and the largest score difference. ``--out`` keeps the rankings as JSON, so
stores run at different times can be compared (``--compare earlier.json``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_data  # noqa: E402
from bench_retrieval import K, AssistantSystem, ranking_metrics  # noqa: E402

from assistant.embeddings import load_embedder  # noqa: E402


class TsRank:
    """The lexical side by PostgreSQL's own full-text ranking instead of BM25 from the postings tables (the
    ``postgres-tsrank`` row): ``ts_rank`` of the English configuration's ``to_tsvector`` against the question's
    lexemes OR-ed; the rerank's and answerers' word weights stay BM25's. Measured to choose, not shipped."""

    RANK = ("SELECT passage_id, ts_rank(to_tsvector('english', text), q) AS r FROM assistant.passages, "
            "(SELECT replace(plainto_tsquery('english', %(query)s)::text, '&', '|')::tsquery AS q) x "
            "WHERE to_tsvector('english', text) @@ q")

    def __init__(self, lexical, store):
        self.bm25, self.store = lexical, store

    def __getattr__(self, name):  # weight, doc_freq, idf: BM25's
        return getattr(self.bm25, name)

    def scores(self, query: str) -> dict:
        return {"query": query, "found": {}}

    def search_scores(self, scores: dict, k: int) -> list:
        rows = self.store.query(self.RANK + " ORDER BY r DESC, passage_id LIMIT %(k)s", {"query": scores["query"], "k": k})
        scores["found"].update((pid, float(r)) for pid, r in rows)
        return [(pid, float(r)) for pid, r in rows]

    def scores_of(self, scores: dict, ids: list) -> list:
        missing = [p for p in ids if p not in scores["found"]]
        if missing:
            rows = self.store.query(self.RANK + " AND passage_id = ANY(%(ids)s)", {"query": scores["query"], "ids": missing})
            scores["found"].update((pid, float(r)) for pid, r in rows)
        return [scores["found"].get(p, 0.0) for p in ids]


def cache_embeddings(embedder, folder: Path) -> None:
    """Keep the model's passage-and-sentence embeddings (``encode_spans``) on disk by their exact input, so
    a run that builds another store over the same set embeds nothing again (the model's own numbers)."""
    import hashlib

    import numpy as np

    encode = embedder.encode_spans
    folder.mkdir(parents=True, exist_ok=True)

    def cached(texts, spans):
        key = hashlib.sha256(json.dumps([texts, spans]).encode()).hexdigest()
        path = folder / f"{key}.npz"
        if path.exists():
            with np.load(path) as data:
                return data["vectors"], [data[f"p{i}"] for i in range(len(texts))]
        vectors, parts = encode(texts, spans)
        np.savez(path, vectors=vectors, **{f"p{i}": p for i, p in enumerate(parts)})
        return vectors, parts

    object.__setattr__(embedder, "encode_spans", cached)


def store_uri(backend: str, work: Path, servers: list) -> dict:
    """Settings that put the index in ``backend``."""
    if backend == "folder":
        return {}
    if backend in ("postgres", "postgres-tsrank"):
        import pgserver

        pgdata = Path(tempfile.mkdtemp(prefix="bench-pg-"))
        server = pgserver.get_server(pgdata, cleanup_mode="stop")
        servers.append((server, pgdata))
        return {"store": server.get_uri()}
    if backend == "milvus":
        return {"store": f"milvus://{work / 'milvus.db'}"}
    raise SystemExit(f"unknown backend {backend}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backends", default="folder,postgres,milvus")
    parser.add_argument("--sets", default="xquad,scifact")
    parser.add_argument("--out", help="write the figures and rankings here (JSON)")
    parser.add_argument("--embedding-cache", help="a folder keeping the embeddings between runs and stores")
    parser.add_argument("--compare", help="rankings of an earlier run (--out) to compare with, e.g. the folder's")
    parser.add_argument("--sample", type=int, default=0,
                        help="this many questions per set, drawn at random (seed 0; every document kept)")
    args = parser.parse_args()
    if args.sample and args.compare:
        raise SystemExit("--sample compares stores within one run: name the folder in --backends, not --compare")
    embedder = load_embedder("all-MiniLM-L6-v2", 32)
    if args.embedding_cache:
        cache_embeddings(embedder, Path(args.embedding_cache))
    earlier = json.loads(Path(args.compare).read_text()) if args.compare else {}
    out: dict = {}
    for set_name in args.sets.split(","):
        data = bench_data.xquad() if set_name == "xquad" else bench_data.scifact()
        if args.sample:
            data = data.sample(args.sample)
        out[set_name] = {}
        for backend in args.backends.split(","):
            work = Path(tempfile.mkdtemp(prefix=f"bench-stores-{backend}-"))
            servers: list = []
            try:
                t = time.perf_counter()
                system = AssistantSystem(data, work, embedder, **store_uri(backend, work, servers))
                build = time.perf_counter() - t
                if backend == "postgres-tsrank":
                    retriever = system.bot.retriever
                    retriever.lexical_index = TsRank(retriever.lexical_index, system.bot.store)
                ranks, ids, times = [], [], []
                for q in data.questions:
                    t = time.perf_counter()
                    passages = system.bot.search(q.text, top_k=K)
                    times.append(1000 * (time.perf_counter() - t))
                    ids.append([(p.id, p.score) for p in passages])
                    ranks.append(system.documents([p.id for p in passages]))
                times.sort()
                figures = {"build_s": round(build, 1), "passages": system.passages,
                           "search_p50_ms": round(times[len(times) // 2], 1), **ranking_metrics(ranks, data.questions)}
                out[set_name][backend] = {"figures": figures, "rankings": ids}
                print(set_name, backend, json.dumps(figures), flush=True)
            finally:
                for server, pgdata in servers:
                    server.cleanup()
                    shutil.rmtree(pgdata, ignore_errors=True)
                shutil.rmtree(work, ignore_errors=True)
        reference = out[set_name].get("folder") or earlier.get(set_name, {}).get("folder")
        for backend, result in out[set_name].items():
            if backend == "folder" or reference is None:
                continue
            a, b = reference["rankings"], result["rankings"]
            same = sum([x for x, _ in r1] == [x for x, _ in r2] for r1, r2 in zip(a, b))
            diff = max((abs(s1 - s2) for r1, r2 in zip(a, b) for (x1, s1), (x2, s2) in zip(r1, r2) if x1 == x2),
                       default=0.0)
            deltas = {m: round(result["figures"][m] - reference["figures"][m], 4)
                      for m in ("hit@1", "hit@5", "MRR@10", "nDCG@10")}
            print(set_name, backend, "vs folder", json.dumps({"questions": len(a), "identical_top10_order": same,
                                                               "max_score_diff": round(diff, 6), **deltas}), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(out), encoding="utf-8")


if __name__ == "__main__":
    main()
