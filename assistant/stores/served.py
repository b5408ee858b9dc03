"""The index as a database serves it: a ``ServedSnapshot`` reads what a question needs, when it needs it.

A database store (``postgres.PostgresStore``, ``milvus.MilvusStore``) hands retrieval and answering a
``ServedSnapshot`` instead of loading the whole index into the app process: the dense and lexical
candidates are found inside the database (``Tables.search`` / ``Tables.lexical_top``), and only the
candidates' rows (passage, vector, sentence vectors, their documents) are fetched, in one round
(``prefetch``), into bounded caches. So an app process's memory does not grow with the corpus, and the
fusion and sentence rerank in ``retrieval.py`` run unchanged on the same numbers the folder store gives.

It answers the same questions as the in-memory ``Snapshot`` (``documents``, ``passages``, ``vectors``,
``lexical``, ``sentence_vectors``, ``sentences``, ``passages_of``, ``title``, ``location``, ``texts``), each
by a lookup instead of a dict. A snapshot belongs to one committed version of the index; the assistant
makes a new one when the store's version changes, which empties the caches.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import numpy as np
from llama_index.core import Document

from ..documents import Passage, location_of, sentence_spans
from ..lexical import bm25_idf, term_weight, tokens

CACHED_DOCUMENTS = 2_000  # documents (text + metadata) kept per snapshot: a few questions' worth of candidates
CACHED_PASSAGES = 20_000  # passages with their vector and sentence vectors (~12 KB each at 384 dimensions)
CACHED_TERMS = 100_000  # document frequencies of question words


@dataclass(frozen=True)
class PassageRow:
    """One passage as a database returns it: offsets and text, its vector, its sentences' spans and vectors."""

    passage: Passage
    vector: np.ndarray  # float32 [d]
    spans: np.ndarray  # int32 [m, 2]
    sentence_vectors: np.ndarray  # float16 [m, d]


