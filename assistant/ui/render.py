"""Rendering for the browser and for API clients: answers as chat Markdown with linked ``[n]`` markers,
the sources panel (each cited passage with its sentence highlighted), the documents view, and answers and
documents as plain JSON data.

Everything here is a pure function of its arguments: user and document text is escaped, never trusted.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from typing import Any, Callable, Sequence

from ..citations import MARKER, Answer, Citation, says_or_mentions, shown
from ..core import Chat, DocumentInfo
from ..pages import IMAGE_KINDS, PageView
from ..readers import SUPPORTED
from ..wording import counted

CONTEXT_CHARS = 320  # passage text shown on each side of a cited sentence
MAX_SCORES_LISTED = 20

_MD_INLINE = re.compile(r"([\\`*_\[\]~|$@])")  # emphasis, code, links, tables, strike, maths, e-mails
_MD_LINE_START = re.compile(r"^([ \t]*)([#+=-])", re.MULTILINE)  # headings, lists, rules
_MD_NUMBERED = re.compile(r"^([ \t]*\d+)([.)])", re.MULTILINE)  # "1998. The bakery" is not a list


def escape_markdown(text: str) -> str:
    """Text that Markdown and HTML show exactly as written (no headings, links, emphasis or tags).

    Only what Markdown would act on is escaped (screen readers read the escapes aloud); ``<``, ``>``
    and ``&`` become HTML entities, which Markdown leaves alone.
    """
    text = _MD_INLINE.sub(r"\\\1", text)
    text = _MD_LINE_START.sub(r"\1\\\2", text)
    text = _MD_NUMBERED.sub(r"\1\\\2", text)
    text = text.replace("://", "\\://").replace("www.", "www\\.")  # no automatic links
    return html.escape(text, quote=False)


def _attr(text: str) -> str:
    return html.escape(text, quote=True)


def _shorten(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def render_answer(text: str, turn: int, citations: Sequence[Citation] = (), refused: bool = False) -> str:
    """An answer as chat-bubble Markdown: the text escaped, each ``[n]`` a clickable marker.

    Each marker names its turn and citation number in a class (``cite-{turn}-{n}``; the Chatbot's
    sanitiser drops ``data-`` attributes) so the page can bring the matching source card forward, and
    has a tooltip with the cited title and sentence. A document's own bracketed numbers are "[note n]"
    in a verified answer (``citations.shown``), so every "[n]" left is a marker.
    """
    by_number = {c.number: c for c in citations}
    parts, pos = [], 0
    for m in MARKER.finditer(text):
        n = int(m.group(1))
        if citations and n not in by_number:
            continue
        c = by_number.get(n)
        tip = f"[{n}] {c.title}: “{_shorten(shown(c.quote))}”" if c else f"source [{n}]"
        parts.append(escape_markdown(text[pos:m.start()]))
        parts.append(f' <span class="cite cite-{turn}-{n}" role="button" tabindex="0" '
                     f'title="{_attr(tip)}">[{n}]</span>')
        pos = m.end()
    parts.append(escape_markdown(text[pos:]))
    body = "".join(parts)
    if refused:
        return f'<div class="refusal"><span class="refusal-label">Not in the documents</span>\n\n{body}\n\n</div>'
    return body


def chat_messages(chat: Chat | None, pending: tuple[str, str] | None = None) -> list[dict[str, str]]:
    """The conversation as Chatbot messages; ``pending`` is (question, partial answer) being streamed."""
    messages: list[dict[str, str]] = []
    for turn, (question, answer) in enumerate(chat.turns if chat else []):
        messages.append({"role": "user", "content": escape_markdown(question)})
        messages.append({"role": "assistant",
                         "content": render_answer(answer.text, turn, answer.citations, answer.refused)})
    if pending is not None:
        question, partial = pending
        turn = len(chat.turns) if chat else 0
        messages.append({"role": "user", "content": escape_markdown(question)})
        messages.append({"role": "assistant", "content": render_answer(partial, turn) if partial else "…"})
    return messages


_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*\s+|\n+")


def passage_context(doc_text: str, start: int, end: int, bounds: tuple[int, int] | None = None,
                    width: int = CONTEXT_CHARS) -> tuple[str, str, str, bool, bool]:
    """(before, cited, after, clipped_before, clipped_after): the cited span inside its passage.

    ``bounds`` are the passage's offsets in the document (default: the whole document); at most
    ``width`` characters are kept on each side, cut where a sentence ends if one does in that window,
    else at a space, so neither a word nor (where it can be helped) a sentence is broken.
    """
    lo_bound, hi_bound = bounds or (0, len(doc_text))
    lo_bound, hi_bound = max(0, min(lo_bound, start)), min(len(doc_text), max(hi_bound, end))
    lo = max(lo_bound, start - width)
    hi = min(hi_bound, end + width)
    if lo > lo_bound:
        ends = [m.end() for m in _SENTENCE_END.finditer(doc_text, lo, start)]
        space = doc_text.find(" ", lo, start)
        lo = ends[0] if ends else (space + 1 if space >= 0 else lo)
    if hi < hi_bound:
        ends = [m.start() + len(m.group().rstrip()) for m in _SENTENCE_END.finditer(doc_text, end, hi)
                if m.end() <= hi and m.start() > end]
        space = doc_text.rfind(" ", end, hi)
        hi = ends[-1] if ends else (space if space >= 0 else hi)
    return doc_text[lo:start], doc_text[start:end], doc_text[end:hi], lo > lo_bound, hi < hi_bound


def cited_html(c: Citation, cited: str) -> str:
    """The cited sentence, escaped, with its short answer (``Citation.span``) marked inside it."""
    span = c.span
    if span is None or cited != c.quote:
        return html.escape(cited)
    a, b = span["start"] - c.start, span["end"] - c.start
    return (f'{html.escape(cited[:a])}<strong class="short-answer">{html.escape(cited[a:b])}</strong>'
            f"{html.escape(cited[b:])}")


def _passage_bounds(answer: Answer, citation: Citation) -> tuple[int, int] | None:
    for passage in answer.passages:
        if getattr(passage, "id", None) == citation.passage_id:
            return passage.start, passage.end
    return None


EMPTY_SOURCES = (
    '<div class="sources-empty">Sources appear here. Each <span class="cite-sample">[n]</span> in an answer '
    "points at the passage it quotes, with the cited sentence highlighted; hover or click a marker to bring its "
    "source forward.</div>"
)


# What the question asked for, as the sources panel names it.
KIND_LABELS = {"fact": "a fact", "list": "a list", "overview": "an overview", "time": "what happened then",
               "reason": "a reason", "yesno": "yes or no", "comparison": "a comparison"}


def render_sources(answer: Answer | None, turn: int, documents: dict[str, DocumentInfo],
                   document_text: Callable[[str], str | None], show_scores: bool = False) -> str:
    """The sources panel for one answer: per citation its title, date and highlighted passage."""
    if answer is None:
        return EMPTY_SOURCES
    kind = KIND_LABELS.get(answer.kind, answer.kind)
    head = (f'<div class="sources-question">Sources for “{html.escape(answer.question)}”</div>'
            f'<div class="answer-kind">asked for {html.escape(kind)}</div>')
    cards = []
    if answer.refused and answer.missing:
        cards.append(f'<div class="sources-refused"><strong>No sources.</strong> No indexed document '
                     f"{says_or_mentions(answer.missing)}s {html.escape(answer.missing)}, so nothing is cited.</div>")
    elif answer.refused:
        cards.append('<div class="sources-refused"><strong>No sources.</strong> Nothing in the indexed documents '
                     "answers this question closely enough to quote, so nothing is cited.</div>")
    for c in answer.citations:
        info = documents.get(c.doc_id)
        date = info.date if info and info.date else ""
        text = document_text(c.doc_id)
        opener = ""
        if text is not None and text[c.start:c.end] == c.quote:
            before, cited, after, cut_before, cut_after = passage_context(text, c.start, c.end,
                                                                          _passage_bounds(answer, c))
            opener = (f'<button type="button" class="page-open" data-turn="{turn}" data-n="{c.number}" '
                      f'aria-controls="page-view">{html.escape(page_label(c))}</button>')
        else:  # the document changed or went away since: show the quote alone
            before, cited, after, cut_before, cut_after = "", c.quote, "", False, False
        where = html.escape(c.doc_id) + " · " + (f'<span class="source-location">{html.escape(c.where)}</span>'
                                                  if c.where else f"characters {c.start}–{c.end}")
        if show_scores:
            where += f' · <span class="score">evidence score {c.score:.3f}</span>'
        cards.append(
            f'<article class="source" id="source-{turn}-{c.number}" data-turn="{turn}" data-n="{c.number}">'
            f'<header><span class="source-n">[{c.number}]</span> '
            f'<span class="source-title">{html.escape(c.title)}</span>'
            + (f' <span class="source-date">{html.escape(date)}</span>' if date else "")
            + f'</header><div class="source-where">{where}</div>'
            f'<blockquote class="passage">{"… " if cut_before else ""}{html.escape(before)}'
            f'<mark class="cited">{cited_html(c, cited)}</mark>{html.escape(after)}{" …" if cut_after else ""}'
            f"</blockquote>{opener}</article>"
        )
    if show_scores and answer.passages:
        rows = []
        for rank, p in enumerate(answer.passages[:MAX_SCORES_LISTED], 1):
            info = documents.get(p.doc_id)
            title = info.title if info else p.doc_id
            rows.append(f"<tr><td>{rank}</td><td>{html.escape(title)}</td><td class=\"chars\">{p.start}–{p.end}</td>"
                        f'<td class="score">{p.score:.3f}</td></tr>')
        cards.append(
            f'<details class="retrieved" open><summary>Retrieved passages ({len(answer.passages)}), best first'
            f"</summary><table><thead><tr><th>#</th><th>document</th><th>characters</th><th>retrieval score</th></tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table>"
            f'<div class="retrieved-note">Answer confidence {answer.confidence:.3f} · mode {html.escape(answer.mode)}'
            f" · query “{html.escape(answer.query)}”</div></details>"
        )
    return f'<div class="sources">{head}{"".join(cards)}</div>'


def page_label(citation: Citation) -> str:
    """What a source card's button opens: the page of a PDF or image, else the text around the quote."""
    kind = SUPPORTED.get(Path(citation.doc_id).suffix.lower())
    if kind == "pdf" or kind in IMAGE_KINDS:
        return f"Show on the page ({citation.where})" if citation.where else "Show on the image"
    return "Show in its section"


