"""Gold sets and deterministic metrics: is every answer still right after a change?

A gold file (YAML list or JSONL) holds cases with ``id``, ``question`` or ``turns``, ``expect_any``,
``expect_all``, ``refuse``, ``sources``, ``location`` (where a citation must point: ``{page: 2}``,
``{slide: 3}``, ``{sheet: Sales, row: 4}``; a cited range that covers it counts) and ``tags``. Matching is normalised: case, punctuation,
white space and digit grouping ("6,01,427" matches "601427").

>>> from assistant.evaluation import evaluate, load_gold            # doctest: +SKIP
>>> result = evaluate(bot, load_gold("tests/gold/seed.yaml"))       # doctest: +SKIP
>>> result.metrics["accuracy"]                                      # doctest: +SKIP
0.9

Reports of a run (Markdown, HTML, the accuracy-by-tag PNG) are written by ``assistant.reports``.
"""

from __future__ import annotations

import json
import re
import statistics
import time
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from .citations import MARKER, Answer
from .documents import sentence_spans
from .errors import AssistantError
from .reports import METRIC_LABELS, plot_by_tag, write_report  # noqa: F401  (moved there; still importable here)

# libyaml's loader when PyYAML has it: a gold file the chat appends to is read at every save (0.014 s against
# 0.096 s for the 147 seed cases)
FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
CASE_FIELDS = {"id", "question", "turns", "expect_any", "expect_all", "refuse", "sources", "location", "tags"}


class GoldFileError(AssistantError):
    """The gold file cannot be read or a case is malformed."""


@dataclass(frozen=True)
class GoldCase:
    id: str
    turns: tuple[str, ...]
    expect_any: tuple[str, ...] = ()
    expect_all: tuple[str, ...] = ()
    refuse: bool = False
    sources: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    location: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def question(self) -> str:
        return self.turns[-1]


@dataclass
class CaseResult:
    id: str
    question: str
    passed: bool
    answer: str
    refused: bool
    expected_refusal: bool
    answer_correct: bool  # expected strings present (answerable) or refused (unanswerable)
    citation_correct: bool | None  # cited passages hold the expected answer or source (answerable only)
    source_rank: int | None  # rank of the first retrieved passage from an expected source (1-based)
    words: int
    latency_s: float
    tags: list[str] = field(default_factory=list)
    cited: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    first_piece_s: float = 0.0  # time to the first streamed piece (the first token in llm mode)
    generated_sentences: int = 0  # sentences the model wrote (llm mode)
    dropped_sentences: int = 0  # of those, removed as unsupported by their citations
    why: str = ""
    locations: list[str] = field(default_factory=list)  # where each citation points ("p. 3"), in order


@dataclass
class EvalResult:
    metrics: dict[str, Any]
    by_tag: dict[str, dict[str, Any]]
    cases: list[CaseResult]
    # each case's Answer by case id, citations and all (for a view that opens a source); not saved by save_run
    answers: dict[str, Answer] = field(default_factory=dict, repr=False, compare=False)

    @property
    def failures(self) -> list[CaseResult]:
        return [c for c in self.cases if not c.passed]

    def to_dict(self) -> dict[str, Any]:
        return {"metrics": self.metrics, "by_tag": self.by_tag, "cases": [asdict(c) for c in self.cases]}


def normalise(text: str) -> str:
    """Lower case, no punctuation, single spaces, no digit grouping: for forgiving string matching."""
    text = unicodedata.normalize("NFKC", text).lower()
    # 6,01,427 / 601,427 / 601 427 -> 601427, without gluing "2021 120" into one number
    text = re.sub(r"(?<!\d)\d{1,3}(?:[,.'\u00a0 ]\d{2,3})+(?!\d)", lambda m: re.sub(r"\D", "", m.group()), text)
    text = re.sub(r"[^\w\s]|_", " ", text)
    return " ".join(text.split())


def contains(haystack: str, needle: str) -> bool:
    h, n = f" {normalise(haystack)} ", f" {normalise(needle)} "
    return n.strip() != "" and n in h


