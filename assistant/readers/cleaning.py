"""Text as people read it, from the lines a PDF's text layer (or OCR) gives.

A printed line ends wherever the column does, so a sentence continues on the next line; a word may be
hyphenated across the break; fonts set "fi" as one ligature glyph (U+FB01); and every page repeats its
running header, footer and page number. Left as they are, the sentence splitter cuts "…which created
the crema on" at the line end and the other half of the sentence is never found, "eﬃcient" does not
match "efficient", and "Annual Report 2021 · page 7" is taken for a sentence on every page.

``clean_pages`` returns the cleaned text of each page; the stored document text is built from it, so
quotes stay exact spans of what is stored.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

LIGATURES = re.compile("[\ufb00-\ufb06]")  # ﬀ ﬁ ﬂ ﬃ ﬄ ﬅ ﬆ
SENTENCE_END = re.compile(r"[.!?:;\"\u201d\u2019)\]]$")
BULLET = re.compile(r"^([\u2022\u25aa\u25cf\u2013\u2014*\-]|\d{1,2}[.)]|[a-z][.)])\s")
HYPHENATED = re.compile(r"([^\W\d_]+)-$")
WORD_START = re.compile(r"^([^\W\d_]+)")
PAGE_NUMBER = re.compile(r"^(page\s*)?#(\s*(of|/)\s*#)?$|^[-\u2013]\s*#\s*[-\u2013]$")
EDGE_LINES = 2  # running headers and footers are among the first and last two lines of a page
WRAPPED_SHARE = 0.6  # a line at least this share of the page's longest ran to the margin: it wrapped


def normalise_ligatures(text: str) -> str:
    """'eﬃcient' -> 'efficient': only the ligature glyphs are changed (NFKC would change ½ and ² too)."""
    return LIGATURES.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)


def clean_pages(pages: list[str]) -> list[str]:
    """Each page's text with running headers/footers and page numbers dropped and wrapped lines joined."""
    return [text for text, _ in clean_page_lines([page.splitlines() for page in pages])]


def clean_page_lines(pages: list[list[str]]) -> list[tuple[str, list[int | None]]]:
    """Each page's cleaned text, and where each of its lines starts in it (``None``: dropped or blank).

    Where a line's trailing hyphen was removed ("infor-" + "mation"), the line's last character is not in
    the text: ``text[start:start + len(line) - 1] == line[:-1]``.
    """
    lines = [[normalise_ligatures(line).strip() for line in page] for page in pages]
    running = running_lines(lines)
    compounds = {m.group().lower() for page in lines for line in page
                 for m in re.finditer(r"\b[^\W\d_]+-[^\W\d_]+\b", line)}
    out = []
    for page in lines:
        kept = [i for i in range(len(page)) if i not in running_indexes(page, running, len(pages))]
        text, starts = join_lines_mapped([page[i] for i in kept], compounds)
        where: list[int | None] = [None] * len(page)
        for k, i in enumerate(kept):
            where[i] = starts[k]
        out.append((text, where))
    return out


def line_key(line: str) -> str:
    """A line with its numbers blanked: 'Page 3 of 9' and 'Page 4 of 9' are the same running line."""
    return re.sub(r"\d+", "#", " ".join(line.lower().split()))


def running_lines(pages: list[list[str]]) -> set[str]:
    """Keys of lines standing at the top or bottom of at least half the pages (three pages or more)."""
    if len(pages) < 3:
        return set()
    counts: Counter[str] = Counter()
    for page in pages:
        body = [line for line in page if line]
        counts.update({line_key(line) for line in body[:EDGE_LINES] + body[-EDGE_LINES:]})
    return {key for key, n in counts.items() if n >= max(3, len(pages) / 2)}


def running_indexes(page: list[str], running: set[str], page_count: int) -> set[int]:
    """Which of the page's lines are its running header/footer lines and page number."""
    body = [i for i, line in enumerate(page) if line]
    edges = set(body[:EDGE_LINES] + body[-EDGE_LINES:])
    return {i for i in edges if line_key(page[i]) in running
            or (page_count > 1 and PAGE_NUMBER.match(line_key(page[i])))}


def join_lines(lines: list[str], compounds: set[str] = frozenset()) -> str:
    """Lines joined where a sentence or a hyphenated word runs on; other breaks kept, blank runs made one."""
    return join_lines_mapped(lines, compounds)[0]


def join_lines_mapped(lines: list[str], compounds: set[str] = frozenset()) -> tuple[str, list[int | None]]:
    """``join_lines``, and where each line starts in the joined text (``None`` for a blank line)."""
    widest = max((len(line) for line in lines), default=0)
    text, last, starts, paragraph = "", "", [], False
    for line in lines:
        if not line:
            paragraph = bool(text)
            starts.append(None)
            continue
        if not text:
            starts.append(0)
            text = last = line
            continue
        runs_on = not paragraph and not SENTENCE_END.search(last) and not BULLET.match(line) and (
            line[0].islower() or len(last) >= WRAPPED_SHARE * widest or last.endswith((",", "-")))
        hyphen = HYPHENATED.search(last)
        start = WORD_START.match(line)
        if not paragraph and hyphen and start and line[0].islower():
            if f"{hyphen.group(1)}-{start.group(1)}".lower() not in compounds:
                text, last = text[:-1], last[:-1]  # "infor-\nmation": the hyphen only broke the word
            starts.append(len(text))
            text, last = text + line, last + line
        elif runs_on:
            starts.append(len(text) + 1)
            text, last = f"{text} {line}", f"{last} {line}"
        else:
            starts.append(len(text) + 1)
            text, last = f"{text}\n{line}", line
        paragraph = False
    return text, starts
