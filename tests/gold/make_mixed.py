"""Writes a folder of mixed documents: Word, PowerPoint, Excel, CSV, PDF, scanned PDF, e-mail, EPUB, and
a few broken files, for the formats gold set (tests/gold/formats.yaml) and the 300-file benchmark.

    python tests/gold/make_mixed.py OUT                 # the gold folder: one file per format + bad files
    python tests/gold/make_mixed.py OUT --files 300     # the same, filled up to 300 files

The gold files' content is fixed (formats.yaml asks about it); the filler files are generated from a
seeded random source, each about a different made-up town, so they are realistic distractors. Every
writer uses the same library a user's software would (python-docx, python-pptx, openpyxl, fpdf2,
ebooklib, the standard library's email) or, for the scan, Pillow: a page of text saved as an image PDF.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import random
import zipfile
from email.message import EmailMessage
from pathlib import Path

# ------------------------------------------------------------------ writers, one per format


def write_docx(path: Path, title: str, sections: list[tuple[str, list[str]]], table: list[list[str]] | None = None,
               author: str = "", created: dt.datetime | None = None) -> Path:
    import docx

    document = docx.Document()
    document.core_properties.title = title
    document.core_properties.author = author
    if created:
        document.core_properties.created = created
    document.add_heading(title, level=0)
    for heading, paragraphs in sections:
        document.add_heading(heading, level=1)
        for paragraph in paragraphs:
            document.add_paragraph(paragraph)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    document.save(path)
    return path


def write_pptx(path: Path, title: str, slides: list[tuple[str, list[str], str]], author: str = "") -> Path:
    """``slides``: (title, bullet lines, speaker notes)."""
    from pptx import Presentation

    deck = Presentation()
    deck.core_properties.title = title
    deck.core_properties.author = author
    for heading, bullets, notes in slides:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = heading
        body = slide.placeholders[1].text_frame
        body.text = bullets[0] if bullets else ""
        for line in bullets[1:]:
            body.add_paragraph().text = line
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
    deck.save(path)
    return path


def write_xlsx(path: Path, sheets: dict[str, list[list[object]]], title: str = "") -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    if title:
        book.properties.title = title
    book.save(path)
    return path


def write_csv(path: Path, rows: list[list[object]]) -> Path:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


def write_pdf(path: Path, pages: list[str], title: str = "", header: str = "") -> Path:
    """A PDF with a text layer; ``header`` is printed atop every page, a page number at the foot."""
    from fpdf import FPDF

    pdf = FPDF()
    if title:
        pdf.set_title(title)
    pdf.set_auto_page_break(False)
    for number, text in enumerate(pages, start=1):
        pdf.add_page()
        pdf.set_font("Helvetica", size=9)
        if header:
            pdf.cell(0, 6, header, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=12)
        pdf.set_y(30)
        pdf.multi_cell(120, 7, text)  # a narrow column: sentences wrap over several printed lines
        pdf.set_font("Helvetica", size=9)
        pdf.set_y(-20)
        pdf.cell(0, 6, f"Page {number} of {len(pages)}", align="C")
    path.write_bytes(bytes(pdf.output()))
    return path


def page_image(lines: list[str], size: tuple[int, int] = (1700, 2200), font_size: int = 44):
    """A white page with black text lines, as a scanner would see it (about 200 dpi A4)."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=font_size)  # Pillow's own FreeType font: no system fonts needed
    y = 150
    for line in lines:
        draw.text((140, y), line, fill=0, font=font)
        y += int(font_size * 1.6)
    return image


def write_scanned_pdf(path: Path, pages: list[list[str]]) -> Path:
    """A PDF of page images only: no text layer, as a scanner makes it."""
    images = [page_image(lines).convert("RGB") for lines in pages]
    images[0].save(path, "PDF", resolution=200.0, save_all=True, append_images=images[1:])
    return path


def write_image(path: Path, lines: list[str]) -> Path:
    page_image(lines, size=(1700, 600)).save(path)
    return path


def write_eml(path: Path, subject: str, sender: str, to: str, date: dt.datetime, body: str,
              attachments: list[tuple[str, bytes, str]] = (), html: str = "") -> Path:
    """``attachments``: (file name, content, MIME type)."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = to
    message["Date"] = date
    message.set_content(body)
    if html:
        message.add_alternative(html, subtype="html")
    for name, content, mime in attachments:
        main, sub = mime.split("/")
        message.add_attachment(content, maintype=main, subtype=sub, filename=name)
    path.write_bytes(message.as_bytes())
    return path


def write_epub(path: Path, title: str, author: str, chapters: list[tuple[str, str]]) -> Path:
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier(f"id-{path.stem}")
    book.set_title(title)
    book.set_language("en")
    book.add_author(author)
    items = []
    for n, (heading, text) in enumerate(chapters, start=1):
        item = epub.EpubHtml(title=heading, file_name=f"chap_{n}.xhtml", lang="en")
        paragraphs = "".join(f"<p>{p}</p>" for p in text.split("\n"))
        item.content = f"<html><head><title>{heading}</title></head><body><h1>{heading}</h1>{paragraphs}</body></html>"
        book.add_item(item)
        items.append(item)
    book.toc = items
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *items]
    epub.write_epub(str(path), book)
    return path


def write_zip_bomb(path: Path, inflated_mb: int = 512) -> Path:
    """A zip whose one member inflates from about 1/1000 of ``inflated_mb`` to ``inflated_mb`` MB of zeros
    (512 MB: over the default limit of 20 x max_file_mb = 400 MB)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            block = b"\0" * (1 << 20)
            for _ in range(inflated_mb):
                member.write(block)
    path.write_bytes(buffer.getvalue())
    return path


