"""Hybrid retrieval (assistant/retrieval.py) over the fake model: fusion, rerank, BM25-only hits, follow-ups.

What a question asks for is tested in test_questions.py; words and terms in test_text.py.

The last test uses the real all-MiniLM-L6-v2 model (``encode_spans``) and is marked ``integration``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fakes import HashEmbedding

from assistant import Assistant, Settings
from assistant.documents import Passage
from assistant.questions import Question
from assistant.retrieval import HybridRetriever
from assistant.text import content_terms
from assistant.store import Snapshot, new_manifest

MODES = [("weighted", True), ("weighted", False), ("rrf", True), ("rrf", False)]
QUESTIONS = ["Who opened the Crumb bakery?", "Kestrel rocket fuel valve", "How long is the Alder river?",
             "When was the Kestrel rocket launched?", "zorblax", "trout"]
ZOO = "zoo.txt"
ZOO_TEXT = "The zoo keeps two tigers. A zorblax sleeps in the reptile house."


@pytest.fixture
def zoo_bot(docs_dir, fake_settings) -> Assistant:
    """The fake bot with a fourth document holding a made-up word."""
    (docs_dir / ZOO).write_text(ZOO_TEXT, encoding="utf-8")
    return Assistant.from_folder(docs_dir, settings=fake_settings)


def ids(passages: list[Passage]) -> list[str]:
    return [p.id for p in passages]


def zoo_id(bot: Assistant) -> str:
    (pid,) = [pid for pid, p in bot.snapshot.passages.items() if p.doc_id == ZOO]
    return pid


def blind_vector(bot: Assistant) -> np.ndarray:
    """A unit query vector orthogonal to every passage: a dense model that relates the query to nothing."""
    _, vectors = bot.snapshot.vectors.all_vectors()
    unused = np.flatnonzero(np.abs(vectors).sum(axis=0) == 0)
    assert unused.size, "the fake corpus uses every hash bucket"
    vector = np.zeros(vectors.shape[1], dtype="float32")
    vector[unused[0]] = 1.0
    assert not (vectors @ vector).any()
    return vector


# ------------------------------------------------------------------ search


@pytest.mark.parametrize("fusion, rerank", MODES)
@pytest.mark.parametrize("question", QUESTIONS)
def test_search_returns_top_k_passages_best_first(zoo_bot, question, fusion, rerank):
    retriever = zoo_bot.retriever
    everything = retriever.search(question, top_k=10, fusion=fusion, rerank=rerank)
    assert sorted(ids(everything)) == sorted(zoo_bot.snapshot.passages)  # only 4 passages
    for k in (1, 2, 3):
        found = retriever.search(question, top_k=k, fusion=fusion, rerank=rerank)
        assert found == everything[:k], "asking for more passages never reorders the best"
    scores = [p.score for p in everything]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores == sorted(scores, reverse=True)
    for p in everything:
        stored = zoo_bot.snapshot.passages[p.id]
        assert (p.doc_id, p.start, p.end, p.text) == (stored.doc_id, stored.start, stored.end, stored.text)
    assert retriever.search(question, fusion=fusion, rerank=rerank) == everything[:retriever.top_k]


def test_default_top_k_comes_from_the_settings(docs_dir, fake_settings):
    bot = Assistant.from_folder(docs_dir, settings=fake_settings.replace(top_k=2))
    assert bot.retriever.top_k == 2
    assert len(bot.retriever.search("bread")) == 2


@pytest.mark.parametrize("question, doc_id", [
    ("Who opened the Crumb bakery?", "bakery.txt"),
    ("Kestrel rocket fuel valve", "rocket.txt"),
    ("Where do fishermen catch brown trout?", "rivers.txt"),
    ("zorblax", ZOO),
])
def test_the_right_document_comes_first_in_every_mode(zoo_bot, question, doc_id):
    for fusion, rerank in MODES:
        assert zoo_bot.retriever.search(question, top_k=1, fusion=fusion, rerank=rerank)[0].doc_id == doc_id


def test_every_mode_returns_the_same_candidates_for_a_unique_word(zoo_bot):
    results = {mode: zoo_bot.retriever.search("zorblax", top_k=4, fusion=mode[0], rerank=mode[1]) for mode in MODES}
    assert {mode: ids(found)[0] for mode, found in results.items()} == {mode: zoo_id(zoo_bot) for mode in MODES}
    assert len({frozenset(ids(found)) for found in results.values()}) == 1
    assert results[("weighted", True)][0].score == 1.0


def test_rrf_without_rerank_scores_are_reciprocal_ranks(zoo_bot):
    found = zoo_bot.retriever.search("zorblax", top_k=4, fusion="rrf", rerank=False)
    # first by both rankings: 1/61 + 1/61
    assert found[0].score == pytest.approx(2 / 61, abs=1e-6)
    assert all(2 / 64 - 1e-6 <= p.score <= 2 / 61 + 1e-6 for p in found)


@pytest.mark.parametrize("fusion, rerank", [("weighted", True), ("weighted", False)])
def test_a_passage_only_bm25_finds_still_comes_first(zoo_bot, fake_settings, fusion, rerank):
    blind = blind_vector(zoo_bot)
    target = zoo_id(zoo_bot)
    # one candidate from each side: the dense one is some other passage, the BM25 one the zoo's
    retriever = HybridRetriever(zoo_bot.snapshot, zoo_bot.embedder, top_k=1, candidates=1, fusion=fusion, rerank=rerank)
    assert [pid for pid, _ in retriever.dense(blind, 1)] != [target]
    assert [pid for pid, _ in retriever.lexical("zorblax", 1)] == [target]
    found = retriever.search("zorblax", vector=blind)
    assert ids(found) == [target]
    assert 0.0 <= found[0].score <= 1.0
    # and with the usual number of candidates
    assert ids(zoo_bot.retriever.search("zorblax", top_k=1, vector=blind, fusion=fusion, rerank=rerank)) == [target]


def test_rerank_prefers_the_sentence_that_holds_the_asked_for_number(tmp_path, fake_settings):
    docs = tmp_path / "counted"
    docs.mkdir()
    (docs / "a.txt").write_text("The zoo keeps tigers. The tigers of the zoo sleep all day in the zoo.", encoding="utf-8")
    (docs / "b.txt").write_text("Visitors like the zoo. The zoo keeps 7 tigers.", encoding="utf-8")
    bot = Assistant.from_folder(docs, settings=fake_settings)
    question = "How many tigers does the zoo keep?"
    assert bot.retriever.search(question, top_k=1, rerank=False)[0].doc_id == "a.txt"
    assert bot.retriever.search(question, top_k=1, rerank=True)[0].doc_id == "b.txt"


def test_lexical_and_dense_are_the_snapshot_searches(zoo_bot):
    retriever, snap = zoo_bot.retriever, zoo_bot.snapshot
    for question in QUESTIONS:
        assert retriever.lexical(question, 3) == snap.lexical.search(question, 3)
        vector = retriever.embed_query(question)
        assert retriever.dense(vector, 3) == snap.vectors.search(vector, 3)
        np.testing.assert_allclose(vector, HashEmbedding().get_query_embedding(question), atol=1e-6)


def test_idf_of_an_unseen_word_is_the_highest(zoo_bot):
    retriever = zoo_bot.retriever
    known = retriever.lexical_index.terms
    assert retriever.idf("zebra") > max(retriever.idf(t) for t in known)
    (every,) = content_terms("every")  # in rivers.txt and bakery.txt
    assert retriever.lexical_index.doc_freq(every) == 2
    assert retriever.idf(every) < retriever.idf("zorblax") < retriever.idf("zebra")
    assert retriever.idf("the") == retriever.idf("zebra")  # a stopword is never indexed


def test_an_empty_snapshot_finds_nothing():
    snapshot = Snapshot.empty(new_manifest("fake-hash", 64, 240, 32), 64)
    assert HybridRetriever(snapshot, HashEmbedding()).search("anything at all") == []


@pytest.mark.parametrize("kwargs, message", [
    ({"fusion": "bogus"}, "fusion must be one of weighted, rrf"),
    ({"top_k": 0}, "top_k must be between 1 and 100"),
    ({"top_k": -3}, "top_k must be between 1 and 100"),
])
def test_bad_retriever_settings_are_refused(fake_bot, kwargs, message):
    with pytest.raises(ValueError, match=message):
        HybridRetriever(fake_bot.snapshot, fake_bot.embedder, **kwargs)


@pytest.mark.parametrize("kwargs", [{"fusion": "bogus"}, {"top_k": 0}])
def test_bad_search_overrides_are_refused(fake_bot, kwargs):
    with pytest.raises(ValueError):
        fake_bot.retriever.search("bread", **kwargs)


def test_llama_index_retrieve_gives_the_same_passages(fake_bot):
    question = "Who opened the Crumb bakery?"
    nodes = fake_bot.retriever.retrieve(question)
    found = fake_bot.retriever.search(question)
    assert [(n.node.id_, n.score) for n in nodes] == [(p.id, p.score) for p in found]
    assert nodes[0].node.metadata["title"] == "Bakery"
    assert nodes[0].node.get_content() == found[0].text


def test_search_with_hnsw_equals_exact(docs_dir, fake_settings, tmp_path):
    (docs_dir / ZOO).write_text(ZOO_TEXT, encoding="utf-8")
    exact = Assistant.from_folder(docs_dir, settings=fake_settings)
    hnsw = Assistant.from_folder(docs_dir, settings=fake_settings.replace(vector_index="hnsw",
                                                                         index_dir=tmp_path / "hnsw-index"))
    assert hnsw.snapshot.approximate is not None
    for question in QUESTIONS:
        for fusion, rerank in MODES:
            assert hnsw.retriever.search(question, top_k=4, fusion=fusion, rerank=rerank) == \
                exact.retriever.search(question, top_k=4, fusion=fusion, rerank=rerank)


def test_a_follow_up_retrieves_what_the_conversation_is_about(fake_bot):
    question = Question.ask("When was it launched?", ["Tell me about the Kestrel rocket."])
    assert question.query == "Tell me about the Kestrel rocket. When was it launched?"
    assert fake_bot.retriever.search(question, top_k=1)[0].doc_id == "rocket.txt"


# ------------------------------------------------------------------ the real model's span pooling


@pytest.fixture(scope="module")
def minilm():
    from assistant.embeddings import load_embedder

    model = load_embedder("all-MiniLM-L6-v2", batch_size=4)
    model.warm_up()
    return model


def unit_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.integration
def test_encode_spans_gives_the_passage_vectors_and_one_unit_vector_per_span(minilm):
    from assistant.documents import sentence_spans
    from assistant.embeddings import embed_with_spans

    long_text = " ".join(f"Sentence number {i} talks about rifles and rockets." for i in range(80))  # > 256 tokens
    texts = [
        "title: Rocket\n\nThe Kestrel rocket was launched from Andøya. Its second stage failed after ninety seconds.",
        "The bakery sells rye bread. Every Saturday it gives unsold bread to the food bank.",
        "A text without spans.",
        "Short.",
        "Fishermen catch brown trout in the upper reaches every spring. The river is 120 km long.",
        long_text,
    ]
    spans = [sentence_spans(t) for t in texts]
    spans[2] = []
    spans[3] = [(0, 0)]  # holds no token
    spans[5] = [spans[5][0], spans[5][-1]]  # the last sentence lies beyond truncation
    vectors, parts = minilm.encode_spans(texts, spans)
    reference = np.asarray(minilm.get_text_embedding_batch(texts), dtype="float32")
    assert vectors.shape == (len(texts), 384) and vectors.dtype == np.float32
    for i in range(len(texts)):
        assert unit_cosine(vectors[i], reference[i]) > 0.9999, i
        assert np.linalg.norm(vectors[i]) == pytest.approx(1.0, abs=1e-5)
    assert [len(p) for p in parts] == [len(s) for s in spans] == [3, 2, 0, 1, 2, 2]  # "title: Rocket" is a line of its own
    for part in parts:
        assert part.shape[1:] == (384,)
        np.testing.assert_allclose(np.linalg.norm(part, axis=1), 1.0, atol=1e-5)
    # spans without a token get their text's vector
    np.testing.assert_allclose(parts[3][0], vectors[3], atol=1e-6)
    np.testing.assert_allclose(parts[5][1], vectors[5], atol=1e-6)
    assert unit_cosine(parts[5][0], vectors[5]) < 0.9999  # the first sentence is inside: its own vector
    # each sentence's pooled vector is nearest to that sentence embedded alone
    for i in (0, 1, 4):
        alone = np.asarray(minilm.get_text_embedding_batch([texts[i][s:e] for s, e in spans[i]]), dtype="float32")
        similarity = parts[i] @ alone.T
        assert list(similarity.argmax(axis=1)) == list(range(len(spans[i]))), i
        assert similarity.diagonal().min() > 0.6
    # embed_with_spans takes the one-pass route for this model and gives the same
    again, again_parts = embed_with_spans(minilm, texts, spans)
    np.testing.assert_allclose(again, vectors, atol=1e-5)
    for a, b in zip(again_parts, parts):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.integration
def test_encode_spans_is_independent_of_batching(minilm):
    """Padding to the longest text in a batch must not change any vector."""
    from assistant.documents import sentence_spans

    texts = ["A short one. Two sentences.", "A much longer text that has a few more words in it. And another sentence here.",
             "Mid-length text about tigers. They sleep."]
    spans = [sentence_spans(t) for t in texts]
    together, together_parts = minilm.encode_spans(texts, spans)
    for i, text in enumerate(texts):
        alone, alone_parts = minilm.encode_spans([text], [spans[i]])
        np.testing.assert_allclose(alone[0], together[i], atol=1e-4)
        np.testing.assert_allclose(alone_parts[0], together_parts[i], atol=1e-4)