def load_gold(path: str | Path) -> list[GoldCase]:
    """Read a YAML (list of cases) or JSONL (one case per line) gold file."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise GoldFileError(f"cannot read gold file {path} ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise GoldFileError(f"gold file {path} is not UTF-8 text; save it as UTF-8 YAML or JSONL") from None
    cases = parse_gold(raw, path)
    if not cases:
        raise GoldFileError(f"gold file {path} has no cases; add at least one")
    return cases


def parse_gold(raw: str, path: str | Path) -> list[GoldCase]:
    """The cases of a gold file's text (JSONL when ``path`` ends in .jsonl, else YAML); [] when it holds none."""
    path = Path(path)
    if path.suffix.lower() == ".jsonl":
        items = []
        for n, line in enumerate(raw.splitlines(), start=1):
            if line.strip():
                try:
                    items.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise GoldFileError(f"gold file {path} is not valid JSONL: line {n}: {exc.msg}") from None
    else:
        try:
            try:
                items = yaml.load(raw, Loader=FAST_LOADER)
            except yaml.YAMLError:  # say what is wrong in the words of the pure-Python parser
                items = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}: " if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise GoldFileError(f"gold file {path} is not valid YAML: {where}{problem}") from None
        items = [] if items is None else items
    return gold_cases(items, path)


def gold_cases(items: Any, path: str | Path) -> list[GoldCase]:
    """The cases of a gold file's parsed items (a list of mappings), each checked; ``path`` names the file in
    errors."""
    if not isinstance(items, list):
        raise GoldFileError(f"gold file {path} must hold a list of cases")
    cases, seen = [], set()
    for n, item in enumerate(items, start=1):
        cases.append(_case(item, n, path))
        if cases[-1].id in seen:
            raise GoldFileError(f"gold file {path}: case id {cases[-1].id!r} is used twice")
        seen.add(cases[-1].id)
    return cases


def _case(item: Any, n: int, path: Path) -> GoldCase:
    where = f"gold file {path}, case {n}"
    if not isinstance(item, dict):
        raise GoldFileError(f"{where} is not a mapping")
    unknown = set(item) - CASE_FIELDS
    if unknown:
        raise GoldFileError(f"{where} has unknown fields: {', '.join(sorted(unknown))}")
    if "id" not in item:
        raise GoldFileError(f"{where} has no id")
    raw_turns = item.get("turns") or item.get("question")
    raw_turns = [raw_turns] if isinstance(raw_turns, str) else raw_turns
    if not isinstance(raw_turns, list) or not raw_turns or not all(isinstance(t, str) and t.strip() for t in raw_turns):
        raise GoldFileError(f"{where} ({item['id']}) needs a question or a list of turns")
    turns = tuple(raw_turns)
    refuse = bool(item.get("refuse", False))
    expect_any = _strings(item, "expect_any", where)
    expect_all = _strings(item, "expect_all", where)
    if not refuse and not expect_any and not expect_all:
        raise GoldFileError(f"{where} ({item['id']}) needs expect_any, expect_all or refuse: true")
    location = item.get("location") or {}
    if not isinstance(location, dict) or not all(isinstance(k, str) and isinstance(v, (str, int)) and
                                                 not isinstance(v, bool) for k, v in location.items()):
        raise GoldFileError(f"{where}: location must be a mapping like {{page: 3}} or {{sheet: Sales, row: 4}}")
    return GoldCase(id=str(item["id"]), turns=tuple(turns), expect_any=expect_any, expect_all=expect_all,
                    refuse=refuse, sources=_strings(item, "sources", where), tags=_strings(item, "tags", where),
                    location=dict(location))


def location_matches(expected: dict[str, Any], cited: dict[str, Any]) -> bool:
    """True when a cited location is (or, as a range like pages 3-4, covers) the expected one."""
    for key, value in expected.items():
        got, end = cited.get(key), cited.get(f"{key}_end")
        if got == value:
            continue
        if isinstance(value, int) and isinstance(got, int) and isinstance(end, int) and got <= value <= end:
            continue
        return False
    return True


def _strings(item: dict, name: str, where: str) -> tuple[str, ...]:
    """A field that holds a list of strings (a single string counts as a list of one)."""
    value = item.get(name)
    if value is None:
        return ()
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return (str(value),)
    if isinstance(value, list) and all(isinstance(x, (str, int, float)) and not isinstance(x, bool) for x in value):
        return tuple(str(x) for x in value)
    raise GoldFileError(f"{where}: {name} must be a string or a list of strings")


