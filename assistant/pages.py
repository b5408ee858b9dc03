"""Where a quote sits, shown as people saw it: the cited PDF page (or scanned page, or image) rendered with
the quoted words boxed, or, for the other formats, the section of text around the quote.

The stored text of a PDF page is its *cleaned* text (readers/cleaning.py: lines joined, hyphenation
undone, ligatures expanded, running headers dropped), read by pypdf; the boxes come from pdfium's text
layer, which still has all of that. The two are aligned on their letters alone (no white space, no
hyphens, ligatures expanded, case folded), so "infor-\\nmation" on the page is "information" in the
quote. A scanned page or an image has no text layer: its OCR word boxes (``ocr_words``, stored with the
document at indexing) give the boxes instead.

Only files inside the indexed folders are opened (``indexed_file``), never a path a document's metadata
names: a sidecar may set ``source`` to anything.
"""

from __future__ import annotations

import ctypes
import difflib
import io
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

from .config import UPLOADS
from .readers import SUPPORTED, describe_location, location_of
from .readers.ocr import PDFIUM_LOCK
from .wording import counted

PAGE_DPI = 144  # twice PDF's 72 points per inch: an A4 page is 1191 x 1684 px, sharp on a high-density screen
MAX_SIDE = 2400  # px: a poster-sized page or a large image is scaled down to this
SECTION_CHARS = 1200  # text kept on each side of a quote in a section view
CACHED_PAGES = 16  # rendered pages kept: an A4 page of text is about 175 KB of PNG, rendered in 50-90 ms
MIN_MATCHED = 0.6  # share of a quote's letters found on the page for its boxes to be shown
MIN_PIECE = 4  # letters: a shorter piece of a quote found on the page could be anywhere on it
HYPHENS = frozenset("-\u00ad\u2010\u2011\x02")  # \x02 is pdfium's line-end hyphen
IMAGE_KINDS = ("png", "jpeg", "tiff")
REINDEX = "run `assistant index` (or re-upload it) to index it again"

Box = tuple[int, int, int, int]  # left, top, width, height in the image's pixels
Rect = tuple[float, float, float, float]  # left, top, right, bottom
Affine = tuple[float, float, float, float, float, float]  # (x, y) -> (ox + xx*x + yx*y, oy + xy*x + yy*y)
IDENTITY: Affine = (0.0, 0.0, 1.0, 0.0, 0.0, 1.0)


@dataclass(frozen=True)
class PageView:
    """What ``Assistant.page_view`` returns: a page image with the quote's boxes, or the text around it.

    A page view has ``image`` (PNG bytes, ``width`` x ``height`` px) and ``boxes`` over the quoted words,
    one per printed line, in image pixels. A section view (``image`` empty) has the section's text:
    ``before + quote + after`` is a span of the document's text. ``notice`` says, in one line, why a page
    could not be shown or its words not boxed.
    """

    doc_id: str
    title: str
    quote: str
    location: dict[str, Any] = field(default_factory=dict)
    page: int = 0  # the page shown, from 1; 0 for a section view of a document without pages
    image: bytes = field(default=b"", repr=False)
    width: int = 0
    height: int = 0
    boxes: tuple[Box, ...] = ()
    before: str = ""
    after: str = ""
    clipped_before: bool = False
    clipped_after: bool = False
    notice: str = ""

    @property
    def kind(self) -> str:
        """'page' (an image to show) or 'section' (text)."""
        return "page" if self.image else "section"

    @property
    def where(self) -> str:
        """The location for people: 'p. 12', 'slide 3', '' for plain text."""
        return describe_location(self.location)


@dataclass(frozen=True)
class RenderedPage:
    """One page as an image, and its text layer: each character with its rectangle in PDF points (y down,
    so a printed line is a row whatever the page's rotation), and the map from points to image pixels."""

    png: bytes
    width: int
    height: int
    scale: float  # image pixels per PDF point
    chars: tuple[tuple[str, Rect], ...]
    to_image: Affine  # (x, -y) in PDF points to image pixels


