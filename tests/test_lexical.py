"""The BM25 index (assistant/lexical.py): exact scores, incremental updates, persistence, tokenizer."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from assistant.lexical import B, COUNTS_FILE, K1, TERMS_FILE, BM25Index

# Words the Porter stemmer leaves as they are, so hand-made counts read like the texts.
CORPUS = {
    "a": "cat cat dog",
    "b": "dog fish",
    "c": "fish bird bird bird",
}
COUNTS = {"a": {"cat": 2, "dog": 1}, "b": {"dog": 1, "fish": 1}, "c": {"fish": 1, "bird": 3}}


def reference_bm25(counts: dict[str, dict[str, int]], query_terms: list[str]) -> dict[str, float]:
    """BM25 from the formula: idf = ln(1 + (N - df + 0.5) / (df + 0.5)), k1 0.9, b 0.4."""
    k1, b = 0.9, 0.4
    n = len(counts)
    lengths = {pid: sum(c.values()) for pid, c in counts.items()}
    avg = sum(lengths.values()) / n
    out = {pid: 0.0 for pid in counts}
    for term in set(query_terms):
        df = sum(1 for c in counts.values() if term in c)
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        for pid, c in counts.items():
            tf = c.get(term, 0)
            if tf:
                out[pid] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * lengths[pid] / avg))
    return {pid: s for pid, s in out.items() if s > 0}


def as_dict(index: BM25Index, query: str) -> dict[str, float]:
    return dict(index.search(query, k=len(index) + 1))


def assert_same_scores(left: dict[str, float], right: dict[str, float]) -> None:
    assert sorted(left) == sorted(right)
    for pid in left:
        assert left[pid] == pytest.approx(right[pid], rel=1e-5, abs=1e-7), pid


# ------------------------------------------------------------------ scores


def test_parameters_are_anserini_defaults():
    assert (K1, B) == (0.9, 0.4)
    index = BM25Index.build(CORPUS)
    assert (index.k1, index.b) == (0.9, 0.4)


def test_counts_are_raw_term_counts():
    index = BM25Index.build(CORPUS)
    assert index.ids == ["a", "b", "c"]
    dense = index.counts.toarray()
    got = {pid: {t: int(dense[i, j]) for j, t in enumerate(index.terms) if dense[i, j]} for i, pid in enumerate(index.ids)}
    assert got == COUNTS
    assert {t: index.doc_freq(t) for t in ("cat", "dog", "fish", "bird", "zebra")} == {
        "cat": 1, "dog": 2, "fish": 2, "bird": 1, "zebra": 0}


@pytest.mark.parametrize("query, terms", [
    ("cat", ["cat"]),
    ("dog", ["dog"]),
    ("bird", ["bird"]),
    ("dog fish", ["dog", "fish"]),
    ("cat bird zebra", ["cat", "bird", "zebra"]),
    ("the cat and the dog", ["cat", "dog"]),  # stopwords drop out
])
def test_scores_match_the_formula(query, terms):
    index = BM25Index.build(CORPUS)
    expected = reference_bm25(COUNTS, terms)
    assert_same_scores(as_dict(index, query), expected)
    # scores() is the same numbers for every passage, in ids order (zero where no term matches)
    np.testing.assert_allclose(index.scores(query), [expected.get(pid, 0.0) for pid in index.ids], rtol=1e-5)


def test_one_hand_computed_value():
    """cat in passage a: tf 2, length 3, average length 3, N 3, df 1."""
    idf = math.log(1 + (3 - 1 + 0.5) / (1 + 0.5))
    expected = idf * 2 * 1.9 / (2 + 0.9 * (1 - 0.4 + 0.4 * 3 / 3))
    assert BM25Index.build(CORPUS).search("cat", 5) == [("a", pytest.approx(expected, rel=1e-6))]
    assert expected == pytest.approx(1.2852, abs=1e-4)  # ln(8/3) * 3.8 / 2.9


def test_repeated_query_words_count_once():
    index = BM25Index.build(CORPUS)
    assert as_dict(index, "cat cat cat") == as_dict(index, "cat")


def test_search_is_best_first_and_cut_at_k():
    index = BM25Index.build(CORPUS)
    full = index.search("dog fish bird", 10)
    assert [pid for pid, _ in full] == ["c", "b", "a"]
    assert [s for _, s in full] == sorted((s for _, s in full), reverse=True)
    assert index.search("dog fish bird", 2) == full[:2]
    assert index.search("dog fish bird", 1) == full[:1]


def test_search_scores_and_score_of_agree_with_search():
    index = BM25Index.build(CORPUS)
    scores = index.scores("dog fish")
    assert index.search_scores(scores, 10) == index.search("dog fish", 10)
    assert {pid: index.score_of(scores, pid) for pid in index.ids} == {
        pid: float(scores[i]) for i, pid in enumerate(index.ids)}
    assert index.score_of(scores, "a") > 0


def test_idf_is_lucenes_form_and_unseen_terms_are_highest():
    index = BM25Index.build(CORPUS)
    assert index.idf("dog") == pytest.approx(math.log(1 + (3 - 2 + 0.5) / (2 + 0.5)))
    assert index.idf("cat") == pytest.approx(math.log(1 + (3 - 1 + 0.5) / (1 + 0.5)))
    unseen = index.idf("zebra")
    assert unseen == pytest.approx(math.log(1 + 3.5 / 0.5))
    assert all(index.idf(t) < unseen for t in index.terms)
    assert all(index.idf(t) > 0 for t in index.terms)
    assert BM25Index.empty().idf("anything") == pytest.approx(math.log(2))


def test_counts_of_the_wrong_shape_are_refused():
    with pytest.raises(ValueError, match="counts are"):
        BM25Index(["a", "b"], ["cat"], sparse.csr_matrix((3, 1), dtype=np.float32))


# ------------------------------------------------------------------ empty and unmatched queries


def test_empty_index():
    index = BM25Index.empty()
    assert len(index) == 0
    assert index.search("cat", 5) == []
    assert index.scores("cat").shape == (0,)
    assert BM25Index.build({}).search("cat", 5) == []


@pytest.mark.parametrize("query", ["", "   ", "the of and", "What is it?", "zebra", "the zebra", "?!"])
def test_queries_without_known_content_words_find_nothing(query):
    index = BM25Index.build(CORPUS)
    assert index.search(query, 5) == []
    assert not index.scores(query).any()


def test_an_index_whose_passages_all_went_is_empty():
    index = BM25Index.build(CORPUS).updated(delete=["a", "b", "c"])
    assert (len(index), index.ids, index.terms, index.counts.shape) == (0, [], [], (0, 0))
    assert index.search("cat", 5) == []
    assert index.updated(add={"d": "cat"}).search("cat", 5) == [("d", pytest.approx(math.log(1 + 0.5 / 1.5) * 1.0))]


# ------------------------------------------------------------------ incremental updates


def test_update_equals_a_fresh_build():
    base = {"a": "cat cat dog", "b": "dog fish", "c": "fish bird bird bird", "d": "owl cat"}
    incremental = BM25Index.build(base).updated(add={"e": "owl owl fish", "f": "bird"}, delete=["a", "d"])
    fresh = BM25Index.build({"b": "dog fish", "c": "fish bird bird bird", "e": "owl owl fish", "f": "bird"})
    assert sorted(incremental.ids) == sorted(fresh.ids)
    assert sorted(incremental.terms) == sorted(fresh.terms)
    for query in ["cat", "dog", "fish", "bird", "owl", "owl fish", "dog bird owl cat"]:
        assert_same_scores(as_dict(incremental, query), as_dict(fresh, query))


def test_terms_no_passage_holds_are_dropped():
    index = BM25Index.build(CORPUS).updated(delete=["a"])
    assert sorted(index.terms) == ["bird", "dog", "fish"]
    assert "cat" not in index.terms
    assert index.doc_freq("cat") == 0
    assert index.idf("cat") == index.idf("never-seen")
    assert index.counts.shape == (2, 3)
    assert index.search("cat", 5) == []


def test_adding_an_existing_id_replaces_its_counts():
    index = BM25Index.build(CORPUS).updated(add={"a": "owl owl"})
    assert len(index) == 3
    assert sorted(index.ids) == ["a", "b", "c"]
    assert index.search("cat", 5) == []
    assert "cat" not in index.terms
    assert [pid for pid, _ in index.search("owl", 5)] == ["a"]
    assert index.doc_freq("owl") == 1
    fresh = BM25Index.build({"a": "owl owl", "b": "dog fish", "c": "fish bird bird bird"})
    for query in ["owl", "dog", "fish bird"]:
        assert_same_scores(as_dict(index, query), as_dict(fresh, query))


def test_update_leaves_the_original_alone():
    index = BM25Index.build(CORPUS)
    before = {q: as_dict(index, q) for q in ("cat", "fish", "owl")}
    index.updated(add={"d": "owl"}, delete=["a"])
    assert index.ids == ["a", "b", "c"]
    assert {q: as_dict(index, q) for q in ("cat", "fish", "owl")} == before


def test_deleting_unknown_ids_is_harmless():
    index = BM25Index.build(CORPUS).updated(delete=["nope", "b"])
    assert index.ids == ["a", "c"]


def test_update_tokenizes_only_the_added_passages(monkeypatch):
    import assistant.lexical as lexical

    index = BM25Index.build(CORPUS)
    seen = []
    original = lexical.tokens
    monkeypatch.setattr(lexical, "tokens", lambda text: seen.append(text) or original(text))
    index.updated(add={"d": "owl cat"}, delete=["b"])
    assert seen == ["owl cat"]


WORDS = ["cat", "dog", "fish", "bird", "owl", "fox", "the", "6,01,427", "ak-203"]
texts = st.lists(st.sampled_from(WORDS), min_size=0, max_size=6).map(" ".join)
corpora = st.dictionaries(st.sampled_from([f"p{i}" for i in range(8)]), texts, max_size=6)


@settings(max_examples=60)
@given(first=corpora, added=corpora, data=st.data())
def test_any_update_equals_a_fresh_build(first, added, data):
    deleted = data.draw(st.lists(st.sampled_from(sorted(first) or ["x"]), unique=True))
    incremental = BM25Index.build(first).updated(add=added, delete=deleted)
    expected = {pid: t for pid, t in first.items() if pid not in deleted}
    expected.update(added)
    fresh = BM25Index.build(expected)
    assert sorted(incremental.ids) == sorted(fresh.ids)
    assert sorted(incremental.terms) == sorted(fresh.terms)
    assert {t: incremental.doc_freq(t) for t in fresh.terms} == {t: fresh.doc_freq(t) for t in fresh.terms}
    for query in ["cat", "dog fish", "owl fox bird", "601427", "ak 203"]:
        assert_same_scores(as_dict(incremental, query), as_dict(fresh, query))


# ------------------------------------------------------------------ persistence


def test_save_and_load_round_trip(tmp_path):
    index = BM25Index.build(CORPUS).updated(add={"d": "owl fox"}, delete=["b"])
    index.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([COUNTS_FILE, TERMS_FILE]) == ["bm25.json", "bm25.npz"]
    assert json.loads((tmp_path / TERMS_FILE).read_text(encoding="utf-8")) == {
        "k1": 0.9, "b": 0.4, "ids": index.ids, "terms": index.terms}
    loaded = BM25Index.load(tmp_path)
    assert (loaded.ids, loaded.terms, loaded.k1, loaded.b) == (index.ids, index.terms, index.k1, index.b)
    np.testing.assert_array_equal(loaded.counts.toarray(), index.counts.toarray())
    for query in ["cat", "fish bird", "owl", "zebra"]:
        assert loaded.search(query, 10) == index.search(query, 10)
    # and a loaded index updates like the one it came from
    assert as_dict(loaded.updated(add={"e": "cat"}), "cat") == as_dict(index.updated(add={"e": "cat"}), "cat")


def test_an_empty_index_round_trips(tmp_path):
    BM25Index.empty().save(tmp_path)
    loaded = BM25Index.load(tmp_path)
    assert (len(loaded), loaded.terms, loaded.search("cat", 3)) == (0, [], [])


# ------------------------------------------------------------------ ties


def test_ties_are_broken_deterministically():
    index = BM25Index.build({"z": "cat", "m": "cat", "a": "cat", "q": "dog"})
    first = index.search("cat", 10)
    assert [pid for pid, _ in first] == ["z", "m", "a"]  # equal scores: row (insertion) order
    assert len({s for _, s in first}) == 1
    assert all(index.search("cat", 10) == first for _ in range(5))


def test_a_shorter_search_is_a_prefix_of_a_longer_one_even_with_ties():
    index = BM25Index.build({f"p{n:02d}": "apple pie" if n % 3 else "apple" for n in range(40)})
    full = index.search("apple", 40)
    assert [k for k in range(1, 41) if index.search("apple", k) != full[:k]] == []


# ------------------------------------------------------------------ the shared tokenizer


@pytest.mark.parametrize("document, query", [
    ("India will buy 6,01,427 AK-203 rifles", "601427"),
    ("India will buy 601427 rifles", "6,01,427"),
    ("a budget of 1,000,000 rupees", "1000000"),
    ("AK-203 rifles", "AK 203"),
    ("AK 203 rifles", "AK-203"),
    ("AK-203 rifles", "ak-203"),
    ("Putin's visit", "Putin"),
    ("The rifles were delivered", "rifle delivery"),  # stems
])
def test_the_tokenizer_joins_digit_groups_splits_hyphens_and_stems(document, query):
    index = BM25Index.build({"hit": document, "miss": "an unrelated passage about trout fishing"})
    assert [pid for pid, _ in index.search(query, 5)] == ["hit"]


def test_digit_groups_are_one_number_not_its_pieces():
    index = BM25Index.build({"grouped": "6,01,427 rifles", "small": "601 and 427 rifles"})
    assert [pid for pid, _ in index.search("601427", 5)] == ["grouped"]
    assert [pid for pid, _ in index.search("601", 5)] == ["small"]


@pytest.mark.parametrize("document, query", [("long-range missiles", "range"), ("time-tested ties", "tested")])
def test_a_part_of_a_hyphenated_word_matches_the_word_alone(document, query):
    index = BM25Index.build({"hit": document, "miss": "an unrelated passage about trout fishing"})
    assert [pid for pid, _ in index.search(query, 5)] == ["hit"]
