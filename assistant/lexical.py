"""The BM25 index: term counts per passage, saved with the vectors and updated with them.

Raw term counts (a sparse passages x terms matrix) are stored rather than precomputed BM25 weights, so
adding or deleting passages only adds or drops rows: document frequencies, lengths and the average
length that BM25 needs are read off the counts at query time, which costs one column slice per query
term.

>>> index = BM25Index.build({"a#0-9": "AK-203 rifles", "b#0-5": "summit"})
>>> index.search("rifles", k=5)
[('a#0-9', 0.4...)]
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
from scipy import sparse

from .text import content_terms

# Anserini's defaults (k1 0.9, b 0.4): on XQuAD paragraphs hit@1 0.942 against 0.934 with the textbook
# 1.2 / 0.75 (BENCHMARKS.md, "Retrieval").
K1 = 0.9
B = 0.4
COUNTS_FILE = "bm25.npz"
TERMS_FILE = "bm25.json"


def bm25_idf(passages: int, doc_freq: int) -> float:
    """BM25's inverse passage frequency (Lucene's form, always positive; unseen terms highest)."""
    return math.log(1 + (passages - doc_freq + 0.5) / (doc_freq + 0.5))


def term_weight(passages: int, doc_freq: int) -> float:
    """A question word's weight when matching sentences (``BM25Index.weight``)."""
    return math.log(1 + (max(passages, 1) + 1) / (doc_freq + 0.5))


def tokens(text: str) -> list[str]:
    """The terms BM25 counts: the one tokenizer (text.py), shared with the rerank and the answerers."""
    return content_terms(text)