def render_page_view(view: PageView, number: int) -> str:
    """A source opened where it sits: the page image with a box over each line of the quote, or the
    section's text with the quote marked; either way its title, place and any notice."""
    where = f" · {html.escape(view.where)}" if view.where else ""
    head = (f'<header><span class="source-n">[{number}]</span> <span class="source-title">{html.escape(view.title)}'
            f'</span><div class="source-where">{html.escape(view.doc_id)}{where}</div>'
            '<button type="button" class="page-close" aria-label="Close the page view">Close</button></header>')
    notice = f'<div class="page-notice" role="status">⚠ {html.escape(view.notice)}</div>' if view.notice else ""
    if view.kind == "page":
        what = f"Page {view.page}" if view.where.startswith(("p.", "pp.")) else "The image"
        alt = f"{what} of {view.title} ({view.doc_id}), the quoted words boxed"
        marks = "".join(
            f'<div class="page-mark" aria-hidden="true" style="left:{100 * x / view.width:.3f}%;'
            f"top:{100 * y / view.height:.3f}%;width:{100 * w / view.width:.3f}%;"
            f'height:{100 * h / view.height:.3f}%"></div>' for x, y, w, h in view.boxes)
        source = "data:image/png;base64," + base64.b64encode(view.image).decode("ascii")
        body = (f'<div class="page-frame"><div class="page-sheet"><img class="page-image" src="{source}" '
                f'width="{view.width}" height="{view.height}" alt="{html.escape(alt)}" '
                f'title="Click to zoom in or out" tabindex="0">{marks}</div></div>'
                f'<p class="page-quote">Boxed on the page: “{html.escape(view.quote)}”</p>')
    else:
        body = (f'<blockquote class="section-text">{"… " if view.clipped_before else ""}{html.escape(view.before)}'
                f'<mark class="cited">{html.escape(view.quote)}</mark>{html.escape(view.after)}'
                f'{" …" if view.clipped_after else ""}</blockquote>')
    label = f"Source [{number}] {'on its page' if view.kind == 'page' else 'in its section'}"
    return (f'<section class="page-view page-view-{view.kind}" aria-label="{html.escape(label)}">'
            f"{head}{notice}{body}</section>")


