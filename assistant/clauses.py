"""A question turned into the clause a refusal names it by.

"How old is Rajnath Singh?" becomes "how old Rajnath Singh is", so a refusal can say "The documents don't
say how old Rajnath Singh is." rather than only that they don't answer. Questions asking "what is" a
noun phrase give the noun phrase ("the cost of a single AK-203 rifle"), yes/no questions a "whether"
clause. The clause is made only where the words show where the subject ends and which word is the
verb, from capitals, determiners and the word order alone (no tagger ships here); where they do not
("When did the first India-Russia summit take place?": is "summit" or "take" the verb?), there is no
clause and the refusal stays general.
"""

from __future__ import annotations

import re

from .text import STOPWORDS

AUXILIARIES = r"(is|are|was|were|did|does|do|has|have|had|will|would|can|could|should|shall|may|might|must)"

_WH = (r"(?:(?:since|until|till|over|for|in|at|from|by|to|with|on|during)\s+)?"
       r"(?:how(?:\s+(?:many|much|old|long|tall|high|far|often|big|large|deep|wide|heavy))?|what|which|who|whom|whose|"
       r"when|where|why)")
INDIRECT = re.compile(rf"^(?P<wh>{_WH}(?:\s+[\w'\u2019-]+){{0,4}}?)\s+(?P<aux>{AUXILIARIES})\s+(?P<rest>.+)$", re.I)
YES_NO = re.compile(rf"^(?P<wh>)(?P<aux>{AUXILIARIES})\s+(?P<rest>.+)$", re.I)  # "whether the AK-203 is made in India"
SUBJECT_QUESTION = re.compile(
    rf"^(?P<wh>who|(?:what|which)(?:\s+[\w-]+){{0,3}})\s+(?!{AUXILIARIES}\b)(?P<rest>[a-z].+)$")
PAST = {"be": "was", "begin": "began", "bring": "brought", "build": "built", "buy": "bought", "choose": "chose",
        "come": "came", "do": "did", "draw": "drew", "drive": "drove", "eat": "ate", "fall": "fell", "feel": "felt",
        "fight": "fought", "find": "found", "fly": "flew", "get": "got", "give": "gave", "go": "went", "grow": "grew",
        "have": "had", "hear": "heard", "hold": "held", "keep": "kept", "know": "knew", "lead": "led", "leave": "left",
        "lose": "lost", "make": "made", "meet": "met", "pay": "paid", "put": "put", "read": "read", "ride": "rode",
        "rise": "rose", "run": "ran", "say": "said", "see": "saw", "sell": "sold", "send": "sent", "set": "set",
        "sit": "sat", "speak": "spoke", "spend": "spent", "stand": "stood", "take": "took", "teach": "taught",
        "tell": "told", "think": "thought", "win": "won", "write": "wrote", "flee": "fled", "become": "became",
        "break": "broke", "catch": "caught", "cost": "cost", "cut": "cut", "deal": "dealt", "dig": "dug",
        "drink": "drank", "feed": "fed", "forget": "forgot", "freeze": "froze", "hang": "hung", "hide": "hid",
        "hit": "hit", "hurt": "hurt", "lay": "laid", "lend": "lent", "let": "let", "lie": "lay", "mean": "meant",
        "overcome": "overcame", "quit": "quit", "seek": "sought", "shake": "shook", "shoot": "shot", "shut": "shut",
        "sing": "sang", "sink": "sank", "spread": "spread", "steal": "stole", "strike": "struck", "swear": "swore",
        "swim": "swam", "throw": "threw", "understand": "understood", "undertake": "undertook", "wake": "woke",
        "withdraw": "withdrew", "arise": "arose", "bear": "bore", "beat": "beat", "bind": "bound", "blow": "blew",
        "forbid": "forbade", "forgive": "forgave", "light": "lit", "ring": "rang", "shine": "shone", "split": "split",
        "spring": "sprang", "stick": "stuck", "sweep": "swept", "tear": "tore", "wear": "wore", "wind": "wound"}
PARTICIPLES = frozenset("""been known held built made given taken seen written done sold found led paid run won begun
    born called named used shown told said sent spent kept brought bought put set chosen grown drawn driven thought
    meant felt left lost got gotten""".split())
NOT_VERBS = frozenset("""last first ever also still really finally just never already once again originally initially
    actually officially recently currently jointly together soon now not""".split())
