"""The store seam: what retrieval, answering and indexing ask of wherever the index lives.

A store keeps documents (with hashes and metadata), passages with offsets, passage and sentence vectors,
BM25 term statistics and the manifest, and hands them out as one snapshot: the folder store loads a
``snapshot.Snapshot`` into memory; a database hands out a ``served.ServedSnapshot``, which answers the same
questions (search, lookups) by asking the database, so an app process does not hold the corpus.
Implementations: ``folder.IndexStore`` (the local folder, the default), ``postgres.PostgresStore``
(PostgreSQL with pgvector) and ``milvus.MilvusStore`` (Milvus), the last two shared by many app processes
and index workers. ``stores.open_store(settings)`` picks one.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

from llama_index.core import Document
from llama_index.core.base.embeddings.base import BaseEmbedding

from ..progress import Progress
from .served import ServedSnapshot
from .snapshot import Snapshot, UpdateReport


@runtime_checkable
class Store(Protocol):
    """Where one collection's index lives."""

    #: True when other processes may change the index while this one serves it (a database): the
    #: assistant then checks ``version()`` before each question and reloads when it changed.
    shared: bool

    def describe(self) -> str:
        """Where the index is, for messages (never with a password)."""

    def exists(self) -> bool:
        """An index has been committed here."""

    def load(self) -> Snapshot | ServedSnapshot:
        """The committed index; ``IndexMissingError``, ``IndexMismatchError`` (another format) or
        ``IndexCorruptError`` when there is none to serve."""

    def version(self) -> str:
        """Changes with every committed update ('' without an index); cheap enough to ask per question."""

    def reading(self) -> AbstractContextManager:
        """A context in which the store's reads see one committed state (a database transaction; a
        folder's snapshot never changes, so nothing there). Retrieval runs in one."""

    def update(self, documents: list[Document], embedder: BaseEmbedding, manifest_base: dict,
               rebuild: bool = False, show_progress: bool = False,
               progress: Progress | None = None) -> tuple[Snapshot | ServedSnapshot, UpdateReport]:
        """Bring the index in line with ``documents`` in one atomic step; the new snapshot and what changed.
        ``progress`` hears of each phase (default: bars on stderr with ``show_progress``)."""
