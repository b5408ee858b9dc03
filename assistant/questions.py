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
import unicodedata
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Callable

from .clauses import AUXILIARIES, indirect
from .errors import QuestionError
from .text import STOPWORDS, content_terms, normalise_numbers, tokenize, words
from .text import words as words_of

MAX_QUESTION_CHARS = 2000
TERMINAL_ESCAPE = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")
# Score kept by a sentence that lacks the kind of answer asked for (a number for "how many", a date for
# "when"), and by one that lacks a number the question names. Used by the rerank and the answerers.
MISSING_TYPE_FACTOR = 0.75

MONTHS = r"(january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)"
NUMBER_WORDS = r"(once|twice|thrice|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundred|thousand|million|billion|lakh|lakhs|crore|crores|dozen)"
UNITS = (r"(metres?|meters?|m|km|kilomet(re|er)s?|centimet(re|er)s?|millimet(re|er)s?|miles?|feet|ft|foot|inch(es)?|cm|mm|"
         r"yards?|kg|kilo(gram)?s?|grams?|g|watts?|kilowatts?|kw|w|volts?|v|degrees?|°[cf]?|hertz|hz|"
         r"tonnes?|tons?|pounds?|lbs?|ounces?|years?|yrs?|months?|weeks?|days?|hours?|hrs?|minutes?|mins?|seconds?|"
         r"storeys?|stor(ey|ie)s|floors?|hectares?|ha|acres?|square|sq|litres?|liters?|gallons?|knots?|mph|km/h|kmh|per cent|percent|%)")
# A date as sentences give it: a year ("in 911", "the 1990s"), a month, a weekday, a century, "years ago".
DATE_EVIDENCE = re.compile(
    rf"\b(1[0-9]|20)\d\ds?\b|\b{MONTHS}\b|\b((monday|tuesday|wednesday|thursday|friday|saturday|sunday)s?|today|"
    r"yesterday|tomorrow|tonight)\b|\b(in|since|by|until|till|from|after|before|of|around|circa|ca\.|c\.)\s+\d{2,4}\b"
    r"|\b\d+(st|nd|rd|th)[\s-]+(century|centuries|millennium)\b|\b(bc|bce|ad|ce|bp)\b|\b\d[\d,.]*\s+(years?|yr)\s+ago\b"
    r"|\b(century|decade|era|period|age|dynasty|reign|times)\b", re.I)
# Numbers that are no count: in dates as sentences write them ("February 18, 2019", "November 2019",
# "in 2019") and after "the" ("the two sides" refers to known ones).
NOT_COUNTS = re.compile(
    rf"\b[0-3]?\d(st|nd|rd|th)?\s+(of\s+)?{MONTHS}\b\.?(,?\s+(1[5-9]|20)\d\d\b)?"
    rf"|\b{MONTHS}\b\.?(\s+[0-3]?\d(st|nd|rd|th)?\b)?(,?\s+(of\s+)?(1[5-9]|20)\d\d\b)?"
    r"|\b(in|since|until|from|after|before|during)\s+(1[5-9]|20)\d\d\b"  # not "by 2000 guests"
    rf"|\bthe\s+{NUMBER_WORDS}\b", re.I)


class Counts:
    """A pattern that does not match numbers that are no count (``NOT_COUNTS``): "How many rifles?" is
    not answered by "dated February 18, 2019" nor by "the two sides". Matches keep their places."""

    def __init__(self, pattern: re.Pattern):
        self.pattern = pattern

    def finditer(self, sentence: str):
        masked = NOT_COUNTS.sub(lambda m: " " * len(m.group()), sentence)
        return self.pattern.finditer(masked)


