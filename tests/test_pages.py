"""The cited page as people saw it (assistant/pages.py): the cleaned text aligned with a PDF's text layer,
boxes over the quoted words on PDFs written by fpdf2 where the words' positions are known, scans read by
the real tesseract, images, the section view of other formats, and which files may be opened at all.

OCR tests fail, never skip, without tesseract (install: apt install tesseract-ocr tesseract-ocr-eng).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from assistant import Assistant, PageView
from assistant.documents import load_document
from assistant.errors import DocumentError
from assistant.pages import PAGE_DPI, SECTION_CHARS, align, clear_cache, indexed_file, line_boxes, page_view
from assistant.readers.ocr import ocr_problem
from gold.make_mixed import page_image, write_image, write_scanned_pdf

PX_PER_MM = PAGE_DPI / 25.4  # the page image's pixels per millimetre of the page
LEFT_MM, TOP_MM, LINE_MM, FONT_PT = 10.0, 30.0, 7.0, 12  # where harbour_pdf prints each page's body lines
PAGES = [
    ["The harbour board collected infor-", "mation about every ferry that called at",
     "the north quay during the year."],
    ["Fees rose by a tenth in May, and the", "board spent the money on a new crane.", "The board met in May."],
    ["The crane arrived in October and was", "working by the first of November."],
]


@pytest.fixture(autouse=True)
def fresh_cache():
    clear_cache()  # a file rewritten within the same clock tick must not be served from the cache
    yield
    clear_cache()


def harbour_pdf(path: Path, pages: list[list[str]] = PAGES) -> Path:
    """Pages of printed lines at known places, with a running header and a page number on each page."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_auto_page_break(False)
    for number, lines in enumerate(pages, start=1):
        pdf.add_page()
        pdf.set_font("Helvetica", size=9)
        pdf.cell(0, 6, "Harbour Annual Report 2023", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=FONT_PT)
        pdf.set_y(TOP_MM)
        for line in lines:
            pdf.cell(0, LINE_MM, line, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=9)
        pdf.set_y(-20)
        pdf.cell(0, 6, f"Page {number} of {len(pages)}", align="C")
    path.write_bytes(bytes(pdf.output()))
    return path


def word_rect(line: int, prefix: str, words: str) -> tuple[float, float, float, float]:
    """Where fpdf2 printed ``words`` after ``prefix`` on body line ``line`` (from 0), in image pixels."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=FONT_PT)
    left = LEFT_MM + pdf.c_margin + pdf.get_string_width(prefix)
    top = TOP_MM + line * LINE_MM
    return (left * PX_PER_MM, top * PX_PER_MM, (left + pdf.get_string_width(words)) * PX_PER_MM,
            (top + LINE_MM) * PX_PER_MM)


def view_of(path: Path, quote: str, doc_id: str | None = None, nth: int = 0) -> PageView:
    doc = load_document(path)
    start = -1
    for _ in range(nth + 1):
        start = doc.text.index(quote, start + 1)
    return page_view(doc_id or path.name, doc.text, doc.metadata, start, start + len(quote), path)


def assert_covers(box: tuple[int, int, int, int], rect: tuple[float, float, float, float], slack: float = 4) -> None:
    """The box spans the words' rectangle from end to end and stays within its printed line."""
    left, top, width, height = box
    x0, y0, x1, y1 = rect
    assert abs(left - x0) <= slack and abs(left + width - x1) <= slack, (box, rect)
    assert y0 - slack <= top and top + height <= y1 + slack and height >= 0.5 * (y1 - y0), (box, rect)


# ------------------------------------------------------------------ aligning the cleaned text with the text layer


