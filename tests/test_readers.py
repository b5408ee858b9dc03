"""The format readers (assistant/readers/): Office, spreadsheets, e-mail, e-books, RTF, PDF cleaning, OCR,
locations, and the bad files that must never stop a folder being indexed.

Files are written by the same libraries users' software uses (tests/gold/make_mixed.py). OCR tests run
the real tesseract and fail, never skip, without it (install: apt install tesseract-ocr tesseract-ocr-eng).
"""

from __future__ import annotations

import datetime as dt
import io
import struct
import zipfile
from pathlib import Path

import pytest

from assistant import Assistant
from assistant.cli import format_answer
from assistant.documents import Skipped, load_document, load_documents, location_of
from assistant.errors import DocumentError
from assistant.readers import describe_location
from assistant.readers.cleaning import clean_pages, join_lines, normalise_ligatures
from assistant.readers.ocr import ocr_problem
from gold.make_mixed import (write_csv, write_docx, write_eml, write_encrypted_docx, write_epub, write_image,
                             write_pdf, write_pptx, write_scanned_pdf, write_xlsx, write_zip_bomb)

WHEN = dt.datetime(2024, 5, 14, 9, 30, tzinfo=dt.timezone.utc)


def spans(doc) -> list[tuple[str, dict]]:
    """Each located section of a document: (its text, its location)."""
    entries = doc.metadata.get("locations", [])
    ends = [offset for offset, _ in entries[1:]] + [len(doc.text)]
    return [(doc.text[offset:end].strip(), location) for (offset, location), end in zip(entries, ends)]


def requires_tesseract() -> None:
    assert ocr_problem() == "", f"OCR tests need tesseract: {ocr_problem()}"


# ------------------------------------------------------------------ Office formats


def test_docx_headings_paragraphs_table_and_properties(tmp_path):
    path = write_docx(tmp_path / "harbour.docx", "Harbour Report", [
        ("Dredging", ["The authority dredged 42,000 cubic metres of silt.", "Berth four closed for eleven days."]),
        ("Finances", ["Mooring fees rose to 38 euros."]),
    ], table=[["Vessel", "Arrivals"], ["Ferries", "1,240"]], author="Ingrid Lindqvist", created=WHEN)
    doc = load_document(path)
    assert doc.text == ("Harbour Report\n\nDredging\nThe authority dredged 42,000 cubic metres of silt.\n"
                        "Berth four closed for eleven days.\n\nFinances\nMooring fees rose to 38 euros.\n\n"
                        "Vessel: Ferries; Arrivals: 1,240.")
    assert {k: v for k, v in doc.metadata.items() if k not in ("source", "locations")} == {
        "title": "Harbour Report", "date": "2024-05-14", "file_name": "harbour.docx", "author": "Ingrid Lindqvist"}
    assert [location for _, location in spans(doc)] == [
        {"section": "Harbour Report"}, {"section": "Dredging"}, {"section": "Finances"}]
    start = doc.text.index("Mooring")
    assert location_of(doc.metadata["locations"], start, start + 10) == {"section": "Finances"}


def test_pptx_one_section_per_slide_with_title_and_notes(tmp_path):
    path = write_pptx(tmp_path / "deck.pptx", "Orchard Review", [
        ("Harvest", ["We picked 310 tonnes of apples.", "Frost cost a fifth of the pear blossom."], ""),
        ("Staff", ["Pickers worked in three shifts."], "Fourteen pickers travelled from Tartu."),
    ], author="Maris Kask")
    doc = load_document(path)
    assert spans(doc) == [
        ("Harvest\nWe picked 310 tonnes of apples.\nFrost cost a fifth of the pear blossom.", {"slide": 1}),
        ("Staff\nPickers worked in three shifts.\nFourteen pickers travelled from Tartu.", {"slide": 2}),
    ]
    assert (doc.metadata["title"], doc.metadata["author"]) == ("Orchard Review", "Maris Kask")