# (what the question asks, evidence a sentence must hold to answer it). The evidence must be new:
# a year or a name that the question itself mentions does not count.
ANSWER_TYPES: list[tuple[str, re.Pattern, re.Pattern]] = [
    ("money", re.compile(r"\b(price|cost|costs|worth|how much (money|did|does|will|is|was)|how much\b[^?]*\binvest\w*|spend|spent|value of)\b", re.I),
     re.compile(r"[$€£₹¥]\s?\d[\d,.]*|\b(rs\.?|inr|usd|gbp|eur|jpy|chf|cad|aud|cny|rupees?|dollars?|euros?|pounds?|"
                r"pence|cents?|yen|francs?|crores?|lakhs?|billion|million)\b", re.I)),
    ("number", re.compile(r"\b(how many|how much|number of|what number|(which|what) (edition|round|term|season|version|"
                          r"issue|anniversary|iteration|instalment|installment))\b|\b(count|total)\s*[?.!]*\s*$", re.I),
     Counts(re.compile(rf"\d[\d,.]*|\b{NUMBER_WORDS}\b", re.I))),
    ("measure", re.compile(r"\bhow (tall|high|long|far|old|heavy|big|large|deep|wide|thick|fast|heavy|much does .+ weigh)\b"
                           r"|\bwhat (age|height|length|distance|weight|size|area|depth|width|speed)\b", re.I),
     re.compile(rf"(\d[\d,.]*|\b{NUMBER_WORDS}\b)(\s|-)?({UNITS})\b|\baged?\s+\d+", re.I)),
    ("date", re.compile(r"\b(when(?!\s+(does|do)\b)|what date|which date|what year|which year|what day|which day|"
                        r"what month|which month)\b", re.I), DATE_EVIDENCE),
    # "When does the ferry leave?", "what time", "how often": a time of day or a frequency also answers
    ("time", re.compile(r"\bwhen\s+(does|do)\b|\b(what|which) time\b|\bhow often\b", re.I),
     re.compile(DATE_EVIDENCE.pattern + r"|\b\d{1,2}([:.]\d\d)?\s*(am|pm|a\.m\.|p\.m\.|o'clock|h\b)|\b\d{1,2}:\d\d\b"
                r"|\b(noon|midday|midnight|morning|afternoon|evening|night|dawn|dusk|hourly|daily|weekly|monthly|"
                r"yearly|annually|weekends?|weekdays?)\b|\bevery\s+(\w+\s+)?(minutes?|hours?|days?|weeks?|months?|years?)\b",
                re.I)),
    ("place", re.compile(r"^\s*where\b|\b(in|at|from) which (city|country|town|place|region|state|village|venue|building)\b"
                         r"|^\s*(which|what) (city|country|town|place|region|state|village|venue|capital)\b", re.I),
     re.compile(r"\b(in|at|near|from|to|into|outside|inside|across|along|on|off|beside|around|throughout|via|"
                r"north|south|east|west|northeast|northwest|southeast|southwest)\s+(the\s+|a\s+|an\s+)?[A-Z]\w"
                r"|\b(here|there|abroad|overseas|home|locally|nearby|downtown|upstream|downstream)\b")),
    ("reason", re.compile(r"\bwhy\b|\bwhat (was|is) the reason\b|\bfor what reason\b", re.I),
     re.compile(r"\b(because|due to|owing to|as a result|since|so that|in order to|led to|caused|reason)\b", re.I)),
    ("statement", re.compile(r"\bwhat did .+\b(say|said|tell|remark|state|describe|call)\b|\bwhat were .+\b(remarks|words)\b", re.I),
     re.compile(r"\b(said|says|say|told|stated|remarks|called|described|added)\b|[\u201c\u201d\"]", re.I)),
    ("person", re.compile(r"^\s*(who|whom|whose)\b|\bwhich (person|minister|leader|official|president|people)\b", re.I),
     # a capitalised word, not a function word that merely opens the sentence ("The two sides signed ...")
     re.compile(r"\b(?!(?:The|A|An|This|That|These|Those|It|Its|They|Their|He|His|She|Her|We|Our|You|In|On|At|For|"
                r"But|And|However|After|Before|During|Later|When|While|As|If|Both|Some|Many|Most|All|Each|Every|"
                r"There|Then|Also|So|Such|Other|Another)\b)[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*")),
]
# A sentence that states a cause (what a "why" question needs).
CAUSE = next(evidence for name, _, evidence in ANSWER_TYPES if name == "reason")
# Numbers, years and ordinals in a question are constraints: a sentence without them is about something else.
QUESTION_NUMBER = re.compile(r"\b\d[\d,]*(?:st|nd|rd|th)?\b", re.I)

# ---------------------------------------------------------------------------------- kinds of question

KINDS = ("fact", "list", "overview", "time", "reason", "yesno", "comparison")

OVERVIEW = re.compile(
    r"\b(summari[sz]e|summary|sum (it |this |that |them |everything |things )?up|overview|gist|rundown|recap|tl;?dr"
    r"|in (a )?nutshell|in brief|brief me)\b"
    r"|\b(key|main|important|major|central) (points?|facts|takeaways?|ideas|highlights|topics|themes|findings|messages?)\b"
    r"|^\s*(what (are|were) the )?highlights\b"
    r"|\b(short|quick|brief) version\b"
    r"|\bwhat (is|'s|are) (this|the|that|these|those) (article|document|text|story|report|piece|file|paper|news)s?\b.*\babout\b"
    r"|\bwhat (does|do|did) (this|the|that|these|those|your|my) (article|document|text|report|piece|file|paper|page|"
    r"source|collection)s? (say|cover|discuss|contain|tell|describe|talk about)\b"
    r"|\bwhat('s| is) in (this|the|that|these|those|my|your) (article|document|text|report|piece|file|paper|collection)s?\b"
    r"|\bwhat (topics|subjects|themes) (does|do|did|are)\b"
    r"|^\s*(what|which) (documents|files|articles|texts|papers|sources) (do|did|are|were|have|has)\b"
    r"|^\s*(please\s+)?(can you\s+|could you\s+)?(tell me|talk|explain|describe|brief me)( more| something| everything)?"
    r" (about|on)\b"
    r"|^\s*(please\s+)?(can you\s+|could you\s+)?(explain|describe) (this|the|that|these|those) "
    r"(article|document|text|story|report|piece|file|paper|news)s?\b"
    r"|^\s*what('?s| is| was) (this|it)( all)? about\b",
    re.I)
