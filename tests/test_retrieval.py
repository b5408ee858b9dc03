"""Hybrid retrieval (assistant/retrieval.py) over the fake model: fusion, rerank, BM25-only hits, follow-ups.

The last test uses the real all-MiniLM-L6-v2 model (``encode_spans``) and is marked ``integration``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fakes import HashEmbedding

from assistant import Assistant, Settings
from assistant.documents import Passage
from assistant.retrieval import (
    ANSWER_TYPES, HybridRetriever, asked_types, content_terms, has_new_evidence, is_follow_up, sentence_terms,
    standalone_query,
)
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
    ({"top_k": 0}, "top_k must be at least 1"),
    ({"top_k": -3}, "top_k must be at least 1"),
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


# ------------------------------------------------------------------ what a question asks for


def kinds(question: str) -> set[str]:
    asked = asked_types(question)
    return {name for name, _, evidence in ANSWER_TYPES if evidence in asked}


@pytest.mark.parametrize("question, expected", [
    ("How many rifles will India buy?", {"number"}),
    ("What is the price of the rifles?", {"money"}),
    ("How much did the rifles cost?", {"money", "number"}),
    ("When was the Kestrel rocket launched?", {"date"}),
    ("In which year did the bakery open?", {"date"}),
    ("Why did the second stage fail?", {"reason"}),
    ("Who opened the Crumb bakery?", {"person"}),
    ("What did the engineers say about the valve?", {"statement"}),
    ("Describe the Alder river.", set()),
])
def test_asked_types(question, expected):
    assert kinds(question) == expected
    assert len(asked_types(question)) == len(expected)


def norm(question: str) -> str:
    return question.lower().replace(",", "")  # how the retriever and the answerer normalise a question


def evidence_of(kind: str):
    (pattern,) = [evidence for name, _, evidence in ANSWER_TYPES if name == kind]
    return pattern


@pytest.mark.parametrize("kind, sentence, question, new", [
    ("number", "It is 120 kilometres long.", "How long is the Alder river?", True),
    ("number", "It is 120 kilometres long.", "Is the Alder river 120 kilometres long, and how long is it?", False),
    ("number", "India will buy 6,01,427 rifles.", "Will India buy 601427 rifles? How many?", False),
    ("number", "India will buy 601427 rifles.", "Will India buy 6,01,427 rifles? How many?", False),
    ("number", "The zoo keeps two tigers.", "How many tigers does the zoo keep?", True),
    ("number", "The zoo keeps tigers.", "How many tigers does the zoo keep?", False),
    ("date", "The Kestrel rocket was launched on 4 March 2021.", "When in 2021 was the rocket launched?", True),
    ("date", "The Kestrel rocket flew in 2021.", "When in 2021 was the rocket launched?", False),
    ("person", "Marta Olsen opened the Crumb bakery.", "Who opened the Crumb bakery?", True),
    ("person", "The Crumb bakery opened.", "Who opened the Crumb bakery?", False),
])
def test_has_new_evidence_ignores_what_the_question_already_says(kind, sentence, question, new):
    assert has_new_evidence(evidence_of(kind), sentence, norm(question)) is new


@pytest.mark.parametrize("sentence, question", [
    ("The rocket had 2 stages.", "How many stages did the rocket launched in 2021 have?"),
    ("The river has 12 bridges.", "How many bridges cross the 120 km river?"),
])
def test_a_number_inside_a_longer_question_number_is_still_new(sentence, question):
    assert has_new_evidence(evidence_of("number"), sentence, norm(question)) is True


def test_sentence_terms_are_the_content_terms():
    sentence = "India will buy 6,01,427 AK-203 rifles, the ministry said."
    assert sentence_terms(sentence) == frozenset(content_terms(sentence))
    assert {"601427", "ak-203", "ak", "203", "rifl"} <= sentence_terms(sentence)
    assert "the" not in sentence_terms(sentence)


# ------------------------------------------------------------------ follow-up questions


@pytest.mark.parametrize("question, follow_up", [
    ("Who was his counterpart?", True),
    ("When was it launched?", True),
    ("And the bread?", True),
    ("What about the trout?", True),
    ("Brightwater?", True),  # too few words to stand alone
    ("Who opened the Crumb bakery?", False),
    ("How long is the Alder river?", False),
    ("When was the Kestrel rocket launched?", False),
])
def test_is_follow_up(question, follow_up):
    assert is_follow_up(question) is follow_up


def test_standalone_query_joins_a_follow_up_to_the_last_two_questions():
    history = ["Who opened the Crumb bakery?", "What does it sell?", "Tell me about the Kestrel rocket."]
    assert standalone_query("When was it launched?", history) == (
        "What does it sell? Tell me about the Kestrel rocket. When was it launched?")
    assert standalone_query("When was it launched?", history[-1:]) == (
        "Tell me about the Kestrel rocket. When was it launched?")


@pytest.mark.parametrize("question, history", [
    ("How long is the Alder river?", ["Tell me about the Kestrel rocket."]),  # self-contained
    ("When was it launched?", []),  # nothing to lean on
])
def test_standalone_query_leaves_a_question_alone(question, history):
    assert standalone_query(question, history) == question


def test_a_follow_up_retrieves_what_the_conversation_is_about(fake_bot):
    query = standalone_query("When was it launched?", ["Tell me about the Kestrel rocket."])
    assert fake_bot.retriever.search(query, top_k=1)[0].doc_id == "rocket.txt"


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