SUBJECT_WORDS = frozenset("the a an and of one two three his her their its this that these those".split())
DETERMINERS = SUBJECT_WORDS - {"and", "of"}
ADJECTIVE_ENDINGS = ("ly", "al", "ic", "ous", "ful", "ive", "able", "ible", "ern", "est", "ish", "ian", "ese")
MODALS = frozenset("will would can could should may might must shall".split())
# words after which an -ed word is an adjective or a relative clause's verb: "of differentiated cells",
# "in which he warned"
CLAUSE_OPENERS = frozenset("of in for to by with that which who he she it they we i you being".split())
PREPOSITIONS = frozenset("""for of in on at to with from by about under over into near between without within during after
    before since until against among through""".split())
BEFORE_A_NOUN = DETERMINERS | PREPOSITIONS  # "the rifles", "for the ferry"
BEFORE_A_PARTICIPLE = NOT_VERBS | {"being"}  # "is mainly concerned", "is being compensated"
POSSESSIVE = {"he": "his", "she": "her", "it": "its", "they": "their", "i": "my", "you": "your", "we": "our"}


def _past(verb: str) -> str:
    if verb in PAST:
        return PAST[verb]
    if verb.endswith("e"):
        return verb + "d"
    if verb.endswith("y") and verb[-2:-1] not in "aeiou":
        return verb[:-1] + "ied"
    if re.fullmatch(r"[^aeiou]*[aeiou][^aeiouwxy]", verb):  # "skip", "stop", "plan"
        return verb + verb[-1] + "ed"
    return verb + "ed"


def _third_person(verb: str) -> str:
    if verb in ("have", "be", "do", "go"):
        return {"have": "has", "be": "is", "do": "does", "go": "goes"}[verb]
    if verb.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if verb.endswith("y") and verb[-2:-1] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def _subject_end(tokens: list[str]) -> int | None:
    """Where the verb stands after a subject of names, determiners and the noun after them ("Modi and
    Putin", "the AK-203", "one ak-203", "the rifles", "a monthly pass"), or None when the words do not
    show it ("the first summit take place": which of "summit" and "take" is the verb?)."""
    open_after_determiner = False
    for i, token in enumerate(tokens):
        lower = token.lower()
        if token[:1].isupper() or any(ch.isdigit() for ch in token) or lower in SUBJECT_WORDS \
                or lower.endswith(("'s", "\u2019s")) or lower in POSSESSIVE:
            continue
        if lower in PREPOSITIONS:
            continue  # a preposition inside the subject: "a pass for the ferry"
        before = tokens[i - 1].lower() if i else ""
        after_determiner = bool(i) and (before in BEFORE_A_NOUN or before.endswith(("'s", "\u2019s", "s'")))
        if after_determiner or (open_after_determiner and tokens[i - 1].lower().endswith(ADJECTIVE_ENDINGS)):
            open_after_determiner = True  # the noun (or adjective and noun) after an article: "the rifles"
            continue
        if lower in NOT_VERBS or lower.endswith("ly"):
            continue
        if not i or not lower.isalpha():
            return None
        after = tokens[i + 1].lower() if i + 1 < len(tokens) else ""
        if after in ("have", "has", "be", "get", "need", "want"):
            return i + 1  # "the other nations have to pay": the noun, then the verb
        if lower.endswith("s") and not lower.endswith(("ss", "us", "is")) and after.isalpha() and after.islower() \
                and after not in STOPWORDS and not after.endswith("s"):
            return i + 1  # "the top diplomats greet each other": a plural noun, then its verb
        if after and after.isalpha() and after not in STOPWORDS and after not in NOT_VERBS and not after.endswith("ly"):
            return None  # two open words in a row: which is the verb is not shown
        return i
    return None


def participle(tokens: list[str], i: int) -> bool:
    """``tokens[i]`` is the participle (or "like") that the auxiliary goes before in the clause: "held" in
    "the dialogue held", "losing" in "Victoria losing"; not "differentiated" in "of differentiated cells"."""
    t, before = tokens[i], tokens[i - 1].lower()
    lower = t.lower()
    if i > 1 and before in CLAUSE_OPENERS:
        return False
    if lower in PARTICIPLES:
        return True
    if lower == "like":
        return i == len(tokens) - 1 or tokens[i + 1] in PREPOSITIONS
    if len(t) <= 4 or not t.isalpha() or not t.islower() or before in DETERMINERS:
        return False
    return t.endswith("ed") or (t.endswith("ing") and t not in PREPOSITIONS and following(tokens, i))


def following(tokens: list[str], i: int) -> bool:
    """The word after ``tokens[i]`` ends a verb's phrase or starts its object: "Victoria is losing",
    "losing its plant"; not "shipping route" (a noun's)."""
    after = tokens[i + 1] if i + 1 < len(tokens) else ""
    return not after or after.lower() in STOPWORDS or not after.isalpha() or after[0].isupper()