def page_view(doc_id: str, text: str, metadata: Mapping[str, Any], start: int, end: int,
              file: Path | None) -> PageView:
    """How to show ``text[start:end]`` of a document: its page image with the quote boxed when ``file`` is
    a PDF or an image (``indexed_file``), else (or when that fails) the section of text around it."""
    locations = metadata.get("locations") or []
    location = location_of(locations, start, end)
    base = dict(doc_id=doc_id, title=str(metadata.get("title") or doc_id), quote=text[start:end],
                location=location)
    kind = SUPPORTED.get(Path(doc_id).suffix.lower())
    if kind != "pdf" and kind not in IMAGE_KINDS:
        return section_view(text, locations, start, end, **base)
    if file is None:
        if metadata.get("attached_to"):
            notice = f"an attachment of {metadata['attached_to']}: its pages are not kept, so its text is shown"
        else:
            notice = f"{doc_id} is no longer in the documents folder (moved or deleted); {REINDEX}"
        return section_view(text, locations, start, end, notice=notice, **base)
    page = int(location.get("page", 1))
    try:
        if kind == "pdf":
            return pdf_view(file, text, metadata, start, end, page, base)
        return image_view(file, metadata, start, end, page, base)
    except PageError as exc:
        return section_view(text, locations, start, end, notice=str(exc), **base)


class PageError(Exception):
    """The page could not be shown (one line, why); the section view is shown instead."""


# ------------------------------------------------------------------ files


def indexed_file(doc_id: str, docs_dir: str | Path, uploads_dir: str | Path | None = None,
                 follow_links: bool = False) -> Path | None:
    """The file a document was read from: ``docs_dir / doc_id``, else for ``uploads/NAME`` the uploaded
    ``uploads_dir / NAME`` (the order indexing gives them).

    ``None`` when there is no such file (moved, deleted, an e-mail's attachment) or when the id would
    leave its folder (``..``, an absolute path, a link to outside: followed in the documents folder only
    with ``follow_links``, as indexing did).
    """
    parts = doc_id.split("/")
    if not doc_id or any(p in ("", ".", "..") or "\\" in p or "\x00" in p for p in parts):
        return None
    places = [(Path(docs_dir), parts, follow_links)]
    if uploads_dir is not None and parts[0] == UPLOADS and len(parts) > 1:
        places.append((Path(uploads_dir), parts[1:], False))
    for folder, rel, follow in places:
        path = Path(folder, *rel)
        try:
            real, top = path.resolve(), folder.resolve()
        except (OSError, RuntimeError):  # a link loop
            continue
        if (follow or top in real.parents) and real.is_file():
            return path
    return None


# ------------------------------------------------------------------ PDF pages


def pdf_view(file: Path, text: str, metadata: Mapping[str, Any], start: int, end: int, page: int,
             base: dict[str, Any]) -> PageView:
    """The PDF page holding ``text[start]``, the quote's part on that page boxed."""
    rendered = render_pdf_page(file, page, metadata.get("pages"))
    lo, hi = page_span(metadata.get("locations") or [], page, len(text))
    q_start, q_end = max(start, lo), min(end, hi)
    notice = ""
    scanned = str(page) in (metadata.get("ocr_words") or {})
    if scanned:  # OCR boxes are pixels of the page rendered at ocr_dpi
        factor = rendered.scale * 72 / float(metadata.get("ocr_dpi") or 300)
        rects = word_rects(metadata["ocr_words"][str(page)], q_start, q_end, factor)
        boxes = line_boxes(rects, rendered.width, rendered.height)
    else:
        found = align(text[lo:hi], q_start - lo, q_end - lo, "".join(c for c, _ in rendered.chars))
        rects = [rendered.chars[i][1] for i in found]
        boxes = line_boxes(rects, rendered.width, rendered.height, rendered.to_image)
    if not rects:
        how = "read on the scan" if scanned else "found in the page's text layer"
        notice = f"the quoted words were not {how}; if {base['doc_id']} changed since it was indexed, {REINDEX}"
    if end > hi and not notice:
        notice = f"the quote continues on p. {base['location'].get('page_end', page + 1)}"
    return PageView(**base, page=page, image=rendered.png, width=rendered.width, height=rendered.height,
                    boxes=tuple(boxes), notice=notice)


