"""``embed_backend = "openai"`` against a real OpenAI-compatible embeddings server: infinity-emb (PyPI),
serving the bundled all-MiniLM-L6-v2 from its installed folder on a loopback port.

infinity-emb pins numpy below 2, so it lives in a venv of its own: ``.venv-infinity`` beside the project's
``.venv`` (``.ci/run`` makes it), or the ``infinity_emb`` command named by ``ASSISTANT_INFINITY``. Without it
these tests fail with the command that installs it; they never skip.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from assistant import Assistant, Settings
from assistant.cli import main
from assistant.embeddings import embed_with_spans, load_embedder
from assistant.errors import EmbeddingServerError
from assistant.store import IndexStore
from servers import free_port, openai_server

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
INSTALL = ('python3 -m venv .venv-infinity && .venv-infinity/bin/pip install "infinity-emb[server,torch]==0.0.78" '
           'torch==2.13.0')


def infinity_command() -> str:
    named = os.environ.get("ASSISTANT_INFINITY") or str(ROOT / ".venv-infinity" / "bin" / "infinity_emb")
    found = shutil.which(named)
    if not found:
        pytest.fail(f"infinity-emb is not installed at {named}; run: {INSTALL} (or set ASSISTANT_INFINITY)")
    return found


@pytest.fixture(scope="module")
def infinity_server():
    """infinity_emb v2 with the bundled model's folder, on 127.0.0.1; nothing downloaded, no telemetry."""
    command = infinity_command()
    model = load_embedder("all-MiniLM-L6-v2").model_path
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "DO_NOT_TRACK": "1",
           "INFINITY_ANONYMOUS_USAGE_STATS": "0", "PYTHONUNBUFFERED": "1"}
    cmd = [command, "v2", "--model-id", model, "--served-model-name", "all-MiniLM-L6-v2", "--engine", "torch",
           "--device", "cpu", "--no-bettertransformer", "--host", "127.0.0.1", "--port", str(port), "--url-prefix", "/v1"]
    # torch's import and the model load, on a busy 2-core machine
    with openai_server(cmd, port, "infinity_emb", 240, env, stop_timeout=20) as url:
        yield url


def test_the_server_gives_the_local_models_vectors(infinity_server):
    remote = load_embedder("all-MiniLM-L6-v2", backend="openai", url=infinity_server, batch_size=4)
    local = load_embedder("all-MiniLM-L6-v2")
    texts = ["India signed a contract for AK-203 rifles.", "The ferry leaves at nine.", "Short.",
             "Tickets cost four euros; children travel free.", "A fifth text, to cross a batch of four."]
    far = np.asarray(remote.get_text_embedding_batch(texts))
    near = np.asarray(local.get_text_embedding_batch(texts))
    assert far.shape == (5, 384)
    assert np.allclose(np.linalg.norm(far, axis=1), 1.0, atol=1e-5)
    assert (far * near).sum(axis=1).min() > 0.999
    assert remote.model_name == "openai:all-MiniLM-L6-v2"


def test_sentence_vectors_are_the_sentences_embedded_alone(infinity_server):
    """A server returns no token vectors, so each sentence is an input of its own."""
    remote = load_embedder("all-MiniLM-L6-v2", backend="openai", url=infinity_server)
    text = "The ferry leaves at nine. Tickets cost four euros."
    vectors, parts = embed_with_spans(remote, [text], [[(0, 25), (26, 50)]])
    alone = np.asarray(remote.get_text_embedding_batch([text[0:25], text[26:50]]))
    assert vectors.shape == (1, 384) and parts[0].shape == (2, 384)
    assert np.allclose(parts[0], alone, atol=1e-5)


def test_an_index_built_through_the_server_answers_and_names_it(infinity_server, docs_dir, tmp_path):
    settings = Settings(index_dir=tmp_path / "index", show_progress=False, embed_backend="openai",
                        embed_url=infinity_server)
    bot = Assistant.from_folder(docs_dir, settings=settings)
    assert bot.last_update.passages_embedded == bot.passage_count == 3
    answer = bot.ask("When did Marta Olsen open the bakery?")
    assert not answer.refused and answer.citations[0].doc_id == "bakery.txt"
    snapshot = IndexStore(settings.index_dir).load()
    assert snapshot.manifest["embed_model"] == "openai:all-MiniLM-L6-v2"
    assert len(snapshot.sentence_vectors) == 3
    # a server's vectors are the server's: the local model does not reuse them, it re-embeds
    local = Assistant.from_folder(docs_dir, settings=settings.replace(embed_backend="torch"))
    assert local.last_update.rebuilt.startswith("embed_model is 'openai:all-MiniLM-L6-v2' in the index")


def test_no_server_is_one_line_that_says_what_to_do(docs_dir, tmp_path, capsys):
    url = f"http://127.0.0.1:{free_port()}/v1"
    code = main(["index", "--docs", str(docs_dir), "--index", str(tmp_path / "index"), "--quiet",
                 "--embed-backend", "openai", "--embed-url", url])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err == f"error: no embeddings server answers at {url}; start it or fix embed_url\n"
    with pytest.raises(EmbeddingServerError):
        load_embedder("all-MiniLM-L6-v2", backend="openai", url=url).get_query_embedding("rifles")


def test_the_key_comes_from_the_environment_only(monkeypatch, infinity_server):
    monkeypatch.setenv("ASSISTANT_EMBED_API_KEY", "sk-test-123")
    remote = load_embedder("all-MiniLM-L6-v2", backend="openai", url=infinity_server)
    remote.warm_up()
    assert remote.model_dump().get("api_key") is None
    assert len(remote.get_query_embedding("rifles")) == 384  # infinity takes any key
