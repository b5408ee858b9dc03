"""The LLM answerer: a language model writes the answer from numbered evidence, then every sentence is
checked against what it cites before anything reaches the user.

The evidence is the extractive answerer's best sentences for the question, numbered ``[1]..[n]``, so a
citation always quotes an exact span of a document. After generation each sentence must

* cite evidence that exists (a ``[7]`` that points nowhere is removed), and
* share at least ``support_threshold`` of its content words with the sentence it cites (a sentence
  without a valid marker is kept only if one evidence sentence supports it that well).

Unsupported sentences are dropped (``answer.dropped`` lists them). When nothing survives, or the model
declines, the extractive answer is returned. When retrieval finds nothing strong enough the assistant
refuses without calling the model. Sentences of the documents that read like instructions to an AI
("ignore previous instructions ...") are never shown to the model: documents are data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ..citations import MARKER, Answer, Citation, refusal
from ..documents import Passage, sentence_spans
from ..errors import ConfigError
from ..retrieval import content_terms, is_follow_up, standalone_query
from .extractive import ExtractiveAnswerer, _Candidate

PROMPT_FILES = ("system", "answer", "condense", "refusal")
DEFAULT_PROMPTS = Path(__file__).resolve().parents[2] / "prompts"
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

    @classmethod
    def load(cls, folder: str | Path | None = None) -> "Prompts":
        folder = Path(folder) if folder else DEFAULT_PROMPTS
        texts = {}
        for name in PROMPT_FILES:
            path = folder / f"{name}.txt"
            if not path.is_file():
                raise ConfigError(f"prompt file {path} is missing; copy it from the project's prompts/ folder")
            texts[name] = path.read_text(encoding="utf-8").strip()
        for name, fields in (("answer", ("{passages}", "{question}")), ("condense", ("{history}", "{question}"))):
            missing = [f for f in fields if f not in texts[name]]
            if missing:
                raise ConfigError(f"prompt {folder / (name + '.txt')} lacks {', '.join(missing)}")
        return cls(**texts)


class LLMAnswerer:
    """Answers with an LLM from numbered evidence sentences; keeps only what the evidence supports."""

    mode = "llm"

    def __init__(self, extractive: ExtractiveAnswerer, llm, prompts: Prompts, support_threshold: float = 0.5,
                 evidence: int = EVIDENCE_SENTENCES):
        if not 0.0 <= support_threshold <= 1.0:
            raise ValueError("support_threshold must be between 0 and 1")
        self.extractive = extractive
        self.llm = llm
        self.prompts = prompts
        self.support_threshold = support_threshold
        self.evidence = evidence

    # ------------------------------------------------------------------ follow-ups

    def standalone(self, question: str, previous: list[str]) -> str:
        """A follow-up rewritten by the model into a stand-alone question (the rule-based join if that fails)."""
        if not previous or not is_follow_up(question):
            return question
        prompt = self.prompts.condense.format(history="\n".join(f"- {q}" for q in previous[-3:]), question=question)
        text = self._complete(prompt).strip().splitlines()
        rewritten = text[0].strip().strip('"') if text else ""
        if not rewritten or len(rewritten) > 4 * len(question) + 200:
            return standalone_query(question, previous)
        return rewritten

    # ------------------------------------------------------------------ answering

    def answer(self, question: str, query: str, context: list[str], passages: list[Passage],
               query_vector: np.ndarray) -> Answer:
        *_, final = self.stream(question, query, context, passages, query_vector)
        return final

    def stream(self, question: str, query: str, context: list[str], passages: list[Passage],
               query_vector: np.ndarray) -> Iterator[str | Answer]:
        """Yield the model's tokens as they come, then the verified ``Answer``."""
        ranked = self.extractive.candidates(question, context, passages, query_vector)
        if not ranked or ranked[0].score < self.extractive.refusal_threshold:
            yield refusal(question, query, round(ranked[0].score, 4) if ranked else 0.0, passages, self.mode)
            return
        evidence = [c for c in ranked if not INJECTION.search(c.text)][: self.evidence]
        if not evidence:
            yield refusal(question, query, round(ranked[0].score, 4), passages, self.mode)
            return
        numbered = "\n".join(f"[{i}] {c.text}" for i, c in enumerate(evidence, start=1))
        from llama_index.core.llms import ChatMessage

        messages = [ChatMessage(role="system", content=self.prompts.system),
                    ChatMessage(role="user", content=self.prompts.answer.format(passages=numbered, question=query))]
        generated = ""
        for chunk in self.llm.stream_chat(messages):
            if chunk.delta:
                generated += chunk.delta
                yield chunk.delta
        yield self.ground(generated, evidence, ranked, question, query, passages)

    def ground(self, generated: str, evidence: list[_Candidate], ranked: list[_Candidate], question: str,
               query: str, passages: list[Passage]) -> Answer:
        """Keep the generated sentences their cited evidence supports; cite that evidence exactly."""
        fallback = self.extractive.answer_from(ranked, question, query, passages)
        kept: list[tuple[str, list[int]]] = []
        dropped: list[str] = []
        if self.prompts.refusal.lower() not in generated.lower():
            for start, end in sentence_spans(generated):
                sentence = generated[start:end]
                body = MARKER.sub("", sentence).strip()
                if not content_terms(body):
                    continue  # a bare marker or punctuation
                cited = [n for n in (int(m) for m in MARKER.findall(sentence)) if 1 <= n <= len(evidence)]
                supports = {n: self.support(body, evidence[n - 1]) for n in (cited or range(1, len(evidence) + 1))}
                good = [n for n, s in supports.items() if s >= self.support_threshold]
                if not good:
                    dropped.append(sentence)
                    continue
                if not cited:  # unmarked: cite the one sentence that supports it best
                    good = [max(good, key=lambda n: supports[n])]
                kept.append((body, good))
        if not kept:
            return _with(fallback, dropped=dropped, generated=generated)
        numbers: dict[int, int] = {}
        citations, pieces = [], []
        for body, evidence_numbers in kept:
            marks = []
            for n in evidence_numbers:
                if n not in numbers:
                    numbers[n] = len(numbers) + 1
                    c = evidence[n - 1]
                    citations.append(Citation(number=numbers[n], doc_id=c.doc_id,
                                              title=self.extractive.snapshot.title(c.doc_id), quote=c.text,
                                              start=c.start, end=c.end, score=round(c.score, 4),
                                              passage_id=c.passage.id))
                marks.append(f"[{numbers[n]}]")
            pieces.append(f"{_end_sentence(body)} {' '.join(marks)}")
        return Answer(text=" ".join(pieces), citations=citations, refused=False, question=question, query=query,
                      confidence=round(ranked[0].score, 4), mode=self.mode, passages=passages,
                      dropped=dropped, generated=generated)

    @staticmethod
    def support(sentence: str, evidence: _Candidate) -> float:
        """Share of the sentence's content words (stemmed) that the evidence sentence holds."""
        words = set(content_terms(sentence))
        if not words:
            return 0.0
        return len(words & set(evidence.terms)) / len(words)

    def _complete(self, prompt: str) -> str:
        from llama_index.core.llms import ChatMessage

        response = self.llm.chat([ChatMessage(role="user", content=prompt)])
        return response.message.content or ""


def _end_sentence(text: str) -> str:
    text = text.rstrip()
    return text if text[-1:] in ".!?\"'\u201d)" else text + "."


def _with(answer: Answer, **changes) -> Answer:
    from dataclasses import replace

    return replace(answer, **changes)
