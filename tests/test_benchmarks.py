"""The benchmarks run end to end (CI smoke check): ``bench_retrieval.py --quick`` and the follow-up
benchmark, in subprocesses, with their results checked for shape and sanity, never for timings.

They read the public sets from ../shared/benchmarks (``ASSISTANT_BENCHMARK_DATA`` overrides; .ci/run
sets it); a missing data folder fails here with the script's own one-line message.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.integration


def run(script: str, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{script} failed:\n{result.stderr[-3000:]}"
    return result


def share(value) -> bool:
    return isinstance(value, float) and 0.0 <= value <= 1.0


@pytest.fixture(scope="module")
def quick(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    result = run("bench_retrieval.py", "--quick", "--out", str(out))
    assert "# Retrieval benchmark (quick" in result.stdout
    return json.loads(out.read_text(encoding="utf-8"))


def test_quick_run_holds_every_section(quick):
    assert quick["mode"] == "quick"
    assert set(quick) >= {"xquad", "scifact", "speed", "indexing", "squad2", "scale", "peak_rss_mb_assistant"}


def test_quick_retrieval_rows_cover_the_assistant_and_the_alternatives(quick):
    systems = [row["system"] for row in quick["xquad"]["retrieval"]]
    assert systems == ["assistant (weighted fusion + sentence rerank)", "assistant, no rerank",
                       "assistant parts, plain RRF", "assistant dense only", "assistant BM25 only",
                       "bm25s", "dense (SentenceTransformer + FAISS)", "llama-index VectorStoreIndex", "txtai hybrid"]
    for table in (quick["xquad"]["retrieval"], quick["scifact"]["retrieval"]):
        for row in table:
            assert all(share(row[m]) for m in ("hit@1", "hit@5", "MRR@10", "nDCG@10")), row
            assert row["hit@1"] <= row["hit@5"]


def test_quick_assistant_retrieval_is_sane(quick):
    """Smoke level only: a broken index or fusion drops far below these (full-run figures: BENCHMARKS.md)."""
    best = quick["xquad"]["retrieval"][0]
    assert best["hit@5"] >= 0.9 and best["hit@1"] >= 0.8
    assert quick["scifact"]["retrieval"][0]["nDCG@10"] >= 0.6


def test_quick_answers_speed_and_refusal_curve(quick):
    answers = quick["xquad"]["answers"]
    assert share(answers["contains_gold"]) and share(answers["refused"]) and answers["median_words"] > 0
    speed = quick["speed"]
    assert {"floor_encode_plus_faiss", "retrieval", "ask_first_pass", "ask"} <= set(speed)
    assert speed["ask"]["p50_ms"] > 0 and speed["ask_p50_ratio"] > 0
    indexing = quick["indexing"]
    assert indexing["passages"] > 0 and indexing["ratio"] > 0
    curve = quick["squad2"]["curve"]
    thresholds = [p["threshold"] for p in curve]
    assert thresholds == sorted(thresholds) and quick["squad2"]["default"]["threshold"] == 0.5
    recalls = [p["refusal_recall"] for p in curve]
    assert recalls == sorted(recalls)  # a higher threshold never refuses fewer unanswerable questions
    assert quick["squad2"]["unanswerable"] == 320 and quick["squad2"]["answerable"] == 386


def test_quick_scale_compares_exact_and_hnsw(quick):
    scale = quick["scale"]
    assert scale["passages"] > 100
    recall = scale["hnsw"]["by_efSearch"]
    assert all(share(v["recall@10"]) for v in recall.values())
    assert recall[str(scale["hnsw"]["default_efSearch"])]["recall@10"] >= 0.9
    assert scale["exact"]["size_mb"] > 0 and scale["bm25"]["size_mb"] > 0


def test_follow_up_benchmark_runs(tmp_path):
    out = tmp_path / "followups.json"
    result = run("bench_followups.py", "--json", str(out))
    data = json.loads(out.read_text(encoding="utf-8"))
    assert "rules" in result.stdout and "always" in result.stdout
    assert set(data["strategies"]) == {"none", "rules", "always", "previous"}
    none = data["strategies"]["none"]["summary"]
    assert none["multiturn"]["rewritten"] == 0  # the question alone is never rewritten