def render_page_message(message: str) -> str:
    """One line in the page view instead of a page: why the source could not be opened."""
    return f'<div class="page-notice" role="status">⚠ {html.escape(message)}</div>'


def render_documents(documents: Sequence[DocumentInfo], skipped: Sequence[Any] = ()) -> str:
    """The documents view: what is indexed (title, file, date, passages, when) and what was skipped."""
    if not documents:
        body = '<p class="documents-empty">No documents are indexed.</p>'
    else:
        rows = "".join(
            f"<tr><td>{html.escape(d.title)}</td><td><code>{html.escape(d.doc_id)}</code></td>"
            f"<td class=\"date\">{html.escape(d.date)}</td><td class=\"num\">{d.passages}</td>"
            f"<td class=\"when\">{html.escape(_when(d.indexed_at))}</td></tr>"
            for d in documents
        )
        total = sum(d.passages for d in documents)
        body = (f'<p class="documents-summary">{counted(len(documents), "document")}, '
                f"{counted(total, 'passage')} indexed.</p>"
                '<table class="documents"><thead><tr><th>title</th><th>file</th><th>date</th><th>passages</th>'
                f"<th>indexed</th></tr></thead><tbody>{rows}</tbody></table>")
    notices = [s for s in skipped if getattr(s, "indexed", False)]
    skipped = [s for s in skipped if not getattr(s, "indexed", False)]
    if skipped:
        items = "".join(f"<li>{html.escape(str(s))}</li>" for s in skipped)
        body += f'<details class="skipped"><summary>Not indexed ({len(skipped)})</summary><ul>{items}</ul></details>'
    if notices:
        items = "".join(f"<li>{html.escape(str(s))}</li>" for s in notices)
        body += f'<details class="skipped"><summary>Indexed with a note ({len(notices)})</summary><ul>{items}</ul></details>'
    return f'<div id="documents-list">{body}</div>'