TIME = re.compile(r"\b(what|anything|something) (happen|happened|took place|occurred|went on)\b"
                  r"|\b(events?|happenings)\b.*\b(of|in|on|during)\b", re.I)
REASON = re.compile(r"\bwhy\b|\bhow come\b|\bwhat (was|is|were|are) the (reasons?|causes?)\b|\bfor what reason\b"
                    r"|\bwhat (caused|led to|made|prevented|stopped|kept)\b|\breasons? (for|why|behind)\b", re.I)
LIST = re.compile(
    r"^\s*(please\s+)?(list|name|enumerate)\b|\b(name|list) (all|every|each|the)\b"
    r"|^\s*who (all |else )?(attended|participated|took part|was present|were present|were there|joined|met|"
    r"was involved|were involved|were|are|spoke|took|signed)\b"
    r"|^\s*(which|what) ([a-z-]+ )?([a-z-]+s)\b"
    r"|\beveryone\b|\bevery (one|person|minister|leader|country|company)\b|\ball the\b", re.I)
NOT_PLURAL = frozenset("is was does has this his its status news series basis analysis crisis process class address "
                       "business press congress thesis bus gas plus bonus campus virus focus kinds always perhaps "
                       "whereas across less unless".split())
YES_NO = re.compile(rf"^\s*{AUXILIARIES}\b", re.I)
SEVERAL_YEARS = re.compile(r"\b(1[5-9]|20)\d\d\b(,\s*(1[5-9]|20)\d\d\b)*,?\s+(and|or|vs\.?|versus)\s+(1[5-9]|20)\d\d\b"
                           r"|\bbetween\s+(the\s+)?(1[5-9]|20)\d\d\b.*\band\s+(the\s+)?(1[5-9]|20)\d\d\b", re.I)
COMPARISON = re.compile(r"\b(compare|comparison|difference between|differences between|differ|versus|vs\.?)\b", re.I)


def classify(question: str) -> str:
    """The kind of answer ``question`` wants: one of ``KINDS``; casual wording counts ("what rifles")."""
    text = question.strip()
    overview = OVERVIEW.search(text)
    if overview and (overview.start() == 0 or not overview.group(0)[0].isupper()):  # not "the WG I Summary report"
        return "overview"
    if COMPARISON.search(text) or SEVERAL_YEARS.search(text):
        return "comparison"
    if REASON.search(text):
        return "reason"
    if TIME.search(text) and dates_in(text):
        return "time"
    match = LIST.search(text)
    if match:
        last = match.group(0).split()[-1].lower()
        plural_noun = re.match(r"^\s*(which|what)\b", match.group(0), re.I)
        if not plural_noun or not (last in NOT_PLURAL or last.endswith(("ss", "us", "is"))):
            return "list"
    if TIME.search(text):  # "what happened at the dialogue": no date, so an account of the dialogue
        return "overview"
    if YES_NO.match(text):
        return "yesno"
    return "fact"


# ---------------------------------------------------------------------------------- dates

MONTH_NUMBERS = {name: i for i, names in enumerate(
    [("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",), ("june", "jun"),
     ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"),
     ("december", "dec")], start=1) for name in names}
MONTH_NAMES = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
               "November", "December"]
_MONTH = r"(?P<month>" + "|".join(sorted(MONTH_NUMBERS, key=len, reverse=True)) + r")\.?"
DATE_PATTERNS = [
    re.compile(rf"\b(?P<day>[0-3]?\d)(st|nd|rd|th)?\s+(of\s+)?{_MONTH}(,?\s+(?P<year>(1[5-9]|20)\d\d))?\b", re.I),
    re.compile(rf"\b{_MONTH}\s+(?P<day>[0-3]?\d)(st|nd|rd|th)?\b(,?\s+(?P<year>(1[5-9]|20)\d\d))?", re.I),
    re.compile(rf"\b{_MONTH}(,?\s+(of\s+)?(?P<year>(1[5-9]|20)\d\d))?\b", re.I),
    re.compile(r"\b(?P<year>(1[5-9]|20)\d\d)\b"),
    re.compile(r"\b(?P<weekday>monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b", re.I),
]


