"""The stores side by side at scale: load into the backend, the serving process's memory, disk, query
latency (exact and HNSW), HNSW recall and throughput with one or two app processes.

    python benchmarks/bench_stores.py --passages 100000                      # folder, postgres, milvus
    python benchmarks/bench_stores.py --passages 100000 --backends postgres --throughput 20
    python benchmarks/bench_stores.py --passages 100000 --backends postgres --work /tmp/bench-100k  # kept
    python benchmarks/bench_stores.py --passages 100000 --backends postgres --work /tmp/bench-100k --lexical-only

``--work DIR`` keeps each backend's store in ``DIR/<backend>`` instead of a temporary folder: a second run
serves the store it finds there (no ``update_s``) when it holds the corpus in a layout this version reads,
and updates it otherwise (another tables version: a rebuild), so the serving figures can be measured again
after a change in how the store searches without loading the corpus again.

Synthetic documents (one passage each, Zipf-distributed words) embedded by the tests' hashed
bag-of-words fake at 384 dimensions (MiniLM's size), so the figures are the stores' own cost, not the
model's. PostgreSQL with pgvector is started by pgserver, Milvus Lite's server by ``milvus-lite server``,
each in a temporary folder. Per backend, one JSON line:

* ``update_s``: the first update (split, embed with the fake, write): loading the corpus into the backend;
* the serving figures, measured in a fresh process (``--serve``) as an app process would be:
  ``rss_mb`` after importing everything and making the embedder, ``rss_loaded_mb`` after ``load()``,
  ``rss_served_mb`` / ``peak_rss_mb`` after 200 hybrid searches (retrieval's whole path: dense + BM25
  candidates, fusion, sentence rerank), ``load_s``;
* ``search`` per vector index (``exact``, ``hnsw``): hybrid search p50/p95 and dense search p50/p95 (ms),
  and for HNSW the dense top-10's recall against exact over the same 200 queries; ``lexical``: the BM25
  top 30 alone, p50/p95 (ms), on a fresh snapshot (no document frequency cached);
* ``disk_mb`` (PostgreSQL: the schema's relations with indexes and TOAST; Milvus: its data folder); for Milvus,
  served by ``milvus-lite server`` in a process of its own, also that server's RSS; and with ``--throughput S``: hybrid searches per second over S seconds with one app
  process of 8 client threads, then two such processes at once against the same store, and the ratio.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fakes import HashEmbedding  # noqa: E402
from llama_index.core import Document  # noqa: E402

from assistant.config import Settings  # noqa: E402
from assistant.errors import AssistantError  # noqa: E402
from assistant.retrieval import CANDIDATES, HybridRetriever  # noqa: E402
from assistant.store import new_manifest, open_store  # noqa: E402

QUERIES = 200
CLIENTS = 8


def corpus(n: int, seed: int = 0, rows: list[int] | None = None) -> list[Document]:
    """``n`` synthetic documents (or only those at ``rows``, the same texts without making the rest)."""
    rng = np.random.default_rng(seed)
    vocabulary = [f"w{i}" for i in range(20000)]
    ranks = np.minimum(rng.zipf(1.3, size=(n, 40)), len(vocabulary)) - 1
    docs = []
    for i in range(n) if rows is None else rows:
        words = [vocabulary[j] for j in ranks[i]]
        text = ". ".join(" ".join(words[k:k + 10]).capitalize() for k in range(0, 40, 10)) + "."
        docs.append(Document(id_=f"doc{i:06d}.txt", text=text, metadata={"title": f"Doc {i}"}))
    return docs


def queries(n: int, count: int = QUERIES) -> list[str]:
    """Five words from each of ``count`` documents spread over the corpus."""
    rows = list(range(0, n, max(n // count, 1)))[:count]
    return [" ".join(d.text.split()[3:8]) for d in corpus(n, rows=rows)]


def status(key: str) -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key)) / 1024


def percentile(times: list[float], q: float) -> float:
    return round(float(np.percentile(times, q)), 2)


def embedder() -> HashEmbedding:
    return HashEmbedding(dimension=384, embed_batch_size=256)


def set_vector_index(snapshot, kind: str) -> bool:
    """Search ``snapshot`` exactly or by HNSW; False when this backend cannot switch without a rebuild."""
    tables = getattr(snapshot, "tables", None)
    if tables is not None:
        if hasattr(tables.store, "index_embedding") and tables.vector_index != kind:
            tables.store.index_embedding(kind)  # Milvus: another index on the same vectors (HNSW or FLAT)
        tables.vector_index = kind
        return True
    if kind == "exact":
        snapshot.approximate = None
        return True
    return False  # the folder store's HNSW graph is built at update (BENCHMARKS.md, "Scale", has its figures)


def serve(args) -> None:
    """One app process: load the store, search, report memory and times (``--serve``)."""
    settings = Settings(embed_model="fake-hash", index_dir=args.index, store=args.store, show_progress=False)
    model = embedder()
    texts = queries(args.passages, args.queries)
    vectors = [np.asarray(model.get_query_embedding(q), dtype="float32") for q in texts]
    out = {"rss_mb": round(status("VmRSS"))}
    store = open_store(settings)
    t = time.perf_counter()
    snapshot = store.load()
    out["load_s"] = round(time.perf_counter() - t, 2)
    out["rss_loaded_mb"] = round(status("VmRSS"))
    retriever = HybridRetriever(snapshot, model, top_k=10)
    if args.clients:
        out.update(throughput(store, retriever, texts, vectors, args.clients, args.seconds))
        print(json.dumps(out), flush=True)
        return
    out["search"], truth = {}, None
    for kind in ("exact", "hnsw"):
        t = time.perf_counter()
        if not set_vector_index(snapshot, kind):
            continue
        switched = time.perf_counter() - t
        hybrid, dense, found = [], [], []
        for q, v in zip(texts, vectors):
            t = time.perf_counter()
            with store.reading():
                found.append([pid for pid, _ in snapshot.search(v, 10)])
            dense.append(1000 * (time.perf_counter() - t))
            t = time.perf_counter()
            with store.reading():
                retriever.search(q, vector=v)
            hybrid.append(1000 * (time.perf_counter() - t))
        row = {"hybrid_p50_ms": percentile(hybrid, 50), "hybrid_p95_ms": percentile(hybrid, 95),
               "dense_p50_ms": percentile(dense, 50), "dense_p95_ms": percentile(dense, 95)}
        if switched > 0.5:
            row["index_switch_s"] = round(switched, 1)
        if kind == "exact":
            truth = found
        elif truth is not None:
            row["recall@10"] = round(float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth)])), 3)
        out["search"][kind] = row
    out["rss_served_mb"] = round(status("VmRSS"))
    out["peak_rss_mb"] = round(status("VmHWM"))
    out["lexical"] = lexical_times(store, texts)
    print(json.dumps(out), flush=True)


def lexical_times(store, texts: list[str]) -> dict:
    """The BM25 top 30 alone (retrieval's lexical candidates), p50/p95 in ms, on a snapshot loaded afresh so
    that no document frequency is cached yet, as for an app's first questions."""
    snapshot = store.load()
    times = []
    for q in texts:
        t = time.perf_counter()
        with store.reading():
            snapshot.lexical.search(q, CANDIDATES)
        times.append(1000 * (time.perf_counter() - t))
    return {"p50_ms": percentile(times, 50), "p95_ms": percentile(times, 95)}


def throughput(store, retriever, texts, vectors, clients: int, seconds: float) -> dict:
    done = [0] * clients
    errors: list = []
    stop = time.monotonic() + seconds

    def client(i: int) -> None:
        j = i
        while time.monotonic() < stop:
            try:
                with store.reading():
                    retriever.search(texts[j % len(texts)], vector=vectors[j % len(texts)])
            except Exception as exc:  # noqa: BLE001 - counted and reported
                errors.append(repr(exc))
                return
            done[i] += 1
            j += clients

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"searches": sum(done), "per_s": round(sum(done) / seconds, 1), "errors": errors[:3]}