class BM25Index:
    """BM25 over passages, by passage id. Its document frequencies also give ``weight``, the weight of a
    question word in the rerank and the answerers."""

    def __init__(self, ids: list[str], terms: list[str], counts: sparse.csr_matrix, k1: float = K1, b: float = B):
        if counts.shape != (len(ids), len(terms)):
            raise ValueError(f"counts are {counts.shape}, expected {(len(ids), len(terms))}")
        self.ids = list(ids)
        self.terms = list(terms)
        self.k1, self.b = k1, b
        self._counts = counts.tocsr()
        self._row = {pid: i for i, pid in enumerate(self.ids)}
        self._column = {t: j for j, t in enumerate(self.terms)}
        self._by_term = self._counts.tocsc()
        self._lengths = np.asarray(self._counts.sum(axis=1), dtype="float32").ravel()
        self._doc_freq = np.diff(self._by_term.indptr)
        self._avg_length = float(self._lengths.mean()) if len(self.ids) else 0.0

    # ------------------------------------------------------------------ building and updating

    @classmethod
    def empty(cls) -> "BM25Index":
        return cls([], [], sparse.csr_matrix((0, 0), dtype=np.float32))

    @classmethod
    def build(cls, passages: Mapping[str, str]) -> "BM25Index":
        return cls.empty().updated(add=passages)

    def updated(self, add: Mapping[str, str] | None = None, delete: Iterable[str] = ()) -> "BM25Index":
        """A new index without the ``delete`` passage ids and with ``add`` (id -> text); only the added
        passages are tokenized."""
        drop = set(delete) | set(add or ())
        keep = [i for i, pid in enumerate(self.ids) if pid not in drop]
        ids = [self.ids[i] for i in keep]
        columns = dict(self._column)
        terms = list(self.terms)
        rows, cols, vals = [], [], []
        for r, (pid, text) in enumerate((add or {}).items()):
            counts: dict[int, int] = {}
            for term in tokens(text):
                j = columns.get(term)
                if j is None:
                    j = columns[term] = len(terms)
                    terms.append(term)
                counts[j] = counts.get(j, 0) + 1
            rows.extend([r] * len(counts))
            cols.extend(counts)
            vals.extend(counts.values())
            ids.append(pid)
        old = self._counts[keep] if keep else sparse.csr_matrix((0, len(self.terms)), dtype=np.float32)
        old = sparse.csr_matrix((old.data, old.indices, old.indptr), shape=(old.shape[0], len(terms)))
        new = sparse.csr_matrix((np.asarray(vals, dtype=np.float32), (rows, cols)),
                                shape=(len(add or {}), len(terms)))
        counts = sparse.vstack([old, new], format="csr")
        used = np.unique(counts.indices)  # drop terms no passage holds any more
        if len(used) < len(terms):
            counts = counts[:, used]
            terms = [terms[j] for j in used]
        return BM25Index(ids, terms, counts, self.k1, self.b)

    # ------------------------------------------------------------------ persistence

    def save(self, folder: Path) -> None:
        sparse.save_npz(folder / COUNTS_FILE, self._counts, compressed=False)
        with open(folder / TERMS_FILE, "w", encoding="utf-8") as f:
            json.dump({"k1": self.k1, "b": self.b, "ids": self.ids, "terms": self.terms}, f)
            f.flush()
            os.fsync(f.fileno())

    @classmethod
    def load(cls, folder: Path) -> "BM25Index":
        meta = json.loads((folder / TERMS_FILE).read_text(encoding="utf-8"))
        return cls(meta["ids"], meta["terms"], sparse.load_npz(folder / COUNTS_FILE), meta["k1"], meta["b"])

    # ------------------------------------------------------------------ querying

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def counts(self) -> sparse.csr_matrix:
        """Raw term counts, passages (``ids`` order) x ``terms``; read only."""
        return self._counts

    def doc_freq(self, term: str) -> int:
        """How many passages hold ``term``."""
        j = self._column.get(term)
        return int(self._doc_freq[j]) if j is not None else 0

    def idf(self, term: str) -> float:
        """BM25's inverse passage frequency (Lucene's form, always positive; unseen terms highest)."""
        return bm25_idf(len(self.ids), self.doc_freq(term))

    def weight(self, term: str) -> float:
        """A question word's weight when matching sentences: inverse passage frequency, unseen words highest.

        Not BM25's ``idf``: that one falls to nearly 0 for a word every passage holds, which in a
        one-passage collection would make every question word weightless; this one keeps such a word
        at log 2 while ranking rarer words above it.
        """
        return term_weight(len(self.ids), self.doc_freq(term))

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every passage (in ``ids`` order) for ``query``."""
        out = np.zeros(len(self.ids), dtype="float32")
        if not self.ids:
            return out
        for term in set(tokens(query)):
            j = self._column.get(term)
            if j is None:
                continue
            lo, hi = self._by_term.indptr[j], self._by_term.indptr[j + 1]
            rows, tf = self._by_term.indices[lo:hi], self._by_term.data[lo:hi]
            norm = self.k1 * (1 - self.b + self.b * self._lengths[rows] / self._avg_length)
            out[rows] += self.idf(term) * tf * (self.k1 + 1) / (tf + norm)
        return out

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """The ``k`` best passages with a positive score: (passage id, BM25 score), best first."""
        return self.search_scores(self.scores(query), k)

    def search_scores(self, scores: np.ndarray, k: int) -> list[tuple[str, float]]:
        """The ``k`` best passages by already computed ``scores``."""
        hits = np.flatnonzero(scores > 0)
        if len(hits) > k:  # keep everything tied with the k-th score, so ties break by position below
            kth = np.partition(scores[hits], len(hits) - k)[len(hits) - k]
            hits = hits[scores[hits] >= kth]
        hits = hits[np.lexsort((hits, -scores[hits]))][:k]
        return [(self.ids[i], float(scores[i])) for i in hits]

    def score_of(self, scores: np.ndarray, passage_id: str) -> float:
        return float(scores[self._row[passage_id]])

    def scores_of(self, scores: np.ndarray, passage_ids: list[str]) -> list[float]:
        """The scores of some passages, in the order given (a database answers these in one query)."""
        return [float(scores[self._row[pid]]) for pid in passage_ids]