def score_case(case: GoldCase, answer: Answer, latency_s: float = 0.0, first_piece_s: float = 0.0) -> CaseResult:
    """Judge one answer against its case."""
    why = ""
    if case.refuse:
        answer_correct = answer.refused
        why = "" if answer_correct else "answered a question the documents cannot answer"
        citation_correct = None
    else:
        text = _strip_markers(answer.text)
        hits_any = not case.expect_any or any(contains(text, e) for e in case.expect_any)
        hits_all = all(contains(text, e) for e in case.expect_all)
        answer_correct = not answer.refused and hits_any and hits_all
        if answer.refused:
            why = "refused an answerable question"
        elif not answer_correct:
            why = "expected text missing from the answer"
        cited_text = " ".join(c.quote for c in answer.citations)
        holds = any(contains(cited_text, e) for e in case.expect_any + case.expect_all)
        names_source = bool(case.sources) and any(_same_source(c.doc_id, s) for c in answer.citations
                                                  for s in case.sources)
        citation_correct = bool(answer.citations) and (holds or names_source)
        if case.sources and answer.citations and not names_source:
            citation_correct = False
            why = why or "expected source not cited"
        if case.location and answer.citations and not any(
                location_matches(case.location, c.location) for c in answer.citations
                if not case.sources or any(_same_source(c.doc_id, s) for s in case.sources)):
            citation_correct = False
            why = why or (f"expected location {case.location} not cited (cited: "
                          f"{'; '.join(c.where or 'no location' for c in answer.citations)})")
        if citation_correct is False and not why:
            why = "no citations" if not answer.citations else "the cited passages do not hold the expected answer"
    rank = None
    if case.sources:
        for i, p in enumerate(answer.passages, start=1):
            if any(_same_source(p.doc_id, s) for s in case.sources):
                rank = i
                break
    passed = answer_correct and (citation_correct is not False)
    return CaseResult(
        id=case.id, question=case.question, passed=passed, answer=answer.text, refused=answer.refused,
        expected_refusal=case.refuse, answer_correct=answer_correct, citation_correct=citation_correct,
        source_rank=rank, words=0 if answer.refused else len(_strip_markers(answer.text).split()),
        latency_s=round(latency_s, 4), tags=list(case.tags), cited=[c.doc_id for c in answer.citations], why=why,
        sources=list(case.sources), first_piece_s=round(first_piece_s or latency_s, 4),
        generated_sentences=len(sentence_spans(answer.generated)) if answer.generated else 0,
        dropped_sentences=len(answer.dropped), locations=[c.where for c in answer.citations],
    )


def _same_source(doc_id: str, source: str) -> bool:
    return doc_id == source or Path(doc_id).name == source or Path(doc_id).stem == source


def _strip_markers(text: str) -> str:
    return MARKER.sub("", text)


def run_case(bot, case: GoldCase) -> tuple[Answer, float]:
    """Ask a case through the public API; returns the scored turn's answer and its latency."""
    answer, _, latency = run_case_streamed(bot, case)
    return answer, latency


def run_case_streamed(bot, case: GoldCase) -> tuple[Answer, float, float]:
    """Ask a case streaming the last turn: (answer, seconds to the first piece, seconds in all)."""
    chat = bot.chat()
    for turn in case.turns[:-1]:
        chat.ask(turn)
    start = time.perf_counter()
    first = None
    for piece in chat.stream(case.turns[-1]):
        if first is None:
            first = time.perf_counter() - start
        if isinstance(piece, Answer):
            return piece, first, time.perf_counter() - start
    raise RuntimeError("the answer stream ended without an answer")