@dataclass(frozen=True)
class DateRef:
    """A date as precise as the text gives it: a year, a month (of a year), or a day."""

    year: int | None = None
    month: int | None = None
    day: int | None = None
    weekday: str = ""

    def within(self, other: "DateRef") -> bool:
        """``other`` (a sentence's date) falls within this one (a question's): every field this one
        gives agrees."""
        return all(mine in (None, "") or mine == theirs for mine, theirs in
                   ((self.year, other.year), (self.month, other.month), (self.day, other.day),
                    (self.weekday, other.weekday)))

    def __str__(self) -> str:
        month = MONTH_NAMES[self.month - 1] if self.month else ""
        return " ".join(str(p) for p in (self.weekday, self.day, month, self.year) if p)


def dates_in(text: str) -> list[DateRef]:
    """Every date ``text`` names ("in 2019", "last November", "on 6 December 2021", "February 18, 2019"),
    the most precise reading of each span; "may" is read as a month only next to a day or a year."""
    taken: list[tuple[int, int]] = []
    out = []
    for pattern in DATE_PATTERNS:
        for m in pattern.finditer(text):
            if any(s < m.end() and m.start() < e for s, e in taken):
                continue
            groups = m.groupdict()
            month = MONTH_NUMBERS.get((groups.get("month") or "").lower().rstrip("."))
            if groups.get("weekday") is not None:
                month = None
            day = int(groups["day"]) if groups.get("day") else None
            year = int(groups["year"]) if groups.get("year") else None
            if month and day is None and year is None and (
                    groups["month"].lower() == "may" or (len(groups["month"]) <= 4 and not groups["month"][0].isupper())):
                continue  # "may" the verb, "mar" the word
            if day is not None and not 1 <= day <= 31:
                continue
            taken.append(m.span())
            out.append((m.start(), DateRef(year, month, day, (groups.get("weekday") or "").capitalize())))
    return [d for _, d in sorted(out, key=lambda x: x[0])]


FOLLOW_UP_WORDS = re.compile(
    r"\b(he|him|his|she|her|hers|they|them|their|theirs|it|its|this|that|these|those|there|then|"
    r"counterpart|former|latter|same|other)\b",
    re.IGNORECASE,
)
FOLLOW_UP_START = re.compile(r"^\s*(and|but|also|so|what about|how about|and what)\b", re.IGNORECASE)


def check_question(question: object) -> str:
    """The question as it will be answered (white space collapsed), or ``QuestionError`` saying why not."""
    if isinstance(question, str):
        question = TERMINAL_ESCAPE.sub("", question)  # a colour code pasted from a terminal is no part of it
        question = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf") and not ch.isspace() else ch
                           for ch in question)
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


# "And in 2022?", "what about Luneth", "And of Kestria?": the question before, asked of something else.
ELLIPSIS = re.compile(r"^\s*(?:and|what about|how about|and what about|and how about|same for|and for)\s+"
                      r"(?:(?P<prep>in|for|of|at|on|from|with|by)\s+)?(?:the\s+)?(?P<other>[^?.!,;]+?)\s*[?.!]*\s*$",
                      re.IGNORECASE)
YEAR_WORD = re.compile(r"\b(1[5-9]|20)\d\d\b")
NAME_RUN = re.compile(r"(?<!^)(?<![.?!]\s)\b[A-Z][\w'\u2019.&-]*(?:\s+(?:of\s+|de\s+)?[A-Z][\w'\u2019.&-]*)*")


def elliptical(question: str, before: str) -> str | None:
    """``before`` asked again of what the follow-up ``question`` names instead: "And in 2022?" after "Who
    headlined the 2023 festival?" is "Who headlined the 2022 festival?"; "And of Luneth?" after "What is the
    capital of Oradia?" is "What is the capital of Luneth?". A year stands for a year, a name for a name
    (the one after the same preposition, else the last); None when nothing of its kind is there to replace."""
    m = ELLIPSIS.match(question)
    if not m or not before:
        return None
    other, prep = m.group("other").strip(), (m.group("prep") or "").lower()
    if YEAR_WORD.fullmatch(other):
        years = list(YEAR_WORD.finditer(before))
        if not years:
            return None
        last = years[-1]
        return before[:last.start()] + other + before[last.end():]
    if not other[:1].isupper() or len(other.split()) > 4:
        return None
    names = [n for n in NAME_RUN.finditer(before) if n.group().lower() not in STOPWORDS]
    if prep:
        after = [n for n in names if re.search(rf"\b{prep}\s+(?:the\s+)?$", before[:n.start()], re.I)]
        names = after or names
    if not names:
        return None
    name = names[-1]
    possessive = re.search(r"['\u2019]s$", name.group())  # "Velmora's trade minister" -> "Kestria's ..."
    return before[:name.start()] + other + (possessive.group() if possessive else "") + before[name.end():]


