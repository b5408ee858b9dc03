"""Train the project's reading model from the bundled all-MiniLM-L6-v2 on public QA data, and export it.

    python training/train_reader.py                      # build pairs, train (resumes), export the ONNX file
    python training/train_reader.py --smoke              # a few steps on a tiny sample, in seconds
    python training/train_reader.py --export-only        # export the last checkpoint again
    python training/train_reader.py --stage 2 --start assistant/models/reader-int8.onnx   # the shipped stage 2

Data (``../shared/training``, never committed): SQuAD 1.1 train, SQuAD 2.0's training articles with their
unanswerable questions, SelQA answer-sentence selection. Every question becomes (question, candidate)
pairs, a candidate being a sentence with its title and the sentence before (``assistant.reader``):

- the sentence holding the answer: label 1, with the answer's characters for the span head;
- the paragraph's other sentences (the one sharing most words with the question first): label 0;
- an unanswerable question (SQuAD 2.0): every sentence of its paragraph, its plausible answer's first: 0;
- synthetic unanswerables: the question against the closest sentence of another paragraph of the same
  article, and the question with one of its names, numbers or years swapped for another of the same kind
  from the article that the answer sentence does not hold (against the answer sentence): 0;
- SelQA: its labelled candidates, its section as the heading.

The run checkpoints every ``--save-every`` steps into ``--work`` and resumes from there, because a full
run outlasts a working session on 2 cores; the pairs and their order come from ``--seed`` alone, so a
resumed run trains on what an unbroken one would have. Mixed lengths are batched by length.

Stage 2 (``--stage 2``) continues stage 1's model on SQuAD questions stage 1 did not use. It starts from stage
1's checkpoint, or, with ``--start``, from an exported stage-1 file, its int8 weights read back (how the
shipped model was made: stage 1's checkpoint does not outlive the machine it was trained on, the exported
file is committed).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import random
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant import reader as reading  # noqa: E402  (the pair layout shared with inference)
from assistant.documents import sentence_spans  # noqa: E402  (the assistant's own sentence splitter)

# the shared training data beside the checkout, or where ASSISTANT_TRAINING_DATA says
DATA = Path(os.environ.get("ASSISTANT_TRAINING_DATA") or ROOT.parent / "shared" / "training")
WORK = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "doc-assistant" / "reader-training"
OUT = ROOT / "assistant" / "models"
STAGE2_STEPS = 2400
CHECKPOINTS = {1: "checkpoint.pt", 2: "checkpoint-stage2.pt"}  # each stage resumes from its own

NAME = re.compile(r"\b(?:1[0-9]{3}|20[0-9]{2})\b|\b\d[\d,.]*\b|\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*\b")
YEAR = re.compile(r"^(?:1[0-9]{3}|20[0-9]{2})$")


def log(*parts) -> None:
    print(time.strftime("%H:%M:%S"), *parts, flush=True)


# ---------------------------------------------------------------------------------------------- pairs

def read_squad(name: str) -> list[dict]:
    with gzip.open(DATA / name, "rt") as fh:
        return json.load(fh)["data"]


def words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 2}


def kind(token: str) -> str:
    if YEAR.match(token):
        return "year"
    if token[0].isdigit():
        return "number"
    return "name"


def pair(question: str, sentence: str, title: str, before: str, label: int, span=(-1, -1), heading="") -> dict:
    first, second = reading.pair_texts(question, reading.Candidate(sentence, title, heading, before))
    return {"q": first, "s": second, "n": len(sentence), "y": label, "a": span[0], "b": span[1]}


def squad_pairs(articles: list[dict], rng: random.Random, share: float, swaps: float = 0.5,
                skip: frozenset = frozenset(), used: set | None = None) -> list[dict]:
    """Pairs from SQuAD-layout articles; ``share`` of the answerable questions not in ``skip`` are used (their
    ids go into ``used``), and ``swaps`` of those with a swappable name also give a swapped question."""
    out = []
    for article in articles:
        title = article["title"].replace("_", " ")
        paragraphs = []
        for p in article["paragraphs"]:
            text = p["context"]
            paragraphs.append((text, sentence_spans(text)))
        article_names = defaultdict(set)
        for text, _ in paragraphs:
            for m in NAME.finditer(text):
                article_names[kind(m.group())].add(m.group())
        for index, (p, (text, spans)) in enumerate(zip(article["paragraphs"], paragraphs)):
            if not spans:
                continue
            sentences = [text[s:e] for s, e in spans]
            for qa in p["qas"]:
                question = qa["question"]
                qwords = words(question)
                overlap = [len(qwords & words(s)) for s in sentences]
                if qa.get("is_impossible"):
                    tempting = qa.get("plausible_answers") or []
                    at = tempting[0]["answer_start"] if tempting else -1
                    order = sorted(range(len(spans)), key=lambda i: (not (spans[i][0] <= at < spans[i][1]), -overlap[i]))
                    for i in order[:4]:
                        out.append(pair(question, sentences[i], title, sentences[i - 1] if i else "", 0))
                    continue
                if qa["id"] in skip or rng.random() > share:
                    continue
                if used is not None:
                    used.add(qa["id"])
                answer = qa["answers"][0]
                a, b = answer["answer_start"], answer["answer_start"] + len(answer["text"])
                holding = [i for i, (s, e) in enumerate(spans) if s <= a and b <= e]
                if not holding:
                    continue  # an answer across two sentences: no one sentence answers
                i = holding[0]
                s0 = spans[i][0]
                before = sentences[i - 1] if i else ""
                out.append(pair(question, sentences[i], title, before, 1, (a - s0, b - s0)))
                others = sorted((j for j in range(len(spans)) if j != i), key=lambda j: -overlap[j])
                for j in others[:1] + rng.sample(others[1:], min(1, len(others[1:]))):
                    out.append(pair(question, sentences[j], title, sentences[j - 1] if j else "", 0))
                if len(paragraphs) > 1 and rng.random() < 0.35:
                    other = rng.choice([k for k in range(len(paragraphs)) if k != index])
                    o_text, o_spans = paragraphs[other]
                    if o_spans:
                        o_sent = [o_text[s:e] for s, e in o_spans]
                        k = max(range(len(o_sent)), key=lambda k: len(qwords & words(o_sent[k])))
                        out.append(pair(question, o_sent[k], title, o_sent[k - 1] if k else "", 0))
                swapped = swap(question, sentences[i], answer["text"], article_names, rng)
                if swapped and rng.random() < swaps:
                    out.append(pair(swapped, sentences[i], title, before, 0))
    return out


def swap(question: str, sentence: str, answer: str, names: dict[str, set[str]], rng: random.Random) -> str | None:
    """The question with one of its names, numbers or years that the sentence holds (outside the answer)
    replaced by another of the same kind that the sentence does not hold; None when there is none."""
    found = [m for m in NAME.finditer(question)
             if m.start() > 0 and m.group() in sentence and m.group() not in answer]
    if not found:
        return None
    m = rng.choice(found)
    pool = sorted(n for n in names[kind(m.group())] if n not in sentence and n.lower() not in question.lower())
    if not pool:
        return None
    return question[:m.start()] + rng.choice(pool) + question[m.end():]


def selqa_pairs(rng: random.Random) -> list[dict]:
    out = []
    for name in ("selqa-ass-dev.json.gz", "selqa-ass-test.json.gz"):
        with gzip.open(DATA / name, "rt") as fh:
            rows = json.load(fh)
        for row in rows:
            answers = set(row["answers"])
            candidates = row["candidates"]
            negatives = [i for i in range(len(candidates)) if i not in answers]
            chosen = sorted(answers) + rng.sample(negatives, min(3, len(negatives)))
            for i in chosen:
                out.append(pair(row["question"], candidates[i], row["article"], candidates[i - 1] if i else "",
                                int(i in answers), heading=row.get("section", "")))
    return out


def build_pairs(seed: int, squad_share: float, smoke: bool, stage: int = 1,
                stage_share: float = 0.25) -> tuple[list[dict], list[dict], dict]:
    """Stage 1: ``squad_share`` of SQuAD 1.1, SQuAD 2.0's articles, SelQA. Stage 2 (continued from stage 1's
    weights): ``stage_share`` of the SQuAD 1.1 questions stage 1 never saw, each with its swapped question
    where it has one, and SQuAD 2.0's unanswerables again, the kind of near miss the model reads worst."""
    rng = random.Random(seed)
    squad1 = read_squad("squad1.1-train.json.gz")
    squad2 = read_squad("squad2.0-dev-train-articles.json.gz") + read_squad("squad2.0-train-first10.json.gz")
    if smoke:
        squad1, squad2 = [{**squad1[0], "paragraphs": squad1[0]["paragraphs"][:3]}], []
        squad_share = 1.0
    held = squad2[:2]  # two articles kept out to watch the run (dev loss and accuracy)
    used: set[str] = set()
    train = squad_pairs(squad1, rng, squad_share, used=used) + squad_pairs(squad2[2:], rng, 1.0)
    if not smoke:
        train += selqa_pairs(rng)
    if stage == 2:
        rng = random.Random(seed + 2)
        train = (squad_pairs(squad1, rng, 1.0 if smoke else stage_share, swaps=1.0,
                             skip=frozenset() if smoke else frozenset(used))
                 + squad_pairs(squad2[2:], rng, 1.0, swaps=1.0))
    dev = squad_pairs(held, random.Random(seed + 1), 1.0) if held else train[:64]
    rng.shuffle(train)
    counts = {"pairs": len(train), "positives": sum(p["y"] for p in train), "dev_pairs": len(dev)}
    return train, dev, counts


