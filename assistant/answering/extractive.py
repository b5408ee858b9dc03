"""The extractive answerer: quote the retrieved sentences that answer the question, or refuse.

What to quote depends on the kind of answer the question wants (``questions.Question.kind``): a fact,
a list, an overview, a time, a reason, a yes/no or a comparison; ``strategies.py`` holds one strategy
per kind. Scoring, below, is shared by all of them.

Each candidate sentence (every sentence of the retrieved passages) is scored by

* ``dense``: cosine similarity of its embedding to the stand-alone query's embedding;
* ``lexical``: the IDF-weighted share of the question's content words it contains (words from earlier
  turns count a third as much); the words naming the kind of answer ("Which news agency ...") are left
  out where no document uses them and the sentence names something the question does not ("ANI");
* ``answer type``: a question asking how many / when / who / why / how much it cost needs a number, a
  date, a name, a reason or an amount of money in the sentence; without one the score is cut.

Before refusing, the best few sentences get a second look: a phrase of the question said in other words
("Moscow's top diplomat" for "Russian Foreign Minister") counts for each of its words.

A sentence also matches the words of its section heading and its document's title (at half weight),
and a number or name the question insists on may stand there or in the sentence before, so "Its tower
is 31 metres tall" under "# The Harwick Point Lighthouse" answers "How tall is the Harwick Point
Lighthouse?", and a festival report titled "... 2021" answers for 2021. A sentence whose subject points
back ("It was commissioned by Odo", "The company has invested ...") holds those names in full, and
those of the sentence before it too.

Refusal is a finding about the documents: a name, code or number the question is about that no
document mentions refuses at once and says so ("they never mention S-400"); so does a list, time or
overview question with nothing of its kind. A fact, reason or yes/no answer is refused when its best
sentence scores under the calibrated ``refusal_threshold``.
"""

from __future__ import annotations

import difflib
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Iterator

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding

from ..citations import Answer, Citation, refusal, shown
from ..documents import Passage
from ..questions import ASKING_ONLY, Question, standalone_query
from ..reader import Candidate as ReaderInput
from ..reader import Reader, Reading
from ..store import Snapshot
from ..text import content_terms, derived_from, matches, phrases, sentence_terms, sentence_words, tokenize, words
from . import strategies
from .evidence import Evidence, contrasts, opposite_of, other_parties, other_time, role_in

DENSE_WEIGHT = 0.55
LEXICAL_WEIGHT = 0.45
CONTEXT_WEIGHT = 0.35  # weight of words from earlier turns in a follow-up
MISSPELT_SIMILARITY = 0.85  # difflib ratio from which an unknown long word is taken as a misspelling
HEADING_WEIGHT = 0.5  # a question word found only in the sentence's section heading counts half
SYNONYM_MIN = 0.55  # word-embedding similarity from which a question word counts as found (guns ~ rifles 0.80)
EVIDENCE_SYNONYM = 0.60  # ... and from which it counts as said in other words when deciding to answer (0.6-0.8 swept)
PHRASE_SYNONYM = 0.58  # similarity from which a question phrase counts as said in other words ("top diplomat" ~ "foreign minister" 0.62)
SECOND_LOOK = 8  # sentences read for the question's phrases in other words when the best would be refused
DOCUMENT_TERMS_CACHED = 256
YEAR = re.compile(r"(1[5-9]|20)\d\d")
# Candidates the reader reads, the best by the cheap score. XQuAD's answer sentence is among the best 8 for
# 0.973 of questions (16: 0.985), and reading 8 instead of 16 changes the SQuAD 2.0 slice by one answer in
# 386 and XQuAD by none at the default threshold, for half the reader's time
READ_TOP = 8
# The reader chooses among the read sentences whose cheap score is within this margin of the best, by its
# probability plus the cheap score; the others keep the cheap order after them. Replayed over the first 600
# questions of each public set, the best sentence holds the answer: margin 0 (the cheap score alone) XQuAD
# 0.844, SQuAD 2.0 slice 0.811; 0.05: 0.864, 0.846; no margin: 0.887, 0.849. No margin (or a blend of the
# scores) also moves near misses the rules tell apart to the wrong sentence ("What was Brightwater Robotics'
# revenue in 2022?" quoted 2023's). Margin 0.05 through the API: SQuAD 2.0 slice 0.834 -> 0.847 answerable
# right, 0.247 -> 0.250 refused, XQuAD 0.807 -> 0.813, seed gold unchanged, but one multi-document near
# miss lost ("How many people does the maritime museum employ?" quoted the trade's 400 workers, read at
# 0.95): the reader reads owners less well than the rules, and no gold tag may fall, so it ships at 0
READER_MARGIN = 0.0
READ_KINDS = frozenset({"fact", "reason", "yesno", "time"})  # the kinds that rest on one best sentence
SHORT_ANSWER_P = 0.5  # span probability from which an answer leads with its short answer
SHORT_ANSWER_SHARE = 0.7  # ... when the span is shorter than this share of its sentence

