"""The regression loop's server side, with no Gradio: feedback saved as gold cases, the Evaluation tab's runs.

``EvaluationService`` serves one collection's ``Assistant``: ``save_feedback`` turns a 👍/👎 on an answer into a
case of the collection's gold file (``Assistant.gold_case`` and ``evaluation_gold.GoldFile``); ``run`` scores
a gold set with ``evaluation.evaluate`` (the code ``assistant eval`` runs, not a copy), compares it with the
collection's baseline and writes the CLI's reports (``reports.write_report``); ``set_baseline`` keeps a run as
that baseline; ``compare`` runs the cases under two settings (``evaluation.evaluate_side_by_side``).
"""

from __future__ import annotations

import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ..citations import Answer
from ..config import parse_overrides
from ..core import Assistant
from ..evaluation import (CaseResult, Comparison, EvalResult, GoldCase, GoldFileError, SideBySide, compare,
                          describe_overrides, evaluate, evaluate_side_by_side, load_run, normalise, save_run)
from ..evaluation_gold import GoldFile, baseline_path, read_cases
from ..reports import write_comparison_report, write_report
from ..wording import counted

Step = Callable[[int, int, CaseResult], None]

KEEP_REPORTS_S = 3600  # a run's reports stay downloadable this long (Gradio keeps its own copies as long)


@dataclass
class EvaluationRun:
    """One run of a gold set: its cases, their results and answers, and what changed against the baseline."""

    cases: list[GoldCase]
    result: EvalResult
    comparison: Comparison | None
    source: str  # what was run, for people: "the gold file of seeds (2 cases)"
    settings: str  # "top_k=5, answer_mode=extractive"
    reports: list[Path] = field(default_factory=list)  # report.md, report.html, report.png, run.json

    @property
    def chart(self) -> Path | None:
        return next((p for p in self.reports if p.suffix == ".png"), None)

    def change(self, case_id: str) -> str:
        """"better", "worse", "same", or "new" (no baseline, or not in it)."""
        return self.comparison.change(case_id) if self.comparison else "new"

    def case(self, case_id: str) -> GoldCase | None:
        return next((c for c in self.cases if c.id == case_id), None)


@dataclass
class ComparisonRun:
    """The same cases under two settings, with its reports."""

    cases: list[GoldCase]
    side: SideBySide
    reports: list[Path] = field(default_factory=list)

    def answer(self, side: str, case_id: str) -> Answer | None:
        return (self.side.a if side == "a" else self.side.b).answers.get(case_id)


