"""E-mail: .eml through the standard library's ``email`` (policy.default). The text is a header block
(Subject, From, To, Date: ``{"part": "headers"}``) and the body (``{"part": "body"}``; an HTML-only body
is read like any HTML page); subject, sender and date become metadata. Attachments of supported types
are handed back to be indexed as documents of their own (``mail.eml/report.pdf``)."""

from __future__ import annotations

import email
import email.utils
import logging
from email import policy
from email.message import EmailMessage
from typing import Any

from ..errors import DocumentError
from .base import Reading, TextBuilder
from .plain import read_html

# in this process only: a worker process reading a large folder logs nowhere (its notices still say what)
log = logging.getLogger("assistant.documents")

SHOWN_HEADERS = ("Subject", "From", "To", "Cc", "Date")


def header(message: EmailMessage, name: str, notices: list[str]) -> str:
    """A header's value as text; a malformed one gives a notice and ''."""
    try:
        value = message[name]
        if value is None:
            return ""
        defects = getattr(value, "defects", ())
        text = " ".join(str(value).split())
        if name == "Date" and getattr(value, "datetime", None) is None:
            notices.append(f"malformed Date header ({text[:60]!r}); indexed without a date")
            return ""
        if defects and name in ("From", "To", "Cc") and not email.utils.getaddresses([text])[0][1]:
            notices.append(f"malformed {name} header ({text[:60]!r}); indexed as written")
        return text
    except Exception as exc:  # the header parser raises on some malformed values (IndexError, HeaderParseError)
        log.debug("the %s header: the parser said %s: %s", name, exc.__class__.__name__, exc)
        notices.append(f"malformed {name} header (its value cannot be parsed); indexed without it")
        return ""


def body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError, AssertionError):  # an unknown charset or broken transfer encoding
        payload = part.get_payload(decode=True) or b""
        content = payload.decode("utf-8", errors="replace")
    if isinstance(content, bytes):
        content = content.decode("utf-8", errors="replace")
    if part.get_content_subtype() == "html":
        return read_html(content).text
    return content.replace("\r\n", "\n")


def read_eml(raw: bytes, supported: frozenset[str]) -> Reading:
    """The message; attachments whose suffix is in ``supported`` come back in ``attachments``."""
    if b"\x00" in raw[:8192]:
        raise DocumentError("binary file, not an e-mail message; export the message as .eml")
    message = email.message_from_bytes(raw, policy=policy.default)
    if not any(message.get(name) is not None for name in ("From", "To", "Subject", "Date", "Message-ID")):
        raise DocumentError("not an e-mail message (no From, To, Subject or Date header); export it as .eml")
    notices: list[str] = []
    values = {name: header(message, name, notices) for name in SHOWN_HEADERS}
    builder = TextBuilder()
    builder.add("\n".join(f"{name}: {value}" for name, value in values.items() if value), {"part": "headers"})
    try:
        builder.add(body_text(message), {"part": "body"})
    except Exception as exc:  # a body the parser cannot take apart: keep the headers
        log.debug("the message body: the parser said %s: %s", exc.__class__.__name__, exc)
        notices.append("the message body could not be read (its MIME structure is broken); indexed its headers")
    meta: dict[str, Any] = {}
    if values["Subject"]:
        meta["title"] = values["Subject"]
    if values["From"]:
        meta["author"] = meta["sender"] = values["From"]
    if values["To"]:
        meta["recipients"] = values["To"]
    if values["Date"]:
        meta["date"] = message["Date"].datetime.date().isoformat()
    reading = builder.reading(meta, notices)
    for part in message.iter_attachments():
        name = part.get_filename() or ""
        suffix = name[name.rfind("."):].lower() if "." in name else ""
        if suffix not in supported:
            if name:
                reading.notices.append(f"attachment {name} not indexed (type {suffix or '(none)'} is not read)")
            continue
        try:
            content = part.get_content()
        except (LookupError, ValueError, AssertionError):
            content = part.get_payload(decode=True) or b""
        reading.attachments.append((name, content.encode("utf-8") if isinstance(content, str) else content))
    return reading
