"""Progress of an index update, phase by phase: files read, passages embedded, index written.

An update reports ``progress(phase, done, total)`` as it goes (``Progress``); the CLI draws a bar per phase
on stderr with the rate and the time left (``TerminalProgress``), the browser app shows the same phases in
its upload status (``assistant/ui``), and a library caller may pass any function of that shape.
"""

from __future__ import annotations

import sys
from typing import Any, Protocol

READING = "Reading files"
SPLITTING = "Splitting documents"
EMBEDDING = "Embedding passages"
WRITING = "Writing index"
UNITS = {READING: "file", SPLITTING: "char", EMBEDDING: "passage", WRITING: "step"}


class Progress(Protocol):
    def __call__(self, phase: str, done: int, total: int) -> None:
        """``done`` of ``total`` items of ``phase`` are finished (called with 0 when a phase starts)."""


def no_progress(phase: str, done: int, total: int) -> None:
    """Reports nothing."""


class TerminalProgress:
    """One tqdm bar per phase on stderr: done/total, rate and time left ("12/40 [00:03<00:07, 4.1 file/s]")."""

    def __init__(self, stream: Any = None):
        self.stream = stream or sys.stderr
        self.bars: dict[str, Any] = {}

    def __call__(self, phase: str, done: int, total: int) -> None:
        from tqdm.auto import tqdm

        bar = self.bars.get(phase)
        if bar is None:
            for other in self.bars.values():  # a new phase: the earlier ones are over
                other.close()
            unit = UNITS.get(phase, "item")
            bar = self.bars[phase] = tqdm(total=total, initial=done, desc=phase, unit=unit, file=self.stream,
                                          dynamic_ncols=True, unit_scale=unit == "char")
        if bar.total != total:
            bar.total = total
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


class ProgressLines:
    """Each report as one line of text with the rate and the time left, for shells that draw their own
    progress (the browser app): "Embedding passages: 120/400, 35.2 passage/s, about 8 s left"."""

    def __init__(self, show: Any, clock: Any = None):
        import time

        self.show = show  # called with (line, done, total, unit)
        self.clock = clock or time.monotonic
        self.started: dict[str, tuple[float, int]] = {}

    def __call__(self, phase: str, done: int, total: int) -> None:
        now = self.clock()
        if done == 0 or phase not in self.started:  # a phase (re)starts: the documents, then the uploads
            self.started[phase] = (now, done)
        started, first = self.started[phase]
        unit = UNITS.get(phase, "item")
        line = f"{phase}: {done}/{total}"
        if done > first and now > started:
            rate = (done - first) / (now - started)
            left = "done" if done >= total else f"about {(total - done) / rate:.0f} s left"
            line += f", {rate:.1f} {unit}/s, {left}"
        self.show(line, done, total, unit)
