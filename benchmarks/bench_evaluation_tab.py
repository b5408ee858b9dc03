"""The browser's Evaluation tab against ``assistant eval``, on the same gold cases, side by side in one run.

    .venv/bin/python benchmarks/bench_evaluation_tab.py                # tests/gold/seed.yaml (147 cases), 3 rounds
    .venv/bin/python benchmarks/bench_evaluation_tab.py --rounds 5 --json /tmp/tab.json
    .venv/bin/python benchmarks/bench_evaluation_tab.py --smoke        # 6 cases, 1 round: checks it runs

One process, one ``Assistant`` over seeds/ (indexed once into a temporary folder, the real model and reader):

* **tab**: the app (``build_app``, served by ``launch`` on a free loopback port, in this process) and a
  ``gradio_client`` session that uploads the gold file and calls the Run button's event (``/evaluate``), as
  the page does: the queue, the progress bar's messages, the cases rendered as rows, the CLI's reports
  (Markdown, HTML, the chart, the run's JSON) written and handed over as files. Timed from the call to the
  result.
* **cli**: what ``assistant eval GOLD`` runs once its model is loaded: ``load_gold``, ``evaluation.evaluate``
  with the CLI's per-case progress lines (to a null stream) and its summary. Loading the model is left out
  of both (a process of its own pays it once; it would hide the tab's cost in the ratio).

The two alternate (tab, cli, tab, cli, ...): each round's ratio tab/cli is taken pair by pair and the median
quoted, so a machine whose speed drifts still gives a fair ratio. Both must score the same cases alike.
Figures go to BENCHMARKS.md ("Evaluation in the browser").
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from assistant.evaluation import load_gold  # noqa: E402

SEED_GOLD = ROOT / "tests" / "gold" / "seed.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli_run(bot, gold: Path) -> tuple[float, int]:
    """``assistant eval``'s work over loaded models: (seconds, cases passed)."""
    from assistant.evaluation import evaluate

    out = io.StringIO()

    def progress(i: int, n: int, case) -> None:  # the CLI's lines, written where nobody reads them
        print(f"[{i:>{len(str(n))}}/{n}] {'ok  ' if case.passed else 'FAIL'} {case.id}", file=out)
        if not case.passed:
            print(f"      question: {case.question}\n      why:      {case.why}\n      answer:   {case.answer}", file=out)

    start = time.perf_counter()
    result = evaluate(bot, load_gold(gold), progress=progress)
    print(result.metrics, result.by_tag, file=out)
    return time.perf_counter() - start, result.metrics["passed"]


def tab_run(client, gold: Path) -> tuple[float, int]:
    """The Run button's event through gradio_client, the gold file uploaded: (seconds, cases passed)."""
    from gradio_client import handle_file

    start = time.perf_counter()
    summary, chart, cases, reports, *_ = client.predict(handle_file(str(gold)), 5, "extractive",
                                                        api_name="/evaluate")
    seconds = time.perf_counter() - start
    assert len(reports) == 4 and chart, reports
    passed = int(summary.split("<strong>")[1].split(" of ")[0])
    return seconds, passed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gold", type=Path, default=SEED_GOLD)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="6 cases, 1 round: checks the script runs")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()

    from gradio_client import Client

    from assistant import Assistant, Settings
    from assistant.evaluation_gold import GoldFile
    from assistant.ui import build_app, launch

    work = Path(tempfile.mkdtemp(prefix="bench-eval-tab-"))
    os.environ["XDG_DATA_HOME"] = str(work / "data")  # the collection's gold file and reports stay in here
    gold = args.gold
    if args.smoke:
        gold = work / "smoke.yaml"
        GoldFile(gold).save_all(load_gold(args.gold)[:6])
    rounds = 1 if args.smoke else args.rounds
    bot = Assistant.from_folder(ROOT / "seeds", index_dir=work / "index", settings=Settings(show_progress=False))
    bot.warm_up()
    demo = build_app(bot)
    port = free_port()
    launch(demo, port=port, block=False, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        cli_run(bot, gold)  # warm-up: the first questions and the first chart load what they need
        tab_run(client, gold)
        tab, cli, ratios = [], [], []
        for _ in range(rounds):
            (t, tab_passed), (c, cli_passed) = tab_run(client, gold), cli_run(bot, gold)
            assert tab_passed == cli_passed, (tab_passed, cli_passed)
            tab.append(t)
            cli.append(c)
            ratios.append(t / c)
    finally:
        demo.close()
    cases = len(load_gold(gold))
    figures = {"cases": cases, "passed": tab_passed, "rounds": rounds, "tab_s": tab, "cli_s": cli,
               "ratio_per_round": [round(r, 3) for r in ratios], "ratio_median": round(statistics.median(ratios), 3),
               "tab_median_s": round(statistics.median(tab), 3), "cli_median_s": round(statistics.median(cli), 3)}
    print(f"{cases} cases, {tab_passed} passed in both; {rounds} rounds side by side")
    print(f"  Evaluation tab (gradio_client -> /evaluate): median {figures['tab_median_s']:.2f} s")
    print(f"  assistant eval (evaluate + the CLI's lines): median {figures['cli_median_s']:.2f} s")
    print(f"  ratio tab/cli, pair by pair: {figures['ratio_per_round']} -> median {figures['ratio_median']:.3f}x")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
