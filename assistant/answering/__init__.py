"""Answerers turn a question and retrieved passages into a cited ``Answer``.

One small interface, one module per answerer. ``extractive`` (the default) quotes the sentences that
answer the question and needs no LLM and no network.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ..citations import Answer
from ..documents import Passage


class Answerer(Protocol):
    mode: str

    def answer(self, question: str, query: str, context: list[str], passages: list[Passage],
               query_vector: np.ndarray) -> Answer:
        """Answer ``question`` (stand-alone form ``query``; earlier user turns in ``context``)."""
        ...


__all__ = ["Answerer"]
