"""Spreadsheets: .xlsx (openpyxl, read-only, cached values) and .csv (the standard library). One section
per sheet; each row is a line "header: value; header: value." located by its sheet and row number as
the spreadsheet numbers them (the header is row 1), so a citation reads "sheet Sales, rows 4-9"."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any, Iterable, Sequence

from ..errors import DocumentError
from .base import Limits, Reading, TextBuilder, unreadable
from .containers import open_zip, package_problem
from .plain import decode

END = (".", "!", "?")


def cell_text(value: Any) -> str:
    """A cell as people write it: 1200.0 as 1200, a midnight datetime as its date."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return " ".join(str(value).split())


def row_text(header: Sequence[str], row: Sequence[str]) -> str:
    """'Region: North; Revenue: 1200.' (a row reads as a sentence, so it can be quoted as an answer)."""
    pairs = []
    for i, value in enumerate(row):
        if not value:
            continue
        name = header[i] if i < len(header) and header[i] else ""
        pairs.append(f"{name}: {value}" if name else value)
    text = "; ".join(pairs)
    return text if not text or text.endswith(END) else text + "."


def add_rows(builder: TextBuilder, rows: Iterable[Sequence[Any]], where: dict[str, Any]) -> None:
    """Rows (the first non-empty one names the columns) into ``builder``, each with its row number."""
    header: list[str] | None = None
    for number, raw in enumerate(rows, start=1):
        row = [cell_text(value) for value in raw]
        if not any(row):
            continue
        if header is None:
            header = row
            builder.add("; ".join(name for name in header if name), {**where, "row": number})
            continue
        builder.add(row_text(header, row), {**where, "row": number}, separator="\n")


def read_xlsx(raw: bytes, limits: Limits) -> Reading:
    import openpyxl

    archive = open_zip(raw, ".xlsx", limits)
    builder = TextBuilder()
    try:
        book = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
        try:
            for sheet in book.worksheets:
                rows = list(sheet.iter_rows(min_row=1, values_only=True))
                if any(cell_text(value) for row in rows for value in row):  # an empty sheet: not even its name
                    builder.add(f"Sheet: {sheet.title}", {"sheet": sheet.title})
                    add_rows(builder, rows, {"sheet": sheet.title})
            props = book.properties
        finally:
            book.close()
    except DocumentError:
        raise
    except Exception as exc:  # openpyxl raises KeyError, ValueError, InvalidFileException on broken parts
        raise unreadable(".xlsx file", package_problem(archive, ".xlsx"), "re-save it", exc) from None
    meta: dict[str, Any] = {}
    if props.title:
        meta["title"] = props.title
    if props.creator:
        meta["author"] = props.creator
    if isinstance(props.created, dt.datetime):
        meta["date"] = props.created.date().isoformat()
    return builder.reading(meta)


def read_csv(raw: bytes) -> Reading:
    text = decode(raw, "UTF-8 text")
    try:
        dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    builder = TextBuilder()
    try:
        add_rows(builder, csv.reader(io.StringIO(text), dialect), {})
    except csv.Error as exc:
        raise DocumentError(f"not a readable CSV file ({exc}); save it as comma-separated UTF-8") from None
    return builder.reading()
