"""Progress on stderr and in the browser: only for work to wait for, in words people read."""

from __future__ import annotations

import io

import pytest

from assistant.progress import EMBEDDING, READING, SPLITTING, ProgressLines, TerminalProgress
from assistant.wording import agreeing, amount, counted


def draw(progress: TerminalProgress, phase: str, total: int) -> None:
    for done in range(total + 1):
        progress(phase, done, total)


def test_a_phase_with_nothing_to_do_draws_nothing():
    """A no-op update split no character, yet a bar read "Splitting documents: 0.00char"."""
    stream = io.StringIO()
    draw(TerminalProgress(stream, show_after=0), SPLITTING, 0)
    lines = []
    draw(ProgressLines(lambda *a: lines.append(a)), SPLITTING, 0)
    assert (stream.getvalue(), lines) == ("", [])


def test_a_phase_over_at_once_draws_nothing_and_a_long_one_its_bar():
    stream = io.StringIO()
    draw(TerminalProgress(stream), READING, 3)  # three files read in microseconds: nothing to wait for
    assert stream.getvalue() == ""
    draw(TerminalProgress(stream, show_after=0), SPLITTING, 2410)
    final = stream.getvalue().replace("\r", "\n").splitlines()[-1]
    assert final.startswith("Splitting documents: 100%|") and "| 2.4k/2.4k characters [" in final
    assert final.endswith(" characters/s]") and "char/s" not in final and "0.00" not in final


def test_progress_lines_say_their_units_as_words():
    lines = []
    ticks = iter(range(0, 100, 2))
    report = ProgressLines(lambda line, *rest: lines.append(line), clock=lambda: next(ticks))
    for done in range(2):
        report(EMBEDDING, done, 1)
    for done in (0, 1200, 2410):
        report(SPLITTING, done, 2410)
    assert lines == ["Embedding passages: 0/1 passage", "Embedding passages: 1/1 passage, 0.5 passages/s, done",
                     "Splitting documents: 0/2.4k characters",
                     "Splitting documents: 1.2k/2.4k characters, 600 characters/s, about 2 s left",
                     "Splitting documents: 2.4k/2.4k characters, 602 characters/s, done"]


@pytest.mark.parametrize("n,text", [(0, "0"), (7, "7"), (0.5, "0.5"), (282, "282"), (999, "999"), (2410, "2.4k"),
                                    (9960, "10k"), (438_000, "438k"), (5_242_880, "5.2M"), (12.4, "12")])
def test_amount(n, text):
    assert amount(n) == text


def test_counted_says_one_in_the_singular():
    assert [counted(n, "document") for n in (0, 1, 2, 1204)] == ["0 documents", "1 document", "2 documents",
                                                                  "1,204 documents"]
    assert counted(1, "case", "cases") == "1 case" and counted(3, "entry", "entries") == "3 entries"
    assert (agreeing(1, "passage"), agreeing(1.5, "passage")) == ("passage", "passages")
