"""Text formats: plain text and Markdown (with YAML front matter), HTML, and RTF (through striprtf)."""

from __future__ import annotations

import codecs
import re
from typing import Any

import yaml

from ..errors import DocumentError
from .base import Reading, unreadable

# Text files in UTF-16/UTF-32 are told apart from binaries by their byte order mark. UTF-32 LE first: its
# mark begins with UTF-16 LE's.
BYTE_ORDER_MARKS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def decode(raw: bytes, convert_to: str = "UTF-8 text") -> str:
    """Bytes of a text file as text with ``\\n`` line ends, or ``DocumentError`` for a binary file."""
    for mark, encoding in BYTE_ORDER_MARKS:
        if raw.startswith(mark):
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError:
                raise DocumentError(f"not valid {encoding.upper()} text; save it as UTF-8") from None
            if "\x00" not in text[:8192]:
                return text.replace("\r\n", "\n").replace("\r", "\n")
            break  # a mark followed by NUL characters: a binary that happens to start like one
    if b"\x00" in raw[:8192]:
        raise DocumentError(f"binary file, not text; convert it to {convert_to}")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(encoding).replace("\r\n", "\n").replace("\r", "\n")
        except UnicodeDecodeError:
            continue
    raise DocumentError("not valid UTF-8 text; save it as UTF-8")


def read_text(raw: bytes, markdown: bool, convert_to: str) -> Reading:
    notices: list[str] = []
    text, meta = split_front_matter(decode(raw, convert_to), notices)
    if markdown and "title" not in meta:
        heading = re.search(r"^#\s+(.+)$", text, re.MULTILINE)
        if heading:
            meta["title"] = heading.group(1).strip()
    return Reading(text, meta, notices=notices)


def split_front_matter(text: str, notices: list[str]) -> tuple[str, dict[str, Any]]:
    """The text after a YAML front matter block, and its mapping.

    A block that is not YAML is dropped with a notice (it was meant as front matter: its keys must not
    be quoted as the document's first sentence); one that is YAML but not a mapping (a sentence between
    two rules) is kept as text.
    """
    match = re.match(r"---\n(.*?)\n---\n", text, re.DOTALL)
    if not match:
        return text, {}
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        notices.append(f"front matter is not valid YAML ({yaml_problem(exc)}); indexed the text without it")
        return text[match.end():], {}
    if not isinstance(meta, dict):
        return text, {}  # not front matter after all: keep the text as written
    return text[match.end():], meta


def yaml_problem(exc: yaml.YAMLError) -> str:
    """'line 2: mapping values are not allowed here', counting lines of the file (front matter starts on 2)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"line {mark.line + 2}: {problem}" if mark is not None else problem


def read_html(html: str | bytes) -> Reading:
    """The visible text of an HTML page, with its title and date from the head."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    meta: dict[str, Any] = {}
    if soup.title and soup.title.get_text(strip=True):
        meta["title"] = soup.title.get_text(strip=True)
    elif soup.h1:
        meta["title"] = soup.h1.get_text(strip=True)
    for name in ("date", "article:published_time", "dc.date", "pubdate"):
        tag = soup.find("meta", attrs={"name": name}) or soup.find("meta", attrs={"property": name})
        if tag and tag.get("content"):
            meta["date"] = tag["content"]
            break
    for tag in soup(["script", "style", "noscript", "template", "head", "title"]):
        tag.decompose()
    text = soup.get_text("\n")
    lines = [re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in text.split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return Reading(text, meta)


def read_rtf(raw: bytes) -> Reading:
    """RTF through striprtf (pure Python): the text, paragraphs kept; RTF has no reliable title field."""
    from striprtf.striprtf import rtf_to_text

    source = decode(raw, "RTF")
    if not source.lstrip().startswith("{\\rtf"):
        raise DocumentError("not an RTF file (it does not start with {\\rtf); re-save it as RTF")
    try:
        text = rtf_to_text(source, errors="ignore")
    except Exception as exc:  # striprtf raises plain exceptions on broken groups
        raise unreadable("RTF file", "its RTF markup is damaged", "re-save it", exc) from None
    lines = [re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in text.replace("\r", "\n").split("\n")]
    return Reading(re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip())