def render_pdf_page(file: Path, page: int, pages: Any = None) -> RenderedPage:
    """Page ``page`` (from 1) of ``file`` rendered, from a bounded cache keyed by the file's size and time."""
    try:
        stat = file.stat()
    except OSError as exc:
        raise PageError(f"cannot read {file.name} ({exc.strerror}); {REINDEX}") from None
    return cached_pdf_page(str(file), stat.st_mtime_ns, stat.st_size, page, int(pages or 0))


@lru_cache(maxsize=CACHED_PAGES)
def cached_pdf_page(path: str, mtime_ns: int, size: int, page: int, pages: int) -> RenderedPage:
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    with PDFIUM_LOCK:  # the app serves sessions from several threads; pdfium takes one at a time
        try:
            pdf = pdfium.PdfDocument(path)
        except pdfium.PdfiumError as exc:
            raise PageError(f"cannot open {Path(path).name} as a PDF any more ({exc}); {REINDEX}") from None
        try:
            if (pages and len(pdf) != pages) or not 1 <= page <= len(pdf):
                raise PageError(f"{Path(path).name} has {counted(len(pdf), 'page')} now, not the {pages or page} it "
                                f"had when it was indexed; {REINDEX}")
            handle = pdf[page - 1]
            width, height = handle.get_size()
            scale = min(PAGE_DPI / 72, MAX_SIDE / max(width, height, 1))
            image = handle.render(scale=scale).to_pil()
            to_image = page_to_image(raw, handle, image.size)
            textpage = handle.get_textpage()
            chars = []
            for i in range(textpage.count_chars()):
                left, bottom, right, top = textpage.get_charbox(i, loose=True)
                chars.append((chr(raw.FPDFText_GetUnicode(textpage, i)), (left, -top, right, -bottom)))
            textpage.close()
            handle.close()
        finally:
            pdf.close()
    return RenderedPage(png_of(image), image.size[0], image.size[1], scale, tuple(chars), to_image)


def png_of(image: Any) -> bytes:
    """A PIL image as PNG, in grey when it has no colour: a text page is half the bytes and encodes in a
    third of the time (measured on an A4 page of text: 174 KB in 20 ms against 385 KB in 64 ms)."""
    from PIL import ImageChops

    if image.mode == "RGB":
        red, green, blue = image.split()
        if not ImageChops.difference(red, green).getbbox() and not ImageChops.difference(green, blue).getbbox():
            image = red
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def page_to_image(raw: Any, page: Any, size: tuple[int, int]) -> Affine:
    """The map from PDF points (x, -y) to image pixels, as pdfium renders the page (crop box, rotation)."""
    def device(x: float, y: float) -> tuple[int, int]:
        dx, dy = ctypes.c_int(), ctypes.c_int()
        raw.FPDF_PageToDevice(page, 0, 0, size[0] * 16, size[1] * 16, 0, ctypes.c_double(x), ctypes.c_double(y),
                              dx, dy)
        return dx.value / 16, dy.value / 16  # 16x the size: sixteenth-pixel precision from pdfium's integers

    (ox, oy), (ax, ay), (bx, by) = device(0, 0), device(1000, 0), device(0, -1000)  # an affine map: 3 points
    return (ox, oy, (ax - ox) / 1000, (ay - oy) / 1000, (bx - ox) / 1000, (by - oy) / 1000)


def page_span(locations: Sequence[Sequence[Any]], page: int, length: int) -> tuple[int, int]:
    """Where page ``page``'s text starts and ends in the document's text."""
    entries = [(int(offset), location) for offset, location in locations]
    for i, (offset, location) in enumerate(entries):
        if location.get("page") == page:
            return offset, entries[i + 1][0] if i + 1 < len(entries) else length
    return 0, length


def letters(text: str) -> tuple[str, list[int]]:
    """``text`` as compared with a page's text layer: white space and hyphens dropped, ligatures and other
    compatibility forms expanded (NFKC), case folded; and, for each letter kept, its index in ``text``."""
    out, where = [], []
    for i, char in enumerate(text):
        if char.isspace() or char in HYPHENS:
            continue
        for c in unicodedata.normalize("NFKC", char).casefold():
            if not c.isspace() and c not in HYPHENS:
                out.append(c)
                where.append(i)
    return "".join(out), where


