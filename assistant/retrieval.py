"""Finding the passages that can answer a question: dense (FAISS), lexical (BM25), fused, reranked.

>>> retriever = HybridRetriever(snapshot, embedder, top_k=5)     # doctest: +SKIP
>>> [p.id for p in retriever.search("How many AK-203 rifles?")]   # doctest: +SKIP
['india-russia-2plus2-ak203-summit.txt#0-462', ...]

1. Candidates: the 30 nearest passages by passage vector (FAISS) and the 30 best by BM25.
2. Fusion: each candidate's dense score (the mean of its passage cosine and its best sentence cosine)
   and its BM25 score are min-max scaled over the candidates and mixed 0.6 / 0.4.
3. Rerank: the best 20 are re-scored by their best sentence: 0.6 sentence cosine + 0.4 IDF-weighted
   share of the question's words it holds, cut when it lacks what the question asks for (a number for
   "how many", a date for "when"); that sentence score and the fused one are mixed 0.6 / 0.4.

Weighted fusion beats reciprocal-rank fusion here because the score gaps carry information RRF throws
away (on the SQuAD 2.0 development slice hit@1 0.850 against 0.769); the weights were chosen on that
slice and on SciFact's training claims, never on the test sets (BENCHMARKS.md, "Retrieval").
Sentence vectors come from the index (pooled from each passage's forward pass), so none of this embeds
anything at query time beyond the query itself.

Follow-up questions ("Who was his counterpart?") are turned into stand-alone queries here, without an
LLM, by joining them to the question they follow.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

import numpy as np
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from .documents import Passage
from .store import Snapshot

RRF_K = 60  # the constant from Cormack et al. (2009), for fusion="rrf"
CANDIDATES = 30  # from each of dense and BM25
RERANK_DEPTH = 20
DENSE_SHARE = 0.6  # of the fused score (the rest is BM25)
SENTENCE_SHARE = 0.6  # of the reranked score (the rest is the fused score)
SENTENCE_DENSE = 0.6  # of a sentence's score (the rest is its share of question words)
MISSING_TYPE_FACTOR = 0.75  # score kept by a sentence that lacks the kind of answer asked for
FUSIONS = ("weighted", "rrf")

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

FOLLOW_UP_WORDS = re.compile(
    r"\b(he|him|his|she|her|hers|they|them|their|theirs|it|its|this|that|these|those|there|then|"
    r"counterpart|former|latter|same|other)\b",
    re.IGNORECASE,
)
FOLLOW_UP_START = re.compile(r"^\s*(and|but|also|so|what about|how about|and what)\b", re.IGNORECASE)


@lru_cache(maxsize=1)
def _stemmer():
    from nltk.stem import PorterStemmer

    return PorterStemmer()


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return _stemmer().stem(word)


def tokenize(text: str, keep_stopwords: bool = False) -> list[str]:
    """Lower-cased, stemmed word tokens; digit grouping is removed so 6,01,427 == 601427."""
    return [stem for stem, _ in words(text, keep_stopwords)]


def words(text: str, keep_stopwords: bool = False) -> list[tuple[str, str]]:
    """(stem, word) for each content word of ``text``, lower-cased, digit grouping removed."""
    text = re.sub(r"(?<=\d)[,\u00a0](?=\d)", "", text.lower())
    out = []
    for word in re.findall(r"[a-z0-9]+(?:[-'][a-z0-9]+)*", text.replace("\u2019", "'")):
        word = word.removesuffix("'s")
        if not keep_stopwords and word in STOPWORDS:
            continue
        out.append((_stem(word) if word.isalpha() else word, word))
    return out


def content_terms(text: str) -> list[str]:
    """Tokens of ``text`` with hyphenated words also split, so 'AK-203' matches 'AK 203'."""
    terms = []
    for token in tokenize(text):
        terms.append(token)
        if "-" in token:
            terms.extend(_stem(part) if part.isalpha() else part
                         for part in token.split("-") if part and part not in STOPWORDS)
    return terms


MONTHS = r"(january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)"
NUMBER_WORDS = r"(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundred|thousand|million|billion|lakh|lakhs|crore|crores|dozen)"
# (what the question asks, evidence a sentence must hold to answer it). The evidence must be new:
# a year or a name that the question itself mentions does not count.
ANSWER_TYPES: list[tuple[str, re.Pattern, re.Pattern]] = [
    ("money", re.compile(r"\b(price|cost|costs|worth|how much (money|did|does|will|is|was)|spend|spent|value of)\b", re.I),
     re.compile(r"[$€£₹]\s?\d[\d,.]*|\b(rs\.?|inr|usd|rupees?|dollars?|euros?|crores?|billion|million)\b", re.I)),
    ("number", re.compile(r"\b(how many|how much|number of|what number|how large|how big|how long|how old|what age)\b", re.I),
     re.compile(rf"\d[\d,.]*|\b{NUMBER_WORDS}\b", re.I)),
    ("date", re.compile(r"\b(when|what date|which date|what year|which year|what day|which day|what month|which month)\b", re.I),
     re.compile(rf"\b(1[5-9]|20)\d\d\b|\b{MONTHS}\b|\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday|today|yesterday|tomorrow)\b", re.I)),
    ("reason", re.compile(r"\bwhy\b|\bwhat (was|is) the reason\b|\bfor what reason\b", re.I),
     re.compile(r"\b(because|due to|owing to|as a result|since|so that|in order to|led to|caused|reason)\b", re.I)),
    ("statement", re.compile(r"\bwhat did .+\b(say|said|tell|remark|state|describe|call)\b|\bwhat were .+\b(remarks|words)\b", re.I),
     re.compile(r"\b(said|says|say|told|stated|remarks|called|described|added)\b|[\u201c\u201d\"]", re.I)),
    ("person", re.compile(r"^\s*(who|whom|whose)\b|\bwhich (person|minister|leader|official|president|people)\b", re.I),
     re.compile(r"\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*")),
]
# Numbers, years and ordinals in a question are constraints: a sentence without them is about something else.
QUESTION_NUMBER = re.compile(r"\b\d[\d,]*(?:st|nd|rd|th)?\b", re.I)


def has_new_evidence(pattern: re.Pattern, sentence: str, question_norm: str) -> bool:
    for match in pattern.finditer(sentence):
        start, end = match.span()
        while start > 0 and sentence[start - 1].isalnum():  # the whole word: "21" of "21st" is "21st"
            start -= 1
        while end < len(sentence) and sentence[end].isalnum():
            end += 1
        token = sentence[start:end].strip().lower().replace(",", "")
        if token and not re.search(rf"(?<!\w){re.escape(token)}(?!\w)", question_norm):
            return True
    return False


def asked_types(question: str) -> list[re.Pattern]:
    """The evidence patterns a sentence needs to answer ``question`` (a number, a date, a name...)."""
    return [evidence for _, asks, evidence in ANSWER_TYPES if asks.search(question)]


@lru_cache(maxsize=200_000)
def sentence_terms(sentence: str) -> frozenset[str]:
    """``content_terms`` of a sentence as a set, cached: the same sentences come back query after query."""
    return frozenset(content_terms(sentence))


@lru_cache(maxsize=200_000)
def sentence_words(sentence: str) -> tuple[tuple[str, str], ...]:
    """``words`` of a sentence, cached like ``sentence_terms``."""
    return tuple(words(sentence))


def _scaled(values: np.ndarray) -> np.ndarray:
    """Min-max scaled to [0, 1] (all equal: all 1)."""
    lo, hi = float(values.min()), float(values.max())
    return (values - lo) / (hi - lo) if hi > lo else np.ones_like(values)


def is_follow_up(question: str) -> bool:
    """A question that leans on the conversation: a pronoun, a leading 'and', or too few words."""
    return bool(FOLLOW_UP_WORDS.search(question) or FOLLOW_UP_START.match(question) or len(content_terms(question)) < 2)


def standalone_query(question: str, previous_questions: list[str]) -> str:
    """The question made stand-alone for retrieval: follow-ups carry the last two user turns."""
    if not previous_questions or not is_follow_up(question):
        return question
    return " ".join([*previous_questions[-2:], question])


class _Asked:
    """What a query asks, worked out once per query: weighted words, answer kinds, normalised text."""

    def __init__(self, query: str, idf):
        self.weights = {t: idf(t) for t in content_terms(query)}
        self.total = sum(self.weights.values()) or 1.0
        self.needs = asked_types(query)
        self.norm = query.lower().replace(",", "")


class HybridRetriever(BaseRetriever):
    """Dense FAISS search and BM25 over the same passages, fused by weighted scores and reranked by
    each passage's best sentence (see the module docstring); ``fusion="rrf"`` and ``rerank=False`` give
    the plain alternatives for comparison.

    Also a llama-index retriever: ``retrieve("...")`` returns ``NodeWithScore`` for llama-index's
    query engines and evaluators.
    """

    def __init__(self, snapshot: Snapshot, embedder: BaseEmbedding, top_k: int = 5, candidates: int = CANDIDATES,
                 fusion: str = "weighted", rerank: bool = True):
        super().__init__()
        if top_k < 1:
            raise ValueError("top_k must be at least 1")
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {', '.join(FUSIONS)}")
        self.snapshot = snapshot
        self.embedder = embedder
        self.top_k = top_k
        self.candidates = max(candidates, top_k)
        self.fusion = fusion
        self.rerank = rerank
        self.lexical_index = snapshot.lexical

    def idf(self, term: str) -> float:
        """Weight of a question word for the answerer: inverse passage frequency, unseen terms highest."""
        n = max(len(self.lexical_index), 1)
        return math.log(1 + (n + 1) / (self.lexical_index.doc_freq(term) + 0.5))

    def embed_query(self, query: str) -> np.ndarray:
        return np.asarray(self.embedder.get_query_embedding(query), dtype="float32")

    def dense(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        return self.snapshot.search(vector, k)

    def lexical(self, query: str, k: int) -> list[tuple[str, float]]:
        return self.lexical_index.search(query, k)

    def search(self, query: str, top_k: int | None = None, vector: np.ndarray | None = None,
               fusion: str | None = None, rerank: bool | None = None) -> list[Passage]:
        """The ``top_k`` passages for ``query``, best first; ``score`` is the final fused score (0-1)."""
        k = self.top_k if top_k is None else top_k
        fusion = fusion or self.fusion
        if k < 1:
            raise ValueError("top_k must be at least 1")
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {', '.join(FUSIONS)}")
        rerank = self.rerank if rerank is None else rerank
        if not self.snapshot.passages:
            return []
        vector = self.embed_query(query) if vector is None else np.asarray(vector, dtype="float32")
        dense_hits = dict(self.dense(vector, max(self.candidates, k)))
        bm25_all = self.lexical_index.scores(query)
        bm25_hits = dict(self.lexical_index.search_scores(bm25_all, max(self.candidates, k)))
        ids = sorted(set(dense_hits) | set(bm25_hits))
        missing = [pid for pid in ids if pid not in dense_hits]
        dense_hits.update(zip(missing, (self.snapshot.vectors.vectors_of(missing) @ vector).tolist()))
        cosine = np.array([dense_hits[pid] for pid in ids], dtype="float32")
        bm25 = np.array([self.lexical_index.score_of(bm25_all, pid) for pid in ids], dtype="float32")
        sentences = [self._sentences(pid, vector) for pid in ids]

        if fusion == "rrf":
            fused = np.zeros(len(ids), dtype="float32")
            for ranking in (np.lexsort((ids, -cosine)), np.lexsort((ids, -bm25))):
                fused[ranking] += 1.0 / (RRF_K + 1 + np.arange(len(ids)))
        else:
            best_cosine = np.array([s[1].max() if len(s[1]) else c for s, c in zip(sentences, cosine)], dtype="float32")
            fused = DENSE_SHARE * _scaled((cosine + best_cosine) / 2) + (1 - DENSE_SHARE) * _scaled(bm25)
        order = list(np.lexsort((ids, -fused)))
        scores = fused.copy()
        if rerank:
            top = np.array(order[:RERANK_DEPTH])  # fixed depth: asking for more passages never reorders the best
            asked = _Asked(query, self.idf)
            best = np.array([self._best_sentence(ids[i], sentences[i], asked) for i in top], dtype="float32")
            scores[top] = (1 - SENTENCE_SHARE) * _scaled(fused[top]) + SENTENCE_SHARE * _scaled(best)
            order = sorted(top.tolist(), key=lambda i: (-scores[i], ids[i])) + order[len(top):]
        out = []
        for i in order[:k]:
            p = self.snapshot.passages[ids[i]]
            out.append(Passage(p.id, p.doc_id, p.start, p.end, p.text, score=round(float(scores[i]), 6)))
        return out

    def _sentences(self, passage_id: str, vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(sentence spans, their cosines to the query) of one passage."""
        entry = self.snapshot.sentence_vectors.of(passage_id)
        if entry is None or not len(entry[0]):
            return np.zeros((0, 2), dtype=np.int32), np.zeros(0, dtype="float32")
        spans, vectors = entry
        return spans, vectors.astype("float32") @ vector

    def _best_sentence(self, passage_id: str, sentences: tuple[np.ndarray, np.ndarray], asked: "_Asked") -> float:
        """The passage's best sentence score for the query: cosine, question words held, kind of answer."""
        spans, cosines = sentences
        if not len(spans):
            return 0.0
        text = self.snapshot.documents[self.snapshot.passages[passage_id].doc_id].text
        scored = []
        for (start, end), cos in zip(spans.tolist(), cosines.tolist()):
            sentence = text[start:end]
            terms = sentence_terms(sentence)
            share = sum(w for t, w in asked.weights.items() if t in terms) / asked.total
            scored.append((SENTENCE_DENSE * cos + (1 - SENTENCE_DENSE) * share, sentence))
        best = 0.0
        for score, sentence in sorted(scored, key=lambda x: -x[0]):
            if score <= best:
                break  # the answer-type cut only lowers scores: nothing further down can win
            for evidence in asked.needs:
                if not has_new_evidence(evidence, sentence, asked.norm):
                    score *= MISSING_TYPE_FACTOR
            best = max(best, score)
        return best

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        results = []
        for p in self.search(query_bundle.query_str):
            doc = self.snapshot.documents[p.doc_id]
            node = TextNode(id_=p.id, text=p.text, start_char_idx=p.start, end_char_idx=p.end,
                            metadata=dict(doc.metadata))
            node.relationships = {}
            results.append(NodeWithScore(node=node, score=p.score))
        return results