def batches(pairs: list[dict], size: int, rng: random.Random, tokenizer) -> list[list[int]]:
    """Batches of pairs of similar length: shuffled, cut into pools of 50 batches, sorted in each pool."""
    lengths = [len(ids) for ids in tokenizer([p["q"] for p in pairs], [p["s"] for p in pairs],
                                              truncation="only_second", max_length=reading.MAX_LENGTH)["input_ids"]]
    order = list(range(len(pairs)))
    rng.shuffle(order)
    out = []
    pool = size * 50
    for p in range(0, len(order), pool):
        chunk = sorted(order[p:p + pool], key=lambda i: lengths[i])
        out += [chunk[b:b + size] for b in range(0, len(chunk), size)]
    rng.shuffle(out)
    return out


# ---------------------------------------------------------------------------------------------- model

def make_model(model_path: Path):
    import torch
    from transformers import AutoModel

    class ReaderModel(torch.nn.Module):
        """MiniLM with two heads: the [CLS] state -> answers?; each token's state -> answer start / end."""

        def __init__(self):
            super().__init__()
            self.encoder = AutoModel.from_pretrained(str(model_path), local_files_only=True)
            hidden = self.encoder.config.hidden_size
            self.dropout = torch.nn.Dropout(0.1)
            self.answers = torch.nn.Linear(hidden, 1)
            self.span = torch.nn.Linear(hidden, 2)

        def forward(self, input_ids, attention_mask, token_type_ids):
            states = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids).last_hidden_state
            logit = self.answers(self.dropout(states[:, 0])).squeeze(-1)
            start, end = self.span(states).unbind(-1)
            return logit, start, end

    return ReaderModel()


