"""Reports of a gold-set run (``assistant.reports``): Markdown, HTML and the accuracy-by-tag PNG.
Fake model only, as in tests/test_evaluation.py, whose small gold set the runs here come from.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys

import pytest

from assistant import evaluation, reports
from assistant.evaluation import compare, evaluate
from assistant.reports import plot_by_tag, write_report
from test_evaluation import FOUNDER, GOLD_CASES, PNG_HEADER, RIVER


@pytest.fixture
def run_result(fake_bot):
    return evaluate(fake_bot, GOLD_CASES)


def regression_of(result):
    """A comparison with one case worse (river-fish) and one better (founder)."""
    baseline = json.loads(json.dumps(result.to_dict()))
    for case in baseline["cases"]:
        if case["id"] == "river-fish":
            case.update(passed=True, answer="Brown trout. [1]")
        if case["id"] == "founder":
            case.update(passed=False, answer="Nobody | knows.")
    return compare(result, baseline)


def test_markdown_report(run_result, tmp_path):
    path = write_report(run_result, tmp_path / "r.md", regression_of(run_result))
    assert path == tmp_path / "r.md"
    assert (tmp_path / "r.png").read_bytes().startswith(PNG_HEADER)
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[:4] == ["# Gold-set evaluation", "", "4 of 5 cases passed.", ""]
    assert "| accuracy (all cases) | 0.800 |" in lines
    assert "| retrieval hit@5 | 1.000 |" in lines
    assert "| median answer length (words) | 8.500 |" in lines
    assert "![accuracy by tag](r.png)" in lines
    assert "| fact | 1 | 0.000 | n/a | 9 |" in lines
    assert "| unanswerable | 1 | 1.000 | 1.000 | 0 |" in lines
    worse = lines.index("## Worse than the baseline (1)")
    assert lines[worse:worse + 5] == [
        "## Worse than the baseline (1)", "", "| case | before | now |", "|---|---|---|",
        f"| **river-fish** What do fishermen catch in the Alder river? | Brown trout. [1] | {RIVER} [1] |",
    ]
    better = lines.index("## Better than the baseline (1)")
    assert lines[better + 4] == f"| **founder** Who opened the Crumb bakery? | Nobody \\| knows. | {FOUNDER} [1] |"
    assert lines[-6:] == [
        "", "## Failing cases (1)", "", "| case | why | answer | cited |", "|---|---|---|---|",
        f"| **river-fish** What do fishermen catch in the Alder river? | expected text missing from the answer | {RIVER} [1] "
        "| rivers.txt |",
    ]


def test_markdown_report_without_a_baseline_has_no_comparison(run_result, tmp_path):
    text = write_report(run_result, tmp_path / "r.md").read_text(encoding="utf-8")
    assert "baseline" not in text
    assert "## Failing cases (1)" in text


def test_html_report_embeds_the_chart(run_result, tmp_path):
    path = write_report(run_result, tmp_path / "r.html", regression_of(run_result), title="Gold & seeds")
    png = (tmp_path / "r.png").read_bytes()
    assert png.startswith(PNG_HEADER)
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>")
    assert "<title>Gold &amp; seeds</title>" in page
    embedded = re.search(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert embedded and base64.b64decode(embedded.group(1)) == png
    assert "<h2>Worse than the baseline (1)</h2>" in page
    assert "<h2>Better than the baseline (1)</h2>" in page
    assert "<h2>Failing cases (1)</h2>" in page
    assert ("<tr><td><b>river-fish</b><br>What do fishermen catch in the Alder river?</td>"
            f"<td>expected text missing from the answer</td><td>{RIVER} [1]</td><td>rivers.txt</td></tr>") in page
    assert "<tr><td><b>river-fish</b><br>What do fishermen catch in the Alder river?</td><td>Brown trout. [1]</td>" in page


def test_the_chart_is_a_png(run_result, tmp_path):
    assert plot_by_tag(run_result, tmp_path / "tags.png") == tmp_path / "tags.png"
    assert (tmp_path / "tags.png").read_bytes().startswith(PNG_HEADER)


def test_the_report_functions_are_still_importable_from_evaluation():
    from assistant.evaluation import plot_by_tag as old_plot, write_report as old_write

    assert (old_write, old_plot, evaluation.METRIC_LABELS) == (write_report, plot_by_tag, reports.METRIC_LABELS)


@pytest.mark.parametrize("module", ["assistant.evaluation", "assistant.reports"])
def test_either_module_imports_first_without_a_loop(module):
    code = f"import {module}, assistant.evaluation as e; print(e.write_report.__module__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out == "assistant.reports\n"
