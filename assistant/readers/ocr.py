"""Optical character recognition with Debian's tesseract (through pytesseract): scanned PDF pages and
image files (.png .jpg .jpeg .tif .tiff).

Tesseract is a system program and its English model comes with the ``tesseract-ocr-eng`` package, so
nothing is downloaded at run time. Without it, scanned pages and images are skipped with one line that
says how to install it; everything else is indexed.
"""

from __future__ import annotations

import io
import shutil
import warnings
from functools import lru_cache

from ..errors import DocumentError
from .base import Reading, TextBuilder
from .cleaning import clean_pages

MISSING = ("tesseract is not installed; install tesseract-ocr (apt install tesseract-ocr tesseract-ocr-eng) "
           "and the ocr extra (pip install 'doc-assistant[ocr]') to read scanned pages and images")
LANGUAGE = "eng"
RENDER_DPI = 300  # tesseract's documented sweet spot; 150 dpi lost words of 10-point text in our tests


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


def recognise(image) -> str:
    """The text tesseract reads in one PIL image, its lines as tesseract found them."""
    import pytesseract

    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    try:
        return pytesseract.image_to_string(image, lang=LANGUAGE)
    except pytesseract.TesseractError as exc:
        raise DocumentError(f"OCR failed ({' '.join(str(exc.message).split())[:120]})") from None


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
    pages = clean_pages([recognise(frame) for frame in frames])
    builder = TextBuilder()
    for number, text in enumerate(pages, start=1):
        builder.add(text, {"page": number} if len(frames) > 1 else None)
    if not builder.text:
        raise DocumentError("OCR found no text in the image")
    return builder.reading({"ocr": True})


def render_pages(raw: bytes, numbers: list[int]) -> dict[int, object]:
    """PDF pages (0-based) rendered as PIL images at ``RENDER_DPI`` with pypdfium2."""
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(raw)
        try:
            return {n: pdf[n].render(scale=RENDER_DPI / 72).to_pil() for n in numbers}
        finally:
            pdf.close()
    except pdfium.PdfiumError as exc:
        raise DocumentError(f"cannot render the scanned pages for OCR ({exc}); re-export the PDF") from None
