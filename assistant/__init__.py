"""A document Q&A assistant that answers from your documents and cites the exact passage.

The public API: ``Assistant``, ``Chat``, ``Answer``, ``Citation``, ``DocumentInfo``, ``PageView``, ``Settings``
and ``AssistantError``. Each is imported on first use, so ``assistant --help`` needs none of the models.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .citations import Answer, Citation
    from .config import Settings
    from .core import Assistant, Chat, DocumentInfo
    from .errors import AssistantError
    from .pages import PageView

_HOMES = {"Answer": "citations", "Citation": "citations", "Settings": "config", "Assistant": "core", "Chat": "core",
          "DocumentInfo": "core", "AssistantError": "errors", "PageView": "pages"}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'assistant' has no attribute {name!r}")
    value = getattr(import_module(f".{_HOMES[name]}", __name__), name)
    globals()[name] = value
    return value
