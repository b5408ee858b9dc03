"""What a sentence holds of a question beyond sharing its words, and the evidence that it does not answer it.

A sentence may score high because it shares the question's topic and still not answer it: "What was the
attendance at the 2019 festival?" over the 2021 festival's report that mentions 2019's record, "What is
the shortest river?" over "The Rhine is the longest river", "When was the first India-Russia summit?"
over a sentence about the annual summit that never says "first", although the article uses the word
elsewhere. For each candidate sentence (with its heading, its document's title and the sentence before
it) the extractive answerer records:

* ``score``: its similarity score (dense + lexical, cut for each kind of answer it lacks);
* ``names_missing``: the question's names and codes it does not hold ("Kestria");
* ``known_missing``: the IDF share of the question's words (names included) that it lacks although its
  own document uses them elsewhere: a word the document knows but this sentence does not say is a
  qualifier it fails ("first", "trade", "agree");
* ``unknown_missing``: the share of words it lacks that its document never uses: as often a paraphrase
  ("outlet" for a news agency) as a thing the document never mentions ("mayor");
* ``opposite``: it says the opposite of a question word it lacks ("shortest" over "the longest");
* ``other_year``: the question names a year and the sentence's document title or heading names another.

Three of these are evidence *against* answering with the sentence (``Evidence.against``): another year,
an opposite, and more than ``KNOWN_MISSING_LIMIT`` of the question's weight in words its document uses
but it does not say. They were chosen on the development sets (seed and multi-document gold sets, the
SQuAD 2.0 slice; never XQuAD) because they refuse unanswerable questions while costing almost no right
answers (together 22 unanswerable for 3 answerable at the default threshold;
``benchmarks/calibrate_refusal.py`` prints each rule's count per set). The others are recorded
for that script but decide nothing: on SQuAD 2.0 a missing name or an
unknown word is as common in answerable questions ("it", "he", a paraphrase) as in unanswerable ones,
and a model weighing them all (tried: a logistic regression fitted on the three sets) refused 27% of
XQuAD's answerable questions.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass

from ..text import stem

FEATURES = ("score", "names_missing", "known_missing", "unknown_missing", "opposite", "other_year")

# Share of the question's weight in words the sentence's document uses but the sentence does not say,
# above which the sentence is taken to fail a qualifier (BENCHMARKS.md, "Refusal threshold"): on the
# development sets at the default threshold it refused 10 unanswerable questions for 2 answerable ones.
KNOWN_MISSING_LIMIT = 0.3

# Words and their opposites: a sentence holding the opposite and not the word says something else.
# ("first"/"last" is not among them: "the first time since 2019" says when they last met.)
_OPPOSITES = [
    ("largest", "smallest"), ("biggest", "smallest"), ("longest", "shortest"), ("highest", "lowest"),
    ("tallest", "shortest"), ("oldest", "youngest"), ("oldest", "newest"), ("earliest", "latest"),
    ("most", "least"), ("best", "worst"), ("richest", "poorest"), ("fastest", "slowest"),
    ("larger", "smaller"), ("bigger", "smaller"), ("longer", "shorter"), ("higher", "lower"), ("older", "younger"),
    ("more", "less"), ("more", "fewer"), ("greater", "lesser"), ("better", "worse"), ("earlier", "later"),
    ("before", "after"), ("increase", "decrease"), ("increased", "decreased"), ("rise", "fall"), ("rose", "fell"),
    ("north", "south"), ("east", "west"), ("northern", "southern"), ("eastern", "western"),
    ("upper", "lower"), ("inner", "outer"), ("win", "lose"), ("won", "lost"), ("start", "end"),
    ("began", "ended"), ("open", "close"), ("opened", "closed"), ("accept", "reject"), ("accepted", "rejected"),
    ("allow", "forbid"), ("success", "failure"), ("successful", "failed"), ("major", "minor"),
    ("maximum", "minimum"), ("positive", "negative"), ("light", "dark"), ("lighter", "darker"),
    ("wet", "dry"), ("hot", "cold"), ("warm", "cool"), ("heavy", "light"), ("strong", "weak"),
    ("wide", "narrow"), ("wider", "narrower"), ("deep", "shallow"), ("rich", "poor"), ("import", "export"),
    ("imports", "exports"), ("internal", "external"), ("ancient", "modern"), ("private", "public"),
    ("male", "female"), ("left", "right"), ("top", "bottom"), ("above", "below"), ("inside", "outside"),
    ("never", "always"), ("upstream", "downstream"), ("entry", "exit"), ("arrive", "depart"),
]
OPPOSITES: dict[str, frozenset[str]] = {}
for _a, _b in _OPPOSITES:
    for _x, _y in ((_a, _b), (_b, _a)):
        OPPOSITES[stem(_x)] = OPPOSITES.get(stem(_x), frozenset()) | {stem(_y)}


@dataclass(frozen=True)
class Evidence:
    """What one sentence holds of one question (see the module's docstring)."""

    score: float
    names_missing: int = 0
    known_missing: float = 0.0
    unknown_missing: float = 0.0
    opposite: bool = False
    other_year: bool = False  # the question names a year; the sentence's document or section is of another

    def vector(self) -> tuple[float, ...]:
        return tuple(float(x) for x in astuple(self))

    @property
    def against(self) -> str:
        """Why the sentence does not answer the question, or "" when nothing speaks against it."""
        if self.other_year:
            return "another year"
        if self.opposite:
            return "the opposite"
        if self.known_missing > KNOWN_MISSING_LIMIT:
            return "a qualifier it does not say"
        return ""


def opposite_of(term: str, held: frozenset[str]) -> bool:
    """``held`` (a sentence's terms) holds the opposite of ``term`` (a question's)."""
    return bool(OPPOSITES.get(term, frozenset()) & held)