def align(page_text: str, start: int, end: int, chars: str) -> list[int]:
    """Indexes into ``chars`` (a page's text layer, one character per pdfium character) of the characters
    of ``page_text[start:end]`` (the page's cleaned text), compared by their ``letters``.

    The same occurrence of the quote when the layer has it whole; else the quote's pieces wherever the
    layer has them (pdfium may read a rotated page's or a table's lines in another order than pypdf),
    when they make up most of the quote; else [].
    """
    mine, mine_at = letters(page_text)
    theirs, theirs_at = letters(chars)
    a = next((k for k, i in enumerate(mine_at) if i >= start), len(mine))
    b = next((k for k, i in enumerate(mine_at) if i >= end), len(mine))
    quote = mine[a:b]
    if not quote:
        return []
    before = count(mine, quote, a)  # the quote may be on the page more than once: take the same one
    spots = occurrences(theirs, quote)
    if spots:
        at = spots[min(before, len(spots) - 1)]
        return sorted({theirs_at[k] for k in range(at, at + len(quote))})
    return sorted({theirs_at[j] for j in pieces(quote, theirs).values()})


def pieces(quote: str, theirs: str) -> dict[int, int]:
    """Letters of ``quote`` paired with letters of ``theirs``: the longest common piece first, then the
    longest in what is left on either side of it, down to ``MIN_PIECE`` letters; then, when those make up
    most of the quote, a few letters read differently ("ferrv" for "ferry") beside a piece take the page's
    letters beside it."""
    matcher = difflib.SequenceMatcher(None, quote, theirs, autojunk=False)
    paired: dict[int, int] = {}
    todo = [(0, len(quote))]
    while todo:
        lo, hi = todo.pop()
        found = matcher.find_longest_match(lo, hi, 0, len(theirs))
        if found.size >= MIN_PIECE:
            paired.update((found.a + k, found.b + k) for k in range(found.size))
            todo += [(lo, found.a), (found.a + found.size, hi)]
    if len(paired) < MIN_MATCHED * len(quote):
        return {}
    used = set(paired.values())
    for order, step in ((range(len(quote)), 1), (range(len(quote) - 1, -1, -1), -1)):
        run = 0
        for i in order:
            j = paired.get(i - step, -2) + step
            if i in paired:
                run = 0
            elif i - step in paired and run < 2 * MIN_PIECE and 0 <= j < len(theirs) and j not in used:
                paired[i], run = j, run + 1
                used.add(j)
    return paired


def count(text: str, part: str, before: int) -> int:
    """How many times ``part`` starts in ``text`` before ``before``."""
    return sum(1 for at in occurrences(text, part) if at < before)


def occurrences(text: str, part: str) -> list[int]:
    found, at = [], text.find(part)
    while at >= 0:
        found.append(at)
        at = text.find(part, at + 1)
    return found


def line_boxes(rects: Sequence[Rect], width: int, height: int, to_image: Affine = IDENTITY) -> list[Box]:
    """Character or word rectangles in reading order merged into one per printed line (a new one where the
    next is not beside the last: another line, or a gap wider than three letters), then mapped to boxes in
    image pixels (a rotated page's lines run down the image)."""
    lines: list[list[float]] = []
    for left, top, right, bottom in rects:
        if right <= left or bottom <= top:
            continue
        if lines:
            line = lines[-1]
            tall = min(bottom - top, line[3] - line[1])
            overlap = min(bottom, line[3]) - max(top, line[1])
            if overlap >= 0.5 * tall and line[0] - tall <= left <= line[2] + 3 * tall:
                line[:] = [min(line[0], left), min(line[1], top), max(line[2], right), max(line[3], bottom)]
                continue
        lines.append([left, top, right, bottom])
    ox, oy, xx, xy, yx, yy = to_image
    out = []
    for left, top, right, bottom in lines:
        corners = [(ox + xx * x + yx * y, oy + xy * x + yy * y) for x, y in ((left, top), (right, bottom))]
        x0, y0 = max(0, int(min(x for x, _ in corners)) - 1), max(0, int(min(y for _, y in corners)) - 1)
        x1 = min(width, int(max(x for x, _ in corners) + 0.999) + 1)
        y1 = min(height, int(max(y for _, y in corners) + 0.999) + 1)
        out.append((x0, y0, x1 - x0, y1 - y0))
    return out