class EvaluationService:
    """The gold file and the runs of one collection's ``Assistant``; reports go under ``reports_dir``."""

    def __init__(self, bot: Assistant, reports_dir: Path):
        self.bot = bot
        self.reports_dir = Path(reports_dir)

    @property
    def gold(self) -> GoldFile:
        return GoldFile(self.bot.gold_file)

    @property
    def baseline(self) -> Path:
        return baseline_path(self.bot.gold_file)

    def describe(self) -> str:
        """The gold file and its baseline, in one line for the tab."""
        try:
            count = counted(len(self.gold.cases()), "case")
        except GoldFileError as exc:
            return str(exc)
        baseline = "a baseline set" if self.baseline.is_file() else "no baseline yet"
        return f"The gold file of {self.name} holds {count} ({self.bot.gold_file}); {baseline}."

    @property
    def name(self) -> str:
        return self.bot.collection or Path(self.bot.settings.docs_dir).name

    # --------------------------------------------------------------- feedback

    def save_feedback(self, answer: Answer, verdict: Any, correction: Any = None,
                      history: Sequence[str] = ()) -> GoldCase:
        """The case ``verdict`` on ``answer`` makes, added to (or updated in) the collection's gold file."""
        return self.gold.save(self.bot.gold_case(answer, verdict, correction, list(history)))

    def answer_for(self, question: str, history: Sequence[str], turns: Sequence[tuple[str, Answer]] = ()) -> Answer:
        """The answer feedback is about: the conversation's own when ``turns`` holds that question after that
        history, else the question asked now."""
        asked = [normalise(q) for q, _ in turns]
        wanted = [normalise(q) for q in [*history, question]]
        for i in range(len(turns)):
            if asked[:i + 1] == wanted:
                return turns[i][1]
        return self.bot.ask(question, history=list(history))

    # --------------------------------------------------------------- runs

    def cases(self, upload: str | Path | None = None) -> tuple[list[GoldCase], str]:
        """The cases to run: an uploaded gold file's (YAML, JSONL or CSV, up to ``max_file_mb``), else the
        collection's; and what they are, for people."""
        if upload:
            cases = read_cases(upload, self.bot.settings.max_file_mb)
            return cases, f"the uploaded {Path(upload).name} ({counted(len(cases), 'case')})"
        cases = self.gold.cases()
        if not cases:
            raise GoldFileError(f"the gold file of {self.name} has no cases yet; give an answer a thumbs-up or "
                                "thumbs-down in the chat, or upload a gold file")
        return cases, f"the gold file of {self.name} ({counted(len(cases), 'case')})"

    def answering(self, top_k: int | None = None, mode: str | None = None) -> tuple[Assistant, dict[str, Any]]:
        """The assistant answering with the session's number of passages and answer mode, and those settings."""
        settings = self.bot.settings
        overrides = {"top_k": top_k or settings.top_k, "answer_mode": mode or settings.answer_mode}
        return self.bot.with_settings(**overrides), overrides

    def run(self, cases: list[GoldCase], source: str, top_k: int | None = None, mode: str | None = None,
            progress: Step | None = None) -> EvaluationRun:
        """Score ``cases`` as ``assistant eval`` does, against the collection's baseline when there is one, and
        write the CLI's reports (Markdown, HTML, the chart, the run's JSON)."""
        bot, overrides = self.answering(top_k, mode)
        result = evaluate(bot, cases, progress=progress)
        baseline = load_run(self.baseline) if self.baseline.is_file() else None
        comparison = compare(result, baseline) if baseline else None
        folder, title = self.new_reports_folder(), f"Gold-set evaluation: {self.name}"
        markdown = write_report(result, folder / "report.md", comparison, title=title)
        chart = folder / "report.png"  # drawn once for both reports
        reports = [markdown, write_report(result, folder / "report.html", comparison, title=title, chart=chart), chart]
        save_run(result, folder / "run.json", gold=source, docs=str(self.bot.settings.docs_dir))
        return EvaluationRun(cases, result, comparison, source, describe_overrides(overrides),
                             [*reports, folder / "run.json"])

    def set_baseline(self, run: EvaluationRun) -> Path:
        """Keep ``run`` as the collection's baseline, beside its gold file (what ``assistant eval`` compares with)."""
        save_run(run.result, self.baseline, gold=run.source, docs=str(self.bot.settings.docs_dir),
                 settings=run.settings)
        return self.baseline

    def compare(self, cases: list[GoldCase], a: str, b: str, progress: Step | None = None) -> ComparisonRun:
        """``cases`` under settings ``a`` and ``b`` ("top_k=10, reader=off"; "" as configured), both reports."""
        overrides = parse_overrides(a), parse_overrides(b)
        side = evaluate_side_by_side(self.bot, cases, *overrides, progress=progress)
        folder = self.new_reports_folder()
        chart = folder / "comparison.png"
        reports = [write_comparison_report(side, folder / "comparison.md"),
                   write_comparison_report(side, folder / "comparison.html", chart=chart), chart]
        return ComparisonRun(cases, side, reports)

    def new_reports_folder(self) -> Path:
        """A folder of its own for one run's reports; the runs of more than an hour ago are removed."""
        self.reports_dir.mkdir(parents=True, exist_ok=True)
        for old in self.reports_dir.iterdir():
            try:
                if time.time() - old.stat().st_mtime > KEEP_REPORTS_S:
                    shutil.rmtree(old, ignore_errors=True)
            except OSError:
                pass
        folder = self.reports_dir / uuid.uuid4().hex[:12]
        folder.mkdir()
        return folder

