"""The reading model: its pair layout and span decoding (fast), the shipped file (real model), what a
missing or damaged file says, and the training script's smoke run (the loss falls)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from assistant import Assistant, Settings
from assistant.errors import ModelNotFoundError
from assistant.reader import (CARD_FILE, MAX_SPAN_TOKENS, MODEL_DIR, MODEL_FILE, META_FILE, Candidate, Reader, best_spans,
                              encode, file_sha256, pair_texts, sentence_token_mask, tokenizer_path)

ROOT = Path(__file__).resolve().parents[1]
# where the training data is, when not ../shared/training beside the checkout (read before the per-test
# clean environment drops ASSISTANT_* variables)
TRAINING_DATA = {k: v for k, v in os.environ.items() if k == "ASSISTANT_TRAINING_DATA"}
RIFLES = ("India on Monday signed a contract with Russia to procure 6,01,427 AK-203 assault rifles under the "
          "Indo-Russia Rifles Private Limited Program for military-technical cooperation, reported ANI.")


def test_a_pair_puts_the_sentence_first_in_its_second_text_and_its_context_after():
    candidate = Candidate("It is 120 km long.", title="Alder river", heading="Course", before="The Alder flows.")
    assert pair_texts(" How long is the Alder? ", candidate) == (
        "How long is the Alder?", "It is 120 km long. [SEP] Alder river · Course · The Alder flows.")
    assert pair_texts("Q?", Candidate("Just this.")) == ("Q?", "Just this.")


def test_sentence_tokens_are_those_of_the_sentence_only():
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path(), local_files_only=True)
    candidate = Candidate("The bakery opened in 1998.", title="Crumb bakery")
    first, second = pair_texts("When did the bakery open?", candidate)
    features = encode(tokenizer, [first], [second])
    mask = sentence_token_mask(features, [len(candidate.sentence)])
    ids = features["input_ids"][0][mask[0]]
    assert tokenizer.decode(ids) == "the bakery opened in 1998."


def test_the_best_span_is_the_likeliest_start_and_end_in_order_within_the_sentence():
    offsets = np.array([[[0, 0], [0, 3], [4, 10], [11, 15], [16, 20], [0, 0]]])
    mask = np.array([[False, True, True, True, True, False]])
    start = np.array([[9.0, 0.0, 5.0, 0.0, 0.0, 9.0]])  # token 0 and 5 are outside the sentence
    end = np.array([[9.0, 4.0, 0.0, 0.0, 6.0, 9.0]])  # the end before the start (token 1) is not taken
    [(span, p)] = best_spans(start, end, mask, offsets)
    assert span == (4, 20)
    assert 0.5 < p < 1.0
    [(none, zero)] = best_spans(start, end, np.zeros_like(mask), offsets)
    assert (none, zero) == (None, 0.0)


def test_a_span_is_never_longer_than_the_limit():
    n = MAX_SPAN_TOKENS + 10
    offsets = np.array([[[i, i + 1] for i in range(n)]])
    start, end = np.zeros((1, n)), np.zeros((1, n))
    start[0, 0], end[0, -1] = 10.0, 10.0
    [((a, b), _)] = best_spans(start, end, np.ones((1, n), dtype=bool), offsets)
    assert b - a <= MAX_SPAN_TOKENS


# ------------------------------------------------------------------ the shipped model (real)


@pytest.fixture(scope="module")
def reader() -> Reader:
    return Reader.from_package()


@pytest.mark.integration
def test_the_shipped_model_is_what_its_card_says():
    meta = json.loads((MODEL_DIR / META_FILE).read_text())
    model = MODEL_DIR / MODEL_FILE
    assert file_sha256(model) == meta["sha256"]
    assert model.stat().st_size <= 25 * 1024 * 1024
    card = (MODEL_DIR / CARD_FILE).read_text()
    assert meta["sha256"] in card and MODEL_FILE in card and "python training/train_reader.py" in card
    assert "CC BY-SA 4.0" in card and "Apache-2.0" in card and "## Metrics" in card


@pytest.mark.integration
def test_the_reader_tells_the_answer_from_a_sentence_that_only_shares_words(reader):
    question = "How many AK-203 rifles will India procure?"
    answer, near = reader.score(question, [
        Candidate(RIFLES, title="India and Russia sign AK-203 rifle contract"),
        Candidate("The AK-203 rifles will replace the INSAS rifles used by the Indian Army.",
                  title="India and Russia sign AK-203 rifle contract"),
    ])
    assert answer.p > 0.5 > near.p
    assert "6,01,427" in RIFLES[answer.span[0]:answer.span[1]]


@pytest.mark.integration
def test_scores_come_back_in_the_candidates_order_whatever_their_lengths(reader):
    candidates = [Candidate("Short one."), Candidate(RIFLES), Candidate("A middle sized sentence about rifles.")]
    one_by_one = [reader.score("How many rifles?", [c])[0].p for c in candidates]
    together = [r.p for r in reader.score("How many rifles?", candidates)]
    # dynamic int8 quantises each batch's activations with one scale, so company moves a score a little
    # (118 XQuAD questions x up to 8 sentences, stage 2: mean 0.014, 99th percentile 0.11, at most 0.13;
    # stage 1 0.018, 0.16, 0.22; here 0.15 for the rifles sentence). A score put in another candidate's
    # place moves by far more; the order is what must hold
    assert together == pytest.approx(one_by_one, abs=0.2)
    assert sorted(range(3), key=lambda i: together[i]) == sorted(range(3), key=lambda i: one_by_one[i])
    assert reader.score("How many rifles?", []) == []


@pytest.mark.parametrize("damage, said", [
    (lambda path: path.unlink(), "is missing"),
    (lambda path: path.write_bytes(path.read_bytes()[:1000]), "is damaged"),
])
def test_a_missing_or_damaged_model_is_one_line_saying_how_to_restore_it(tmp_path, damage, said):
    for name in (MODEL_FILE, META_FILE):
        shutil.copy(MODEL_DIR / name, tmp_path / name)
    damage(tmp_path / MODEL_FILE)
    with pytest.raises(ModelNotFoundError) as caught:
        Reader(tmp_path / MODEL_FILE).warm_up()
    message = str(caught.value)
    assert said in message and "git checkout -- assistant/models" in message and "\n" not in message


def test_a_model_onnx_cannot_read_is_one_line_too(tmp_path):
    (tmp_path / MODEL_FILE).write_bytes(b"not an onnx file")
    with pytest.raises(ModelNotFoundError, match="cannot be loaded"):
        Reader(tmp_path / MODEL_FILE).warm_up()


def test_a_broken_reader_loses_nothing_indexed_and_rebuilds_nothing(tmp_path, docs_dir, fake_settings):
    Assistant.from_folder(docs_dir, settings=fake_settings)
    before = {p: p.stat().st_mtime_ns for p in fake_settings.index_dir.rglob("*") if p.is_file() and p.name != ".lock"}
    (tmp_path / MODEL_FILE).write_bytes(b"broken")
    broken = Assistant.from_folder(docs_dir, settings=dataclasses.replace(fake_settings, reader=str(tmp_path / MODEL_FILE)))
    with pytest.raises(ModelNotFoundError, match="cannot be loaded"):
        broken.ask("How long is the Alder river?")
    assert not broken.last_update.touched and broken.last_update.passages_embedded == 0
    assert {p: p.stat().st_mtime_ns for p in fake_settings.index_dir.rglob("*") if p.is_file() and p.name != ".lock"} == before
    answer = Assistant.from_folder(docs_dir, settings=dataclasses.replace(fake_settings, reader="off")).ask(
        "How long is the Alder river?")
    assert "120 kilometres" in answer.text


# ------------------------------------------------------------------ training


@pytest.mark.integration
@pytest.mark.parametrize("stage", ["1", "2"])
def test_the_training_script_smoke_run_lowers_the_loss(stage):
    done = subprocess.run([sys.executable, str(ROOT / "training" / "train_reader.py"), "--smoke", "--stage", stage],
                          capture_output=True, text=True, timeout=300, env={**os.environ, **TRAINING_DATA})
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["steps"] == 12
    assert result["last_loss"] < result["first_loss"]


@pytest.mark.integration
def test_stage_two_can_start_from_the_shipped_file_s_dequantized_weights():
    """``--start reader-int8.onnx``: the int8 file read back into the torch model reads as the file does."""
    sys.path.insert(0, str(ROOT / "training"))
    import onnxruntime
    import torch
    import train_reader
    from transformers import AutoTokenizer

    from assistant import reader as reading

    model = train_reader.make_model(reading.tokenizer_path())
    loaded = model.load_state_dict(train_reader.weights_from_onnx(MODEL_DIR / MODEL_FILE), strict=False)
    assert not loaded.unexpected_keys and all(k.startswith("encoder.pooler.") for k in loaded.missing_keys)
    tokenizer = AutoTokenizer.from_pretrained(reading.tokenizer_path(), local_files_only=True)
    questions = ["How many rifles will India buy?", "Who led the Russian side?", "What colour is the sky?"]
    sentences = ["India will buy 6,01,427 AK-203 assault rifles.", "Sergei Shoigu led the Russian side.",
                 "The talks covered trade and energy."]
    feed = {k: v.astype("int64") for k, v in tokenizer(questions, sentences, return_tensors="np", padding=True).items()}
    onnx_logit = onnxruntime.InferenceSession(str(MODEL_DIR / MODEL_FILE)).run(None, feed)[0]
    model.eval()
    with torch.inference_mode():
        torch_logit = model(**{k: torch.from_numpy(v) for k, v in feed.items()})[0].numpy()
    sigmoid = lambda x: 1 / (1 + np.exp(-x))
    assert np.abs(sigmoid(onnx_logit) - sigmoid(torch_logit)).max() < 0.1  # int8 activations aside, the same
    assert (onnx_logit > 0).tolist() == (torch_logit > 0).tolist()


def test_stage_two_trains_on_questions_stage_one_never_saw():
    sys.path.insert(0, str(ROOT / "training"))
    import random
    import train_reader

    paragraph = "The Alder is a river. It is 120 km long. It rises in the Hollis hills in 1998."
    article = {"title": "Alder", "paragraphs": [{"context": paragraph, "qas": [
        {"id": f"q{i}", "question": f"How long is the Alder river {i}?",
         "answers": [{"text": "120 km", "answer_start": paragraph.index("120 km")}]} for i in range(40)]}]}
    used: set[str] = set()
    first = train_reader.squad_pairs([article], random.Random(1), 0.5, used=used)
    second = train_reader.squad_pairs([article], random.Random(2), 1.0, skip=frozenset(used))
    asked = lambda pairs: {p["q"] for p in pairs if p["y"] == 1}
    assert 0 < len(used) < 40 and len(asked(first)) == len(used)
    assert asked(second) and not asked(first) & asked(second) and len(asked(second)) == 40 - len(used)


@pytest.mark.integration
def test_a_sure_short_answer_leads_the_answer_and_is_marked_in_the_source(tmp_path, seeds_dir):
    bot = Assistant.from_folder(seeds_dir, index_dir=tmp_path / "index", settings=Settings(show_progress=False))
    answer = bot.ask("How many AK-203 rifles will India buy?")
    span = answer.span
    assert span is not None and "6,01,427" in span["text"] and span["citation"] == 1
    assert answer.text.startswith(span["text"].rstrip(".,;:"))
    assert bot.document_text(answer.citations[0].doc_id)[span["start"]:span["end"]] == span["text"]
    assert answer.to_dict()["citations"][0]["span"] == answer.citations[0].span
    from assistant.ui.render import cited_html

    c = answer.citations[0]
    assert f'<strong class="short-answer">{span["text"]}</strong>' in cited_html(c, c.quote)
    off = Assistant.from_folder(seeds_dir, index_dir=tmp_path / "index",
                                settings=Settings(show_progress=False, reader="off"))
    plain = off.ask("How many AK-203 rifles will India buy?")
    assert plain.span is None and answer.text.endswith(plain.text)


def test_the_reader_comparison_auc_counts_ties_as_half():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from bench_reader import auc

    assert auc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert auc([0.1], [0.9]) == 0.0
    assert auc([0.5, 0.5], [0.5]) == 0.5
    assert auc([0.9], []) is None