@dataclass
class Candidate:
    """One sentence of the retrieved passages, scored for a question."""

    doc_id: str
    start: int
    end: int
    text: str
    dense: float
    lexical: float
    score: float
    terms: frozenset[str]
    passage: Passage
    typed: bool = True  # holds the kind of answer the question asks for (a number, a date, ...)
    confidence: float = -1.0  # what the refusal threshold is held against (the score, unless a follow-up)
    evidence: Evidence | None = None  # what it holds of the question (None: a whole document's sentence)
    context: tuple[str, str, str] = ("", "", "")  # what a reader sees around it: title, section heading, sentence before
    reading: Reading | None = None  # what the reading model made of it (``read``), when it was read

    @property
    def refuted(self) -> bool:
        """The evidence speaks against answering the question with this sentence (``evidence.py``)."""
        return self.evidence is not None and bool(self.evidence.against)

    def __post_init__(self):
        if self.confidence < 0:
            self.confidence = self.score

    @property
    def short(self) -> tuple[int, int] | None:
        """The short answer inside the sentence (document offsets) when the reader is sure of it, else None."""
        r = self.reading
        if r is None or r.span is None or r.span_p < SHORT_ANSWER_P:
            return None
        start, end = r.span
        if end - start >= SHORT_ANSWER_SHARE * len(self.text):
            return None  # (nearly) the whole sentence: nothing shorter to lead with
        return self.start + start, self.start + end

    def cite(self, number: int, title: str, location: dict | None = None) -> Citation:
        """This sentence as citation ``number``: its exact span of its document, and where that sits."""
        short = self.short
        return Citation(number=number, doc_id=self.doc_id, title=title, quote=self.text, start=self.start,
                        end=self.end, score=round(self.score, 4), passage_id=self.passage.id,
                        location=dict(location or {}), span_start=short[0] if short else None,
                        span_end=short[1] if short else None)