def serving(backend: str, settings: Settings, args, clients: int = 0, processes: int = 1) -> list[dict]:
    command = [sys.executable, __file__, "--serve", "--passages", str(args.passages), "--queries", str(args.queries),
               "--index",
               str(settings.index_dir), "--store", settings.store, "--clients", str(clients), "--seconds",
               str(args.throughput)]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(processes)]
    outs = []
    for proc in procs:
        out, _ = proc.communicate(timeout=3600)
        if proc.returncode:
            raise SystemExit(f"{backend}: the serving process failed")
        outs.append(json.loads(out.strip().splitlines()[-1]))
    return outs


class milvus_server:
    """``milvus-lite server`` over a folder, in a process of its own (the pymilvus protocol on a free port)."""

    def __init__(self, data: Path):
        import socket

        from pymilvus import MilvusClient

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.uri = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(data),
                                      "--host", "127.0.0.1", "--port", str(port)], stdout=subprocess.DEVNULL)
        for _ in range(300):
            try:
                MilvusClient(self.uri, timeout=2, dedicated=True).close()
                return
            except Exception:  # noqa: BLE001 - not listening yet
                time.sleep(0.2)
        raise SystemExit("milvus-lite server did not start")

    def rss_mb(self) -> int:
        with open(f"/proc/{self.proc.pid}/status") as f:
            return round(next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024)

    def cleanup(self) -> None:
        self.proc.kill()
        self.proc.wait(30)


