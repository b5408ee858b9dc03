"""Calibrate the LLM answerer's support threshold on a gold set, asking the model only once per prompt.

The first pass records every model reply (keyed by the exact messages); the sweep then re-runs the
gold set for each threshold, replaying those replies, so only the deterministic grounding changes.
Prints accuracy, refusal precision/recall and the share of generated sentences dropped per threshold.
The recording model is handed to ``Assistant.from_folder(llm=...)``, and each threshold is set on the
public ``support_threshold`` of ``bot.answerer_for("llm")``.

    python benchmarks/calibrate_support.py tests/gold/seed.yaml --llm-model qwen2.5-0.5b
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from types import SimpleNamespace

from assistant import Assistant, Settings
from assistant.evaluation import evaluate, load_gold
from assistant.llms import load_llm


class ReplayingLLM:
    """Asks the real model once per distinct prompt; replays the reply afterwards."""

    def __init__(self, llm):
        self.llm = llm
        self.replies: dict[str, str] = {}

    @staticmethod
    def _key(messages) -> str:
        return "\n".join(f"{m.role}:{m.content}" for m in messages)

    def stream_chat(self, messages, **kwargs):
        key = self._key(messages)
        if key not in self.replies:
            self.replies[key] = "".join(chunk.delta or "" for chunk in self.llm.stream_chat(messages, **kwargs))
        yield SimpleNamespace(delta=self.replies[key])

    def chat(self, messages, **kwargs):
        key = self._key(messages)
        if key not in self.replies:
            self.replies[key] = self.llm.chat(messages, **kwargs).message.content or ""
        return SimpleNamespace(message=SimpleNamespace(content=self.replies[key]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gold")
    parser.add_argument("--docs", default="seeds")
    parser.add_argument("--llm-model", default="smollm2")
    parser.add_argument("--json", help="write the sweep here")
    args = parser.parse_args()
    cases = load_gold(args.gold)
    with tempfile.TemporaryDirectory() as index_dir:
        settings = Settings(show_progress=False, answer_mode="llm", llm_model=args.llm_model)
        bot = Assistant.from_folder(args.docs, index_dir=index_dir, settings=settings,
                                    llm=ReplayingLLM(load_llm(settings)))
        sweep = []
        for step in range(0, 10):
            threshold = round(0.3 + step * 0.07, 2)
            bot.answerer_for("llm").support_threshold = threshold
            m = evaluate(bot, cases).metrics
            sweep.append({"threshold": threshold, **{k: m[k] for k in (
                "accuracy", "answer_accuracy", "refusal_precision", "refusal_recall", "dropped_share")}})
            print(f"{threshold:.2f}  accuracy {m['accuracy']:.3f}  answer accuracy {m['answer_accuracy']:.3f}  "
                  f"refusal P/R {m['refusal_precision']:.3f}/{m['refusal_recall']:.3f}  "
                  f"dropped {m['dropped_share'] or 0:.3f}", flush=True)
    best = max(sweep, key=lambda s: (s["accuracy"], -abs(s["threshold"] - 0.5)))
    print(f"best support threshold for {args.llm_model}: {best['threshold']:.2f} (accuracy {best['accuracy']:.3f})")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"model": args.llm_model, "sweep": sweep, "best": best}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
