"""Tiny deterministic fake embedding models, so most tests run in milliseconds without a real model.

``HashEmbedding`` hashes lower-cased word tokens into 64 buckets (a bag of words) and L2-normalises
the counts: texts sharing words get a positive cosine similarity, and the same text always gets the
same vector in every process (``zlib.crc32``, not Python's salted ``hash``).

>>> model = HashEmbedding()
>>> len(model.get_text_embedding("AK-203 rifles"))
64
>>> model.get_query_embedding("rifles") == model.get_text_embedding("Rifles!")
True
"""

from __future__ import annotations

import re
import time
import zlib
from pathlib import Path

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding

DIMENSION = 64
WORD = re.compile(r"[a-z0-9]+")


def hash_vector(text: str, dimension: int = DIMENSION, salt: str = "") -> list[float]:
    """Hashed bag of words of ``text``, L2-normalised (all zeros for a text without words)."""
    vector = np.zeros(dimension, dtype="float64")
    for word in WORD.findall(text.lower()):
        vector[zlib.crc32((salt + word).encode("utf-8")) % dimension] += 1.0
    norm = np.linalg.norm(vector)
    if norm > 0:
        vector /= norm
    return vector.tolist()


class HashEmbedding(BaseEmbedding):
    """A fake embedding model: hashed bag of words in 64 dimensions. Fast and deterministic."""

    model_name: str = "fake-hash"
    dimension: int = DIMENSION
    salt: str = ""

    @classmethod
    def class_name(cls) -> str:
        return "HashEmbedding"

    def warm_up(self) -> None:
        """Nothing to load."""

    def _embed(self, text: str) -> list[float]:
        return hash_vector(text, self.dimension, self.salt)

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._embed(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._embed(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._embed(text)

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return [self._embed(t) for t in texts]


class SlowHashEmbedding(HashEmbedding):
    """Like ``HashEmbedding`` but each batch call takes ~0.5 s (to hold an update open in tests)."""

    model_name: str = "fake-slow"
    delay: float = 0.5

    @classmethod
    def class_name(cls) -> str:
        return "SlowHashEmbedding"

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        time.sleep(self.delay)
        return super()._get_text_embeddings(texts)


class FakeEmbedding64b(HashEmbedding):
    """Same size as ``HashEmbedding`` but another model (name and vectors): for model-mismatch tests."""

    model_name: str = "fake-hash-b"
    salt: str = "b:"

    @classmethod
    def class_name(cls) -> str:
        return "FakeEmbedding64b"


FAKES = {"fake-hash": HashEmbedding, "fake-slow": SlowHashEmbedding, "fake-hash-b": FakeEmbedding64b}


def register_fakes() -> None:
    """Make ``load_embedder("fake-hash")`` etc. return the fakes (and ``Settings(embed_model=...)`` work)."""
    from assistant.embeddings import register_embedder

    for name, factory in FAKES.items():
        register_embedder(name, factory)


class HeldHashEmbedding(HashEmbedding):
    """``HashEmbedding`` (same name and vectors) that touches ``$ASSISTANT_TEST_STARTED`` when it starts
    embedding and then takes ``$ASSISTANT_TEST_DELAY`` seconds per batch: an index update held open for a
    test to kill or to overlap with another (tests/index_worker.py runs it in a process of its own)."""

    @classmethod
    def class_name(cls) -> str:
        return "HeldHashEmbedding"

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        import os
        from pathlib import Path

        marker = os.environ.get("ASSISTANT_TEST_STARTED")
        if marker:
            Path(marker).touch()
        time.sleep(float(os.environ.get("ASSISTANT_TEST_DELAY", "0.5")))
        return super()._get_text_embeddings(texts)


FAKES["fake-held"] = HeldHashEmbedding


def write_folder(folder: Path, files: dict[str, str]) -> Path:
    """``folder`` made and filled with ``files`` (name -> text): a tiny documents folder for a test."""
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


# A Wikipedia-style article with numbered footnote marks, and an essay's notes section ("[2] Worrying
# ..."): the document's own "[2]" must never read as the assistant's citation marker (issue 26).
WIKI = {
    "yc.txt": (
        "Y Combinator is an American technology startup accelerator launched in March 2005.[1] "
        "Y Combinator has funded over 4,000 startups in total.[2] Its partners include Paul Graham.[3][citation needed]"
        "\n\nNotes\n\n"
        "[2] Worrying that Y Combinator makes founders move for 3 months, some founders stayed home."
    ),
}
WIKI_QUESTION = "How many startups has Y Combinator funded in total?"
WIKI_QUOTE = "Y Combinator has funded over 4,000 startups in total.[2]"
WIKI_ANSWER = "Y Combinator has funded over 4,000 startups in total.[note 2] [1]"  # the mark is the essay's
WIKI_READ_ANSWER = f"4,000. [1]\n{WIKI_ANSWER}"  # with the real reader (a new process): the short answer first
WIKI_NOTE_QUESTION = "Why did some founders stay home?"
WIKI_NOTE_ANSWER = ("[note 2] Worrying that Y Combinator makes founders move for 3 months, some founders "
                    "stayed home. [1]")



def at_once(work, count: int, timeout: float = 300) -> list[BaseException]:
    """``work(n)`` for n in 0..count-1, each in a thread of its own, all at once; what any of them raised."""
    import threading

    raised: list[BaseException] = []

    def run(n: int) -> None:
        try:
            work(n)
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            raised.append(exc)
    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return raised