def standalone_query(question: str, previous_questions: list[str]) -> str:
    """The question made stand-alone for retrieval: follow-ups carry the last two user turns."""
    if not previous_questions or not is_follow_up(question):
        return question
    return " ".join([*previous_questions[-2:], question])


# ---------------------------------------------------------------------------------- focus

# Words that say what kind of answer is wanted rather than what it is about.
ASKING_WORDS = frozenset("""summarize summarise summary overview gist recap rundown highlight highlights key main point
    points takeaway takeaways idea ideas tell explain describe brief list name names enumerate everyone everybody
    many much happen happened happening occur occurred took take place event events kind sort type way ways thing things
    please give show know detail details information info quick short brief tldr overall general whole entire
    mentioned mention named listed anything something""".split())
# Those of them that only ask ("What is happening ...", "how many ..."), never name what a sentence is
# about the way "point" does in "the boiling point": a sentence is not asked to hold them.
ASKING_ONLY = frozenset("""many much happen happened happening occur occurred took take place mention mentioned
    named listed know tell please give show explain describe""".split()) & ASKING_WORDS \
    | {"number", "count", "amount"}  # "number of rifles?", "AK-203 count": how many (still words of the focus)
# Words an overview question uses for what the text does or holds ("What topics does it cover?", "can u sum
# this up", "what's in these files"): the overview is of the whole text, or of what the other words name.
OVERVIEW_WORDS = frozenset("""topic topics subject subjects theme themes cover covers covered discuss discusses
    discussed contain contains say says tell tells describe describes talk talks u ur pls plz version findings
    finding message messages file files paper papers page pages collection source sources story stories report
    reports piece pieces news sum""".split())
# Capitalised words that describe rather than name ("Which South American capital", "a Pacific port"):
# a paraphrase uses them for what the documents name, so they are words, not names, of the focus.
DESCRIPTORS = frozenset("""north south east west northern southern eastern western central american european
    african asian pacific atlantic arctic antarctic mediterranean middle far near""".split())
CAPITALISED = re.compile(r"[A-Z][\w'\u2019.&-]*[\w]|[A-Z]")
CODE = re.compile(r"^(?=.*\d)[a-z0-9]+(?:[-+/][a-z0-9]+)+$|^\d+(st|nd|rd|th)$", re.I)  # AK-203, 2+2, 21st


# "When was this essay written?", "Summarize the post": the words naming the text itself, which its
# sentences need not say (an essay seldom calls itself one).
THE_TEXT_ITSELF = re.compile(r"\b(?:this|the|that|your|my|our)\s+(essay|post|blog|chapter|book|paper|memo|letter|"
                             r"transcript|speech|lecture|manual|guide|pdf|email|e-mail|thread|notes|write-?up|"
                             r"column|editorial|newsletter|handbook|brochure|leaflet|transcription|doc)\b", re.I)
# "How long is the warranty?": the adjective asks for a measure; "two-year" answers without saying "long".
HOW_MEASURED = re.compile(r"\bhow\s+(tall|high|long|far|old|heavy|big|large|deep|wide|thick|fast)\b", re.I)


@dataclass(frozen=True)
class Focus:
    """What an answer must be about: ``names`` (proper names, codes like S-400, ordinals, numbers) the
    documents must mention, and the other content ``words`` of the question, both as surface text."""

    names: tuple[str, ...] = ()
    words: tuple[str, ...] = ()


def focus_of(question: str) -> Focus:
    """The names and other content words a question is about; question words, the words that say what
    kind of answer is wanted, and stopwords are left out."""
    tokens = re.findall(r"\d+(?:[,.]\d+)+|[\w'\u2019+.-]*[\w+]", question)  # 6,01,427 is one number
    names: list[str] = []
    current: list[str] = []
    for i, token in enumerate(tokens):
        bare = token.removesuffix("'s").removesuffix("\u2019s")
        lower = bare.lower()
        first_word = i == 0  # capitalised anyway ("Besides flooding, why ..."); "Putin's remarks" is rare
        is_name = (CAPITALISED.fullmatch(bare) is not None and not first_word and lower not in STOPWORDS
                   and lower not in DESCRIPTORS) \
            or CODE.match(bare) is not None or bare.replace(",", "").replace(".", "").isdigit()
        if is_name:
            current.append(bare)
            if bare != token:  # a possessive ends the name: "Singh's counterpart"
                names.append(" ".join(current))
                current = []
        elif current:
            names.append(" ".join(current))
            current = []
    if current:
        names.append(" ".join(current))
    named = {w.lower() for name in names for w in name.split()}
    measured = {m.group(1).lower() for m in HOW_MEASURED.finditer(question)}  # "how long": a unit answers
    itself = {m.group(1).lower() for m in THE_TEXT_ITSELF.finditer(question)}  # "this essay": the document
    words = tuple(dict.fromkeys(w for _, w in words_of(question) if w not in named and w not in ASKING_WORDS
                                and w not in measured and w not in itself and not w.isdigit()))
    return Focus(tuple(dict.fromkeys(names)), words)