def test_the_cleaned_text_maps_to_the_page_characters_across_hyphens_ligatures_and_dropped_headers():
    layer = ("Harbour Annual Report 2023\r\nThe board collected infor\x02mation on every \ufb01eld\r\n"
             "and every e\ufb03cient ferry.\r\nPage 1 of 3")
    cleaned = "The board collected information on every field and every efficient ferry."
    quote = "information on every field and every efficient"
    start = cleaned.index(quote)
    found = align(cleaned, start, start + len(quote), layer)
    # every letter of the quote, on the page's own characters: the line-end hyphen and the header left out
    assert "".join(layer[i] for i in found) == "informationonevery\ufb01eldandeverye\ufb03cient"
    assert layer[found[0]:found[-1] + 1] == "infor\x02mation on every \ufb01eld\r\nand every e\ufb03cient"


def test_a_quote_that_is_on_the_page_twice_is_boxed_where_the_citation_points():
    layer = "The board met in May.\r\nFees rose.\r\nThe board met in May."
    cleaned = "The board met in May.\nFees rose.\nThe board met in May."
    second = cleaned.rindex("board met")
    found = align(cleaned, second, second + len("board met"), layer)
    assert (found[0], found[-1]) == (layer.rindex("board"), layer.rindex("met") + 2)
    first = cleaned.index("board met")
    assert align(cleaned, first, first + len("board met"), layer)[0] == layer.index("board")


def test_a_text_layer_that_differs_a_little_still_aligns_and_one_that_does_not_gives_no_boxes():
    cleaned = "The harbour board collected information about every ferry that called at the quay."
    layer = "The harbour board col1ected information about every ferrv that called at the quay."  # two misread
    start = cleaned.index("collected")
    found = align(cleaned, start, cleaned.index(" that"), layer)
    assert layer[found[0]:found[-1] + 1] == "col1ected information about every ferrv"
    assert align(cleaned, start, cleaned.index(" that"), "Something else altogether.") == []


def test_characters_merge_into_one_box_per_printed_line():
    chars = [(10, 10, 18, 30), (18, 10, 26, 30), (30, 11, 38, 29),  # one line
             (10, 40, 18, 60), (18, 40, 26, 60),  # the next line
             (400, 40, 408, 60)]  # far along the same line: another column
    assert line_boxes(chars, 1000, 1000) == [(9, 9, 30, 22), (9, 39, 18, 22), (399, 39, 10, 22)]


# ------------------------------------------------------------------ PDF pages with a text layer


def test_a_pdf_page_is_rendered_with_the_quoted_words_boxed_across_a_hyphenated_line_break(tmp_path):
    path = harbour_pdf(tmp_path / "harbour.pdf")
    doc = load_document(path)
    assert doc.text.startswith("The harbour board collected information about every ferry")  # cleaned
    view = view_of(path, "collected information about every ferry")
    assert (view.kind, view.page, view.where, view.notice) == ("page", 1, "p. 1", "")
    assert view.image.startswith(b"\x89PNG") and (view.width, view.height) == (1191, 1684)  # A4 at 144 dpi
    first, second = view.boxes
    assert_covers(first, word_rect(0, "The harbour board ", "collected infor"))
    assert_covers(second, word_rect(1, "", "mation about every ferry"))


def test_the_page_of_the_quote_is_shown_and_the_running_header_is_never_boxed(tmp_path):
    path = harbour_pdf(tmp_path / "harbour.pdf")
    view = view_of(path, "board spent the money")
    assert view.page == 2
    [box] = view.boxes
    assert_covers(box, word_rect(1, "", "board spent the money"))
    header_bottom = (10 + 6) * PX_PER_MM  # the header's cell ends 16 mm from the top
    assert box[1] > header_bottom


def test_the_second_of_two_equal_sentences_is_boxed_on_its_own_line(tmp_path):
    path = harbour_pdf(tmp_path / "harbour.pdf", [["The board met in May.", "Fees rose.", "The board met in May."]])
    [box] = view_of(path, "The board met in May.", nth=1).boxes
    assert_covers(box, word_rect(2, "", "The board met in May."))


