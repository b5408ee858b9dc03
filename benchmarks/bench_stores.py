"""The folder store and the PostgreSQL store side by side at scale: update, load, memory, disk, query.

    python benchmarks/bench_stores.py --passages 100000

Synthetic documents (one passage each, Zipf-distributed words) embedded by the tests' hashed
bag-of-words fake at 384 dimensions (MiniLM's size), so the figures are the stores' own cost, not the
model's. PostgreSQL with pgvector is started by pgserver in a temporary folder. Prints one JSON line per
backend: first update (split + embed + write), load into a serving process (materialising the Snapshot),
the process's RSS growth from the load, the index's size on disk, query p50/p95 (search only).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fakes import HashEmbedding  # noqa: E402
from llama_index.core import Document  # noqa: E402

from assistant.store import new_manifest, open_store  # noqa: E402
from assistant.config import Settings  # noqa: E402
from assistant.retrieval import HybridRetriever  # noqa: E402


def corpus(n: int, seed: int = 0) -> list[Document]:
    rng = np.random.default_rng(seed)
    vocabulary = [f"w{i}" for i in range(20000)]
    ranks = np.minimum(rng.zipf(1.3, size=(n, 40)), len(vocabulary)) - 1
    docs = []
    for i, row in enumerate(ranks):
        words = [vocabulary[j] for j in row]
        text = ". ".join(" ".join(words[k:k + 10]).capitalize() for k in range(0, 40, 10)) + "."
        docs.append(Document(id_=f"doc{i:06d}.txt", text=text, metadata={"title": f"Doc {i}"}))
    return docs


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def run(name: str, settings: Settings, docs: list[Document], embedder: HashEmbedding, disk) -> dict:
    base = new_manifest(embedder.model_name, embedder.dimension, settings.chunk_size, settings.chunk_overlap)
    store = open_store(settings)
    t = time.perf_counter()
    store.update(docs, embedder, base)
    update_s = time.perf_counter() - t
    before = rss_mb()
    t = time.perf_counter()
    snapshot = open_store(settings).load()
    load_s = time.perf_counter() - t
    grown = rss_mb() - before
    retriever = HybridRetriever(snapshot, embedder, top_k=10)
    queries = [" ".join(d.text.split()[3:8]) for d in docs[:: max(len(docs) // 200, 1)]][:200]
    times = []
    for q in queries:
        t = time.perf_counter()
        retriever.search(q)
        times.append((time.perf_counter() - t) * 1000)
    return {"backend": name, "passages": len(snapshot.passages), "update_s": round(update_s, 1),
            "load_s": round(load_s, 1), "rss_growth_mb": round(grown), "disk_mb": round(disk() / 1e6, 1),
            "query_p50_ms": round(float(np.percentile(times, 50)), 1),
            "query_p95_ms": round(float(np.percentile(times, 95)), 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--passages", type=int, default=100000)
    parser.add_argument("--backends", default="folder,postgres")
    args = parser.parse_args()
    docs = corpus(args.passages)
    embedder = HashEmbedding(dimension=384, embed_batch_size=256)
    work = Path(tempfile.mkdtemp(prefix="bench-stores-"))
    settings = Settings(embed_model="fake-hash", index_dir=work / "index", show_progress=False, docs_dir=work)
    try:
        for name in args.backends.split(","):
            if name == "folder":
                disk = lambda: sum(p.stat().st_size for p in (work / "index").rglob("*") if p.is_file())  # noqa: E731
                print(json.dumps(run(name, settings, docs, embedder, disk)), flush=True)
            else:
                import pgserver

                pgdata = Path(tempfile.mkdtemp(prefix="bench-stores-postgres-"))
                server = pgserver.get_server(pgdata, cleanup_mode="stop")
                uri = server.get_uri()

                def disk() -> float:
                    out = server.psql("SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n "
                                      "ON n.oid = c.relnamespace WHERE n.nspname = 'assistant' AND c.relkind = 'r';")
                    return float(out.split("\n")[2].strip())

                try:
                    print(json.dumps(run(name, settings.replace(store=uri), docs, embedder, disk)), flush=True)
                finally:
                    server.cleanup()
                    shutil.rmtree(pgdata, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))


if __name__ == "__main__":
    main()