def write_encrypted_docx(path: Path, password: str = "secret") -> Path:
    """A real password-protected Word file (msoffcrypto-tool encrypts as Office does)."""
    import docx
    from msoffcrypto.format.ooxml import OOXMLFile

    plain = io.BytesIO()
    document = docx.Document()
    document.add_paragraph("The vault code is 4417.")
    document.save(plain)
    plain.seek(0)
    out = io.BytesIO()
    OOXMLFile(plain).encrypt(password, out)
    path.write_bytes(out.getvalue())
    return path


# ------------------------------------------------------------------ the gold folder

GOLD_DATE = dt.datetime(2024, 5, 14, 9, 30, tzinfo=dt.timezone.utc)


def write_gold(folder: Path) -> list[Path]:
    """One file per format with the facts tests/gold/formats.yaml asks about, and four bad files."""
    folder.mkdir(parents=True, exist_ok=True)
    written = [
        write_docx(folder / "harbour-report.docx", "Lindqvist Harbour Annual Report", [
            ("Dredging", ["The harbour authority dredged 42,000 cubic metres of silt from the inner basin in 2023.",
                          "Dredging closed berth four for eleven days in March."]),
            ("Finances", ["Mooring fees rose to 38 euros per night for yachts under twelve metres.",
                          "The new crane cost the authority 1.2 million euros."]),
        ], table=[["Vessel type", "Arrivals"], ["Ferries", "1,240"], ["Cargo ships", "312"]],
            author="Ingrid Lindqvist", created=GOLD_DATE),
        write_pptx(folder / "orchard-deck.pptx", "Orchard Cooperative Review", [
            ("Orchard Cooperative Review 2024", ["Prepared for the members' meeting"], ""),
            ("Harvest", ["The cooperative picked 310 tonnes of Bramley apples in September.",
                         "Frost in April cost about a fifth of the pear blossom."], ""),
            ("Staff", ["Seasonal pickers worked in three shifts."],
             "Fourteen seasonal pickers travelled from Tartu for the harvest."),
        ], author="Maris Kask"),
        write_xlsx(folder / "regional-sales.xlsx", {
            "Summary": [["Year", "Total revenue"], [2024, 331500]],
            "Sales": [["Region", "Quarter", "Revenue", "Manager"],
                      ["Northmoor", "Q1", 61200, "Petra Holm"],
                      ["Northmoor", "Q2", 70900, "Petra Holm"],
                      ["Eastvale", "Q1", 55300, "Tomas Berg"],
                      ["Eastvale", "Q2", 88400, "Tomas Berg"],
                      ["Southport", "Q1", 55700, "Lena Dahl"]],
        }, title="Regional sales 2024"),
        write_csv(folder / "weather-stations.csv", [
            ["Station", "Elevation (m)", "Opened"],
            ["Ben Arrach summit", 1130, 1994],
            ["Loch Varn pier", 12, 1962],
            ["Glen Corran", 240, 2008],
        ]),
        write_pdf(folder / "glacier-survey.pdf", [
            "The Sollen glacier survey of 2023 measured the ice front at its lowest position since records "
            "began. Field teams placed forty-two stakes across the ablation zone in early June.",
            "Between June and September the glacier front retreated 64 metres, nearly twice the average "
            "of the previous decade. Meltwater discharge peaked on 9 August at 310 cubic metres per second.",
            "The survey team recommends moving the hut at Sollen Point before the 2026 season, because the "
            "moraine beneath it is no longer frozen.",
        ], title="Sollen Glacier Survey 2023", header="Sollen Glacier Survey 2023 - Field Report"),
        write_scanned_pdf(folder / "permit-scan.pdf", [
            ["Town of Fenwick - Licensing Office", "", "Permit number 7731"],
            ["The Fenwick bakery may open on Sundays", "from 7 in the morning until 1 in the afternoon.",
             "This permit expires on 30 April 2027."],
        ]),
        write_eml(folder / "ferry-timetable.eml", "Skerry ferry timetable change",
                  "Harbour Office <office@skerry-ferries.example>", "Residents <list@skerry.example>",
                  GOLD_DATE, "Dear residents,\n\nFrom 3 June the morning ferry to Oban leaves at 07:45 instead of "
                  "08:15.\nThe evening crossing is unchanged.\n\nHarbour Office\n",
                  attachments=[("fares-2024.csv", b"Ticket,Price (GBP)\nAdult return,14.50\nChild return,7.20\n"
                                b"Car with driver,62.00\n", "text/csv")]),
        write_epub(folder / "lighthouse-tales.epub", "Tales of the Harwick Light", "Agnes Moray", [
            ("The Keeper", "Ansel Brodie kept the Harwick light for thirty-one years.\n"
                           "He never missed a night, not even in the storm of 1953."),
            ("The Wreck", "In 1911 the schooner Marigold ran aground on the Harwick reef.\n"
                          "All nine of her crew were brought ashore by the lifeboat."),
            ("The New Lamp", "A clockwork lens from Birmingham was installed in 1928.\n"
                             "Its beam could be seen from forty kilometres away."),
        ]),
        write_image(folder / "notice-board.png", ["The Fenwick library closes at noon on Saturdays.",
                                                   "Late returns cost twenty pence per day."]),
    ]
    bad = folder / "bad"
    bad.mkdir(exist_ok=True)
    (bad / "corrupt.docx").write_bytes(b"PK\x03\x04" + b"\x00" * 40 + b"truncated")
    write_zip_bomb(bad / "bomb.xlsx")
    write_encrypted_docx(bad / "locked.docx")
    (bad / "photo.jpg").write_bytes(b"This is a text file with a .jpg name.\n")
    return written + sorted(bad.iterdir())


