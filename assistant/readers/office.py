"""Office documents: Word (.docx, python-docx), PowerPoint (.pptx, python-pptx), OpenDocument text
(.odt, odfpy). Headings become sections (``{"section": ...}``), each slide a ``{"slide": n}``; tables are
read as "header: value; header: value." rows; title, author and date come from the file's properties."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any, Iterable

from ..errors import DocumentError
from .base import Limits, Reading, TextBuilder, unreadable
from .containers import open_zip, package_problem
from .tables import row_text


def properties_meta(props: Any) -> dict[str, Any]:
    """Title, author and date from OOXML core properties (python-docx and python-pptx share them)."""
    meta: dict[str, Any] = {}
    if getattr(props, "title", None):
        meta["title"] = props.title.strip()
    if getattr(props, "author", None):
        meta["author"] = props.author.strip()
    when = getattr(props, "created", None)
    if isinstance(when, (dt.date, dt.datetime)):
        meta["date"] = when.isoformat()[:10]
    return meta


def table_rows(rows: list[list[str]]) -> list[str]:
    """A table's rows as text: the first row names the columns of the others."""
    rows = [[" ".join(cell.split()) for cell in row] for row in rows]
    rows = [row for row in rows if any(row)]
    if len(rows) < 2:
        return [row_text([], row) for row in rows]
    header = rows[0]
    return [row_text(header, row) for row in rows[1:]]


def read_docx(raw: bytes, limits: Limits) -> Reading:
    import docx

    archive = open_zip(raw, ".docx", limits)
    try:
        document = docx.Document(io.BytesIO(raw))
        meta = properties_meta(document.core_properties)
        builder = docx_text(document.iter_inner_content(), meta)
    except Exception as exc:  # python-docx raises KeyError, ValueError, PackageNotFoundError on broken parts
        raise unreadable(".docx file", package_problem(archive, ".docx"), "re-save it from Word", exc) from None
    return builder.reading(meta)


def docx_text(blocks: Iterable[Any], meta: dict[str, Any]) -> TextBuilder:
    """Paragraphs one per line, each heading opening a section; a Title paragraph names an untitled file."""
    from docx.table import Table

    builder = TextBuilder()
    section: dict[str, Any] | None = None
    for block in blocks:
        if isinstance(block, Table):
            try:
                rows = [[cell.text for cell in row.cells] for row in block.rows]
            except (IndexError, ValueError):  # merged cells python-docx cannot lay out
                rows = []
            builder.add("\n".join(table_rows(rows)), section)
            continue
        text = block.text.strip()
        style = (block.style.name if block.style is not None else "") or ""
        if text and (style.startswith("Heading") or style == "Title"):
            if style == "Title" and "title" not in meta:
                meta["title"] = text
            section = {"section": text}
            builder.add(text, section)
        else:
            builder.add(text, section, separator="\n")
    return builder


def read_pptx(raw: bytes, limits: Limits) -> Reading:
    from pptx import Presentation

    archive = open_zip(raw, ".pptx", limits)
    try:
        deck = Presentation(io.BytesIO(raw))
        meta = properties_meta(deck.core_properties)
        builder = TextBuilder()
        for number, slide in enumerate(deck.slides, start=1):
            title_shape = slide.shapes.title
            lines = [title_shape.text_frame.text] if title_shape is not None and title_shape.has_text_frame else []
            for shape in _shapes(slide.shapes):
                if title_shape is not None and shape.shape_id == title_shape.shape_id:
                    continue
                if shape.has_text_frame:
                    lines += [p.text for p in shape.text_frame.paragraphs]
                elif getattr(shape, "has_table", False) and shape.has_table:
                    lines += table_rows([[cell.text for cell in row.cells] for row in shape.table.rows])
            if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
                lines += slide.notes_slide.notes_text_frame.text.splitlines()
            builder.add("\n".join(" ".join(line.split()) for line in lines if line.strip()), {"slide": number})
    except DocumentError:
        raise
    except Exception as exc:  # python-pptx raises KeyError, ValueError, PackageNotFoundError on broken parts
        raise unreadable(".pptx file", package_problem(archive, ".pptx"), "re-save it from PowerPoint", exc) from None
    return builder.reading(meta)


def _shapes(shapes: Iterable[Any]) -> Iterable[Any]:
    """Every shape, the shapes inside groups too, in slide order."""
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    for shape in shapes:
        if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
            yield from _shapes(shape.shapes)
        else:
            yield shape


def read_odt(raw: bytes, limits: Limits) -> Reading:
    from odf import dc, meta as odf_meta, teletype
    from odf.namespaces import TEXTNS
    from odf.opendocument import load

    archive = open_zip(raw, ".odt", limits)
    try:
        document = load(io.BytesIO(raw))
    except Exception as exc:  # odfpy raises KeyError, xml errors on broken files
        raise unreadable(".odt file", package_problem(archive, ".odt"), "re-save it", exc) from None
    builder = TextBuilder()
    section: dict[str, Any] | None = None

    def walk(node: Any) -> None:
        nonlocal section
        for child in node.childNodes:
            name = getattr(child, "qname", None)
            if name == (TEXTNS, "h"):
                text = teletype.extractText(child).strip()
                if text:
                    section = {"section": text}
                    builder.add(text, section)
            elif name == (TEXTNS, "p"):
                builder.add(teletype.extractText(child), section, separator="\n")
            elif name is not None:
                walk(child)

    walk(document.text)
    meta: dict[str, Any] = {}
    for element, key in ((dc.Title, "title"), (dc.Creator, "author"), (odf_meta.InitialCreator, "author"),
                         (odf_meta.CreationDate, "date")):
        found = document.meta.getElementsByType(element)
        if found and key not in meta and teletype.extractText(found[0]).strip():
            meta[key] = teletype.extractText(found[0]).strip()[:10 if key == "date" else None]
    return builder.reading(meta)