def reusable(settings: Settings, passages: int) -> bool:
    """The store (kept by ``--work``) holds ``passages`` passages in a layout this version reads."""
    try:
        return len(open_store(settings).load().passages) == passages
    except AssistantError:
        return False


def disk_size(backend: str, work: Path, server) -> float:
    if backend == "postgres":
        out = server.psql("SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n "
                          "ON n.oid = c.relnamespace WHERE n.nspname = 'assistant' AND c.relkind = 'r';")
        return float(out.split("\n")[2].strip())
    folder = work / ("milvus.db" if backend == "milvus" else "index")
    return float(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir()
                 else folder.stat().st_size)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--passages", type=int, default=100000)
    parser.add_argument("--backends", default="folder,postgres,milvus")
    parser.add_argument("--queries", type=int, default=QUERIES, help="searches per vector index (default 200)")
    parser.add_argument("--throughput", type=float, default=0, help="seconds per throughput run (0: none)")
    parser.add_argument("--work", default="", help="keep the stores in DIR/<backend> and reuse them next time")
    parser.add_argument("--lexical-only", action="store_true",
                        help="time the BM25 top 30 alone, in this process (with --work: a kept store)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--index", default="", help=argparse.SUPPRESS)
    parser.add_argument("--store", default="", help=argparse.SUPPRESS)
    parser.add_argument("--clients", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args)
        return
    docs: list[Document] = []  # made when a store is loaded, not for a kept one
    model = embedder()
    for backend in args.backends.split(","):
        work = Path(args.work) / backend if args.work else Path(tempfile.mkdtemp(prefix=f"bench-stores-{backend}-"))
        work.mkdir(parents=True, exist_ok=True)
        server = None
        try:
            settings = Settings(embed_model="fake-hash", index_dir=work / "index", show_progress=False, docs_dir=work)
            if backend == "postgres":
                import pgserver

                server = pgserver.get_server(work / "pgdata", cleanup_mode="stop")
                settings = settings.replace(store=server.get_uri())
            elif backend == "milvus":  # a server, as app processes share it (a Lite file is one process's)
                server = milvus_server(work / "milvus.db")
                settings = settings.replace(store=server.uri)
            base = new_manifest(model.model_name, model.dimension, settings.chunk_size, settings.chunk_overlap)
            result = {"backend": backend, "passages": args.passages}
            if not (args.work and reusable(settings, args.passages)):
                docs = docs or corpus(args.passages)
                t = time.perf_counter()
                open_store(settings).update(docs, model, base)
                result["update_s"] = round(time.perf_counter() - t, 1)
            if args.lexical_only:
                print(json.dumps({**result, "lexical": lexical_times(open_store(settings),
                                                                     queries(args.passages, args.queries))}))
                continue
            result["disk_mb"] = round(disk_size(backend, work, server) / 1e6, 1)
            result.update(serving(backend, settings, args)[0])
            if backend == "milvus":
                result["milvus_server_rss_mb"] = server.rss_mb()
            if args.throughput:
                one = serving(backend, settings, args, clients=CLIENTS)[0]
                two = serving(backend, settings, args, clients=CLIENTS, processes=2)
                per_s = sum(r["per_s"] for r in two)
                result["throughput"] = {"1_process_per_s": one["per_s"], "2_processes_per_s": per_s,
                                        "ratio": round(per_s / one["per_s"], 2) if one["per_s"] else None,
                                        "errors": one["errors"] + [e for r in two for e in r["errors"]]}
            print(json.dumps(result), flush=True)
        finally:
            if server is not None:
                server.cleanup()
            if not args.work:
                shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