# "Which news agency reported ...", "In what Pacific port city did ...": the words after "which" or "what"
# name the kind of thing the answer is, not something the answering sentence must say ("ANI" answers the
# first without the word "agency"). The phrase ends at the first word that cannot be part of it.
TYPE_PHRASE = re.compile(r"(?:^|[,;:]\s*|\b(?:in|at|from|of|by|for|on|to|with|and)\s+)(?:which|what)\s+"
                         r"(?P<phrase>[A-Za-z-]+(?:\s+[A-Za-z-]+){0,3})", re.I)
NOT_TYPE_WORDS = frozenset("""kind kinds sort sorts type types""".split())


def answer_type_of(question: str) -> tuple[str, ...]:
    """The words naming the kind of thing asked for ("news agency", "South American capital", "military
    rank"), or () when the question asks "what is ...", "what did ..."."""
    found = TYPE_PHRASE.search(question)
    if not found:
        return ()
    out = []
    for word in found.group("phrase").split()[:3]:
        lower = word.lower()
        if lower in STOPWORDS or re.fullmatch(AUXILIARIES, lower) or (len(lower) > 4 and lower.endswith("ed")):
            break  # "is", "the", "did", "reported": the phrase is over
        if out and lower.endswith("s") and not lower.endswith("ss") and not out[-1].lower().endswith("s"):
            break  # "which country hosts": a singular noun and its verb
        if lower not in NOT_TYPE_WORDS:
            out.append(word)
    return tuple(out)


# "Who is Kestria's trade minister?", "What is the capital of Luneth?": the question asks for the holder
# of a role (``words``) that belongs to a named ``owner``. A sentence about
# the same role of another owner ("the Velmoran trade minister", "the capital of Oradia") does not
# answer it (evidence.role_in).
_OWNER = r"[A-Z][\w'\u2019.&-]*(?:\s+(?:of\s+|de\s+|the\s+)?[A-Z][\w'\u2019.&-]*)*"
_ROLE = r"(?:(?:[a-z][a-z-]*|[A-Z]{2,5}|[A-Z][a-z]+)\s+){0,3}(?:[a-z][a-z-]*|[A-Z]{2,5}|[A-Z][a-z]+)"  # "Defence Minister" too
_ROLE_END = r"(?:\s+(?:in|as of)\s+\d{4})?\s*[?.!]*\s*$"
ROLE_QUESTIONS = (
    re.compile(rf"^\s*(?i:who|what|which)\s+(?:is|was|are|were|will be|has been)\s+(?:the\s+)?"
               rf"(?P<owner>{_OWNER})['\u2019]s\s+(?P<role>{_ROLE}){_ROLE_END}"),
    re.compile(rf"^\s*(?i:who|what|which)\s+(?:is|was|are|were|will be|has been)\s+the\s+(?P<role>{_ROLE})\s+"
               rf"of\s+(?:the\s+)?(?P<owner>{_OWNER}){_ROLE_END}"),
)
# Heads that name an attribute rather than a role: "the name of X", "the population of X" are answered
# by sentences that rarely use the word.
GENERIC_HEADS = frozenset("""name names type kind sort part parts number title result results purpose meaning role
    effect effects cause reason size population area date year time place location term use goal aim source
    origin status value amount percentage function focus subject topic main best first last other
    same""".split())
# Words that end a phrase before "of" without naming a role ("the ruling class ahead of the Normans").
NOT_ROLES = frozenset("ahead instead because front made out inside outside regardless".split())


@dataclass(frozen=True)
class Role:
    """The role a question asks the holder of, and whose role it is."""

    words: tuple[str, ...]
    owner: str
    who: bool = True  # "who is ...": the holder is a person, whom a sentence names with the role

    @property
    def phrase(self) -> str:
        """The role and its owner as a refusal names them: "Kestria's trade minister"."""
        return f"{self.owner}'s {' '.join(self.words)}"


BETWEEN = re.compile(rf"\bbetween\s+(?:the\s+)?(?P<a>{_OWNER})\s+and\s+(?:the\s+)?(?P<b>{_OWNER})")


