"""The index on disk: FAISS vectors, docstores and a manifest, written atomically, updated incrementally.

Layout of the index folder::

    index/CURRENT                    name of the live snapshot (replaced atomically)
    index/snapshots/<name>/          one complete index: StorageContext files (passages docstore,
                                     FAISS vectors + id map), documents.json, manifest.json,
                                     bm25.npz/.json (term counts), sentences.npz (sentence vectors),
                                     hnsw.faiss (only with vector_index = "hnsw")
    index/.lock                      held while an update runs
    index/embedding-cache/           embeddings an update has finished, until its snapshot is live: a
                                     killed update resumes from them

An update builds a new snapshot next to the live one and then replaces ``CURRENT``; a process killed
at any point leaves the previous snapshot live and loadable. Unchanged documents (same content hash)
keep their passages and vectors: only added and changed documents are split and embedded.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from llama_index.core import Document, StorageContext
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.storage.docstore import SimpleDocumentStore

from ..embeddings import EmbeddingCache
from ..errors import IndexBusyError, IndexCorruptError, IndexMismatchError, IndexMissingError
from ..lexical import BM25Index
from ..progress import WRITING, Progress, TerminalProgress, no_progress
from .snapshot import (CACHE_DIR, HNSW_EF_SEARCH, PassageVectorStore, SentenceVectors, Snapshot, UpdateReport,
                       apply_documents, check_format, mismatch)

log = logging.getLogger("assistant.store")  # the shells show its warnings (process.quiet_libraries)

DOCUMENTS_FILE = "documents.json"
MANIFEST_FILE = "manifest.json"
HNSW_FILE = "hnsw.faiss"


class IndexStore:
    """The index folder. ``load()`` reads the live snapshot; ``update()`` writes a new one.

    One process serves it (``shared`` is False): an ``Assistant`` sees a new snapshot after ``refresh()``.
    """

    shared = False

    def __init__(self, index_dir: str | Path):
        self.root = Path(index_dir)

    def __repr__(self) -> str:
        return f"<IndexStore {self.root}>"

    def describe(self) -> str:
        return str(self.root)

    def version(self) -> str:
        """The live snapshot's name ('' without an index): a new one with every update that changed something."""
        try:
            return self._current_file.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return ""

    def reading(self) -> contextlib.nullcontext:
        """Nothing to hold: a loaded snapshot never changes."""
        return contextlib.nullcontext()

    @property
    def _current_file(self) -> Path:
        return self.root / "CURRENT"

    def exists(self) -> bool:
        return self._current_file.is_file()

    def load(self) -> Snapshot:
        if not self.exists():
            raise IndexMissingError(f"no index in {self.root}; run `assistant index` to build it")
        name = self._current_file.read_text(encoding="utf-8").strip()
        path = self.root / "snapshots" / name
        try:
            manifest = json.loads((path / MANIFEST_FILE).read_text(encoding="utf-8"))
            check_format(str(self.root), manifest)
            documents = SimpleDocumentStore.from_persist_path(str(path / DOCUMENTS_FILE))
            storage = StorageContext.from_defaults(
                persist_dir=str(path), vector_store=PassageVectorStore.from_persist_dir(str(path))
            )
            lexical = BM25Index.load(path)
            sentence_vectors = SentenceVectors.load(path)
            approximate = None
            if manifest.get("vector_index") == "hnsw":
                import faiss

                approximate = faiss.read_index(str(path / HNSW_FILE))
                faiss.downcast_index(approximate.index).hnsw.efSearch = HNSW_EF_SEARCH
        except IndexMismatchError:
            raise
        except Exception as exc:  # any unreadable piece means the snapshot is unusable
            raise IndexCorruptError(
                f"index in {self.root} is unreadable ({exc.__class__.__name__}); "
                "run `assistant index --rebuild` to rebuild it from the documents"
            ) from None
        snapshot = Snapshot(manifest, documents, storage, path, lexical, sentence_vectors, approximate)
        snapshot.version = name
        sizes = {snapshot.vectors.size, len(snapshot.lexical), len(snapshot.sentence_vectors),
                 snapshot.approximate.ntotal if approximate is not None else len(snapshot.passages)}
        if sizes != {len(snapshot.passages)}:
            raise IndexCorruptError(
                f"index in {self.root} is inconsistent ({snapshot.vectors.size} vectors, {len(snapshot.lexical)} "
                f"BM25 rows, {len(snapshot.sentence_vectors)} sentence groups for {len(snapshot.passages)} "
                "passages); run `assistant index --rebuild`"
            )
        return snapshot

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise IndexBusyError(
                    f"another process is updating the index in {self.root}; wait for it to finish and retry"
                ) from None
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def update(
        self,
        documents: list[Document],
        embedder: BaseEmbedding,
        manifest_base: dict,
        rebuild: bool = False,
        show_progress: bool = False,
        progress: Progress | None = None,
    ) -> tuple[Snapshot, UpdateReport]:
        """Bring the index in line with ``documents``; returns the new live snapshot and what changed.

        ``manifest_base`` (from ``new_manifest``) names the model and chunking the index must use;
        an index built otherwise, or unreadable, is rebuilt from scratch. ``progress`` hears of the
        passages embedded and the index written (default: bars on stderr with ``show_progress``).
        """
        if progress is None:
            progress = TerminalProgress() if show_progress else no_progress
        report = UpdateReport()
        with self._locked():
            self._remove_stale_snapshots()
            old = None
            if not rebuild and self.exists():
                try:
                    old = self.load()
                except (IndexCorruptError, IndexMismatchError) as exc:
                    report.rebuilt = f"previous index unusable: {exc}"
                if old is not None:
                    report.rebuilt = mismatch(old.manifest, manifest_base)
                    if report.rebuilt:
                        old = None
            elif rebuild:
                report.rebuilt = "asked for"
            if report.rebuilt and report.rebuilt != "asked for":  # said before the long part, not after
                log.warning("rebuilding the index in %s from the documents: %s", self.root, report.rebuilt)
            snapshot = old or Snapshot.empty(json.loads(json.dumps(manifest_base)), manifest_base["dimension"])
            index_kind_changed = old is not None and old.manifest.get("vector_index") != manifest_base["vector_index"]
            self._apply(snapshot, documents, embedder, manifest_base, report, progress)
            if not report.touched and not index_kind_changed and old is not None:
                EmbeddingCache(self.root / CACHE_DIR, "").clear()
                return old, report  # nothing to write: the live snapshot already matches
            self._update_approximate(snapshot, old, report, index_kind_changed)
            if snapshot.vectors.size != len(snapshot.passages):
                raise RuntimeError(f"{snapshot.vectors.size} vectors for {len(snapshot.passages)} passages")
            name = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
            path = self._write(snapshot, name, progress)
            self._publish(name)
            self._remove_stale_snapshots()
            EmbeddingCache(self.root / CACHE_DIR, "").clear()  # the live snapshot holds them now
            snapshot.path = path
        return self.load(), report

    @staticmethod
    def _update_approximate(snap: Snapshot, old: Snapshot | None, report: UpdateReport, kind_changed: bool) -> None:
        """Keep the HNSW graph in step: new vectors are added to it; a delete (HNSW cannot remove) or a
        switch of index kind rebuilds it from the exact vectors."""
        if snap.manifest.get("vector_index") != "hnsw":
            snap.approximate = None
            return
        if old is None or kind_changed or old.approximate is None or report.changed or report.deleted:
            snap.approximate = snap.vectors.hnsw()
            return
        graph = snap.approximate
        have = set(faiss_ids(graph))
        ids, vectors = snap.vectors.all_vectors()
        new = np.array([i not in have for i in ids.tolist()], dtype=bool)
        if new.any():
            graph.add_with_ids(vectors[new], ids[new])

    def _apply(self, snap: Snapshot, documents: list[Document], embedder: BaseEmbedding,
               manifest_base: dict, report: UpdateReport, progress: Progress) -> None:
        apply_documents(snap, documents, embedder, manifest_base, report, progress, self.root / CACHE_DIR)

    def _write(self, snap: Snapshot, name: str, progress: Progress = no_progress) -> Path:
        snapshots = self.root / "snapshots"
        tmp = snapshots / f".tmp-{name}"
        tmp.mkdir(parents=True)

        def approximate(folder: Path) -> None:
            if snap.approximate is not None:
                import faiss

                faiss.write_index(snap.approximate, str(folder / HNSW_FILE))

        steps = [lambda t: snap.storage.persist(persist_dir=str(t)),
                 lambda t: snap.document_store.persist(str(t / DOCUMENTS_FILE)),
                 snap.lexical.save, snap.sentence_vectors.save, approximate,
                 lambda t: (t / MANIFEST_FILE).write_text(json.dumps(snap.manifest, indent=1, sort_keys=True),
                                                          encoding="utf-8"),
                 lambda t: [_fsync(child) for child in t.iterdir()]]
        progress(WRITING, 0, len(steps))
        for done, step in enumerate(steps, 1):
            step(tmp)
            progress(WRITING, done, len(steps))
        final = snapshots / name
        os.rename(tmp, final)
        _fsync(snapshots)
        return final

    def _publish(self, name: str) -> None:
        tmp = self.root / f".CURRENT.{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(name + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self._current_file)
        _fsync(self.root)

    def _remove_stale_snapshots(self) -> None:
        """Delete snapshots that are not live: leftovers of killed or superseded updates."""
        snapshots = self.root / "snapshots"
        if not snapshots.is_dir():
            return
        live = self._current_file.read_text(encoding="utf-8").strip() if self.exists() else None
        for child in snapshots.iterdir():
            if child.name != live:
                shutil.rmtree(child, ignore_errors=True)
        for tmp in self.root.glob(".CURRENT.*"):
            tmp.unlink(missing_ok=True)


def faiss_ids(index: Any) -> np.ndarray:
    import faiss

    return faiss.vector_to_array(index.id_map).astype(np.int64)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
