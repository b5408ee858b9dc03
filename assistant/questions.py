"""What a question asks for, worked out once: its words, the kind of evidence an answer needs, and
the stand-alone form of a follow-up.

>>> q = Question.ask("How many rifles will India buy?")
>>> q.query, [name for name, _ in q.needs]
('How many rifles will India buy?', ['number'])

``Assistant`` analyses each question once, up front; retrieval and the answerers read this value
instead of tokenizing and classifying the question again at each step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

from .errors import QuestionError
from .text import content_terms, normalise_numbers, tokenize, words

MAX_QUESTION_CHARS = 2000
# Score kept by a sentence that lacks the kind of answer asked for (a number for "how many", a date for
# "when"), and by one that lacks a number the question names. Used by the rerank and the answerers.
MISSING_TYPE_FACTOR = 0.75

MONTHS = r"(january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)"
NUMBER_WORDS = r"(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundred|thousand|million|billion|lakh|lakhs|crore|crores|dozen)"
# (what the question asks, evidence a sentence must hold to answer it). The evidence must be new:
# a year or a name that the question itself mentions does not count.
ANSWER_TYPES: list[tuple[str, re.Pattern, re.Pattern]] = [
    ("money", re.compile(r"\b(price|cost|costs|worth|how much (money|did|does|will|is|was)|spend|spent|value of)\b", re.I),
     re.compile(r"[$€£₹]\s?\d[\d,.]*|\b(rs\.?|inr|usd|rupees?|dollars?|euros?|crores?|billion|million)\b", re.I)),
    ("number", re.compile(r"\b(how many|how much|number of|what number|how large|how big|how long|how old|what age)\b", re.I),
     re.compile(rf"\d[\d,.]*|\b{NUMBER_WORDS}\b", re.I)),
    ("date", re.compile(r"\b(when|what date|which date|what year|which year|what day|which day|what month|which month)\b", re.I),
     re.compile(rf"\b(1[5-9]|20)\d\d\b|\b{MONTHS}\b|\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday|today|yesterday|tomorrow)\b", re.I)),
    ("reason", re.compile(r"\bwhy\b|\bwhat (was|is) the reason\b|\bfor what reason\b", re.I),
     re.compile(r"\b(because|due to|owing to|as a result|since|so that|in order to|led to|caused|reason)\b", re.I)),
    ("statement", re.compile(r"\bwhat did .+\b(say|said|tell|remark|state|describe|call)\b|\bwhat were .+\b(remarks|words)\b", re.I),
     re.compile(r"\b(said|says|say|told|stated|remarks|called|described|added)\b|[\u201c\u201d\"]", re.I)),
    ("person", re.compile(r"^\s*(who|whom|whose)\b|\bwhich (person|minister|leader|official|president|people)\b", re.I),
     re.compile(r"\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*")),
]
# Numbers, years and ordinals in a question are constraints: a sentence without them is about something else.
QUESTION_NUMBER = re.compile(r"\b\d[\d,]*(?:st|nd|rd|th)?\b", re.I)

FOLLOW_UP_WORDS = re.compile(
    r"\b(he|him|his|she|her|hers|they|them|their|theirs|it|its|this|that|these|those|there|then|"
    r"counterpart|former|latter|same|other)\b",
    re.IGNORECASE,
)
FOLLOW_UP_START = re.compile(r"^\s*(and|but|also|so|what about|how about|and what)\b", re.IGNORECASE)


def check_question(question: object) -> str:
    """The question as it will be answered (white space collapsed), or ``QuestionError`` saying why not."""
    if not isinstance(question, str) or not question.strip():
        raise QuestionError("the question is empty; type a question about the documents")
    question = " ".join(question.split())
    if len(question) > MAX_QUESTION_CHARS:
        raise QuestionError(
            f"the question is {len(question):,} characters long; keep it under {MAX_QUESTION_CHARS:,}"
        )
    return question


def asked_types(question: str) -> list[tuple[str, re.Pattern]]:
    """(name, evidence pattern) for each kind of answer ``question`` asks for (a number, a date, a name...)."""
    return [(name, evidence) for name, asks, evidence in ANSWER_TYPES if asks.search(question)]


def has_new_evidence(pattern: re.Pattern, sentence: str, question_norm: str) -> bool:
    """``sentence`` holds a match of ``pattern`` that the question (normalised) does not already hold."""
    for match in pattern.finditer(sentence):
        start, end = match.span()
        while start > 0 and sentence[start - 1].isalnum():  # the whole word: "21" of "21st" is "21st"
            start -= 1
        while end < len(sentence) and sentence[end].isalnum():
            end += 1
        token = sentence[start:end].strip().lower().replace(",", "")
        if token and not re.search(rf"(?<!\w){re.escape(token)}(?!\w)", question_norm):
            return True
    return False


def missing_evidence_factor(needs: list[tuple[str, re.Pattern]], sentence: str, question_norm: str) -> float:
    """``MISSING_TYPE_FACTOR`` once for each kind of answer asked for that ``sentence`` lacks."""
    factor = 1.0
    for _, evidence in needs:
        if not has_new_evidence(evidence, sentence, question_norm):
            factor *= MISSING_TYPE_FACTOR
    return factor


def is_follow_up(question: str) -> bool:
    """A question that leans on the conversation: a pronoun, a leading 'and', or too few words."""
    return bool(FOLLOW_UP_WORDS.search(question) or FOLLOW_UP_START.match(question) or len(content_terms(question)) < 2)


def standalone_query(question: str, previous_questions: list[str]) -> str:
    """The question made stand-alone for retrieval: follow-ups carry the last two user turns."""
    if not previous_questions or not is_follow_up(question):
        return question
    return " ".join([*previous_questions[-2:], question])


@dataclass(frozen=True)
class Question:
    """One question, analysed once: ``text`` as asked, ``query`` its stand-alone form for retrieval, and
    ``context`` the earlier user turns the query carries (empty unless it is a follow-up).

    Everything else is derived from these three on first use and then kept.
    """

    text: str
    query: str = ""
    context: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.query:
            object.__setattr__(self, "query", self.text)
        object.__setattr__(self, "context", tuple(self.context))

    @classmethod
    def ask(cls, text: str, history: list[str] | None = None,
            rewrite: Callable[[str, list[str]], str] | None = None) -> "Question":
        """Analyse ``text`` asked after ``history`` (earlier user questions); ``rewrite`` turns a
        follow-up into a stand-alone query (default: ``standalone_query``)."""
        text = check_question(text)
        previous = list(history or [])
        query = (rewrite or standalone_query)(text, previous)
        return cls(text, query, tuple(previous[-2:]) if query != text else ())

    @property
    def is_follow_up(self) -> bool:
        return bool(self.context)

    # ------------------------------------------------------------------ the words

    @cached_property
    def stems(self) -> list[str]:
        """Stemmed content words of the question as asked."""
        return tokenize(self.text)

    @cached_property
    def surface(self) -> dict[str, str]:
        """Each stem of the question mapped to the word it came from."""
        return {s: w for s, w in words(self.text)}

    @cached_property
    def context_stems(self) -> list[str]:
        """Stemmed content words of the earlier turns a follow-up carries."""
        return tokenize(" ".join(self.context))

    @cached_property
    def terms(self) -> list[str]:
        """Content terms (hyphenated words also split) of the question as asked."""
        return content_terms(self.text)

    @cached_property
    def query_terms(self) -> list[str]:
        """Content terms of the stand-alone query: what retrieval looks for."""
        return content_terms(self.query)

    @cached_property
    def norm(self) -> str:
        """Question and context in lower case without digit grouping: evidence must not merely repeat it."""
        return normalise_numbers(" ".join([self.text, *self.context]))

    @cached_property
    def query_norm(self) -> str:
        return normalise_numbers(self.query)

    @cached_property
    def numbers(self) -> list[str]:
        """Numbers, years and ordinals the question names."""
        return [m.group().lower().replace(",", "") for m in QUESTION_NUMBER.finditer(self.text)]

    # ------------------------------------------------------------------ what it asks for

    @cached_property
    def needs(self) -> list[tuple[str, re.Pattern]]:
        """The kinds of answer the question as asked wants (a number, a date, a name, ...)."""
        return asked_types(self.text)

    @cached_property
    def query_needs(self) -> list[tuple[str, re.Pattern]]:
        """The kinds of answer the stand-alone query wants: what the rerank looks for."""
        return asked_types(self.query)

    def evidence_factor(self, sentence: str) -> float:
        """How much of a sentence's score survives what it lacks: each kind of answer asked for and
        each number the question names that is missing costs ``MISSING_TYPE_FACTOR``."""
        factor = missing_evidence_factor(self.needs, sentence, self.norm)
        if self.numbers:
            sentence_norm = normalise_numbers(sentence)
            for number in self.numbers:
                if not re.search(rf"\b{re.escape(number)}\b", sentence_norm):
                    factor *= MISSING_TYPE_FACTOR
        return factor
