"""The OpenAI-compatible API against an in-process ``ask()``: overhead and many streaming clients at once.

    .venv/bin/python benchmarks/bench_api.py               # seed gold questions, seeds/, 16 clients x 20
    .venv/bin/python benchmarks/bench_api.py --smoke       # a few questions, 4 clients x 3: checks it runs
    .venv/bin/python benchmarks/bench_api.py --json /tmp/api.json

One process: the seed folder is indexed once; the same ``Library`` answers in process and behind the API
(``assistant.api.server.build_server`` under uvicorn on a free loopback port, in a thread). Two parts:

* **overhead**: each gold question (first turn only) asked in turn, in process (``Assistant.ask``) and
  over HTTP with the official ``openai`` client (non-streaming, one connection kept alive); the ratio of
  the two p50s (and of p90s) is the API's overhead. Alternating the two per question keeps them side by
  side on a noisy machine.
* **concurrency**: N clients at once, each a thread with its own ``openai`` client, each asking M
  streaming questions as one growing conversation (every request carries the client's own earlier
  turns). Counted: errors, answers whose text differs from the in-process answer to the same question
  with the same history (a client shown another client's conversation would differ), p50/p90 latency.

Figures go to BENCHMARKS.md ("HTTP API"); ``--smoke`` runs in seconds for tests/test_benchmarks.py and
its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.evaluation import load_gold  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def quantile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def start_server(library, port: int):
    import uvicorn

    from assistant.api.keys import ApiKeys
    from assistant.api.server import build_server

    server = uvicorn.Server(uvicorn.Config(build_server(library, ApiKeys(), mcp=False), host="127.0.0.1",
                                           port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return server, thread


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gold", default=str(ROOT / "tests" / "gold" / "seed.yaml"))
    parser.add_argument("--docs", default=str(ROOT / "seeds"))
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--questions", type=int, default=20, help="questions per client")
    parser.add_argument("--smoke", action="store_true", help="a few questions, 4 clients x 3 (checks it runs)")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args(argv)
    if args.smoke:
        args.clients, args.questions = 4, 3

    import tempfile

    import openai

    from assistant import Settings
    from assistant.config import Collection
    from assistant.library import Library

    questions = [c.question for c in load_gold(args.gold) if c.question]
    if args.smoke:
        questions = questions[:6]
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(docs_dir=args.docs, index_dir=Path(tmp) / "index", show_progress=False,
                            uploads_dir=str(Path(tmp) / "uploads"))
        library = Library({"seeds": Collection("seeds", settings)})
        bot = library.get("seeds")
        bot.warm_up()
        port = free_port()
        server, thread = start_server(library, port)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="-", max_retries=0, timeout=120)
        for q in questions[:3]:  # warm both paths
            bot.ask(q)
            client.chat.completions.create(model="seeds", messages=[{"role": "user", "content": q}])

        local, remote, differ = [], [], 0
        for q in questions:
            t = time.perf_counter()
            expected = bot.ask(q)
            local.append(time.perf_counter() - t)
            t = time.perf_counter()
            reply = client.chat.completions.create(model="seeds", messages=[{"role": "user", "content": q}])
            remote.append(time.perf_counter() - t)
            differ += reply.choices[0].message.content != expected.text
        overhead = {
            "questions": len(questions), "in_process_p50_ms": round(statistics.median(local) * 1000, 2),
            "http_p50_ms": round(statistics.median(remote) * 1000, 2),
            "p50_ratio": round(statistics.median(remote) / statistics.median(local), 3),
            "p90_ratio": round(quantile(remote, 0.9) / quantile(local, 0.9), 3), "answers_differ": differ,
        }

        errors: list[str] = []
        latencies: list[float] = []
        wrong = 0
        lock = threading.Lock()

        def run(i: int) -> None:
            nonlocal wrong
            own = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="-", max_retries=0, timeout=300)
            history: list[str] = []
            messages: list[dict] = []
            for j in range(args.questions):
                q = questions[(i * 7 + j) % len(questions)]
                messages.append({"role": "user", "content": q})
                try:
                    t = time.perf_counter()
                    chunks = list(own.chat.completions.create(model="seeds", messages=messages, stream=True))
                    took = time.perf_counter() - t
                    text = "".join(c.choices[0].delta.content or "" for c in chunks)
                    expected = bot.ask(q, history=history).text
                except Exception as exc:  # counted, not raised: the figure is how many
                    with lock:
                        errors.append(f"{exc.__class__.__name__}: {exc}"[:200])
                    return
                with lock:
                    latencies.append(took)
                    wrong += text != expected
                history.append(q)
                messages.append({"role": "assistant", "content": text})

        start = time.perf_counter()
        threads = [threading.Thread(target=run, args=(i,)) for i in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
        concurrency = {
            "clients": args.clients, "questions_each": args.questions, "answers": len(latencies),
            "errors": len(errors), "first_errors": errors[:3], "answers_not_their_own": wrong,
            "p50_ms": round(quantile(latencies, 0.5) * 1000, 1) if latencies else None,
            "p90_ms": round(quantile(latencies, 0.9) * 1000, 1) if latencies else None,
            "answers_per_s": round(len(latencies) / wall, 1),
        }
        server.should_exit = True
        thread.join(10)
    figures = {"overhead": overhead, "concurrency": concurrency}
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2), encoding="utf-8")
    ok = concurrency["errors"] == 0 and concurrency["answers_not_their_own"] == 0 and overhead["answers_differ"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