def metrics(results: list[CaseResult], k: int = 5) -> dict[str, Any]:
    """Accuracy, refusal precision/recall, citation precision, hit@k/MRR, length and latency."""
    n = len(results)
    refused = [r for r in results if r.refused]
    unanswerable = [r for r in results if r.expected_refusal]
    cited = [r for r in results if r.citation_correct is not None and not r.refused]
    with_sources = [r for r in results if r.sources and not r.expected_refusal]
    words = [r.words for r in results if not r.refused]
    latencies = sorted(r.latency_s for r in results)
    out = {
        "cases": n,
        "passed": sum(r.passed for r in results),
        "accuracy": _ratio(sum(r.passed for r in results), n),
        "answer_accuracy": _ratio(sum(r.answer_correct for r in results if not r.expected_refusal),
                                  n - len(unanswerable)),
        "refusal_precision": _ratio(sum(r.expected_refusal for r in refused), len(refused)),
        "refusal_recall": _ratio(sum(r.refused for r in unanswerable), len(unanswerable)),
        "false_refusals": sum(1 for r in refused if not r.expected_refusal),
        "citation_precision": _ratio(sum(bool(r.citation_correct) for r in cited), len(cited)),
        f"hit@{k}": _ratio(sum(1 for r in with_sources if r.source_rank is not None and r.source_rank <= k),
                           len(with_sources)),
        "mrr": _ratio(sum(1.0 / r.source_rank for r in with_sources if r.source_rank), len(with_sources)),
        "median_words": statistics.median(words) if words else 0,
        "latency_p50_s": _percentile(latencies, 0.5),
        "latency_p95_s": _percentile(latencies, 0.95),
        "first_piece_p50_s": _percentile(sorted(r.first_piece_s for r in results), 0.5),
        "dropped_share": _ratio(sum(r.dropped_sentences for r in results),
                                sum(r.generated_sentences for r in results)),
    }
    return out


def _ratio(a: float, b: int) -> float | None:
    return round(a / b, 4) if b else None


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    return round(values[min(len(values) - 1, int(round(q * (len(values) - 1))))], 4)


def evaluate(bot, cases: Iterable[GoldCase] | str | Path,
             progress: Callable[[int, int, CaseResult], None] | None = None) -> EvalResult:
    """Run every case through ``bot`` (an ``Assistant``) and score it."""
    if isinstance(cases, (str, Path)):
        cases = load_gold(cases)
    cases = list(cases)
    results, answers = [], {}
    for i, case in enumerate(cases, start=1):
        answer, first, latency = run_case_streamed(bot, case)
        results.append(score_case(case, answer, latency, first))
        answers[case.id] = answer
        if progress:
            progress(i, len(cases), results[-1])
    by_tag: dict[str, dict[str, Any]] = {}
    for tag in sorted({t for r in results for t in r.tags}):
        by_tag[tag] = metrics([r for r in results if tag in r.tags], k=bot.settings.top_k)
    return EvalResult(metrics=metrics(results, k=bot.settings.top_k), by_tag=by_tag, cases=results, answers=answers)


# ---------------------------------------------------------------- runs and baselines


@dataclass
class Comparison:
    """How a run differs from a baseline run, case by case."""

    worse: list[dict[str, Any]]  # passed in the baseline, fail now
    better: list[dict[str, Any]]  # failed in the baseline, pass now
    missing: list[str]  # in the baseline, not in this run
    metric_deltas: dict[str, float]
    same: list[str] = field(default_factory=list)  # passed or failed in both
    new: list[str] = field(default_factory=list)  # in this run, not in the baseline

    def change(self, case_id: str) -> str:
        """What changed for one case of the run: "worse", "better", "same" or "new"."""
        if any(row["id"] == case_id for row in self.worse):
            return "worse"
        if any(row["id"] == case_id for row in self.better):
            return "better"
        return "same" if case_id in self.same else "new"


def save_run(result: EvalResult, path: str | Path, **info: Any) -> None:
    """Write a run (metrics, per-tag, per-case) as JSON, to compare later runs against."""
    data = {"info": info, **result.to_dict()}
    Path(path).write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")


