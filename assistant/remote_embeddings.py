"""Embedding through an OpenAI-compatible ``/v1/embeddings`` server (``embed_backend = "openai"``): TEI,
vLLM, Ollama, infinity, llama.cpp's server, or OpenAI itself, for collections too big for this CPU.

A server returns one vector per input, never token vectors, so the sentence vectors that the local
backends pool from a passage's own forward pass (``encode_spans``) are embedded here as inputs of their own
(``embeddings.embed_with_spans`` does that for any model without ``encode_spans``): about six short inputs
more per passage. Vectors are L2-normalised here, whatever the server does. The key, if the server wants
one, comes from ``ASSISTANT_EMBED_API_KEY``; it is never a setting, so it is never written to a file.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import PrivateAttr

from .errors import ConfigError, EmbeddingServerError

API_KEY_ENV = "ASSISTANT_EMBED_API_KEY"
NAME_PREFIX = "openai:"  # a server's vectors are the server's: an index built with them names it so
TIMEOUT_S = 120.0
RETRIES = 2


class OpenAIServerEmbedding(BaseEmbedding):
    """Vectors of model ``server_model`` from the server at ``url`` (``.../v1``)."""

    url: str
    server_model: str
    model_path: str = ""  # a local copy's folder: its tokenizer counts passage sizes ('' if none)
    dimension: int = 0
    _client: Any = PrivateAttr(default=None)

    @classmethod
    def class_name(cls) -> str:
        return "OpenAIServerEmbedding"

    @classmethod
    def for_server(cls, model: str, url: str, local: str = "") -> "OpenAIServerEmbedding":
        if not url:
            raise ConfigError("embed_backend openai needs embed_url, the server's address (e.g. http://127.0.0.1:7997/v1)")
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"embed_url must start with http:// or https://, got {url!r}")
        return cls(model_name=NAME_PREFIX + model, server_model=model, url=url.rstrip("/"), model_path=local)

    def warm_up(self) -> None:
        if self._client is None:
            from openai import OpenAI

            self._client = OpenAI(base_url=self.url, api_key=os.environ.get(API_KEY_ENV) or "none",
                                  timeout=TIMEOUT_S, max_retries=RETRIES)

    def _embed(self, texts: list[str]) -> list[list[float]]:
        self.warm_up()
        import openai

        try:
            response = self._client.embeddings.create(model=self.server_model, input=texts)
        except openai.APIConnectionError:
            raise EmbeddingServerError(f"no embeddings server answers at {self.url}; start it or fix embed_url") from None
        except openai.APIStatusError as exc:
            raise EmbeddingServerError(f"the embeddings server at {self.url} refused model {self.server_model!r} "
                                       f"(HTTP {exc.status_code}); check embed_model and {API_KEY_ENV}") from None
        rows = sorted(response.data, key=lambda row: row.index)
        if len(rows) != len(texts):
            raise EmbeddingServerError(f"the embeddings server at {self.url} returned {len(rows)} vectors for "
                                       f"{len(texts)} texts; check that it speaks the OpenAI embeddings API")
        vectors = np.asarray([row.embedding for row in rows], dtype=np.float32)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        self.dimension = int(vectors.shape[1])
        return vectors.tolist()

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._embed([query])[0]

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._embed([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._embed(texts)
