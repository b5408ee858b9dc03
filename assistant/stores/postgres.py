"""The index in PostgreSQL with pgvector: one database shared by many app processes and index workers.

Tables (schema ``assistant``)::

    meta       one row: version (+1 per committed update), the manifest's model and chunking, updated_at
    documents  doc_id, source (the indexed folder), hash, manifest entry, the llama-index Document (jsonb)
    passages   passage_id (doc_id#start-end), doc_id, offsets, text, the TextNode (jsonb),
               embedding vector(dim) with an HNSW index (inner product), a full-text tsvector with GIN
    sentences  per passage: sentence spans (int32) and sentence vectors (float16), as in the folder store

An update is one transaction: a killed ``assistant index`` leaves the previous state, and readers see a
committed update whole or not at all. Writers are serialised by transaction-level advisory locks: one
per source while its documents are compared and embedded (the same folder indexed twice at once embeds
once and duplicates nothing), one for the whole store while rows are written (two folders indexed at
once both land). App processes ask ``version()`` per question and reload when it changed.

Serving: ``load()`` materialises the committed index as the same in-memory ``Snapshot`` the folder store
hands out (FAISS, BM25 counts, sentence vectors built from the rows), so retrieval, fusion and rerank are
the local store's, answer for answer. Its cost is a full read per committed update and the index in each
app process's memory; the HNSW and full-text indexes in the tables are where search inside the database
goes next (the README's "Scaling out").
"""

from __future__ import annotations

import datetime as dt
import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from llama_index.core import Document
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import BaseNode, TextNode
from llama_index.core.storage.docstore.utils import doc_to_json, json_to_doc

from ..config import redact_uri
from ..embeddings import EmbeddingCache
from ..errors import (ConfigError, IndexBusyError, IndexCorruptError, IndexMismatchError, IndexMissingError,
                      StoreUnavailableError)
from ..lexical import BM25Index
from ..progress import Progress, TerminalProgress, no_progress
from .snapshot import FORMAT_VERSION, SentenceVectors, Snapshot, UpdateReport, apply_documents, mismatch

log = logging.getLogger("assistant.store")

SCHEMA = "assistant"
LOCK_CLASS = 0x4153  # first key of the advisory locks ("AS"); the second is 0 (the store) or a source's hash
CONNECT_TIMEOUT = 5  # seconds: a store that does not answer by then is reported as unreachable
HNSW_M, HNSW_EF_CONSTRUCTION = 16, 64  # pgvector's defaults

MANIFEST_KEYS = ("format", "embed_model", "dimension", "chunk_size", "chunk_overlap", "vector_index")


def _schema_sql(dimension: int) -> list[str]:
    dim = int(dimension)  # a type modifier cannot be a bound parameter; an int cannot inject anything
    return [
        "CREATE EXTENSION IF NOT EXISTS vector",
        f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
        f"""CREATE TABLE {SCHEMA}.meta (
            id int PRIMARY KEY CHECK (id = 1), version bigint NOT NULL, manifest jsonb NOT NULL,
            updated_at text NOT NULL)""",
        f"""CREATE TABLE {SCHEMA}.documents (
            seq bigserial, doc_id text PRIMARY KEY, source text NOT NULL, hash text NOT NULL,
            entry jsonb NOT NULL, node jsonb NOT NULL)""",
        f"CREATE INDEX ON {SCHEMA}.documents (source)",
        f"""CREATE TABLE {SCHEMA}.passages (
            seq bigserial, passage_id text PRIMARY KEY,
            doc_id text NOT NULL REFERENCES {SCHEMA}.documents ON DELETE CASCADE,
            start_char int NOT NULL, end_char int NOT NULL, text text NOT NULL, node jsonb NOT NULL,
            embedding vector({dim}) NOT NULL,
            terms tsvector GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED)""",
        f"CREATE INDEX ON {SCHEMA}.passages (doc_id)",
        f"""CREATE TABLE {SCHEMA}.sentences (
            passage_id text PRIMARY KEY REFERENCES {SCHEMA}.passages ON DELETE CASCADE,
            spans bytea NOT NULL, vectors bytea NOT NULL, shape int[] NOT NULL)""",
    ]


# Built after a new store's first rows are in: one bulk build instead of a graph insert per row.
SEARCH_INDEXES_SQL = [
    f"""CREATE INDEX passages_embedding_hnsw ON {SCHEMA}.passages USING hnsw (embedding vector_ip_ops)
        WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})""",
    f"CREATE INDEX passages_terms_gin ON {SCHEMA}.passages USING gin (terms)",
]


