"""The extractive answerer: quote the retrieved sentences that answer the question, or refuse.

Each candidate sentence (every sentence of the retrieved passages) is scored by

* ``dense``: cosine similarity of its embedding to the stand-alone query's embedding;
* ``lexical``: the IDF-weighted share of the question's content words it contains (words from earlier
  turns count a third as much);
* ``answer type``: a question asking how many / when / who / why / how much it cost needs a number, a
  date, a name, a reason or an amount of money in the sentence; without one the score is cut.

The best sentence leads; the runner-up joins when it scores within 0.15 of it (and the two stay
under 70 words). When the best score is under the calibrated ``refusal_threshold`` the answer is a
refusal rather than a loosely related quote.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Iterator

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding

from ..citations import Answer, Citation, refusal
from ..documents import Passage
from ..retrieval import (QUESTION_NUMBER, asked_types, content_terms, has_new_evidence, sentence_terms, sentence_words,
                         standalone_query, tokenize, words)
from ..store import Snapshot

DENSE_WEIGHT = 0.55
LEXICAL_WEIGHT = 0.45
CONTEXT_WEIGHT = 0.35  # weight of words from earlier turns in a follow-up
MISSING_TYPE_FACTOR = 0.75  # score kept by a sentence that lacks the kind of answer asked for
SECOND_SENTENCE_MARGIN = 0.15  # XQuAD answers 0.802 against 0.772 at 0.06, median 34 words (BENCHMARKS.md)
MAX_WORDS = 70
SYNONYM_MIN = 0.55  # word-embedding similarity from which a question word counts as found (guns ~ rifles 0.80)

@dataclass
class _Candidate:
    doc_id: str
    start: int
    end: int
    text: str
    dense: float
    lexical: float
    score: float
    terms: frozenset[str]
    passage: Passage
    typed: bool = True  # holds the kind of answer the question asks for (a number, a date, ...)
    confidence: float = -1.0  # what the refusal threshold is held against (the score, unless a follow-up)

    def __post_init__(self):
        if self.confidence < 0:
            self.confidence = self.score


def _matches(term: str, sentence_terms: frozenset[str]) -> bool:
    """A question word is in a sentence; 'ak-203' also matches 'AK 203'."""
    if term in sentence_terms:
        return True
    parts = [p for p in term.split("-") if p]
    return len(parts) > 1 and all(p in sentence_terms for p in parts)


class ExtractiveAnswerer:
    """Answers by quoting sentences from the retrieved passages, or refuses.

    >>> answerer = ExtractiveAnswerer(snapshot, embedder, idf=retriever.idf)   # doctest: +SKIP
    >>> answerer.answer(q, q, [], retriever.search(q), retriever.embed_query(q)).text   # doctest: +SKIP
    'India on Monday signed a contract with Russia to procure 6,01,427 AK-203 assault rifles ... [1]'
    """

    mode = "extractive"

    def __init__(self, snapshot: Snapshot, embedder: BaseEmbedding, idf, refusal_threshold: float = 0.50,
                 max_sentences: int = 2, cache_size: int = 50_000):
        if not 0.0 <= refusal_threshold <= 1.0:
            raise ValueError("refusal_threshold must be between 0 and 1")
        if max_sentences < 1:
            raise ValueError("max_sentences must be at least 1")
        self.snapshot = snapshot
        self.embedder = embedder
        self.idf = idf
        self.refusal_threshold = refusal_threshold
        self.max_sentences = max_sentences
        self._vectors: OrderedDict[tuple[str, int, int], np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()  # the cache is shared by the threads of a server

    # ------------------------------------------------------------------ scoring

    def _cached_vectors(self, keys: list, texts: list[str]) -> list[np.ndarray]:
        """Embeddings of ``texts`` by ``keys``, embedding only those not cached (LRU)."""
        with self._lock:
            missing = [i for i, key in enumerate(keys) if key not in self._vectors]
        found = {}
        if missing:
            vectors = self.embedder.get_text_embedding_batch([texts[i] for i in missing])
            found = {keys[i]: np.asarray(v, dtype="float32") for i, v in zip(missing, vectors)}
        with self._lock:
            self._vectors.update(found)
            out = []
            for key in keys:
                vector = self._vectors.get(key)
                if vector is None:  # evicted by another thread meanwhile
                    vector = found.get(key)
                else:
                    self._vectors.move_to_end(key)
                out.append(vector)
            while len(self._vectors) > self._cache_size:
                self._vectors.popitem(last=False)
        if any(v is None for v in out):
            return self._cached_vectors(keys, texts)
        return out

    def _sentence_vectors(self, keys: list[tuple[str, int, int]], texts: list[str]) -> np.ndarray:
        # Each sentence embedded on its own (cached), not the index's pooled sentence vectors: pooled
        # ones carry their passage's context, which ranks passages well but blurs which sentence of a
        # passage answers (gold accuracy 0.662 against 0.714; BENCHMARKS.md, "Retrieval").
        return np.stack(self._cached_vectors(keys, texts))

    def _word_vectors(self, vocabulary: list[str]) -> dict[str, np.ndarray]:
        vectors = self._cached_vectors([("w", w, 0) for w in vocabulary], vocabulary)
        return dict(zip(vocabulary, vectors))

    def _synonyms(self, question_stems: list[str], surface: dict[str, str], sentences: list[str]
                  ) -> dict[str, dict[str, float]]:
        """For each question word, the sentence words (by stem) whose embedding is close to it."""
        if not question_stems or not sentences:
            return {}
        found = {}
        for text in sentences:
            for stem, word in sentence_words(text):
                if word.isalpha() and stem not in question_stems:
                    found.setdefault(stem, word)
        if not found:
            return {}
        asked = [surface[s] for s in question_stems if surface[s].isalpha()]
        vectors = self._word_vectors(sorted(set(asked) | set(found.values())))
        stems = list(found)
        matrix = np.stack([vectors[found[s]] for s in stems])
        out: dict[str, dict[str, float]] = {}
        for stem in question_stems:
            word = surface[stem]
            if not word.isalpha():
                continue
            sims = matrix @ vectors[word]
            close = {stems[i]: float(sims[i]) for i in np.nonzero(sims >= SYNONYM_MIN)[0]}
            if close:
                out[stem] = close
        return out

    def candidates(self, question: str, context: list[str], passages: list[Passage],
                   query_vector: np.ndarray) -> list[_Candidate]:
        """Every sentence of the retrieved passages, scored, best first."""
        weights: dict[str, float] = {}
        for term in tokenize(" ".join(context)):
            weights[term] = self.idf(term) * CONTEXT_WEIGHT
        for term in tokenize(question):
            weights[term] = self.idf(term)
        total = sum(weights.values()) or 1.0
        surface = {stem: word for stem, word in words(question)}
        needs = asked_types(question)
        question_norm = " ".join([question, *context]).lower().replace(",", "")
        numbers = [m.group().lower().replace(",", "") for m in QUESTION_NUMBER.finditer(question)]

        seen, keys, texts, owners = set(), [], [], []
        for passage in passages:
            text = self.snapshot.documents[passage.doc_id].text
            for start, end in self.snapshot.sentences(passage.doc_id):
                if end <= passage.start or start >= passage.end or (passage.doc_id, start, end) in seen:
                    continue
                seen.add((passage.doc_id, start, end))
                keys.append((passage.doc_id, start, end))
                texts.append(text[start:end])
                owners.append(passage)
        if not keys:
            return []
        soft = self._synonyms([t for t in weights if t in surface], surface, texts)
        vectors = self._sentence_vectors(keys, texts)
        dense = vectors @ np.asarray(query_vector, dtype="float32")
        own_dense = dense
        if context:  # a follow-up: the query carries earlier turns; weigh the question itself equally
            own = np.asarray(self.embedder.get_query_embedding(question), dtype="float32")
            own_dense = vectors @ own
            dense = 0.5 * (dense + own_dense)
        own_terms = set(tokenize(question))
        own_total = sum(w for t, w in weights.items() if t in own_terms) or 1.0
        out = []
        for (doc_id, start, end), sentence, passage, d, d_own in zip(keys, texts, owners, dense.tolist(),
                                                                     own_dense.tolist()):
            terms = sentence_terms(sentence)
            lexical = own_lexical = 0.0
            for t, w in weights.items():
                if _matches(t, terms):
                    found = w
                elif t in soft:  # the sentence holds a near-synonym of this question word
                    found = w * max((sim for stem, sim in soft[t].items() if stem in terms), default=0.0)
                else:
                    continue
                lexical += found
                if t in own_terms:
                    own_lexical += found
            lexical /= total
            score = DENSE_WEIGHT * max(d, 0.0) + LEXICAL_WEIGHT * lexical
            # A follow-up ranks sentences in the light of the conversation, but a sentence that answers
            # the question as asked is not refused for the context's words it lacks.
            own_score = DENSE_WEIGHT * max(d_own, 0.0) + LEXICAL_WEIGHT * own_lexical / own_total
            factor = 1.0
            for evidence in needs:
                if not has_new_evidence(evidence, sentence, question_norm):
                    factor *= MISSING_TYPE_FACTOR
            sentence_norm = sentence.lower().replace(",", "")
            for number in numbers:
                if not re.search(rf"\b{re.escape(number)}\b", sentence_norm):
                    factor *= MISSING_TYPE_FACTOR
            out.append(_Candidate(doc_id, start, end, sentence, d, lexical, score * factor, terms, passage,
                                  factor == 1.0, max(score, own_score) * factor if context else score * factor))
        out.sort(key=lambda c: (-c.score, c.doc_id, c.start))
        return out

    # ------------------------------------------------------------------ answering

    def standalone(self, question: str, previous: list[str]) -> str:
        """The question made stand-alone for retrieval (follow-ups carry the turns before them)."""
        return standalone_query(question, previous)

    def answer(self, question: str, query: str, context: list[str], passages: list[Passage],
               query_vector: np.ndarray) -> Answer:
        ranked = self.candidates(question, context, passages, query_vector)
        return self.answer_from(ranked, question, query, passages)

    def stream(self, question: str, query: str, context: list[str], passages: list[Passage],
               query_vector: np.ndarray) -> Iterator[str | Answer]:
        """The answer's text in word-sized pieces (it is complete at once), then the ``Answer``."""
        answer = self.answer(question, query, context, passages, query_vector)
        yield from (m.group() for m in re.finditer(r"\S+\s*", answer.text))
        yield answer

    def answer_from(self, ranked: list[_Candidate], question: str, query: str, passages: list[Passage]) -> Answer:
        """The extractive answer from already scored candidates (best first)."""
        if not ranked or ranked[0].confidence < self.refusal_threshold:
            confidence = ranked[0].confidence if ranked else 0.0
            return refusal(question, query, round(confidence, 4), passages, self.mode)
        chosen = self._select(ranked, set(content_terms(question)))
        citations, pieces = [], []
        for number, c in enumerate(chosen, start=1):
            citations.append(Citation(number=number, doc_id=c.doc_id, title=self.snapshot.title(c.doc_id),
                                      quote=c.text, start=c.start, end=c.end, score=round(c.score, 4),
                                      passage_id=c.passage.id))
            pieces.append(f"{c.text} [{number}]")
        return Answer(text=" ".join(pieces), citations=citations, refused=False, question=question, query=query,
                      confidence=round(chosen[0].confidence, 4), mode=self.mode, passages=passages)

    def _select(self, ranked: list[_Candidate], question_terms: set[str]) -> list[_Candidate]:
        # The runner-up joins when it scores nearly as well: on the SQuAD 2.0 slice the gold answer is in
        # the best sentence 79% of the time and in one of the best two 87%.
        best = ranked[0]
        chosen = [best]
        words = len(best.text.split())
        for c in ranked[1:]:
            if len(chosen) >= self.max_sentences:
                break
            if c.score < max(self.refusal_threshold, best.score - SECOND_SENTENCE_MARGIN):
                break
            if words + len(c.text.split()) > MAX_WORDS:
                continue
            chosen.append(c)
            words += len(c.text.split())
        return chosen