# ------------------------------------------------------------------ filler for the 300-file run

SYLLABLES = "ar bel cor dun el fen gar hol ist jor kel lin mor nor ost pen quil ros sel tor ul ven wyn".split()


def town(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()


def write_filler(folder: Path, count: int, seed: int = 14) -> list[Path]:
    """``count`` more files, cycling through the formats, each about its own made-up town."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out: list[Path] = []
    kinds = ["docx", "pptx", "xlsx", "csv", "pdf", "scan", "eml", "epub"]
    for i in range(count):
        kind, name = kinds[i % len(kinds)], town(rng)
        people, year = rng.randint(800, 90000), rng.randint(1890, 2024)
        facts = [f"{name} has {people:,} inhabitants and was founded in {year}.",
                 f"The {name} market is held every {rng.choice(['Monday', 'Wednesday', 'Friday'])}.",
                 f"The river at {name} is crossed by {rng.randint(1, 9)} bridges.",
                 f"{name} council spent {rng.randint(1, 90)} million on roads last year."]
        stem = folder / f"{i:03d}-{name.lower()}"
        if kind == "docx":
            out.append(write_docx(stem.with_suffix(".docx"), f"{name} town profile",
                                  [("People", facts[:2]), ("Roads", facts[2:])]))
        elif kind == "pptx":
            out.append(write_pptx(stem.with_suffix(".pptx"), f"{name} briefing",
                                  [(f"{name}", [facts[0]], facts[1]), ("Roads", facts[2:], "")]))
        elif kind == "xlsx":
            rows = [["Year", "Visitors", "Rainfall (mm)"]] + [[y, rng.randint(1000, 9000), rng.randint(400, 1400)]
                                                             for y in range(2015, 2025)]
            out.append(write_xlsx(stem.with_suffix(".xlsx"), {f"{name}"[:30]: rows}, title=f"{name} visitors"))
        elif kind == "csv":
            out.append(write_csv(stem.with_suffix(".csv"), [["Street", "Houses"]] +
                                 [[f"{town(rng)} Road", rng.randint(3, 120)] for _ in range(12)]))
        elif kind == "pdf":
            out.append(write_pdf(stem.with_suffix(".pdf"), [" ".join(facts[:2]), " ".join(facts[2:])],
                                 title=f"{name} report", header=f"{name} report"))
        elif kind == "scan":
            out.append(write_scanned_pdf(stem.with_suffix(".pdf"), [[f"{name} notice", facts[1]]]))
        elif kind == "eml":
            out.append(write_eml(stem.with_suffix(".eml"), f"News from {name}", f"clerk@{name.lower()}.example",
                                 "all@example.org", GOLD_DATE - dt.timedelta(days=i), "\n".join(facts)))
        else:
            out.append(write_epub(stem.with_suffix(".epub"), f"A history of {name}", "Town Clerk",
                                  [("Founding", facts[0]), ("Market", facts[1]), ("Bridges", facts[2])]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder to write (created)")
    parser.add_argument("--files", type=int, default=0, help="fill up to this many files (default: gold set only)")
    args = parser.parse_args()
    written = write_gold(args.out)
    if args.files > len(written):
        written += write_filler(args.out / "more", args.files - len(written))
    print(f"wrote {len(written)} files to {args.out}")


if __name__ == "__main__":
    main()