def test_a_quote_running_onto_the_next_page_is_boxed_on_its_first_page_and_says_so(tmp_path):
    path = harbour_pdf(tmp_path / "harbour.pdf")
    view = view_of(path, "the north quay during the year.\n\nFees rose")
    assert (view.page, view.notice) == (1, "the quote continues on p. 2")
    [box] = view.boxes
    assert_covers(box, word_rect(2, "", "the north quay during the year."))


def test_a_rotated_page_is_boxed_where_its_words_are_shown(tmp_path):
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(harbour_pdf(tmp_path / "upright.pdf")))
    for page in writer.pages:
        page.rotate(90)  # shown turned clockwise: a printed line runs down the image
    path = tmp_path / "turned.pdf"
    writer.write(path)
    view = view_of(path, "collected information about every ferry")
    assert (view.width, view.height, view.notice) == (1684, 1191, "")

    def turned(rect: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        """A rectangle of the upright page where the turned page shows it, then read along the line
        (top to bottom) as assert_covers reads a line (left to right)."""
        x0, y0, x1, y1 = rect
        return x0, 1684 - y1, x1, 1684 - y0

    first, second = sorted(view.boxes, key=lambda box: -box[0])  # the first line is the rightmost column
    for (left, top, width, height), line, prefix, words in [
            (first, 0, "The harbour board ", "collected infor"), (second, 1, "", "mation about every ferry")]:
        assert_covers((top, left, height, width), turned(word_rect(line, prefix, words)))


def test_a_rendered_page_is_cached_until_its_file_changes(tmp_path):
    path = harbour_pdf(tmp_path / "harbour.pdf")
    first = view_of(path, "board spent the money")
    assert view_of(path, "board spent the money").image is first.image  # the same bytes: not rendered again
    before = path.stat().st_mtime_ns
    harbour_pdf(path, [PAGES[1], PAGES[0], PAGES[2]])  # rewritten with its pages swapped
    os.utime(path, ns=(before + 10**9, before + 10**9))  # a second later, even where the clock is coarse
    moved = view_of(path, "board spent the money")
    assert (moved.page, len(moved.boxes)) == (1, 1) and moved.image != first.image


# ------------------------------------------------------------------ scans and images (real tesseract)


def requires_tesseract() -> None:
    assert ocr_problem() == "", f"OCR tests need tesseract: {ocr_problem()}"


def scan_rect(lines: list[str], line: int, prefix: str, words: str, factor: float) -> tuple[float, ...]:
    """Where page_image drew ``words`` after ``prefix`` on its line ``line``, scaled by ``factor``."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=44)
    draw = ImageDraw.Draw(Image.new("L", (10, 10)))
    y = 150 + line * int(44 * 1.6)
    left = 140 + draw.textlength(prefix, font=font)
    _, top, _, bottom = draw.textbbox((140, y), lines[line], font=font)
    return (left * factor, top * factor, (left + draw.textlength(words, font=font)) * factor, bottom * factor)


def test_a_scanned_page_is_boxed_from_its_ocr_words(tmp_path):
    requires_tesseract()
    pages = [["Town of Fenwick Licensing Office"],
             ["The Fenwick bakery may open on Sundays.", "This permit expires on 30 April 2027."]]
    path = write_scanned_pdf(tmp_path / "permit.pdf", pages)
    view = view_of(path, "expires on 30 April 2027")
    assert (view.kind, view.page, view.notice) == ("page", 2, "")
    assert (view.width, view.height) == (1224, 1584)  # 1700 x 2200 px scanned at 200 dpi, shown at 144 dpi
    [box] = view.boxes
    # tesseract's word boxes hug the ink; the quote's last word is "2027." with its full stop
    assert_covers(box, scan_rect(pages[1], 1, "This permit ", "expires on 30 April 2027.", 144 / 200), slack=6)


def test_an_image_is_shown_with_its_ocr_words_boxed(tmp_path):
    requires_tesseract()
    lines = ["The library closes at noon on Saturdays."]
    path = write_image(tmp_path / "notice.png", lines)
    view = view_of(path, "noon on Saturdays")
    assert (view.kind, view.page, view.width, view.height, view.notice) == ("page", 1, 1700, 600, "")
    [box] = view.boxes
    assert_covers(box, scan_rect(lines, 0, "The library closes at ", "noon on Saturdays.", 1.0), slack=6)


def test_a_multi_page_tiff_shows_the_frame_of_the_quote(tmp_path):
    requires_tesseract()
    first, second = page_image(["The ferry leaves at seven."]), page_image(["The ferry returns at nine."])
    first.save(tmp_path / "timetable.tif", save_all=True, append_images=[second])
    view = view_of(tmp_path / "timetable.tif", "returns at nine")
    assert (view.page, view.where, view.image[:4], view.width, view.height) == (2, "p. 2", b"\x89PNG", 1700, 2200)
    [box] = view.boxes
    assert_covers(box, scan_rect(["The ferry returns at nine."], 0, "The ferry ", "returns at nine.", 1.0), slack=6)


# ------------------------------------------------------------------ other formats: the section around the quote


def test_other_formats_show_the_quote_inside_its_section(tmp_path):
    text = "# Fees\nFees rose by a tenth.\n\n# Crane\nThe crane arrived in October.\nIt worked by November."
    crane = text.index("# Crane")
    metadata = {"title": "Harbour notes", "locations": [[0, {"section": "Fees"}], [crane, {"section": "Crane"}]]}
    start = text.index("arrived")
    view = page_view("notes.md", text, metadata, start, start + len("arrived in October"), None)
    assert (view.kind, view.where, view.image, view.notice) == ("section", "\u201cCrane\u201d", b"", "")
    assert (view.before, view.quote, view.after) == ("# Crane\nThe crane ", "arrived in October",
                                                     ".\nIt worked by November.")
    assert not view.clipped_before and not view.clipped_after


def test_a_long_section_is_cut_between_paragraphs_and_the_quote_kept_exact(tmp_path):
    paragraphs = [f"Paragraph {n} <b>&amp; " + "word " * 60 for n in range(40)]
    text = "\n\n".join(p.strip() for p in paragraphs)
    start = text.index("Paragraph 20")
    view = page_view("long.txt", text, {}, start, start + 30, None)
    assert view.quote == text[start:start + 30] and view.clipped_before and view.clipped_after
    assert text.index(view.before + view.quote + view.after) >= 0
    assert view.before.startswith("Paragraph ") and view.after.endswith("word")
    assert len(view.before) <= SECTION_CHARS and len(view.after) <= SECTION_CHARS + 30


def test_a_pdf_whose_file_is_gone_shows_its_page_text_and_says_to_index_again(tmp_path):
    path = harbour_pdf(tmp_path / "harbour.pdf")
    doc = load_document(path)
    start = doc.text.index("board spent")
    view = page_view("harbour.pdf", doc.text, doc.metadata, start, start + 11, None)
    assert (view.kind, view.page, view.where) == ("section", 2, "p. 2")
    assert view.notice == ("harbour.pdf is no longer in the documents folder (moved or deleted); "
                           "run `assistant index` (or re-upload it) to index it again")
    assert view.before + view.quote + view.after == "Fees rose by a tenth in May, and the board spent the money " \
                                                     "on a new crane.\nThe board met in May."


def test_a_pdf_that_changed_since_indexing_says_so(tmp_path):
    path = harbour_pdf(tmp_path / "harbour.pdf")
    doc = load_document(path)
    start = doc.text.index("board spent")
    harbour_pdf(path, PAGES[:2])  # a page fewer now
    view = page_view("harbour.pdf", doc.text, doc.metadata, start, start + 11, path)
    assert (view.kind, view.notice) == ("section", "harbour.pdf has 2 pages now, not the 3 it had when it was "
                                                   "indexed; run `assistant index` (or re-upload it) to index it again")
    harbour_pdf(path, [["Other words entirely."], ["Nothing of the board here."], ["Nor here."]])
    clear_cache()
    view = page_view("harbour.pdf", doc.text, doc.metadata, start, start + 21, path)
    assert (view.kind, view.page, view.boxes) == ("page", 2, ())
    assert view.notice.startswith("the quoted words were not found in the page's text layer; if harbour.pdf changed")


# ------------------------------------------------------------------ which files may be opened


def test_only_files_inside_the_indexed_folders_are_opened(tmp_path):
    docs, uploads, outside = tmp_path / "docs", tmp_path / "uploads", tmp_path / "outside"
    for folder in (docs, uploads, outside, docs / "sub"):
        folder.mkdir()
    for path in (docs / "a.pdf", docs / "sub" / "b.pdf", uploads / "c.pdf", outside / "secret.pdf"):
        path.write_bytes(b"%PDF-1.4")
    (docs / "link.pdf").symlink_to(outside / "secret.pdf")
    assert indexed_file("a.pdf", docs, uploads) == docs / "a.pdf"
    assert indexed_file("sub/b.pdf", docs, uploads) == docs / "sub" / "b.pdf"
    assert indexed_file("uploads/c.pdf", docs, uploads) == uploads / "c.pdf"
    for bad in ("../outside/secret.pdf", "/etc/passwd", "sub/../../outside/secret.pdf", "uploads/../docs/a.pdf",
                "link.pdf", "missing.pdf", "", "sub", "a.pdf\x00.txt", "..\\outside\\secret.pdf"):
        assert indexed_file(bad, docs, uploads) is None, bad
    assert indexed_file("link.pdf", docs, uploads, follow_links=True) == docs / "link.pdf"  # as indexing did


def test_the_assistant_shows_the_cited_page_and_never_a_file_a_sidecar_names(tmp_path, fake_settings):
    docs = tmp_path / "docs"
    docs.mkdir()
    harbour_pdf(docs / "harbour.pdf")
    elsewhere = harbour_pdf(tmp_path / "elsewhere.pdf")
    (docs / "harbour.meta.yaml").write_text(f"source: {elsewhere}\n", encoding="utf-8")
    bot = Assistant.from_folder(docs, settings=fake_settings)
    answer = bot.ask("When did the crane arrive?")
    [cited] = [c for c in answer.citations if "October" in c.quote]
    view = bot.page_view(cited)
    assert (view.kind, view.doc_id, view.page, view.notice, len(view.boxes)) == ("page", "harbour.pdf", 3, "", 2)
    assert bot.document_metadata("harbour.pdf")["source"] == str(elsewhere)
    (docs / "harbour.pdf").unlink()  # gone since indexing: the sidecar's source is never opened instead
    view = bot.page_view(cited)
    assert (view.kind, view.image, view.quote) == ("section", b"", cited.quote)
    assert view.notice.startswith("harbour.pdf is no longer in the documents folder")
    stale = type(cited)(**{**cited.__dict__, "quote": "something else"})
    with pytest.raises(DocumentError, match="changed or was removed since this answer; ask the question again"):
        bot.page_view(stale)


def test_an_uploaded_pdf_is_found_in_the_uploads_folder(tmp_path, fake_settings):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "note.txt").write_text("The harbour has one crane.", encoding="utf-8")
    bot = Assistant.from_folder(docs, settings=fake_settings)
    bot.uploads_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(harbour_pdf(tmp_path / "harbour.pdf"), bot.uploads_dir / "harbour.pdf")
    bot.refresh()
    answer = bot.ask("When did the crane arrive?")
    [cited] = [c for c in answer.citations if c.doc_id == "uploads/harbour.pdf" and "October" in c.quote]
    view = bot.page_view(cited)
    assert (view.kind, view.page, view.notice) == ("page", 3, "") and view.boxes
