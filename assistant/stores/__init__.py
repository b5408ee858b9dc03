"""Where an index lives: the store seam (``base.Store``) and its implementations, chosen by ``open_store``.

>>> open_store(Settings()).describe()                       # doctest: +SKIP
'index'
>>> open_store(Settings(store="postgresql://ann@db/docs"))  # doctest: +SKIP
<PostgresStore postgresql://ann@db/docs>
>>> open_store(Settings(store="http://milvus.internal:19530"))  # doctest: +SKIP
<MilvusStore http://milvus.internal:19530>
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..config import Settings, is_milvus
from .base import Store
from .folder import IndexStore
from .snapshot import CACHE_DIR

__all__ = ["Store", "open_store", "source_name"]


def source_name(settings: Settings) -> str:
    """The name a documents folder's documents carry in a shared store: its absolute path, so two index
    workers on two folders add to one store without removing each other's documents."""
    return str(Path(settings.docs_dir).expanduser().resolve())


def source_cache(settings: Settings) -> Path:
    """Where an update of a shared store keeps its finished embeddings until they are committed: a folder
    per source, because a worker clears its cache when it commits and must not delete the batches another
    source's worker is still writing (``embeddings.EmbeddingCache``)."""
    key = hashlib.sha256(source_name(settings).encode("utf-8")).hexdigest()[:16]
    return Path(settings.index_dir) / CACHE_DIR / key


def open_store(settings: Settings) -> Store:
    """The store the settings name: the local folder ``index_dir`` unless ``store`` is a database URI."""
    if not settings.store:
        return IndexStore(settings.index_dir)
    if is_milvus(settings.store):
        from .milvus import MilvusStore  # pymilvus is an optional dependency (the "milvus" extra)

        return MilvusStore(settings.store, source=source_name(settings),
                           cache_dir=source_cache(settings))
    from .postgres import PostgresStore  # psycopg is an optional dependency (the "postgres" extra)

    return PostgresStore(settings.store, source=source_name(settings),
                         cache_dir=source_cache(settings))
