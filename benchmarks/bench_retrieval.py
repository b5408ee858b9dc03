"""Retrieval and answers on public data: the assistant beside the obvious alternatives, in one run.

    .venv/bin/python benchmarks/bench_retrieval.py            # everything (about 40 minutes here)
    .venv/bin/python benchmarks/bench_retrieval.py --quick    # a sample of every section, under 3 minutes
    .venv/bin/python benchmarks/bench_retrieval.py --smoke    # a handful of each, under a minute (the tests)
    .venv/bin/python benchmarks/bench_retrieval.py --retrieval-only --embed-backend onnx   # backends' accuracy

Data is read from ../shared/benchmarks (``ASSISTANT_BENCHMARK_DATA`` overrides), never copied.

* Retrieval, document level: XQuAD English (240 paragraphs, 1,190 questions: hit@1, hit@5, MRR@10) and
  SciFact (BEIR test: 5,183 abstracts, 300 claims: nDCG@10), for the assistant, its own parts (dense
  only, BM25 only, plain RRF, weighted fusion without the rerank), bm25s, a bare SentenceTransformer +
  FAISS, a plain llama-index ``VectorStoreIndex`` and txtai ``Embeddings(hybrid=True)``.
* Answers on XQuAD: the share whose text contains a gold answer (refusals count as misses), median words.
* The SQuAD 2.0 slice: refusal recall on unanswerable questions against accuracy on answerable ones as
  the refusal threshold moves (PNG), with the default marked.
* Speed, as ratios measured in this run: warm ``ask()`` and retrieval against embedding the query plus
  one FAISS search; indexing throughput against ``SentenceTransformer.encode`` of the same passages;
  peak RSS.
* Scale: 100,000 passage vectors (real MiniLM vectors of SciFact passages, sentences and sentence
  pairs): exact against HNSW search, BM25 over the same texts.

The assistant is used only through its public API: each dataset is written out as a folder of .txt
files and indexed like a user's folder by ``Assistant.from_folder``, then asked with ``bot.ask`` and
searched with ``bot.retriever`` (``search`` with its ``fusion``/``rerank`` options for the ablation rows,
``dense``, ``lexical``, ``embed_query``). The speed floor encodes with ``bot.embedder.model`` (the loaded
SentenceTransformer); the indexing and scale sections read what was indexed from ``bot.snapshot``'s
public views (passages, documents, passage and sentence vectors, the llama-index docstore).
Results: a Markdown summary on stdout, JSON in benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import bench_data as datasets  # noqa: E402  (benchmarks/bench_data.py)
from bench_data import Dataset, Question, write_folder  # noqa: E402
from refusal_tradeoff import curve, plot as plot_tradeoff  # noqa: E402

from assistant import Assistant  # noqa: E402
from assistant.config import EMBED_BACKENDS  # noqa: E402
from assistant.embeddings import load_embedder  # noqa: E402
from assistant.evaluation import contains  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PLOT = HERE / "refusal_tradeoff.png"
K = 10
# --smoke: how much of each set is read. A handful of everything, so every section and every
# alternative runs in well under a minute (tests/test_benchmarks.py); the numbers mean nothing.
SMOKE = {"xquad": 20, "scifact": 12, "claims": 6, "squad2": 8, "questions": 30, "warm": 5, "scale": 1_000}


# ---------------------------------------------------------------------------------------- helpers

def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ranking_metrics(rankings: list[list[str]], questions: list[Question]) -> dict:
    h1 = h5 = mrr = ndcg = 0.0
    for docs, q in zip(rankings, questions):
        rel = q.relevant
        h1 += bool(docs) and docs[0] in rel
        h5 += any(d in rel for d in docs[:5])
        mrr += next((1 / (i + 1) for i, d in enumerate(docs[:K]) if d in rel), 0.0)
        dcg = sum(1 / np.log2(i + 2) for i, d in enumerate(docs[:K]) if d in rel)
        ndcg += dcg / sum(1 / np.log2(i + 2) for i in range(min(len(rel), K)))
    n = max(len(questions), 1)
    return {"hit@1": round(h1 / n, 3), "hit@5": round(h5 / n, 3), "MRR@10": round(mrr / n, 3),
            "nDCG@10": round(float(ndcg) / n, 3)}


class AssistantSystem:
    """The assistant over one dataset, and its parts for the ablation rows."""

    def __init__(self, dataset: Dataset, workdir: Path, embedder, **settings):
        self.names = write_folder(dataset, workdir / "docs")
        started = time.perf_counter()
        self.bot = Assistant.from_folder(workdir / "docs", index_dir=workdir / "index", embedder=embedder,
                                         show_progress=False, **settings)
        self.build_s = time.perf_counter() - started
        self.passages = self.bot.passage_count

    def documents(self, passage_ids: list[str]) -> list[str]:
        ranked = []
        for pid in passage_ids:
            doc = self.names[pid.rpartition("#")[0]]
            if doc not in ranked:
                ranked.append(doc)
        return ranked[:K]

    def search(self, question: str, variant: str = "assistant") -> list[str]:
        retriever = self.bot.retriever
        depth = 4 * K  # passages: enough for 10 distinct documents when documents hold several
        if variant == "dense":
            ids = [pid for pid, _ in retriever.dense(retriever.embed_query(question), depth)]
        elif variant == "bm25":
            ids = [pid for pid, _ in retriever.lexical(question, depth)]
        else:
            fusion, rerank = {"assistant": ("weighted", True), "rrf": ("rrf", False),
                              "weighted": ("weighted", False)}[variant]
            ids = [p.id for p in retriever.search(question, top_k=depth, fusion=fusion, rerank=rerank)]
        return self.documents(ids)


VARIANTS = {"assistant": "assistant (weighted fusion + sentence rerank)", "weighted": "assistant, no rerank",
            "rrf": "assistant parts, plain RRF", "dense": "assistant dense only", "bm25": "assistant BM25 only"}


def run_rankings(search, questions: list[Question]) -> tuple[list[list[str]], list[float]]:
    rankings, times = [], []
    for q in questions:
        started = time.perf_counter()
        rankings.append(search(q.text))
        times.append(time.perf_counter() - started)
    return rankings, times


def retrieval_table(dataset: Dataset, system: AssistantSystem, alternatives: list, log) -> list[dict]:
    rows = []
    for variant, label in VARIANTS.items():
        rankings, times = run_rankings(lambda q, v=variant: system.search(q, v), dataset.questions)
        rows.append({"system": label, **ranking_metrics(rankings, dataset.questions),
                     "query_p50_ms": round(1000 * percentile(times, 50), 2),
                     "build_s": round(system.build_s, 1) if variant == "assistant" else None})
        log(f"  {label}: {rows[-1]}")
    for alt in alternatives:
        started = time.perf_counter()
        alt.build(dataset)
        build_s = time.perf_counter() - started
        rankings, times = run_rankings(lambda q: alt.search(q, K), dataset.questions)
        rows.append({"system": alt.name, **ranking_metrics(rankings, dataset.questions),
                     "query_p50_ms": round(1000 * percentile(times, 50), 2), "build_s": round(build_s, 1)})
        log(f"  {alt.name}: {rows[-1]}")
    return rows


# ---------------------------------------------------------------------------------------- sections

def answers(system: AssistantSystem, dataset: Dataset) -> dict:
    hits, words, refused = 0, [], 0
    for q in dataset.questions:
        answer = system.bot.ask(q.text)
        refused += answer.refused
        if not answer.refused:
            hits += any(contains(answer.text, gold) for gold in q.answers)
            words.append(len(answer.text.split()))
    n = len(dataset.questions)
    return {"questions": n, "contains_gold": round(hits / n, 3), "refused": round(refused / n, 3),
            "median_words": statistics.median(words) if words else None}


def refusal_tradeoff(dataset: Dataset, workdir: Path, embedder, default: float, plot: Path | None) -> dict:
    """Every question asked once with refusal off; a threshold t then refuses answers scored under t
    (and those refused even at 0: see refusal_tradeoff.py, which also draws the curve)."""
    system = AssistantSystem(dataset, workdir, embedder, refusal_threshold=0.0)
    rows = []
    for q in dataset.questions:
        answer = system.bot.ask(q.text)
        rows.append({"answerable": bool(q.relevant), "confidence": answer.confidence, "refused": answer.refused,
                     "kind": answer.kind, "right": bool(q.relevant) and not answer.refused
                     and any(contains(answer.text, gold) for gold in q.answers)})
    points = curve(rows)
    at_default = min(points, key=lambda p: abs(p["threshold"] - default))
    answerable = sum(r["answerable"] for r in rows)
    if plot is not None:
        plot_tradeoff({"now": points}, {"now": default}, plot, (answerable, len(rows) - answerable))
    return {"answerable": answerable, "unanswerable": len(rows) - answerable, "default": at_default,
            "best_accuracy_sum": max(points, key=lambda p: p["answerable_accuracy"] + p["refusal_recall"]),
            "curve": points}


def speed(system: AssistantSystem, questions: list[Question], warm: int = 30) -> dict:
    """Latency p50/p95 with the model loaded and a few questions asked first, and ratios to the floor:
    a bare ``SentenceTransformer.encode`` of the query plus one FAISS search.

    ``ask`` is timed twice over the same questions by a freshly opened assistant: the first pass
    embeds (and caches) the sentences and words of passages the answerer has not read before; the
    second finds them cached, as a server does for documents it has already answered from.
    """
    bot = Assistant.from_folder(system.bot.settings.docs_dir, index_dir=system.bot.settings.index_dir,
                                embedder=system.bot.embedder, update=False)  # empty sentence/word caches
    retriever = bot.retriever
    model = floor_model(bot.embedder)
    for q in questions[:warm]:
        bot.ask(q.text)
    timed = questions[warm:] or questions

    def clock(fn) -> list[float]:
        out = []
        for q in timed:
            started = time.perf_counter()
            fn(q.text)
            out.append(1000 * (time.perf_counter() - started))
        return out

    floor = clock(lambda text: retriever.dense(
        model.encode([text], normalize_embeddings=True, show_progress_bar=False)[0], 30))
    retrieval = clock(lambda text: retriever.search(text))
    ask_first = clock(lambda text: bot.ask(text))
    ask = clock(lambda text: bot.ask(text))
    p = lambda v: {"p50_ms": round(percentile(v, 50), 2), "p95_ms": round(percentile(v, 95), 2)}  # noqa: E731
    return {"questions": len(timed), "floor_encode_plus_faiss": p(floor), "retrieval": p(retrieval),
            "ask_first_pass": p(ask_first), "ask": p(ask),
            "retrieval_p50_ratio": round(percentile(retrieval, 50) / percentile(floor, 50), 2),
            "ask_first_pass_p50_ratio": round(percentile(ask_first, 50) / percentile(floor, 50), 2),
            "ask_p50_ratio": round(percentile(ask, 50) / percentile(floor, 50), 2)}


def floor_model(embedder):
    """The bare SentenceTransformer the floors are measured with: the embedder's own, or (for the ONNX
    backends, which have none) the same model loaded with torch."""
    try:
        return embedder.model
    except AttributeError:
        return load_embedder("all-MiniLM-L6-v2").model


def indexing_throughput(dataset: Dataset, workdir: Path, embedder) -> dict:
    """Building the assistant's index (model already loaded) against a bare encode of the same passages."""
    system = AssistantSystem(dataset, workdir, embedder)
    from llama_index.core.schema import MetadataMode

    # exactly what the assistant embedded: each passage under its title header
    texts = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in system.bot.snapshot.storage.docstore.docs.values()]
    model = floor_model(embedder)
    started = time.perf_counter()
    model.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
    encode_s = time.perf_counter() - started
    ours, raw = len(texts) / system.build_s, len(texts) / encode_s
    return {"documents": len(dataset.documents), "passages": len(texts), "assistant_build_s": round(system.build_s, 1),
            "encode_s": round(encode_s, 1), "assistant_passages_per_s": round(ours, 1),
            "encode_passages_per_s": round(raw, 1), "ratio": round(ours / raw, 3), "system": system}