def _when(stamp: str) -> str:
    return stamp.replace("T", " ").replace("+00:00", " UTC") if stamp else ""


def answer_json(answer: Answer, documents: dict[str, DocumentInfo]) -> dict[str, Any]:
    """An answer as plain JSON data for API clients: ``Answer.to_dict`` plus each source's date."""
    data = answer.to_dict()
    for citation in data["citations"]:
        info = documents.get(citation["doc_id"])
        citation["date"] = info.date if info else ""
    return data


def documents_json(documents: Sequence[DocumentInfo]) -> list[dict[str, Any]]:
    return [{"doc_id": d.doc_id, "title": d.title, "date": d.date, "passages": d.passages,
             "indexed_at": d.indexed_at} for d in documents]


def render_status(message: str) -> str:
    """A warning line for the chat's status area; empty for no message."""
    return f"⚠ {escape_markdown(message)}" if message else ""


# ------------------------------------------------------------------ the Evaluation tab

CHANGES = {"worse": "worse than the baseline", "better": "better than the baseline", "same": "same as the baseline",
           "new": "not in the baseline"}
SUMMARY_METRICS = [("accuracy", "accuracy"), ("answer_accuracy", "answer accuracy (answerable cases)"),
                   ("refusal_precision", "refusal precision"), ("refusal_recall", "refusal recall"),
                   ("citation_precision", "citation precision")]


