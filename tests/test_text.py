"""Words as the assistant compares them (assistant/text.py)."""

from __future__ import annotations

import pytest

from assistant.text import content_terms, derived_from, matches, sentence_terms, tokenize, words


def test_sentence_terms_are_the_content_terms():
    sentence = "India will buy 6,01,427 AK-203 rifles, the ministry said."
    assert sentence_terms(sentence) == frozenset(content_terms(sentence))
    assert {"601427", "ak-203", "ak", "203", "rifl"} <= sentence_terms(sentence)
    assert "the" not in sentence_terms(sentence)


def test_digit_grouping_is_removed_and_words_are_stemmed():
    assert tokenize("India will buy 6,01,427 rifles") == ["india", "buy", "601427", "rifl"]
    assert tokenize("the rifles", keep_stopwords=True) == ["the", "rifl"]
    assert words("Russia's rifles") == [("russia", "russia"), ("rifl", "rifles")]


def test_hyphenated_words_also_count_as_their_parts():
    assert content_terms("AK-203 rifles") == ["ak-203", "ak", "203", "rifl"]
    assert matches("ak-203", frozenset(content_terms("the AK 203"))) is True
    assert matches("ak-203", frozenset(content_terms("the AK"))) is False


def test_phrases_are_runs_of_adjacent_content_words():
    from assistant.text import phrases
    found = dict(phrases("Who is Moscow's top diplomat, and what disease outbreak stopped the yearly meeting?"))
    assert found == {"moscow top": "moscow top", "top diplomat": "top diplomat", "moscow top diplomat": "moscow top diplomat",
                     "diseas outbreak": "disease outbreak", "outbreak stop": "outbreak stopped",
                     "diseas outbreak stop": "disease outbreak stopped", "yearli meet": "yearly meeting"}
    assert phrases("It was not held.") == ()  # stopwords and punctuation end a run


@pytest.mark.parametrize("question_word, sentence, said", [
    ("agree", "the agreement was signed", True),
    ("pay", "the payment was late", True),
    ("sign", "his signature", True),
    ("deliver", "the delivery of rifles", True),
    ("act", "the action of the council", True),
    ("sign", "a significant deal", False),
    ("elect", "the electric boats", False),
])
def test_a_noun_made_from_a_question_verb_says_it(question_word, sentence, said):
    (term,) = tokenize(question_word)
    assert derived_from(term, frozenset(content_terms(sentence))) == said