class ExtractiveAnswerer:
    """Answers by quoting sentences from the retrieved passages, or refuses.

    >>> answerer = ExtractiveAnswerer(snapshot, embedder, idf=retriever.idf)   # doctest: +SKIP
    >>> q = Question.ask("How many AK-203 rifles will India buy?")            # doctest: +SKIP
    >>> answerer.answer(q, retriever.search(q), retriever.embed_query(q.query)).text   # doctest: +SKIP
    'India on Monday signed a contract with Russia to procure 6,01,427 AK-203 assault rifles ... [1]'
    """

    mode = "extractive"

    def __init__(self, snapshot: Snapshot, embedder: BaseEmbedding, idf, refusal_threshold: float = 0.45,
                 max_sentences: int = 2, cache_size: int = 50_000, known=None, reader: Reader | None = None,
                 reader_threshold: float = 0.0, read_top: int = READ_TOP):
        if not 0.0 <= refusal_threshold <= 1.0:
            raise ValueError("refusal_threshold must be between 0 and 1")
        if not 0.0 <= reader_threshold <= 1.0:
            raise ValueError("reader_threshold must be between 0 and 1")
        if max_sentences < 1:
            raise ValueError("max_sentences must be at least 1")
        self.reader = reader
        self.reader_threshold = reader_threshold
        self.read_top = read_top
        self.snapshot = snapshot
        self.embedder = embedder
        self.idf = idf
        # known(term): the term is in some document (the BM25 vocabulary); by default, in a retrieved one
        self.known = known
        self._vocabulary: dict[str, list[str]] | None = None
        self.refusal_threshold = refusal_threshold
        self.max_sentences = max_sentences
        self._vectors: OrderedDict[tuple[str, int, int], np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()  # the caches are shared by the threads of a server
        self._document_terms: OrderedDict[str, frozenset[str]] = OrderedDict()

    # ------------------------------------------------------------------ scoring

    def _cached_vectors(self, keys: list, texts: list[str]) -> list[np.ndarray]:
        """Embeddings of ``texts`` by ``keys``, embedding only those not cached (LRU)."""
        with self._lock:
            missing = [i for i, key in enumerate(keys) if key not in self._vectors]
        found = {}
        if missing:
            vectors = self.embedder.get_text_embedding_batch([texts[i] for i in missing])
            found = {keys[i]: np.asarray(v, dtype="float32") for i, v in zip(missing, vectors)}
        with self._lock:
            self._vectors.update(found)
            out = []
            for key in keys:
                vector = self._vectors.get(key)
                if vector is None:  # evicted by another thread meanwhile
                    vector = found.get(key)
                else:
                    self._vectors.move_to_end(key)
                out.append(vector)
            while len(self._vectors) > self._cache_size:
                self._vectors.popitem(last=False)
        if any(v is None for v in out):
            return self._cached_vectors(keys, texts)
        return out

    def _sentence_vectors(self, keys: list[tuple[str, int, int]], texts: list[str]) -> np.ndarray:
        # Each sentence embedded on its own (cached), not the index's pooled sentence vectors: pooled
        # ones carry their passage's context, which ranks passages well but blurs which sentence of a
        # passage answers (gold accuracy 0.662 against 0.714; BENCHMARKS.md, "Retrieval").
        return np.stack(self._cached_vectors(keys, texts))

    def _word_vectors(self, vocabulary: list[str]) -> dict[str, np.ndarray]:
        vectors = self._cached_vectors([("w", w, 0) for w in vocabulary], vocabulary)
        return dict(zip(vocabulary, vectors))

    def _synonyms(self, question_stems: list[str], surface: dict[str, str], sentences: list[str]
                  ) -> dict[str, dict[str, float]]:
        """For each question word, the sentence words (by stem) whose embedding is close to it."""
        if not question_stems or not sentences:
            return {}
        found = {}
        for text in sentences:
            for stem, word in sentence_words(text):
                if word.isalpha() and stem not in question_stems:
                    found.setdefault(stem, word)
        if not found:
            return {}
        asked = [surface[s] for s in question_stems if surface[s].isalpha()]
        vectors = self._word_vectors(sorted(set(asked) | set(found.values())))
        stems = list(found)
        matrix = np.stack([vectors[found[s]] for s in stems])
        out: dict[str, dict[str, float]] = {}
        for stem in question_stems:
            word = surface[stem]
            if not word.isalpha():
                continue
            sims = matrix @ vectors[word]
            close = {stems[i]: float(sims[i]) for i in np.nonzero(sims >= SYNONYM_MIN)[0]
                     if not contrasts(stem, stems[i])}
            if close:
                out[stem] = close
        return out

    def candidates(self, question: Question, passages: list[Passage], query_vector: np.ndarray) -> list[Candidate]:
        """Every sentence of the retrieved passages, scored, best first."""
        weights: dict[str, float] = {}
        for term in question.context_stems:
            weights[term] = self.idf(term) * CONTEXT_WEIGHT
        for term in question.stems:
            weights[term] = self.idf(term)
        total = sum(weights.values()) or 1.0
        surface = question.surface

        seen, keys, texts, owners, headings, befores, sections = set(), [], [], [], [], [], []
        for passage in passages:
            text = self.snapshot.documents[passage.doc_id].text
            title = self.snapshot.title(passage.doc_id)
            heading, before, section, said = title, "", None, []
            for start, end in self.snapshot.sentences(passage.doc_id):
                sentence = text[start:end]
                if end > passage.start and start < passage.end and (passage.doc_id, start, end) not in seen:
                    seen.add((passage.doc_id, start, end))
                    keys.append((passage.doc_id, start, end))
                    texts.append(sentence)
                    owners.append(passage)
                    headings.append(heading)
                    befores.append(before)
                    sections.append(section)
                if start >= passage.end:
                    break
                if strategies.is_context(sentence):
                    heading = f"{title} {sentence}"  # the document's title and the section's heading
                    section = ((passage.doc_id, start, end), sentence)
                # A quotation that goes on after "..., he said." is still his: it is read with the
                # sentence naming him ("Jaishankar said ..." before "“We look at ...,” he said.").
                said = [sentence, *said][:3] if strategies.speaker_points_back(sentence) else [sentence]
                before = " ".join(said)
        if not keys:
            return []
        # what each other document retrieved is about, by its title: "ferry" in "New electric harbour ferry ..."
        titled_text = {d: self.snapshot.title(d) for d in dict.fromkeys(k[0] for k in keys)}
        titled = {d: sentence_terms(t) for d, t in titled_text.items()}
        other_titles = {d: frozenset().union(*(t for e, t in titled.items() if e != d)) for d in titled}
        soft = self._synonyms([t for t in weights if t in surface], surface, texts)
        vectors = self._sentence_vectors(keys, texts)
        query = np.asarray(query_vector, dtype="float32")
        # A sentence is read with its section heading too: "Its tower is 31 metres tall" answers "How
        # tall is the Greywick Point Lighthouse?" under "## Greywick Point Lighthouse".
        dense = self._in_section(vectors @ query, vectors, sections, query)
        own_dense = dense
        if question.is_follow_up:  # the query carries earlier turns; weigh the question itself equally
            own = np.asarray(self.embedder.get_query_embedding(question.text), dtype="float32")
            own_dense = vectors @ own
            dense = 0.5 * (dense + own_dense)
        own_terms = set(question.stems)
        # Only the names and numbers the question insists on are taken from a heading or title: its
        # common words there ("rifle", "contract") would lift every sentence of the document alike.
        inheritable = question.name_stems | set(question.numbers)
        own_total = sum(w for t, w in weights.items() if t in own_terms) or 1.0
        focus_stems = self.focus_stems(question)
        # the words naming the kind of answer ("news agency") or asking for one ("happening", "how many")
        type_stems = {s for w in question.answer_type for s in tokenize(w)} & set(weights)
        type_stems |= {s for s, w in words(question.text) if w in ASKING_ONLY} & set(weights)
        unused_type = self.unused_words(type_stems, None) if self.known is not None else None
        asked = set(question.stems) | set(question.context_stems)
        def scored(soft: dict[str, dict[str, float]], phrased: dict[int, frozenset[str]]) -> list[Candidate]:
            out = []
            for i, ((doc_id, start, end), sentence, passage, heading, before, d, d_own) in enumerate(zip(
                    keys, texts, owners, headings, befores, dense.tolist(), own_dense.tolist())):
                terms = sentence_terms(sentence)
                units = terms | phrased[i] if i in phrased else terms  # its words, and on a second look its phrases
                anaphoric = ANAPHOR.match(sentence) is not None or strategies.continues_quote(sentence, before)
                above = sentence_terms(heading) if heading else frozenset()
                lexical = own_lexical = 0.0
                # "Which news agency reported ...": the words naming the kind of answer ("agency") are not
                # asked of a sentence naming a candidate answer ("ANI") when no document uses them
                unused = unused_type if unused_type is not None else self.unused_words(type_stems, doc_id)
                unsaid = unused if unused and names_an_answer(sentence, asked) else set()
                for t, w in weights.items():
                    if t in unsaid:
                        continue
                    if matches(t, terms):
                        found = w
                    elif t in inheritable and matches(t, above):
                        found = w * (1.0 if anaphoric or YEAR.fullmatch(t) else HEADING_WEIGHT)  # a year dates all under it
                    elif anaphoric and matches(t, sentence_terms(before)):
                        # "The company has invested ..." after the sentence naming it; its other words, such
                        # as what "It" stands for ("museum" of "It opened to the public in 1987"), at less
                        found = w if t in inheritable else w * HEADING_WEIGHT
                    elif t in soft:  # the sentence holds a near-synonym of this question word
                        found = w * max((sim for unit, sim in soft[t].items() if unit in units), default=0.0)
                    else:
                        continue
                    lexical += found
                    if t in own_terms:
                        own_lexical += found
                dropped = sum(weights[t] for t in unsaid)
                lexical /= max(total - dropped, 1e-9)
                score = DENSE_WEIGHT * max(d, 0.0) + LEXICAL_WEIGHT * lexical
                # A follow-up ranks sentences in the light of the conversation, but a sentence that answers
                # the question as asked is not refused for the context's words it lacks.
                own_dropped = sum(weights[t] for t in unsaid if t in own_terms)
                own_score = DENSE_WEIGHT * max(d_own, 0.0) + LEXICAL_WEIGHT * own_lexical / max(own_total - own_dropped, 1e-9)
                factor = question.evidence_factor(sentence, f"{heading} {before}")
                confidence = max(score, own_score) if question.is_follow_up else score
                evidence = self.evidence(question, focus_stems, confidence * factor, sentence, terms, above,
                                         sentence_terms(before) if before else frozenset(), soft,
                                         self.document_terms(doc_id), units, (titled[doc_id], other_titles[doc_id]))
                section = sections[i][1].lstrip("#=- ").strip() if sections[i] else ""
                out.append(Candidate(doc_id, start, end, sentence, d, lexical, score * factor, terms, passage,
                                     factor == 1.0, confidence * factor, evidence,
                                     (titled_text[doc_id], section, before)))
            out.sort(key=lambda c: (-c.score, c.doc_id, c.start))
            return out

        out = scored(soft, {})
        # A second look before refusing: the question's phrases said in other words ("Moscow's top
        # diplomat" for "Russian Foreign Minister"), over the best few sentences only (they are embedded)
        if out and max(c.confidence for c in out[:SECOND_LOOK]) < self.refusal_threshold:
            index = {key: i for i, key in enumerate(keys)}
            look = [index[(c.doc_id, c.start, c.end)] for c in out[:SECOND_LOOK]]
            extra, phrased = self.phrase_synonyms(question, weights, surface, {i: texts[i] for i in look})
            if extra:
                merged = {t: dict(soft.get(t, {})) for t in set(soft) | set(extra)}
                for t, close in extra.items():
                    for unit, sim in close.items():
                        merged[t][unit] = max(sim, merged[t].get(unit, 0.0))
                out = scored(merged, phrased)
        return out

    def phrase_synonyms(self, question: Question, weights: dict[str, float], surface: dict[str, str],
                         sentences: dict[int, str]) -> tuple[dict[str, dict[str, float]], dict[int, frozenset[str]]]:
        """The question's phrases and words said in other words by ``sentences`` (by index): for each question
        word, the sentence units (a word's stem, or a phrase's stems "foreign minist") close to a phrase or
        word of the question holding it; and each sentence's phrases. A unit sharing a word with the
        question's phrase is not its paraphrase ("yearly meeting" is not said by "meeting")."""
        asked = [(key, text) for key, text in phrases(question.text)  # a name is matched on its own
                 if not question.name_stems & set(key.split()) and all(t in weights for t in key.split())]
        asked += [(t, surface[t]) for t in weights if t in surface and surface[t].isalpha()]
        if not asked:
            return {}, {}
        units: dict[str, str] = {}
        phrased: dict[int, frozenset[str]] = {}
        for i, sentence in sentences.items():
            own = phrases(sentence)
            phrased[i] = frozenset(key for key, _ in own)
            units.update(own)
            units.update((stem, word) for stem, word in sentence_words(sentence) if word.isalpha())
        targets = [key for key in units if key not in weights]
        if not targets:
            return {}, phrased
        texts = sorted({text for _, text in asked} | {units[k] for k in targets})
        vectors = dict(zip(texts, self._cached_vectors([("w", t, 0) for t in texts], texts)))
        matrix = np.stack([vectors[units[k]] for k in targets])
        sims_of = {key: matrix @ vectors[text] for key, text in asked}
        position = {key: j for j, key in enumerate(targets)}
        phrase_targets = [j for j, k in enumerate(targets) if " " in k]
        out: dict[str, dict[str, float]] = {}
        for key, _ in asked:
            parts, sims = key.split(), sims_of[key]
            # a word against phrases only: words are matched already (``_synonyms``)
            for j in phrase_targets if len(parts) == 1 else range(len(targets)):
                if sims[j] < PHRASE_SYNONYM or set(targets[j].split()) & set(parts):
                    continue
                if any(contrasts(p, u) for p in parts for u in targets[j].split()):
                    continue  # "southern branch" does not say "northern flow" in other words
                # it says one of the phrase's words ("annual" for "yearly meeting"), or one of its words says
                # the question's word ("russia counterpart" for "moscow"): not the phrase in other words
                if len(parts) > 1 and any(sims_of[w][j] >= sims[j] for w in parts if w in sims_of):
                    continue
                if len(parts) == 1 and any(sims[position[u]] >= sims[j] for u in targets[j].split() if u in position):
                    continue
                for t in parts:
                    if t in weights:
                        close = out.setdefault(t, {})
                        close[targets[j]] = max(float(sims[j]), close.get(targets[j], 0.0))
        return out, phrased

    def unused_words(self, stems: set[str], doc_id: str | None) -> set[str]:
        """Those of ``stems`` no document uses: the whole collection's vocabulary where the store keeps it
        (else a document that never uses "country" would be favoured for "In what country is Normandy?"
        over one that does), else the document ``doc_id``'s."""
        if not stems:
            return set()
        known = self.known or (lambda t: matches(t, self.document_terms(doc_id)))
        return {t for t in stems if not known(t)}

    def _in_section(self, dense: np.ndarray, vectors: np.ndarray, sections: list, query: np.ndarray) -> np.ndarray:
        """``dense`` (each sentence's similarity to ``query``), raised where the sentence read with its
        section heading is closer ("Its tower is 31 metres tall" under "## Greywick Point Lighthouse"):
        the cosine with the sum of the two vectors."""
        headed = [i for i, section in enumerate(sections) if section is not None]
        if not headed:
            return dense
        unique = list(dict.fromkeys(sections[i] for i in headed))
        heading_vectors = self._sentence_vectors([key for key, _ in unique], [text for _, text in unique])
        row = {section: j for j, section in enumerate(unique)}
        summed = vectors[headed] + heading_vectors[[row[sections[i]] for i in headed]]
        summed /= np.linalg.norm(summed, axis=1, keepdims=True) + 1e-9
        out = dense.copy()
        out[headed] = np.maximum(dense[headed], summed @ query)
        return out

    def document_terms(self, doc_id: str) -> frozenset[str]:
        """Every term of a document (cached for the most recent documents)."""
        with self._lock:
            found = self._document_terms.get(doc_id)
        if found is None:
            found = sentence_terms(self.snapshot.documents[doc_id].text)
            with self._lock:
                self._document_terms[doc_id] = found
                while len(self._document_terms) > DOCUMENT_TERMS_CACHED:
                    self._document_terms.popitem(last=False)
        return found

    def focus_stems(self, question: Question) -> list[tuple[str, float]]:
        """The question's words other than its names (stems, each with its weight): what a sentence must
        say, in these or other words, to answer it."""
        stems = dict.fromkeys(s for w in question.focus.words for s in tokenize(w) if s not in question.name_stems)
        return [(s, self.idf(s)) for s in stems]

    def evidence(self, question: Question, focus_stems: list[tuple[str, float]], score: float, sentence: str,
                 terms: frozenset[str], above: frozenset[str], before: frozenset[str],
                 soft: dict[str, dict[str, float]], document: frozenset[str] = frozenset(),
                 units: frozenset[str] | None = None,
                 titles: tuple[frozenset[str], frozenset[str]] = (frozenset(), frozenset())) -> Evidence:
        """What ``sentence`` (its ``terms``; ``above``: those of its heading and its document's title;
        ``before``: those of the sentence before; ``document``: those of its whole document; ``titles``:
        those of its document's title and of the other retrieved documents' titles) holds of ``question``
        (see ``evidence.py``)."""
        own_title, elsewhere = titles
        held = terms | above | before
        names_missing = sum(not all(matches(t, held) for t in name) for name in question.name_terms)
        # shares of all the question's words (names included): a name found is evidence too
        total = sum(w for _, w in focus_stems) + sum(self.idf(t) for name in question.name_terms for t in name) or 1.0
        known_missing = unknown_missing = 0.0
        opposite = other_subject = False
        # question words the sentence says in other words (a near-synonym close enough to decide on)
        units = terms if units is None else units
        said = {t for t, close in soft.items()
                if max((sim for s, sim in close.items() if s in units), default=0.0) >= EVIDENCE_SYNONYM}
        for t, w in focus_stems:
            if matches(t, held) or t in said or derived_from(t, held):
                continue
            opposite = opposite or opposite_of(t, terms)
            if matches(t, document):
                known_missing += w
            else:
                unknown_missing += w
                other_subject = other_subject or matches(t, elsewhere)
        # ... unless the question also names what this document is about ("the ferry" of "How many visitors
        # did the ferry carry?" over the ferry's sentence, "visitors" of a museum guide's title)
        other_subject = other_subject and not any(matches(t, own_title) for t, _ in focus_stems)
        asked_years = {t for t in question.numbers if YEAR.fullmatch(t)}
        titled_years = {t for t in above if YEAR.fullmatch(t)}
        other_year = bool(asked_years and titled_years and not asked_years & titled_years)
        role_missing = other_owner = False
        if question.role:
            role_missing, other_owner = role_in(question.role, sentence, terms, said)
        if question.parties and not other_owner:
            other_owner = other_parties(question.parties, sentence)
        return Evidence(round(score, 4), names_missing, known_missing / total, unknown_missing / total,
                        opposite, other_year, role_missing, other_owner, other_time(question.text, sentence),
                        other_subject)

    # ------------------------------------------------------------------ answering

    def standalone(self, question: str, previous: list[str]) -> str:
        """The question made stand-alone for retrieval (follow-ups carry the turns before them)."""
        return standalone_query(question, previous)

    def answer(self, question: Question, passages: list[Passage], query_vector: np.ndarray) -> Answer:
        ranked = self.candidates(question, passages, query_vector)
        return self.answer_from(ranked, question, passages)

    def stream(self, question: Question, passages: list[Passage], query_vector: np.ndarray) -> Iterator[str | Answer]:
        """The answer's text in word-sized pieces (it is complete at once), then the ``Answer``."""
        answer = self.answer(question, passages, query_vector)
        yield from (m.group() for m in re.finditer(r"\S+\s*", answer.text))
        yield answer

    def refusal(self, ranked: list[Candidate], question: Question, passages: list[Passage], mode: str = "",
                missing: str = "") -> Answer:
        confidence = ranked[0].confidence if ranked else 0.0
        return refusal(question.typed, question.query, round(confidence, 4), passages, mode or self.mode,
                       kind=question.kind, missing=missing or question.sought)

    def missing_focus(self, question: Question, passages: list[Passage]) -> str:
        """The names, codes and numbers the question is about that no document mentions, as one phrase
        ("S-400", "China and Pakistan"), or ""."""
        if self.known is not None:
            known = self.known
        else:
            vocabulary = {t for p in passages for t in content_terms(p.text)}
            known = vocabulary.__contains__
        absent = [name for name in question.focus.names if not self.mentioned(name, known)]
        role = question.role
        if absent and role and all(name.lower() in role.words for name in absent):
            # "Who is the CEO of Indo-Russia Rifles?": the role the documents never name, with its owner
            cased = {name.lower(): name for name in absent}
            return replace(role, words=tuple(cased.get(w, w) for w in role.words)).phrase
        return " and ".join(absent)

    def mentioned(self, name: str, known) -> bool:
        """The documents mention ``name``: every number or code in it (22nd, S-400) exactly, and at least
        half of its words, a misspelt word counting as found ("Sanke Goarshausen", "Upper Rind"); a
        hyphenated word counts as found when its parts are ("Modi-Putin")."""
        terms = []
        for t in tokenize(name):
            parts = [p for p in t.split("-") if p]
            terms.extend([t] if known(t) or len(parts) < 2 or any(ch.isdigit() for ch in t) else parts)
        exact = [t for t in terms if any(ch.isdigit() for ch in t) or len(t) <= 3]
        words = [t for t in terms if t not in exact]
        if not all(known(t) for t in exact):
            return False
        found = sum(known(t) or self.misspelt(t, known) for t in words)
        return not words or found * 2 >= len(words)

    def misspelt(self, term: str, known) -> bool:
        """A long word the documents hold with a letter or two different ("Raouliii" for "Raoulii")."""
        if len(term) < 6 or not term.isalpha():
            return False
        vocabulary = self.vocabulary()
        return bool(difflib.get_close_matches(term, vocabulary.get(term[0], ()), n=1, cutoff=MISSPELT_SIMILARITY))

    def vocabulary(self) -> dict[str, list[str]]:
        """The words of the retrieved documents' passages by first letter (for ``misspelt``), built once."""
        if self._vocabulary is None:
            by_letter: dict[str, set[str]] = {}
            for passage in self.snapshot.passages.values():
                for t in sentence_terms(passage.text):
                    if len(t) >= 5 and t.isalpha():
                        by_letter.setdefault(t[0], set()).add(t)
            self._vocabulary = {k: sorted(v) for k, v in by_letter.items()}
        return self._vocabulary

    def choose(self, ranked: list[Candidate], question: Question, passages: list[Passage],
               missing: str | None = None, floor: float | None = None) -> strategies.Choice:
        """The sentences that answer ``question``, by its kind, or why there are none; ``missing`` is
        ``missing_focus`` when the caller has already worked it out; ``floor`` replaces the refusal
        threshold (0: answer whatever can be answered, as calibration does)."""
        missing = self.missing_focus(question, passages) if missing is None else missing
        if missing:
            return strategies.Choice([], missing)
        kind = question.kind
        floor = self.refusal_threshold if floor is None else floor
        section = self.section_asked(question, passages)
        if section is not None:
            return section
        if kind == "overview":
            return self.overview(question, ranked, passages)
        if kind == "list" and strategies.enumerates(question):
            return self.enumeration(question, passages)
        if kind == "list":
            return strategies.listing(ranked, question, self.max_sentences, floor, self.previous)
        if kind == "time" and question.dates:
            return strategies.timed(ranked, question, self.max_sentences, floor)
        if kind == "comparison":
            return strategies.comparison(ranked, question, self.max_sentences, floor,
                                         lambda c: self.snapshot.title(c.doc_id))
        if self.reader is not None and kind in READ_KINDS:
            ranked = self.read(question, ranked)
        if kind == "reason":
            return strategies.reason(ranked, question, self.max_sentences, floor)
        return strategies.fact(ranked, question, self.max_sentences, floor, self.previous)

    def read(self, question: Question, ranked: list[Candidate]) -> list[Candidate]:
        """The best ``read_top`` candidates by the cheap score, read by the reading model, best first: those
        within ``READER_MARGIN`` of the best rank by probability plus cheap score, the others after them. Each
        keeps its confidence (held against the refusal threshold) unless the reader finds it answers with less
        than ``reader_threshold`` probability, which refuses it (confidence 0)."""
        cut = ranked[:self.read_top]
        readings = self.reader.score(question.text, [ReaderInput(c.text, *c.context) for c in cut])
        read = [replace(c, confidence=c.confidence if r.p >= self.reader_threshold else 0.0, reading=r)
                for c, r in zip(cut, readings)]
        read.sort(key=lambda c: (-c.score, c.doc_id, c.start))
        near = [c for c in read if c.score >= read[0].score - READER_MARGIN] if read else []
        near.sort(key=lambda c: (-(c.reading.p + c.score), c.doc_id, c.start))
        return near + read[len(near):]

    def answer_from(self, ranked: list[Candidate], question: Question, passages: list[Passage]) -> Answer:
        """The extractive answer from already scored candidates (best first)."""
        choice = self.choose(ranked, question, passages)
        if not choice.chosen:
            return self.refusal(ranked, question, passages, missing=choice.missing)
        return self.cited(choice.chosen, question, passages)

    def cited(self, chosen: list[Candidate], question: Question, passages: list[Passage]) -> Answer:
        """Quote ``chosen`` in order, each with its [n]; over several documents, name each document once."""
        several = len({c.doc_id for c in chosen}) > 1 and question.kind in ("list", "overview", "time", "comparison")
        citations, pieces, last_doc = [], [], None
        for number, c in enumerate(chosen, start=1):
            title = self.snapshot.title(c.doc_id)
            citations.append(c.cite(number, title, self.snapshot.location(c.doc_id, c.start, c.end)))
            lead = f"{title}: " if several and c.doc_id != last_doc else ""
            pieces.append(f"{lead}{shown(c.text)} [{number}]")
            last_doc = c.doc_id
        text = ("\n" if several else " ").join(pieces)
        lead = next((c for c in chosen if c.short), None) if question.kind in READ_KINDS else None
        if lead is not None:  # the short answer first, then the sentence it stands in: "6,01,427 AK-203 rifles. [1]"
            start, end = lead.short
            short = shown(lead.text[start - lead.start:end - lead.start].strip().rstrip(".,;:"))
            text = f"{short[:1].upper()}{short[1:]}. [{chosen.index(lead) + 1}]\n{text}"
        return Answer(text=text, citations=citations, refused=False, question=question.typed, query=question.query,
                      confidence=round(max(c.confidence for c in chosen), 4), mode=self.mode, passages=passages,
                      kind=question.kind)

    # ------------------------------------------------------------------ overviews and neighbours

    def previous(self, c: Candidate) -> Candidate | None:
        """The sentence before ``c`` in its document, as a candidate scored like ``c`` (for "Both the
        leaders ..." the sentence naming them)."""
        spans = self.snapshot.sentences(c.doc_id)
        i = next((k for k, (s, _) in enumerate(spans) if s == c.start), 0)
        if i == 0:
            return None
        start, end = spans[i - 1]
        text = self.snapshot.documents[c.doc_id].text[start:end]
        passage = next((p for p in self.snapshot.passages_of(c.doc_id) if p.start <= start and end <= p.end), None)
        if passage is None:
            return None
        return Candidate(c.doc_id, start, end, text, c.dense, c.lexical, c.score, sentence_terms(text), passage,
                         c.typed, c.confidence)

    def overview(self, question: Question, ranked: list[Candidate], passages: list[Passage]) -> strategies.Choice:
        """An extractive summary of the document(s) in question (see ``strategies.overview``)."""
        if not passages:
            return strategies.Choice([], "")
        plural = bool(PLURAL_DOCUMENTS.search(question.text))
        retrieved = list(dict.fromkeys(p.doc_id for p in passages))
        focus = set(content_terms(" ".join(question.overview_of)))
        if plural and not focus and len(self.snapshot.documents) <= WHOLE_COLLECTION:
            # "What's in these files?": each document of a small collection, those retrieved first
            doc_ids = retrieved + [d for d in self.snapshot.documents if d not in retrieved]
        else:
            doc_ids = retrieved[: 3 if plural else 1]
        chosen = []
        for doc_id in doc_ids:
            sentences, vectors = self.document_sentences(doc_id)
            if not sentences:
                continue
            about = None
            if focus:
                about = np.array([bool(focus & c.terms) for c in sentences])
                if not about.any():
                    continue
                for i in np.flatnonzero(about):  # a quotation that runs on: "Shoigu said: “... .” “I am ...”"
                    if i + 1 < len(sentences) and strategies.opens_quote(sentences[i].text):
                        about[i + 1] = True
            picked = strategies.overview(sentences, vectors, about).chosen
            chosen.extend(picked if len(doc_ids) == 1 else picked[:2] if len(doc_ids) <= 3 else picked[:1])
        if not chosen:
            return strategies.Choice([], "")
        return strategies.Choice(chosen)

    def section_asked(self, question: Question, passages: list[Passage]) -> strategies.Choice | None:
        """A question asking for steps or rules that a section's heading names ("How do I descale the
        kettle?" over "## Descaling", "What are the safety rules?" over "## Safety"): that section's
        sentences, in order. None when the question asks no such thing or no heading names it."""
        if not PROCEDURE.search(question.text):
            return None
        wanted = set(content_terms(" ".join(question.overview_of))) - PROCEDURE_STEMS
        for doc_id in dict.fromkeys(p.doc_id for p in passages):
            title = set(content_terms(self.snapshot.title(doc_id)))
            sentences, _ = self.document_sentences(doc_id)
            for i, heading in enumerate(sentences):
                level = strategies.heading_level(heading.text)
                named = set(content_terms(heading.text))
                if not level or not named or not named <= wanted or not wanted - named <= title:
                    continue
                body = []
                for c in sentences[i + 1:]:
                    if 0 < strategies.heading_level(c.text) <= level:
                        break
                    if strategies.answerable(c):
                        body.append(c)
                if body:
                    return strategies.Choice(body[:SECTION_SENTENCES])
        return None

    def enumeration(self, question: Question, passages: list[Passage]) -> strategies.Choice:
        """Everything of one kind the documents in question name ("the people mentioned", "the dates"):
        the fewest sentences that name every one, in document order."""
        doc_ids = list(dict.fromkeys(p.doc_id for p in passages))
        plural = bool(PLURAL_DOCUMENTS.search(question.text))
        sentences = [c for d in doc_ids[: 3 if plural else 1] for c in self.document_sentences(d)[0]]
        return strategies.enumerate_all(sentences, question)

    def document_sentences(self, doc_id: str) -> tuple[list[Candidate], np.ndarray]:
        """Every sentence of a document with its vector pooled at indexing time (no embedding now)."""
        text = self.snapshot.documents[doc_id].text
        found: dict[tuple[int, int], np.ndarray] = {}
        owner: dict[tuple[int, int], Passage] = {}
        for passage in self.snapshot.passages_of(doc_id):
            entry = self.snapshot.sentence_vectors.of(passage.id)
            if entry is None:
                continue
            for (start, end), vector in zip(entry[0].tolist(), entry[1]):
                if (start, end) not in found:
                    found[(start, end)] = vector.astype("float32")
                    owner[(start, end)] = passage
        spans = sorted(found)
        sentences = [Candidate(doc_id, s, e, text[s:e], 0.0, 0.0, 0.0, sentence_terms(text[s:e]), owner[(s, e)],
                               True, 0.0) for s, e in spans]
        vectors = np.stack([found[k] for k in spans]) if spans else np.zeros((0, 1), dtype="float32")
        if len(vectors):
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True).clip(1e-9)
        return sentences, vectors


