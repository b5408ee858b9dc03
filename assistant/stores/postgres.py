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

    postings   BM25 term statistics: (term, passage seq) -> term count and the passage's length in terms,
               one row per distinct term of a passage; the primary key covers the scoring columns
    terms      term -> how many passages hold it (df), written in the update's transaction with the postings

Serving: ``load()`` reads one row (``meta``) and hands out a ``served.ServedSnapshot``: dense search is
pgvector (``ORDER BY embedding <#> q LIMIT k``: the HNSW graph with ``vector_index = "hnsw"``, a scan of
every vector with ``exact``), BM25 is scored by SQL over ``postings`` with the folder store's formula and
tokens (IDFs from ``terms``; the top k exact, but without aggregating the postings of common words that
cannot change it: ``PostgresTables.lexical_top``), and only the candidates' rows are fetched. An app process's memory does not grow with the corpus;
retrieval's fusion and rerank are the folder store's, on the same numbers (BENCHMARKS.md, "Stores").
Each question reads in one REPEATABLE READ transaction, so a search never mixes two committed updates.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import Counter
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
from ..errors import (ConfigError, IndexBusyError, IndexCorruptError, IndexMissingError,
                      StoreUnavailableError)
from ..documents import Passage
from ..lexical import B, K1, BM25Index
from ..progress import Progress, TerminalProgress, no_progress
from .served import PassageRow, ServedSnapshot
from .snapshot import (HNSW_EF_SEARCH, SentenceVectors, Snapshot, UpdateReport, apply_documents, check_format,
                       mismatch, rebuild_reason)

log = logging.getLogger("assistant.store")

SCHEMA = "assistant"
LOCK_CLASS = 0x4153  # first key of the advisory locks ("AS"); the second is 0 (the store) or a source's hash
CONNECT_TIMEOUT = 5  # seconds: a store that does not answer by then is reported as unreachable
HNSW_M, HNSW_EF_CONSTRUCTION = 16, 64  # pgvector's defaults
TABLES_VERSION = 3  # 2: BM25 term statistics in ``postings``, counts in ``meta``; 3: document frequencies in ``terms``
STREAM_ROWS = 2000  # rows per fetch when something reads the whole collection
ROUNDING = 1e-6  # relative margin on BM25 bounds: above float32 rounding, whose ties the ranking breaks by seq
# A posting looked up by key costs about ten read in order: at 100,000 passages, 3.8 us per lookup against
# 0.35 us per posting aggregated (BENCHMARKS.md, "Stores: the lexical side at 100,000 passages").
LOOKUP_COST = 10

MANIFEST_KEYS = ("format", "embed_model", "dimension", "chunk_size", "chunk_overlap", "vector_index")


def _schema_sql(dimension: int) -> list[str]:
    dim = int(dimension)  # a type modifier cannot be a bound parameter; an int cannot inject anything
    return [
        "CREATE EXTENSION IF NOT EXISTS vector",
        f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
        f"""CREATE TABLE {SCHEMA}.meta (
            id int PRIMARY KEY CHECK (id = 1), version bigint NOT NULL, manifest jsonb NOT NULL,
            updated_at text NOT NULL, tables int NOT NULL, passages bigint NOT NULL, documents bigint NOT NULL,
            total_length bigint NOT NULL)""",
        f"""CREATE TABLE {SCHEMA}.documents (
            seq bigserial, doc_id text PRIMARY KEY, source text NOT NULL, hash text NOT NULL,
            entry jsonb NOT NULL, node jsonb NOT NULL)""",
        f"CREATE INDEX ON {SCHEMA}.documents (source)",
        f"""CREATE TABLE {SCHEMA}.passages (
            seq bigserial, passage_id text PRIMARY KEY,
            doc_id text NOT NULL REFERENCES {SCHEMA}.documents ON DELETE CASCADE,
            start_char int NOT NULL, end_char int NOT NULL, text text NOT NULL, node jsonb NOT NULL,
            embedding vector({dim}) NOT NULL, length int NOT NULL)""",
        f"CREATE INDEX ON {SCHEMA}.passages (doc_id)",
        f"CREATE UNIQUE INDEX ON {SCHEMA}.passages (seq)",
        f"""CREATE TABLE {SCHEMA}.postings (
            term text NOT NULL, seq bigint NOT NULL, tf int NOT NULL, length int NOT NULL)""",
        f"CREATE TABLE {SCHEMA}.terms (term text PRIMARY KEY, df int NOT NULL CHECK (df > 0))",
        f"""CREATE TABLE {SCHEMA}.sentences (
            passage_id text PRIMARY KEY REFERENCES {SCHEMA}.passages ON DELETE CASCADE,
            spans bytea NOT NULL, vectors bytea NOT NULL, shape int[] NOT NULL)""",
    ]


