"""The index in memory, whatever store keeps it: documents, passages, passage vectors (FAISS), BM25 term
counts, sentence vectors and the manifest (``Snapshot``), and the one way an update turns documents into
them (``apply_documents``: split, embed only what is new, drop what is gone).

Every store builds its updates with ``apply_documents`` (a database store on its documents folder's part
of the index), so the passages, vectors and statistics are the same whichever store holds them; the
folder store hands retrieval a ``Snapshot``, a database a ``served.ServedSnapshot`` with the same reads.
"""

from __future__ import annotations

import bisect
import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from llama_index.core import Document, StorageContext
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.ingestion import DocstoreStrategy, IngestionPipeline
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.schema import BaseNode, MetadataMode, TextNode, TransformComponent
from llama_index.core.storage.docstore import SimpleDocumentStore
from llama_index.vector_stores.faiss import FaissMapVectorStore

from ..documents import Passage, location_of, passage_splitter, sentence_spans
from ..embeddings import EmbeddingCache, embed_with_spans, token_counter
from ..errors import IndexMismatchError
from ..lexical import BM25Index
from ..progress import EMBEDDING, Progress, no_progress
from ..wording import counted

log = logging.getLogger("assistant.store")  # the shells show its warnings (process.quiet_libraries)

FORMAT_VERSION = 3  # 2: BM25 term counts and sentence vectors saved with the passages; 3: a wrapped line no
# longer ends a sentence (documents.paragraph_spans), so the sentence vectors saved are of other spans
SENTENCES_FILE = "sentences.npz"
GROUP_BATCHES = 8  # model batches embedded (and cached) together
CACHE_DIR = "embedding-cache"  # finished embeddings of an update in progress (embeddings.EmbeddingCache)
VECTOR_INDEXES = ("exact", "hnsw")
HNSW_NEIGHBOURS = 32  # M: links per vector; 32 is FAISS's usual choice for 384-d text vectors
HNSW_EF_CONSTRUCTION = 200  # graph quality: 80 gave recall@10 0.887 at efSearch 128 on 30k vectors
HNSW_EF_SEARCH = 256  # recall@10 0.906 against the exact index over 100k passages, 0.67 ms (BENCHMARKS.md, "Scale")


