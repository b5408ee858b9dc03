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


SETS = {"seed": ROOT / "seeds", "multidoc": GOLD / "multidoc", "manuals": GOLD / "manuals"}  # gold file -> folder


@pytest.fixture(scope="module")
def bots(tmp_path_factory):
    """The assistant over one gold set's folder (each indexed once, on first use)."""
    made: dict[str, Assistant] = {}

    def bot(name: str) -> Assistant:
        if name not in made:
            made[name] = Assistant.from_folder(SETS[name], index_dir=tmp_path_factory.mktemp(f"{name}-index"),
                                               settings=Settings(show_progress=False))
        return made[name]
    return bot


@pytest.mark.parametrize("name, case", [
    pytest.param(name, *p.values, id=f"{name}-{p.id}", marks=p.marks)
    for name in SETS for p in gold_params(GOLD / f"{name}.yaml", baseline=GOLD / f"{name}.baseline.json")
])
def test_gold_case(bots, name, case):
    check_case(bots(name), case)