def test_pptx_reads_grouped_shapes_and_tables(tmp_path):
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[5])  # title only
    slide.shapes.title.text = "Fleet"
    group = slide.shapes.add_group_shape()
    group.shapes.add_textbox(Inches(1), Inches(2), Inches(4), Inches(1)).text_frame.text = "Two ferries run daily."
    table = slide.shapes.add_table(2, 2, Inches(1), Inches(4), Inches(4), Inches(1)).table
    for r, row in enumerate([["Ship", "Seats"], ["Skerry Star", "220"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    deck.save(tmp_path / "fleet.pptx")
    assert spans(load_document(tmp_path / "fleet.pptx")) == [
        ("Fleet\nTwo ferries run daily.\nShip: Skerry Star; Seats: 220.", {"slide": 1})]


def test_xlsx_rows_as_header_value_text_one_section_per_sheet(tmp_path):
    path = write_xlsx(tmp_path / "sales.xlsx", {
        "Sales": [["Region", "Revenue", "Signed"], ["Northmoor", 61200.0, dt.datetime(2024, 3, 1)],
                  [None, None, None], ["Eastvale", 88400, None]],
        "Empty": [],
        "Notes": [["Remark"], ["Figures are in euros."]],
    }, title="Sales 2024")
    doc = load_document(path)
    assert doc.text == ("Sheet: Sales\n\nRegion; Revenue; Signed\nRegion: Northmoor; Revenue: 61200; Signed: 2024-03-01.\n"
                        "Region: Eastvale; Revenue: 88400.\n\nSheet: Notes\n\nRemark\nRemark: Figures are in euros.")
    assert doc.metadata["title"] == "Sales 2024"
    first, last = doc.text.index("Region: Northmoor"), doc.text.index("88400") + 5
    assert location_of(doc.metadata["locations"], first, first + 5) == {"sheet": "Sales", "row": 2}
    assert location_of(doc.metadata["locations"], first, last) == {"sheet": "Sales", "row": 2, "row_end": 4}
    assert describe_location({"sheet": "Sales", "row": 2, "row_end": 4}) == "sheet Sales, rows 2-4"


def test_csv_rows_with_row_numbers(tmp_path):
    path = write_csv(tmp_path / "stations.csv", [["Station", "Elevation"], ["Ben Arrach", 1130], ["Loch Varn", 12]])
    doc = load_document(path)
    assert spans(doc) == [("Station; Elevation", {"row": 1}), ("Station: Ben Arrach; Elevation: 1130.", {"row": 2}),
                          ("Station: Loch Varn; Elevation: 12.", {"row": 3})]


def test_semicolon_csv_is_sniffed(tmp_path):
    (tmp_path / "prices.csv").write_text("Item;Price\nBread;2,40\n", encoding="utf-8")
    assert load_document(tmp_path / "prices.csv").text == "Item; Price\nItem: Bread; Price: 2,40."


def test_epub_chapters_with_titles_and_dublin_core_metadata(tmp_path):
    path = write_epub(tmp_path / "tales.epub", "Tales of the Light", "Agnes Moray", [
        ("The Keeper", "Ansel Brodie kept the light for thirty-one years."),
        ("The Wreck", "In 1911 the Marigold ran aground."),
    ])
    doc = load_document(path)
    assert spans(doc) == [("The Keeper\n\nAnsel Brodie kept the light for thirty-one years.",
                           {"chapter": 1, "section": "The Keeper"}),
                          ("The Wreck\n\nIn 1911 the Marigold ran aground.", {"chapter": 2, "section": "The Wreck"})]
    assert (doc.metadata["title"], doc.metadata["author"]) == ("Tales of the Light", "Agnes Moray")


def test_odt_headings_and_metadata(tmp_path):
    from odf import dc
    from odf.opendocument import OpenDocumentText
    from odf.text import H, P

    document = OpenDocumentText()
    document.meta.addElement(dc.Title(text="Ferry Notes"))
    document.meta.addElement(dc.Creator(text="Harbour Office"))
    document.text.addElement(H(outlinelevel=1, text="Timetable"))
    document.text.addElement(P(text="The ferry leaves at 07:45."))
    document.text.addElement(H(outlinelevel=1, text="Fares"))
    document.text.addElement(P(text="A child return costs 7.20 pounds."))
    document.save(str(tmp_path / "ferry.odt"))
    doc = load_document(tmp_path / "ferry.odt")
    assert spans(doc) == [("Timetable\nThe ferry leaves at 07:45.", {"section": "Timetable"}),
                          ("Fares\nA child return costs 7.20 pounds.", {"section": "Fares"})]
    assert (doc.metadata["title"], doc.metadata["author"]) == ("Ferry Notes", "Harbour Office")


def test_rtf_text(tmp_path):
    (tmp_path / "memo.rtf").write_text(r"{\rtf1\ansi{\fonttbl\f0\fswiss Helvetica;}\f0\pard "
                                       r"The vault opens at {\b nine} sharp.\par Bring the key.\par}", encoding="ascii")
    assert load_document(tmp_path / "memo.rtf").text == "The vault opens at nine sharp.\nBring the key."


# ------------------------------------------------------------------ e-mail


def test_eml_headers_body_metadata_and_attachment_as_its_own_document(tmp_path):
    write_eml(tmp_path / "mail.eml", "Ferry change", "Harbour Office <office@ferry.example>", "all@example.org", WHEN,
              "From 3 June the ferry leaves at 07:45.\n",
              attachments=[("fares.csv", b"Ticket,Price\nChild return,7.20\n", "text/csv"),
                           ("logo.gif", b"GIF89a", "image/gif")])
    docs, skipped = load_documents(tmp_path)
    mail, fares = docs
    assert spans(mail) == [
        ("Subject: Ferry change\nFrom: Harbour Office <office@ferry.example>\nTo: all@example.org\n"
         "Date: Tue, 14 May 2024 09:30:00 +0000", {"part": "headers"}),
        ("From 3 June the ferry leaves at 07:45.", {"part": "body"}),
    ]
    assert {k: mail.metadata[k] for k in ("title", "date", "sender", "recipients")} == {
        "title": "Ferry change", "date": "2024-05-14", "sender": "Harbour Office <office@ferry.example>",
        "recipients": "all@example.org"}
    assert (fares.doc_id, fares.text, fares.metadata["attached_to"]) == (
        "mail.eml/fares.csv", "Ticket; Price\nTicket: Child return; Price: 7.20.", "mail.eml")
    assert skipped == [Skipped("mail.eml", "attachment logo.gif not indexed (type .gif is not read)", False,
                               indexed=True)]


def test_eml_with_only_an_html_body_reads_it_as_html(tmp_path):
    raw = (b"Subject: Menu\r\nFrom: chef@example.org\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
           b"<html><body><h1>Today</h1><p>Soup of the day: <b>leek</b>.</p><script>x()</script></body></html>")
    (tmp_path / "menu.eml").write_bytes(raw)
    assert load_document(tmp_path / "menu.eml").text == "Subject: Menu\nFrom: chef@example.org\n\nToday\nSoup of the day:\nleek\n."


# ------------------------------------------------------------------ PDF text as people read it


def test_wrapped_lines_are_joined_and_hyphenation_undone():
    lines = ["The survey measured the ice front at its low-", "est position since records began, and the",
             "team placed forty-two stakes.", "Results", "The front retreated 64 metres."]
    assert join_lines(lines) == ("The survey measured the ice front at its lowest position since records began, "
                                 "and the team placed forty-two stakes.\nResults\nThe front retreated 64 metres.")


def test_a_hyphen_the_document_writes_elsewhere_is_kept():
    assert join_lines(["It was a well-", "known harbour."], {"well-known"}) == "It was a well-known harbour."


def test_ligatures_are_normalised_but_other_characters_kept():
    assert normalise_ligatures("e\ufb03cient \ufb01eld \u00bd m\u00b2") == "efficient field \u00bd m\u00b2"


def test_running_headers_footers_and_page_numbers_are_dropped():
    bodies = ["The harbour opened in May.", "Ferries ran twice a day.", "Fees rose by a tenth.", "The crane arrived."]
    pages = [f"Annual Report 2023\n{body}\nPage {n} of 4" for n, body in enumerate(bodies, start=1)]
    assert clean_pages(pages) == bodies


def test_pdf_pages_are_cleaned_and_located(tmp_path):
    path = write_pdf(tmp_path / "survey.pdf", [
        "The Sollen glacier survey of 2023 measured the ice front at its lowest position since records began.",
        "Between June and September the glacier front retreated 64 metres, nearly twice the average of the "
        "previous decade.",
        "The team recommends moving the hut at Sollen Point before the 2026 season.",
    ], title="Sollen Survey", header="Sollen Glacier Survey - Field Report")
    doc = load_document(path)
    assert spans(doc) == [
        ("The Sollen glacier survey of 2023 measured the ice front at its lowest position since records began.",
         {"page": 1}),
        ("Between June and September the glacier front retreated 64 metres, nearly twice the average of the "
         "previous decade.", {"page": 2}),
        ("The team recommends moving the hut at Sollen Point before the 2026 season.", {"page": 3}),
    ]
    start = doc.text.index("previous decade")
    assert location_of(doc.metadata["locations"], start, doc.text.index("2026")) == {"page": 2, "page_end": 3}
    assert describe_location({"page": 2, "page_end": 3}) == "pp. 2-3"


# ------------------------------------------------------------------ OCR (real tesseract)


def test_a_scanned_pdf_is_read_by_ocr_and_answered_with_its_page(tmp_path, fake_settings):
    requires_tesseract()
    docs = tmp_path / "docs"
    docs.mkdir()
    write_scanned_pdf(docs / "permit.pdf", [["Town of Fenwick Licensing Office"],
                                            ["The Fenwick bakery may open on Sundays.",
                                             "This permit expires on 30 April 2027."]])
    bot = Assistant.from_folder(docs, settings=fake_settings)
    answer = bot.ask("When does this permit expire?")
    assert not answer.refused, answer.text
    assert "30 April 2027" in answer.text
    [cited] = [c for c in answer.citations if "2027" in c.quote]
    assert (cited.doc_id, cited.location, cited.where) == ("permit.pdf", {"page": 2}, "p. 2")
    metadata = bot.document_metadata("permit.pdf")
    assert (metadata["ocr_pages"], metadata["ocr_dpi"]) == ([1, 2], 300)
    assert "(permit.pdf, p. 2)" in format_answer(answer, bot)
    # each word of the quote has its box on the page image, in reading order, for highlighting
    text = bot.document_text("permit.pdf")
    quoted = [box for box in metadata["ocr_words"]["2"] if cited.start <= box[0] and box[1] <= cited.end]
    assert [text[start:end] for start, end, *_ in quoted] == cited.quote.split()
    lefts = [left for _, _, left, *_ in quoted]
    assert lefts == sorted(lefts) and all(width > 0 and height > 0 for *_, width, height in quoted)
    assert all("ocr_words" not in node.metadata for node in bot.snapshot.storage.docstore.docs.values())


def test_word_boxes_follow_the_cleaned_text():
    from assistant.readers.cleaning import clean_page_lines
    from assistant.readers.ocr import word_boxes

    lines = ["Report 2023", "The survey measured infor-", "mation daily.", "", "Page 1 of 1"]
    words = [[(w, (10 * i, 20 * n, 8, 9)) for i, w in enumerate(line.split())] for n, line in enumerate(lines)]
    [(text, starts), _] = clean_page_lines([lines, ["Second page.", "Page 2 of 2"]])
    assert text == "Report 2023\nThe survey measured information daily."
    boxes = word_boxes(text, 100, starts, words)
    assert [(text[s - 100:e - 100], left, top) for s, e, left, top, _, _ in boxes] == [
        ("Report", 0, 0), ("2023", 10, 0), ("The", 0, 20), ("survey", 10, 20), ("measured", 20, 20),
        ("infor", 30, 20), ("mation", 0, 40), ("daily.", 10, 40)]  # the page number line has no box


def test_an_image_is_read_by_ocr(tmp_path):
    requires_tesseract()
    path = write_image(tmp_path / "notice.png", ["The library closes at noon on Saturdays."])
    assert load_document(path).text == "The library closes at noon on Saturdays."


def test_a_multi_page_tiff_gives_one_location_per_page(tmp_path):
    requires_tesseract()
    from gold.make_mixed import page_image

    first, second = page_image(["The ferry leaves at seven."]), page_image(["The ferry returns at nine."])
    first.save(tmp_path / "timetable.tif", save_all=True, append_images=[second])
    assert spans(load_document(tmp_path / "timetable.tif")) == [("The ferry leaves at seven.", {"page": 1}),
                                                                ("The ferry returns at nine.", {"page": 2})]


def mixed_pdf(path: Path) -> Path:
    """Page 1 with a text layer, page 2 a picture of text only."""
    from fpdf import FPDF
    from gold.make_mixed import page_image

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.cell(0, 10, "The minutes were typed on page one.")
    pdf.add_page()
    pdf.image(page_image(["Handwritten notes on page two."]), x=0, y=0, w=210)
    path.write_bytes(bytes(pdf.output()))
    return path


def test_without_tesseract_scans_are_skipped_with_how_to_install_and_the_rest_indexed(tmp_path, monkeypatch):
    import pytesseract

    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", str(tmp_path / "no-tesseract-here"))
    ocr_problem.cache_clear()
    try:
        write_scanned_pdf(tmp_path / "scan.pdf", [["Only pixels here."]])
        write_image(tmp_path / "photo.png", ["More pixels."])
        mixed_pdf(tmp_path / "minutes.pdf")
        (tmp_path / "notes.txt").write_text("Plain notes.", encoding="utf-8")
        docs, skipped = load_documents(tmp_path)
    finally:
        ocr_problem.cache_clear()
    assert [(d.doc_id, d.text) for d in docs] == [("minutes.pdf", "The minutes were typed on page one."),
                                                  ("notes.txt", "Plain notes.")]
    assert [(s.path, s.reason.split(";")[0], s.unreadable, s.indexed) for s in skipped] == [
        ("minutes.pdf", "1 scanned page not read (page 2)", False, True),
        ("photo.png", "tesseract is not installed", True, False),
        ("scan.pdf", "the PDF has no text layer (scanned pages)", True, False)]
    assert str(skipped[1]) == ("skipped photo.png: tesseract is not installed; install tesseract-ocr (apt install "
                               "tesseract-ocr tesseract-ocr-eng) and the ocr extra (pip install 'doc-assistant[ocr]') "
                               "to read scanned pages and images")
    assert all("install tesseract-ocr" in s.reason and "\n" not in str(s) for s in skipped)


# ------------------------------------------------------------------ bad files: one line each, the rest indexed


def corrupt(path: Path) -> Path:
    path.write_bytes(b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"\x00" * 30 + b"cut off here")
    return path


def lying_bomb(path: Path, inflated_mb: int = 8) -> Path:
    """A zip whose headers declare a 1 KB member that really inflates to ``inflated_mb`` MB."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"\0" * (inflated_mb << 20))
    raw = bytearray(buffer.getvalue())
    for signature, offset in ((b"PK\x01\x02", 24), (b"PK\x03\x04", 22)):  # central and local headers
        at = raw.find(signature)
        raw[at + offset:at + offset + 4] = struct.pack("<I", 1024)
    path.write_bytes(bytes(raw))
    return path


def encrypted_pdf(path: Path) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_encryption(owner_password="owner", user_password="user")
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.cell(0, 10, "Secret minutes.")
    path.write_bytes(bytes(pdf.output()))
    return path


def test_bad_files_are_one_line_each_and_the_rest_is_indexed(tmp_path):
    write_docx(tmp_path / "good.docx", "Good", [("Body", ["The good file is indexed."])])
    (tmp_path / "notes.txt").write_text("Plain notes are indexed.", encoding="utf-8")
    for name in ("broken.docx", "broken.pptx", "broken.xlsx", "broken.epub", "broken.odt"):
        corrupt(tmp_path / name)
    write_zip_bomb(tmp_path / "bomb.docx", inflated_mb=8)
    lying_bomb(tmp_path / "liar.xlsx")
    write_encrypted_docx(tmp_path / "locked.docx")
    encrypted_pdf(tmp_path / "locked.pdf")
    (tmp_path / "fake.png").write_bytes(b"This is not an image at all.")
    (tmp_path / "fake.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    (tmp_path / "bad-header.eml").write_bytes(b"Subject: Minutes\r\nFrom: <<<@@@>>>\r\nDate: the day after tomorrow\r\n"
                                              b"\r\nThe board met and agreed the budget.\r\n")
    (tmp_path / "not-mail.eml").write_bytes(b"just a line of text, no headers at all\n")
    docs, skipped = load_documents(tmp_path, max_file_mb=0.25)  # zip members may unpack to 5 MB
    assert sorted(d.doc_id for d in docs) == ["bad-header.eml", "good.docx", "notes.txt"]
    assert [s.reason.split(" (")[0] for s in skipped if s.path == "bad-header.eml"] == [
        "malformed From header", "malformed Date header"]  # indexed all the same, with these notices
    reasons = {s.path: s.reason for s in skipped if s.path != "bad-header.eml"}
    assert {path: reason.split(";")[0].split(" (")[0] for path, reason in reasons.items()} == {
        "bomb.docx": "unpacks to 8.0 MB, over the 5.0 MB limit",
        "broken.docx": "not a readable .docx file",
        "broken.epub": "not a readable .epub file",
        "broken.odt": "not a readable .odt file",
        "broken.pptx": "not a readable .pptx file",
        "broken.xlsx": "not a readable .xlsx file",
        "fake.jpg": "not a readable image",
        "fake.png": "not a readable image",
        "liar.xlsx": reasons["liar.xlsx"].split(";")[0].split(" (")[0],
        "locked.docx": "the .docx file is password-protected",
        "locked.pdf": "the PDF is password-protected",
        "not-mail.eml": "not an e-mail message",
    }
    # zipfile stops reading at the declared size, so the lie shows as a failed checksum
    assert reasons["liar.xlsx"] == ("not a readable .xlsx file (its word/document.xml is damaged: its checksum does "
                                    "not match); re-save or re-export it")
    assert all("\n" not in str(s) and s.path in str(s) for s in skipped)
    assert [s.indexed for s in skipped if s.path == "bad-header.eml"] == [True, True]
    assert "The board met and agreed the budget." in next(d.text for d in docs if d.doc_id == "bad-header.eml")


def rewritten(source: Path, path: Path, parts: dict[str, bytes | None]) -> Path:
    """A copy of the zip package ``source`` with ``parts`` replaced (None: left out)."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(path, "w") as new:
        for member in old.infolist():
            if member.filename not in parts:
                new.writestr(member, old.read(member))
            elif parts[member.filename] is not None:
                new.writestr(member, parts[member.filename])
    return path


@pytest.mark.parametrize("name,parts,reason", [
    ("report.docx", {"word/document.xml": b'<?xml version="1.0"?><html><body>Notes</body></html>'},
     "not a readable .docx file (its word/document.xml is not a Word document); re-save it from Word"),
    ("report.docx", {"word/document.xml": b"<w:document"},
     "not a readable .docx file (its word/document.xml is damaged: broken XML at line 1); re-save it from Word"),
    ("report.docx", {"word/document.xml": None},
     "not a readable .docx file (it has no word/document.xml, the part that holds the document's text); "
     "re-save it from Word"),
    ("report.docx", {"[Content_Types].xml": None},
     "not a readable .docx file (it is a zip archive but not a Word document: it has no [Content_Types].xml); "
     "re-save it from Word"),
    ("deck.pptx", {"ppt/presentation.xml": b"garbage"},
     "not a readable .pptx file (its ppt/presentation.xml is damaged: broken XML at line 1); re-save it from "
     "PowerPoint"),
    ("book.xlsx", {"xl/workbook.xml": None},
     "not a readable .xlsx file (it has no xl/workbook.xml, the part that holds the list of sheets); re-save it"),
    ("novel.epub", {"META-INF/container.xml": None},
     "not a readable .epub file (it has no META-INF/container.xml, the part that holds the pointer to the book's "
     "contents); re-export it"),
    ("novel.epub", {"EPUB/content.opf": b"garbage"},
     "not a readable .epub file (its EPUB/content.opf is damaged: broken XML at line 1); re-export it"),
])
def test_a_broken_package_is_skipped_saying_what_is_wrong_not_which_exception(tmp_path, name, parts, reason):
    """"skipped report.docx: not a readable .docx file (AttributeError)": the reason names what is wrong
    with the file in a user's words; the parser's exception stays for developers (``detail``)."""
    good = tmp_path / f"good{Path(name).suffix}"
    {".docx": lambda: write_docx(good, "Report", [("Body", ["The text."])]),
     ".pptx": lambda: write_pptx(good, "Deck", [("Slide", ["The text."], "")]),
     ".xlsx": lambda: write_xlsx(good, {"Sales": [["region", "total"], ["north", 3]]}),
     ".epub": lambda: write_epub(good, "Novel", "Ann", [("One", "<p>The text.</p>")])}[good.suffix]()
    folder = tmp_path / "docs"
    folder.mkdir()
    rewritten(good, folder / name, parts)
    _, skipped = load_documents(folder)
    assert [(s.path, s.reason) for s in skipped] == [(name, reason)]
    assert skipped[0].detail.split(":")[0].endswith(("Error", "Exception"))


@pytest.mark.parametrize("data,reason", [
    (b"%PDF-1.4\n1 0 obj <<>> endobj\n", "it is cut short: the end of the file is missing"),
    (b"Plain words in a file named .pdf", "it does not begin with %PDF- as every PDF does: another kind of file "
                                          "named .pdf"),
    (b"PK\x03\x04 cut off", None),
])
def test_a_broken_pdf_or_zip_says_what_is_wrong(tmp_path, data, reason):
    path = tmp_path / ("scan.pdf" if reason else "notes.docx")
    path.write_bytes(data)
    with pytest.raises(DocumentError) as info:
        load_document(path)
    expected = (f"not a readable PDF ({reason}); re-export it" if reason else "not a readable .docx file (it is not "
                "the zip archive every .docx file is: cut short, or another kind of file); re-save or re-export it")
    assert str(info.value) == expected and info.value.detail


def test_a_bomb_that_declares_its_true_size_is_refused_before_inflating(tmp_path):
    write_zip_bomb(tmp_path / "bomb.epub", inflated_mb=64)
    with pytest.raises(DocumentError, match=r"unpacks to 64 MB, over the 20 MB limit \(a zip bomb\?\); raise max_file_mb"):
        load_document(tmp_path / "bomb.epub", max_file_mb=1)


def test_a_zip_member_that_inflates_past_its_declared_size_is_refused(tmp_path):
    with pytest.raises(DocumentError) as info:
        load_document(lying_bomb(tmp_path / "liar.docx", inflated_mb=8), max_file_mb=0.25)
    assert str(info.value) == ("not a readable .docx file (its word/document.xml is damaged: its checksum does not "
                               "match); re-save or re-export it")


def test_bad_files_added_later_lose_nothing_already_indexed(tmp_path, fake_settings):
    docs = tmp_path / "docs"
    docs.mkdir()
    write_docx(docs / "harbour.docx", "Harbour", [("Dredging", ["The harbour dredged 42,000 cubic metres of silt."])])
    write_pptx(docs / "orchard.pptx", "Orchard", [("Harvest", ["The orchard picked 310 tonnes of apples."], "")])
    bot = Assistant.from_folder(docs, settings=fake_settings)
    before = {d.doc_id: d.indexed_at for d in bot.documents}
    corrupt(docs / "broken.xlsx")
    write_zip_bomb(docs / "bomb.docx", inflated_mb=600)  # over 20 x the default 20 MB
    write_encrypted_docx(docs / "locked.docx")
    (docs / "fake.tif").write_bytes(b"II*\x00 not really a tiff")
    report = bot.refresh()
    assert (report.added, report.changed, report.deleted) == ([], [], [])
    assert {d.doc_id: d.indexed_at for d in bot.documents} == before
    assert sorted(s.path for s in bot.skipped) == ["bomb.docx", "broken.xlsx", "fake.tif", "locked.docx"]
    answer = bot.ask("How many tonnes of apples did the orchard pick?")
    assert [(c.doc_id, c.where) for c in answer.citations] == [("orchard.pptx", "slide 1")]


# ------------------------------------------------------------------ locations


def test_location_of_a_span():
    locations = [[0, {"page": 1}], [100, {"page": 2}], [250, {"page": 3}]]
    assert location_of(locations, 10, 50) == {"page": 1}
    assert location_of(locations, 100, 120) == {"page": 2}
    assert location_of(locations, 90, 260) == {"page": 1, "page_end": 3}
    assert location_of([], 0, 5) == {} == location_of(None, 0, 5)
    chapters = [[0, {"chapter": 1, "section": "A"}], [40, {"chapter": 2, "section": "B"}]]
    assert location_of(chapters, 30, 50) == {"chapter": 1, "section": "A"}  # a title cannot make a range


@pytest.mark.parametrize("location, words", [
    ({"page": 12}, "p. 12"), ({"slide": 3}, "slide 3"), ({"slide": 3, "slide_end": 4}, "slides 3-4"),
    ({"sheet": "Sales", "row": 4, "row_end": 9}, "sheet Sales, rows 4-9"), ({"row": 2}, "row 2"),
    ({"chapter": 2, "section": "The Wreck"}, "chapter 2, \u201cThe Wreck\u201d"), ({"part": "body"}, "body"),
    ({}, ""),
])
def test_describe_location(location, words):
    assert describe_location(location) == words


def test_passages_do_not_carry_the_documents_locations(tmp_path, fake_settings):
    docs = tmp_path / "docs"
    docs.mkdir()
    write_pdf(docs / "a.pdf", ["First page text.", "Second page text."])
    bot = Assistant.from_folder(docs, settings=fake_settings)
    nodes = bot.snapshot.storage.docstore.docs.values()
    assert nodes and all("locations" not in node.metadata for node in nodes)
    assert bot.document_metadata("a.pdf")["locations"] == [[0, {"page": 1}], [18, {"page": 2}]]


def test_a_folder_of_every_format_indexes_in_one_command(tmp_path, capsys):
    from assistant.cli import main

    docs = tmp_path / "docs"
    docs.mkdir()
    write_docx(docs / "a.docx", "A", [("Body", ["Alpha."])])
    write_pptx(docs / "b.pptx", "B", [("Beta", ["Beta slide."], "")])
    write_xlsx(docs / "c.xlsx", {"S": [["Name"], ["Gamma"]]})
    write_csv(docs / "d.csv", [["Name"], ["Delta"]])
    write_pdf(docs / "e.pdf", ["Epsilon."])
    write_eml(docs / "f.eml", "Zeta", "z@example.org", "y@example.org", WHEN, "Zeta body.")
    write_epub(docs / "g.epub", "Eta", "E. Author", [("One", "Eta chapter.")])
    code = main(["index", "--docs", str(docs), "--index", str(tmp_path / "index"), "--model", "fake-hash", "--quiet"])
    out = capsys.readouterr().out
    assert (code, out.split(":")[0]) == (0, f"indexed 7 documents (7 passages) in {tmp_path / 'index'}")
