"""The mixed-format folder (tests/gold/make_mixed.py: Word, PowerPoint, Excel, CSV, PDF, scanned PDF,
e-mail with an attachment, EPUB, PNG, and four bad files) indexed with the real model in one go: every
file is accounted for (indexed, or skipped with a one-line reason), and each question of
tests/gold/formats.yaml is answered from the right file with a citation at the right place (page, slide,
sheet and row, chapter, e-mail part). Needs tesseract for the scans: fails, never skips, without it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant import Assistant, Settings
from assistant.evaluation import check_case, gold_params
from assistant.readers.ocr import ocr_problem
from gold.make_mixed import write_gold

GOLD = Path(__file__).parent / "gold"

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("mixed")
    return root, write_gold(root / "docs")


@pytest.fixture(scope="module")
def bot(folder, tmp_path_factory) -> Assistant:
    assert ocr_problem() == "", f"the formats gold set needs tesseract: {ocr_problem()}"
    return Assistant.from_folder(folder[0] / "docs", index_dir=tmp_path_factory.mktemp("index"),
                                 settings=Settings(show_progress=False))


def test_every_file_is_indexed_or_skipped_with_a_reason(folder, bot):
    root, written = folder
    names = sorted(p.relative_to(root / "docs").as_posix() for p in written)
    indexed = {d.doc_id for d in bot.documents}
    skipped = {s.path: s.reason for s in bot.skipped if not s.indexed}
    assert sorted(n for n in names if n in indexed or n in skipped) == names
    assert sorted(skipped) == ["bad/bomb.xlsx", "bad/corrupt.docx", "bad/locked.docx", "bad/photo.jpg"]
    assert indexed - set(names) == {"ferry-timetable.eml/fares-2024.csv"}  # the e-mail's attachment
    assert skipped["bad/bomb.xlsx"].startswith("unpacks to 512 MB, over the 400 MB limit (a zip bomb?)")


@pytest.mark.parametrize("case", gold_params(GOLD / "formats.yaml"))
def test_formats_case(bot, case):
    check_case(bot, case)
