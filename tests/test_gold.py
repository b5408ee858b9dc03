"""The gold sets as one test per case (named by its id), with the real model: the seed article's
(tests/gold/seed.yaml) and a multi-document set of our own (tests/gold/multidoc.yaml over
tests/gold/multidoc/: festival reports of three years, two ministers' meetings, a museum guide under
headings, a press release, a ferry notice; near misses that another year or country nearly answers), and a
set of manuals (tests/gold/manuals.yaml: a kettle manual and a bakery FAQ under headings, a notice wrapped
at a fixed width; steps under a heading, sentences that run over a line break).

Cases that fail in the committed baseline run (tests/gold/seed.baseline.json) are strict xfails: a case
that passed there and fails now is a regression and fails the suite; a known failure that starts passing
fails too, as a reminder to refresh the baseline (`assistant eval tests/gold/seed.yaml --out
tests/gold/seed.baseline.json`, and the same for multidoc with `--docs tests/gold/multidoc`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant import Assistant, Settings
from assistant.evaluation import check_case, gold_params

GOLD = Path(__file__).parent / "gold"
ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def bot(tmp_path_factory) -> Assistant:
    return Assistant.from_folder(ROOT / "seeds", index_dir=tmp_path_factory.mktemp("index"),
                                 settings=Settings(show_progress=False))


@pytest.mark.parametrize("case", gold_params(GOLD / "seed.yaml", baseline=GOLD / "seed.baseline.json"))
def test_gold_case(bot, case):
    check_case(bot, case)


@pytest.fixture(scope="module")
def multidoc_bot(tmp_path_factory) -> Assistant:
    return Assistant.from_folder(GOLD / "multidoc", index_dir=tmp_path_factory.mktemp("multidoc-index"),
                                 settings=Settings(show_progress=False))


@pytest.mark.parametrize("case", gold_params(GOLD / "multidoc.yaml", baseline=GOLD / "multidoc.baseline.json"))
def test_multidoc_case(multidoc_bot, case):
    check_case(multidoc_bot, case)


@pytest.fixture(scope="module")
def manuals_bot(tmp_path_factory) -> Assistant:
    return Assistant.from_folder(GOLD / "manuals", index_dir=tmp_path_factory.mktemp("manuals-index"),
                                 settings=Settings(show_progress=False))


@pytest.mark.parametrize("case", gold_params(GOLD / "manuals.yaml", baseline=GOLD / "manuals.baseline.json"))
def test_manuals_case(manuals_bot, case):
    check_case(manuals_bot, case)
