"""The benchmarks run end to end (CI smoke check): ``bench_retrieval.py --smoke``,
``bench_followups.py --smoke`` and the others' small runs, in subprocesses, with their results checked for shape and sanity, never
for timings.

``--smoke`` reads a handful of each set (20 XQuAD paragraphs, 18 SciFact abstracts, 8 SQuAD 2.0
paragraphs, 30 questions each; the first 3 cases of each follow-up part), so each script runs in about
half a minute here even with every alternative loaded (``--quick``, about 3 minutes, and the full run
are for the numbers in BENCHMARKS.md). The floors below are loose: a broken index, fusion or rerank
falls far under them, a small change in ranking does not.

They read the public sets from ../shared/benchmarks beside the checkout, or from the folder
``ASSISTANT_BENCHMARK_DATA`` names (read once here, before the per-test clean environment drops it, and
handed to every script); a missing data folder fails here with the script's own one-line message.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.config import DEFAULT_REFUSAL_THRESHOLD

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.integration
TIMEOUT_S = 300  # a smoke run takes ~35 s on 2 idle cores; this leaves room for a busy machine
DATA = {k: v for k, v in os.environ.items() if k == "ASSISTANT_BENCHMARK_DATA"}  # before clean_environment


def run(script: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **DATA, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 0, f"{script} failed:\n{result.stderr[-3000:]}"
    return result


@pytest.mark.parametrize("beside,variable,said", [
    (True, None, "{beside}"),  # ../shared/benchmarks beside the checkout
    (False, "data", "{data}"),  # the variable alone
    (True, "data", "{data}"),  # the variable wins
    (False, None, "error: no benchmark data: ../shared/benchmarks beside the checkout ({beside}) is missing and "
                  "ASSISTANT_BENCHMARK_DATA is not set; put the shared benchmarks folder there or set "
                  "ASSISTANT_BENCHMARK_DATA to it"),
    (True, "nowhere", "error: no benchmark data: ASSISTANT_BENCHMARK_DATA={nowhere} is not a folder; point it at "
                      "the shared benchmarks folder, or unset it to read ../shared/benchmarks beside the checkout "
                      "({beside})"),
])
def test_the_benchmark_data_is_found_from_the_checkout_or_the_variable(tmp_path, beside, variable, said):
    """bench_data.py, the one place that decides (.ci/run asks it before installing anything): a checkout
    at tmp/checkout, the data beside it at tmp/shared/benchmarks or wherever the variable says."""
    import shutil

    checkout = tmp_path / "checkout" / "benchmarks"
    checkout.mkdir(parents=True)
    shutil.copy(ROOT / "benchmarks" / "bench_data.py", checkout)
    places = {"beside": tmp_path / "shared" / "benchmarks", "data": tmp_path / "data", "nowhere": tmp_path / "nowhere"}
    places["data"].mkdir()
    if beside:
        places["beside"].mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k != "ASSISTANT_BENCHMARK_DATA"}
    if variable:
        env["ASSISTANT_BENCHMARK_DATA"] = str(places[variable])
    result = subprocess.run([sys.executable, str(checkout / "bench_data.py")], env=env, capture_output=True,
                            text=True, timeout=60)
    expected = said.format(**{k: v.resolve() if k == "beside" else v for k, v in places.items()})
    if said.startswith("error"):
        assert (result.returncode, result.stdout, result.stderr) == (1, "", expected + "\n")
    else:
        assert (result.returncode, result.stdout) == (0, expected + "\n")


def share(value) -> bool:
    return isinstance(value, float) and 0.0 <= value <= 1.0


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "smoke.json"
    result = run("bench_retrieval.py", "--smoke", "--out", str(out))
    assert "# Retrieval benchmark (smoke" in result.stdout
    return json.loads(out.read_text(encoding="utf-8"))


def test_smoke_run_holds_every_section(smoke):
    assert smoke["mode"] == "smoke"
    assert set(smoke) >= {"xquad", "scifact", "speed", "indexing", "squad2", "scale", "peak_rss_mb_assistant"}


def test_smoke_retrieval_rows_cover_the_assistant_and_the_alternatives(smoke):
    systems = [row["system"] for row in smoke["xquad"]["retrieval"]]
    assert systems == ["assistant (weighted fusion + sentence rerank)", "assistant, no rerank",
                       "assistant parts, plain RRF", "assistant dense only", "assistant BM25 only",
                       "bm25s", "dense (SentenceTransformer + FAISS)", "llama-index VectorStoreIndex", "txtai hybrid"]
    for table in (smoke["xquad"]["retrieval"], smoke["scifact"]["retrieval"]):
        for row in table:
            assert all(share(row[m]) for m in ("hit@1", "hit@5", "MRR@10", "nDCG@10")), row
            assert row["hit@1"] <= row["hit@5"]


def test_smoke_assistant_retrieval_is_sane(smoke):
    """Smoke level only: 30 questions over 20 paragraphs (full-run figures: BENCHMARKS.md)."""
    best = smoke["xquad"]["retrieval"][0]
    assert best["hit@5"] >= 0.9 and best["hit@1"] >= 0.75
    assert smoke["scifact"]["retrieval"][0]["nDCG@10"] >= 0.6


def test_smoke_answers_speed_and_refusal_curve(smoke):
    answers = smoke["xquad"]["answers"]
    assert share(answers["contains_gold"]) and share(answers["refused"]) and answers["median_words"] > 0
    speed = smoke["speed"]
    assert {"floor_encode_plus_faiss", "retrieval", "ask_first_pass", "ask"} <= set(speed)
    assert speed["ask"]["p50_ms"] > 0 and speed["ask_p50_ratio"] > 0
    indexing = smoke["indexing"]
    assert indexing["passages"] > 0 and indexing["ratio"] > 0
    curve = smoke["squad2"]["curve"]
    thresholds = [p["threshold"] for p in curve]
    assert thresholds == sorted(thresholds) and smoke["squad2"]["default"]["threshold"] == DEFAULT_REFUSAL_THRESHOLD
    assert all(share(p["refusal_recall"]) and share(p["answerable_accuracy"]) for p in curve)
    recalls = [p["refusal_recall"] for p in curve]
    assert recalls == sorted(recalls)  # a higher threshold never refuses fewer unanswerable questions
    assert smoke["squad2"]["unanswerable"] > 0 and smoke["squad2"]["answerable"] > 0


def test_smoke_scale_compares_exact_and_hnsw(smoke):
    scale = smoke["scale"]
    assert scale["passages"] > 100
    recall = scale["hnsw"]["by_efSearch"]
    assert all(share(v["recall@10"]) for v in recall.values())
    assert recall[str(scale["hnsw"]["default_efSearch"])]["recall@10"] >= 0.9
    assert scale["exact"]["size_mb"] > 0 and scale["bm25"]["size_mb"] > 0


def test_follow_up_benchmark_runs(tmp_path):
    out = tmp_path / "followups.json"
    result = run("bench_followups.py", "--smoke", "--json", str(out))
    data = json.loads(out.read_text(encoding="utf-8"))
    assert "rules" in result.stdout and "always" in result.stdout
    assert data["smoke"] is True
    assert set(data["strategies"]) == {"none", "rules", "always", "previous"}
    for strategy in data["strategies"].values():
        for part in ("multiturn", "topic_switch", "all"):
            summary = strategy["summary"][part]
            assert summary["cases"] == 3 and share(summary["accuracy"]), summary
    none = data["strategies"]["none"]["summary"]
    assert none["multiturn"]["rewritten"] == 0  # the question alone is never rewritten
    assert data["strategies"]["always"]["summary"]["multiturn"]["rewritten"] == 3  # always joined


def test_api_benchmark_runs(tmp_path):
    """bench_api.py --smoke: the API beside in-process ask(), and streaming clients at once (shape only)."""
    out = tmp_path / "api.json"
    run("bench_api.py", "--smoke", "--json", str(out))
    data = json.loads(out.read_text(encoding="utf-8"))
    overhead, concurrency = data["overhead"], data["concurrency"]
    assert overhead["questions"] == 6 and overhead["answers_differ"] == 0
    assert overhead["p50_ratio"] > 0 and overhead["in_process_p50_ms"] > 0
    assert (concurrency["clients"], concurrency["questions_each"], concurrency["answers"]) == (4, 3, 12)
    assert concurrency["errors"] == 0 and concurrency["answers_not_their_own"] == 0


def test_evaluation_tab_benchmark_runs(tmp_path):
    """bench_evaluation_tab.py --smoke: the Evaluation tab's run beside assistant eval's (shape only)."""
    out = tmp_path / "tab.json"
    run("bench_evaluation_tab.py", "--smoke", "--json", str(out))
    data = json.loads(out.read_text(encoding="utf-8"))
    assert (data["cases"], data["rounds"], data["passed"]) == (6, 1, 6)
    assert data["ratio_median"] > 0 and len(data["tab_s"]) == len(data["cli_s"]) == 1


@pytest.fixture(scope="module")
def ingestion(tmp_path_factory) -> tuple[dict, dict]:
    """bench_ingestion.py on a few SciFact passages, and on generated files (module scope: it reads the
    data folder from ASSISTANT_BENCHMARK_DATA before the per-test clean environment)."""
    tmp = tmp_path_factory.mktemp("ingestion")
    out = tmp / "ingestion.json"
    run("bench_ingestion.py", "--passages", "24", "--rounds", "1", "--batch-sizes", "8", "--unsorted",
        "--cache-dir", str(tmp / "onnx"), "--out", str(out))
    embedding = json.loads(out.read_text(encoding="utf-8"))["embedding"]
    run("bench_ingestion.py", "--parse-files", "40", "--rounds", "1", "--out", str(out))
    return embedding, json.loads(out.read_text(encoding="utf-8"))["parsing"]


def test_ingestion_benchmark_compares_backends_and_parsing(ingestion):
    """Every backend's rate and its cosine to torch; files read in this process and by two workers."""
    embedding, parsing = ingestion
    assert list(embedding) == ["batch 8, sorted by length", "batch 8, file order"]
    for rows in embedding.values():
        assert list(rows) == ["torch", "onnx", "onnx-int8"]
        assert rows["onnx"]["cosine_to_torch_min"] > 0.99999
        assert 0.95 < rows["onnx-int8"]["cosine_to_torch_min"] < 0.99999
        assert all(row["passages_per_s_median_round"] > 0 for row in rows.values())
    assert list(parsing) == ["workers=1", "workers=2"] and parsing["workers=2"]["files_per_s_median"] > 0


