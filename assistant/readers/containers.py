"""Checks on zip containers (.docx .pptx .xlsx .epub .odt) before a parser opens them.

A zip member can declare a few kilobytes and inflate to gigabytes (a decompression bomb), or declare
its true size and still be a bomb; a password-protected Office file is not a zip at all but an OLE
compound file holding an ``EncryptedPackage``. Each case is refused with a one-line reason before any
parser reads the file, so one bad file never stops a folder being indexed.
"""

from __future__ import annotations

import io
import zipfile

from ..errors import DocumentError
from .base import Limits

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
        raise DocumentError(f"not a readable {kind} file (corrupt zip: {exc}); re-save or re-export it") from None
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
        raise DocumentError(f"not a readable {kind} file (corrupt zip: {exc}); re-save or re-export it") from None
    return archive


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.0f} MB" if n >= 10 * 1024 * 1024 else f"{n / 1024 / 1024:.1f} MB"
