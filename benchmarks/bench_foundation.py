"""Foundation benchmark: index build, re-index, ask() latency, cold start and peak memory.

Measures the real pipeline (all-MiniLM-L6-v2 from the installed wheel, on CPU) through the public API
only. Every measurement that needs a clean process runs in a fresh ``sys.executable`` subprocess, so
model loading and import costs are counted where a user would pay them. Nothing is asserted and
nothing is downloaded: this script only reports numbers.

    .venv/bin/python benchmarks/bench_foundation.py                      # seeds/, 5 repeats
    .venv/bin/python benchmarks/bench_foundation.py --json /tmp/bench.json --repeat 10
    .venv/bin/python benchmarks/bench_foundation.py --docs my_docs --gold my_gold.yaml

What is measured (all wall time, ``time.perf_counter``):

1. build      ``Assistant.from_folder(docs, rebuild=True)`` into a fresh temporary index, in a fresh
              process: once cold (model load included) and once after the model was loaded and warmed
              in that process (model load excluded); then a no-change re-index in the warm process.
2. ask        warm ``ask()`` latency, p50/p95 over every gold case, ``--repeat`` passes after one warm-up
              pass (the warm-up pass is reported too: it is the only pass that embeds sentences, since
              the extractive answerer caches sentence vectors). Multi-turn cases run in a ``chat()``
              and only their last turn is timed.
3. cold start a new process from spawn to the first answer on the already-built index (median of
              ``--cold-runs``), with the default ``update=True`` and with ``update=False``.
4. memory     peak RSS (``ru_maxrss``) of the building process and of the answering process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Children inherit these: no hub access, no tokenizer thread pool fighting torch for 2 cores.
CHILD_ENV = {
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "PYTHONUNBUFFERED": "1",
}
os.environ.update(CHILD_ENV)

RESULT_TAG = "BENCH_RESULT "
ANSWERED_TAG = "BENCH_ANSWERED"


# ====================================================================== helpers shared by both sides

def _maxrss_mb(who: int = resource.RUSAGE_SELF) -> float:
    # Linux reports ru_maxrss in KiB (macOS in bytes).
    scale = 1 / (1024 * 1024) if sys.platform == "darwin" else 1 / 1024
    return round(resource.getrusage(who).ru_maxrss * scale, 1)


def _settings(show_progress: bool = False):
    from assistant import Settings

    # Plain defaults (no assistant.toml, no ASSISTANT_* env) so runs are comparable.
    return Settings(show_progress=show_progress)


def _emit(result: dict) -> None:
    print(RESULT_TAG + json.dumps(result), flush=True)


def _quiet_logs() -> None:
    import logging

    logging.basicConfig(level=logging.ERROR)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass


# ====================================================================== child processes

def worker_build(docs: str, index_dir: str, warm_model: bool) -> None:
    """Build ``docs`` into the empty ``index_dir``; with ``warm_model`` load the model first."""
    t0 = time.perf_counter()
    from assistant import Assistant
    from assistant.embeddings import load_embedder

    _quiet_logs()
    settings = _settings()
    out: dict = {"import_s": time.perf_counter() - t0}

    embedder = None
    if warm_model:
        t = time.perf_counter()
        embedder = load_embedder(settings.embed_model, settings.embed_batch_size, settings.embed_backend,
                                 settings.embed_url, settings.onnx_cache_dir)
        embedder.get_query_embedding("warm up")  # loads the model and runs one forward pass
        embedder.get_text_embedding_batch(["warm up the batch path", "second text"])
        out["model_load_s"] = time.perf_counter() - t

    t = time.perf_counter()
    bot = Assistant.from_folder(docs, index_dir=index_dir, settings=settings, rebuild=True, embedder=embedder)
    out["build_s"] = time.perf_counter() - t
    out["rss_after_build_mb"] = _maxrss_mb()
    report = bot.last_update
    out["documents"] = len(bot.documents)
    out["passages"] = bot.passage_count
    out["passages_embedded"] = report.passages_embedded
    out["characters"] = sum(len(bot.document_text(d.doc_id)) for d in bot.documents)

    if warm_model:
        # No-change re-index in the same (warm) process: documents are re-read and hashed, nothing embedded.
        t = time.perf_counter()
        again = Assistant.from_folder(docs, index_dir=index_dir, settings=settings, embedder=bot.embedder)
        out["reindex_nochange_s"] = time.perf_counter() - t
        out["reindex_report"] = again.last_update.summary()
        out["reindex_touched"] = again.last_update.touched
    out["maxrss_mb"] = _maxrss_mb()
    _emit(out)


def _load_cases(gold: str) -> list[dict]:
    import yaml

    cases = yaml.safe_load(Path(gold).read_text(encoding="utf-8")) or []
    out = []
    for i, case in enumerate(cases):
        turns = case.get("turns") or ([case["question"]] if case.get("question") else [])
        if turns:
            out.append({"id": str(case.get("id", i)), "turns": [str(t) for t in turns]})
    return out


def worker_ask(docs: str, index_dir: str, gold: str, repeat: int) -> None:
    """Warm ask() latency over the gold cases on the already-built index."""
    t0 = time.perf_counter()
    from assistant import Assistant

    _quiet_logs()
    out: dict = {"import_s": time.perf_counter() - t0}
    cases = _load_cases(gold)

    t = time.perf_counter()
    bot = Assistant.from_folder(docs, index_dir=index_dir, settings=_settings(), update=False)
    out["open_index_s"] = time.perf_counter() - t
    t = time.perf_counter()
    bot.warm_up()
    out["warm_up_s"] = time.perf_counter() - t

    def one_pass() -> tuple[list[float], int]:
        times, refused = [], 0
        for case in cases:
            *earlier, last = case["turns"]
            if earlier:
                chat = bot.chat()
                for turn in earlier:
                    chat.ask(turn)
                t = time.perf_counter()
                answer = chat.ask(last)
            else:
                t = time.perf_counter()
                answer = bot.ask(last)
            times.append(time.perf_counter() - t)
            refused += answer.refused
        return times, refused

    first, refused = one_pass()
    out["first_pass_ms"] = [round(x * 1000, 3) for x in first]
    warm: list[list[float]] = []
    for _ in range(repeat):
        times, _ = one_pass()
        warm.append(times)
    out["warm_ms"] = [[round(x * 1000, 3) for x in times] for times in warm]
    out["case_ids"] = [c["id"] for c in cases]
    out["multiturn"] = sum(len(c["turns"]) > 1 for c in cases)
    out["refused"] = refused
    out["maxrss_mb"] = _maxrss_mb()
    import torch

    out["torch_threads"] = torch.get_num_threads()
    _emit(out)


# Run with `python -c`: the whole user path from a bare interpreter to the first printed answer.
COLD_START_CODE = textwrap.dedent(
    """
    import time; _t0 = time.perf_counter()
    import json, resource, sys
    from assistant import Assistant, Settings
    _t1 = time.perf_counter()
    docs, index_dir, update, question = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4]
    bot = Assistant.from_folder(docs, index_dir=index_dir, settings=Settings(show_progress=False), update=update)
    _t2 = time.perf_counter()
    answer = bot.ask(question)
    _t3 = time.perf_counter()
    print(answer.text[:60].replace("\\n", " "), flush=True)
    print("BENCH_ANSWERED", flush=True)
    print("BENCH_RESULT " + json.dumps({
        "import_s": _t1 - _t0, "open_index_s": _t2 - _t1, "first_ask_s": _t3 - _t2,
        "in_process_s": _t3 - _t0, "refused": answer.refused,
        "maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }), flush=True)
    """
)


# ====================================================================== the parent

def _busy_cpu_s() -> float | None:
    """CPU seconds the whole machine has been busy (all cores), from /proc/stat; None off Linux."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def run_child(args: list[str]) -> dict:
    """Run ``sys.executable args`` in the repo root; return its result, wall times and peak RSS.

    ``spawn_to_answer_s`` is parent-side: from just before spawning to reading the child's
    ANSWERED line (when it prints one). ``wall_s`` runs to process exit. ``child_maxrss_mb`` comes
    from ``os.wait4`` for exactly this child (RUSAGE_CHILDREN would be the max over all children).
    """
    env = {**os.environ, **CHILD_ENV, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    with tempfile.TemporaryFile(mode="w+") as err:
        busy0, own0 = _busy_cpu_s(), time.process_time()
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=err,
                                text=True, bufsize=1)
        answered, result, lines = None, None, []
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(ANSWERED_TAG) and answered is None:
                answered = time.perf_counter() - t0
            elif line.startswith(RESULT_TAG):
                result = json.loads(line[len(RESULT_TAG):])
            else:
                lines.append(line)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        busy1, own1 = _busy_cpu_s(), time.process_time()
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0 or result is None:
            err.seek(0)
            raise RuntimeError(f"child {args[:2]} failed (exit {proc.returncode}):\n{''.join(lines)}{err.read()[-4000:]}")
    result["wall_s"] = wall
    result["child_maxrss_mb"] = round(usage.ru_maxrss / 1024, 1)
    result["child_cpu_s"] = usage.ru_utime + usage.ru_stime
    if busy0 is not None and busy1 is not None:
        # CPU the rest of the machine used while this child ran, in cores: > ~0.2 means the
        # timings were taken on a busy machine and are inflated (torch threads wait for cores).
        others = (busy1 - busy0) - result["child_cpu_s"] - (own1 - own0)
        result["other_load_cores"] = round(max(others, 0.0) / wall, 2)
    if answered is not None:
        result["spawn_to_answer_s"] = answered
    return result


def machine() -> dict:
    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": cpu_model or platform.processor(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "python": platform.python_version(),
        "torch": version("torch"),
        "sentence_transformers": version("sentence-transformers"),
        "transformers": version("transformers"),
        "llama_index_core": version("llama-index-core"),
        "faiss_cpu": version("faiss-cpu"),
        "bm25s": version("bm25s"),
    }


def _resolve(path: str) -> Path:
    p = Path(path).expanduser()
    return (p if p.is_absolute() or p.exists() else ROOT / p).resolve()


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), without importing numpy."""
    xs = sorted(values)
    if not xs:
        return float("nan")
    pos = (len(xs) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def latency_summary(ms: list[float]) -> dict:
    return {"n": len(ms), "p50_ms": percentile(ms, 50), "p95_ms": percentile(ms, 95),
            "mean_ms": statistics.fmean(ms) if ms else float("nan"), "max_ms": max(ms, default=float("nan"))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", default="seeds", help="documents folder (default: seeds)")
    parser.add_argument("--gold", default="tests/gold/seed.yaml", help="gold YAML whose questions are asked")
    parser.add_argument("--repeat", type=int, default=5, help="timed passes over the gold set (default 5)")
    parser.add_argument("--cold-runs", type=int, default=3, help="cold-start runs per mode (default 3)")
    parser.add_argument("--json", dest="json_path", help="also write all numbers to this JSON file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary index folders")
    parser.add_argument("--threads", type=int, help="torch/OpenMP threads in the measured processes "
                        "(sets OMP_NUM_THREADS; default: torch's own choice, one per core)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--worker-index", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    # Relative paths are taken from the current folder, else from the repository root.
    docs = str(_resolve(args.docs))
    gold = str(_resolve(args.gold))

    if args.worker == "build-cold":
        worker_build(docs, args.worker_index, warm_model=False)
        return 0
    if args.worker == "build-warm":
        worker_build(docs, args.worker_index, warm_model=True)
        return 0
    if args.worker == "ask":
        worker_ask(docs, args.worker_index, gold, args.repeat)
        return 0

    if not Path(docs).is_dir():
        parser.error(f"documents folder {docs} does not exist")
    if not Path(gold).is_file():
        parser.error(f"gold file {gold} does not exist")
    if args.repeat < 1 or args.cold_runs < 1:
        parser.error("--repeat and --cold-runs must be at least 1")
    if args.threads is not None:
        if args.threads < 1:
            parser.error("--threads must be at least 1")
        CHILD_ENV["OMP_NUM_THREADS"] = CHILD_ENV["MKL_NUM_THREADS"] = str(args.threads)

    info = machine()
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()), flush=True)
    print(f"docs: {docs}   gold: {gold}   repeat: {args.repeat}   cold runs: {args.cold_runs}   threads: {args.threads or 'torch default'}", flush=True)
    script = str(Path(__file__).resolve())
    tmp = Path(tempfile.mkdtemp(prefix="bench-foundation-"))
    results: dict = {"machine": info, "docs": docs, "gold": gold, "repeat": args.repeat, "threads": args.threads,
                     "cold_runs": args.cold_runs, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    results["loadavg_start"] = os.getloadavg()[0]  # lags; each step's other_load_cores is the real check
    started = time.perf_counter()
    try:
        def step(name: str) -> None:
            print(f"[{time.perf_counter() - started:6.1f}s] {name} ...", file=sys.stderr, flush=True)

        step("build, cold process (model load included)")
        cold = run_child([script, "--docs", docs, "--worker", "build-cold", "--worker-index", str(tmp / "index-cold")])
        step("build, model warmed first; then no-change re-index")
        warm = run_child([script, "--docs", docs, "--worker", "build-warm", "--worker-index", str(tmp / "index")])
        results["build"] = {"cold_process": cold, "warm_model": warm}

        step(f"ask latency: 1 warm-up + {args.repeat} passes")
        ask = run_child([script, "--docs", docs, "--gold", gold, "--repeat", str(args.repeat),
                         "--worker", "ask", "--worker-index", str(tmp / "index")])
        warm_ms = [x for times in ask["warm_ms"] for x in times]
        ask["summary_warm"] = latency_summary(warm_ms)
        ask["summary_first_pass"] = latency_summary(ask["first_pass_ms"])
        per_case = {cid: statistics.median(col) for cid, col in zip(ask["case_ids"], zip(*ask["warm_ms"]))}
        ask["slowest_cases_ms"] = dict(sorted(per_case.items(), key=lambda kv: -kv[1])[:5])
        results["ask"] = ask

        question = _load_cases(gold)[0]["turns"][-1]
        results["cold_start"] = {"question": question}
        for mode, flag in (("update", "1"), ("no_update", "0")):
            step(f"cold start x{args.cold_runs} (update={flag == '1'})")
            runs = [run_child(["-c", COLD_START_CODE, docs, str(tmp / "index"), flag, question])
                    for _ in range(args.cold_runs)]
            results["cold_start"][mode] = {
                "runs": runs,
                "median_spawn_to_answer_s": statistics.median(r["spawn_to_answer_s"] for r in runs),
                "median_import_s": statistics.median(r["import_s"] for r in runs),
                "median_open_index_s": statistics.median(r["open_index_s"] for r in runs),
                "median_first_ask_s": statistics.median(r["first_ask_s"] for r in runs),
                "median_maxrss_mb": statistics.median(r["child_maxrss_mb"] for r in runs),
            }
        results["parent_rusage_children_maxrss_mb"] = _maxrss_mb(resource.RUSAGE_CHILDREN)
        results["total_s"] = time.perf_counter() - started
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept index folders in {tmp}", file=sys.stderr)

    print_table(results)
    if args.json_path:
        Path(args.json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_path).write_text(json.dumps(results, indent=1), encoding="utf-8")
        print(f"\nwrote {args.json_path}")
    return 0


def print_table(r: dict) -> None:
    b_cold, b_warm = r["build"]["cold_process"], r["build"]["warm_model"]
    ask, cs = r["ask"], r["cold_start"]
    sw, sf = ask["summary_warm"], ask["summary_first_pass"]
    rows: list[tuple[str, str, str]] = []

    def row(section: str, what: str, value: str) -> None:
        rows.append((section, what, value))

    corpus = f"{b_warm['documents']} docs, {b_warm['passages']} passages, {b_warm['characters']:,} chars"
    row("corpus", "indexed", corpus)
    row("build", "fresh process, spawn -> exit", f"{b_cold['wall_s']:.2f} s")
    row("build", "  imports", f"{b_cold['import_s']:.2f} s")
    row("build", "  from_folder(rebuild=True), model load incl.", f"{b_cold['build_s']:.2f} s")
    row("build", "model load + warm-up (separately)", f"{b_warm['model_load_s']:.2f} s")
    row("build", "from_folder(rebuild=True), model warm", f"{b_warm['build_s']:.3f} s")
    row("build", "no-change re-index (warm process)",
        f"{b_warm['reindex_nochange_s'] * 1000:.1f} ms  [{b_warm['reindex_report']}]")
    row("build", "peak RSS, cold build process", f"{b_cold['child_maxrss_mb']:.0f} MB")
    row("build", "peak RSS, warm build process", f"{b_warm['child_maxrss_mb']:.0f} MB")
    row("ask", f"warm p50 / p95 ({sw['n']} asks, {r['repeat']} passes)",
        f"{sw['p50_ms']:.1f} / {sw['p95_ms']:.1f} ms  (mean {sw['mean_ms']:.1f}, max {sw['max_ms']:.1f})")
    row("ask", f"first pass p50 / p95 ({sf['n']} asks, uncached)",
        f"{sf['p50_ms']:.1f} / {sf['p95_ms']:.1f} ms  (mean {sf['mean_ms']:.1f}, max {sf['max_ms']:.1f})")
    row("ask", "gold cases / multi-turn / refused", f"{len(ask['case_ids'])} / {ask['multiturn']} / {ask['refused']}")
    row("ask", "torch threads", str(ask["torch_threads"]))
    row("ask", "slowest cases (median warm)",
        ", ".join(f"{k} {v:.1f}" for k, v in list(ask["slowest_cases_ms"].items())[:3]) + " ms")
    row("ask", "answer process: open index / warm_up", f"{ask['open_index_s']:.2f} s / {ask['warm_up_s']:.2f} s")
    row("ask", "peak RSS, answering process", f"{ask['child_maxrss_mb']:.0f} MB")
    for mode, label in (("update", "update=True (default)"), ("no_update", "update=False")):
        c = cs[mode]
        runs = ", ".join(f"{x['spawn_to_answer_s']:.2f}" for x in c["runs"])
        row("cold start", f"spawn -> first answer, {label}", f"{c['median_spawn_to_answer_s']:.2f} s  (runs {runs})")
        row("cold start", "  import / open index / first ask (median)",
            f"{c['median_import_s']:.2f} / {c['median_open_index_s']:.2f} / {c['median_first_ask_s']:.2f} s")
        row("cold start", "  peak RSS (median)", f"{c['median_maxrss_mb']:.0f} MB")
    row("total", "benchmark wall time", f"{r['total_s']:.1f} s")
    loads = _other_loads(r)
    if loads:
        row("total", "other processes' CPU load (max over steps)", f"{max(loads.values()):.2f} cores  "
            f"(load avg at start {r['loadavg_start']:.2f})")

    w0 = max(len(s) for s, _, _ in rows)
    w1 = max(len(w) for _, w, _ in rows)
    print()
    print(f"{'section':<{w0}}  {'measure':<{w1}}  value")
    print(f"{'-' * w0}  {'-' * w1}  {'-' * 40}")
    last = None
    for section, what, value in rows:
        print(f"{section if section != last else '':<{w0}}  {what:<{w1}}  {value}")
        last = section
    busy = {k: v for k, v in loads.items() if v > 0.2}
    if busy:
        print("\nwarning: other processes used CPU during " + ", ".join(f"{k} ({v:.2f} cores)" for k, v in busy.items())
              + f" on a {r['machine']['cpus_usable']}-core machine; those timings are inflated, rerun when idle")


def _other_loads(r: dict) -> dict[str, float]:
    steps = {"build (cold)": [r["build"]["cold_process"]], "build (warm)": [r["build"]["warm_model"]],
             "ask": [r["ask"]], "cold start": r["cold_start"]["update"]["runs"] + r["cold_start"]["no_update"]["runs"]}
    out = {}
    for name, runs in steps.items():
        values = [x["other_load_cores"] for x in runs if "other_load_cores" in x]
        if values:
            out[name] = max(values)
    return out


if __name__ == "__main__":
    sys.exit(main())
