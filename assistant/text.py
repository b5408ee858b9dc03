"""Words as the assistant compares them: tokenizing, stemming, stopwords, content terms.

One tokenizer for everything that matches words: the BM25 index (lexical.py), the retriever's
rerank, the question analysis and both answerers. Digit grouping is removed so 6,01,427 == 601427,
and a hyphenated word is also split so 'AK-203' matches 'AK 203'.

>>> tokenize("How many AK-203 rifles?")
['mani', 'ak-203', 'rifl']
>>> content_terms("AK-203 rifles")
['ak-203', 'ak', '203', 'rifl']
"""

from __future__ import annotations

import re
from functools import lru_cache

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had has
    have having he her here hers herself him himself his how i if in into is it its itself just me more
    most my myself no nor not now of off on once only or other our ours ourselves out over own same she
    should so some such than that the their theirs them themselves then there these they this those
    through to too under until up very was we were what when where which while who whom whose why will
    with would you your yours yourself yourselves said say says according tell told did does do
    """.split()
)
# Words about the documents rather than their content ("the Indian minister mentioned in the article").
META_WORDS = frozenset("article articles document documents text passage mentioned mention mentions given named".split())
STOPWORDS = STOPWORDS | META_WORDS

WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
DIGIT_GROUPING = re.compile(r"(?<=\d)[,\u00a0](?=\d)")


@lru_cache(maxsize=1)
def _stemmer():
    from nltk.stem import PorterStemmer

    return PorterStemmer()


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Porter stem of a lower-case word (cached: the same words come back question after question)."""
    return _stemmer().stem(word)


def words(text: str, keep_stopwords: bool = False) -> list[tuple[str, str]]:
    """(stem, word) for each content word of ``text``, lower-cased, digit grouping removed."""
    text = DIGIT_GROUPING.sub("", text.lower())
    out = []
    for word in WORD.findall(text.replace("\u2019", "'")):
        word = word.removesuffix("'s")
        if not keep_stopwords and word in STOPWORDS:
            continue
        out.append((stem(word) if word.isalpha() else word, word))
    return out


def tokenize(text: str, keep_stopwords: bool = False) -> list[str]:
    """Lower-cased, stemmed word tokens; digit grouping is removed so 6,01,427 == 601427."""
    return [s for s, _ in words(text, keep_stopwords)]


def content_terms(text: str) -> list[str]:
    """Tokens of ``text`` with hyphenated words also split, so 'AK-203' matches 'AK 203'."""
    terms = []
    for token in tokenize(text):
        terms.append(token)
        if "-" in token:
            terms.extend(stem(part) if part.isalpha() else part
                         for part in token.split("-") if part and part not in STOPWORDS)
    return terms


@lru_cache(maxsize=200_000)
def sentence_terms(sentence: str) -> frozenset[str]:
    """``content_terms`` of a sentence as a set, cached: the same sentences come back query after query."""
    return frozenset(content_terms(sentence))


@lru_cache(maxsize=200_000)
def sentence_words(sentence: str) -> tuple[tuple[str, str], ...]:
    """``words`` of a sentence, cached like ``sentence_terms``."""
    return tuple(words(sentence))


@lru_cache(maxsize=100_000)
def phrases(text: str, longest: int = 3) -> tuple[tuple[str, str], ...]:
    """Runs of two to ``longest`` adjacent content words ("top diplomat", "annual summit"; punctuation and
    stopwords end a run), each as (its stems joined by a space, its words): what a phrase said in other
    words is matched on."""
    text = DIGIT_GROUPING.sub("", text.lower()).replace("\u2019", "'")
    runs, run, last = [], [], 0
    for m in WORD.finditer(text):
        word = m.group().removesuffix("'s")
        if word in STOPWORDS or text[last:m.start()].strip():
            if len(run) > 1:
                runs.append(run)
            run = []
        if word not in STOPWORDS:
            run.append((stem(word) if word.isalpha() else word, word))
        last = m.end()
    if len(run) > 1:
        runs.append(run)
    out = {}
    for run in runs:
        for size in range(2, longest + 1):
            for i in range(len(run) - size + 1):
                piece = run[i:i + size]
                out.setdefault(" ".join(s for s, _ in piece), " ".join(w for _, w in piece))
    return tuple(out.items())


def matches(term: str, terms: frozenset[str]) -> bool:
    """A question word is among a sentence's terms; 'ak-203' also matches 'AK 203'."""
    if term in terms:
        return True
    parts = [p for p in term.split("-") if p]
    return len(parts) > 1 and all(p in terms for p in parts)


# Endings that make a noun of a verb the stemmer leaves apart: agree/agreement, pay/payment, sign/signature,
# act/action, deliver/delivery (stems "agre"/"agreement", "deliv"/"deliveri").
DERIVED_ENDINGS = ("ement", "ment", "atur", "ion", "eri")


def derived_from(term: str, terms: frozenset[str]) -> bool:
    """A sentence's term is ``term`` made a noun ("agreement" for "agree"): it says the same thing."""
    return len(term) >= 3 and any(t.startswith(term) and t[len(term):] in DERIVED_ENDINGS for t in terms)


def normalise_numbers(text: str) -> str:
    """Lower case without digit-grouping commas: how a question is searched for words it already holds."""
    return text.lower().replace(",", "")
