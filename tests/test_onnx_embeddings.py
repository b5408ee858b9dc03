"""The ONNX Runtime backends (assistant/onnx_export.py, embeddings.OnnxEmbedding) against torch, on the
bundled all-MiniLM-L6-v2: same vectors (fp32), close vectors under another name (int8), sentence vectors
from the same pass, the export cached once, and what happens when ONNX cannot be had."""

from __future__ import annotations

import logging
import sys

import numpy as np
import pytest

from assistant import Assistant
from assistant.config import Settings
from assistant.embeddings import (INT8_SUFFIX, OnnxEmbedding, SentenceTransformerEmbedding, embed_with_spans,
                                  load_embedder)
from assistant.errors import ConfigError, ModelNotFoundError
from assistant.onnx_export import FP32_FILE, INT8_FILE

pytestmark = pytest.mark.integration

TEXTS = [
    "title: Rifles\n\nIndia signed a contract for 6,01,427 AK-203 rifles. They will be made in Amethi.",
    "Short.",
    "title: Ferries\n\nThe ferry to the island leaves at nine. Tickets cost four euros; children travel free.",
] * 4
SPANS = [[(15, 67), (68, 94)], [], [(16, 52), (53, 101)]] * 4


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("onnx-cache"))


@pytest.fixture(scope="module")
def torch_model():
    model = load_embedder("all-MiniLM-L6-v2", batch_size=4)
    model.warm_up()
    return model


@pytest.fixture(scope="module")
def onnx_model(onnx_cache):
    model = load_embedder("all-MiniLM-L6-v2", batch_size=4, backend="onnx", cache_dir=onnx_cache)
    model.warm_up()
    return model


def cosines(a, b) -> np.ndarray:
    return (np.asarray(a) * np.asarray(b)).sum(axis=-1)


def test_fp32_onnx_gives_torchs_vectors_and_shares_its_name(torch_model, onnx_model):
    assert isinstance(onnx_model, OnnxEmbedding) and onnx_model.running_on == "onnx"
    assert onnx_model.model_name == torch_model.model_name  # same vectors: an index built by either serves both
    vt, pt = torch_model.encode_spans(TEXTS, SPANS)
    vo, po = onnx_model.encode_spans(TEXTS, SPANS)
    assert cosines(vt, vo).min() > 1 - 1e-5
    assert all(len(a) == len(b) == len(s) for a, b, s in zip(pt, po, SPANS))
    assert min(cosines(a, b).min() for a, b in zip(pt, po) if len(a)) > 1 - 1e-5
    query = "How many rifles will India buy?"
    assert cosines(torch_model.get_query_embedding(query), onnx_model.get_query_embedding(query)) > 1 - 1e-5
    many = onnx_model.get_text_embedding_batch(TEXTS)  # more than the few-texts fast path
    assert cosines(many, vt).min() > 1 - 1e-5


def test_sentence_vectors_come_from_the_passage_pass(onnx_model):
    """A span's vector pools the passage's own token vectors: close to, but not, the sentence embedded alone."""
    _, parts = onnx_model.encode_spans(TEXTS[:1], SPANS[:1])
    alone = onnx_model.get_text_embedding(TEXTS[0][15:67])
    assert 0.7 < cosines(parts[0][0], alone) < 0.9999
    assert np.allclose(np.linalg.norm(parts[0], axis=1), 1.0, atol=1e-5)


def test_int8_is_close_and_counts_as_another_model(torch_model, onnx_cache):
    model = load_embedder("all-MiniLM-L6-v2", batch_size=4, backend="onnx-int8", cache_dir=onnx_cache)
    assert model.model_name == torch_model.model_name + INT8_SUFFIX
    assert model.running_on == "onnx-int8"
    vt, _ = torch_model.encode_spans(TEXTS, SPANS)
    vq, _ = model.encode_spans(TEXTS, SPANS)
    assert 0.95 < cosines(vt, vq).min() < 1 - 1e-5


