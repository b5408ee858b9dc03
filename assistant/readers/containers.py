"""Checks on zip containers (.docx .pptx .xlsx .epub .odt) before a parser opens them.

A zip member can declare a few kilobytes and inflate to gigabytes (a decompression bomb), or declare
its true size and still be a bomb; a password-protected Office file is not a zip at all but an OLE
compound file holding an ``EncryptedPackage``. Each case is refused with a one-line reason before any
parser reads the file, so one bad file never stops a folder being indexed. When a parser then fails all
the same, ``package_problem`` says what is wrong in a user's words ("its word/document.xml is not a Word
document"), not which exception the parser raised.
"""

from __future__ import annotations

import io
import re
import zipfile
from xml.etree import ElementTree

from ..errors import DocumentError
from .base import Limits, unreadable

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # compound file: old binary Office, or an encrypted new one
ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")
CHUNK = 1 << 20


def open_zip(raw: bytes, kind: str, limits: Limits) -> zipfile.ZipFile:
    """``raw`` as a zip whose members, declared and actually inflated, stay within the limit."""
    if raw.startswith(OLE_MAGIC):
        if ENCRYPTED_PACKAGE in raw:
            raise DocumentError(f"the {kind} file is password-protected; save a copy without a password")
        raise DocumentError(f"an old binary Office file, not {kind}; open it and save it as {kind}")
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
        members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise unreadable(f"{kind} file", zip_problem(exc, kind), "re-save or re-export it", exc) from None
    limit = limits.max_unpacked_bytes
    declared = sum(member.file_size for member in members)
    if declared > limit:
        raise DocumentError(f"unpacks to {_mb(declared)}, over the {_mb(limit)} limit (a zip bomb?); "
                            "raise max_file_mb if the file is genuine")
    total = 0
    try:
        for member in members:
            if member.is_dir():
                continue
            with archive.open(member) as stream:  # stops at the declared size; a lie fails its CRC check
                while chunk := stream.read(CHUNK):
                    total += len(chunk)
                    if total > limit:
                        raise DocumentError(f"unpacks to more than {_mb(limit)} (a zip bomb?); "
                                            "raise max_file_mb if the file is genuine")
    except DocumentError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
        if "password" in str(exc).lower() or "encrypted" in str(exc).lower():
            raise DocumentError(f"the {kind} file is password-protected; save a copy without a password") from None
        raise unreadable(f"{kind} file", zip_problem(exc, kind), "re-save or re-export it", exc) from None
    return archive


def zip_problem(exc: BaseException, kind: str) -> str:
    """What a zip error says about the file, in a user's words."""
    damaged = re.search(r"for file '([^']+)'", str(exc))  # "Bad CRC-32 for file 'word/document.xml'"
    if damaged:
        return f"its {damaged.group(1)} is damaged: its checksum does not match"
    if isinstance(exc, zipfile.BadZipFile) and "not a zip file" in str(exc):
        return f"it is not the zip archive every {kind} file is: cut short, or another kind of file"
    return "its zip archive is damaged"


# The part a parser reads first, the element it opens with, what the file is, and what that part holds.
OOXML = {".docx": ("word/document.xml", "document", "a Word document", "the document's text"),
         ".pptx": ("ppt/presentation.xml", "presentation", "a PowerPoint presentation", "the list of slides"),
         ".xlsx": ("xl/workbook.xml", "workbook", "an Excel workbook", "the list of sheets")}
ODF = {".odt": ("content.xml", "document-content", "an OpenDocument text", "the document's text")}
EPUB_CONTAINER = ("META-INF/container.xml", "container", "an e-book's container", "the pointer to the book's contents")
OFFICE_DOCUMENT = re.compile(rb'Type="[^"]*/officeDocument"[^>]*Target="/?([^"]+)"|'
                             rb'Target="/?([^"]+)"[^>]*Type="[^"]*/officeDocument"')
ROOT_FILE = re.compile(rb'full-path="([^"]+)"')


def package_problem(archive: zipfile.ZipFile, kind: str) -> str:
    """What is wrong with a zip package (.docx .pptx .xlsx .odt .epub) its parser could not read, in a
    user's words: a part it needs is missing, is broken XML, or holds something else."""
    names = set(archive.namelist())
    if kind in OOXML and "[Content_Types].xml" not in names:
        return f"it is a zip archive but not {OOXML[kind][2]}: it has no [Content_Types].xml"
    for part, root, what, holds in _first_parts(archive, kind, names):
        if part not in names:
            return f"it has no {part}, the part that holds {holds}"
        try:
            element = ElementTree.fromstring(archive.read(part))  # expat: no external entities, no entity bombs
        except ElementTree.ParseError as exc:
            return f"its {part} is damaged: broken XML at line {exc.position[0]}"
        if element.tag.rpartition("}")[2] != root:
            return f"its {part} is not {what}"
    return "a part of it is damaged or missing"


def _first_parts(archive: zipfile.ZipFile, kind: str, names: set[str]) -> list[tuple[str, str, str, str]]:
    """The parts ``package_problem`` checks, in the order a parser reads them."""
    if kind in OOXML:
        part, *rest = OOXML[kind]
        if "_rels/.rels" in names:  # the package's own index names its main part
            found = OFFICE_DOCUMENT.search(archive.read("_rels/.rels"))
            part = (found.group(1) or found.group(2)).decode("utf-8", "replace") if found else part
        return [(part, *rest)]
    if kind == ".epub":
        parts = [EPUB_CONTAINER]
        if EPUB_CONTAINER[0] in names:
            found = ROOT_FILE.search(archive.read(EPUB_CONTAINER[0]))
            if found:
                parts.append((found.group(1).decode("utf-8", "replace"), "package", "an e-book's package",
                              "the list of chapters"))
        return parts
    return [ODF[kind]] if kind in ODF else []


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.0f} MB" if n >= 10 * 1024 * 1024 else f"{n / 1024 / 1024:.1f} MB"
