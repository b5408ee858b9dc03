"""Embeddings kept across an interrupted index update (assistant/embeddings.py ``EmbeddingCache``), and
the update that resumes from them (assistant/store.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fakes import HashEmbedding

from assistant import Assistant
from assistant.embeddings import EmbeddingCache
from assistant.store import CACHE_DIR


class KilledAfter(HashEmbedding):
    """The fake model, stopping the process (an exception here) once it has embedded ``limit`` passages
    and is asked for one more."""

    limit: int = 64
    texts: list = []

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        passages = [t for t in texts if t.startswith("title: ")]  # not the sentence pieces
        if passages and len(self.texts) >= self.limit:
            raise KeyboardInterrupt("killed")
        self.texts.extend(passages)
        return super()._get_text_embeddings(texts)


@pytest.fixture
def many_docs(tmp_path) -> Path:
    folder = tmp_path / "many"
    folder.mkdir()
    for n in range(12):
        sentences = [f"Report {n} part {k} says the harbour crane number {n * 100 + k} lifted {k} crates." for k in range(12)]
        (folder / f"report-{n:02d}.txt").write_text(" ".join(sentences), encoding="utf-8")
    return folder


def test_a_killed_update_resumes_with_what_it_had_embedded(many_docs, fake_settings):
    settings = fake_settings.replace(chunk_size=32, chunk_overlap=0)
    killed = KilledAfter(limit=16, texts=[], embed_batch_size=1)  # groups of 8 passages
    with pytest.raises(KeyboardInterrupt):
        Assistant.from_folder(many_docs, settings=settings, embedder=killed)
    cache_dir = settings.index_dir / CACHE_DIR
    assert len(list(cache_dir.glob("*.npz"))) == 2 and len(killed.texts) == 16  # two finished groups kept

    resumed = KilledAfter(limit=10**6, texts=[], embed_batch_size=1)
    bot = Assistant.from_folder(many_docs, settings=settings, embedder=resumed)
    total = bot.last_update.passages_embedded
    assert total > 16
    assert bot.last_update.passages_resumed == 16
    assert len(resumed.texts) == total - 16  # only what was not done
    assert not set(resumed.texts) & set(killed.texts)
    assert "(16 of them finished by an interrupted run)" in bot.last_update.summary()
    assert not cache_dir.exists()  # cleared once the snapshot is live

    fresh = Assistant.from_folder(many_docs, settings=settings.replace(index_dir=settings.index_dir.parent / "fresh"),
                                  embedder=HashEmbedding())
    question = "What did the crane number 305 lift?"
    assert [p.id for p in bot.search(question)] == [p.id for p in fresh.search(question)]
    assert bot.ask(question).text == fresh.ask(question).text


def test_the_cache_ignores_a_file_cut_short(tmp_path):
    cache = EmbeddingCache(tmp_path / "cache", "m")
    key = cache.key("text", [(0, 4)])
    cache.put([key], np.ones((1, 3), dtype=np.float32), [np.ones((1, 3))])
    (tmp_path / "cache" / "broken.npz").write_bytes(b"PK\x03\x04 cut")
    again = EmbeddingCache(tmp_path / "cache", "m")
    vector, parts = again.get(key)
    assert vector.tolist() == [1.0, 1.0, 1.0] and parts.shape == (1, 3)
    assert again.get(again.key("text", [(0, 3)])) is None  # other spans, other key
    assert EmbeddingCache(tmp_path / "cache", "other-model").key("text", [(0, 4)]) != key
