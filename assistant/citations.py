"""Cited answers: ``Answer`` and ``Citation``, and the check that every marker points at a real span.

The invariant every answer leaving the assistant satisfies (``verify`` enforces it):

* every ``[n]`` in ``answer.text`` has exactly one citation numbered ``n``, and every citation is used;
* every citation's ``quote`` equals ``document.text[start:end]`` of the document it names;
* no other ``[n]`` stands in ``answer.text``: a document's own bracketed numbers (the footnote marks of
  Wikipedia text, papers and essays) are shown as ``[note n]`` where the answer quotes them (``shown``).

A citation also says where its quote sits in the source file (``location``: ``{"page": 12}``, ``{"slide":
3}``, ``{"sheet": "Sales", "row": 4, "row_end": 9}``; ``{}`` for plain text), and ``where`` says it for
people ("p. 12", "sheet Sales, rows 4-9").
"""

from __future__ import annotations

import re
import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from .readers import describe_location

MARKER = re.compile(r"\s?\[(\d+)\]")  # the assistant's citation marker
# A document's own bracketed numbers: footnote and reference marks ("[2]", "[3, 4]", "[5-7]"). Quoted as
# they are, "[2]" reads as the assistant's marker of a second source that is not there.
FOOTNOTE = re.compile(r"\[(\d+(?:\s*[,\u2013-]\s*\d+)*)\]")
# a refusal that can name what is missing says "The documents don't mention X." or "... don't say how ..."
REFUSAL = "The documents don't say."


@dataclass(frozen=True)
class Citation:
    """The exact passage a claim comes from: ``documents[doc_id].text[start:end] == quote``."""

    number: int
    doc_id: str
    title: str
    quote: str
    start: int
    end: int
    score: float
    passage_id: str = ""
    location: dict[str, Any] = field(default_factory=dict, hash=False)  # in the source: {"page": 12}, {"slide": 3}
    # the short answer inside the quote (document offsets, start <= span_start < span_end <= end), when the
    # reader found one it is sure of: "6,01,427 AK-203 assault rifles" of the sentence on the contract
    span_start: int | None = None
    span_end: int | None = None

    @property
    def span(self) -> dict[str, Any] | None:
        """The short answer as ``{"text", "start", "end"}`` (document offsets), or None."""
        if self.span_start is None or self.span_end is None:
            return None
        return {"text": self.quote[self.span_start - self.start:self.span_end - self.start],
                "start": self.span_start, "end": self.span_end}

    @property
    def where(self) -> str:
        """The location for people: 'p. 12', 'pp. 12-13', 'slide 3', 'sheet Sales, rows 4-9'; '' for plain text."""
        return describe_location(self.location)


@dataclass(frozen=True)
class Answer:
    """What ``Assistant.ask`` returns. ``text`` carries ``[n]`` markers that match ``citations``."""

    text: str
    citations: list[Citation] = field(default_factory=list)
    refused: bool = False
    question: str = ""
    query: str = ""  # the stand-alone query used for retrieval (differs for follow-ups)
    confidence: float = 0.0  # the answerer's score for its best evidence
    mode: str = "extractive"
    passages: list[Any] = field(default_factory=list, repr=False)  # retrieved passages, best first
    dropped: list[str] = field(default_factory=list)  # generated sentences removed as unsupported (llm mode)
    generated: str = field(default="", repr=False)  # the model's raw text before verification (llm mode)
    kind: str = "fact"  # what the question asked for: fact, list, overview, time, reason, yesno, comparison
    missing: str = ""  # on a refusal, what the documents lack ("S-400", "how old Rajnath Singh is"), when known

    @property
    def span(self) -> dict[str, Any] | None:
        """The short answer the text leads with (``{"text", "start", "end", "citation"}``), or None."""
        for c in self.citations:
            if c.span is not None:
                return {**c.span, "citation": c.number}
        return None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for citation, cited in zip(data["citations"], self.citations):
            citation["where"] = cited.where
            del citation["span_start"], citation["span_end"]
            citation["span"] = cited.span  # the short answer, as text, start and end together
        data["span"] = self.span
        data["passages"] = [
            {"id": p.id, "doc_id": p.doc_id, "start": p.start, "end": p.end, "score": p.score} for p in self.passages
        ]
        return data