class PassageVectorStore(FaissMapVectorStore):
    """FaissMapVectorStore that deletes by document and never reuses a FAISS id.

    Passage ids are ``doc_id#start-end``, so a document's vectors are found by id prefix. The parent
    class numbers new vectors by ``ntotal``, which collides with live ids after a delete; this one
    counts on from the highest id ever used.
    """

    @classmethod
    def empty(cls, dimension: int) -> "PassageVectorStore":
        import faiss

        return cls(faiss_index=faiss.IndexIDMap2(faiss.IndexFlatIP(dimension)))

    def add(self, nodes: list[BaseNode], **add_kwargs: Any) -> list[str]:
        if not nodes:
            return []
        start = max(self._faiss_id_to_node_id_map, default=-1) + 1
        ids = np.arange(start, start + len(nodes), dtype=np.int64)
        vectors = np.array([node.get_embedding() for node in nodes], dtype="float32")
        self._faiss_index.add_with_ids(vectors, ids)
        for node, faiss_id in zip(nodes, ids.tolist()):
            self._node_id_to_faiss_id_map[node.id_] = faiss_id
            self._faiss_id_to_node_id_map[faiss_id] = node.id_
        return [node.id_ for node in nodes]

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        self.delete_nodes([n for n in self._node_id_to_faiss_id_map if n.rpartition("#")[0] == ref_doc_id])

    def delete_nodes(self, node_ids=None, filters=None, **delete_kwargs: Any) -> None:
        if node_ids:
            super().delete_nodes(node_ids=node_ids, filters=filters, **delete_kwargs)

    @property
    def size(self) -> int:
        return int(self._faiss_index.ntotal)

    def passage_ids(self) -> set[str]:
        """The passages that have a vector here."""
        return set(self._node_id_to_faiss_id_map)

    def search(self, vector: np.ndarray, k: int, index: Any = None) -> list[tuple[str, float]]:
        """The ``k`` nearest passages to a normalised vector: (passage id, cosine similarity).

        ``index`` is an approximate index over the same ids (HNSW); by default the exact one is searched.
        """
        if self.size == 0:
            return []
        index = self._faiss_index if index is None else index
        scores, ids = index.search(np.asarray(vector, dtype="float32").reshape(1, -1), min(k, self.size))
        return [(self._faiss_id_to_node_id_map[i], float(s)) for s, i in zip(scores[0], ids[0]) if i >= 0]

    def vectors_of(self, passage_ids: list[str]) -> np.ndarray:
        """The stored vectors of some passages, in the order given."""
        index = self._faiss_index
        return np.stack([index.reconstruct(self._node_id_to_faiss_id_map[p]) for p in passage_ids]) if passage_ids \
            else np.zeros((0, index.d), dtype="float32")

    def all_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(FAISS ids, vectors) of every stored passage."""
        import faiss

        ids = faiss.vector_to_array(self._faiss_index.id_map).astype(np.int64)
        return ids, self._faiss_index.index.reconstruct_n(0, self.size)

    def hnsw(self) -> Any:
        """An approximate (HNSW) index over the same ids and vectors."""
        import faiss

        graph = faiss.IndexHNSWFlat(self._faiss_index.d, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        graph.hnsw.efSearch = HNSW_EF_SEARCH
        index = faiss.IndexIDMap2(graph)
        if self.size:
            ids, vectors = self.all_vectors()
            index.add_with_ids(vectors, ids)
        return index


class SentenceVectors:
    """One vector per sentence of each passage, pooled from the passage's own forward pass.

    Keys are the whole sentences in document offsets (a sentence cut by the passage's edge keeps its
    full span, pooled over the part inside the passage). Stored as float16: the extractive answerer
    and the reranker only compare them by cosine, where float16 changes scores by < 1e-3.
    """

    def __init__(self, entries: dict[str, tuple[np.ndarray, np.ndarray]] | None = None):
        self.entries = entries or {}  # passage id -> (spans int32 [m, 2], vectors float16 [m, d])

    def __len__(self) -> int:
        return len(self.entries)

    def of(self, passage_id: str) -> tuple[np.ndarray, np.ndarray] | None:
        return self.entries.get(passage_id)

    def updated(self, add: dict[str, tuple[np.ndarray, np.ndarray]], delete: set[str]) -> "SentenceVectors":
        kept = {pid: entry for pid, entry in self.entries.items() if pid not in delete}
        kept.update(add)
        return SentenceVectors(kept)

    def save(self, folder: Path) -> None:
        ids = list(self.entries)
        counts = np.array([len(self.entries[p][0]) for p in ids], dtype=np.int64)
        dim = next((v.shape[1] for _, v in self.entries.values() if v.ndim == 2), 0)
        spans = np.concatenate([self.entries[p][0] for p in ids]) if ids else np.zeros((0, 2), np.int32)
        vectors = np.concatenate([self.entries[p][1] for p in ids]) if ids else np.zeros((0, dim), np.float16)
        with open(folder / SENTENCES_FILE, "wb") as f:
            np.savez(f, ids=np.array(ids, dtype=str), counts=counts, spans=spans.astype(np.int32),
                     vectors=vectors.astype(np.float16))

    @classmethod
    def load(cls, folder: Path) -> "SentenceVectors":
        with np.load(folder / SENTENCES_FILE, allow_pickle=False) as data:
            ids, counts, spans, vectors = data["ids"], data["counts"], data["spans"], data["vectors"]
        bounds = np.concatenate([[0], np.cumsum(counts)])
        return cls({str(pid): (spans[bounds[i]:bounds[i + 1]], vectors[bounds[i]:bounds[i + 1]])
                    for i, pid in enumerate(ids)})


class EmbedPassages(TransformComponent):
    """Embeds passages and, from the same forward pass, each of their sentences, reporting progress over
    passages (not over pipeline steps). Sentence vectors are collected in ``sentence_vectors``."""

    embedder: BaseEmbedding
    # private: kept out of the pipeline's cache key, which serialises the transformations
    _documents: dict[str, str] = PrivateAttr(default_factory=dict)  # doc id -> text, to find sentences
    _sentence_vectors: dict[str, tuple[np.ndarray, np.ndarray]] = PrivateAttr(default_factory=dict)

    _cache: EmbeddingCache | None = PrivateAttr(default=None)
    _resumed: int = PrivateAttr(default=0)
    _progress: Any = PrivateAttr(default=None)  # a Progress; a function default would be bound as a method

    def __init__(self, documents: dict[str, str] | None = None, cache: EmbeddingCache | None = None,
                 progress: Progress = no_progress, **kwargs: Any):
        super().__init__(**kwargs)
        self._documents = documents or {}
        self._cache = cache
        self._progress = progress

    @property
    def resumed(self) -> int:
        """How many passages of the last call came from an interrupted run's cache."""
        return self._resumed

    @property
    def sentence_vectors(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return self._sentence_vectors

    def __call__(self, nodes: Sequence[BaseNode], **kwargs: Any) -> Sequence[BaseNode]:
        if not nodes:
            return nodes
        texts = [node.get_content(metadata_mode=MetadataMode.EMBED) for node in nodes]
        sentences: dict[str, tuple[list[tuple[int, int]], list[int], list[int]]] = {}  # spans, starts, ends
        keys, spans = [], []
        for node, text in zip(nodes, texts):
            doc_id, start = node.ref_doc_id or "", node.start_char_idx or 0
            if doc_id not in sentences:
                found = sentence_spans(self._documents.get(doc_id, ""))
                sentences[doc_id] = (found, [s for s, _ in found], [e for _, e in found])
            # the embedded text is the passage after a metadata header ("title: ..."): find where it starts
            body = node.get_content()
            shift = text.rfind(body) if body else -1
            end = start + len(body)
            # The passage's sentences by bisection over the document's (in order, never overlapping): a scan
            # of them all for every passage grew with the square of a document's length (a 5 MB line:
            # 7,000 passages x 5,000 sentences).
            found, starts, ends = sentences[doc_id]
            inside = found[bisect.bisect_right(ends, start):bisect.bisect_left(starts, end)] if shift >= 0 else []
            keys.append(np.array(inside, dtype=np.int32).reshape(-1, 2))
            spans.append([(shift + max(s, start) - start, shift + min(e, end) - start) for s, e in inside])
        # Passages an interrupted run already embedded come from its cache; the rest are embedded in
        # large groups (the model sorts each by length, and similar lengths pad less), each group kept
        # in the cache as soon as it is done.
        cache = self._cache
        cache_keys = [cache.key(t, sp) for t, sp in zip(texts, spans)] if cache else [""] * len(texts)
        todo = []
        for i, node in enumerate(nodes):
            found = cache.get(cache_keys[i]) if cache else None
            if found is None:
                todo.append(i)
                continue
            node.embedding = found[0].tolist()
            self._sentence_vectors[node.id_] = (keys[i], found[1].astype(np.float16))
        self._resumed = len(nodes) - len(todo)
        # All the passages to embed sorted by length, then cut into groups of 8 model batches (256
        # passages), which the model sorts by token count: its batches then compute 1.03x the real tokens
        # of SciFact passages, against 1.21x when each group was sorted alone (BENCHMARKS.md, "Ingestion
        # speed"); a group is short enough that a kill loses only seconds of work.
        todo.sort(key=lambda i: len(texts[i]))
        batch = max(int(getattr(self.embedder, "embed_batch_size", 32)), 1) * GROUP_BATCHES
        if todo and hasattr(self.embedder, "warm_up"):
            self.embedder.warm_up()  # loading (or exporting) the model is not embedding: the rate starts after it
        self._progress(EMBEDDING, self._resumed, len(texts))
        for g in range(0, len(todo), batch):
            group = todo[g:g + batch]
            vectors, parts = embed_with_spans(self.embedder, [texts[i] for i in group], [spans[i] for i in group])
            for j, i in enumerate(group):
                nodes[i].embedding = vectors[j].tolist()
                self._sentence_vectors[nodes[i].id_] = (keys[i], parts[j].astype(np.float16))
            if cache:
                cache.put([cache_keys[i] for i in group], np.asarray(vectors), list(parts))
            self._progress(EMBEDDING, self._resumed + g + len(group), len(texts))
        return nodes


@dataclass
class UpdateReport:
    """What one ``IndexStore.update`` did, by document id."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    passages_embedded: int = 0
    rebuilt: str = ""  # why a full rebuild happened, if it did
    passages_resumed: int = 0  # of passages_embedded, taken from an interrupted run's finished embeddings

    @property
    def touched(self) -> bool:
        return bool(self.added or self.changed or self.deleted or self.rebuilt)

    def summary(self) -> str:
        parts = [f"{len(self.added)} added", f"{len(self.changed)} changed", f"{len(self.deleted)} deleted",
                 f"{len(self.unchanged)} unchanged", f"{counted(self.passages_embedded, 'passage')} embedded"]
        if self.passages_resumed:
            parts[-1] += f" ({self.passages_resumed} of them finished by an interrupted run)"
        text = ", ".join(parts)
        return f"full rebuild ({self.rebuilt}): {text}" if self.rebuilt else text


class Snapshot:
    """One loaded index: documents, passages, vectors and manifest.

    ``IndexStore.update`` loads a private copy, changes it in place (``refresh`` rebuilds the read views)
    and writes it as a new snapshot; a snapshot an ``Assistant`` serves is never changed after loading.
    """

    def __init__(self, manifest: dict, documents: SimpleDocumentStore, storage: StorageContext, path: Path | None,
                 lexical: BM25Index | None = None, sentence_vectors: SentenceVectors | None = None,
                 approximate: Any = None):
        self.manifest = manifest
        self.document_store = documents
        self.storage = storage
        self.path = path
        self.vectors: PassageVectorStore = storage.vector_store  # type: ignore[assignment]
        self.lexical = lexical or BM25Index.empty()
        self.sentence_vectors = sentence_vectors or SentenceVectors()
        self.approximate = approximate  # HNSW over the same ids, when the index was built with one
        self.version = ""  # the store's version this snapshot was loaded at (Store.version)
        self.refresh(manifest)

    def search(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """Nearest passages by cosine: approximate when the index has an HNSW graph, else exact."""
        return self.vectors.search(vector, k, self.approximate)

    def prefetch(self, passage_ids: list[str]) -> None:
        """Nothing to fetch: everything is in memory (a database's ``ServedSnapshot`` fetches here)."""

    def texts(self) -> dict[str, str]:
        """doc id -> text of every document."""
        return {doc_id: doc.text for doc_id, doc in self.documents.items()}

    def refresh(self, manifest: dict) -> None:
        """Rebuild the read views (documents, passages) after the stores changed."""
        self.manifest = manifest
        self.documents: dict[str, Document] = {
            doc_id: doc for doc_id, doc in self.document_store.docs.items() if isinstance(doc, Document)
        }
        self.passages: dict[str, Passage] = {}
        for node_id, node in self.storage.docstore.docs.items():
            assert isinstance(node, TextNode)
            self.passages[node_id] = Passage(
                id=node_id, doc_id=node.ref_doc_id or "", start=node.start_char_idx or 0,
                end=node.end_char_idx or 0, text=node.text,
            )
        self._sentences: dict[str, list[tuple[int, int]]] = {}
        self._by_document: dict[str, list[Passage]] | None = None

    @classmethod
    def empty(cls, manifest: dict, dimension: int) -> "Snapshot":
        storage = StorageContext.from_defaults(
            docstore=SimpleDocumentStore(), vector_store=PassageVectorStore.empty(dimension)
        )
        return cls(manifest, SimpleDocumentStore(), storage, None)

    def sentences(self, doc_id: str) -> list[tuple[int, int]]:
        """Sentence spans of one document, computed once per snapshot."""
        if doc_id not in self._sentences:
            self._sentences[doc_id] = sentence_spans(self.documents[doc_id].text)
        return self._sentences[doc_id]

    def passages_of(self, doc_id: str) -> list[Passage]:
        """One document's passages in document order (indexed on first use)."""
        if self._by_document is None:
            by_document: dict[str, list[Passage]] = {}
            for passage in self.passages.values():
                by_document.setdefault(passage.doc_id, []).append(passage)
            self._by_document = {d: sorted(ps, key=lambda p: p.start) for d, ps in by_document.items()}
        return self._by_document.get(doc_id, [])

    def title(self, doc_id: str) -> str:
        return self.documents[doc_id].metadata.get("title", doc_id)

    def location(self, doc_id: str, start: int, end: int) -> dict[str, Any]:
        """Where ``text[start:end]`` of a document sits in its file ({"page": 3}); {} for plain text."""
        document = self.documents.get(doc_id)
        return location_of(document.metadata.get("locations"), start, end) if document is not None else {}


def new_manifest(embed_model: str, dimension: int, chunk_size: int, chunk_overlap: int,
                 vector_index: str = "exact") -> dict:
    if vector_index not in VECTOR_INDEXES:
        raise ValueError(f"vector_index must be one of {', '.join(VECTOR_INDEXES)}")
    return {
        "format": FORMAT_VERSION,
        "embed_model": embed_model,
        "dimension": dimension,
        "chunk_size": chunk_size,
        "chunk_overlap": chunk_overlap,
        "vector_index": vector_index,
        "documents": {},
    }


def mismatch(manifest: dict, wanted: dict) -> str:
    """Why an index with ``manifest`` cannot serve settings ``wanted`` ('' when it can)."""
    for key in ("format", "embed_model", "dimension", "chunk_size", "chunk_overlap"):
        if manifest.get(key) != wanted.get(key):
            return f"{key} is {manifest.get(key)!r} in the index but {wanted.get(key)!r} now"
    return ""


def check_format(where: str, manifest: dict, tables: Any = None, tables_version: Any = None) -> None:
    """``IndexMismatchError`` when the index at ``where`` was written in another format (or, for a database
    store, another layout of its tables: ``tables`` against ``tables_version``)."""
    if tables_version is None:
        if manifest.get("format") != FORMAT_VERSION:
            raise IndexMismatchError(f"index in {where} has format {manifest.get('format')}, this version reads "
                                     f"{FORMAT_VERSION}; run `assistant index --rebuild`")
    elif manifest.get("format") != FORMAT_VERSION or tables != tables_version:
        raise IndexMismatchError(f"index in {where} has format {manifest.get('format')} (tables {tables}), this "
                                 f"version reads {FORMAT_VERSION} (tables {tables_version}); run `assistant index "
                                 "--rebuild`")


def rebuild_reason(where: str, stored: dict | None, base: dict, tables_version: Any, rebuild: bool,
                   tables: str = "tables") -> str:
    """Why an update of a database store builds it again from the documents ('' when it adds to it):
    asked for, or the stored index (``stored``: its manifest with its ``tables`` version) was made with
    another model or chunking, or in an older layout of its ``tables``. Every source's documents go then,
    so it is logged."""
    if rebuild:
        return "asked for"
    if stored is None:
        return ""
    reason = mismatch(stored, base) or (
        "" if stored.get("tables") == tables_version else f"the store's {tables} are an older version's")
    if reason:
        log.warning("rebuilding the index in %s from the documents (every source's documents go; "
                    "index the other folders again): %s", where, reason)
    return reason


def apply_documents(snap: Snapshot, documents: list[Document], embedder: BaseEmbedding, manifest_base: dict,
                    report: UpdateReport, progress: Progress, cache_dir: Path) -> list[BaseNode]:
    """Bring ``snap`` in line with ``documents`` in place and fill ``report``; returns the new passages.

    Unchanged documents (same content hash) keep their passages and vectors; added and changed ones are
    split and embedded (embeddings a killed update finished come from ``cache_dir``); the passages of
    changed and removed documents leave the docstore, the vectors, BM25 and the sentence vectors.
    """
    previous = snap.manifest.get("documents", {})
    current_ids = {doc.doc_id for doc in documents}
    for doc in documents:
        entry = previous.get(doc.doc_id)
        if entry is None:
            report.added.append(doc.doc_id)
        elif entry["hash"] != doc.hash:
            report.changed.append(doc.doc_id)
        else:
            report.unchanged.append(doc.doc_id)
    report.deleted = sorted(set(previous) - current_ids)

    # The pipeline de-duplicates by document hash against its docstore, deletes the vectors of
    # changed and removed documents, and splits and embeds only what is new.
    embed = EmbedPassages(embedder=embedder, progress=progress,
                          documents={doc.doc_id: doc.text for doc in documents},
                          cache=EmbeddingCache(cache_dir, getattr(embedder, "model_name", "")))
    pipeline = IngestionPipeline(
        transformations=[*passage_splitter(manifest_base["chunk_size"], manifest_base["chunk_overlap"],
                                           token_counter(embedder), progress), embed],
        docstore=snap.document_store,
        vector_store=snap.vectors,
        docstore_strategy=DocstoreStrategy.UPSERTS_AND_DELETE,
        disable_cache=True,  # its cache would hold a second copy of every passage for nothing
    )
    nodes = pipeline.run(documents=documents)
    report.passages_embedded = len(nodes)
    report.passages_resumed = embed.resumed

    passages = snap.storage.docstore
    gone_docs = set(report.changed + report.deleted)
    gone = {n for n, p in snap.passages.items() if p.doc_id in gone_docs}
    for node_id in gone:
        passages.delete_document(node_id, raise_error=False)
    for node in nodes:
        node.embedding = None  # vectors live in FAISS only
    passages.add_documents(nodes)
    # BM25 and sentence vectors follow the same passages: rows of removed passages go, new ones come
    snap.lexical = snap.lexical.updated(add={node.id_: node.get_content() for node in nodes}, delete=gone)
    snap.sentence_vectors = snap.sentence_vectors.updated(
        {node.id_: embed.sentence_vectors[node.id_] for node in nodes}, gone)

    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    counts: dict[str, int] = {}
    for node in nodes:
        counts[node.ref_doc_id] = counts.get(node.ref_doc_id, 0) + 1
    manifest = {**manifest_base, "documents": {}}
    by_id = {doc.doc_id: doc for doc in documents}
    for doc_id in sorted(current_ids):
        doc = by_id[doc_id]
        if doc_id in report.unchanged:
            manifest["documents"][doc_id] = previous[doc_id]
        else:
            manifest["documents"][doc_id] = {
                "hash": doc.hash, "title": doc.metadata.get("title", ""), "date": doc.metadata.get("date", ""),
                "passages": counts.get(doc_id, 0), "characters": len(doc.text), "indexed_at": now,
            }
    manifest["updated_at"] = now
    snap.refresh(manifest)
    return nodes