class Tables(Protocol):
    """What a database store answers for a ``ServedSnapshot``; every call reads the committed index."""

    def passage_count(self) -> int: ...

    def document_count(self) -> int: ...

    def average_length(self) -> float:
        """The mean number of BM25 terms per passage."""

    def search(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """The ``k`` nearest passages by cosine (exact or HNSW, as the manifest says)."""

    def doc_freqs(self, terms: list[str]) -> dict[str, int]:
        """How many passages hold each term (terms no passage holds may be left out)."""

    def lexical_top(self, weights: dict[str, float], k: int) -> list[tuple[str, float]]:
        """The ``k`` best passages by BM25 for terms with these IDFs, best first, positive scores only."""

    def lexical_of(self, weights: dict[str, float], passage_ids: list[str]) -> dict[str, float]:
        """BM25 scores of some passages (those without a query term may be left out)."""

    def passage_rows(self, passage_ids: list[str]) -> list[PassageRow]: ...

    def documents(self, doc_ids: list[str]) -> dict[str, Document]: ...

    def passages_of(self, doc_id: str) -> list[Passage]:
        """One document's passages in document order."""

    def iter_passages(self) -> Iterator[Passage]:
        """Every passage, streamed (for what reads the whole collection: the answerer's vocabulary)."""

    def document_entries(self) -> Iterator[tuple[str, dict]]:
        """(doc id, manifest entry) of every document, by id."""


class LRU:
    """A bounded, thread-safe mapping: the least recently used entry goes first."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def __contains__(self, key: Any) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        return len(self._items)


class Documents(Mapping):
    """doc id -> llama-index ``Document``, fetched on first use."""

    def __init__(self, snapshot: "ServedSnapshot"):
        self.snapshot = snapshot

    def __getitem__(self, doc_id: str) -> Document:
        document = self.snapshot.cache.documents.get(doc_id)
        if document is None:
            self.snapshot.fetch_documents([doc_id])
            document = self.snapshot.cache.documents.get(doc_id)
        if document is None:
            raise KeyError(doc_id)
        return document

    def __iter__(self) -> Iterator[str]:
        return (doc_id for doc_id, _ in self.snapshot.tables.document_entries())

    def __len__(self) -> int:
        return self.snapshot.document_count


class Passages(Mapping):
    """passage id -> ``Passage``, fetched on first use; ``values()`` streams the whole collection."""

    def __init__(self, snapshot: "ServedSnapshot"):
        self.snapshot = snapshot

    def __getitem__(self, passage_id: str) -> Passage:
        return self.snapshot.row(passage_id).passage

    def __iter__(self) -> Iterator[str]:
        return (p.id for p in self.snapshot.tables.iter_passages())

    def values(self) -> Iterator[Passage]:  # type: ignore[override]
        return self.snapshot.tables.iter_passages()

    def __len__(self) -> int:
        return self.snapshot.passage_count

    def __bool__(self) -> bool:
        return self.snapshot.passage_count > 0


class Entries(Mapping):
    """The manifest's ``documents`` (doc id -> entry), read from the database each time it is listed."""

    def __init__(self, snapshot: "ServedSnapshot"):
        self.snapshot = snapshot

    def __getitem__(self, doc_id: str) -> dict:
        for key, entry in self.items():  # rare (the listing reads items()): no per-document query of its own
            if key == doc_id:
                return entry
        raise KeyError(doc_id)

    def __iter__(self) -> Iterator[str]:
        return (doc_id for doc_id, _ in self.snapshot.tables.document_entries())

    def items(self) -> Iterator[tuple[str, dict]]:  # type: ignore[override]
        return self.snapshot.tables.document_entries()

    def __len__(self) -> int:
        return self.snapshot.document_count


class Vectors:
    """The passage vectors of the candidates (``PassageVectorStore.vectors_of``'s counterpart)."""

    def __init__(self, snapshot: "ServedSnapshot", dimension: int):
        self.snapshot = snapshot
        self.dimension = dimension

    @property
    def size(self) -> int:
        return self.snapshot.passage_count

    def vectors_of(self, passage_ids: list[str]) -> np.ndarray:
        if not passage_ids:
            return np.zeros((0, self.dimension), dtype="float32")
        self.snapshot.prefetch(passage_ids)
        return np.stack([self.snapshot.row(pid).vector for pid in passage_ids])

    def passage_ids(self) -> set[str]:
        return set(self.snapshot.passages)


class SentenceVectorsView:
    """``SentenceVectors.of`` for a database: one passage's sentence spans and vectors, fetched on first use."""

    def __init__(self, snapshot: "ServedSnapshot"):
        self.snapshot = snapshot

    def of(self, passage_id: str) -> tuple[np.ndarray, np.ndarray] | None:
        try:
            row = self.snapshot.row(passage_id)
        except KeyError:
            return None
        return row.spans, row.sentence_vectors

    def __len__(self) -> int:
        return self.snapshot.passage_count


class QueryScores:
    """One query's BM25 terms with their IDFs, and the scores found so far (``BM25Index.scores``' counterpart)."""

    def __init__(self, weights: dict[str, float]):
        self.weights = weights
        self.found: dict[str, float] = {}
        self.complete: set[str] = set()  # passages whose score is known (0 when absent from ``found``)


class Lexical:
    """BM25 inside the database: term statistics come from its tables, the scoring runs there too. Same
    formula, parameters and tokens as ``lexical.BM25Index``, so the scores are the folder store's."""

    def __init__(self, snapshot: "ServedSnapshot"):
        self.snapshot = snapshot
        self._freqs = LRU(CACHED_TERMS)

    def __len__(self) -> int:
        return self.snapshot.passage_count

    def doc_freqs(self, terms: list[str]) -> dict[str, int]:
        missing = [t for t in dict.fromkeys(terms) if self._freqs.get(t) is None]
        if missing:
            found = self.snapshot.tables.doc_freqs(missing)
            for term in missing:
                self._freqs.put(term, int(found.get(term, 0)))
        return {t: self._freqs.get(t) for t in terms}

    def doc_freq(self, term: str) -> int:
        return self.doc_freqs([term])[term]

    def idf(self, term: str) -> float:
        return bm25_idf(self.snapshot.passage_count, self.doc_freq(term))

    def weight(self, term: str) -> float:
        return term_weight(self.snapshot.passage_count, self.doc_freq(term))

    def scores(self, query: str) -> QueryScores:
        terms = sorted(set(tokens(query)))
        freqs = self.doc_freqs(terms)
        n = self.snapshot.passage_count
        return QueryScores({t: bm25_idf(n, freqs[t]) for t in terms if freqs[t] > 0})

    def search_scores(self, scores: QueryScores, k: int) -> list[tuple[str, float]]:
        hits = self.snapshot.tables.lexical_top(scores.weights, k) if scores.weights else []
        scores.found.update(hits)
        return hits

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        return self.search_scores(self.scores(query), k)

    def scores_of(self, scores: QueryScores, passage_ids: list[str]) -> list[float]:
        missing = [p for p in passage_ids if p not in scores.found and p not in scores.complete]
        if missing and scores.weights:
            scores.found.update(self.snapshot.tables.lexical_of(scores.weights, missing))
        scores.complete.update(missing)
        return [scores.found.get(p, 0.0) for p in passage_ids]

    def score_of(self, scores: QueryScores, passage_id: str) -> float:
        return self.scores_of(scores, [passage_id])[0]


class Cache:
    def __init__(self) -> None:
        self.documents = LRU(CACHED_DOCUMENTS)
        self.rows = LRU(CACHED_PASSAGES)
        self.by_document = LRU(CACHED_DOCUMENTS)
        self.sentences = LRU(CACHED_DOCUMENTS)


class ServedSnapshot:
    """One committed version of an index a database serves; see the module docstring."""

    path = None

    def __init__(self, manifest: dict, tables: Tables, version: str, approximate: Any = None,
                 counts: tuple[int, int] | None = None):
        self.tables = tables
        self.version = version
        self.approximate = approximate  # what answers dense search approximately (e.g. "pgvector hnsw"), or None
        self.cache = Cache()
        self._counts = counts  # (passages, documents), read once
        self._lock = threading.Lock()
        self.manifest = {**manifest, "documents": Entries(self)}
        self.documents = Documents(self)
        self.passages = Passages(self)
        self.vectors = Vectors(self, int(manifest["dimension"]))
        self.sentence_vectors = SentenceVectorsView(self)
        self.lexical = Lexical(self)

    def __repr__(self) -> str:
        return f"<ServedSnapshot version {self.version} of {self.tables!r}>"

    # ------------------------------------------------------------------ counts

    def counts(self) -> tuple[int, int]:
        if self._counts is None:
            self._counts = (self.tables.passage_count(), self.tables.document_count())
        return self._counts

    @property
    def passage_count(self) -> int:
        return self.counts()[0]

    @property
    def document_count(self) -> int:
        return self.counts()[1]

    # ------------------------------------------------------------------ fetching

    def search(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        return self.tables.search(np.asarray(vector, dtype="float32"), k)

    def prefetch(self, passage_ids: list[str]) -> None:
        """Fetch the rows of these passages and their documents in one round (retrieval's candidates)."""
        missing = [p for p in passage_ids if p not in self.cache.rows]
        if missing:
            for row in self.tables.passage_rows(missing):
                self.cache.rows.put(row.passage.id, row)
        docs = {self.row(p).passage.doc_id for p in passage_ids if p in self.cache.rows}
        self.fetch_documents([d for d in sorted(docs) if d not in self.cache.documents])

    def fetch_documents(self, doc_ids: list[str]) -> None:
        if doc_ids:
            for doc_id, document in self.tables.documents(doc_ids).items():
                self.cache.documents.put(doc_id, document)

    def row(self, passage_id: str) -> PassageRow:
        row = self.cache.rows.get(passage_id)
        if row is None:
            found = self.tables.passage_rows([passage_id])
            if not found:
                raise KeyError(passage_id)
            row = found[0]
            self.cache.rows.put(passage_id, row)
        return row

    # ------------------------------------------------------------------ what answering reads

    def texts(self) -> Mapping[str, str]:
        """doc id -> text, fetched on use (``citations.verify`` checks quotes against it)."""
        return DocumentTexts(self.documents)

    def sentences(self, doc_id: str) -> list[tuple[int, int]]:
        spans = self.cache.sentences.get(doc_id)
        if spans is None:
            spans = sentence_spans(self.documents[doc_id].text)
            self.cache.sentences.put(doc_id, spans)
        return spans

    def passages_of(self, doc_id: str) -> list[Passage]:
        passages = self.cache.by_document.get(doc_id)
        if passages is None:
            passages = self.tables.passages_of(doc_id)
            self.cache.by_document.put(doc_id, passages)
        return passages

    def title(self, doc_id: str) -> str:
        return self.documents[doc_id].metadata.get("title", doc_id)

    def location(self, doc_id: str, start: int, end: int) -> dict[str, Any]:
        try:
            document = self.documents[doc_id]
        except KeyError:
            return {}
        return location_of(document.metadata.get("locations"), start, end)


class DocumentTexts(Mapping):
    """doc id -> text over a documents mapping, read on use."""

    def __init__(self, documents: Mapping[str, Document], text: Callable[[Document], str] = lambda d: d.text):
        self.documents = documents
        self.text = text

    def __getitem__(self, doc_id: str) -> str:
        return self.text(self.documents[doc_id])

    def __contains__(self, doc_id: object) -> bool:
        try:
            self.documents[doc_id]  # type: ignore[index]
            return True
        except KeyError:
            return False

    def __iter__(self) -> Iterator[str]:
        return iter(self.documents)

    def __len__(self) -> int:
        return len(self.documents)

