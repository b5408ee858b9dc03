"""The index in Milvus, through pymilvus: Milvus Lite in a file (``milvus:///path/x.db``) or a Milvus server
(``http://host:19530``, ``/name`` after the port for a database other than ``default``).

Collections::

    assistant_meta       one row: version, the manifest's model and chunking, counts, the retired documents
    assistant_documents  per document: its text in parts of at most 16,000 characters (Milvus caps a
                         VARCHAR at 65,535 bytes), part 0 also holding hash, manifest entry and metadata
    assistant_passages   passage id, doc id, source, offsets, text, its BM25 terms (an analysed VARCHAR
                         whose BM25 function fills a sparse vector), the embedding (HNSW or FLAT index,
                         inner product) and its sentences' spans and float16 vectors (JSON)
    assistant_terms      per term (Milvus's spelling, ``milvus_term``) and update: how many passages hold it

Every row carries ``gen``, the version that wrote it. Serving is a ``served.ServedSnapshot``: dense search is
Milvus's (HNSW with ``ef`` = ``HNSW_EF_SEARCH``, or FLAT for ``vector_index = "exact"``), the lexical
candidates come from Milvus's BM25 function over the same terms the folder store counts (``OVERFETCH``
times as many as asked, cut by the folder store's formula), and their BM25
scores (what fusion mixes) are the folder store's formula over the candidates' terms and the document
frequencies in ``assistant_terms`` (one query per question's new words): Milvus Lite's BM25 scores differ
from that formula in the third decimal, and the fusion was tuned on it. Milvus's own ``hybrid_search`` is
not used: its rankers (weighted or RRF over normalised scores) are not this fusion and rerank
(BENCHMARKS.md, "Stores").

What Milvus cannot guarantee that PostgreSQL does: there are no transactions. An update writes its rows
with the next ``gen`` (invisible: readers filter ``gen <= version``), then commits by rewriting the meta row
(one upsert: version, counts and the documents it retired, whose older rows readers of the new version
skip); the retired rows are deleted by the next update, with whatever a killed update left. So readers
see an update whole or not at all, and a question still answered from the previous version finds its
rows; one that spans two more updates may find a candidate gone (it fails, the next one works) or a
word's document frequency gone (counted as 0 for that question). ``assistant_terms`` follows the same
scheme: an update writes a row at its ``gen`` for each term whose count it moves, readers take each
term's newest row up to their version, and the next update deletes the rows that one superseded. A change
of model or chunking drops and recreates the collections (not atomic).
Writers are serialised by a file lock beside a Milvus Lite file; index workers against one Milvus *server*
are not (Milvus has no locks): run them one at a time. A Milvus Lite file is opened by one process at a
time (its own lock); several app processes need the server (``milvus-lite server --data-dir ...`` serves
a folder the same way).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import fcntl
import json
import logging
import re
import threading
from collections import Counter
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import numpy as np
from llama_index.core import Document
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.storage.docstore.utils import doc_to_json, json_to_doc

from ..config import redact_uri
from ..documents import Passage
from ..errors import ConfigError, IndexMissingError, StoreUnavailableError
from ..lexical import B, K1
from ..progress import Progress, TerminalProgress, no_progress
from .served import LRU, PassageRow, ServedSnapshot
from .snapshot import (HNSW_EF_SEARCH, SentenceVectors, Snapshot, UpdateReport, apply_documents, check_format,
                       rebuild_reason)

log = logging.getLogger("assistant.store")

META, DOCUMENTS, PASSAGES, TERMS = "assistant_meta", "assistant_documents", "assistant_passages", "assistant_terms"
COLLECTIONS = (META, DOCUMENTS, PASSAGES, TERMS)
TABLES_VERSION = 2  # 2: document frequencies in ``assistant_terms``
CONNECT_TIMEOUT = 5  # seconds
TEXT_PART = 16_000  # characters per document part: at most 64,000 bytes of UTF-8, under Milvus's 65,535
MAX_VARCHAR = 65_535
HNSW_M, HNSW_EF_CONSTRUCTION = 16, 64  # as the PostgreSQL store's pgvector graph
BATCH = 500  # rows per insert call
STREAM_ROWS = 2000
QUERY_LIMIT = 16_384  # the most rows one Milvus query returns
# Milvus's BM25 function ranks by its own statistics, not quite the folder store's: its top 30 moved 90 of
# SciFact's 300 top-10 rankings off the folder store's, its top 90 cut to 30 by the folder's formula none
# (BENCHMARKS.md, "Stores: the lexical side at 100,000 passages")
OVERFETCH = 3
# the vector index's name: Milvus Lite finds an index to drop by "<field>_idx" (any other name drops
# whichever index comes first, here the BM25 one)
EMBEDDING_INDEX = "embedding_idx"
MANIFEST_KEYS = ("format", "embed_model", "dimension", "chunk_size", "chunk_overlap", "vector_index")
WORD = re.compile(r"[a-z0-9]+")


def literal(value: Any) -> str:
    """A value written into a Milvus filter expression: a JSON string/number/list literal (escaped quotes and
    backslashes). Milvus Lite does not take filter templates (``filter_params``), so this is the binding."""
    return json.dumps(value, ensure_ascii=False)


def milvus_term(term: str) -> str:
    """A BM25 term as one token of Milvus's standard analyzer (``\\w+``, lowercased): the folder store's
    terms that are not plain letters and digits ("ak-203") are written as hex between underscores."""
    return term if WORD.fullmatch(term) else "_" + term.encode("utf-8").hex() + "_"


def parse_uri(uri: str) -> tuple[str, str, Path | None]:
    """(pymilvus uri, database name, the Milvus Lite file or None) of a ``store`` setting."""
    if uri.startswith("milvus://"):
        path = Path(uri[len("milvus://"):]).expanduser()
        return str(path), "", path
    if "://" not in uri:
        path = Path(uri).expanduser()
        return str(path), "", path
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}", parts.path.strip("/"), None


class MilvusStore:
    """The index in Milvus (``store = "http://host:19530"`` or ``"milvus:///path/x.db"``); see the module
    docstring for what it guarantees and what it cannot."""

    shared = True

    def __init__(self, uri: str, source: str = "", cache_dir: str | Path = Path("index") / "embedding-cache"):
        try:
            import pymilvus  # noqa: F401
        except ImportError:
            raise ConfigError(f"store {redact_uri(uri)} needs Milvus support: pip install 'doc-assistant[milvus]'") from None
        self.uri = uri
        self.source = source
        self.cache_dir = Path(cache_dir)
        self.client_uri, self.database, self.file = parse_uri(uri)
        self._client: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<MilvusStore {self.describe()}>"

    def describe(self) -> str:
        return redact_uri(self.uri)

    # ------------------------------------------------------------------ connection

    def unreachable(self) -> StoreUnavailableError:
        return StoreUnavailableError(f"cannot reach the store at {self.describe()}; start Milvus or check --store")

    def client(self) -> Any:
        """The pymilvus client (one per store, thread-safe), reopened after a failure."""
        from pymilvus import MilvusClient
        from pymilvus.exceptions import MilvusException

        # Milvus Lite has no MVCC timestamps: pymilvus's query iterator says so at every batch, then uses its own
        logging.getLogger("pymilvus.client.iterator.query_iterator").setLevel(logging.ERROR)
        with self._lock:
            if self._client is None:
                if self.file is not None:
                    self.file.parent.mkdir(parents=True, exist_ok=True)
                try:
                    kwargs = {"db_name": self.database} if self.database else {}
                    # dedicated: pymilvus's shared connection per URI stays broken after a server restart
                    self._client = MilvusClient(self.client_uri, timeout=CONNECT_TIMEOUT, dedicated=True, **kwargs)
                except MilvusException:
                    if self.file is not None:
                        raise StoreUnavailableError(
                            f"cannot open the Milvus Lite file {self.file}: another process has it open (one at a "
                            f"time; serve it to many with `milvus-lite server --data-dir {self.file}`)") from None
                    raise self.unreachable() from None
                except Exception as exc:  # Milvus Lite: the file is another process's (its lock), or unreadable
                    raise StoreUnavailableError(f"cannot open the store at {self.describe()} ({exc}); one process "
                                                "at a time opens a Milvus Lite file: serve it with "
                                                "`milvus-lite server` for more") from None
            return self._client

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """One pymilvus call; a lost server is ``StoreUnavailableError`` (the next call reconnects)."""
        from pymilvus.exceptions import MilvusException

        for attempt in (1, 2):
            try:
                return getattr(self.client(), method)(*args, **kwargs)
            except MilvusException as exc:
                if exc.code in (1, 2) or "unavailable" in str(exc).lower() or "connect" in str(exc).lower():
                    self.forget()
                    raise self.unreachable() from None
                if attempt == 1 and "call load()" in str(exc):  # a restarted server has released the collections
                    for name in COLLECTIONS:
                        if self.client().has_collection(name):
                            self.client().load_collection(name)
                    continue
                raise

    def forget(self) -> None:
        """Close the connection (reopened on the next call); a Milvus Lite file is let go, for other processes."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
            if self.file is not None:
                from milvus_lite.server_manager import server_manager_instance

                server_manager_instance.release_server(str(self.file))

    def reading(self) -> contextlib.nullcontext:
        """Nothing to open: every read filters by the snapshot's version (``gen``) instead of a transaction."""
        return contextlib.nullcontext()

    # ------------------------------------------------------------------ reading

    def _meta(self) -> dict | None:
        if not self.call("has_collection", META):
            return None
        rows = self.call("query", META, filter='id == "meta"', output_fields=["version", "info"],
                         consistency_level="Strong")
        return {"version": rows[0]["version"], **rows[0]["info"]} if rows else None

    def version(self) -> str:
        meta = self._meta()
        return str(meta["version"]) if meta else ""

    def exists(self) -> bool:
        return self.version() != ""

    def load(self) -> ServedSnapshot:
        meta = self._meta()
        if meta is None:
            raise IndexMissingError(f"no index in {self.describe()}; run `assistant index --store ...` to build it")
        base = meta["manifest"]
        check_format(self.describe(), base, meta.get("tables"), TABLES_VERSION)
        for name in COLLECTIONS:
            self.call("load_collection", name)
        tables = MilvusTables(self, meta)
        return ServedSnapshot({**base, "updated_at": meta["updated_at"]}, tables, str(meta["version"]),
                              approximate="milvus hnsw" if base.get("vector_index") == "hnsw" else None,
                              counts=(int(meta["passages"]), int(meta["documents"])))

    def in_memory(self) -> Snapshot:
        """The whole committed index as an in-memory ``Snapshot``, for checks and comparisons."""
        meta = self._meta()
        if meta is None:
            raise IndexMissingError(f"no index in {self.describe()}")
        return self._materialise(meta, None)

    def _materialise(self, meta: dict, source: str | None) -> Snapshot:
        """The committed index (or one source's documents and passages, without vectors) as a ``Snapshot``."""
        from ..lexical import BM25Index

        base = meta["manifest"]
        tables = MilvusTables(self, meta)
        for name in (DOCUMENTS, PASSAGES):
            self.call("load_collection", name)
        where = f" and source == {literal(source)}" if source is not None else ""
        documents = tables.assemble(tables.rows(DOCUMENTS, tables.visible + where,
                                                ["doc_id", "part", "text", "info"]))
        entries = {d: doc.metadata.pop("__entry__") for d, doc in documents.items()}
        hashes = {d: doc.metadata.pop("__hash__") for d, doc in documents.items()}
        manifest = {**base, "documents": dict(sorted(entries.items())), "updated_at": meta["updated_at"]}
        snapshot = Snapshot.empty(manifest, int(base["dimension"]))
        snapshot.document_store.add_documents([documents[d] for d in sorted(documents)])
        snapshot.document_store.set_document_hashes(hashes)
        fields = ["id", "doc_id", "start", "end", "text"] + (["embedding", "sentences"] if source is None else [])
        rows = sorted(tables.rows(PASSAGES, tables.visible + where, fields), key=lambda r: (r["doc_id"], r["start"]))
        nodes = []
        for row in rows:
            node = TextNode(id_=row["id"], text=row["text"], start_char_idx=row["start"], end_char_idx=row["end"],
                            metadata=dict(documents[row["doc_id"]].metadata))
            node.relationships = {NodeRelationship.SOURCE: RelatedNodeInfo(node_id=row["doc_id"])}
            nodes.append(node)
        snapshot.storage.docstore.add_documents(nodes)
        if source is None:
            for node, row in zip(nodes, rows):
                node.embedding = [float(x) for x in row["embedding"]]
            snapshot.vectors.add(nodes)
            for node in nodes:
                node.embedding = None
            snapshot.lexical = BM25Index.build({node.id_: node.get_content() for node in nodes})
            snapshot.sentence_vectors = SentenceVectors({row["id"]: sentences_of(row["sentences"]) for row in rows})
        snapshot.refresh(manifest)
        snapshot.version = str(meta["version"])
        return snapshot

    # ------------------------------------------------------------------ writing

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Writers one at a time beside a Milvus Lite file (a server has no lock to take: see the docstring)."""
        if self.file is None:
            yield
            return
        self.file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.file.with_name(self.file.name + ".writer-lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def update(self, documents: list[Document], embedder: BaseEmbedding, manifest_base: dict,
               rebuild: bool = False, show_progress: bool = False,
               progress: Progress | None = None) -> tuple[ServedSnapshot, UpdateReport]:
        from ..embeddings import EmbeddingCache

        if progress is None:
            progress = TerminalProgress() if show_progress else no_progress
        report = UpdateReport()
        with self._writing():
            self._update(documents, embedder, manifest_base, rebuild, progress, report)
        EmbeddingCache(self.cache_dir, "").clear()
        return self.load(), report

    def _update(self, documents: list[Document], embedder: BaseEmbedding, base: dict, rebuild: bool,
                progress: Progress, report: UpdateReport) -> None:
        meta = self._meta()
        stored = {**meta["manifest"], "tables": meta.get("tables")} if meta else None
        report.rebuilt = rebuild_reason(self.describe(), stored, base, TABLES_VERSION, rebuild, "collections")
        wipe = bool(report.rebuilt) and not rebuild
        fresh = meta is None or wipe
        if not fresh:
            documents = self._own(documents, MilvusTables(self, meta))
        if not fresh and not rebuild:
            snap = self._materialise(meta, self.source)
        else:
            snap = Snapshot.empty({**base, "documents": {}}, base["dimension"])
        apply_documents(snap, documents, embedder, base, report, progress, self.cache_dir)
        kind_changed = stored is not None and stored.get("vector_index") != base["vector_index"]
        if not report.touched and not kind_changed:
            return
        if fresh:
            self._create(base)
            meta = {"version": 0, "retired": [], "passages": 0, "documents": 0, "total_length": 0}
        tables = MilvusTables(self, meta)
        old = int(meta["version"])
        # leftovers of a killed update: rows it wrote (never committed) and rows it retired (committed)
        for name in (DOCUMENTS, PASSAGES):
            self.call("delete", name, filter=f"gen > {old}")
            if meta.get("retired"):
                self.call("delete", name, filter=f"doc_id in {literal(meta['retired'])} and gen < {old}")
        self._prune_terms(tables, old)
        gen = old + 1
        retired = sorted(set(report.changed + report.deleted))
        if report.rebuilt == "asked for" and not fresh:  # every document of this source is new
            retired = sorted(d for d, _ in tables.document_entries(source=self.source))
        gone = tables.rows(PASSAGES, f"doc_id in {literal(retired)} and gen <= {old}", ["length", "terms"]) \
            if retired else []
        new_docs = set(report.added + report.changed) if not (fresh or report.rebuilt == "asked for") \
            else {doc.doc_id for doc in documents}
        added, added_length, held = self._insert(snap, documents, new_docs, gen)
        self._write_terms(tables, held, passages_holding(gone), gen)
        if kind_changed and not fresh:
            self.index_embedding(base["vector_index"])
        documents_count = self.call("query", DOCUMENTS, output_fields=["count(*)"], consistency_level="Strong",
                                    filter=f"part == 0 and gen <= {gen} and not (doc_id in {literal(retired)} "
                                           f"and gen < {gen})")[0]["count(*)"]
        info = {"manifest": {k: base[k] for k in MANIFEST_KEYS}, "tables": TABLES_VERSION, "retired": retired,
                "updated_at": snap.manifest.get("updated_at") or dt.datetime.now(dt.timezone.utc).isoformat(),
                "passages": int(meta["passages"]) - len(gone) + added, "documents": documents_count,
                "total_length": int(meta["total_length"]) - sum(r["length"] for r in gone) + added_length}
        # The commit. The rows it retires stay until the next update deletes them (above): an app still
        # answering from the previous version keeps finding them (an immediate delete made such a question
        # a refusal in tests/test_stores.py::test_two_apps_answer_while_a_third_process_indexes).
        self.call("upsert", META, [{"id": "meta", "version": gen, "info": info, "v": [1.0, 0.0]}])

    def _prune_terms(self, tables: "MilvusTables", old: int) -> None:
        """Drop the term rows no reader of version ``old`` or later needs: what a killed update wrote, rows
        superseded by ``old``'s (readers take each term's newest row up to their version), and terms that
        ``old`` counted out (df 0: no row reads the same), in that order, so a reader never sees an older df."""
        self.call("delete", TERMS, filter=f"gen > {old}")
        rewritten = [r["term"] for r in tables.rows(TERMS, f"gen == {old}", ["term"])]
        for start in range(0, len(rewritten), BATCH):
            self.call("delete", TERMS, filter=f"term in {literal(rewritten[start:start + BATCH])} and gen < {old}")
        self.call("delete", TERMS, filter=f"gen == {old} and df == 0")

    def _write_terms(self, tables: "MilvusTables", added: Counter, gone: Counter, gen: int) -> None:
        """Each term whose document frequency moves (passages ``added`` holding it, less those ``gone``) gets
        a row at ``gen``: the count ``tables`` (the previous version) serves, plus the change."""
        change = Counter(added)
        change.subtract(gone)
        terms = sorted(term for term, n in change.items() if n)
        before = tables.term_freqs(terms)
        rows = [{"id": f"{gen}|{term}", "term": term, "gen": gen, "df": before.get(term, 0) + change[term],
                 "v": [1.0, 0.0]} for term in terms]
        for start in range(0, len(rows), BATCH):
            self.call("upsert", TERMS, rows[start:start + BATCH])

    def _own(self, documents: list[Document], tables: "MilvusTables") -> list[Document]:
        ids = [doc.doc_id for doc in documents]
        taken = {}
        for start in range(0, len(ids), BATCH):
            for row in tables.rows(DOCUMENTS, f"{tables.visible} and part == 0 and doc_id in "
                                              f"{literal(ids[start:start + BATCH])} and source != {literal(self.source)}",
                                   ["doc_id", "source"]):
                taken[row["doc_id"]] = row["source"]
        for doc_id, source in sorted(taken.items()):
            log.warning("skipped %s: the store already has a document %s from %s; rename one", doc_id, doc_id, source)
        return [doc for doc in documents if doc.doc_id not in taken]

    def _create(self, base: dict) -> None:
        from pymilvus import DataType, Function, FunctionType, MilvusClient

        for name in COLLECTIONS:
            if self.call("has_collection", name):
                self.call("drop_collection", name)

        def dummy(schema: Any) -> Any:  # Milvus wants a vector in every collection
            schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)
            index = self.call("prepare_index_params")
            index.add_index(field_name="v", index_type="FLAT", metric_type="IP")
            return index

        meta = MilvusClient.create_schema(auto_id=False)
        meta.add_field("id", DataType.VARCHAR, is_primary=True, max_length=16)
        meta.add_field("version", DataType.INT64)
        meta.add_field("info", DataType.JSON)
        self.call("create_collection", META, schema=meta, index_params=dummy(meta), consistency_level="Strong")
        docs = MilvusClient.create_schema(auto_id=False)
        docs.add_field("id", DataType.VARCHAR, is_primary=True, max_length=MAX_VARCHAR)
        for name in ("doc_id", "source"):
            docs.add_field(name, DataType.VARCHAR, max_length=MAX_VARCHAR)
        docs.add_field("gen", DataType.INT64)
        docs.add_field("part", DataType.INT64)
        docs.add_field("text", DataType.VARCHAR, max_length=MAX_VARCHAR)
        docs.add_field("info", DataType.JSON)
        self.call("create_collection", DOCUMENTS, schema=docs, index_params=dummy(docs), consistency_level="Strong")
        terms = MilvusClient.create_schema(auto_id=False)
        terms.add_field("id", DataType.VARCHAR, is_primary=True, max_length=MAX_VARCHAR)
        terms.add_field("term", DataType.VARCHAR, max_length=MAX_VARCHAR)
        terms.add_field("gen", DataType.INT64)
        terms.add_field("df", DataType.INT64)
        self.call("create_collection", TERMS, schema=terms, index_params=dummy(terms), consistency_level="Strong")
        passages = MilvusClient.create_schema(auto_id=False)
        passages.add_field("id", DataType.VARCHAR, is_primary=True, max_length=MAX_VARCHAR)
        for name in ("doc_id", "source"):
            passages.add_field(name, DataType.VARCHAR, max_length=MAX_VARCHAR)
        for name in ("gen", "start", "end", "length"):
            passages.add_field(name, DataType.INT64)
        passages.add_field("text", DataType.VARCHAR, max_length=MAX_VARCHAR)
        passages.add_field("terms", DataType.VARCHAR, max_length=MAX_VARCHAR, enable_analyzer=True, enable_match=True)
        passages.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        passages.add_field("embedding", DataType.FLOAT_VECTOR, dim=int(base["dimension"]))
        passages.add_field("sentences", DataType.JSON)
        passages.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["terms"],
                                       output_field_names=["sparse"]))
        index = self.call("prepare_index_params")
        index.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                        params={"bm25_k1": K1, "bm25_b": B})
        self._embedding_index(index, base)
        self.call("create_collection", PASSAGES, schema=passages, index_params=index, consistency_level="Strong")

    @staticmethod
    def _embedding_index(index: Any, base: dict) -> None:
        if base["vector_index"] == "hnsw":
            index.add_index(field_name="embedding", index_name=EMBEDDING_INDEX, index_type="HNSW", metric_type="IP",
                            params={"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION})
        else:
            index.add_index(field_name="embedding", index_name=EMBEDDING_INDEX, index_type="FLAT", metric_type="IP")

    def index_embedding(self, vector_index: str) -> None:
        """Switch the passages' vector index between HNSW and FLAT (no re-embedding)."""
        self.call("release_collection", PASSAGES)
        self.call("drop_index", PASSAGES, EMBEDDING_INDEX)
        index = self.call("prepare_index_params")
        self._embedding_index(index, {"vector_index": vector_index})
        self.call("create_index", PASSAGES, index)
        self.call("load_collection", PASSAGES)

    def _insert(self, snap: Snapshot, documents: list[Document], new_docs: set[str],
                gen: int) -> tuple[int, int, Counter]:
        """Write the new documents' rows with ``gen``; (passages written, their BM25 length, how many of
        them hold each term)."""
        by_id = {doc.doc_id: doc for doc in documents}
        rows = []
        for doc_id in sorted(d for d in by_id if d in new_docs):
            doc = snap.document_store.get_document(doc_id)
            node = with_text(doc_to_json(doc), "")  # the text goes in parts, beside
            parts = [doc.text[i:i + TEXT_PART] for i in range(0, len(doc.text), TEXT_PART)] or [""]
            for part, chunk in enumerate(parts):
                info = {"hash": by_id[doc_id].hash, "entry": snap.manifest["documents"][doc_id], "node": node} \
                    if part == 0 else {}
                rows.append({"id": f"{doc_id}|{part}", "doc_id": doc_id, "source": self.source, "gen": gen,
                             "part": part, "text": chunk, "info": info, "v": [1.0, 0.0]})
        for start in range(0, len(rows), BATCH):
            self.call("upsert", DOCUMENTS, rows[start:start + BATCH])
        lexical = snap.lexical
        row_of = {pid: i for i, pid in enumerate(lexical.ids)}
        counts = lexical.counts
        nodes = [n for n in snap.storage.docstore.docs.values() if n.ref_doc_id in new_docs]
        vectors = snap.vectors.vectors_of([n.id_ for n in nodes])
        rows, total, held = [], 0, Counter()
        for node, vector in zip(nodes, vectors):
            assert isinstance(node, TextNode)
            r = row_of[node.id_]
            lo, hi = counts.indptr[r], counts.indptr[r + 1]
            held.update(milvus_term(lexical.terms[j]) for j in counts.indices[lo:hi].tolist())
            terms = " ".join(" ".join([milvus_term(lexical.terms[j])] * int(tf))
                             for j, tf in zip(counts.indices[lo:hi].tolist(), counts.data[lo:hi].tolist()))
            length = int(counts.data[lo:hi].sum())
            total += length
            spans, sentence_vectors = snap.sentence_vectors.of(node.id_) or (np.zeros((0, 2)), np.zeros((0, 0)))
            rows.append({"id": node.id_, "doc_id": node.ref_doc_id, "source": self.source, "gen": gen,
                         "start": node.start_char_idx or 0, "end": node.end_char_idx or 0, "length": length,
                         "text": node.text, "terms": terms, "embedding": np.asarray(vector, dtype="float32").tolist(),
                         "sentences": {"spans": np.asarray(spans, dtype=np.int64).tolist(),
                                       "shape": list(sentence_vectors.shape),
                                       "vectors": base64.b64encode(np.ascontiguousarray(
                                           sentence_vectors, dtype=np.float16).tobytes()).decode("ascii")}})
            if len(rows) == BATCH:
                self.call("upsert", PASSAGES, rows)
                rows = []
        if rows:
            self.call("upsert", PASSAGES, rows)
        return len(nodes), total, held


