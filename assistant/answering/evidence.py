"""How well a sentence's evidence covers a question, and how likely quoting it answers the question.

A sentence may score high because it shares the question's topic and still not answer it: "When was the
first 2+2 dialogue held?" over "The two sides held a 2+2 dialogue" (no date, and "first" is nowhere near),
"Who is Kestria's trade minister?" over "Velmora's Trade Minister, Jonas Ebbe, ..." (another country).
And a sentence may share few of the question's words and answer it all the same, in other words:
"Which outlet is credited for the story?" over "..., reported ANI." So the decision to answer is taken
on what the sentence (with its heading, its document's title and the sentence before it) holds of the
question, not on its similarity alone:

* ``score``: the sentence's similarity score (dense + lexical, cut for each kind of answer it lacks);
* ``names_missing``: the question's names, codes and numbers it does not hold ("Kestria", "2022");
* ``known_missing``: the IDF share of the question's other words it lacks although its own document
  uses them elsewhere: a word the document knows but this sentence does not say is a qualifier it
  fails ("first", "trade", "agree");
* ``unknown_missing``: the share of words it lacks that its document never uses: as often a paraphrase
  ("outlet") as a thing the document never mentions ("mayor");
* ``opposite``: it says the opposite of a question word it lacks ("shortest" over "the longest");
* ``other_year``: the question names a year and the sentence's document title or heading names another
  ("the 2019 festival" over the 2021 festival's report that mentions 2019's record);
* ``peak``: how far it stands out from the best five other sentences: an answer stands out, while a
  question the documents do not answer finds many sentences about as close as each other.

``probability`` maps these to the chance that quoting the sentence answers the question, by a logistic
model fitted on development data only (the seed gold set, our multi-document gold set and the SQuAD 2.0
slice, each weighing the same; never XQuAD): ``benchmarks/calibrate_refusal.py --fit`` refits it and
prints the weights below. The sentence a fact answer quotes is itself chosen by this chance, so the fit
is repeated until the weights stop moving (three rounds).
The extractive answerer refuses under ``refusal_threshold`` of this probability (default 0.5).
"""

from __future__ import annotations

import math
from dataclasses import astuple, dataclass

from ..text import stem

FEATURES = ("score", "names_missing", "known_missing", "unknown_missing", "opposite", "other_year", "peak")

# Fitted by benchmarks/calibrate_refusal.py --fit (see its output in BENCHMARKS.md, "Refusal").
BIAS = 0.236
# score and peak share the similarity: what raises the chance is standing out from the other sentences
WEIGHTS = (-0.487, -1.077, -3.124, -1.549, -0.966, -2.014, 3.473)

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
    peak: float = 0.0  # its score less the mean score of the best five other sentences

    def vector(self) -> tuple[float, ...]:
        return tuple(float(x) for x in astuple(self))

    @property
    def probability(self) -> float:
        """The chance that quoting this sentence answers the question (the calibrated model)."""
        z = BIAS + sum(w * x for w, x in zip(WEIGHTS, self.vector()))
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


def opposite_of(term: str, held: frozenset[str]) -> bool:
    """``held`` (a sentence's terms) holds the opposite of ``term`` (a question's)."""
    return bool(OPPOSITES.get(term, frozenset()) & held)