def scale(system: AssistantSystem, queries: np.ndarray, n: int, encode_rate: float, log) -> dict:
    """Exact and HNSW search over ``n`` real passage/sentence vectors taken from an index already built,
    plus BM25 over the same texts."""
    import faiss

    from assistant.lexical import BM25Index
    from assistant.store import HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_NEIGHBOURS

    snap = system.bot.snapshot
    docs = {d: doc.text for d, doc in snap.documents.items()}
    texts, vectors = [], []
    for pid, passage in snap.passages.items():  # passages, then their sentences, then sentence pairs
        texts.append(passage.text)
        vectors.append(snap.vectors.vectors_of([pid])[0])
    for pid, (spans, sv) in snap.sentence_vectors.entries.items():
        doc = docs[snap.passages[pid].doc_id]
        for (s, e), v in zip(spans.tolist(), sv.astype("float32")):
            texts.append(doc[s:e])
            vectors.append(v)
        for i in range(len(spans) - 1):
            (s, _), (_, e) = spans[i].tolist(), spans[i + 1].tolist()
            texts.append(doc[s:e])
            pair = sv[i].astype("float32") + sv[i + 1].astype("float32")
            vectors.append(pair / np.linalg.norm(pair))
    order = random.Random(0).sample(range(len(texts)), min(n, len(texts)))
    texts = [texts[i] for i in order]
    matrix = np.ascontiguousarray(np.stack([vectors[i] for i in order]).astype("float32"))
    ids = np.arange(len(texts), dtype=np.int64)
    out = {"passages": len(texts), "embed_s_at_measured_rate": round(len(texts) / encode_rate, 1)}
    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))

    def timed_search(index) -> tuple[list[float], np.ndarray]:
        times, found = [], []
        for q in queries:
            started = time.perf_counter()
            _, hit = index.search(q.reshape(1, -1), K)
            times.append(1000 * (time.perf_counter() - started))
            found.append(hit[0])
        return times, np.stack(found)

    rss_before = peak_rss_mb()
    started = time.perf_counter()
    exact = faiss.IndexIDMap2(faiss.IndexFlatIP(matrix.shape[1]))
    exact.add_with_ids(matrix, ids)
    exact_build = time.perf_counter() - started
    faiss.write_index(exact, str(tmp / "exact.faiss"))
    exact_times, truth = timed_search(exact)
    started = time.perf_counter()
    graph = faiss.IndexHNSWFlat(matrix.shape[1], HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    hnsw = faiss.IndexIDMap2(graph)
    hnsw.add_with_ids(matrix, ids)
    hnsw_build = time.perf_counter() - started
    faiss.write_index(hnsw, str(tmp / "hnsw.faiss"))
    recall = {}
    for ef in (32, 64, HNSW_EF_SEARCH, 256):
        graph.hnsw.efSearch = ef
        times, found = timed_search(hnsw)
        recall[ef] = {"recall@10": round(float(np.mean([len(set(a) & set(b)) / K for a, b in zip(found, truth)])), 3),
                      "p50_ms": round(percentile(times, 50), 3), "p95_ms": round(percentile(times, 95), 3)}
    log(f"  vectors: exact {exact_build:.1f} s, hnsw {hnsw_build:.1f} s; {recall}")
    started = time.perf_counter()
    bm25 = BM25Index.build({str(i): t for i, t in enumerate(texts)})
    bm25_build = time.perf_counter() - started
    bm25.save(tmp)
    bm25_times = []
    for q in system.questions[:200]:
        started = time.perf_counter()
        bm25.search(q.text, 30)
        bm25_times.append(1000 * (time.perf_counter() - started))
    size = lambda *names: round(sum((tmp / f).stat().st_size for f in names) / 2**20, 1)  # noqa: E731
    out.update({
        "exact": {"build_s": round(exact_build, 2), "size_mb": size("exact.faiss"),
                  "p50_ms": round(percentile(exact_times, 50), 3), "p95_ms": round(percentile(exact_times, 95), 3)},
        "hnsw": {"build_s": round(hnsw_build, 1), "size_mb": size("hnsw.faiss"), "M": HNSW_NEIGHBOURS,
                 "efConstruction": HNSW_EF_CONSTRUCTION, "default_efSearch": HNSW_EF_SEARCH, "by_efSearch": recall},
        "bm25": {"build_s": round(bm25_build, 1), "size_mb": size("bm25.npz", "bm25.json"),
                 "p50_ms": round(percentile(bm25_times, 50), 2), "p95_ms": round(percentile(bm25_times, 95), 2)},
        "sentence_vectors_mb_estimate": round(len(texts) * 5.5 * matrix.shape[1] * 2 / 2**20, 1),
        "peak_rss_mb": round(peak_rss_mb(), 0), "rss_grew_mb": round(peak_rss_mb() - rss_before, 0),
    })
    return out


def chunking(sets: list[tuple[Dataset, str]], sizes: list[tuple[int, int]], workdir: Path, embedder, log,
             reuse: dict | None = None) -> list[dict]:
    """Retrieval on development sets at several chunk sizes (tokens) and overlaps."""
    rows = []
    for dataset, metric in sets:
        for size, overlap in sizes:
            if dataset.name.startswith("SciFact") and size < 128:
                continue  # 64-token passages of 5,183 abstracts: twice the encode for what XQuAD already shows
            system = (reuse or {}).get((dataset.name.split(" (")[0], size, overlap))
            if system is None:
                system = AssistantSystem(dataset, workdir / f"chunk-{len(rows)}", embedder,
                                         chunk_size=size, chunk_overlap=overlap)
            rankings, _ = run_rankings(lambda q: system.search(q), dataset.questions)
            rows.append({"set": dataset.name, "chunk_size": size, "chunk_overlap": overlap,
                         "passages": system.passages, **ranking_metrics(rankings, dataset.questions)})
            log(f"  chunking: {rows[-1]}")
    return rows


# ---------------------------------------------------------------------------------------- main

def scifact_subset(data: Dataset, claims: int, extra_docs: int) -> Dataset:
    """A few claims, their abstracts and some others (for --quick and --smoke)."""
    rng = random.Random(0)
    picked = rng.sample(data.questions, claims)
    keep = {d for q in picked for d in q.relevant} | set(rng.sample(sorted(data.documents), extra_docs))
    return Dataset(f"{data.name} subset", {d: data.documents[d] for d in data.documents if d in keep}, picked)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="a sample of each set, under 3 minutes")
    size.add_argument("--smoke", action="store_true",
                      help="a handful of each set, under a minute: checks that everything runs (the tests)")
    parser.add_argument("--no-alternatives", action="store_true", help="only the assistant and its parts")
    parser.add_argument("--speed-only", action="store_true", help="only the speed section (XQuAD index)")
    parser.add_argument("--out", type=Path, default=None, help="JSON results (default benchmarks/results/)")
    parser.add_argument("--embed-backend", default="torch", choices=EMBED_BACKENDS[:3],
                        help="how the assistant embeds (the floors stay a bare torch SentenceTransformer)")
    parser.add_argument("--retrieval-only", action="store_true",
                        help="only the XQuAD and SciFact retrieval tables of the assistant (no alternatives, "
                        "answers, SQuAD, chunking or scale): to compare embed backends")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: one per core; 1 with --smoke)")
    args = parser.parse_args(argv)
    threads = args.threads or (1 if args.smoke else None)
    if threads:
        import torch

        # Beside another busy process torch's 2 threads on 2 cores stall (queries ran 70x slower in a
        # smoke run during a test suite); one thread keeps a smoke run in seconds on a loaded machine.
        torch.set_num_threads(threads)
    started_all = time.perf_counter()
    log = lambda *a: print(*a, file=sys.stderr, flush=True)  # noqa: E731
    import alternatives

    def alts() -> list:
        return [] if args.no_alternatives else alternatives.all_alternatives()

    embedder = load_embedder("all-MiniLM-L6-v2", backend=args.embed_backend)
    embedder.warm_up()
    work = Path(tempfile.mkdtemp(prefix="bench-retrieval-"))
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    sample = args.quick or args.smoke  # the sections the full run alone has: chunking, the PNG
    result: dict = {"mode": mode, "machine": f"{os.cpu_count()} CPU cores"}
    if threads:
        result["torch_threads"] = threads
    result["embed_backend"] = args.embed_backend
    if args.retrieval_only:
        return retrieval_only(args, embedder, work, log)

    xquad = datasets.xquad()
    if args.quick:
        xquad = xquad.sample(150)
    if args.smoke:
        xquad = xquad.subset(SMOKE["xquad"], SMOKE["questions"])
    if args.speed_only:
        speed_run = speed(AssistantSystem(xquad, work / "xquad", embedder), xquad.questions)
        print(json.dumps(speed_run, indent=1))
        return 0
    log(f"XQuAD: {len(xquad.documents)} documents, {len(xquad.questions)} questions")
    xq = AssistantSystem(xquad, work / "xquad", embedder)
    xq.questions = xquad.questions
    result["xquad"] = {"retrieval": retrieval_table(xquad, xq, alts(), log), "answers": answers(xq, xquad)}
    log(f"  answers: {result['xquad']['answers']}")
    result["speed"] = speed(xq, xquad.questions, **({"warm": SMOKE["warm"]} if args.smoke else {}))
    log(f"  speed: {result['speed']}")
    result["peak_rss_mb_assistant"] = round(peak_rss_mb(), 0)

    scifact = datasets.scifact()
    if args.quick:
        scifact = scifact_subset(scifact, claims=25, extra_docs=150)
    if args.smoke:
        scifact = scifact_subset(scifact, claims=SMOKE["claims"], extra_docs=SMOKE["scifact"])
    log(f"SciFact: {len(scifact.documents)} documents, {len(scifact.questions)} claims")
    throughput = indexing_throughput(scifact, work / "scifact", embedder)
    sf = throughput.pop("system")
    sf.questions = scifact.questions
    result["indexing"] = throughput
    log(f"  indexing: {throughput}")
    result["scifact"] = {"retrieval": retrieval_table(scifact, sf, [] if sample else alts(), log)}

    squad = datasets.squad2()
    if args.smoke:
        squad = squad.subset(SMOKE["squad2"], SMOKE["questions"])
    log(f"SQuAD 2.0 slice: {len(squad.documents)} documents, {len(squad.questions)} questions")
    default = xq.bot.settings.refusal_threshold
    result["squad2"] = refusal_tradeoff(squad, work / "squad2", embedder, default,
                                        None if sample else PLOT)
    log(f"  at default: {result['squad2']['default']}")

    if not sample:
        log("Chunking, on development sets (SQuAD 2.0 answerable questions, SciFact training claims)")
        dev_squad = Dataset("SQuAD 2.0 slice", squad.documents, [q for q in squad.questions if q.relevant])
        result["chunking"] = chunking(
            [(dev_squad, "hit@1"), (datasets.scifact("train"), "nDCG@10")], [(64, 8), (128, 16), (240, 32)],
            work, embedder, log, reuse={("SciFact", 240, 32): sf})

    queries = np.stack([np.asarray(embedder.get_query_embedding(q.text), dtype="float32")
                        for q in (xquad.questions[:100] if sample else xquad.questions[:300] + scifact.questions)])
    result["scale"] = scale(sf, queries, SMOKE["scale"] if args.smoke else 5_000 if args.quick else 100_000,
                            throughput["encode_passages_per_s"], log)
    result["total_s"] = round(time.perf_counter() - started_all, 1)
    out = args.out or RESULTS / ("retrieval.json" if mode == "full" else f"retrieval-{mode}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(summary(result))
    log(f"results: {out} ({result['total_s']} s)")
    return 0


def retrieval_only(args, embedder, work: Path, log) -> int:
    """XQuAD hit@1 and SciFact nDCG@10 (the whole sets, or --quick/--smoke samples) of the assistant alone."""
    xquad, scifact = datasets.xquad(), datasets.scifact()
    if args.quick:
        xquad, scifact = xquad.sample(150), scifact_subset(scifact, claims=25, extra_docs=150)
    if args.smoke:
        xquad = xquad.subset(SMOKE["xquad"], SMOKE["questions"])
        scifact = scifact_subset(scifact, claims=SMOKE["claims"], extra_docs=SMOKE["scifact"])
    out = {"embed_backend": args.embed_backend}
    for name, data in (("xquad", xquad), ("scifact", scifact)):
        started = time.perf_counter()
        system = AssistantSystem(data, work / name, embedder)
        rankings, _ = run_rankings(system.search, data.questions)
        out[name] = {**ranking_metrics(rankings, data.questions), "passages": system.passages,
                     "build_s": round(system.build_s, 1), "total_s": round(time.perf_counter() - started, 1)}
        log(f"  {name}: {out[name]}")
    text = json.dumps(out, indent=1)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


def summary(r: dict) -> str:
    lines = [f"# Retrieval benchmark ({r['mode']}, {r['machine']}, {r['total_s']} s)", ""]
    for name, metrics in (("XQuAD en", ("hit@1", "hit@5", "MRR@10")), ("SciFact", ("nDCG@10", "hit@1", "MRR@10"))):
        key = "xquad" if name.startswith("XQuAD") else "scifact"
        lines += [f"## {name}", "", "| system | " + " | ".join(metrics) + " | query p50 ms | build s |",
                  "|---|" + "---:|" * (len(metrics) + 2)]
        for row in r[key]["retrieval"]:
            build = "" if row["build_s"] is None else row["build_s"]
            lines.append(f"| {row['system']} | " + " | ".join(f"{row[m]:.3f}" for m in metrics)
                         + f" | {row['query_p50_ms']} | {build} |")
        lines.append("")
    a = r["xquad"]["answers"]
    lines += [f"Answers on XQuAD: {a['contains_gold']:.3f} contain the gold answer ({a['refused']:.3f} refused), "
              f"median {a['median_words']} words.", ""]
    s = r["speed"]
    lines += ["## Speed (warm, ms)", "", "| | p50 | p95 |", "|---|---:|---:|"]
    for key in ("floor_encode_plus_faiss", "retrieval", "ask_first_pass", "ask"):
        lines.append(f"| {key} | {s[key]['p50_ms']} | {s[key]['p95_ms']} |")
    i = r["indexing"]
    lines += ["", f"ask() p50 = {s['ask_p50_ratio']}x the floor ({s['ask_first_pass_p50_ratio']}x on the first pass), "
              f"retrieval p50 = {s['retrieval_p50_ratio']}x.",
              f"Indexing {i['passages']} passages: {i['assistant_passages_per_s']} passages/s against "
              f"{i['encode_passages_per_s']} for a bare encode ({i['ratio']}x). Peak RSS (assistant phase) "
              f"{r['peak_rss_mb_assistant']:.0f} MB.", ""]
    q = r["squad2"]
    lines += [f"SQuAD 2.0 slice at the default threshold {q['default']['threshold']}: answerable accuracy "
              f"{q['default']['answerable_accuracy']}, refusal recall {q['default']['refusal_recall']}.", ""]
    if r.get("chunking"):
        lines += ["## Chunk size (development sets)", "", "| set | chunk / overlap | passages | hit@1 | MRR@10 | nDCG@10 |",
                  "|---|---|---:|---:|---:|---:|"]
        for row in r["chunking"]:
            lines.append(f"| {row['set']} | {row['chunk_size']} / {row['chunk_overlap']} | {row['passages']} | "
                         f"{row['hit@1']:.3f} | {row['MRR@10']:.3f} | {row['nDCG@10']:.3f} |")
        lines.append("")
    sc = r["scale"]
    lines += [f"## Scale: {sc['passages']:,} passages", "",
              f"exact: build {sc['exact']['build_s']} s, {sc['exact']['size_mb']} MB, p50/p95 "
              f"{sc['exact']['p50_ms']}/{sc['exact']['p95_ms']} ms; hnsw: build {sc['hnsw']['build_s']} s, "
              f"{sc['hnsw']['size_mb']} MB, by efSearch {sc['hnsw']['by_efSearch']}; BM25: build "
              f"{sc['bm25']['build_s']} s, {sc['bm25']['size_mb']} MB, p50/p95 {sc['bm25']['p50_ms']}/"
              f"{sc['bm25']['p95_ms']} ms; embedding them at the measured rate: {sc['embed_s_at_measured_rate']} s."]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