def tensors(tokenizer, rows: list[dict]):
    import numpy as np
    import torch

    features = reading.encode(tokenizer, [r["q"] for r in rows], [r["s"] for r in rows])
    mask = reading.sentence_token_mask(features, [r["n"] for r in rows])
    offsets = features["offset_mapping"]
    starts, ends = [], []
    for row, r in enumerate(rows):
        if r["y"] != 1 or r["a"] < 0:
            starts.append(-100)
            ends.append(-100)
            continue
        inside = np.flatnonzero(mask[row])
        s = [t for t in inside if offsets[row, t, 0] <= r["a"] < offsets[row, t, 1] or offsets[row, t, 0] >= r["a"]]
        e = [t for t in inside if offsets[row, t, 1] <= r["b"]]
        ok = s and e and s[0] <= e[-1]
        starts.append(int(s[0]) if ok else -100)
        ends.append(int(e[-1]) if ok else -100)
    inputs = {k: torch.from_numpy(features[k].astype("int64")) for k in ("input_ids", "attention_mask", "token_type_ids")}
    span_mask = torch.from_numpy(mask)
    return inputs, torch.tensor([float(r["y"]) for r in rows]), torch.tensor(starts), torch.tensor(ends), span_mask


def loss_of(model, batch):
    import torch

    inputs, labels, starts, ends, span_mask = batch
    logit, start, end = model(**inputs)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logit, labels)
    if (starts >= 0).any():
        very_low = torch.finfo(start.dtype).min / 2
        start = start.masked_fill(~span_mask, very_low)
        end = end.masked_fill(~span_mask, very_low)
        span = (torch.nn.functional.cross_entropy(start, starts, ignore_index=-100)
                + torch.nn.functional.cross_entropy(end, ends, ignore_index=-100)) / 2
        loss = loss + 0.5 * span
    return loss, logit


def evaluate(model, tokenizer, dev: list[dict], size: int = 64) -> dict:
    import torch

    model.eval()
    total, right, n = 0.0, 0, 0
    with torch.inference_mode():
        for b in range(0, len(dev), size):
            rows = dev[b:b + size]
            batch = tensors(tokenizer, rows)
            loss, logit = loss_of(model, batch)
            total += float(loss) * len(rows)
            right += int(((logit > 0).float() == batch[1]).sum())
            n += len(rows)
    model.train()
    return {"dev_loss": round(total / max(n, 1), 4), "dev_accuracy": round(right / max(n, 1), 4)}


