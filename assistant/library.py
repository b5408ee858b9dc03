"""The collections a server answers from, each ``Assistant`` loaded once and shared by every request.

``Library`` is what the HTTP API, the MCP server and the browser app hold when they serve several
collections (``[collections.NAME]`` in ``assistant.toml``, see ``config.collections``). The default
collection is loaded first; the others on first use or in the background (``load_all``), and a request
for one that is still loading gets ``CollectionLoadingError`` (the API's 503) instead of waiting.
Collections with the same embedding model share one loaded model.

>>> library = Library.from_config()                                      # doctest: +SKIP
>>> library.get("seeds").ask("How many AK-203 rifles will India buy?")    # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from .config import Collection, collections
from .core import Assistant
from .errors import AssistantError, CollectionLoadingError, UnknownCollectionError

log = logging.getLogger(__name__)


class Library:
    """Named collections, each an ``Assistant`` loaded on first use (thread-safe)."""

    def __init__(self, found: dict[str, Collection], *, embedder: Any = None, llm: Any = None):
        if not found:
            raise UnknownCollectionError("no collection is configured; add a [collections.NAME] table")
        self.collections = dict(found)
        self._embedders: dict[tuple[str, int], Any] = {}
        if embedder is not None:
            for c in found.values():
                self._embedders[(c.settings.embed_model, c.settings.embed_batch_size)] = embedder
        self._llm = llm
        self._bots: dict[str, Assistant] = {}
        self._errors: dict[str, AssistantError] = {}
        self._loading: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config_file: str | Path | None = None, *, embedder: Any = None, llm: Any = None,
                    **overrides: Any) -> "Library":
        return cls(collections(config_file, **overrides), embedder=embedder, llm=llm)

    @property
    def names(self) -> list[str]:
        """Every collection's name, the default first."""
        return list(self.collections)

    @property
    def default(self) -> str:
        return self.names[0]

    def get(self, name: str | None = None, wait: bool = True) -> Assistant:
        """The collection's assistant, loading (and indexing) it now if it is not loaded yet.

        With ``wait=False`` a collection another thread is still loading raises ``CollectionLoadingError``.
        A collection that failed to load raises its error again (one line: what to fix).
        """
        name = name or self.default
        if name not in self.collections:
            raise UnknownCollectionError(f"no collection named {name!r}")
        with self._lock:
            bot = self._bots.get(name)
            if bot is not None:
                return bot
            if name in self._errors:
                raise self._errors[name]
            event = self._loading.get(name)
            mine = event is None
            if mine:
                event = self._loading[name] = threading.Event()
        if not mine:
            if not wait:
                raise CollectionLoadingError(f"collection {name} is being indexed; ask again in a moment")
            event.wait()
            return self.get(name, wait)
        try:
            bot = self._load(name)
        except AssistantError as exc:
            with self._lock:
                self._errors[name] = exc
            raise
        finally:
            with self._lock:
                self._loading.pop(name, None)
            event.set()
        return bot

    def loading(self, name: str) -> bool:
        """Whether another thread is loading (indexing) the collection now."""
        return name in self._loading

    def load_all(self, background: bool = True) -> threading.Thread | None:
        """Load every collection not loaded yet, in a daemon thread unless ``background`` is False."""
        def run() -> None:
            for name in self.names:
                try:
                    self.get(name)
                except AssistantError as exc:
                    log.warning("collection %s: %s", name, exc)

        if not background:
            run()
            return None
        thread = threading.Thread(target=run, name="load-collections", daemon=True)
        thread.start()
        return thread

    def _load(self, name: str) -> Assistant:
        settings = self.collections[name].settings
        key = (settings.embed_model, settings.embed_batch_size)
        bot = Assistant.from_folder(settings=settings, embedder=self._embedders.get(key), llm=self._llm)
        bot.collection = name
        with self._lock:
            self._embedders.setdefault(key, bot.embedder)
            self._bots[name] = bot
        return bot
