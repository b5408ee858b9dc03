"""PDF through pypdf: one location per page, text cleaned (readers.cleaning), pages without a text layer
read by OCR (readers.ocr)."""

from __future__ import annotations

import io
import re
from typing import Any

from ..errors import DocumentError
from ..wording import agreeing, counted
from .base import Reading, TextBuilder, unreadable
from .cleaning import clean_page_lines
from .ocr import RENDER_DPI, ocr_problem, recognise, render_pages, word_boxes

MIN_TEXT_CHARS = 3  # a page with fewer characters in its text layer is taken for a scan


def read_pdf(raw: bytes) -> Reading:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    try:
        reader = PdfReader(io.BytesIO(raw))
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")  # only an owner password (printing, copying limits): readable
            except (DependencyError, NotImplementedError):
                opened = 0
            if not opened:
                raise DocumentError("the PDF is password-protected; save a copy without a password")
        texts = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata or {}
    except DocumentError:
        raise
    except Exception as exc:  # pypdf raises many kinds on broken files (PdfReadError, KeyError, ...)
        raise unreadable("PDF", pdf_problem(raw), "re-export it", exc) from None
    notices: list[str] = []
    meta: dict[str, Any] = {}
    scanned = [i for i, text in enumerate(texts) if len(text.strip()) < MIN_TEXT_CHARS]
    lines = [text.splitlines() for text in texts]
    words: dict[int, list] = {}
    if scanned:
        problem = ocr_problem()
        if problem and len(scanned) == len(texts):
            raise DocumentError(f"the PDF has no text layer (scanned pages); {problem}")
        if problem:
            notices.append(f"{counted(len(scanned), 'scanned page')} not read ({_pages(scanned)}); {problem}")
        else:
            for n, image in render_pages(raw, scanned).items():
                lines[n], words[n] = recognise(image)
            meta["ocr_pages"] = [n + 1 for n in scanned]
            meta["ocr_dpi"] = RENDER_DPI  # word boxes are in pixels of the page rendered at this resolution
    builder = TextBuilder()
    boxes: dict[str, list[list[int]]] = {}
    for n, (text, starts) in enumerate(clean_page_lines(lines)):
        offset = builder.length + (len(builder.separator) if builder.parts else 0)
        builder.add(text, {"page": n + 1})
        if n in words and text:
            boxes[str(n + 1)] = word_boxes(text, offset, starts, words[n])
    if not builder.text:
        raise DocumentError("the PDF has no text, and OCR found none on its pages")
    if boxes:
        meta["ocr_words"] = boxes
    meta.update(pdf_info(info))
    meta["pages"] = len(texts)
    return builder.reading(meta, notices)


def pdf_info(info: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if info.get("/Title"):
        meta["title"] = str(info["/Title"])
    if info.get("/Author"):
        meta["author"] = str(info["/Author"])
    created = info.get("/CreationDate")
    if created and re.match(r"D:\d{8}", str(created)):
        c = str(created)[2:10]
        meta["date"] = f"{c[:4]}-{c[4:6]}-{c[6:8]}"
    return meta


def pdf_problem(raw: bytes) -> str:
    """What is wrong with a PDF its parser could not read, in a user's words."""
    if b"%PDF-" not in raw[:1024]:  # where the format puts its header
        return "it does not begin with %PDF- as every PDF does: another kind of file named .pdf"
    if b"%%EOF" not in raw[-1024:]:
        return "it is cut short: the end of the file is missing"
    return "its internal structure is damaged"


def _pages(numbers: list[int]) -> str:
    shown = ", ".join(str(n + 1) for n in numbers[:5]) + (", ..." if len(numbers) > 5 else "")
    return f"{agreeing(len(numbers), 'page')} {shown}"