# ---------------------------------------------------------------------------------------------- run

def weights_from_onnx(path: Path) -> dict:
    """An exported reader's weights as a ``make_model`` state dict, the int8 ones dequantized: how stage 2
    continues a shipped stage-1 file where stage 1's checkpoint is gone. A MatMul's weight is named by the
    node that uses it (``/encoder/.../query/MatMul_quant`` is ``encoder....query.weight``) and is the
    transpose of torch's; the rest keep their torch names."""
    import numpy as np
    import onnx
    import torch
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    arrays = {i.name: numpy_helper.to_array(i) for i in graph.initializer}

    def dequantized(name: str):
        q, scale, zero = (arrays[f"{name}_{part}"] for part in ("quantized", "scale", "zero_point"))
        return (q.astype(np.float32) - zero.astype(np.float32)) * scale.astype(np.float32)

    state = {name: arrays[name] for name in arrays if name.endswith((".bias", "LayerNorm.weight"))}
    for name in arrays:
        if name.endswith(".weight_quantized") and not name.endswith("_Transposed_quantized"):
            state[name[:-len("_quantized")]] = dequantized(name[:-len("_quantized")])
    for node in graph.node:
        if node.op_type == "MatMulInteger":
            module = re.sub(r"/(?:Gemm_)?MatMul_quant$", "", node.name).strip("/").replace("/", ".")
            state[f"{module}.weight"] = dequantized(node.input[1][:-len("_quantized")]).T
    return {name: torch.from_numpy(np.array(value, dtype=np.float32)) for name, value in state.items()}


