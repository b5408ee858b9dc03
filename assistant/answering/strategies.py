"""Which sentences answer a question, by the kind of answer it wants.

The extractive answerer scores every sentence of the retrieved passages (``Candidate``); a strategy per
question kind then picks the sentences to quote:

* fact, yes/no: the best sentence, and the runner-up when it scores nearly as well;
* list: every sentence that names a member not yet named (a person for "who attended", anything for
  "which agreements"), across passages and documents;
* time: the sentences holding a date within the one asked about ("in 2019", "last November");
* reason: the best sentence that states a cause ("because of", "due to"), if one scores near the best;
* comparison: the best sentence about each side;
* overview: 3 to 6 central sentences that repeat nothing chosen (maximal marginal relevance); a short text's
  favour its opening, a long text's are its thesis first, then one from each stretch of the text.

A sentence that asks a question, a heading or a title is never chosen; a sentence that opens by pointing
back ("Both the leaders", "He") brings the sentence before it. The LLM answerer uses the same strategies
to choose the evidence it shows the model.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..questions import CAUSE, Question, dates_in, has_new_evidence
from ..text import matches, tokenize

# extractive.Candidate (a scored sentence: text, doc_id, start, score, confidence, typed, terms); not
# imported, since extractive imports this module.
Candidate = Any

# Kinds of answer whose absence from a sentence means it cannot answer a fact question: a sentence
# without a date does not say when, one without a place does not say where. (A cause is not among them:
# "why" is often answered without "because"; it only leads the reason answer when there is one.)
STRICT_TYPES = ("statement", "measure", "money", "date", "time", "number")
SECOND_SENTENCE_MARGIN = 0.15  # XQuAD answers 0.802 against 0.772 at 0.06, median 34 words (BENCHMARKS.md)
LIST_MARGIN = 0.2  # a list member's sentence may score this far below the best sentence
LIST_FLOOR = 0.6  # of the refusal threshold: a list's sentences are relevant, not each a whole answer
NEXT_BEST_MARGIN = 0.05  # a sentence of the role or document asked about may score this far below one that is not
REASON_MARGIN = 0.15  # a sentence stating a cause may score this far below the best and still lead
MAX_WORDS = 70  # fact answers
MAX_LIST_SENTENCES = 5
MAX_LIST_WORDS = 130
OVERVIEW_MIN, OVERVIEW_MAX = 3, 6
OVERVIEW_DIVERSITY = 0.3  # MMR: weight of not repeating what is already chosen
MIN_OVERVIEW_WORDS = 6
POSITION_WEIGHT = 0.15  # a short text's early sentences state its gist
LONG_TEXT = 40  # sentences: a text this long gets an overview that covers it, thesis first
THESIS_SHARE = 0.03  # an overview's thesis is looked for in the opening 3% of the text's sentences (at least 3)
THESIS_DECAY = 0.03  # and each sentence later in the opening must be this much more central to be it
POINTS_BACK_PENALTY = 0.1

HEADING = re.compile(r"^\s*(#{1,6}\s|={2,}|-{3,})")
BULLET = re.compile(r"^\s*([-*\u2022]|\d{1,2}[.)])\s+")
POINTS_BACK = re.compile(r"^\s*(both|they|he|she|it|this|these|those|the two|the latter|the former|his|her|their|"
                         r"its|there|then|also|however|but)\b", re.I)
PERSON_NAME = re.compile(r"\b(?:[A-Z][a-z]+|[A-Z]\.?)(?:\s+(?:(?:of|de|van|von|da|del|bin|al)\s+)?(?:[A-Z][a-z]+|[A-Z]\.?))+\b"
                         r"|\b[A-Z][a-z]{2,}\b")
ORGANISATION_WORDS = frozenset("""Limited Ltd Inc Corp Corporation Company Program Programme Summit Ministry Council Bank
    University Agreement Treaty Association Committee Department Office Party Group Festival Museum Lighthouse Award
    Awards Prize Cup Championship League Forum Conference Day Club Society Team Institute Foundation Agency
    Service Station Park Street Road Square Bay River Lake Mountain Hall Centre Center Stage Gallery""".split())
COUNTRIES_AND_SUCH = frozenset("""The This That These Those Both Later During After Before On In At For From With Monday
    Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May June July August September
    October November December""".split())
URL = re.compile(r"https?://|\bwww\.|\b\w+\.(com|org|net)/", re.I)
PERSON_LIST = re.compile(r"^\s*who\b|\b(people|persons?|ministers?|leaders?|officials?|members?|participants?|"
                         r"speakers?|attendees|delegates?|presidents?|authors?|players?|winners?|everyone|everybody)\b",
                         re.I)


def is_context(text: str) -> bool:
    """A heading, title-like line or bare bullet: context for the sentences under it, never an answer."""
    if HEADING.match(text):
        return True
    body = BULLET.sub("", text).strip()
    return len(body.split()) <= 8 and not re.search(r"[.!?:;\"\u201d)]$", body)


def heading_level(text: str) -> int:
    """1-6 for a Markdown heading ("## Safety" is 2), 0 for any other sentence."""
    m = re.match(r"\s*(#{1,6})\s", text)
    return len(m.group(1)) if m else 0


def is_question(text: str) -> bool:
    return text.rstrip().rstrip("\"'\u201d)").endswith("?")


def answerable(c: Candidate) -> bool:
    return not is_context(c.text) and not is_question(c.text)


def holds_kind(c: Candidate, question: Question) -> bool:
    """``c`` can answer ``question`` as a fact: a sentence (not a heading, not a question) holding each
    strict kind of answer asked for (a sum of money for "how much will India pay") beyond the question."""
    if not answerable(c):
        return False
    strict = [pattern for name, pattern in question.needs if name in STRICT_TYPES]
    if question.kind == "yesno" and c.evidence is not None and c.evidence.names_missing:
        return False  # "Did Putin attend the dialogue?": a sentence that never names Putin says neither yes nor no
    return c.typed or all(has_new_evidence(pattern, c.text, question.norm) for pattern in strict)


@dataclass
class Choice:
    """The sentences a strategy picked, best first, or why it found none (``missing``)."""

    chosen: list
    missing: str = ""


def fact(ranked: list[Candidate], question: Question, max_sentences: int, floor: float,
         previous: Callable[[Candidate], Candidate | None] | None = None) -> Choice:
    """The best sentence that holds the kind of answer asked for (a number for "how many", a speech for
    "what did X say"), and the runner-up when it scores nearly as well. A best sentence pointing back
    ("Both the leaders ... held a 2+2 dialogue") comes after the sentence before it when only that one
    holds the kind of answer asked for ("... met his Russian counterpart ... in Delhi" for "where")."""
    usable = [c for c in ranked if holds_kind(c, question)]
    if not usable:
        return Choice([], "")
    best = usable[0]
    if best.refuted and elsewhere(best, question):  # the role or document asked about may be a close second
        best = next((c for c in usable[1:] if c.score >= best.score - NEXT_BEST_MARGIN and c.evidence is not None
                     and not c.refuted and c.confidence >= floor), best)
    if best.confidence < floor or best.refuted:  # too far from the question, or evidence against it
        role_failed = question.role and best.evidence and (best.evidence.role_missing or best.evidence.other_owner)
        return Choice([], question.role.phrase if role_failed and best.confidence >= floor else "")
    chosen, words = [best], len(best.text.split())
    lead = lead_for(best, question, previous) if previous else None
    if lead is not None:
        chosen, words = [lead, best], words + len(lead.text.split())
    for c in usable:
        if len(chosen) >= max_sentences or c.score < best.score - SECOND_SENTENCE_MARGIN:
            break
        if any((c.doc_id, c.start) == (k.doc_id, k.start) for k in chosen) or c.confidence < floor or c.refuted \
                or words + len(c.text.split()) > MAX_WORDS:
            continue
        chosen.append(c)
        words += len(c.text.split())
    return Choice(chosen)


def lead_for(best: Candidate, question: Question,
             previous: Callable[[Candidate], Candidate | None]) -> Candidate | None:
    """The sentence before ``best`` when ``best`` answers only with it: ``best`` points back ("Both the
    leaders ...") and only the sentence before holds the kind of answer asked for, or it goes on with a
    quotation whose speaker the question names and only the sentence before names ("Shoigu said: “...
    I am confident ...”"). The sentence before is looked up only when one of these may hold."""
    points_back = bool(question.needs) and not best.typed and POINTS_BACK.match(best.text) is not None
    unnamed = [name for name in question.focus.names if name not in best.text]
    if not points_back and not unnamed:
        return None
    lead = previous(best)
    if lead is None or not answerable(lead):
        return None
    if points_back:
        return lead if all(has_new_evidence(p, lead.text, question.norm) for _, p in question.needs) else None
    return lead if continues_quote(best.text, lead.text) and any(name in lead.text for name in unnamed) else None


def elsewhere(c: Candidate, question: Question) -> bool:
    """The evidence against ``c`` says the answer is elsewhere, not that there is none: it does not name the
    role asked about, or its document is of another year or about another document's subject ("What does a
    museum ticket cost?" over the festival's ticket prices)."""
    e = c.evidence
    return e is not None and ((bool(question.role) and e.role_missing) or e.other_subject or e.other_year)


def reason(ranked: list[Candidate], question: Question, max_sentences: int, floor: float) -> Choice:
    """The best sentence that states a cause, when it scores near the best; else the best sentence."""
    usable = [c for c in ranked if answerable(c)]
    if not usable or not any(c.confidence >= floor and not c.refuted for c in usable[:2]):
        return Choice([], "")
    causes = [c for c in usable if CAUSE.search(c.text)]
    if causes and causes[0].score >= usable[0].score - REASON_MARGIN and causes[0].confidence >= floor \
            and not causes[0].refuted:
        rest = fact([c for c in usable if c is not causes[0]], question, max_sentences - 1, floor).chosen
        return Choice([causes[0], *[c for c in rest if c.score >= causes[0].score - SECOND_SENTENCE_MARGIN]])
    return fact(usable, question, max_sentences, floor)


def members(text: str, question: Question) -> set[str]:
    """What a sentence names for a "who" list: people's names (by surname), not those the question names
    nor organisations, events or places' titles."""
    asked = {w.lower() for name in question.focus.names for w in name.split()}
    out = set()
    for m in PERSON_NAME.finditer(text):
        words = m.group().split()
        if len(words) == 1:
            continue  # a lone capitalised word is as often a place or the sentence's first word as a person
        while words and words[0] in COUNTRIES_AND_SUCH:
            words = words[1:]
        if len(words) < 2:
            continue
        if {w.lower() for w in words} & asked or set(words) & ORGANISATION_WORDS:
            continue
        out.add(words[-1])
    return out


SPEECH = re.compile(r"\b(spoke|speak|speaks|said|say|says|talked|remarked|stated|addressed)\b", re.I)
SPEAKER = re.compile(r"\b((?:[A-Z][a-z]+\s+){0,2}[A-Z][a-z]+)\s+(?:said|says|told|stated|added|noted|remarked)\b"
                     r"|\b(?:said|says)\s+((?:[A-Z][a-z]+\s+){0,2}[A-Z][a-z]+)\b")


def speakers(text: str) -> set[str]:
    """Who speaks in a sentence ("Singh said", "said Lavrov"), by surname."""
    out = set()
    for m in SPEAKER.finditer(text):
        words = (m.group(1) or m.group(2)).split()
        while words and words[0] in COUNTRIES_AND_SUCH:
            words = words[1:]
        if words:
            out.add(words[-1])
    return out


def listing(ranked: list[Candidate], question: Question, max_sentences: int, floor: float,
            previous) -> Choice:
    usable = [c for c in ranked if answerable(c)]
    # each member's sentence lacks the words about the others ("the captain and the coach"): the list
    # stands when any of the best sentences is likely enough to answer its part
    near = [c for c in usable if c.score >= usable[0].score - LIST_MARGIN] if usable else []
    if not near or max(c.confidence for c in near) < floor * LIST_FLOOR:
        return Choice([])
    chosen: list = []
    named: set[str] = set()
    words = 0
    person_list = bool(PERSON_LIST.search(question.text))
    # "who spoke at the dialogue": the members are those who speak, not everyone named
    who = speakers if person_list and SPEECH.search(question.text) else (lambda text: members(text, question))
    # members' sentences may score this far below the best sentence that names one; anyone who speaks
    # in the retrieved passages answers "who spoke", however little else the sentence shares
    lead = next((c for c in usable if who(c.text)), usable[0]) if person_list else usable[0]
    bar = lead.score - LIST_MARGIN if who is not speakers else float("-inf")
    for c in usable:
        if c.score < bar or len(chosen) >= MAX_LIST_SENTENCES:
            break
        found = who(c.text)
        before = previous(c)
        if before is not None and POINTS_BACK.match(c.text) and answerable(before) and who is not speakers:
            found |= members(before.text, question)
        new = found - named
        if person_list and not new:
            continue
        group = [before, c] if before is not None and POINTS_BACK.match(c.text) and answerable(before) else [c]
        group = [g for g in group if all(g.start != x.start or g.doc_id != x.doc_id for x in chosen)]
        size = sum(len(g.text.split()) for g in group)
        if chosen and words + size > MAX_LIST_WORDS:
            continue
        chosen.extend(group)
        named |= found
        words += size
    if not chosen:  # no names found: the question may still be answered the usual way
        return fact(usable, question, max_sentences, floor) if usable[0].confidence >= floor else Choice([])
    return Choice(in_document_order(chosen))


def timed(ranked: list[Candidate], question: Question, max_sentences: int, floor: float) -> Choice:
    """Sentences dated within the asked date; when the question names more than a date ("what happened
    to the summit in 2020"), the best of them must also be about that."""
    asked = question.dates
    usable = [c for c in ranked if answerable(c)]
    dated = [c for c in usable if any(a.within(d) for a in asked for d in dates_in(c.text))]
    if not dated:
        return Choice([], "anything dated " + " or ".join(str(a) for a in asked))
    about_more = bool(question.focus.words) or len(question.focus.names) > len(asked)
    if about_more and dated[0].confidence < floor * LIST_FLOOR:
        return Choice([], "")
    best = dated[0]
    keep = [c for c in dated if not about_more or c.score >= best.score - LIST_MARGIN][:MAX_LIST_SENTENCES]
    return Choice(in_document_order(keep))


def comparison(ranked: list[Candidate], question: Question, max_sentences: int, floor: float,
               context=lambda c: "") -> Choice:
    """The best sentence about each side compared: each year of "in 2022 and 2023", else each name;
    a side may be named by the sentence or its ``context`` (its document's title and heading)."""
    usable = [c for c in ranked if answerable(c) and c.score >= floor * LIST_FLOOR and not c.refuted]
    years = re.findall(r"\b(?:1[5-9]|20)\d\d\b", question.text)
    sides = years if len(years) >= 2 else [name for name in question.focus.names][:3]
    chosen = []
    for side in sides:
        pattern = re.compile(rf"(?<!\w){re.escape(side)}(?!\w)", re.I)
        about = [c for c in usable if c not in chosen and (pattern.search(c.text) or pattern.search(context(c)))]
        # each side on what is compared: among the sentences nearly as close as its best, the one that
        # says most of the question ("The Saturday headliner was ..." before "... sponsored the stage")
        near = [c for c in about if c.score >= about[0].score - SECOND_SENTENCE_MARGIN]
        chosen.extend(sorted(near, key=lambda c: lacks(c, question))[:1])
    if len(chosen) < 2:
        return fact(ranked, question, max_sentences, floor)
    return Choice(in_document_order(chosen))


def lacks(c: Candidate, question: Question) -> tuple[int, int]:
    """How many of the question's names (which its heading or the sentence before may hold), then of
    its other words, the sentence does not say."""
    names = c.evidence.names_missing if c.evidence is not None else len(question.name_terms)
    words = sum(not matches(t, c.terms) for word in question.focus.words for t in tokenize(word))
    return names, words


def overview(sentences: list[Candidate], vectors: np.ndarray, about: np.ndarray | None = None) -> Choice:
    """3 to 6 sentences that give the gist and do not repeat each other.

    ``sentences`` are one document's (or the documents in question's) sentences with ``vectors``;
    with ``about`` (a mask), only those sentences are ranked ("tell me about X"). A short text's gist is
    in its opening (a news story's lead): its most central sentences, favouring early ones, in document
    order. A long text's overview covers all of it: its thesis (the most central sentence of the opening;
    a preface such as "This essay is derived from a talk" is not one), then one sentence from each of
    equal stretches of the text, central both to the whole and to its stretch, in document order.
    """
    usable = [i for i, c in enumerate(sentences) if answerable(c) and not URL.search(c.text)
              and len(c.text.split()) >= MIN_OVERVIEW_WORDS and (about is None or about[i])]
    if not usable:
        return Choice([], "")
    matrix = vectors[usable]
    centrality = matrix @ unit(matrix.mean(axis=0))
    points_back = np.array([bool(POINTS_BACK.match(sentences[i].text)) for i in usable])
    n = min(OVERVIEW_MAX, max(OVERVIEW_MIN, round(len(usable) / 5)), len(usable))
    if len(usable) < LONG_TEXT:
        position = np.array([1.0 - k / len(usable) for k in range(len(usable))])
        relevance = centrality + POSITION_WEIGHT * position - POINTS_BACK_PENALTY * points_back
        picked = most_relevant(matrix, relevance, n)
        return Choice(in_document_order([sentences[usable[i]] for i in picked]))
    opening = max(OVERVIEW_MIN, math.ceil(THESIS_SHARE * len(usable)))
    lead = centrality - THESIS_DECAY * np.arange(len(usable)) - POINTS_BACK_PENALTY * points_back
    picked = [int(lead[:opening].argmax())]
    bounds = np.linspace(0, len(usable), n + 1).round().astype(int)
    for a, b in zip(bounds, bounds[1:]):
        if a <= picked[0] < b:
            continue  # the thesis stands for its own stretch
        rows = np.arange(a, b)
        local = matrix[rows] @ unit(matrix[rows].mean(axis=0))
        relevance = (centrality[rows] + local) / 2 - POINTS_BACK_PENALTY * points_back[rows]
        picked.append(int(rows[most_relevant(matrix[rows], relevance, 1, matrix[picked])[0]]))
    thesis, rest = sentences[usable[picked[0]]], [sentences[usable[k]] for k in picked[1:]]
    return Choice([thesis, *in_document_order(rest)])


def most_relevant(matrix: np.ndarray, relevance: np.ndarray, n: int, chosen: np.ndarray | None = None) -> list[int]:
    """Maximal marginal relevance: ``n`` rows, each the most relevant that repeats least of what is
    already chosen (``chosen``: vectors picked before)."""
    picked: list[int] = []
    seen = list(chosen) if chosen is not None else []
    while len(picked) < n:
        redundancy = (matrix @ np.array(seen).T).max(axis=1) if seen else np.zeros(len(matrix))
        score = (1 - OVERVIEW_DIVERSITY) * relevance - OVERVIEW_DIVERSITY * redundancy
        score[picked] = -np.inf
        picked.append(int(score.argmax()))
        seen.append(matrix[picked[-1]])
    return picked


def unit(vector: np.ndarray) -> np.ndarray:
    return vector / (np.linalg.norm(vector) or 1.0)


ENUMERATION = re.compile(r"\b(people|persons|names|individuals|officials|leaders|ministers|places|locations|cities|"
                         r"countries|dates|years|organi[sz]ations|companies)\b", re.I)
GENERIC_LIST_WORDS = frozenset("people persons names individuals officials leaders ministers places locations cities "
                               "countries dates years organisations organizations companies all every".split())
# "... mentioned", "named in the story": a question about what the document names, not about an event
ABOUT_THE_TEXT = re.compile(r"\b(mentioned|named|cited|quoted|listed|referred to|in (the|this) (article|story|document|"
                            r"text|report|piece|file|news))\b", re.I)
DOCUMENT_WORDS = frozenset("article story document text report piece file news".split())
PLACE = re.compile(r"\b(?:in|at|to|from|near|visited)\s+((?:[A-Z][a-z]+)(?:\s+[A-Z][a-z]+)*)")


def enumerates(question: Question) -> bool:
    """A list of everything of one kind in the documents: "list all the people mentioned", "what places",
    also with one qualifier when the question is about what the text names ("which russian officials are
    mentioned", "the Indian leaders named in the story")."""
    if not ENUMERATION.search(question.text):
        return False
    return len(qualifiers(question)) <= (1 if ABOUT_THE_TEXT.search(question.text) else 0)


def qualifiers(question: Question) -> list[str]:
    """The question's words and names that narrow an enumeration ("russian" of "which russian officials")."""
    return [w for w in (*question.focus.names, *question.focus.words) if w.lower() not in DOCUMENT_WORDS
            and w.lower() not in GENERIC_LIST_WORDS and w.lower().rstrip("s") not in GENERIC_LIST_WORDS]


def qualified(text: str, qualifier: str) -> bool:
    """``text`` holds ``qualifier`` or a word it is made from ("Russian" ~ "Russia's", "Indian" ~ "India")."""
    stem = qualifier.lower()
    for ending in ("ian", "an", "ese", "ish", "i", "n"):
        if stem.endswith(ending) and len(stem) - len(ending) >= 4:
            stem = stem[: -len(ending)]
            break
    return re.search(rf"\b{re.escape(stem)}", text, re.I) is not None


def enumerate_all(sentences: list[Candidate], question: Question) -> Choice:
    """The fewest sentences (greedy cover, at most ``MAX_LIST_SENTENCES``) naming every item of the kind
    asked for: people's names, places, or dates; with a qualifier, among the sentences that hold it."""
    for qualifier in qualifiers(question):
        sentences = [c for c in sentences if qualified(c.text, qualifier)]
    text = question.text.lower()
    if re.search(r"\b(dates?|years?)\b", text):
        found = {i: {str(d) for d in dates_in(c.text) if d.year or d.month} for i, c in enumerate(sentences)}
    elif re.search(r"\b(places?|locations?|cities|countries)\b", text):
        found = {i: {m.group(1) for m in PLACE.finditer(c.text)} for i, c in enumerate(sentences)}
    else:
        found = {i: members(c.text, question) for i, c in enumerate(sentences)}
    found = {i: items for i, items in found.items() if items and answerable(sentences[i])}
    chosen, covered = [], set()
    while found and len(chosen) < MAX_LIST_SENTENCES:
        i = max(found, key=lambda k: (len(found[k] - covered), -k))
        if not found[i] - covered:
            break
        chosen.append(sentences[i])
        covered |= found.pop(i)
    return Choice(in_document_order(chosen), "" if chosen else "anything of that kind")


def opens_quote(text: str) -> bool:
    """The sentence opens a quotation it does not close (the quotation goes on in the next sentence)."""
    return text.count("\u201c") > text.count("\u201d") or text.count('"') % 2 == 1


# "“...,” he said.": the speaker is named in an earlier sentence.
SAID_BY_PRONOUN = re.compile(r"[\u201d\"]\s*,?\s*(?:he|she|they)\s+(?:said|says|added|told|noted|stated)\b"
                             r"|^\W*(?:he|she|they)\s+(?:said|says|added|told|noted|stated)\b", re.I)
# "... Singh said", "said Lavrov", "“...,” he added": a sentence that tells who spoke.
ATTRIBUTED = re.compile(r"\b(?:said|says|added|told|noted|stated|remarked)\b", re.I)


def speaker_points_back(sentence: str) -> bool:
    """The sentence quotes someone it calls "he", "she" or "they" (named in the sentence before)."""
    return SAID_BY_PRONOUN.search(sentence) is not None


def continues_quote(sentence: str, before: str) -> bool:
    """The sentence is a quotation going on from the one before, which says who spoke: it is theirs
    ("“...,” he said. “Long standing ...”"; "Shoigu said: “... these times. I am confident ...”")."""
    opens = bool(sentence.strip()) and sentence.lstrip()[0] in "\u201c\""
    return (opens or opens_quote(before)) and ATTRIBUTED.search(before) is not None


def in_document_order(chosen: list) -> list:
    return sorted(chosen, key=lambda c: (c.doc_id, c.start))