# Built after a new store's first rows are in: one bulk build instead of a graph insert per row. The
# postings' key covers what BM25 reads (index-only scans by term).
SEARCH_INDEXES_SQL = [
    "SET LOCAL maintenance_work_mem = '256MB'",  # the HNSW graph of 100k 384-d vectors fits: a faster build
    f"""CREATE INDEX passages_embedding_hnsw ON {SCHEMA}.passages USING hnsw (embedding vector_ip_ops)
        WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})""",
    f"ALTER TABLE {SCHEMA}.postings ADD CONSTRAINT postings_key PRIMARY KEY (term, seq) INCLUDE (tf, length)",
    f"ANALYZE {SCHEMA}.passages",
    f"ANALYZE {SCHEMA}.postings",
    f"ANALYZE {SCHEMA}.terms",
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
        self._local = threading.local()  # per thread: its reading connection, the depth of reading()

    def __repr__(self) -> str:
        return f"<PostgresStore {self.describe()}>"

    def describe(self) -> str:
        return redact_uri(self.uri)

    # ------------------------------------------------------------------ connections

    def unreachable(self) -> StoreUnavailableError:
        return StoreUnavailableError(f"cannot reach the store at {self.describe()}; start PostgreSQL or check --store")

    def connect_reader(self) -> Any:
        """A connection of its own for a long read (streaming the whole collection)."""
        return self._connect(autocommit=False)

    def _connect(self, autocommit: bool) -> Any:
        import psycopg

        try:
            return psycopg.connect(self.uri, autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT)
        except psycopg.OperationalError:
            raise self.unreachable() from None

    @staticmethod
    def _register_vector(conn: Any) -> bool:
        """Teach the connection pgvector's type; False while the extension is not installed."""
        from pgvector.psycopg import register_vector

        try:
            register_vector(conn)
            return True
        except Exception:  # psycopg.ProgrammingError: "vector type not found in the database"
            return False

    def _thread_connection(self) -> Any:
        """This thread's reading connection (autocommit; pgvector's type; the HNSW search depth)."""
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = self._connect(autocommit=True)
            conn.execute(f"SET hnsw.ef_search = {int(HNSW_EF_SEARCH)}")  # an int: nothing to inject
            self._local.conn, self._local.vector = conn, False
        if not self._local.vector and not getattr(self._local, "depth", 0):  # not before the first index
            self._local.vector = self._register_vector(conn)
        return conn

    def _lost(self) -> StoreUnavailableError:
        """Forget this thread's connection (reopened next time) and say the store is unreachable."""
        conn, self._local.conn, self._local.depth = getattr(self._local, "conn", None), None, 0
        if conn is not None:
            conn.close()
        return self.unreachable()

    def query(self, sql: str, params: Any = (), binary: bool = False) -> list[tuple]:
        """The rows of one read on this thread's connection, in its open ``reading()`` transaction if any;
        a lost connection is ``StoreUnavailableError`` (the next call reconnects)."""
        import psycopg

        try:
            cursor = self._thread_connection().execute(sql, params, binary=binary)
            return cursor.fetchall() if cursor.description is not None else []
        except psycopg.OperationalError:
            raise self._lost() from None

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Reads in one REPEATABLE READ, READ ONLY transaction: one committed state throughout, even while
        a writer commits. Nested uses join the outer one."""
        import psycopg

        if getattr(self._local, "depth", 0):
            self._local.depth += 1
            try:
                yield
            finally:
                self._local.depth -= 1
            return
        self.query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        self._local.depth = 1
        ok = False
        try:
            yield
            ok = True
        finally:
            if getattr(self._local, "depth", 0):
                self._local.depth = 0
                try:
                    self._thread_connection().execute("COMMIT" if ok else "ROLLBACK")
                except psycopg.Error:
                    if ok:
                        raise self._lost() from None
                    self._lost()  # the error being raised already says what went wrong

    @contextmanager
    def _reading(self) -> Iterator[Any]:
        """A connection for a whole-index read (``in_memory``), its errors mapped like ``query``'s."""
        import psycopg

        conn = self._connect(autocommit=True)
        try:
            yield conn
        except psycopg.OperationalError:
            raise self.unreachable() from None
        finally:
            conn.close()

    # ------------------------------------------------------------------ reading

    def _meta(self) -> dict | None:
        """The ``meta`` row as a dict (None before the first update), whatever version wrote it."""
        if not self.query("SELECT to_regclass(%s) IS NOT NULL", (f"{SCHEMA}.meta",))[0][0]:
            return None
        rows = self.query(f"SELECT to_jsonb(m) FROM {SCHEMA}.meta m")
        return rows[0][0] if rows else None

    def version(self) -> str:
        meta = self._meta()
        return str(meta["version"]) if meta else ""

    def exists(self) -> bool:
        return self.version() != ""

    def load(self) -> ServedSnapshot:
        """The committed index, served from the database (``served.ServedSnapshot``)."""
        with self.reading():
            meta = self._meta()
            if meta is None:
                raise IndexMissingError(f"no index in {self.describe()}; run `assistant index --store ...` to build it")
            check_format(self.describe(), meta["manifest"], meta.get("tables", 1), TABLES_VERSION)
            base = meta["manifest"]
            manifest = {**base, "updated_at": meta["updated_at"]}
            tables = PostgresTables(self, int(base["dimension"]), base.get("vector_index", "exact"),
                                    meta["total_length"] / max(meta["passages"], 1))
            return ServedSnapshot(manifest, tables, str(meta["version"]),
                                  approximate="pgvector hnsw" if base.get("vector_index") == "hnsw" else None,
                                  counts=(int(meta["passages"]), int(meta["documents"])))

    def in_memory(self) -> Snapshot:
        """The whole committed index as an in-memory ``Snapshot`` (FAISS, BM25 counts, sentence vectors),
        as the folder store would hand it out: for checks and comparisons, not for serving."""
        with self._reading() as conn:
            if not self._register_vector(conn) or not self.exists():
                raise IndexMissingError(f"no index in {self.describe()}; run `assistant index --store ...` to build it")
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                return self._materialise(conn)

    def _materialise(self, conn: Any, source: str | None = None) -> Snapshot:
        """The index (or one source's part of it, without vectors) as an in-memory ``Snapshot``."""
        version, base, updated_at = conn.execute(f"SELECT version, manifest, updated_at FROM {SCHEMA}.meta").fetchone()
        check_format(self.describe(), base)
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
            raise self.unreachable() from None
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
        report.rebuilt = rebuild_reason(self.describe(), stored_base, base, TABLES_VERSION, rebuild)
        wipe = bool(report.rebuilt) and not rebuild  # drop every source's rows: the store's model or chunking changes
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
        fresh = now is None or bool(wipe and (mismatch(now, base) or now.get("tables") != TABLES_VERSION))
        if fresh:
            conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
            for statement in _schema_sql(base["dimension"]):
                conn.execute(statement)
        elif mismatch(now, base):
            raise IndexBusyError(f"another worker rebuilt {self.describe()} with other settings ({mismatch(now, base)}) "
                                 "during this update; run it again")
        self._register_vector(conn)
        if stored_base is None or wipe or report.rebuilt == "asked for":  # every document of this source is new
            which, params = "d.source = %s", [self.source]
        else:
            which, params = "d.source = %s AND d.doc_id = ANY(%s)", [self.source, report.changed + report.deleted]
        self._delete_postings(conn, which, params)
        conn.execute(f"DELETE FROM {SCHEMA}.documents d WHERE {which}", params)
        self._insert(conn, snap, documents, report)
        if fresh:
            for statement in SEARCH_INDEXES_SQL:
                conn.execute(statement)
        self._bump(conn, base, snap.manifest["updated_at"])
        return True

    @staticmethod
    def _delete_postings(conn: Any, which: str, params: list) -> None:
        """Drop the postings of the passages of the documents ``which`` selects and count them out of
        ``terms``, in one statement: a term no passage holds any more leaves it (the two writes touch
        other rows: df equal to the count gone, df above it)."""
        conn.execute(
            f"WITH gone AS (DELETE FROM {SCHEMA}.postings WHERE seq IN (SELECT p.seq FROM {SCHEMA}.passages p "
            f"JOIN {SCHEMA}.documents d USING (doc_id) WHERE {which}) RETURNING term), "
            "counts AS (SELECT term, count(*) AS n FROM gone GROUP BY term), "
            f"emptied AS (DELETE FROM {SCHEMA}.terms x USING counts WHERE x.term = counts.term AND x.df = counts.n) "
            f"UPDATE {SCHEMA}.terms x SET df = x.df - counts.n FROM counts WHERE x.term = counts.term "
            "AND x.df > counts.n", params)

    @staticmethod
    def _stored_base(conn: Any) -> dict | None:
        """The committed manifest's model and chunking, with the tables' version (None before the first update)."""
        import psycopg

        try:  # not to_regclass: inside this long transaction it can miss a table another writer has created
            with conn.transaction():  # a savepoint: a missing table must not spoil the transaction
                row = conn.execute(f"SELECT to_jsonb(m) FROM {SCHEMA}.meta m").fetchone()
        except psycopg.errors.UndefinedTable:
            return None
        return {**row[0]["manifest"], "tables": row[0].get("tables", 1)} if row else None

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
            # BM25 term counts from the update's own index (each passage was tokenized once, when added)
            lexical = snap.lexical
            row_of = {pid: i for i, pid in enumerate(lexical.ids)}
            counts = lexical.counts
            lengths = np.asarray(counts.sum(axis=1)).ravel().astype(np.int64)
            with cur.copy(f"COPY {SCHEMA}.passages (passage_id, doc_id, start_char, end_char, text, node, embedding, "
                          "length) FROM STDIN") as copy:
                for node, vector in zip(new_passages, vectors):
                    assert isinstance(node, TextNode)
                    copy.write_row((node.id_, node.ref_doc_id, node.start_char_idx or 0, node.end_char_idx or 0,
                                    node.text, Jsonb(doc_to_json(node)), vector, int(lengths[row_of[node.id_]])))
            seqs = dict(cur.execute(f"SELECT passage_id, seq FROM {SCHEMA}.passages WHERE doc_id = ANY(%s)",
                                    (sorted(new_docs),)).fetchall())
            terms = lexical.terms
            held: Counter[int] = Counter()  # term column -> how many new passages hold it
            with cur.copy(f"COPY {SCHEMA}.postings (term, seq, tf, length) FROM STDIN") as copy:
                for node in new_passages:
                    row = row_of[node.id_]
                    lo, hi = counts.indptr[row], counts.indptr[row + 1]
                    held.update(counts.indices[lo:hi].tolist())
                    for j, tf in zip(counts.indices[lo:hi].tolist(), counts.data[lo:hi].tolist()):
                        copy.write_row((terms[j], seqs[node.id_], int(tf), int(lengths[row])))
            cur.execute(f"INSERT INTO {SCHEMA}.terms (term, df) SELECT * FROM unnest(%s::text[], %s::int[]) "
                        "ON CONFLICT (term) DO UPDATE SET df = terms.df + EXCLUDED.df",
                        ([terms[j] for j in held], list(held.values())))
            with cur.copy(f"COPY {SCHEMA}.sentences (passage_id, spans, vectors, shape) FROM STDIN") as copy:
                for node in new_passages:
                    spans, sentence_vectors = snap.sentence_vectors.of(node.id_) or (np.zeros((0, 2)), np.zeros((0,)))
                    copy.write_row((node.id_, np.ascontiguousarray(spans, dtype=np.int32).tobytes(),
                                    np.ascontiguousarray(sentence_vectors, dtype=np.float16).tobytes(),
                                    list(sentence_vectors.shape)))

    def _bump(self, conn: Any, base: dict, updated_at: str) -> None:
        from psycopg.types.json import Jsonb

        passages, total_length = conn.execute(
            f"SELECT count(*), coalesce(sum(length), 0) FROM {SCHEMA}.passages").fetchone()
        documents = conn.execute(f"SELECT count(*) FROM {SCHEMA}.documents").fetchone()[0]
        conn.execute(
            f"INSERT INTO {SCHEMA}.meta (id, version, manifest, updated_at, tables, passages, documents, total_length) "
            "VALUES (1, 1, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (id) DO UPDATE SET version = meta.version + 1, manifest = EXCLUDED.manifest, "
            "updated_at = EXCLUDED.updated_at, tables = EXCLUDED.tables, passages = EXCLUDED.passages, "
            "documents = EXCLUDED.documents, total_length = EXCLUDED.total_length",
            (Jsonb({k: base[k] for k in MANIFEST_KEYS}), updated_at or dt.datetime.now(dt.timezone.utc).isoformat(),
             TABLES_VERSION, passages, documents, total_length),
        )


def seed_terms(freqs: dict[str, int], k: int) -> set[str]:
    """The rarest terms, until their document frequencies add up to ``k``: their postings give the floor."""
    seed, held = set(), 0
    for term in sorted(freqs, key=lambda t: (freqs[t], t)):
        if held >= k:
            break
        seed.add(term)
        held += freqs[term]
    return seed


def worth_pruning(freqs: dict[str, int], optional: set[str], passing: float = 1.0) -> bool:
    """Whether looking the ``optional`` terms up by key for the candidates (``passing``: the share of the
    other terms' postings expected to pass the floor) reads less than aggregating the optional terms' postings."""
    essential = sum(n for t, n in freqs.items() if t not in optional)
    return bool(optional) and LOOKUP_COST * essential * passing * len(optional) < sum(freqs[t] for t in optional)


class PostgresTables:
    """What a ``ServedSnapshot`` asks of PostgreSQL (``served.Tables``): each a few bound-parameter reads on the
    calling thread's connection, inside the question's ``reading()`` transaction when there is one."""

    def __init__(self, store: PostgresStore, dimension: int, vector_index: str, average_length: float):
        self.store = store
        self.dimension = dimension
        self.vector_index = vector_index
        self.avg_length = average_length

    def __repr__(self) -> str:
        return f"<PostgresTables {self.store.describe()}>"

    def passage_count(self) -> int:
        return int(self.store.query(f"SELECT passages FROM {SCHEMA}.meta")[0][0])

    def document_count(self) -> int:
        return int(self.store.query(f"SELECT documents FROM {SCHEMA}.meta")[0][0])

    def average_length(self) -> float:
        return self.avg_length

    def search(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """pgvector's ``<#>`` (the negative inner product; vectors are normalised, so -cosine). With HNSW the
        planner walks the graph (``hnsw.ef_search`` candidates); ``exact`` orders a subquery the index
        cannot serve, so every vector is compared."""
        from pgvector import Vector

        q = Vector(np.asarray(vector, dtype="float32"))
        rows = self.store.query(self.dense_sql(), {"q": q, "k": int(k)})
        return [(pid, -float(d)) for pid, d in rows]

    def dense_sql(self) -> str:
        if self.vector_index == "hnsw":
            return f"SELECT passage_id, embedding <#> %(q)s AS d FROM {SCHEMA}.passages ORDER BY embedding <#> %(q)s LIMIT %(k)s"
        return (f"SELECT passage_id, d FROM (SELECT passage_id, seq, embedding <#> %(q)s AS d FROM {SCHEMA}.passages "
                "OFFSET 0) x ORDER BY d, seq LIMIT %(k)s")

    def doc_freqs(self, terms: list[str]) -> dict[str, int]:
        return dict(self.store.query(f"SELECT term, df FROM {SCHEMA}.terms WHERE term = ANY(%s)", (list(terms),)))

    def _bm25(self) -> str:
        """BM25 of one postings row ``t`` for a query term ``q`` with its IDF (``lexical.BM25Index.scores``)."""
        return "q.idf * t.tf * (%(k1)s + 1) / (t.tf + %(k1)s * (1 - %(b)s + %(b)s * t.length / %(avg)s))"

    def _params(self, weights: dict[str, float], **more: Any) -> dict[str, Any]:
        return {"terms": list(weights), "idfs": list(weights.values()), "k1": K1, "b": B,
                "avg": self.avg_length or 1.0, **more}

    def lexical_top(self, weights: dict[str, float], k: int) -> list[tuple[str, float]]:
        """The exact BM25 top ``k``, reading only the postings that can matter when that is cheaper (MaxScore,
        Turtle and Flood 1995): a passage's score from one term is below its bound ``idf * (k1 + 1)``, so
        passages holding only common terms whose bounds add up to less than a score ``floor`` the top ``k``
        is known to reach cannot be in it. Those "optional" terms' postings are not aggregated: the
        candidates the other ("essential") terms find look them up by key, which pays when the essential
        terms are rare (``worth_pruning``); a question of common words only aggregates every posting."""
        optional, rest, floor = self.pruning(weights, k)
        params = self._params(weights, k=int(k), essential=[t not in optional for t in weights], rest=rest,
                              floor=floor)
        rows = self.store.query(self._top_sql(pruned=bool(optional)), params)
        return [(pid, float(score)) for pid, score in rows if score > 0]

    def pruning(self, weights: dict[str, float], k: int) -> tuple[set[str], float, float]:
        """What ``lexical_top`` leaves to key lookups: the optional terms (none when that does not pay), the
        sum of their bounds and the floor."""
        freqs = self.doc_freqs(list(weights))
        seed = seed_terms(freqs, k)
        if not worth_pruning(freqs, set(freqs) - seed):  # the most the floor could leave optional
            return set(), 0.0, 0.0
        floor = self.floor(weights, seed, k) * (1 - ROUNDING)
        optional, rest = self.optional_terms(weights, floor)
        # a candidate passes when its essential terms score above floor - rest: every one of them when rest
        # reaches the floor, about none when rest is 0; in between, taken in proportion (an estimate)
        if not optional or not worth_pruning(freqs, optional, rest / floor):
            return set(), 0.0, 0.0
        return optional, rest, floor

    def floor(self, weights: dict[str, float], seed: set[str], k: int) -> float:
        """A score at least ``k`` passages reach: the lowest whole score of the ``k`` best passages by the
        ``seed`` terms alone; 0 when fewer than ``k`` passages hold them."""
        rows = self.store.query(
            "WITH q AS (SELECT * FROM unnest(%(terms)s::text[], %(idfs)s::float8[], %(seed)s::bool[]) "
            "AS q(term, idf, seed)), "
            f"s AS (SELECT t.seq FROM q JOIN {SCHEMA}.postings t ON t.term = q.term WHERE q.seed "
            f"GROUP BY t.seq ORDER BY sum({self._bm25()}) DESC LIMIT %(k)s) "
            f"SELECT (SELECT sum({self._bm25()}) FROM q JOIN {SCHEMA}.postings t ON t.term = q.term AND t.seq = s.seq) "
            "FROM s", self._params(weights, k=int(k), seed=[t in seed for t in weights]))
        return min(float(score) for score, in rows) if len(rows) == k else 0.0

    @staticmethod
    def optional_terms(weights: dict[str, float], floor: float) -> tuple[set[str], float]:
        """MaxScore's non-essential terms (the commonest, while their bounds add up to less than ``floor``)
        and the sum of their bounds."""
        optional, rest = set(), 0.0
        for term, idf in sorted(weights.items(), key=lambda item: (item[1], item[0])):
            bound = idf * (K1 + 1)
            if rest + bound >= floor:
                break
            optional.add(term)
            rest += bound
        return optional, rest

    def _top_sql(self, pruned: bool) -> str:
        """The top ``k`` query: every posting of the essential terms aggregated; with ``pruned``, the
        candidates that can still reach ``floor`` add the optional terms' scores by key lookups."""
        scored = (f"SELECT e.seq, e.score + coalesce((SELECT sum({self._bm25()}) FROM q JOIN {SCHEMA}.postings t "
                  "ON t.term = q.term AND t.seq = e.seq WHERE NOT q.essential), 0) AS score FROM e "
                  "WHERE e.score + %(rest)s >= %(floor)s" if pruned else "SELECT e.seq, e.score FROM e")
        return ("WITH q AS (SELECT * FROM unnest(%(terms)s::text[], %(idfs)s::float8[], %(essential)s::bool[]) "
                "AS q(term, idf, essential)), "
                f"e AS (SELECT t.seq, sum({self._bm25()}) AS score FROM q JOIN {SCHEMA}.postings t ON t.term = q.term "
                "WHERE q.essential GROUP BY t.seq), "
                f"s AS (SELECT * FROM ({scored}) x ORDER BY x.score::real DESC, x.seq LIMIT %(k)s) "
                f"SELECT p.passage_id, s.score FROM s JOIN {SCHEMA}.passages p ON p.seq = s.seq "
                "ORDER BY s.score::real DESC, s.seq")

    def lexical_of(self, weights: dict[str, float], passage_ids: list[str]) -> dict[str, float]:
        sql = (f"SELECT p.passage_id, sum({self._bm25()}) FROM {SCHEMA}.passages p "
               "CROSS JOIN unnest(%(terms)s::text[], %(idfs)s::float8[]) AS q(term, idf) "
               f"JOIN {SCHEMA}.postings t ON t.term = q.term AND t.seq = p.seq "
               "WHERE p.passage_id = ANY(%(ids)s) GROUP BY p.passage_id")
        rows = self.store.query(sql, self._params(weights, ids=list(passage_ids)))
        return {pid: float(score) for pid, score in rows}

    def passage_rows(self, passage_ids: list[str]) -> list[PassageRow]:
        rows = self.store.query(
            f"SELECT p.passage_id, p.doc_id, p.start_char, p.end_char, p.text, p.embedding, s.spans, s.vectors, s.shape "
            f"FROM {SCHEMA}.passages p JOIN {SCHEMA}.sentences s USING (passage_id) WHERE p.passage_id = ANY(%s)",
            (list(passage_ids),), binary=True)
        out = []
        for pid, doc_id, start, end, text, vector, spans, vectors, shape in rows:
            vector = vector.to_numpy() if hasattr(vector, "to_numpy") else vector  # pgvector's binary Vector
            out.append(PassageRow(Passage(pid, doc_id, start, end, text), np.asarray(vector, dtype="float32"),
                                  np.frombuffer(spans, dtype=np.int32).reshape(-1, 2),
                                  np.frombuffer(vectors, dtype=np.float16).reshape(shape)))
        return out

    def documents(self, doc_ids: list[str]) -> dict[str, Document]:
        rows = self.store.query(f"SELECT doc_id, node FROM {SCHEMA}.documents WHERE doc_id = ANY(%s)", (list(doc_ids),))
        return {doc_id: json_to_doc(node) for doc_id, node in rows}

    def passages_of(self, doc_id: str) -> list[Passage]:
        rows = self.store.query(f"SELECT passage_id, doc_id, start_char, end_char, text FROM {SCHEMA}.passages "
                                "WHERE doc_id = %s ORDER BY start_char", (doc_id,))
        return [Passage(*row) for row in rows]

    def _stream(self, sql: str) -> Iterator[tuple]:
        """Rows of a read over the whole collection, a few thousand at a time (a server-side cursor on a
        connection of its own, so the memory it takes does not grow with the corpus)."""
        import psycopg

        conn = self.store.connect_reader()
        try:
            with conn.transaction(), conn.cursor(name="assistant_stream") as cursor:
                cursor.itersize = STREAM_ROWS
                cursor.execute(sql)
                yield from cursor
        except psycopg.OperationalError:
            raise self.store.unreachable() from None
        finally:
            conn.close()

    def iter_passages(self) -> Iterator[Passage]:
        for row in self._stream(f"SELECT passage_id, doc_id, start_char, end_char, text FROM {SCHEMA}.passages "
                                "ORDER BY seq"):
            yield Passage(*row)

    def document_entries(self) -> Iterator[tuple[str, dict]]:
        for doc_id, entry in self._stream(f"SELECT doc_id, entry FROM {SCHEMA}.documents ORDER BY doc_id"):
            yield doc_id, entry