# A sentence about what the one before it (or its heading) names: "It", "The company", "The festival"
# ("The festival director said" is about the director: the noun must be the subject, a verb next)
ANAPHOR = re.compile(r"^\W*(?:(?:It|He|She|They|Its|His|Her|Their)\b|The (?:company|firm|group|plant|factory|city|"
                     r"town|country|festival|band|team|club|museum|school|university|college|government|party|"
                     r"organi[sz]ation|river|building|station|event|agreement|treaty|contract|project|film|book|"
                     r"album|ship|bridge|tower|church|park|airport|hospital|species|state|region|island|lake)"
                     r"\s+(?:has|have|had|is|was|were|are|will|would|can|could|also|then|now|later|[a-z]+ed)\b)")

def names_an_answer(sentence: str, asked: set[str]) -> bool:
    """The sentence names something the question does not: a capitalised word (its first word aside), a
    number or a code ("reported ANI" for "Which news agency reported ...")."""
    return ANSWER_LIKE.search(" ".join(w for w in ANSWER_TOKEN.findall(sentence)[1:]
                                       if not set(tokenize(w)) <= asked)) is not None


# A candidate answer: a capitalised word, a number or a code (the sentence's first word aside)
ANSWER_TOKEN = re.compile(r"[\w'\u2019.+-]*\w")
ANSWER_LIKE = re.compile(r"(?<![\w'\u2019.+-])(?:[A-Z][\w'\u2019.+-]*\w|[A-Z]|\d[\w,.+-]*)")

# "How do I descale ...?", "What are the safety rules?": steps or rules, which a section of a manual holds
PROCEDURE = re.compile(r"^\s*(?:please\s+)?(?:how (?:do|can|should|would|could|must) (?:i|we|you|one)\b|how to\b"
                       r"|what (?:are|is) the (?:[\w-]+ )?(?:steps?|instructions?|rules?|tips?|guidelines?|requirements?|"
                       r"procedures?|process|precautions?|warnings?|conditions?|advice|recommendations?)\b"
                       r"|(?:steps?|instructions?) (?:to|for)\b)", re.I)
PROCEDURE_STEMS = frozenset(content_terms("""step steps instruction instructions rule rules tip tips guideline guidelines
    requirement requirements procedure procedures process precaution precautions warning warnings condition
    conditions advice recommendation recommendations"""))
SECTION_SENTENCES = 8  # at most this many sentences of a section asked for
WHOLE_COLLECTION = 12  # an overview of "these files" covers each document of a collection this small (one sentence each)
PLURAL_DOCUMENTS = re.compile(r"\b(documents|articles|files|texts|reports|papers|sources|all of (them|it)|everything|"
                              r"(each|every) (document|article|file|text|report|paper|source)|"
                              r"collection|folder)\b", re.I)
