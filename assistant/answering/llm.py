"""The LLM answerer: a language model writes the answer from numbered evidence, then every sentence is
checked against what it cites before anything reaches the user.

The evidence is the extractive answerer's best sentences for the question, numbered ``[1]..[n]``, so a
citation always quotes an exact span of a document. After generation each sentence must

* cite evidence that exists (a ``[7]`` that points nowhere is removed), and
* share at least ``support_threshold`` of its content words with the sentence it cites, or state the short
  answer the reading model found there (``vouched``), and name no number or name that sentence lacks (a
  sentence without a valid marker is kept only if one evidence sentence supports it that well), and
* be about the question (share a content word with it); repeats are dropped and at most
  ``max_sentences`` are kept.

A sentence whose marker points at a passage that does not support it is re-cited to the one that does
(small models misnumber), a number or date must stay with what the evidence says it is about, and a
sentence with no claim ("Jul 13, 2019. [1]") is dropped; a short answer that names what its cited sentence
says ("James Cameron [1]") is kept. Unsupported sentences are dropped (``answer.dropped`` lists them).
When nothing survives, or the model says the documents don't answer, the extractive answer for the
question's kind stands in, or a refusal when the extractive strategy found nothing either. The model is
asked whenever the documents mention what the question is about (lists and overviews with their own
prompts); only a question about a name, number or code no document mentions is refused before it.
Sentences of the documents that read like instructions to an AI ("ignore previous instructions ...")
are never shown to the model: documents are data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..citations import MARKER, Answer
from ..documents import Passage, sentence_spans
from ..errors import ConfigError, LLMError
from ..questions import MONTH_NUMBERS, Question, is_follow_up, standalone_query
from ..text import STOPWORDS, content_terms, stem
from . import strategies
from .extractive import SHORT_ANSWER_P, Candidate, ExtractiveAnswerer

PROMPT_FILES = ("system", "answer", "condense", "refusal", "list", "overview")
OPTIONAL_PROMPTS = {"list": "answer", "overview": "answer"}  # an override folder without them uses the answer
# The templates ship inside the package (assistant.prompts, built from the project's prompts/ folder),
# so a non-editable install finds them too; the prompts_dir setting overrides them.
PROMPTS_PACKAGE = "assistant.prompts"
EVIDENCE_SENTENCES = 6

INJECTION = re.compile(
    r"\b(ignore|disregard|forget|override)\b.{0,40}\b(instructions?|prompts?|rules|everything|above|previous)\b"
    r"|\byou are (now )?(an?|the|my) (ai|assistant|chatbot|language model)\b|\bsystem prompt\b"
    r"|\b(answer|reply|respond) (every|all|any) (question|message)s?\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Prompts:
    """The plain-text templates in ``prompts/`` (or a folder that overrides them)."""

    system: str
    answer: str
    condense: str
    refusal: str
    list: str = ""
    overview: str = ""

    @classmethod
    def load(cls, folder: str | Path | None = None) -> "Prompts":
        """The templates in ``folder``, or those shipped with the package."""
        folder = Path(folder) if folder else resources.files(PROMPTS_PACKAGE)
        texts = {}
        for name in PROMPT_FILES:
            path = folder / f"{name}.txt"
            if not path.is_file() and name in OPTIONAL_PROMPTS:
                continue
            if not path.is_file():
                raise ConfigError(f"prompt file {path} is missing; copy it from the project's prompts/ folder")
            texts[name] = path.read_text(encoding="utf-8").strip()
        for name, fallback in OPTIONAL_PROMPTS.items():
            texts.setdefault(name, texts[fallback])
        for name, fields in (("answer", ("{passages}", "{question}")), ("condense", ("{history}", "{question}")),
                             ("list", ("{passages}", "{question}")), ("overview", ("{passages}", "{question}"))):
            missing = [f for f in fields if f not in texts[name]]
            if missing:
                raise ConfigError(f"prompt {folder / (name + '.txt')} lacks {', '.join(missing)}")
        return cls(**texts)


class LLMAnswerer:
    """Answers with an LLM from numbered evidence sentences; keeps only what the evidence supports."""

    mode = "llm"

    def __init__(self, extractive: ExtractiveAnswerer, llm, prompts: Prompts, support_threshold: float = 0.5,
                 evidence: int = EVIDENCE_SENTENCES, max_sentences: int = 2):
        if not 0.0 <= support_threshold <= 1.0:
            raise ValueError("support_threshold must be between 0 and 1")
        self.extractive = extractive
        self.llm = llm
        self.prompts = prompts
        self.support_threshold = support_threshold
        self.evidence = evidence
        self.max_sentences = max_sentences

    # ------------------------------------------------------------------ follow-ups

    def standalone(self, question: str, previous: list[str]) -> str:
        """A follow-up rewritten by the model into a stand-alone question (the rule-based join if that fails)."""
        if not previous or not is_follow_up(question):
            return question
        prompt = self.prompts.condense.format(history="\n".join(f"- {q}" for q in previous[-3:]), question=question)
        text = self._complete(prompt).strip().splitlines()
        rewritten = text[0].strip().strip('"') if text else ""
        # A small model may answer instead, or drop what the follow-up asks: keep the rule-based join then.
        asked = set(content_terms(question))
        kept = asked & set(content_terms(rewritten))
        if not rewritten or len(rewritten) > 4 * len(question) + 200 or len(kept) < max(1, len(asked) // 2):
            return standalone_query(question, previous)
        return rewritten

    # ------------------------------------------------------------------ answering

    def answer(self, question: Question, passages: list[Passage], query_vector: np.ndarray) -> Answer:
        *_, final = self.stream(question, passages, query_vector)
        return final

    def stream(self, question: Question, passages: list[Passage], query_vector: np.ndarray,
               generation: dict[str, Any] | None = None) -> Iterator[str | Answer]:
        """Yield the model's tokens as they come, then the verified ``Answer``.

        The model is asked whenever the documents mention what the question is about; it sees the
        sentences the extractive strategy for the question's kind picked, then the best of the rest.
        """
        ranked = self.extractive.candidates(question, passages, query_vector)
        missing = self.extractive.missing_focus(question, passages)
        choice = self.extractive.choose(ranked, question, passages, missing)
        limit = self.evidence + (2 if question.kind in WIDE_KINDS else 0)
        evidence = []
        for c in [*choice.chosen, *ranked]:
            if len(evidence) < limit and not INJECTION.search(c.text) and strategies.answerable(c) and \
                    all((c.doc_id, c.start) != (e.doc_id, e.start) for e in evidence):
                evidence.append(c)
        if missing or not evidence:
            yield self.extractive.refusal(ranked, question, passages, self.mode, missing=missing)
            return
        numbered = "\n".join(f"Passage {i}: {c.text}" for i, c in enumerate(evidence, start=1))
        from llama_index.core.llms import ChatMessage

        template = {"list": self.prompts.list, "overview": self.prompts.overview}.get(question.kind, self.prompts.answer)
        messages = [ChatMessage(role="system", content=self.prompts.system),
                    ChatMessage(role="user", content=template.format(passages=numbered, question=question.query))]
        generated = ""
        try:
            for chunk in self.llm.stream_chat(messages, **(generation or {})):
                if chunk.delta:
                    generated += chunk.delta
                    yield chunk.delta
        except Exception as exc:  # a server that is down, a model that failed: one line, not a traceback
            raise LLMError(f"the language model did not answer ({exc.__class__.__name__}: {str(exc)[:200]}); "
                           "check the model or server, or use answer mode extractive") from exc
        yield self.ground(generated, evidence, ranked, question, passages, choice)

    def ground(self, generated: str, evidence: list[Candidate], ranked: list[Candidate], question: Question,
               passages: list[Passage], choice: strategies.Choice | None = None) -> Answer:
        """Keep the generated sentences their cited evidence supports; cite that evidence exactly.

        When nothing survives, the extractive answer stands in, or a refusal when the extractive
        strategy found nothing either (so a model that says the documents don't answer is believed
        exactly when the evidence agrees).
        """
        choice = choice or self.extractive.choose(ranked, question, passages)
        if choice.chosen:
            fallback = self.extractive.cited(choice.chosen, question, passages)
        else:
            fallback = self.extractive.refusal(ranked, question, passages, self.mode, missing=choice.missing)
        kept: list[tuple[str, list[int]]] = []
        dropped: list[str] = []
        asked = set(question.terms) | set(question.query_terms)
        max_sentences = self.max_sentences + (3 if question.kind in WIDE_KINDS else 0)
        if self.prompts.refusal.lower() not in generated.lower():
            text = LIST_ITEM.sub("", generated)  # small models like to number their sentences
            for start, end in sentence_spans(text):
                sentence = text[start:end]
                body = MARKER.sub("", sentence).strip()
                if not claims(body):
                    continue  # a bare marker, number, date or punctuation: no claim about anything
                if len(kept) >= max_sentences or any(body == k for k, _ in kept):
                    continue  # answers stay short; small models repeat themselves
                cited = [n for n in (int(m) for m in MARKER.findall(sentence)) if 1 <= n <= len(evidence)]
                short = len(body.split()) <= SHORT_ANSWER_WORDS  # "James Cameron [1]" answers "Who directed Titanic?"
                about = set(content_terms(body)) & asked or (short and cited and any(
                    set(evidence[n - 1].terms) & asked for n in cited)) or any(
                    vouched(body, evidence[n - 1]) for n in cited)
                if not about and question.kind not in WIDE_KINDS:
                    dropped.append(sentence)  # true to the evidence, perhaps, but not about the question
                    continue
                supports = {n: self.backing(body, evidence[n - 1]) for n in (cited or range(1, len(evidence) + 1))}
                good = [n for n, s in supports.items() if s >= self.support_threshold]
                if not good and cited:  # small models misnumber: the sentence may rest on another passage
                    supports = {n: self.backing(body, e) for n, e in enumerate(evidence, start=1)}
                    good = [n for n, s in supports.items() if s >= self.support_threshold]
                    cited = []
                if not good:
                    dropped.append(sentence)
                    continue
                if not cited:  # unmarked or misnumbered: cite the one sentence that supports it best
                    good = [max(good, key=lambda n: supports[n])]
                if not says_more(body, question) or SPEECH_TAG.match(body):
                    whole = fragment_of(body, [evidence[n - 1] for n in good])
                    if whole is None:
                        dropped.append(sentence)  # the question said back ("Jaishankar lavrov elbow thing.")
                        continue
                    # a piece cut from its evidence that says nothing the question does not ("Singh said
                    # in his opening remarks.", "February 18, 2019."): the whole sentence is quoted
                    body, good = whole.text.strip(), [evidence.index(whole) + 1]
                if any(body == k for k, _ in kept):
                    continue
                kept.append((body, good))
        if not kept:
            return replace(fallback, mode=self.mode, dropped=dropped, generated=generated)
        rests_on = [evidence[n - 1] for _, numbers in kept for n in numbers]
        if not choice.chosen and not any(c.confidence >= self.extractive.refusal_threshold and not c.refuted
                                         and (question.kind != "fact" or strategies.holds_kind(c, question))
                                         for c in rests_on):
            # well worded and true to its evidence, but that evidence is too far from the question, speaks
            # against it (evidence.py) or lacks the kind of answer asked for (no sum for "how much will
            # India pay"): a near miss, refused as the extractive answer would be
            return replace(fallback, mode=self.mode, dropped=dropped + [body for body, _ in kept], generated=generated)
        if choice.chosen and strays(rests_on, choice.chosen, question):
            # a fact resting only on sentences well below the best one: the model picked a weaker quote
            # ("Russian Foreign Minister Sergey Lavrov" for "Who was his Russian counterpart?")
            return replace(fallback, mode=self.mode, dropped=dropped + [body for body, _ in kept], generated=generated)
        if choice.chosen and covers_less(kept, choice.chosen, question):
            # a list or an overview the model shortened: the extractive one names every member it found
            return replace(fallback, mode=self.mode, dropped=dropped, generated=generated)
        numbers: dict[int, int] = {}
        citations, pieces = [], []
        for body, evidence_numbers in kept:
            marks = []
            for n in evidence_numbers:
                if n not in numbers:
                    numbers[n] = len(numbers) + 1
                    c = evidence[n - 1]
                    snapshot = self.extractive.snapshot
                    citations.append(c.cite(numbers[n], snapshot.title(c.doc_id),
                                            snapshot.location(c.doc_id, c.start, c.end)))
                marks.append(f"[{numbers[n]}]")
            pieces.append(f"{_end_sentence(body)} {' '.join(marks)}")
        return Answer(text=" ".join(pieces), citations=citations, refused=False, question=question.typed,
                      query=question.query, kind=question.kind,
                      confidence=round(ranked[0].confidence, 4), mode=self.mode, passages=passages,
                      dropped=dropped, generated=generated)

    def backing(self, sentence: str, evidence: Candidate) -> float:
        """``support``, or 1 where the reading model vouches for the sentence (``vouched``)."""
        share = self.support(sentence, evidence)
        return 1.0 if share > 0 and states_answer(sentence, evidence) else share

    @staticmethod
    def support(sentence: str, evidence: Candidate) -> float:
        """How far the evidence sentence supports a generated one, 0..1.

        The share of the sentence's content words (stemmed) that the evidence holds; 0 when the sentence
        names a number or a name the evidence does not (a swapped name is the typical small-model slip).
        """
        words = set(content_terms(sentence))
        if not words:
            return 0.0
        evidence_text = evidence.text.lower().replace(",", "")
        for entity in _entities(sentence):
            if entity.lower().replace(",", "") not in evidence_text:
                return 0.0
        if not numbers_stay_put(sentence, evidence.text):
            return 0.0
        return len(words & set(evidence.terms)) / len(words)

    def _complete(self, prompt: str) -> str:
        from llama_index.core.llms import ChatMessage

        try:
            response = self.llm.chat([ChatMessage(role="user", content=prompt)])
        except Exception as exc:
            raise LLMError(f"the language model did not answer ({exc.__class__.__name__}: {str(exc)[:200]}); "
                           "check the model or server, or use answer mode extractive") from exc
        return response.message.content or ""


SHORT_ANSWER_WORDS = 6
WIDE_KINDS = ("list", "overview", "time")  # answers that gather several sentences
READER_VOUCHES = 0.5  # reading probability from which a generated sentence stating the reader's answer is supported
NUMBER_NEAR = 4  # words on each side of a number that say what it is about (in the generated sentence)
NUMBER_REACH = 6  # ... and how near the same number those words must be in the evidence


def vouched(sentence: str, evidence: Candidate) -> bool:
    """The reading model found the question's answer in ``evidence`` (probability at least
    ``READER_VOUCHES``, with a short answer) and ``sentence`` states that answer: it holds the short answer's
    content words, and names no number or name the evidence lacks. A paraphrase that keeps the answer but
    few of the evidence's other words is supported."""
    return states_answer(sentence, evidence) and LLMAnswerer.support(sentence, evidence) > 0