def load_run(path: str | Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise GoldFileError(f"cannot read baseline run {path} ({exc.strerror})") from None
    except json.JSONDecodeError:
        raise GoldFileError(f"baseline run {path} is not JSON; make one with `assistant eval GOLD --out RUN.json`") from None
    if (not isinstance(data, dict) or not isinstance(data.get("cases"), list)
            or not isinstance(data.get("metrics"), dict)
            or not all(isinstance(c, dict) and "id" in c and "passed" in c for c in data["cases"])):
        raise GoldFileError(f"baseline run {path} has no cases/metrics; make one with `assistant eval --out`")
    return data


def compare(result: EvalResult, baseline: dict[str, Any]) -> Comparison:
    before = {c["id"]: c for c in baseline["cases"]}
    worse, better, same, new = [], [], [], []
    for case in result.cases:
        old = before.get(case.id)
        if old is None or old["passed"] == case.passed:
            (new if old is None else same).append(case.id)
            continue
        row = {"id": case.id, "question": case.question, "before": old["answer"], "after": case.answer,
               "why": case.why}
        (better if case.passed else worse).append(row)
    now = {c.id for c in result.cases}
    deltas = {}
    for key, value in result.metrics.items():
        old = baseline["metrics"].get(key)
        if isinstance(value, (int, float)) and isinstance(old, (int, float)):
            deltas[key] = round(value - old, 4)
    return Comparison(worse=worse, better=better, missing=sorted(set(before) - now), metric_deltas=deltas,
                      same=same, new=new)


# ---------------------------------------------------------------- two settings side by side


@dataclass
class SideBySide:
    """The same cases run under two settings (``a`` and ``b``, named by ``labels``), case by case."""

    labels: tuple[str, str]
    a: EvalResult
    b: EvalResult

    def pairs(self) -> list[tuple[CaseResult, CaseResult]]:
        """Every case's two results, where they differ first: pass/fail, then the answer's text."""
        others = {c.id: c for c in self.b.cases}
        pairs = [(a, others[a.id]) for a in self.a.cases if a.id in others]
        return sorted(pairs, key=lambda pair: (pair[0].passed == pair[1].passed, pair[0].answer == pair[1].answer))

    def differ(self) -> list[tuple[CaseResult, CaseResult]]:
        """The cases whose answers (or verdicts) differ between the two settings."""
        return [(a, b) for a, b in self.pairs() if a.passed != b.passed or a.answer != b.answer]


def evaluate_side_by_side(bot, cases: Iterable[GoldCase], a: dict[str, Any], b: dict[str, Any],
                          progress: Callable[[int, int, CaseResult], None] | None = None) -> SideBySide:
    """Run ``cases`` under settings ``a`` and then ``b`` (overrides of ``bot``'s, such as ``{"top_k": 10}`` or
    ``{"answer_mode": "llm"}``; ``{}`` is the settings as they are) over the same index (``bot.with_settings``)."""
    cases = list(cases)
    runs = []
    for n, overrides in enumerate((a, b)):
        done = n * len(cases)
        step = None if progress is None else (lambda i, total, case, done=done: progress(done + i, 2 * total, case))
        runs.append(evaluate(bot.with_settings(**overrides), cases, progress=step))
    return SideBySide(labels=(describe_overrides(a), describe_overrides(b)), a=runs[0], b=runs[1])


def describe_overrides(overrides: dict[str, Any]) -> str:
    """Settings overrides as people read them: "top_k=10, answer_mode=llm"; "as configured" for none."""
    return ", ".join(f"{k}={v}" for k, v in overrides.items()) or "as configured"


# ---------------------------------------------------------------- pytest helper


def gold_params(path: str | Path, baseline: str | Path | None = None) -> list:
    """``pytest.param`` per gold case, named by its id, for ``@pytest.mark.parametrize("case", ...)``.

    With a ``baseline`` run, cases that failed in it are strict xfails: a regression among the cases
    that passed fails the suite, and a known failure that starts passing says so.
    """
    import pytest

    failed_before: set[str] = set()
    if baseline is not None:
        failed_before = {c["id"] for c in load_run(baseline)["cases"] if not c["passed"]}
    params = []
    for case in load_gold(path):
        marks = [pytest.mark.xfail(strict=True, reason="fails in the baseline run")] if case.id in failed_before else []
        params.append(pytest.param(case, id=case.id, marks=marks))
    return params


def check_case(bot, case: GoldCase) -> CaseResult:
    """Ask one gold case and fail (AssertionError) with the question, expectation and answer if wrong."""
    answer, latency = run_case(bot, case)
    result = score_case(case, answer, latency)
    if not result.passed:
        wanted = ([f"any of {list(case.expect_any)}"] if case.expect_any else []) + (
            [f"all of {list(case.expect_all)}"] if case.expect_all else [])
        expected = "a refusal" if case.refuse else " and ".join(wanted)
        raise AssertionError(f"{case.id}: {result.why}\n  question: {case.question}\n  expected: {expected}\n"
                             f"  answer:   {answer.text}")
    return result
