"""E-books: .epub through ebooklib, each spine document a chapter (``{"chapter": n, "section": title}``),
its XHTML read like any HTML page; title, author and date from the Dublin Core metadata."""

from __future__ import annotations

import io
from typing import Any

from ..errors import DocumentError
from .base import Limits, Reading, TextBuilder, unreadable
from .containers import open_zip, package_problem
from .plain import read_html


def read_epub(raw: bytes, limits: Limits) -> Reading:
    import ebooklib
    from ebooklib import epub

    archive = open_zip(raw, ".epub", limits)
    if "META-INF/encryption.xml" in archive.namelist():
        listed = archive.read("META-INF/encryption.xml")
        if b".xhtml" in listed or b".html" in listed:  # fonts alone may be obfuscated; text must not be
            raise DocumentError("the e-book is DRM-protected (its chapters are encrypted); use a DRM-free copy")
    try:
        book = epub.read_epub(io.BytesIO(raw), options={"ignore_ncx": True})
        items = [book.get_item_with_id(item_id) for item_id, _ in book.spine]
    except Exception as exc:  # ebooklib raises EpubException, KeyError, lxml errors on broken books
        raise unreadable(".epub file", package_problem(archive, ".epub"), "re-export it", exc) from None
    builder = TextBuilder()
    chapter = 0
    for item in items:
        if item is None or item.get_type() != ebooklib.ITEM_DOCUMENT or isinstance(item, epub.EpubNav):
            continue
        page = read_html(item.get_content())
        if not page.text.strip():
            continue
        chapter += 1
        location: dict[str, Any] = {"chapter": chapter}
        if page.meta.get("title"):
            location["section"] = page.meta["title"]
        builder.add(page.text, location)
    meta: dict[str, Any] = {}
    for key, name in (("title", "title"), ("author", "creator"), ("date", "date")):
        found = book.get_metadata("DC", name)
        if found and found[0][0]:
            meta[key] = str(found[0][0]).strip()
    return builder.reading(meta)