def states_answer(sentence: str, evidence: Candidate) -> bool:
    """The reader is sure ``evidence`` answers the question, with a sure short answer, and ``sentence`` holds
    that answer's content words (``vouched`` without the name and number guards)."""
    r = evidence.reading
    if r is None or r.p < READER_VOUCHES or r.span is None or r.span_p < SHORT_ANSWER_P:
        return False
    answer = set(content_terms(evidence.text[r.span[0]:r.span[1]]))
    return bool(answer) and answer <= set(content_terms(sentence))


def covers_less(kept: list[tuple[str, list[int]]], chosen: list[Candidate], question: Question) -> bool:
    """For a list, the model's sentences name fewer of the members the extractive answer names; for an
    overview or a time, they cite fewer of its sentences (at most three are asked for)."""
    if question.kind == "list":
        said = " ".join(body for body, _ in kept)
        found = set().union(*(strategies.members(c.text, question) for c in chosen))
        return bool(found) and len({m for m in found if m in said}) < len(found)
    if question.kind in ("overview", "time"):
        return len({n for _, numbers in kept for n in numbers}) < min(3, len(chosen))
    return False


SPEECH = frozenset(stem(w) for w in "said says say told tells added stated noted remarked according".split())


# Who spoke and where, without what was said: "Singh said in his opening remarks."
SPEECH_TAG = re.compile(r"^[\w\s.'\u2019-]{1,40}?\b(said|says|told|added|stated|noted|remarked)\b"
                        r"(\s+(in|at|on|during|to|after|before)\b[^.,;:\"\u201c\u201d]*)?[.!]?$", re.I)