def test_the_export_is_made_once_and_reused(onnx_cache, monkeypatch):
    from pathlib import Path

    from assistant import onnx_export

    files = {p.name for p in Path(onnx_cache).rglob("*.onnx")}
    assert {FP32_FILE, INT8_FILE} <= files and not list(Path(onnx_cache).rglob("*.tmp"))

    def no_second_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(onnx_export, "export", no_second_export)
    again = load_embedder("all-MiniLM-L6-v2", backend="onnx", cache_dir=onnx_cache)
    assert again.running_on == "onnx"


def test_switching_to_int8_re_embeds_and_back_to_torch_reuses(tmp_path, docs_dir, onnx_cache):
    settings = Settings(index_dir=tmp_path / "index", show_progress=False, onnx_cache_dir=onnx_cache)
    first = Assistant.from_folder(docs_dir, settings=settings.replace(embed_backend="onnx"))
    assert first.last_update.passages_embedded == first.passage_count > 0
    same = Assistant.from_folder(docs_dir, settings=settings.replace(embed_backend="torch"))
    assert same.last_update.passages_embedded == 0 and not same.last_update.rebuilt
    quantized = Assistant.from_folder(docs_dir, settings=settings.replace(embed_backend="onnx-int8"))
    assert quantized.last_update.rebuilt.startswith("embed_model is 'sentence-transformers/all-MiniLM-L6-v2' in the")
    assert quantized.last_update.passages_embedded == quantized.passage_count
    assert quantized.ask("When was the Crumb bakery opened?").citations[0].doc_id == "bakery.txt"


def test_without_onnxruntime_fp32_runs_on_torch_with_one_line_and_int8_fails(monkeypatch, onnx_cache, caplog,
                                                                             tmp_path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if it were not installed
    fresh = str(tmp_path / "empty-cache")
    model = load_embedder("all-MiniLM-L6-v2", backend="onnx", cache_dir=fresh)
    with caplog.at_level(logging.WARNING, logger="assistant.embeddings"):
        assert model.running_on == "torch"
    assert [r.getMessage() for r in caplog.records] == [
        "embed_backend onnx needs onnxruntime and onnx; run: pip install onnxruntime onnx (or set embed_backend = "
        "torch); embedding with torch instead (same vectors)"]
    assert len(model.get_query_embedding("rifles")) == 384
    int8 = load_embedder("all-MiniLM-L6-v2", backend="onnx-int8", cache_dir=fresh)
    with pytest.raises(ModelNotFoundError, match="^embed_backend onnx needs onnxruntime and onnx; run: pip install"):
        int8.warm_up()


def test_a_failed_export_leaves_no_file_and_says_what_to_do(monkeypatch, tmp_path):
    from assistant import onnx_export

    def broken(model_path, out):
        out.write_bytes(b"half a file")
        raise RuntimeError("unsupported operator\nmore detail")

    monkeypatch.setattr(onnx_export, "export", broken)
    with pytest.raises(ModelNotFoundError) as info:
        onnx_export.onnx_model(load_embedder("all-MiniLM-L6-v2").model_path, cache_dir=tmp_path)
    assert str(info.value) == ("exporting the embedding model to ONNX failed (RuntimeError: unsupported operator); "
                               "set embed_backend = torch")
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_backend_names_are_checked():
    with pytest.raises(ConfigError, match="^embed_backend must be one of torch, onnx, onnx-int8, openai, got 'gpu'$"):
        Settings(embed_backend="gpu")
    with pytest.raises(ConfigError, match="^embed_backend must be one of"):
        load_embedder("all-MiniLM-L6-v2", backend="gpu")
    with pytest.raises(ConfigError, match="^embed_backend openai needs embed_url"):
        Settings(embed_backend="openai")


def test_models_other_than_sentence_transformers_run_as_they_are():
    fake = load_embedder("fake-hash", backend="onnx")
    assert not isinstance(fake, SentenceTransformerEmbedding)
    vectors, parts = embed_with_spans(fake, ["one two. three"], [[(0, 8)]])
    assert vectors.shape == (1, 64) and parts[0].shape == (1, 64)