def with_text(node: dict, text: str) -> dict:
    """A copy of a llama-index document's JSON (``doc_to_json``) holding ``text``."""
    node = json.loads(json.dumps(node))
    data = node["__data__"]
    data["text"] = text
    if isinstance(data.get("text_resource"), dict):
        data["text_resource"]["text"] = text
    return node


def passages_holding(rows: list[dict]) -> Counter:
    """How many of these passage rows hold each term (in Milvus's spelling, ``milvus_term``)."""
    return Counter(term for row in rows for term in set(row["terms"].split()))


def sentences_of(value: dict) -> tuple[np.ndarray, np.ndarray]:
    spans = np.asarray(value["spans"], dtype=np.int32).reshape(-1, 2)
    vectors = np.frombuffer(base64.b64decode(value["vectors"]), dtype=np.float16).reshape(value["shape"])
    return spans, vectors


class MilvusTables:
    """What a ``ServedSnapshot`` asks of Milvus (``served.Tables``), at one committed version."""

    def __init__(self, store: MilvusStore, meta: dict):
        self.store = store
        self.version = int(meta["version"])
        self.meta = meta
        self.retired = list(meta.get("retired") or [])
        self.visible = f"gen <= {self.version}" + (
            f" and not (doc_id in {literal(self.retired)} and gen < {self.version})" if self.retired else "")
        self.avg_length = int(meta.get("total_length", 0)) / max(int(meta.get("passages", 0)), 1)
        self.vector_index = meta["manifest"].get("vector_index", "exact") if "manifest" in meta else "exact"
        self._terms = LRU(20_000)  # passage id -> (term counts, length), for the candidates' BM25

    def __repr__(self) -> str:
        return f"<MilvusTables {self.store.describe()} version {self.version}>"

    def rows(self, collection: str, filter: str, fields: list[str]) -> list[dict]:
        """Every row matching ``filter`` (in batches: Milvus caps one query's rows)."""
        iterator = self.store.call("query_iterator", collection, batch_size=STREAM_ROWS, filter=filter,
                                   output_fields=fields)
        out: list[dict] = []
        try:
            while batch := iterator.next():
                out.extend(batch)
        finally:
            iterator.close()
        return out

    def passage_count(self) -> int:
        return int(self.meta["passages"])

    def document_count(self) -> int:
        return int(self.meta["documents"])

    def average_length(self) -> float:
        return self.avg_length

    def search(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        params = {"metric_type": "IP", "params": {"ef": max(HNSW_EF_SEARCH, k)} if self.vector_index == "hnsw" else {}}
        hits = self.store.call("search", PASSAGES, data=[np.asarray(vector, dtype="float32").tolist()],
                               anns_field="embedding", limit=int(k), filter=self.visible, search_params=params,
                               output_fields=[], consistency_level="Strong")[0]
        return [(hit["id"], float(hit["distance"])) for hit in hits]

    def doc_freqs(self, terms: list[str]) -> dict[str, int]:
        found = self.term_freqs([milvus_term(t) for t in terms])
        return {t: found[milvus_term(t)] for t in terms if milvus_term(t) in found}

    def term_freqs(self, terms: list[str]) -> dict[str, int]:
        """Document frequencies by Milvus's spelling of the terms: each term's newest row up to this version."""
        newest: dict[str, tuple[int, int]] = {}
        for start in range(0, len(terms), BATCH):
            for row in self.store.call("query", TERMS, filter=f"gen <= {self.version} and term in "
                                                              f"{literal(terms[start:start + BATCH])}",
                                       output_fields=["term", "gen", "df"], limit=QUERY_LIMIT,
                                       consistency_level="Strong"):
                if row["gen"] > newest.get(row["term"], (-1, 0))[0]:
                    newest[row["term"]] = (row["gen"], row["df"])
        return {term: df for term, (_, df) in newest.items() if df}

    def lexical_top(self, weights: dict[str, float], k: int) -> list[tuple[str, float]]:
        """Milvus's BM25 function finds ``OVERFETCH * k`` candidates; the folder store's formula scores them
        and keeps the best ``k``."""
        query = " ".join(milvus_term(t) for t in weights)
        hits = self.store.call("search", PASSAGES, data=[query], anns_field="sparse", limit=OVERFETCH * int(k),
                               filter=self.visible,
                               search_params={"metric_type": "BM25"}, output_fields=["terms", "length"],
                               consistency_level="Strong")[0]
        for hit in hits:
            self._terms.put(hit["id"], (Counter(hit["entity"]["terms"].split()), hit["entity"]["length"]))
        scores = self.lexical_of(weights, [hit["id"] for hit in hits])
        return sorted(((pid, s) for pid, s in scores.items() if s > 0), key=lambda x: -x[1])[:k]

    def lexical_of(self, weights: dict[str, float], passage_ids: list[str]) -> dict[str, float]:
        missing = [p for p in passage_ids if p not in self._terms]
        if missing:
            for row in self.store.call("query", PASSAGES, filter=f"{self.visible} and id in {literal(missing)}",
                                       output_fields=["terms", "length"], consistency_level="Strong"):
                self._terms.put(row["id"], (Counter(row["terms"].split()), row["length"]))
        out = {}
        for pid in passage_ids:
            found = self._terms.get(pid)
            if found is None:
                continue
            counts, length = found
            norm = K1 * (1 - B + B * length / (self.avg_length or 1.0))
            score = 0.0
            for term, idf in weights.items():
                tf = counts.get(milvus_term(term), 0)
                if tf:
                    score += idf * tf * (K1 + 1) / (tf + norm)
            out[pid] = score
        return out

    def passage_rows(self, passage_ids: list[str]) -> list[PassageRow]:
        rows = self.store.call("query", PASSAGES, filter=f"{self.visible} and id in {literal(list(passage_ids))}",
                               output_fields=["id", "doc_id", "start", "end", "text", "embedding", "sentences"],
                               consistency_level="Strong")
        out = []
        for row in rows:
            spans, vectors = sentences_of(row["sentences"])
            out.append(PassageRow(Passage(row["id"], row["doc_id"], row["start"], row["end"], row["text"]),
                                  np.asarray(row["embedding"], dtype="float32"), spans, vectors))
        return out

    def assemble(self, rows: list[dict]) -> dict[str, Document]:
        """Documents from their part rows (metadata carries ``__entry__`` and ``__hash__`` for the caller)."""
        parts: dict[str, dict[int, dict]] = {}
        for row in rows:
            parts.setdefault(row["doc_id"], {})[row["part"]] = row
        out = {}
        for doc_id, by_part in parts.items():
            first = by_part[0]["info"]
            document = json_to_doc(with_text(first["node"], "".join(by_part[i]["text"] for i in sorted(by_part))))
            document.metadata["__entry__"] = first["entry"]
            document.metadata["__hash__"] = first["hash"]
            out[doc_id] = document
        return out

    def some(self, collection: str, filter: str, fields: list[str]) -> list[dict]:
        """The rows of one query (a few documents' parts or passages: under Milvus's 16,384 a query returns)."""
        return self.store.call("query", collection, filter=filter, output_fields=fields, limit=QUERY_LIMIT,
                               consistency_level="Strong")

    def documents(self, doc_ids: list[str]) -> dict[str, Document]:
        rows = self.some(DOCUMENTS, f"{self.visible} and doc_id in {literal(list(doc_ids))}",
                         ["doc_id", "part", "text", "info"])
        out = self.assemble(rows)
        for document in out.values():
            document.metadata.pop("__entry__")
            document.metadata.pop("__hash__")
        return out

    def passages_of(self, doc_id: str) -> list[Passage]:
        rows = self.some(PASSAGES, f"{self.visible} and doc_id == {literal(doc_id)}",
                         ["id", "doc_id", "start", "end", "text"])
        return [Passage(r["id"], r["doc_id"], r["start"], r["end"], r["text"]) for r in sorted(rows, key=lambda r: r["start"])]

    def iter_passages(self) -> Iterator[Passage]:
        iterator = self.store.call("query_iterator", PASSAGES, batch_size=STREAM_ROWS, filter=self.visible,
                                   output_fields=["id", "doc_id", "start", "end", "text"])
        try:
            while batch := iterator.next():
                for r in batch:
                    yield Passage(r["id"], r["doc_id"], r["start"], r["end"], r["text"])
        finally:
            iterator.close()

    def document_entries(self, source: str | None = None) -> Iterator[tuple[str, dict]]:
        where = f"{self.visible} and part == 0" + (f" and source == {literal(source)}" if source is not None else "")
        rows = self.rows(DOCUMENTS, where, ["doc_id", "info"])
        return iter(sorted((r["doc_id"], r["info"]["entry"]) for r in rows))