CLAUSE = re.compile(r"^(?:\w+\s+){0,2}(?:what|which|who|whom|whose|when|where|why|how|whether)\b", re.I)


def says_or_mentions(missing: str) -> str:
    """The verb a refusal names ``missing`` with: the documents don't *say* how old someone is, don't
    *mention* S-400."""
    return "say" if CLAUSE.match(missing) else "mention"


def refusal(question: str, query: str = "", confidence: float = 0.0, passages: list | None = None,
            mode: str = "extractive", kind: str = "fact", missing: str = "") -> Answer:
    """The answer that says the documents don't answer; ``missing`` names what they lack, if known: a
    name ("S-400"), a role ("IPCC's first chair"), or the question as a clause ("how old he is")."""
    if missing:
        text = f"The documents don't {says_or_mentions(missing)} {missing}."
    else:
        text = f"{REFUSAL} Nothing in the indexed documents answers this question closely enough to quote."
    return Answer(text=text, refused=True, question=question, query=query, confidence=confidence,
                  mode=mode, passages=passages or [], kind=kind, missing=missing)


def verify(answer: Answer, document_texts: Mapping[str, str]) -> Answer:
    """Return ``answer`` with every unsupported citation and dangling marker removed.

    A citation whose quote is not its document's text at its offsets is dropped with its marker;
    a marker with no citation is dropped; citations are renumbered 1..n in order of first use; a
    bracketed number inside a quoted span is the document's, not a marker, and is ``shown`` as one.
    If nothing cited is left, the answer becomes a refusal.
    """
    if answer.refused:
        return answer
    valid = {
        c.number: c for c in answer.citations
        if c.doc_id in document_texts and document_texts[c.doc_id][c.start:c.end] == c.quote and c.quote.strip()
    }
    renumber: dict[int, int] = {}

    def replace(match: re.Match) -> str:
        old = int(match.group(1))
        if old not in valid:
            return ""
        renumber.setdefault(old, len(renumber) + 1)
        return f" [{renumber[old]}]"

    # The markers are what stands outside the quoted spans; a bracketed number inside one is the document's.
    text, pieces, pos = answer.text, [], 0
    for start, end in quoted_spans(answer.text, [c.quote for c in valid.values()]) + [(len(text), len(text))]:
        pieces += [MARKER.sub(replace, text[pos:start]), shown(text[start:end])]
        pos = end
    text = "".join(pieces).strip()
    citations = [
        dataclasses.replace(c, number=renumber[old], **({} if c.span is None or c.start <= c.span_start < c.span_end <= c.end
                                                        else {"span_start": None, "span_end": None}))
        for old, c in sorted(valid.items(), key=lambda item: renumber.get(item[0], 10**9))
        if old in renumber
    ]
    if not citations:
        return refusal(answer.question, answer.query, answer.confidence, answer.passages, answer.mode, answer.kind)
    return Answer(text=text, citations=citations, refused=False, question=answer.question, query=answer.query,
                  confidence=answer.confidence, mode=answer.mode, passages=answer.passages,
                  dropped=answer.dropped, generated=answer.generated, kind=answer.kind)


def shown(quote: str) -> str:
    """``quote`` as an answer's text shows it: the document's own "[2]" as "[note 2]", so that every
    "[n]" a reader or a program finds in an answer is the assistant's marker (``Citation.quote`` keeps
    the exact span)."""
    return FOOTNOTE.sub(r"[note \1]", quote)


def quoted_spans(text: str, quotes: list[str]) -> list[tuple[int, int]]:
    """Where ``quotes`` stand in an answer's ``text``, as quoted or as ``shown``: (start, end) in order,
    longest quote first where two would overlap."""
    taken: list[tuple[int, int]] = []
    for quote in sorted({q for q in quotes if q}, key=len, reverse=True):
        for form in dict.fromkeys((shown(quote), quote)):
            for m in re.finditer(re.escape(form), text):
                if all(m.end() <= s or e <= m.start() for s, e in taken):
                    taken.append((m.start(), m.end()))
    return sorted(taken)


def markers(text: str) -> list[int]:
    """The citation numbers used in a verified answer's ``text``, in order (``verify`` leaves no other
    "[n]" in it)."""
    return [int(n) for n in MARKER.findall(text)]