def says_more(body: str, question: Question) -> bool:
    """The sentence says a word the question (or a follow-up's context) does not, other than a number, a
    month or a verb of speech ("Marta Olsen" for "Who opened the bakery?"; not "Opened the bakery.")."""
    asked = set(question.terms) | set(question.query_terms)
    return any(t not in asked and t not in SPEECH and claims(t) for t in content_terms(body))


def fragment_of(body: str, evidence: list[Candidate]) -> Candidate | None:
    """The evidence sentence ``body`` is a shorter verbatim piece of, if any (quotes and spaces aside)."""
    said = _plain(body)
    for c in evidence:
        source = _plain(c.text)
        if said and said in source and len(said) < len(source):
            return c
    return None


def _plain(text: str) -> str:
    text = text.translate(str.maketrans("\u2018\u2019\u201c\u201d", "''\"\""))
    return " ".join(MARKER.sub("", text).split()).strip(" .").lower()


def strays(rests_on: list[Candidate], chosen: list[Candidate], question: Question) -> bool:
    """A fact answer that rests on none of the sentences scoring near the extractive strategy's best, or
    that leaves the best out for sentences saying far less of the question's words ("Russia-India defence
    cooperation is important" for "What did Shoigu say he was confident Russia and India will help with?",
    over "I am confident that Russia and India will help in enhancing regional security"). So does a list
    of things rather than people ("What challenges did Jaishankar mention?": no member for ``covers_less``
    to count) that leaves out the sentences the extractive strategy picked."""
    if question.kind == "list":
        if any(strategies.members(c.text, question) for c in chosen):
            return False  # a list of people: covers_less counts the members the model left out
    elif question.kind not in ("fact", "yesno"):
        return False
    best = max(chosen, key=lambda c: c.score)
    if not any(c.score >= best.score - strategies.SECOND_SENTENCE_MARGIN for c in rests_on):
        return True
    held = {(c.doc_id, c.start) for c in rests_on}
    return (best.doc_id, best.start) not in held and all(c.lexical < best.lexical - LEXICAL_STRAY for c in rests_on)


