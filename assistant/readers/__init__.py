"""Format readers: bytes of one file in, ``Reading`` (text, metadata, locations, attachments) out.

One module per family: ``plain`` (text, Markdown, HTML, RTF), ``pdf`` (with ``cleaning`` and ``ocr``),
``office`` (.docx .pptx .odt), ``tables`` (.xlsx .csv), ``ebook`` (.epub), ``mail`` (.eml), and
``containers`` (zip checks every Office/e-book file passes first). ``assistant.documents`` walks the
folder and calls ``read``; nothing here touches the file system.
"""

from __future__ import annotations

from ..errors import DocumentError
from .base import Limits, Location, Reading, TextBuilder, describe_location, location_of

__all__ = ["SUPPORTED", "Limits", "Location", "Reading", "TextBuilder", "describe_location", "describe_supported",
           "location_of", "read"]

SUPPORTED = {
    ".txt": "text", ".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html", ".pdf": "pdf",
    ".docx": "docx", ".pptx": "pptx", ".xlsx": "xlsx", ".csv": "csv", ".epub": "epub", ".eml": "email",
    ".odt": "odt", ".rtf": "rtf",
    ".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".tif": "tiff", ".tiff": "tiff",  # read by OCR
}
IMAGES = ("png", "jpeg", "tiff")


def describe_supported(last: str = "or") -> str:
    """The supported file types for a message, one suffix per kind: '.txt, .md, ... or .tif'."""
    first: dict[str, str] = {}
    for suffix, kind in SUPPORTED.items():
        first.setdefault(kind, suffix)
    main = list(first.values())
    return ", ".join(main[:-1]) + f" {last} " + main[-1] if len(main) > 1 else main[0]


def read(kind: str, raw: bytes, limits: Limits) -> Reading:
    """The file's content read as ``kind`` (a value of ``SUPPORTED``); ``DocumentError`` says why not."""
    if kind in ("text", "markdown"):
        from .plain import read_text

        return read_text(raw, markdown=kind == "markdown", convert_to=describe_supported())
    if kind == "html":
        from .plain import decode, read_html

        return read_html(decode(raw, describe_supported()))
    if kind == "rtf":
        from .plain import read_rtf

        return read_rtf(raw)
    if kind == "pdf":
        from .pdf import read_pdf

        return read_pdf(raw)
    if kind in IMAGES:
        from .ocr import read_image

        return read_image(raw)
    if kind in ("docx", "pptx", "odt"):
        from . import office

        return {"docx": office.read_docx, "pptx": office.read_pptx, "odt": office.read_odt}[kind](raw, limits)
    if kind == "xlsx":
        from .tables import read_xlsx

        return read_xlsx(raw, limits)
    if kind == "csv":
        from .tables import read_csv

        return read_csv(raw)
    if kind == "epub":
        from .ebook import read_epub

        return read_epub(raw, limits)
    if kind == "email":
        from .mail import read_eml

        return read_eml(raw, frozenset(SUPPORTED))
    raise DocumentError(f"unsupported file type; use {describe_supported()}")
