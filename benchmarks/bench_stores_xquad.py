"""XQuAD with the real model in the folder store and in PostgreSQL: same documents, every question searched,
the rankings compared question by question.

    python benchmarks/bench_stores_xquad.py        # the public sets from ../shared/benchmarks or $ASSISTANT_BENCHMARK_DATA
"""

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_data  # noqa: E402
import pgserver  # noqa: E402
from bench_retrieval import K, AssistantSystem, ranking_metrics  # noqa: E402

from assistant.embeddings import load_embedder  # noqa: E402

data = bench_data.xquad()
embedder = load_embedder("all-MiniLM-L6-v2", 32)
work = Path(tempfile.mkdtemp(prefix="xq-"))
pgdata = Path(tempfile.mkdtemp(prefix="xq-pg-"))
server = pgserver.get_server(pgdata, cleanup_mode="stop")
try:
    out = {}
    rankings = {}
    for name, extra in (("folder", {}), ("postgres", {"store": server.get_uri()})):
        t = time.perf_counter()
        system = AssistantSystem(data, work / name, embedder, **extra)
        build = time.perf_counter() - t
        ranks, ids = [], []
        for q in data.questions:
            passages = system.bot.search(q.text, top_k=K)
            ids.append([(p.id, p.score) for p in passages])
            ranks.append(system.documents([p.id for p in passages]))
        rankings[name] = ids
        out[name] = {"build_s": round(build, 1), "passages": system.passages, **ranking_metrics(ranks, data.questions)}
        print(name, out[name], flush=True)
    a, b = rankings["folder"], rankings["postgres"]
    same_order = sum([x for x, _ in r1] == [x for x, _ in r2] for r1, r2 in zip(a, b))
    diff = max(abs(s1 - s2) for r1, r2 in zip(a, b) for (_, s1), (_, s2) in zip(r1, r2))
    print(json.dumps({"questions": len(a), "identical_top10_order": same_order, "max_score_diff": diff}))
finally:
    server.cleanup(); shutil.rmtree(pgdata, ignore_errors=True); shutil.rmtree(work, ignore_errors=True)