def claims(body: str) -> bool:
    """The sentence says something: a content word that is not a number, a date part or a month."""
    return any(not t.isdigit() and t not in MONTH_WORDS and not re.fullmatch(r"\d+(st|nd|rd|th|s)?", t)
               for t in content_terms(body))


def numbers_stay_put(sentence: str, evidence: str) -> bool:
    """Each number of ``sentence`` is about what the evidence says it is about: a word next to it in the
    sentence that the evidence also holds must be next to the same number there (a release date moved
    from a soundtrack to the game fails)."""
    said, source = _tokens(sentence), _tokens(evidence)
    source_stems = [stem(t) for t in source]
    for i, token in enumerate(said):
        if not any(ch.isdigit() for ch in token):
            continue
        places = [j for j, t in enumerate(source) if t == token]
        if not places:
            continue
        near = {stem(t) for t in said[max(0, i - NUMBER_NEAR): i + NUMBER_NEAR + 1]
                if t.isalpha() and t not in STOPWORDS and t not in MONTH_WORDS}
        around = {s for j in places for s in source_stems[max(0, j - NUMBER_REACH): j + NUMBER_REACH + 1]}
        if (near & set(source_stems)) - around:
            return False
    return True


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z]+|\d+(?:\.\d+)*", re.sub(r"(?<=\d),(?=\d)", "", MARKER.sub("", text).lower()))


