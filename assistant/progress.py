"""Progress of an index update, phase by phase: files read, passages embedded, index written.

An update reports ``progress(phase, done, total)`` as it goes (``Progress``); the CLI draws a bar per phase
on stderr with the rate and the time left (``TerminalProgress``), the browser app shows the same phases in
its upload status (``assistant/ui``), and a library caller may pass any function of that shape. Neither
shows a phase with nothing to do, and the terminal shows only a phase that lasts long enough to wait for.
"""

from __future__ import annotations

import functools
import sys
from typing import Any, Protocol

from .wording import agreeing, amount

READING = "Reading files"
SPLITTING = "Splitting documents"
EMBEDDING = "Embedding passages"
WRITING = "Writing index"
UNITS = {READING: "file", SPLITTING: "character", EMBEDDING: "passage", WRITING: "step"}
# A phase over sooner than this draws no bar: an update with nothing new reads a small folder's files in
# milliseconds and does nothing else, and every `assistant ask` made one ("Reading files ... 3/3") before
# its answer. Work one waits for (a large folder, passages to embed) shows within a second.
SHOW_AFTER_S = 1.0
BAR = "{desc}: {percentage:3.0f}%|{bar}| {done}/{whole} {units} [{elapsed}<{remaining}, {speed} {per}/s]"


class Progress(Protocol):
    def __call__(self, phase: str, done: int, total: int) -> None:
        """``done`` of ``total`` items of ``phase`` are finished (called with 0 when a phase starts)."""


def no_progress(phase: str, done: int, total: int) -> None:
    """Reports nothing."""


class TerminalProgress:
    """One tqdm bar per phase on stderr: done/total, time spent and left, rate ("12/40 files [00:03<00:07,
    4.1 files/s]"), for a phase with work to do that lasts ``show_after`` seconds or more."""

    def __init__(self, stream: Any = None, show_after: float | None = None):
        self.stream = stream or sys.stderr
        self.show_after = SHOW_AFTER_S if show_after is None else show_after
        self.bars: dict[str, Any] = {}

    def __call__(self, phase: str, done: int, total: int) -> None:
        if total <= 0:
            return  # nothing to do in this phase (a bar read "Splitting documents: 0.00char")
        bar = self.bars.get(phase)
        if bar is None:
            for other in self.bars.values():  # a new phase: the earlier ones are over
                other.close()
            bar = self.bars[phase] = _bar_class()(
                total=total, initial=done, desc=phase, unit=UNITS.get(phase, "item"), file=self.stream,
                dynamic_ncols=True, delay=self.show_after, bar_format=BAR)
        if bar.total != total:
            bar.total = total
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


@functools.cache
def _bar_class() -> type:
    """tqdm's bar with the counts and the rate as ``amount`` writes them ("2.4k", not "2.41k" or "0.00")."""
    from tqdm.auto import tqdm

    class Bar(tqdm):
        @property
        def format_dict(self) -> dict[str, Any]:
            values = super().format_dict
            n, elapsed = values["n"], values["elapsed"]
            rate = values["rate"] or ((n - values["initial"]) / elapsed if elapsed else None)
            total = values["total"] or 0
            values.update(done=amount(n), whole=amount(total), units=agreeing(total, self.unit),
                          speed="?" if rate is None else amount(rate), per=agreeing(rate or 0, self.unit))
            return values

    return Bar


class ProgressLines:
    """Each report as one line of text with the rate and the time left, for shells that draw their own
    progress (the browser app): "Embedding passages: 120/400 passages, 35 passages/s, about 8 s left"."""

    def __init__(self, show: Any, clock: Any = None):
        import time

        self.show = show  # called with (line, done, total, unit)
        self.clock = clock or time.monotonic
        self.started: dict[str, tuple[float, int]] = {}

    def __call__(self, phase: str, done: int, total: int) -> None:
        if total <= 0:
            return  # nothing to do in this phase
        now = self.clock()
        if done == 0 or phase not in self.started:  # a phase (re)starts: the documents, then the uploads
            self.started[phase] = (now, done)
        started, first = self.started[phase]
        unit = agreeing(total, UNITS.get(phase, "item"))
        line = f"{phase}: {amount(done)}/{amount(total)} {unit}"
        if done > first and now > started:
            rate = (done - first) / (now - started)
            left = "done" if done >= total else f"about {(total - done) / rate:.0f} s left"
            line += f", {amount(rate)} {agreeing(rate, UNITS.get(phase, 'item'))}/s, {left}"
        self.show(line, done, total, unit)