@pytest.fixture(scope="module")
def retrieval_only(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "retrieval-only.json"
    run("bench_retrieval.py", "--smoke", "--retrieval-only", "--embed-backend", "onnx", "--out", str(out))
    return json.loads(out.read_text(encoding="utf-8"))


def test_retrieval_only_runs_with_an_onnx_backend(retrieval_only):
    assert retrieval_only["embed_backend"] == "onnx"
    assert share(retrieval_only["xquad"]["hit@1"]) and share(retrieval_only["scifact"]["nDCG@10"])


def test_stores_benchmark_serves_from_each_backend():
    """``bench_stores.py`` end to end at 300 passages: each backend loads, searches exactly and by HNSW,
    and two app processes search one store at once; the sizes and timings are only checked for sense."""
    result = run("bench_stores.py", "--passages", "300", "--queries", "10", "--throughput", "1")
    rows = {row["backend"]: row for row in map(json.loads, result.stdout.strip().splitlines())}
    assert list(rows) == ["folder", "postgres", "milvus"]
    for name, row in rows.items():
        assert row["passages"] == 300 and row["update_s"] > 0 and row["disk_mb"] > 0, row
        assert row["rss_mb"] <= row["rss_served_mb"] <= row["peak_rss_mb"], row
        assert row["search"]["exact"]["hybrid_p50_ms"] > 0, row
        assert row["throughput"]["errors"] == [] and row["throughput"]["ratio"] > 0, row
        if name != "folder":  # the databases switch between exact and HNSW search without a rebuild
            assert 0.8 <= row["search"]["hnsw"]["recall@10"] <= 1.0, row
    assert rows["milvus"]["milvus_server_rss_mb"] > 0


def test_reader_comparison_replays_both_readers_on_the_same_candidates(tmp_path):
    """bench_reader.py --against: the bundled reader beside a reader file (here the same file, so the two
    replays agree to the last figure), on a few questions of each set."""
    rows = tmp_path / "vs.json"
    result = run("bench_reader.py", "--against", "assistant/models/reader-int8.onnx", "--limit", "12",
                 "--rows", str(rows))
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(summary) == {f"{s}/{w}" for s in ("squad2", "xquad") for w in ("rules", "bundled", "other")}
    for name in ("squad2", "xquad"):
        assert summary[f"{name}/bundled"] == summary[f"{name}/other"]
        assert summary[f"{name}/rules"]["questions"] == summary[f"{name}/bundled"]["questions"] > 0
        assert share(summary[f"{name}/bundled"]["best_holds_answer"])
    assert share(summary["squad2/bundled"]["auc_best_p"])  # the slice's first questions hold unanswerables
    read = json.loads(rows.read_text())
    first = read["xquad"][0]
    assert len(first["score"]) == len(first["holds"]) == len(first["bundled"]) == len(first["other"]) > 0
    assert first["bundled"] == first["other"]
