"""Ingestion speed: embedding throughput of the backends side by side, and parallel file parsing.

    .venv/bin/python benchmarks/bench_ingestion.py                      # SciFact passages, every backend
    .venv/bin/python benchmarks/bench_ingestion.py --passages 512 --rounds 3 --backends torch onnx
    .venv/bin/python benchmarks/bench_ingestion.py --batch-sizes 16 32 64 --unsorted
    .venv/bin/python benchmarks/bench_ingestion.py --parse-files 300       # serial against parallel parsing

Embedding: SciFact abstracts (BEIR test, ``../shared/benchmarks``) are split into passages exactly as the
assistant splits them (titles as headers, sentence spans), and each backend embeds the same passages and
their sentence spans with ``embed_with_spans``, the model loaded. Within each group of 256 passages (how the
store cuts an update) the backends take turns, the order rotating, so a machine that slows down slows
them all: the figures to quote are the ratios to torch, group by group (median, range) and in total. Also reported: each backend's cosine to torch's vectors.

``--unsorted`` feeds the passages in the order of the files instead of sorted by length (the store sorts
every update's passages by length before grouping them into model batches).

Parsing: ``--parse-files N`` writes N generated files (.txt, .md, .html, .pdf) and reads them with
``load_documents`` with ``workers=1`` and with worker processes, in turns (``--pdf-pages``: longer PDFs).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import bench_data as datasets  # noqa: E402

from assistant.documents import load_documents, passage_splitter, sentence_spans  # noqa: E402
from assistant.embeddings import embed_with_spans, load_embedder, token_counter  # noqa: E402


def scifact_passages(limit: int, seed: int = 0) -> tuple[list[str], list[list[tuple[int, int]]]]:
    """``limit`` SciFact passages as the assistant embeds them (title header + text) and their sentence spans."""
    from llama_index.core import Document
    from llama_index.core.schema import MetadataMode

    data = datasets.scifact()
    ids = sorted(data.documents)
    random.Random(seed).shuffle(ids)
    tokenizer = token_counter(load_embedder("all-MiniLM-L6-v2"))
    steps = passage_splitter(240, 32, tokenizer)
    texts, spans = [], []
    for doc_id in ids:
        title, text = data.documents[doc_id]  # as write_folder writes it: the title as the file's title
        doc = Document(text=text, id_=doc_id, metadata={"title": title})
        nodes = [doc]
        for step in steps:
            nodes = step(nodes)
        sentences = sentence_spans(text)
        for node in nodes:
            embedded = node.get_content(metadata_mode=MetadataMode.EMBED)
            body, start = node.get_content(), node.start_char_idx or 0
            shift, end = embedded.rfind(body), start + len(body)
            texts.append(embedded)
            spans.append([(shift + max(s, start) - start, shift + min(e, end) - start)
                          for s, e in sentences if e > start and s < end])
            if len(texts) >= limit:
                return texts, spans
    return texts, spans


def embed_rounds(backends: list[str], texts: list[str], spans: list, rounds: int, batch_size: int,
                 sort: bool, cache_dir: str, log) -> dict:
    """Each backend embeds the same passages, group by group (a group: 8 model batches, as the store cuts
    them); within a group the backends take turns in a rotating order, so a machine whose speed drifts
    (other processes) changes all of them alike, and each group gives one ratio per backend."""
    models = {}
    for backend in backends:
        model = load_embedder("all-MiniLM-L6-v2", batch_size=batch_size, backend=backend, cache_dir=cache_dir)
        model.warm_up()
        embed_with_spans(model, texts[:8], spans[:8])  # first-call costs (allocators, thread pools) out of the way
        models[backend] = model
    order = sorted(range(len(texts)), key=lambda i: len(texts[i])) if sort else list(range(len(texts)))
    size = batch_size * 8  # the store embeds groups of 8 model batches (store.GROUP_BATCHES)
    groups = [order[g:g + size] for g in range(0, len(order), size)]
    times: dict[str, list[float]] = {b: [] for b in backends}  # one entry per (round, group)
    vectors: dict[str, list[np.ndarray]] = {b: [] for b in backends}
    turn = 0
    for r in range(rounds):
        for group in groups:
            for backend in backends[turn % len(backends):] + backends[:turn % len(backends)]:
                started = time.perf_counter()
                if sort:
                    out = embed_with_spans(models[backend], [texts[i] for i in group], [spans[i] for i in group])[0]
                else:  # file order: model batches as they come (embed_with_spans would sort inside the call)
                    out = np.concatenate([embed_with_spans(models[backend], [texts[i] for i in group[b:b + batch_size]],
                                                           [spans[i] for i in group[b:b + batch_size]])[0]
                                          for b in range(0, len(group), batch_size)])
                times[backend].append(time.perf_counter() - started)
                if r == 0:
                    vectors[backend].append(out)
            turn += 1
        log(f"  round {r + 1}: " + ", ".join(
            f"{b} {sum(len(g) for g in groups) / sum(times[b][-len(groups):]):.1f}/s" for b in backends))
    base = backends[0]
    per_round = {b: [sum(times[b][r * len(groups):(r + 1) * len(groups)]) for r in range(rounds)] for b in backends}
    result = {}
    for backend in backends:
        cos = (np.concatenate(vectors[backend]) * np.concatenate(vectors[base])).sum(axis=1)
        pairs = [t0 / t for t0, t in zip(times[base], times[backend])]
        result[backend] = {
            "passages_per_s_median_round": round(len(texts) / statistics.median(per_round[backend]), 1),
            "passages_per_s_each_round": [round(len(texts) / t, 1) for t in per_round[backend]],
            f"speed_vs_{base}_median_group": round(statistics.median(pairs), 2),
            f"speed_vs_{base}_group_range": [round(min(pairs), 2), round(max(pairs), 2)],
            f"speed_vs_{base}_total": round(sum(times[base]) / sum(times[backend]), 2),
            f"cosine_to_{base}_min": round(float(cos.min()), 6),
            f"cosine_to_{base}_mean": round(float(cos.mean()), 6),
        }
    return result


def write_files(folder: Path, n: int, pdf_pages: int = 1) -> None:
    """``n`` generated files of four kinds (a fifth PDFs of ``pdf_pages`` pages), a few paragraphs a page."""
    from fpdf import FPDF

    rng = random.Random(0)
    words = "harbour crane rifle summit treaty ferry museum festival minister report cargo river".split()
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        body = " ".join(f"{rng.choice(words).title()} {i} moved {rng.randint(1, 999)} {rng.choice(words)}s."
                        for _ in range(60))
        kind = ("txt", "md", "html", "txt", "pdf")[i % 5]
        path = folder / f"file-{i:04d}.{kind}"
        if kind == "pdf":
            pdf = FPDF()
            pdf.set_font("Helvetica", size=11)
            for _ in range(pdf_pages):
                pdf.add_page()
                pdf.multi_cell(0, 6, body)
            pdf.output(str(path))
        elif kind == "html":
            path.write_text(f"<html><head><title>File {i}</title></head><body><p>{body}</p></body></html>")
        elif kind == "md":
            path.write_text(f"# File {i}\n\n{body}\n")
        else:
            path.write_text(body)


def parse_rounds(n: int, rounds: int, workers: list[int], pdf_pages: int, log) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="bench-parse-")) / "docs"
    write_files(folder, n, pdf_pages)
    times: dict[int, list[float]] = {w: [] for w in workers}
    for r in range(rounds):
        turn = workers[r % len(workers):] + workers[:r % len(workers)]
        for w in turn:
            started = time.perf_counter()
            docs, skipped = load_documents(folder, workers=w)
            times[w].append(time.perf_counter() - started)
            log(f"  round {r + 1} workers={w}: {len(docs)} documents in {times[w][-1]:.2f} s")
    base = workers[0]
    return {f"workers={w}": {"files_per_s_median": round(n / statistics.median(times[w]), 1),
                             f"speed_vs_workers={base}_median": round(statistics.median(
                                 [times[base][r] / times[w][r] for r in range(rounds)]), 2)}
            for w in workers}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["torch", "onnx", "onnx-int8"],
                        help="the first is the baseline the others are compared with")
    parser.add_argument("--passages", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32])
    parser.add_argument("--unsorted", action="store_true", help="also measure without sorting by length")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    parser.add_argument("--cache-dir", default="", help="ONNX export cache (default: the user's cache)")
    parser.add_argument("--parse-files", type=int, default=0, help="measure parsing N generated files instead")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--pdf-pages", type=int, default=1, help="pages of each generated PDF")
    parser.add_argument("--out", type=Path, default=None, help="JSON results")
    args = parser.parse_args(argv)
    log = lambda *a: print(*a, file=sys.stderr, flush=True)  # noqa: E731
    result: dict = {"machine": f"{os.cpu_count()} CPU cores"}
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
        result["torch_threads"] = args.threads
    if args.parse_files:
        result["parsing"] = parse_rounds(args.parse_files, args.rounds, args.workers, args.pdf_pages, log)
    else:
        texts, spans = scifact_passages(args.passages)
        result["passages"] = len(texts)
        result["embedding"] = {}
        for batch_size in args.batch_sizes:
            for sort in ([True, False] if args.unsorted else [True]):
                key = f"batch {batch_size}, {'sorted by length' if sort else 'file order'}"
                log(key)
                result["embedding"][key] = embed_rounds(args.backends, texts, spans, args.rounds, batch_size, sort,
                                                        args.cache_dir, log)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