def _metric(value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def render_eval_summary(run: Any) -> str:
    """A run's head: what ran with which settings, passed of all, the metrics, and the change against the
    baseline (an ``evaluation.EvaluationRun`` of the Evaluation tab)."""
    m = run.result.metrics
    rows = "".join(f"<tr><th>{html.escape(label)}</th><td>{_metric(m.get(key))}</td></tr>" for key, label in SUMMARY_METRICS)
    if run.comparison:
        change = (f"{counted(len(run.comparison.worse), 'case')} worse and {len(run.comparison.better)} better than "
                  f"the baseline, {len(run.comparison.same)} the same, {len(run.comparison.new)} new")
    else:
        change = "No baseline yet: “Set as baseline” keeps this run to compare later runs with."
    return (f'<div class="eval-summary"><p class="eval-head"><strong>{m["passed"]} of '
            f'{counted(m["cases"], "case")} passed</strong> · {html.escape(run.source)} · '
            f'{html.escape(run.settings)}</p><table class="eval-metrics">{rows}</table>'
            f'<p class="eval-change">{html.escape(change)}</p></div>')


def eval_rows(run: Any, failures_only: bool = False, worse_only: bool = False, tag: str = "") -> list:
    """The run's case results shown: worse than the baseline first, then the other failures, then the rest."""
    rank = {"worse": 0}
    rows = [r for r in run.result.cases if (not failures_only or not r.passed)
            and (not worse_only or run.change(r.id) == "worse") and (not tag or tag in r.tags)]
    return sorted(rows, key=lambda r: rank.get(run.change(r.id), 1 if not r.passed else 2))


def render_eval_cases(run: Any, failures_only: bool = False, worse_only: bool = False, tag: str = "") -> str:
    """Every case as a row: question, expected, the answer with its citations (each opens its source), pass or
    fail and why, and what changed against the baseline."""
    rows = eval_rows(run, failures_only, worse_only, tag)
    shown = f"{counted(len(rows), 'case')} shown of {len(run.result.cases)}"
    if not rows:
        return f'<div class="eval-cases"><p class="eval-count">{shown}.</p></div>'
    body = []
    for r in rows:
        case, change = run.case(r.id), run.change(r.id)
        verdict = "pass" if r.passed else "fail"
        why = f'<div class="eval-why">{html.escape(r.why)}</div>' if r.why else ""
        body.append(
            f'<tr class="eval-row {verdict} {change}" data-case="{_attr(r.id)}"><td class="eval-question"><b>'
            f'{html.escape(r.id)}</b><div>{html.escape(" → ".join(case.turns) if case else r.question)}</div>'
            f'<div class="eval-tags">{html.escape(", ".join(r.tags))}</div></td>'
            f'<td class="eval-expected">{render_expected(case)}</td>'
            f'<td class="eval-answer">{render_cited_answer(run.result.answers.get(r.id), r.answer, r.id)}</td>'
            f'<td class="eval-verdict"><span class="verdict {verdict}">{"✓ pass" if r.passed else "✗ fail"}</span>{why}</td>'
            f'<td class="eval-change"><span class="change {change}" title="{_attr(CHANGES[change])}">{change}</span></td></tr>')
    return (f'<div class="eval-cases"><p class="eval-count">{shown}.</p><table><thead><tr><th>case</th><th>expected</th>'
            "<th>answer</th><th>result</th><th>vs baseline</th></tr></thead><tbody>" + "".join(body) + "</tbody></table></div>")


def render_expected(case: Any) -> str:
    """What a case expects, as a sentence: a refusal, any of ..., all of ..., and where it must be cited."""
    if case is None:
        return ""
    if case.refuse:
        parts = ["a refusal"]
    else:
        parts = ([f"any of {', '.join(f'“{e}”' for e in case.expect_any)}"] if case.expect_any else []) + (
            [f"all of {', '.join(f'“{e}”' for e in case.expect_all)}"] if case.expect_all else [])
    if case.sources:
        parts.append(f"cited from {', '.join(case.sources)}")
    return html.escape("; ".join(parts))


def render_cited_answer(answer: Answer | None, text: str, case_id: str, side: str = "") -> str:
    """An answer's text with its markers, and each citation's place and quote with a button that opens it in
    its source (its page, the quote boxed, for a PDF)."""
    if answer is None:
        return html.escape(text)
    body = MARKER.sub(lambda m: f' <sup class="eval-cite">[{m.group(1)}]</sup>', html.escape(answer.text))
    if answer.refused:
        return f'<div class="refusal"><span class="refusal-label">Not in the documents</span> {body}</div>'
    items = "".join(
        f'<li><span class="source-n">[{c.number}]</span> {html.escape(c.title)} · <span class="source-where">'
        f'{html.escape(c.doc_id)}{" · " + html.escape(c.where) if c.where else ""}</span> '
        f'<button type="button" class="page-open eval-source" data-case="{_attr(case_id)}" data-side="{side}" '
        f'data-n="{c.number}">{html.escape(page_label(c))}</button>'
        f'<blockquote class="eval-quote">{html.escape(shown(c.quote))}</blockquote></li>' for c in answer.citations)
    return f'<div class="eval-text">{body}</div><ol class="eval-sources">{items}</ol>'


def render_side_by_side(comparison: Any) -> str:
    """Two settings over the same cases: each one's metrics, then every case's two answers, where they
    differ first (an ``evaluation.ComparisonRun``)."""
    side = comparison.side
    a_label, b_label = (html.escape(label) for label in side.labels)
    metrics = "".join(f"<tr><th>{html.escape(label)}</th><td>{_metric(side.a.metrics.get(key))}</td>"
                      f"<td>{_metric(side.b.metrics.get(key))}</td></tr>" for key, label in SUMMARY_METRICS)
    pairs, differ = side.pairs(), len(side.differ())
    rows = []
    for a, b in pairs:
        differs = a.passed != b.passed or a.answer != b.answer
        cells = "".join(
            f'<td class="eval-answer"><span class="verdict {"pass" if r.passed else "fail"}">'
            f'{"✓" if r.passed else "✗"}</span> {render_cited_answer(run.answers.get(r.id), r.answer, r.id, name)}</td>'
            for r, run, name in ((a, side.a, "a"), (b, side.b, "b")))
        rows.append(f'<tr class="eval-pair {"differs" if differs else "alike"}" data-case="{_attr(a.id)}">'
                    f'<td class="eval-question"><b>{html.escape(a.id)}</b><div>{html.escape(a.question)}</div>'
                    f'{"<div class=eval-differs>differs</div>" if differs else ""}</td>{cells}</tr>')
    return (f'<div class="eval-compare"><p class="eval-head"><strong>A</strong>: {a_label} · <strong>B</strong>: '
            f'{b_label} · {counted(len(pairs), "case")}; the answers differ in {differ}.</p>'
            f'<table class="eval-metrics"><tr><th></th><th>A</th><th>B</th></tr>{metrics}</table>'
            f'<table><thead><tr><th>case</th><th>A: {a_label}</th><th>B: {b_label}</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')