# Share of the question's words by which every sentence a fact answer rests on may fall short of the
# extractive best it left out before the extractive answer is given instead (0.22 in the Shoigu case)
LEXICAL_STRAY = 0.15

MONTH_WORDS = frozenset(m.lower() for m in MONTH_NUMBERS)
LIST_ITEM = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*\u2022])\s+", re.MULTILINE)


def _entities(sentence: str) -> list[str]:
    """Numbers and capitalised words: what a sentence asserts by name. The first word counts unless it
    is one that opens sentences anyway ("The", "However"): "Putin said ..." names Putin."""
    words = re.findall(r"[\w'\u2019.+-]+", MARKER.sub("", sentence))
    out = []
    for i, word in enumerate(words):
        word = word.strip(".'\u2019-+")
        if not word:
            continue
        opener = i == 0 and (word.lower() in _COMMON or word.lower() in STOPWORDS or word.lower() in _OPENERS
                             or word.lower().endswith("ly"))
        if any(ch.isdigit() for ch in word) or (word[0].isupper() and word.lower() not in _COMMON and not opener):
            out.append(word)
    return out


_COMMON = frozenset("i the a an in on of and or but it he she they we you this that these those".split())
_OPENERS = frozenset("""also however both during later according yes overall further furthermore moreover
    meanwhile besides instead still thus hence therefore then there here earlier first second finally""".split())


def _end_sentence(text: str) -> str:
    text = text.rstrip()
    return text if text[-1:] in ".!?\"'\u201d)" else text + "."