class PostgresStore:
    """The index in a PostgreSQL database with pgvector (``store = "postgresql://user@host/db"``).

    ``source`` names the documents folder this process indexes: an update adds, changes and deletes
    only that source's documents, so workers on different folders share one store.
    """

    shared = True

    def __init__(self, uri: str, source: str = "", cache_dir: str | Path = Path("index") / "embedding-cache"):
        try:
            import psycopg  # noqa: F401
            import pgvector.psycopg  # noqa: F401
        except ImportError:
            raise ConfigError(
                f"store {redact_uri(uri)} needs PostgreSQL support: pip install 'doc-assistant[postgres]'"
            ) from None
        self.uri = uri
        self.source = source
        self.cache_dir = Path(cache_dir)
        self._reader: Any = None  # one connection for version checks and loads, reopened after a failure

    def __repr__(self) -> str:
        return f"<PostgresStore {self.describe()}>"

    def describe(self) -> str:
        return redact_uri(self.uri)

    # ------------------------------------------------------------------ connections

    def _unreachable(self) -> StoreUnavailableError:
        return StoreUnavailableError(f"cannot reach the store at {self.describe()}; start PostgreSQL or check --store")

    def _connect(self, autocommit: bool) -> Any:
        import psycopg

        try:
            return psycopg.connect(self.uri, autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT)
        except psycopg.OperationalError:
            raise self._unreachable() from None

    @staticmethod
    def _register_vector(conn: Any) -> bool:
        """Teach the connection pgvector's type; False while the extension is not installed."""
        from pgvector.psycopg import register_vector

        try:
            register_vector(conn)
            return True
        except Exception:  # psycopg.ProgrammingError: "vector type not found in the database"
            return False

    @contextmanager
    def _reading(self) -> Iterator[Any]:
        """The reader connection; a lost connection becomes ``StoreUnavailableError`` and is reopened next time."""
        import psycopg

        if self._reader is None or self._reader.closed:
            self._reader = self._connect(autocommit=True)
        try:
            yield self._reader
        except psycopg.OperationalError:
            self._reader.close()
            self._reader = None
            raise self._unreachable() from None

    # ------------------------------------------------------------------ reading

    def version(self) -> str:
        import psycopg

        with self._reading() as conn:
            try:
                row = conn.execute(f"SELECT version FROM {SCHEMA}.meta").fetchone()
            except psycopg.errors.UndefinedTable:
                return ""
        return str(row[0]) if row else ""

    def exists(self) -> bool:
        return self.version() != ""

    def load(self) -> Snapshot:
        import psycopg

        with self._reading() as conn:
            if not self._register_vector(conn) or not self.exists():
                raise IndexMissingError(f"no index in {self.describe()}; run `assistant index --store ...` to build it")
            try:
                with conn.transaction():  # one committed state, even while a writer commits
                    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    return self._materialise(conn)
            except psycopg.errors.UndefinedTable:
                raise IndexMissingError(f"no index in {self.describe()}; run `assistant index --store ...`") from None

    def _materialise(self, conn: Any, source: str | None = None) -> Snapshot:
        """The index (or one source's part of it, without vectors) as an in-memory ``Snapshot``."""
        version, base, updated_at = conn.execute(f"SELECT version, manifest, updated_at FROM {SCHEMA}.meta").fetchone()
        if base.get("format") != FORMAT_VERSION:
            raise IndexMismatchError(
                f"index in {self.describe()} has format {base.get('format')}, this version reads "
                f"{FORMAT_VERSION}; run `assistant index --rebuild`"
            )
        where, params = ("WHERE d.source = %s", [source]) if source is not None else ("", [])
        documents = conn.execute(f"SELECT d.doc_id, d.hash, d.entry, d.node FROM {SCHEMA}.documents d {where} "
                                 "ORDER BY d.seq", params).fetchall()
        entries = {doc_id: entry for doc_id, _, entry, _ in documents}
        manifest = {**base, "documents": dict(sorted(entries.items())), "updated_at": updated_at}
        snapshot = Snapshot.empty(manifest, int(base["dimension"]))
        snapshot.document_store.add_documents([json_to_doc(node) for *_, node in documents])
        snapshot.document_store.set_document_hashes({doc_id: h for doc_id, h, *_ in documents})
        with_vectors = source is None
        rows = conn.execute(
            f"SELECT p.passage_id, p.node{', p.embedding' if with_vectors else ''} FROM {SCHEMA}.passages p "
            f"JOIN {SCHEMA}.documents d USING (doc_id) {where} ORDER BY p.seq", params, binary=True).fetchall()
        nodes = [json_to_doc(row[1]) for row in rows]
        snapshot.storage.docstore.add_documents(nodes)
        if with_vectors:
            for node, row in zip(nodes, rows):
                vector = row[2].to_numpy() if hasattr(row[2], "to_numpy") else row[2]  # pgvector's binary Vector
                node.embedding = np.asarray(vector, dtype="float32").tolist()
            snapshot.vectors.add(nodes)
            for node in nodes:
                node.embedding = None
            snapshot.lexical = BM25Index.build({node.id_: node.get_content() for node in nodes})
            entries = {}
            for pid, spans, vectors, shape in conn.execute(
                    f"SELECT passage_id, spans, vectors, shape FROM {SCHEMA}.sentences", binary=True):
                entries[pid] = (np.frombuffer(spans, dtype=np.int32).reshape(-1, 2),
                                np.frombuffer(vectors, dtype=np.float16).reshape(shape))
            snapshot.sentence_vectors = SentenceVectors(entries)
        snapshot.refresh(manifest)
        if with_vectors:
            if len(snapshot.sentence_vectors) != len(snapshot.passages):
                raise IndexCorruptError(
                    f"index in {self.describe()} is inconsistent ({len(snapshot.sentence_vectors)} sentence groups "
                    f"for {len(snapshot.passages)} passages); run `assistant index --rebuild`"
                )
            if base.get("vector_index") == "hnsw":
                snapshot.approximate = snapshot.vectors.hnsw()
        snapshot.version = str(version)
        return snapshot

    # ------------------------------------------------------------------ writing

    def update(self, documents: list[Document], embedder: BaseEmbedding, manifest_base: dict,
               rebuild: bool = False, show_progress: bool = False,
               progress: Progress | None = None) -> tuple[Snapshot, UpdateReport]:
        """Bring this source's documents in the store in line with ``documents``, in one transaction."""
        import psycopg

        if progress is None:
            progress = TerminalProgress() if show_progress else no_progress
        report = UpdateReport()
        conn = self._connect(autocommit=False)
        try:
            with conn:  # commits at the end of the block, rolls back on any error (or when killed)
                touched = self._update(conn, documents, embedder, manifest_base, rebuild, progress, report)
                if not touched:
                    conn.rollback()
        except psycopg.OperationalError:
            raise self._unreachable() from None
        except psycopg.errors.IntegrityError:
            raise IndexBusyError(
                f"another worker wrote the same documents to {self.describe()} at the same time; run the update again"
            ) from None
        except psycopg.errors.InsufficientPrivilege:
            raise StoreUnavailableError(
                f"the database user of {self.describe()} may not create the index's tables (or the vector "
                "extension); grant it CREATE on the database, or run CREATE EXTENSION vector as a superuser"
            ) from None
        finally:
            conn.close()
        EmbeddingCache(self.cache_dir, "").clear()  # committed (or nothing to do): the store holds them now
        return self.load(), report

    def _update(self, conn: Any, documents: list[Document], embedder: BaseEmbedding, base: dict, rebuild: bool,
                progress: Progress, report: UpdateReport) -> bool:
        conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (LOCK_CLASS, self.source))
        stored_base = self._stored_base(conn)
        wipe = False  # drop every source's rows: the store's model or chunking changes
        if stored_base is not None and not rebuild:
            report.rebuilt = mismatch(stored_base, base)
            wipe = bool(report.rebuilt)
            if wipe:
                log.warning("rebuilding the index in %s from the documents (every source's documents go; "
                            "index the other folders again): %s", self.describe(), report.rebuilt)
        elif rebuild:
            report.rebuilt = "asked for"
        manifest = {**base, "documents": {}}
        if stored_base is not None and not wipe and not rebuild:
            self._register_vector(conn)
            snap = self._materialise(conn, source=self.source)
        else:
            snap = Snapshot.empty(manifest, base["dimension"])
        documents = self._own(conn, documents) if stored_base is not None and not wipe else documents
        apply_documents(snap, documents, embedder, base, report, progress, self.cache_dir)
        kind_changed = stored_base is not None and stored_base.get("vector_index") != base["vector_index"]
        if not report.touched and not kind_changed:
            return False

        conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (LOCK_CLASS,))  # the store's rows: one writer at a time
        # Another source's worker may have created or rebuilt the store while this one embedded: look again.
        now = self._stored_base(conn)
        fresh = now is None or bool(wipe and mismatch(now, base))
        if fresh:
            conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
            for statement in _schema_sql(base["dimension"]):
                conn.execute(statement)
        elif mismatch(now, base):
            raise IndexBusyError(f"another worker rebuilt {self.describe()} with other settings ({mismatch(now, base)}) "
                                 "during this update; run it again")
        self._register_vector(conn)
        if stored_base is None or wipe or report.rebuilt == "asked for":  # every document of this source is new
            conn.execute(f"DELETE FROM {SCHEMA}.documents WHERE source = %s", (self.source,))
        else:
            conn.execute(f"DELETE FROM {SCHEMA}.documents WHERE source = %s AND doc_id = ANY(%s)",
                         (self.source, report.changed + report.deleted))
        self._insert(conn, snap, documents, report)
        if fresh:
            for statement in SEARCH_INDEXES_SQL:
                conn.execute(statement)
        self._bump(conn, base, snap.manifest["updated_at"])
        return True

    @staticmethod
    def _stored_base(conn: Any) -> dict | None:
        """The committed manifest's model and chunking (None before the first update)."""
        import psycopg

        try:
            with conn.transaction():  # a savepoint: a missing table must not spoil the transaction
                row = conn.execute(f"SELECT manifest FROM {SCHEMA}.meta").fetchone()
        except psycopg.errors.UndefinedTable:
            return None
        return row[0] if row else None

    def _own(self, conn: Any, documents: list[Document]) -> list[Document]:
        """``documents`` without those another source already holds under the same id (each skipped in
        one warning line: two folders holding the same relative path must rename one)."""
        ids = [doc.doc_id for doc in documents]
        taken = dict(conn.execute(f"SELECT doc_id, source FROM {SCHEMA}.documents WHERE doc_id = ANY(%s) "
                                  "AND source <> %s", (ids, self.source)).fetchall())
        for doc_id, source in sorted(taken.items()):
            log.warning("skipped %s: the store already has a document %s from %s; rename one", doc_id, doc_id, source)
        return [doc for doc in documents if doc.doc_id not in taken]

    def _insert(self, conn: Any, snap: Snapshot, documents: list[Document], report: UpdateReport) -> None:
        from psycopg.types.json import Jsonb

        new_docs = set(report.added + report.changed)  # a rebuild adds every document
        by_id = {doc.doc_id: doc for doc in documents}
        with conn.cursor() as cur:
            with cur.copy(f"COPY {SCHEMA}.documents (doc_id, source, hash, entry, node) FROM STDIN") as copy:
                for doc_id in [d for d in by_id if d in new_docs]:
                    doc = snap.document_store.get_document(doc_id)
                    copy.write_row((doc_id, self.source, by_id[doc_id].hash,
                                    Jsonb(snap.manifest["documents"][doc_id]), Jsonb(doc_to_json(doc))))
            new_passages: list[BaseNode] = [node for node in snap.storage.docstore.docs.values()
                                            if node.ref_doc_id in new_docs]
            vectors = snap.vectors.vectors_of([node.id_ for node in new_passages])
            with cur.copy(f"COPY {SCHEMA}.passages (passage_id, doc_id, start_char, end_char, text, node, embedding) "
                          "FROM STDIN") as copy:
                for node, vector in zip(new_passages, vectors):
                    assert isinstance(node, TextNode)
                    copy.write_row((node.id_, node.ref_doc_id, node.start_char_idx or 0, node.end_char_idx or 0,
                                    node.text, Jsonb(doc_to_json(node)), vector))
            with cur.copy(f"COPY {SCHEMA}.sentences (passage_id, spans, vectors, shape) FROM STDIN") as copy:
                for node in new_passages:
                    spans, sentence_vectors = snap.sentence_vectors.of(node.id_) or (np.zeros((0, 2)), np.zeros((0,)))
                    copy.write_row((node.id_, np.ascontiguousarray(spans, dtype=np.int32).tobytes(),
                                    np.ascontiguousarray(sentence_vectors, dtype=np.float16).tobytes(),
                                    list(sentence_vectors.shape)))

    def _bump(self, conn: Any, base: dict, updated_at: str) -> None:
        from psycopg.types.json import Jsonb

        conn.execute(
            f"INSERT INTO {SCHEMA}.meta (id, version, manifest, updated_at) VALUES (1, 1, %s, %s) "
            "ON CONFLICT (id) DO UPDATE SET version = meta.version + 1, manifest = EXCLUDED.manifest, "
            "updated_at = EXCLUDED.updated_at",
            (Jsonb({k: base[k] for k in MANIFEST_KEYS}), updated_at or dt.datetime.now(dt.timezone.utc).isoformat()),
        )
