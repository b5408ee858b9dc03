"""Upload safety: the name an uploaded file is stored under, its type and its size, or ``UploadError``.

The file name comes from the client, so it is judged here before anything is written; the types
accepted are the ones the documents loader reads (``assistant.documents.SUPPORTED``).
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path
from typing import Any

from ..documents import SUPPORTED, describe_supported
from ..errors import AssistantError

UPLOAD_SUFFIXES = tuple(SUPPORTED)  # the types the documents loader reads
MAX_NAME_CHARS = 100  # of a stored file's stem


class UploadError(AssistantError):
    """A file offered for upload was refused: unsafe name, unsupported type or too large."""


def safe_file_name(name: str) -> str:
    """The name an uploaded file is stored under, or ``UploadError`` if the name is unsafe.

    Names that try to leave the documents folder (``../x.txt``, ``/etc/x.txt``, ``..\\x.txt``, also
    in full-width Unicode), hidden names and unsupported types are refused; anything else keeps its
    letters, digits, ``.``, ``-`` and ``_`` (in any script) with other runs of characters turned into ``-``.

    >>> safe_file_name("Summit notes (final).md")
    'Summit-notes-final.md'
    """
    raw = name if isinstance(name, str) else ""
    shown = _shown_name(raw)
    normal = unicodedata.normalize("NFKC", raw).strip()  # full-width "／" becomes "/" here, before the check
    if not normal:
        raise UploadError("the file has no name; name it like report.txt")
    if any(sep in normal for sep in ("/", "\\", "\x00")) or normal in (".", "..") or ":" in normal[:3]:
        raise UploadError(f"unsafe file name {shown}: it points outside the documents folder; "
                          "upload it under a plain name like report.txt")
    if normal.startswith("."):
        raise UploadError(f"unsafe file name {shown}: hidden files are not indexed; rename it without the leading dot")
    stem, suffix = os.path.splitext(normal)
    suffix = suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise UploadError(f"unsupported file type {suffix or '(none)'}; upload {describe_supported()}")
    stem = re.sub(r"[^\w.-]+", "-", stem)
    stem = re.sub(r"\.{2,}", ".", re.sub(r"-{2,}", "-", stem)).strip("-._")[:MAX_NAME_CHARS].strip("-._")
    if not stem:
        raise UploadError(f"file name {shown} has no letters or digits; rename it like report{suffix}")
    return stem + suffix


def check_size(size: int, max_file_mb: float) -> None:
    """``UploadError`` if a file of ``size`` bytes is over the ``max_file_mb`` limit."""
    if size > max_file_mb * 1024 * 1024:
        raise UploadError(f"it is {_size(size)}, over the {max_file_mb:g} MB limit; split it into smaller files")


def check_not_link(path: str | Path) -> None:
    """``UploadError`` if the uploaded file is a link: copying it would copy whatever it points at.

    The message leaves the link's target out: it is a path on the server, not the user's.
    """
    if os.path.islink(path):
        raise UploadError("the uploaded file is a link, not a file; upload the file itself")


def uploaded_files(files: Any) -> list[tuple[str, str]]:
    """(name as given, server path) for each file of an upload event's raw payload.

    Gradio has already checked that each path is one of its own uploads; the name is the client's, so
    it is what ``safe_file_name`` must judge.
    """
    if not files:
        return []
    items = files if isinstance(files, list) else [files]
    out = []
    for item in items:
        if isinstance(item, dict) and item.get("path"):
            out.append((str(item.get("orig_name") or Path(item["path"]).name), str(item["path"])))
        elif isinstance(item, (str, Path)):
            out.append((Path(item).name, str(item)))
    return out


def _shown_name(name: str) -> str:
    """A file name quoted for a message: control characters visible, at most 80 characters."""
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in name)
    return "“" + (shown if len(shown) <= 80 else shown[:77] + "...") + "”"


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    return f"{n / 1024:.1f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MB"
