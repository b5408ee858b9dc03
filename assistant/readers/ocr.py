"""Optical character recognition with Debian's tesseract (through pytesseract): scanned PDF pages and
image files (.png .jpg .jpeg .tif .tiff).

Tesseract is a system program and its English model comes with the ``tesseract-ocr-eng`` package, so
nothing is downloaded at run time. Without it, scanned pages and images are skipped with one line that
says how to install it; everything else is indexed.
"""

from __future__ import annotations

import io
import shutil
import threading
import warnings
from functools import lru_cache

from ..errors import DocumentError
from .base import Reading, TextBuilder
from .cleaning import clean_page_lines, normalise_ligatures

MISSING = ("tesseract is not installed; install tesseract-ocr (apt install tesseract-ocr tesseract-ocr-eng) "
           "and the ocr extra (pip install 'doc-assistant[ocr]') to read scanned pages and images")
LANGUAGE = "eng"
RENDER_DPI = 300  # tesseract's documented sweet spot; 150 dpi lost words of 10-point text in our tests
# pdfium is not thread-safe: indexing an upload and showing a page (assistant/pages.py) take turns.
PDFIUM_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def ocr_problem() -> str:
    """Why OCR cannot run here ('' when it can)."""
    try:
        import pytesseract
    except ImportError:
        return MISSING
    if shutil.which(pytesseract.pytesseract.tesseract_cmd) is None:
        return MISSING
    try:
        languages = pytesseract.get_languages(config="")
    except Exception:  # a broken install: the program exists but does not run
        return MISSING
    if LANGUAGE not in languages:
        return f"tesseract has no English model; install tesseract-ocr-eng (apt) to read scanned pages and images"
    return ""


Box = tuple[int, int, int, int]  # left, top, width, height in the image's pixels


def recognise(image) -> tuple[list[str], list[list[tuple[str, Box]]]]:
    """The lines tesseract reads in one PIL image ('' between paragraphs), and each line's words with boxes."""
    import pytesseract

    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    try:
        data = pytesseract.image_to_data(image, lang=LANGUAGE, output_type=pytesseract.Output.DICT)
    except pytesseract.TesseractError as exc:
        raise DocumentError(f"OCR failed ({' '.join(str(exc.message).split())[:120]})") from None
    lines: list[str] = []
    words: list[list[tuple[str, Box]]] = []
    current, paragraph = None, None
    for i, word in enumerate(data["text"]):
        word = normalise_ligatures(" ".join(str(word).split()))
        if not word:
            continue
        line_key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
        if line_key != current:
            if paragraph is not None and line_key[:2] != paragraph:
                lines.append("")
                words.append([])
            current, paragraph = line_key, line_key[:2]
            lines.append("")
            words.append([])
        box = (int(data["left"][i]), int(data["top"][i]), int(data["width"][i]), int(data["height"][i]))
        lines[-1] = f"{lines[-1]} {word}" if lines[-1] else word
        words[-1].append((word, box))
    return lines, words


def word_boxes(page: str, offset: int, starts: list[int | None],
               words: list[list[tuple[str, Box]]]) -> list[list[int]]:
    """[start, end, left, top, width, height] of each OCR word of a page, in document offsets (the page's
    cleaned text ``page`` starts at ``offset``), for highlighting a quote on the page image. Words the
    cleaning dropped (running headers) have none; a word whose line-end hyphen was removed ends before it."""
    out = []
    for start, line in zip(starts, words):
        if start is None:
            continue
        at = start
        for word, (left, top, width, height) in line:
            end = at + len(word)
            if page[at:end] != word and word.endswith("-") and page[at:end - 1] == word[:-1]:
                end -= 1
            if page[at:end] == word[:end - at]:
                out.append([offset + at, offset + end, left, top, width, height])
            at += len(word) + 1
    return out


def read_image(raw: bytes) -> Reading:
    """An image file's text by OCR; each frame of a multi-page TIFF is a page."""
    from PIL import Image, ImageSequence, UnidentifiedImageError

    try:
        with warnings.catch_warnings():  # a broken file's warnings ("Corrupt EXIF data") end in the error below
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(raw))
            frames = [frame.copy() for frame in ImageSequence.Iterator(image)]
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError) as exc:
        reason = "cannot identify the image format" if isinstance(exc, UnidentifiedImageError) else \
            " ".join(str(exc).split())[:120]
        raise DocumentError(f"not a readable image ({reason}); re-export it as PNG or JPEG") from None
    problem = ocr_problem()
    if problem:
        raise DocumentError(problem)
    read = [recognise(frame) for frame in frames]
    builder = TextBuilder()
    boxes: dict[str, list[list[int]]] = {}
    for number, ((text, starts), (_, words)) in enumerate(zip(clean_page_lines([lines for lines, _ in read]), read),
                                                        start=1):
        offset = builder.length + (len(builder.separator) if builder.parts else 0)
        builder.add(text, {"page": number} if len(frames) > 1 else None)
        if text:
            boxes[str(number)] = word_boxes(text, offset, starts, words)
    if not builder.text:
        raise DocumentError("OCR found no text in the image")
    return builder.reading({"ocr": True, "ocr_words": boxes})


def render_pages(raw: bytes, numbers: list[int]) -> dict[int, object]:
    """PDF pages (0-based) rendered as PIL images at ``RENDER_DPI`` with pypdfium2."""
    import pypdfium2 as pdfium

    try:
        with PDFIUM_LOCK:
            pdf = pdfium.PdfDocument(raw)
            try:
                return {n: pdf[n].render(scale=RENDER_DPI / 72).to_pil() for n in numbers}
            finally:
                pdf.close()
    except pdfium.PdfiumError as exc:
        raise DocumentError(f"cannot render the scanned pages for OCR ({exc}); re-export the PDF") from None
