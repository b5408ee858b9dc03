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
    lines = [[normalise_ligatures(line).strip() for line in page.splitlines()] for page in pages]
    running = running_lines(lines)
    compounds = {m.group().lower() for page in lines for line in page
                 for m in re.finditer(r"\b[^\W\d_]+-[^\W\d_]+\b", line)}
    return [join_lines(drop_running(page, running, len(pages)), compounds) for page in lines]


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


def drop_running(page: list[str], running: set[str], page_count: int) -> list[str]:
    """The page's lines without its running header/footer lines and page number."""
    body = [i for i, line in enumerate(page) if line]
    edges = set(body[:EDGE_LINES] + body[-EDGE_LINES:])
    drop = {i for i in edges if line_key(page[i]) in running
            or (page_count > 1 and PAGE_NUMBER.match(line_key(page[i])))}
    return [line for i, line in enumerate(page) if i not in drop]


def join_lines(lines: list[str], compounds: set[str] = frozenset()) -> str:
    """Lines joined where a sentence or a hyphenated word runs on; other breaks kept, blank runs made one."""
    widest = max((len(line) for line in lines), default=0)
    out: list[str] = []
    for line in lines:
        if not line:
            if out and out[-1] != "\n":
                out.append("\n")  # a paragraph break
            continue
        if not out or out[-1] == "\n":
            out.append(line)
            continue
        last = out[-1]
        runs_on = not SENTENCE_END.search(last) and not BULLET.match(line) and (
            line[0].islower() or len(last) >= WRAPPED_SHARE * widest or last.endswith((",", "-")))
        hyphen = HYPHENATED.search(last)
        start = WORD_START.match(line)
        if hyphen and start and line[0].islower():
            compound = f"{hyphen.group(1)}-{start.group(1)}".lower()
            out[-1] = last + line if compound in compounds else last[:-1] + line  # "infor-\nmation"
        elif runs_on:
            out[-1] = f"{last} {line}"
        else:
            out.append(line)
    return "\n".join(part for part in out if part != "\n").strip()
