"""What every reader returns (``Reading``), how it builds text with locations (``TextBuilder``), and the
one function that maps a character span to where it sits in its source (``location_of``).

A location is a small dict: ``{"page": 12}``, ``{"slide": 3}``, ``{"sheet": "Sales", "row": 4}``,
``{"chapter": 2, "section": "The Voyage"}``, ``{"part": "body"}``, ``{"section": "Results"}``; ``{}`` for
plain text. A reader records where each section starts in the text it builds, as ``(offset, location)``
pairs in document order; a span's location is the one its first character falls in, and when its last
character falls in a later section whose location differs only in a number, the span gets a range
(``{"page": 3, "page_end": 4}``, ``{"sheet": "Sales", "row": 4, "row_end": 9}``).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from ..errors import DocumentError

Location = dict[str, Any]


@dataclass
class Limits:
    """How much a file may unpack to (zip members, e-mail attachments), and how deep containers nest."""

    max_unpacked_bytes: int
    depth: int = 0  # 0 for a file in the folder, 1 for an attachment of it, ...


@dataclass
class Reading:
    """One file's text, its metadata from the format, where each section starts, and what it carries."""

    text: str
    meta: dict[str, Any] = field(default_factory=dict)
    locations: list[tuple[int, Location]] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # one line each: read with a caveat
    attachments: list[tuple[str, bytes]] = field(default_factory=list)  # (file name, content): e-mail attachments


class TextBuilder:
    """Joins blocks of text with blank lines, recording where each block's location starts.

    >>> b = TextBuilder()
    >>> b.add("Page one.", {"page": 1}); b.add("Page two.", {"page": 2})
    >>> b.text, b.locations
    ('Page one.\\n\\nPage two.', [(0, {'page': 1}), (11, {'page': 2})])
    """

    def __init__(self, separator: str = "\n\n"):
        self.separator = separator
        self.parts: list[str] = []
        self.length = 0
        self.locations: list[tuple[int, Location]] = []

    def add(self, block: str, location: Location | None = None, separator: str | None = None) -> None:
        """Append ``block`` (skipped when blank); ``location`` holds from its first character on.

        ``separator`` (default: the builder's) goes before the block: "\n" keeps rows of a table together.
        """
        block = block.strip()
        if not block:
            return
        if self.parts:
            gap = self.separator if separator is None else separator
            self.parts.append(gap)
            self.length += len(gap)
        if location is not None and (not self.locations or self.locations[-1][1] != location):
            self.locations.append((self.length, dict(location)))
        self.parts.append(block)
        self.length += len(block)

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def reading(self, meta: dict[str, Any] | None = None, notices: list[str] | None = None) -> Reading:
        return Reading(self.text, {} if meta is None else meta, self.locations, [] if notices is None else notices)


def unreadable(kind: str, problem: str, advice: str, exc: BaseException) -> DocumentError:
    """The error for a file its parser gave up on: "not a readable {kind} ({problem}); {advice}", where
    ``problem`` says what is wrong with the file in a user's words ("its word/document.xml is not a Word
    document"); the parser's exception goes along as ``detail``, for developers only."""
    return DocumentError(f"not a readable {kind} ({problem}); {advice}", detail=f"{exc.__class__.__name__}: {exc}")


def location_of(locations: Sequence[Sequence[Any]] | None, start: int, end: int) -> Location:
    """Where ``text[start:end]`` sits: the location of its first character, with a range when it runs on.

    ``locations`` are ``(offset, location)`` pairs in offset order (lists after a JSON round trip).
    """
    if not locations:
        return {}
    offsets = [int(entry[0]) for entry in locations]
    first = bisect.bisect_right(offsets, start) - 1
    if first < 0:
        return {}
    last = max(first, bisect.bisect_right(offsets, max(start, end - 1)) - 1)
    here = dict(locations[first][1])
    if last == first:
        return here
    there = locations[last][1]
    differ = [k for k in set(here) | set(there) if here.get(k) != there.get(k)]
    if all(isinstance(here.get(k), int) and isinstance(there.get(k), int) and there[k] > here[k] for k in differ):
        for k in differ:
            here[f"{k}_end"] = there[k]
    return here


def describe_location(location: Location | None) -> str:
    """A location for people: 'p. 12', 'pp. 12-13', 'slide 3', 'sheet Sales, rows 4-9', 'chapter 2'."""
    if not location:
        return ""
    parts = []

    def span(key: str, one: str, many: str) -> None:
        if key in location:
            end = location.get(f"{key}_end")
            parts.append(f"{many} {location[key]}-{end}" if end else f"{one} {location[key]}")

    span("page", "p.", "pp.")
    span("slide", "slide", "slides")
    if "sheet" in location:
        parts.append(f"sheet {location['sheet']}")
    span("row", "row", "rows")
    span("chapter", "chapter", "chapters")
    if "section" in location:
        parts.append(f"\u201c{location['section']}\u201d")
    if "part" in location:
        parts.append(str(location["part"]))
    return ", ".join(parts)


def joined(lines: Iterable[str]) -> str:
    """Non-blank lines, stripped, one per line."""
    return "\n".join(line.strip() for line in lines if line and line.strip())