def parties_of(text: str) -> tuple[str, str] | None:
    """The two named parties of "between X and Y" ("trade between Oradia and Luneth"), if any."""
    m = BETWEEN.search(text)
    return (m.group("a"), m.group("b")) if m else None


# "What is the name of Russia's defence minister?" asks who holds the role: "Who is Russia's defence minister?"
NAME_OF = re.compile(r"^\s*what(?:['\u2019]s|\s+is|\s+was)\s+(?:the\s+)?(?:full\s+)?name\s+of\s+", re.I)


def role_of(question: str) -> Role | None:
    named = NAME_OF.match(question)
    if named:
        question = "Who is " + question[named.end():]
    for pattern in ROLE_QUESTIONS:
        m = pattern.match(question)
        if m:
            words = m.group("role").lower().split()
            if "of" in words and words[0] in GENERIC_HEADS:  # "the name of the count of Apulia": the count
                words = words[len(words) - words[::-1].index("of"):]
                words = words[1:] if words[:1] == ["the"] else words
            if words and not any(w in STOPWORDS or w in NOT_ROLES for w in words) and words[-1] not in GENERIC_HEADS:
                return Role(tuple(words), m.group("owner"), question.lstrip().lower().startswith("who"))
    return None


MAX_NAME_WORDS = 5
SENTENCE_START = re.compile(r"(?:^|[.!?:\n]\W*)$")  # what precedes a sentence's first word


def recase(question: str, texts: list[str]) -> str:
    """``question`` typed without capitals (none after its first word), with the names that ``texts``
    always write capitalised, a sentence's first word aside, written as there: "what did jaishankar say
    about terrorism" -> "what did Jaishankar say about terrorism" ("terrorism" is written in lower case);
    "the ceo of indo-russia rifles private limited" -> "the ceo of Indo-Russia Rifles Private Limited" (the
    whole name is capitalised there, though "rifles" alone is not). A question with capitals is left as
    typed: its writer chose them ("the river" of "the Rhine River")."""
    if any(w[:1].isupper() for w in question.split()[1:]):
        return question
    joined = "\n".join(texts)
    present = set(re.findall(r"[a-z0-9-]+", joined.lower()))
    out = question
    tokens = re.findall(r"[a-z0-9][a-z0-9-]*[a-z0-9]|[a-z]", question)
    for n in range(MAX_NAME_WORDS, 1, -1):  # whole names first
        for i in range(len(tokens) - n + 1):
            window = tokens[i:i + n]
            if any(t in STOPWORDS or t not in present for t in window):
                continue
            pattern = rf"(?<![\w-]){r'[ ]+'.join(re.escape(t) for t in window)}(?![\w-])"
            found = [m.group() for m in re.finditer(pattern, joined, re.I)]
            if found and all(w[:1].isupper() or w[:1].isdigit() for form in found for w in form.split()):
                out = re.sub(pattern.replace("[ ]+", r"\s+"), max(set(found), key=found.count), out, flags=re.I)
    for word in dict.fromkeys(t for t in tokens if len(t) > 1 and t not in STOPWORDS and t in present
                              and not t.isdigit()):
        forms = []
        for m in re.finditer(rf"(?<![\w-]){re.escape(word)}(?![\w-])", joined, re.I):
            if m.group()[0].islower():
                break
            if not SENTENCE_START.search(joined[max(0, m.start() - 4):m.start()]):
                forms.append(m.group())
        else:
            if forms:
                out = re.sub(rf"(?<![\w-]){re.escape(word)}(?![\w-])", max(set(forms), key=forms.count), out)
    return out


