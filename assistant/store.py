"""The names the index has always been imported by (``from assistant.store import IndexStore``).

The store seam and its implementations live in ``assistant/stores/``: ``base.Store`` (the protocol),
``snapshot`` (the in-memory index the folder store hands out), ``served`` (what a database hands out:
search and lookups inside it), ``folder`` (the local folder with FAISS, the default), ``postgres``
(PostgreSQL with pgvector) and ``milvus`` (Milvus).
"""

from .stores import open_store
from .stores.base import Store
from .stores.folder import DOCUMENTS_FILE, HNSW_FILE, MANIFEST_FILE, IndexStore, faiss_ids
from .stores.snapshot import (CACHE_DIR, FORMAT_VERSION, GROUP_BATCHES, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH,
                              HNSW_NEIGHBOURS, SENTENCES_FILE, VECTOR_INDEXES, EmbedPassages, PassageVectorStore,
                              SentenceVectors, Snapshot, UpdateReport, apply_documents, mismatch, new_manifest)

__all__ = [
    "CACHE_DIR", "DOCUMENTS_FILE", "FORMAT_VERSION", "GROUP_BATCHES", "HNSW_EF_CONSTRUCTION", "HNSW_EF_SEARCH",
    "HNSW_FILE", "HNSW_NEIGHBOURS", "MANIFEST_FILE", "SENTENCES_FILE", "VECTOR_INDEXES", "EmbedPassages",
    "IndexStore", "PassageVectorStore", "SentenceVectors", "Snapshot", "Store", "UpdateReport",
    "apply_documents", "faiss_ids", "mismatch", "new_manifest", "open_store",
]
