"""Gold sets and deterministic metrics: is every answer still right after a change?

A gold file (YAML list or JSONL) holds cases with ``id``, ``question`` or ``turns``, ``expect_any``,
``expect_all``, ``refuse``, ``sources`` and ``tags``. Matching is normalised: case, punctuation,
white space and digit grouping ("6,01,427" matches "601427").

>>> from assistant.evaluation import evaluate, load_gold            # doctest: +SKIP
>>> result = evaluate(bot, load_gold("tests/gold/seed.yaml"))       # doctest: +SKIP
>>> result.metrics["accuracy"]                                      # doctest: +SKIP
0.9
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

from .citations import Answer
from .errors import AssistantError

CASE_FIELDS = {"id", "question", "turns", "expect_any", "expect_all", "refuse", "sources", "tags"}


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
    why: str = ""


@dataclass
class EvalResult:
    metrics: dict[str, Any]
    by_tag: dict[str, dict[str, Any]]
    cases: list[CaseResult]

    @property
    def failures(self) -> list[CaseResult]:
        return [c for c in self.cases if not c.passed]

    def to_dict(self) -> dict[str, Any]:
        return {"metrics": self.metrics, "by_tag": self.by_tag, "cases": [asdict(c) for c in self.cases]}


def normalise(text: str) -> str:
    """Lower case, no punctuation, single spaces, no digit grouping: for forgiving string matching."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"(?<=\d)[,\s.'\u00a0](?=\d{2,3}\b)", "", text)  # 6,01,427 / 601 427 -> 601427
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
    try:
        if path.suffix.lower() == ".jsonl":
            items = [json.loads(line) for line in raw.splitlines() if line.strip()]
        else:
            items = yaml.safe_load(raw) or []
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise GoldFileError(f"gold file {path} is not valid {'JSONL' if path.suffix == '.jsonl' else 'YAML'}: "
                            f"{str(exc).splitlines()[0]}") from None
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
    turns = item.get("turns") or ([item["question"]] if item.get("question") else [])
    if not turns or not all(isinstance(t, str) and t.strip() for t in turns):
        raise GoldFileError(f"{where} ({item['id']}) needs a question or a list of turns")
    refuse = bool(item.get("refuse", False))
    expect_any = tuple(str(x) for x in item.get("expect_any") or ())
    expect_all = tuple(str(x) for x in item.get("expect_all") or ())
    if not refuse and not expect_any and not expect_all:
        raise GoldFileError(f"{where} ({item['id']}) needs expect_any, expect_all or refuse: true")
    return GoldCase(id=str(item["id"]), turns=tuple(turns), expect_any=expect_any, expect_all=expect_all,
                    refuse=refuse, sources=tuple(item.get("sources") or ()), tags=tuple(item.get("tags") or ()))


def score_case(case: GoldCase, answer: Answer, latency_s: float = 0.0) -> CaseResult:
    """Judge one answer against its case."""
    why = ""
    if case.refuse:
        answer_correct = answer.refused
        why = "" if answer_correct else "answered a question the documents cannot answer"
        citation_correct = None
    else:
        hits_any = not case.expect_any or any(contains(answer.text, e) for e in case.expect_any)
        hits_all = all(contains(answer.text, e) for e in case.expect_all)
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
    )


def _same_source(doc_id: str, source: str) -> bool:
    return doc_id == source or Path(doc_id).name == source or Path(doc_id).stem == source


def _strip_markers(text: str) -> str:
    return re.sub(r"\s?\[\d+\]", "", text)


def run_case(bot, case: GoldCase) -> tuple[Answer, float]:
    """Ask a case through the public API; returns the scored turn's answer and its latency."""
    chat = bot.chat()
    for turn in case.turns[:-1]:
        chat.ask(turn)
    start = time.perf_counter()
    answer = chat.ask(case.turns[-1])
    return answer, time.perf_counter() - start


def metrics(results: list[CaseResult], k: int = 5) -> dict[str, Any]:
    """Accuracy, refusal precision/recall, citation precision, hit@k/MRR, length and latency."""
    n = len(results)
    refused = [r for r in results if r.refused]
    unanswerable = [r for r in results if r.expected_refusal]
    answered = [r for r in results if not r.refused and not r.expected_refusal]
    cited = [r for r in results if r.citation_correct is not None and not r.refused]
    ranked = [r for r in results if not r.expected_refusal and r.source_rank is not None or
              (not r.expected_refusal and r.tags is not None and r.source_rank is None and r.cited is not None
               and False)]
    with_sources = [r for r in results if not r.expected_refusal and (r.source_rank is not None or r.cited)]
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
    }
    del answered, ranked
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
    results = []
    for i, case in enumerate(cases, start=1):
        answer, latency = run_case(bot, case)
        results.append(score_case(case, answer, latency))
        if progress:
            progress(i, len(cases), results[-1])
    by_tag: dict[str, dict[str, Any]] = {}
    for tag in sorted({t for r in results for t in r.tags}):
        by_tag[tag] = metrics([r for r in results if tag in r.tags], k=bot.settings.top_k)
    return EvalResult(metrics=metrics(results, k=bot.settings.top_k), by_tag=by_tag, cases=results)