@dataclass(frozen=True)
class Question:
    """One question, analysed once: ``text`` as asked, ``query`` its stand-alone form for retrieval, and
    ``context`` the earlier user turns the query carries (empty unless it is a follow-up).

    Everything else is derived from these three on first use and then kept.
    """

    text: str
    query: str = ""
    context: tuple[str, ...] = field(default=())
    typed: str = ""  # the question as the user typed it, when ``text`` is its recased form

    def __post_init__(self) -> None:
        if not self.query:
            object.__setattr__(self, "query", self.text)
        if not self.typed:
            object.__setattr__(self, "typed", self.text)
        object.__setattr__(self, "context", tuple(self.context))

    def recased(self, texts: list[str]) -> "Question":
        """This question read with the capitals casual typing leaves out (``recase``): "what did jaishankar
        say" names Jaishankar when the passages ``texts`` only ever write him so."""
        cased = recase(self.text, texts)
        return self if cased == self.text else replace(self, text=cased, typed=self.typed)

    @classmethod
    def ask(cls, text: str, history: list[str] | None = None,
            rewrite: Callable[[str, list[str]], str] | None = None) -> "Question":
        """Analyse ``text`` asked after ``history`` (earlier user questions); ``rewrite`` turns a
        follow-up into a stand-alone query (default: ``standalone_query``)."""
        text = check_question(text)
        previous = list(history or [])
        resolved: list[str] = []  # the earlier questions, each elliptical one asked in full
        for earlier in previous:
            resolved.append(elliptical(earlier, resolved[-1] if resolved else "") or earlier)
        full = elliptical(text, resolved[-1] if resolved else "")
        if full is not None:  # "And in 2022?": a question of its own once asked in full
            return cls(full, full, (), typed=text)
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
    def kind(self) -> str:
        """The kind of answer wanted: fact, list, overview, time, reason, yesno or comparison."""
        return classify(self.text)

    @cached_property
    def focus(self) -> Focus:
        """The names and words of the question as asked that an answer must be about."""
        return focus_of(self.text)

    @cached_property
    def overview_of(self) -> tuple[str, ...]:
        """What an overview is asked about: the focus without the words for the text itself (empty: all of it)."""
        return tuple(w for w in (*self.focus.names, *self.focus.words) if w.lower() not in OVERVIEW_WORDS)

    @cached_property
    def answer_type(self) -> tuple[str, ...]:
        """The words naming the kind of thing asked for ("news agency" in "Which news agency ...")."""
        return answer_type_of(self.text)

    @cached_property
    def role(self) -> Role | None:
        """The role whose holder the question asks for, and its owner ("Kestria's trade minister")."""
        return role_of(self.text)

    @cached_property
    def sought(self) -> str:
        """What the question asks, as a refusal names it: the role asked for ("Kestria's trade minister"), or
        the question as a clause ("how old Rajnath Singh is"), or "" when neither can be told."""
        return self.role.phrase if self.role else indirect(self.text)

    @cached_property
    def sides(self) -> list[str]:
        """The years a question compares or asks about together ("in 2022 and 2023"), else none."""
        found = SEVERAL_YEARS.search(self.text)
        return re.findall(r"\b(?:1[5-9]|20)\d\d\b", found.group()) if found else []

    @cached_property
    def parties(self) -> tuple[str, str] | None:
        """The two named parties of a relation the question asks about ("between Oradia and Luneth")."""
        return parties_of(self.text)

    @cached_property
    def dates(self) -> list[DateRef]:
        """The dates the question names ("in 2019", "last November")."""
        return dates_in(self.text)

    @cached_property
    def needs(self) -> list[tuple[str, re.Pattern]]:
        """The kinds of answer the question as asked wants (a number, a date, a name, ...)."""
        return asked_types(self.text)

    @cached_property
    def query_needs(self) -> list[tuple[str, re.Pattern]]:
        """The kinds of answer the stand-alone query wants: what the rerank looks for."""
        return asked_types(self.query)

    def evidence_factor(self, sentence: str, context: str = "") -> float:
        """How much of a sentence's score survives what it lacks: each kind of answer asked for and each
        number the question names that is missing costs ``MISSING_TYPE_FACTOR``; so does each name of a
        question about what someone said ("What did Putin say?" is not answered by what Shoigu said).

        Numbers and names may stand in ``context`` instead (the section heading, the document title,
        the sentence before: "It reopened in 2021" under "# The Fenwick Rowing Club"); the answer itself
        must be in the sentence. Other questions' names are not required: requiring them cost 0.05 of
        answerable accuracy on the SQuAD 2.0 slice (an answering sentence often says "it" or "he").
        """
        factor = missing_evidence_factor(self.needs, sentence, self.norm)
        around = normalise_numbers(f"{sentence} {context}")
        numbers = self.numbers
        if self.sides:  # "in 2021, 2022 and 2023": a sentence about one of the years holds what it needs
            numbers = [n for n in numbers if n not in self.sides]
            if not any(re.search(rf"\b{side}\b", around) for side in self.sides):
                factor *= MISSING_TYPE_FACTOR
        for number in numbers:
            if not re.search(rf"\b{re.escape(number)}\b", around):
                factor *= MISSING_TYPE_FACTOR
        if self.name_terms and any(name == "statement" for name, _ in self.needs):
            held = set(tokenize(f"{sentence} {context}"))
            for terms in self.name_terms:
                if not terms <= held:
                    factor *= MISSING_TYPE_FACTOR
        return factor

    @cached_property
    def name_stems(self) -> frozenset[str]:
        """Every term of the question's names, together."""
        return frozenset(t for terms in self.name_terms for t in terms)

    @cached_property
    def name_terms(self) -> list[set[str]]:
        """The terms of each name the question is about (numbers aside: they count on their own)."""
        out = []
        for name in self.focus.names:
            terms = {t for t in tokenize(name) if not t.isdigit()}
            if terms:
                out.append(terms)
        return out