def word_rects(words: Sequence[Sequence[int]], start: int, end: int, factor: float) -> list[Rect]:
    """The rectangles, scaled by ``factor``, of the OCR words ``[start, end, left, top, width, height]``
    that overlap ``[start, end)``."""
    return [(left * factor, top * factor, (left + w) * factor, (top + h) * factor)
            for s, e, left, top, w, h in words if s < end and e > start]


# ------------------------------------------------------------------ images


def image_view(file: Path, metadata: Mapping[str, Any], start: int, end: int, page: int,
               base: dict[str, Any]) -> PageView:
    """An image file (the frame ``page`` of a multi-page TIFF) with the quote's OCR words boxed."""
    try:
        stat = file.stat()
    except OSError as exc:
        raise PageError(f"cannot read {file.name} ({exc.strerror}); {REINDEX}") from None
    png, width, height, factor = cached_image(str(file), stat.st_mtime_ns, stat.st_size, page)
    rects = word_rects((metadata.get("ocr_words") or {}).get(str(page), []), start, end, factor)
    notice = "" if rects else ("the quoted words were not read on the image; if it changed since it was indexed, "
                               f"{REINDEX}")
    return PageView(**base, page=page, image=png, width=width, height=height,
                    boxes=tuple(line_boxes(rects, width, height)), notice=notice)


@lru_cache(maxsize=CACHED_PAGES)
def cached_image(path: str, mtime_ns: int, size: int, page: int) -> tuple[bytes, int, int, float]:
    """(PNG, width, height, scale from the file's pixels): browsers show PNG, not TIFF."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.seek(page - 1)
            frame = image.convert("L" if image.mode in ("1", "L", "I;16") else "RGB")
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, EOFError, ValueError) as exc:
        problem = ("its image format is not recognised" if isinstance(exc, UnidentifiedImageError) else
                   "it is too large to show" if isinstance(exc, Image.DecompressionBombError) else
                   "it is damaged or cut short")
        raise PageError(f"cannot open {Path(path).name} as an image any more ({problem}); {REINDEX}") from None
    factor = min(1.0, MAX_SIDE / max(frame.size))
    if factor < 1:
        frame = frame.resize((round(frame.size[0] * factor), round(frame.size[1] * factor)))
    return png_of(frame), frame.size[0], frame.size[1], factor


# ------------------------------------------------------------------ text


def section_view(text: str, locations: Sequence[Sequence[Any]], start: int, end: int, notice: str = "",
                 **base: Any) -> PageView:
    """The quote inside its section (the page, slide, sheet or chapter it is in; for a document without
    sections, the paragraphs around it), at most ``SECTION_CHARS`` each side, cut between paragraphs or
    lines where it can be, else between words."""
    lo_bound, hi_bound = section_bounds(locations, start, end, len(text))
    lo, hi = max(lo_bound, start - SECTION_CHARS), min(hi_bound, end + SECTION_CHARS)
    if lo > lo_bound:
        lo = next((at + len(sep) for sep in ("\n\n", "\n", " ") for at in [text.find(sep, lo, start)] if at >= 0), lo)
    if hi < hi_bound:
        hi = next((at for sep in ("\n\n", "\n", " ") for at in [text.rfind(sep, end, hi)] if at >= 0), hi)
    before, after = text[lo:start].lstrip(), text[end:hi].rstrip()
    return PageView(**base, page=int(base.get("location", {}).get("page", 0)), before=before, after=after,
                    clipped_before=lo > lo_bound, clipped_after=hi < hi_bound, notice=notice)


def section_bounds(locations: Sequence[Sequence[Any]], start: int, end: int, length: int) -> tuple[int, int]:
    """Where the located sections holding ``[start, end)`` begin and end (the whole text without any)."""
    offsets = [int(entry[0]) for entry in locations]
    lo = max((o for o in offsets if o <= start), default=0)
    hi = min((o for o in offsets if o >= max(end, start + 1)), default=length)
    return lo, hi


def clear_cache() -> None:
    """Forget every rendered page (tests; a long-running app keeps at most ``CACHED_PAGES`` of each kind)."""
    cached_pdf_page.cache_clear()
    cached_image.cache_clear()

