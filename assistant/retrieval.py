"""Finding the passages that can answer a question: dense (FAISS), lexical (BM25) and their fusion.

>>> retriever = HybridRetriever(snapshot, embedder, top_k=5)     # doctest: +SKIP
>>> [p.id for p in retriever.search("How many AK-203 rifles?")]   # doctest: +SKIP
['india-russia-2plus2-ak203-summit.txt#0-462', ...]

Follow-up questions ("Who was his counterpart?") are turned into stand-alone queries here, without an
LLM, by joining them to the question they follow.
"""

from __future__ import annotations

import logging
import math
import re
from functools import lru_cache

import bm25s
import numpy as np
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from .documents import Passage
from .store import Snapshot

logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index build at DEBUG

RRF_K = 60  # the constant from Cormack et al. (2009); rank fusion is robust to it

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
            terms.extend(part for part in token.split("-") if part and part not in STOPWORDS)
    return terms


def is_follow_up(question: str) -> bool:
    """A question that leans on the conversation: a pronoun, a leading 'and', or too few words."""
    return bool(FOLLOW_UP_WORDS.search(question) or FOLLOW_UP_START.match(question) or len(content_terms(question)) < 2)


def standalone_query(question: str, previous_questions: list[str]) -> str:
    """The question made stand-alone for retrieval: follow-ups carry the last two user turns."""
    if not previous_questions or not is_follow_up(question):
        return question
    return " ".join([*previous_questions[-2:], question])


class HybridRetriever(BaseRetriever):
    """Dense FAISS search and BM25 over the same passages, fused by reciprocal rank.

    Also a llama-index retriever: ``retrieve("...")`` returns ``NodeWithScore`` for llama-index's
    query engines and evaluators.
    """

    def __init__(self, snapshot: Snapshot, embedder: BaseEmbedding, top_k: int = 5, candidates: int = 30):
        super().__init__()
        if top_k < 1:
            raise ValueError("top_k must be at least 1")
        self.snapshot = snapshot
        self.embedder = embedder
        self.top_k = top_k
        self.candidates = max(candidates, top_k)
        self._ids = sorted(snapshot.passages)
        self._bm25 = None
        self._doc_freq: dict[str, int] = {}
        if self._ids:
            corpus = [content_terms(snapshot.passages[i].text) for i in self._ids]
            self._bm25 = bm25s.BM25()
            self._bm25.index(corpus, show_progress=False)
            for terms in corpus:
                for term in set(terms):
                    self._doc_freq[term] = self._doc_freq.get(term, 0) + 1

    def idf(self, term: str) -> float:
        """Inverse passage frequency of a term (unseen terms get the highest weight)."""
        n = max(len(self._ids), 1)
        return math.log(1 + (n + 1) / (self._doc_freq.get(term, 0) + 0.5))

    def embed_query(self, query: str) -> np.ndarray:
        return np.asarray(self.embedder.get_query_embedding(query), dtype="float32")

    def dense(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        return self.snapshot.vectors.search(vector, k)

    def lexical(self, query: str, k: int) -> list[tuple[str, float]]:
        terms = content_terms(query)
        if self._bm25 is None or not terms:
            return []
        docs, scores = self._bm25.retrieve([terms], k=min(k, len(self._ids)), show_progress=False)
        return [(self._ids[int(d)], float(s)) for d, s in zip(docs[0], scores[0]) if s > 0]

    def search(self, query: str, top_k: int | None = None, vector: np.ndarray | None = None) -> list[Passage]:
        """The ``top_k`` passages for ``query``, best first; ``score`` is the fused RRF score."""
        k = top_k or self.top_k
        if not self._ids:
            return []
        vector = self.embed_query(query) if vector is None else vector
        fused: dict[str, float] = {}
        for ranking in (self.dense(vector, self.candidates), self.lexical(query, self.candidates)):
            for rank, (pid, _) in enumerate(ranking):
                fused[pid] = fused.get(pid, 0.0) + 1.0 / (RRF_K + rank + 1)
        best = sorted(fused, key=lambda pid: (-fused[pid], pid))[:k]
        out = []
        for pid in best:
            p = self.snapshot.passages[pid]
            out.append(Passage(p.id, p.doc_id, p.start, p.end, p.text, score=round(fused[pid], 6)))
        return out

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        results = []
        for p in self.search(query_bundle.query_str):
            doc = self.snapshot.documents[p.doc_id]
            node = TextNode(id_=p.id, text=p.text, start_char_idx=p.start, end_char_idx=p.end,
                            metadata=dict(doc.metadata))
            node.relationships = {}
            results.append(NodeWithScore(node=node, score=p.score))
        return results