def indirect(question: str) -> str:
    """``question`` as the clause a refusal names ("how old Rajnath Singh is", "what Putin said at the
    summit", "the cost of a single AK-203 rifle"), or "" when its words do not show its subject."""
    text = re.sub(r"\s+", " ", question).strip().rstrip("?.!").strip()
    m = INDIRECT.match(text) or YES_NO.match(text)
    if not m:
        # "Who won the 2019 election?", "What disease stopped the summit?": the order stays ("what rifles" is
        # too short to tell)
        s = SUBJECT_QUESTION.match(text[:1].lower() + text[1:])
        return text[:1].lower() + text[1:] if s and (s.group("wh") == "who" or len(text.split()) >= 4) else ""
    wh, aux, tokens = m.group("wh") or "whether", m.group("aux").lower(), m.group("rest").split()
    wh = wh[0].lower() + wh[1:]
    lead = next((i for i, t in enumerate(tokens) if t.lower() not in NOT_VERBS and not t.lower().endswith("ly")), 0)
    first = tokens[lead].lower()  # past an adverb: "which name is also used"
    second = tokens[lead + 1] if len(tokens) > lead + 1 else ""
    if first.isalpha() and first not in SUBJECT_WORDS and first not in POSSESSIVE and tokens[lead].islower() and (
            (aux in MODALS and not (second.isalpha() and second.islower() and second not in STOPWORDS))
            or first.endswith("ing") or first in PARTICIPLES or first.endswith("ed")):
        return f"{wh} {aux} {' '.join(tokens)}"  # "who will headline ...", "how many rifles were covered ..."
    if aux in MODALS and "be" in tokens:  # "where the rifles will be made"
        at = tokens.index("be")
        return f"{wh} {' '.join(tokens[:at])} {aux} {' '.join(tokens[at:])}"
    if first in PREPOSITIONS and len(wh.split()) > 1:
        return f"{wh} {aux} {' '.join(tokens)}"  # "how many areas are in Germany"
    if first == "there":
        return f"{wh} there {aux} {' '.join(tokens[1:])}"  # "in what year there was an attempt"
    if aux in ("is", "are", "was", "were", "has", "have", "had"):
        ats = [i for i in range(1, len(tokens)) if participle(tokens, i)]
        article = first in ("the", "a", "an")
        if ats and wh.lower() == "what" and article and ats[-1] != len(tokens) - 1 \
                and tokens[ats[0]].lower() not in ("called", "named", "known", "like"):
            ats = []  # "the name of the leader ennobled by Henry III": a noun phrase, not a clause
        if ats:  # "when the dialogue was held", "what the weather was like", "what the section ... is called"
            at = ats[-1] if ats[-1] == len(tokens) - 1 else ats[0]
            while at > 1 and (tokens[at - 1].lower().endswith("ly") or tokens[at - 1].lower() in BEFORE_A_PARTICIPLE):
                at -= 1  # "what consultant pharmacy is mainly concerned with"
            return f"{wh} {' '.join(tokens[:at])} {aux} {' '.join(tokens[at:])}"
        if aux in ("has", "have", "had"):
            return f"{wh} {aux} {' '.join(tokens)}"  # "whose wall has fragments ...": "has" is the verb
        names = re.match(r"^((?:[A-Z][\w-]*\s+)*[A-Z][\w-]*)\s+(?:the|a|an)\s", " ".join(tokens))
        if names and not names.group(1).endswith(("'s", "\u2019s", "s'")):  # "what Fecamp Abbey was the centre of"
            at = len(names.group(1).split())
            return f"{wh} {' '.join(tokens[:at])} {aux} {' '.join(tokens[at:])}"
        possessive = re.match(r"^(?:[A-Z][\w-]*\s+)*[A-Z][\w-]*(?:'s|\u2019s|s')(?:\s|$)", " ".join(tokens))
        if wh.lower() == "what" and aux in ("is", "was", "are", "were") and (article or possessive) \
                and tokens[-1].lower() not in PREPOSITIONS:
            return " ".join(tokens)  # "the cost of a single AK-203 rifle", "Brightwater Robotics' revenue"
        if len(tokens) > 1 and tokens[-1].lower() in PREPOSITIONS:  # "what the meeting is about"
            return f"{wh} {' '.join(tokens[:-1])} {aux} {tokens[-1]}"
        return f"{wh} {' '.join(tokens)} {aux}"
    at = _subject_end(tokens)
    if at is None:
        return ""
    subject, verb, rest = tokens[:at], tokens[at].lower(), tokens[at + 1:]
    if aux == "did":
        verb = _past(verb)
    elif aux == "does":
        verb = _third_person(verb)
    elif aux != "do":
        verb = f"{aux} {verb}"
    return " ".join([wh, *subject, verb, *rest])
