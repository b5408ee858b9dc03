"""A document Q&A assistant that answers from your documents and cites the exact passage.

The public API: ``Assistant``, ``Chat``, ``Answer``, ``Citation``, ``Settings`` and the errors.
"""

from .citations import Answer, Citation
from .config import Settings
from .core import Assistant, Chat, DocumentInfo
from .errors import AssistantError

__all__ = ["Answer", "Assistant", "AssistantError", "Chat", "Citation", "DocumentInfo", "Settings"]