def save(path: Path, state: dict) -> None:
    import torch

    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def train(args) -> Path:
    import torch
    from transformers import AutoTokenizer

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    model_path = reading.tokenizer_path()
    tokenizer = AutoTokenizer.from_pretrained(model_path, local_files_only=True)
    pairs, dev, counts = build_pairs(args.seed, args.squad_share, args.smoke, args.stage, args.stage_share)
    if args.smoke:
        pairs = pairs[:args.batch_size * 2]
    plan = batches(pairs, args.batch_size, random.Random(args.seed), tokenizer)
    steps = min(len(plan) * args.epochs, args.max_steps or 10 ** 9)
    log(f"{counts['pairs']} pairs ({counts['positives']} answer), {len(plan)} batches of {args.batch_size}, "
        f"{steps} steps")
    model = make_model(model_path)
    head = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
    body = [p for n, p in model.named_parameters() if n.startswith("encoder.")]
    optimizer = torch.optim.AdamW([{"params": body, "lr": args.lr}, {"params": head, "lr": args.lr * 10}],
                                  weight_decay=0.01)
    warmup = max(1, int(0.06 * steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(  # linear warm-up, then linear decay to 0
        optimizer, lambda s: (s + 1) / warmup if s < warmup else max(0.0, (steps - s) / max(1, steps - warmup)))
    checkpoint = work / CHECKPOINTS[args.stage]
    step, history = 0, []
    if args.stage == 2 and not args.smoke and not (checkpoint.is_file() and not args.fresh):
        first = work / CHECKPOINTS[1]
        if args.start:
            start = weights_from_onnx(Path(args.start))
            missing = model.load_state_dict(start, strict=False).missing_keys
            if [m for m in missing if not m.startswith("encoder.pooler.")]:  # the pooler is unused, not exported
                raise SystemExit(f"{args.start} lacks {', '.join(missing[:3])}: not a file this script exported")
            log(f"stage 2 starts from {args.start} (int8 weights dequantized)")
        elif first.is_file():
            model.load_state_dict(torch.load(first, weights_only=False)["model"])
            log(f"stage 2 starts from {first}")
        else:
            raise SystemExit(f"stage 2 continues from stage 1: no {first}; run stage 1 first, or pass "
                             f"--start {OUT / reading.MODEL_FILE} to continue the shipped stage-1 file")
    if checkpoint.is_file() and not args.smoke and not args.fresh:
        state = torch.load(checkpoint, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        step, history = state["step"], state["history"]
        log(f"resumed at step {step}")
    model.train()
    started, seen, window = time.time(), 0, []
    while step < steps:
        rows = [pairs[i] for i in plan[step % len(plan)]]
        loss, _ = loss_of(model, tensors(tokenizer, rows))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        step += 1
        seen += len(rows)
        window.append(float(loss.detach()))
        if step % args.log_every == 0 or step == steps:
            rate = seen / (time.time() - started)
            history.append({"step": step, "loss": round(sum(window) / len(window), 4), "pairs_per_s": round(rate, 1)})
            window = []
            log(f"step {step}/{steps} loss {history[-1]['loss']} {rate:.1f} pairs/s "
                f"eta {(steps - step) * args.batch_size / rate / 60:.0f} min")
        if not args.smoke and (step % args.save_every == 0 or step == steps):
            history[-1:] = [{**history[-1], **evaluate(model, tokenizer, dev)}] if history else []
            save(checkpoint, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                              "schedule": schedule.state_dict(), "step": step, "history": history,
                              "counts": counts, "args": vars(args)})
            log(f"saved step {step}: {history[-1] if history else ''}")
    if args.smoke:
        first, last = history[0]["loss"], history[-1]["loss"]
        print(json.dumps({"first_loss": first, "last_loss": last, "steps": step}))
        return work
    return checkpoint


def export(args) -> Path:
    """The last checkpoint as ONNX (fp32, then int8 with per-channel scales), with its metadata."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    state = torch.load(Path(args.work) / CHECKPOINTS[args.stage], weights_only=False)
    model = make_model(reading.tokenizer_path())
    model.load_state_dict(state["model"])
    model.eval()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fp32 = Path(args.work) / "reader-fp32.onnx"
    ids = torch.ones((2, 16), dtype=torch.int64)
    torch.onnx.export(model, (ids, ids, torch.zeros_like(ids)), str(fp32),
                      input_names=["input_ids", "attention_mask", "token_type_ids"],
                      output_names=["answer_logit", "start_logits", "end_logits"],
                      dynamic_axes={n: {0: "batch", 1: "tokens"} for n in ("input_ids", "attention_mask", "token_type_ids",
                                                                            "start_logits", "end_logits")}
                      | {"answer_logit": {0: "batch"}},
                      opset_version=17, dynamo=False)
    int8 = out / reading.MODEL_FILE
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=["MatMul", "Gather"])
    meta = {"format": reading.FORMAT, "max_length": reading.MAX_LENGTH, "sha256": reading.file_sha256(int8),
            "bytes": int8.stat().st_size, "steps": state["step"], "counts": state["counts"],
            "history": state["history"][-3:], "args": {k: v for k, v in state["args"].items() if k != "work"}}
    (out / reading.META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    log(f"wrote {int8} ({int8.stat().st_size / 1e6:.1f} MB); put its sha256 {meta['sha256']} and the metrics "
        f"into the model card, {out / reading.CARD_FILE}")
    return int8


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few steps on a tiny sample; prints the losses")
    parser.add_argument("--export-only", action="store_true")
    parser.add_argument("--fresh", action="store_true", help="start again instead of resuming")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--squad-share", type=float, default=0.28, help="share of SQuAD 1.1's questions used")
    parser.add_argument("--stage", type=int, choices=(1, 2), default=1,
                        help="2: continue stage 1's model on the SQuAD questions it did not see")
    parser.add_argument("--stage-share", type=float, default=0.25,
                        help="stage 2: share of the SQuAD 1.1 questions stage 1 did not use")
    parser.add_argument("--start", metavar="ONNX", help="stage 2: start from this exported stage-1 file (its int8 "
                        "weights dequantized) instead of stage 1's checkpoint")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-steps", type=int, help="at most this many steps (0: every batch, --epochs times); "
                        f"by default the shipped model's: 3890 in stage 1, {STAGE2_STEPS} in stage 2")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, help="peak learning rate of the encoder (default 5e-5, stage 2 3e-5)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--log-every", type=int, default=25)
    parser.add_argument("--save-every", type=int, default=250)
    parser.add_argument("--work", default=str(WORK))
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args(argv)
    if not (DATA / "squad1.1-train.json.gz").is_file():
        parser.error(f"no training data at {DATA}: put ../shared/training beside the checkout or set "
                     "ASSISTANT_TRAINING_DATA to its folder")
    if args.max_steps is None:
        args.max_steps = 3890 if args.stage == 1 else STAGE2_STEPS
    if args.lr is None:
        args.lr = 5e-5 if args.stage == 1 else 3e-5
    if args.smoke:
        args.batch_size, args.max_steps, args.log_every, args.epochs, args.lr = 8, 12, 3, 6, 1e-4
    if not args.export_only:
        train(args)
    if not args.smoke:
        export(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
