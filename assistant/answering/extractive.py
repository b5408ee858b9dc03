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
from ..questions import Question, standalone_query
from ..store import Snapshot
from ..text import matches, sentence_terms, sentence_words

DENSE_WEIGHT = 0.55
LEXICAL_WEIGHT = 0.45
CONTEXT_WEIGHT = 0.35  # weight of words from earlier turns in a follow-up
SECOND_SENTENCE_MARGIN = 0.15  # XQuAD answers 0.802 against 0.772 at 0.06, median 34 words (BENCHMARKS.md)
MAX_WORDS = 70
SYNONYM_MIN = 0.55  # word-embedding similarity from which a question word counts as found (guns ~ rifles 0.80)

@dataclass
class Candidate:
    """One sentence of the retrieved passages, scored for a question."""

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

    def cite(self, number: int, title: str) -> Citation:
        """This sentence as citation ``number``: its exact span of its document."""
        return Citation(number=number, doc_id=self.doc_id, title=title, quote=self.text, start=self.start,
                        end=self.end, score=round(self.score, 4), passage_id=self.passage.id)


class ExtractiveAnswerer:
    """Answers by quoting sentences from the retrieved passages, or refuses.

    >>> answerer = ExtractiveAnswerer(snapshot, embedder, idf=retriever.idf)   # doctest: +SKIP
    >>> q = Question.ask("How many AK-203 rifles will India buy?")            # doctest: +SKIP
    >>> answerer.answer(q, retriever.search(q), retriever.embed_query(q.query)).text   # doctest: +SKIP
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

    def candidates(self, question: Question, passages: list[Passage], query_vector: np.ndarray) -> list[Candidate]:
        """Every sentence of the retrieved passages, scored, best first."""
        weights: dict[str, float] = {}
        for term in question.context_stems:
            weights[term] = self.idf(term) * CONTEXT_WEIGHT
        for term in question.stems:
            weights[term] = self.idf(term)
        total = sum(weights.values()) or 1.0
        surface = question.surface

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
        if question.is_follow_up:  # the query carries earlier turns; weigh the question itself equally
            own = np.asarray(self.embedder.get_query_embedding(question.text), dtype="float32")
            own_dense = vectors @ own
            dense = 0.5 * (dense + own_dense)
        own_terms = set(question.stems)
        own_total = sum(w for t, w in weights.items() if t in own_terms) or 1.0
        out = []
        for (doc_id, start, end), sentence, passage, d, d_own in zip(keys, texts, owners, dense.tolist(),
                                                                     own_dense.tolist()):
            terms = sentence_terms(sentence)
            lexical = own_lexical = 0.0
            for t, w in weights.items():
                if matches(t, terms):
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
            factor = question.evidence_factor(sentence)
            confidence = max(score, own_score) if question.is_follow_up else score
            out.append(Candidate(doc_id, start, end, sentence, d, lexical, score * factor, terms, passage,
                                 factor == 1.0, confidence * factor))
        out.sort(key=lambda c: (-c.score, c.doc_id, c.start))
        return out

    # ------------------------------------------------------------------ answering

    def standalone(self, question: str, previous: list[str]) -> str:
        """The question made stand-alone for retrieval (follow-ups carry the turns before them)."""
        return standalone_query(question, previous)

    def answer(self, question: Question, passages: list[Passage], query_vector: np.ndarray) -> Answer:
        ranked = self.candidates(question, passages, query_vector)
        return self.answer_from(ranked, question, passages)

    def stream(self, question: Question, passages: list[Passage], query_vector: np.ndarray) -> Iterator[str | Answer]:
        """The answer's text in word-sized pieces (it is complete at once), then the ``Answer``."""
        answer = self.answer(question, passages, query_vector)
        yield from (m.group() for m in re.finditer(r"\S+\s*", answer.text))
        yield answer

    def refuses(self, ranked: list[Candidate]) -> bool:
        """Nothing retrieved answers closely enough to quote: the best sentence is under the threshold."""
        return not ranked or ranked[0].confidence < self.refusal_threshold

    def refusal(self, ranked: list[Candidate], question: Question, passages: list[Passage], mode: str = "") -> Answer:
        confidence = ranked[0].confidence if ranked else 0.0
        return refusal(question.text, question.query, round(confidence, 4), passages, mode or self.mode)

    def answer_from(self, ranked: list[Candidate], question: Question, passages: list[Passage]) -> Answer:
        """The extractive answer from already scored candidates (best first)."""
        if self.refuses(ranked):
            return self.refusal(ranked, question, passages)
        chosen = self._select(ranked)
        citations = [c.cite(number, self.snapshot.title(c.doc_id)) for number, c in enumerate(chosen, start=1)]
        text = " ".join(f"{c.text} [{n}]" for n, c in enumerate(chosen, start=1))
        return Answer(text=text, citations=citations, refused=False, question=question.text, query=question.query,
                      confidence=round(chosen[0].confidence, 4), mode=self.mode, passages=passages)

    def _select(self, ranked: list[Candidate]) -> list[Candidate]:
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
