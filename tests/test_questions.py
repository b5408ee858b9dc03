"""Question analysis (assistant/questions.py): the kind of answer asked for, follow-ups, validation."""

from __future__ import annotations

import pytest

from assistant.clauses import indirect
from assistant.errors import QuestionError
from assistant.questions import (
    ANSWER_TYPES, MISSING_TYPE_FACTOR, Focus, Question, Role, asked_types, check_question, dates_in, elliptical,
    has_new_evidence,
    is_follow_up, parties_of, role_of, standalone_query,
)

# ------------------------------------------------------------------ what a question asks for


def kinds(question: str) -> set[str]:
    return {name for name, _ in asked_types(question)}


@pytest.mark.parametrize("question, expected", [
    ("How many rifles will India buy?", {"number"}),
    ("What is the price of the rifles?", {"money"}),
    ("How much did the rifles cost?", {"money", "number"}),
    ("How much has the company invested in the plant?", {"money", "number"}),
    ("How much do ctenophores eat in a day?", {"number"}),  # "how much" alone is an amount, not money
    ("When was the Kestrel rocket launched?", {"date"}),
    ("In which year did the bakery open?", {"date"}),
    ("Why did the second stage fail?", {"reason"}),
    ("Who opened the Crumb bakery?", {"person"}),
    ("What did the engineers say about the valve?", {"statement"}),
    ("Describe the Alder river.", set()),
    ("number of rifles?", {"number"}),
    ("AK-203 count", {"number"}),
    ("Who is the count of Apulia?", {"person"}),  # a count that is no count
])
def test_asked_types(question, expected):
    assert kinds(question) == expected
    assert len(asked_types(question)) == len(expected)


def norm(question: str) -> str:
    return Question(question).norm  # how the retriever and the answerer normalise a question


def evidence_of(kind: str):
    (pattern,) = [evidence for name, _, evidence in ANSWER_TYPES if name == kind]
    return pattern


@pytest.mark.parametrize("kind, sentence, question, new", [
    ("number", "It is 120 kilometres long.", "How long is the Alder river?", True),
    ("number", "It is 120 kilometres long.", "Is the Alder river 120 kilometres long, and how long is it?", False),
    ("number", "India will buy 6,01,427 rifles.", "Will India buy 601427 rifles? How many?", False),
    ("number", "India will buy 601427 rifles.", "Will India buy 6,01,427 rifles? How many?", False),
    ("number", "The zoo keeps two tigers.", "How many tigers does the zoo keep?", True),
    ("number", "The zoo keeps tigers.", "How many tigers does the zoo keep?", False),
    ("date", "The Kestrel rocket was launched on 4 March 2021.", "When in 2021 was the rocket launched?", True),
    ("date", "The Kestrel rocket flew in 2021.", "When in 2021 was the rocket launched?", False),
    ("date", "We open from 8:00 to 14:00 on Saturdays.", "When is the bakery open?", True),
    ("measure", "The cable is 75 centimetres long.", "How long is the cable?", True),
    ("measure", "It draws 2,200 watts.", "How much power does it draw, in watts?", True),
    ("measure", "The cable is long.", "How long is the cable?", False),
    ("person", "Marta Olsen opened the Crumb bakery.", "Who opened the Crumb bakery?", True),
    ("person", "The Crumb bakery opened.", "Who opened the Crumb bakery?", False),
])
def test_has_new_evidence_ignores_what_the_question_already_says(kind, sentence, question, new):
    assert has_new_evidence(evidence_of(kind), sentence, norm(question)) is new


@pytest.mark.parametrize("sentence, question", [
    ("The rocket had 2 stages.", "How many stages did the rocket launched in 2021 have?"),
    ("The river has 12 bridges.", "How many bridges cross the 120 km river?"),
])
def test_a_number_inside_a_longer_question_number_is_still_new(sentence, question):
    assert has_new_evidence(evidence_of("number"), sentence, norm(question)) is True


# ------------------------------------------------------------------ follow-up questions


@pytest.mark.parametrize("question, follow_up", [
    ("Who was his counterpart?", True),
    ("When was it launched?", True),
    ("And the bread?", True),
    ("What about the trout?", True),
    ("Brightwater?", True),  # too few words to stand alone
    ("Who opened the Crumb bakery?", False),
    ("How long is the Alder river?", False),
    ("When was the Kestrel rocket launched?", False),
])
def test_is_follow_up(question, follow_up):
    assert is_follow_up(question) is follow_up


def test_standalone_query_joins_a_follow_up_to_the_last_two_questions():
    history = ["Who opened the Crumb bakery?", "What does it sell?", "Tell me about the Kestrel rocket."]
    assert standalone_query("When was it launched?", history) == (
        "What does it sell? Tell me about the Kestrel rocket. When was it launched?")
    assert standalone_query("When was it launched?", history[-1:]) == (
        "Tell me about the Kestrel rocket. When was it launched?")


@pytest.mark.parametrize("question, history", [
    ("How long is the Alder river?", ["Tell me about the Kestrel rocket."]),  # self-contained
    ("When was it launched?", []),  # nothing to lean on
])
def test_standalone_query_leaves_a_question_alone(question, history):
    assert standalone_query(question, history) == question


# ------------------------------------------------------------------ one analysis per question


def test_a_question_is_analysed_once_into_one_value():
    q = Question.ask("  When was   it launched? ", ["Who opened the Crumb bakery?", "Tell me about the Kestrel rocket."])
    assert (q.text, q.context, q.is_follow_up) == (
        "When was it launched?", ("Who opened the Crumb bakery?", "Tell me about the Kestrel rocket."), True)
    assert q.query == "Who opened the Crumb bakery? Tell me about the Kestrel rocket. When was it launched?"
    assert [name for name, _ in q.needs] == ["date"]
    assert {name for name, _ in q.query_needs} == {"date", "person"}
    assert q.terms == ["launch"]


def test_a_stand_alone_question_has_no_context():
    q = Question.ask("How many AK-203 rifles will India buy in 2021?", ["Who is India's defence minister?"])
    assert (q.query, q.context, q.is_follow_up) == ("How many AK-203 rifles will India buy in 2021?", (), False)
    assert q.numbers == ["203", "2021"]


def test_a_rewrite_strategy_makes_the_query():
    q = Question.ask("And his counterpart?", ["Who is India's defence minister?"],
                     rewrite=lambda question, previous: "Who is the defence minister's counterpart?")
    assert q.query == "Who is the defence minister's counterpart?"
    assert q.context == ("Who is India's defence minister?",)


@pytest.mark.parametrize("sentence, factor", [
    ("The rocket flew on 4 March 2021 from Andøya.", 1.0),
    ("The rocket flew from Andøya.", MISSING_TYPE_FACTOR ** 2),  # no date, and not the 2021 asked about
    ("The rocket flew in 2021 from Andøya.", MISSING_TYPE_FACTOR),  # 2021 is not new: no date given
])
def test_evidence_factor_cuts_sentences_without_what_is_asked(sentence, factor):
    assert Question("When in 2021 did the rocket fly?").evidence_factor(sentence) == pytest.approx(factor)


@pytest.mark.parametrize("question", ["", "   ", "\n\t", None, 42])
def test_check_question_refuses_empty_or_non_text(question):
    with pytest.raises(QuestionError, match="the question is empty"):
        check_question(question)


def test_check_question_collapses_white_space_and_limits_length():
    assert check_question(" How  many\nrifles? ") == "How many rifles?"
    with pytest.raises(QuestionError, match="keep it under 2,000"):
        check_question("why " * 600)


# ------------------------------------------------------------------ the kind of answer wanted


@pytest.mark.parametrize("question, kind", [
    ("How many AK-203 rifles will India buy?", "fact"),
    ("Who is Russia's President?", "fact"),
    ("Who attended the 2+2 dialogue?", "list"),
    ("Which foreign ministers took part in the talks?", "list"),
    ("name everyone who took part", "list"),
    ("what rifles", "list"),
    ("Summarize the article.", "overview"),
    ("what is this about", "overview"),
    ("key points", "overview"),
    ("tldr?", "overview"),
    ("Tell me about the Kestrel rocket", "overview"),
    ("Give me the key points", "overview"),
    ("can u summarize this", "overview"),
    ("sum it up", "overview"),
    ("whats this about", "overview"),
    ("what does the article say", "overview"),
    ("What's in these files?", "overview"),
    ("What topics does it cover?", "overview"),
    ("What are the highlights?", "overview"),
    ("quick summary", "overview"),
    ("brief me", "overview"),
    ("explain the document", "overview"),
    ("What does the WG I Summary for Policymakers report say about greenhouse gases?", "fact"),
    ("What happened in 2019?", "time"),
    ("what happened last November", "time"),
    ("Anything happen in 2020?", "time"),
    ("What happened at the 2+2 dialogue?", "overview"),
    ("Why was the summit not held in 2020?", "reason"),
    ("how come there was no summit", "reason"),
    ("Did India sign a contract with Russia?", "yesno"),
    ("Is the Alder river 120 kilometres long?", "yesno"),
    ("Compare the 2022 and 2023 festivals", "comparison"),
])
def test_kind_of_answer(question, kind):
    assert Question(question).kind == kind


@pytest.mark.parametrize("text, dates", [
    ("What happened in 2019?", ["2019"]),
    ("what happened last November", ["November"]),
    ("signed on 6 December 2021", ["6 December 2021"]),
    ("the agreement dated February 18, 2019.", ["18 February 2019"]),
    ("after November 2019, when they met", ["November 2019"]),
    ("India on Monday signed a contract", ["Monday"]),
    ("May I ask something?", []),
    ("on May 5 the market opened", ["5 May"]),
    ("the 2+2 dialogue and 6,01,427 rifles", []),
])
def test_dates_are_read_as_precisely_as_written(text, dates):
    assert [str(d) for d in dates_in(text)] == dates


def test_a_date_asked_about_contains_the_more_precise_dates_of_sentences():
    (year,) = dates_in("in 2019")
    (month,) = dates_in("in November")
    (day,) = dates_in("on November 20, 2019")
    assert year.within(day) and month.within(day) and not day.within(year)
    assert not year.within(dates_in("in 2020")[0])


@pytest.mark.parametrize("question, names, words", [
    ("Who is the CEO of Indo-Russia Rifles Private Limited?", ("CEO", "Indo-Russia Rifles Private Limited"), ()),
    ("How tall is the Harwick Point Lighthouse?", ("Harwick Point Lighthouse",), ()),  # a height answers
    ("What did the two sides say about the S-400 deliveries?", ("S-400",), ("two", "sides", "deliveries")),
    ("Who hosted the 22nd summit?", ("22nd",), ("hosted", "summit")),
    ("Summarize the article.", (), ()),
    ("Who is Moscow's top diplomat?", ("Moscow",), ("top", "diplomat")),
    ("How long is the warranty?", (), ("warranty",)),  # "how long" asks for a measure: "a two-year warranty"
    ("Is the cable long?", (), ("cable", "long")),
    ("Besides flooding, why else was the Rhine regulated?", ("Rhine",), ("besides", "flooding", "else", "regulated")),
    # the text itself, which its sentences need not name: an essay seldom calls itself one
    ("When was this essay written?", (), ("written",)),
    ("Summarize the essay", (), ()),
    ("What does the book say about funding?", (), ("funding",)),
    ("Where were the talks held?", (), ("talks", "held")),  # talks are what the text is about
])
def test_focus_is_the_names_and_words_an_answer_must_be_about(question, names, words):
    assert Question(question).focus == Focus(names, words)


@pytest.mark.parametrize("question, words", [
    ("Which news agency reported the rifle contract?", ("news", "agency")),
    ("In what Pacific port city did the preceding summit take place?", ("Pacific", "port", "city")),
    ("What military rank is given for Sergey Shoigu?", ("military", "rank")),
    ("which summit number is this", ("summit", "number")),
    ("Which country hosts the summit?", ("country",)),  # a singular noun and its verb
    ("Which countries signed the treaty?", ("countries",)),
    ("What disease outbreak stopped the meeting?", ("disease", "outbreak")),
    ("How many rifles, and at what price?", ("price",)),
    ("What is the capital of Luneth?", ()),
    ("What did Putin say?", ()),
    ("Who reported the deal?", ()),
])
def test_the_words_naming_the_kind_of_answer(question, words):
    assert Question(question).answer_type == words


def test_a_question_about_what_someone_said_needs_their_name():
    q = Question("What did Putin say?")
    assert q.evidence_factor("Putin said the talks went well.") == 1.0
    assert q.evidence_factor("Shoigu said the talks went well.") == pytest.approx(MISSING_TYPE_FACTOR)
    assert q.evidence_factor("Putin will hold a meeting.") == pytest.approx(MISSING_TYPE_FACTOR)


def test_a_measure_wants_a_number_with_a_unit():
    q = Question("How tall is the lighthouse?")
    assert [name for name, _ in q.needs] == ["measure"]
    assert q.evidence_factor("Its tower is 31 metres tall.") == 1.0
    assert q.evidence_factor("It has 2 lamps.") == pytest.approx(MISSING_TYPE_FACTOR)


@pytest.mark.parametrize("raw", [
    "How many AK-203\x1b[31m rifles will India buy?",
    "How many AK-203 rifles\x1b[0m will India buy?\x07",
    "How many AK-203\u200b rifles will India buy?",
    "How many AK-203\x00 rifles will India buy?",
])
def test_control_characters_and_terminal_escapes_are_not_part_of_a_question(raw):
    assert check_question(raw).replace("  ", " ") == "How many AK-203 rifles will India buy?"
    assert Question.ask(raw).focus == Question.ask("How many AK-203 rifles will India buy?").focus


@pytest.mark.parametrize("question, sentence, holds", [
    ("When did Augustus die?", "From the death of Augustus in AD 14 the frontier held.", True),
    ("When was the duchy founded?", "The duchy, which began in 911 as a fiefdom, grew.", True),
    ("When did the reform begin?", "In the early 11th century the dukes began a reform.", True),
    ("When does the library close?", "The library closes at noon on Saturdays.", True),
    ("When does the ferry leave?", "The ferry leaves every hour from Pier 4.", True),
    ("When was the first 2+2 dialogue held?", "The two sides held a 2+2 dialogue.", False),
    ("Where will the rifles be made?", "The rifles will be made in Korwa.", True),
    ("Where will the rifles be made?", "India signed a contract to procure the rifles.", False),
    ("Who signed the 2019 agreement?", "The two sides signed the agreement in 2019.", False),
    ("Who signed the 2019 agreement?", "The agreement was signed by Anna Berg in 2019.", True),
    ("What is the price of a child ticket?", "Ticket: Child return, Price (GBP): 7.20", True),
    ("What is the price of a child ticket?", "Child tickets are sold at the pier.", False),
    ("Which edition of the summit is this?", "The 21st annual summit opens today.", True),
    ("How many rifles did the 2019 agreement cover?", "They amended the agreement dated February 18, 2019.", False),
    ("How many agreements were signed?", "The two sides met after November 2019 in Brasilia.", False),
    ("How many agreements were signed?", "The two sides signed two agreements.", True),
    ("How many people came in 2019?", "In 2019, 300 people came.", True),
    ("How many guests attended the dinner?", "The dinner was attended by 2000 guests.", True),
    ("How many times has Polonia won the cup?", "They won the championship in 1946, and the cup twice.", True),
])
def test_a_sentence_holds_the_kind_of_answer_asked_for(question, sentence, holds):
    q = Question(question)
    assert q.needs
    assert all(has_new_evidence(pattern, sentence, q.norm) for _, pattern in q.needs) == holds


@pytest.mark.parametrize("question, role", [
    ("Who is Kestria's trade minister?", Role(("trade", "minister"), "Kestria")),
    ("What is the capital of Luneth?", Role(("capital",), "Luneth", who=False)),
    ("Who was the first keeper of the Greywick Point Lighthouse?", Role(("first", "keeper"), "Greywick Point Lighthouse")),
    ("Who is the CEO of Indo-Russia Rifles Private Limited?", Role(("ceo",), "Indo-Russia Rifles Private Limited")),
    ("Who was the head coach of the Denver Broncos in 2015?", Role(("head", "coach"), "Denver Broncos")),
    ("What was the name of the count of Apulia", Role(("count",), "Apulia")),  # the name: who holds the role
    ("Who was Edward the Confessor's half-brother?", Role(("half-brother",), "Edward the Confessor")),
    ("What is the name of the river?", None),  # no owner named
    ("What is the population of Velmora?", None),  # an attribute, not a role
    ("Who was the ruling class ahead of the Normans?", None),  # "ahead of" is no role's owner
    ("What were Isaac's chains made out of?", None),
    ("who is the mayor of port aldwin", None),  # no capitalised owner to hold it to: decides nothing
    ("Who signed the agreement?", None),
    ("Who is Russia's Defence Minister?", Role(("defence", "minister"), "Russia")),  # a title as news write it
    ("Who is the Prime Minister of Russia?", Role(("prime", "minister"), "Russia")),
    ("What is the name of Russia's defence minister?", Role(("defence", "minister"), "Russia")),
    ("What were the names of Tesla's new partners?", None),  # many holders: no one role to hold it to
])
def test_a_question_may_ask_who_holds_a_named_owners_role(question, role):
    assert role_of(question) == role


def test_a_role_is_named_in_a_refusal_as_its_owners():
    assert role_of("What is the capital of Luneth?").phrase == "Luneth's capital"


@pytest.mark.parametrize("text, parties", [
    ("What was the value of trade between Oradia and Luneth in 2023?", ("Oradia", "Luneth")),
    ("Bilateral trade between Velmora and Kestria was worth 4.2 billion euros.", ("Velmora", "Kestria")),
    ("What is the difference between a river and a canal?", None),
])
def test_the_named_parties_of_a_relation(text, parties):
    assert parties_of(text) == parties


# ------------------------------------------------------------------ what a refusal names


@pytest.mark.parametrize("question, clause", [
    ("How old is Rajnath Singh?", "how old Rajnath Singh is"),
    ("How old is he?", "how old he is"),
    ("How much will India pay for the AK-203 rifles?", "how much India will pay for the AK-203 rifles"),
    ("Where will the AK-203 rifles be manufactured?", "where the AK-203 rifles will be manufactured"),
    ("How many agreements did Modi and Putin sign at the summit?", "how many agreements Modi and Putin signed at the summit"),
    ("What did Putin say at the summit?", "what Putin said at the summit"),
    ("What calibre of ammunition does the AK-203 fire?", "what calibre of ammunition the AK-203 fires"),
    ("how much does one ak-203 cost", "how much one ak-203 costs"),
    ("Why did the leaders skip their yearly summit?", "why the leaders skipped their yearly summit"),
    ("To where did Ethelred flee?", "to where Ethelred fled"),
    ("When was the first 2+2 dialogue held?", "when the first 2+2 dialogue was held"),
    ("In which year was the summit not held?", "in which year the summit was not held"),
    ("What was the weather like in New Delhi?", "what the weather was like in New Delhi"),
    ("What is the section of the gorge recognized by UNESCO called?", "what the section of the gorge recognized by UNESCO is called"),
    ("Since when has he been Russia's defence minister?", "since when he has been Russia's defence minister"),
    ("What was Fecamp Abbey the centre of?", "what Fecamp Abbey was the centre of"),
    ("What is the meeting about?", "what the meeting is about"),
    ("In what year was there an attempt to withdraw?", "in what year there was an attempt to withdraw"),
    ("How many rifles were covered by the agreement?", "how many rifles were covered by the agreement"),
    ("How many upland areas are in central Germany?", "how many upland areas are in central Germany"),
    ("How many times more did the other nations have to pay?", "how many times more the other nations had to pay"),
    ("How did the two countries' top diplomats greet each other?", "how the two countries' top diplomats greeted each other"),
    ("What disease stopped the yearly meeting?", "what disease stopped the yearly meeting"),
    ("Who won the 2019 election?", "who won the 2019 election"),
    ("Who will headline the 2024 festival?", "who will headline the 2024 festival"),
    ("What is happening later in the day?", "what is happening later in the day"),
    ("Is the AK-203 made in India?", "whether the AK-203 is made in India"),
    ("Did Putin attend the 2+2 dialogue?", "whether Putin attended the 2+2 dialogue"),
    # "what is" a noun phrase: the noun phrase
    ("What is the cost of a single AK-203 rifle?", "the cost of a single AK-203 rifle"),
    ("What was Brightwater Robotics' revenue in 2022?", "Brightwater Robotics' revenue in 2022"),
    ("What was the name of the leader ennobled by Henry III?", "the name of the leader ennobled by Henry III"),
    # where the words do not show which is the subject and which the verb, no clause is made
    ("When did the first India-Russia summit take place?", ""),
    ("How much does a monthly pass for the harbour ferry cost?", ""),
    ("what did lavrov say about afghanistan", ""),
    ("On what scale would scientists show measurements?", ""),
    ("Summarize the article.", ""),
    ("what rifles", ""),
])
def test_a_question_as_the_clause_a_refusal_names(question, clause):
    assert indirect(question) == clause


def test_a_refusal_names_the_role_asked_for_before_the_clause():
    assert Question("Who is Kestria's trade minister?").sought == "Kestria's trade minister"
    assert Question("How old is Rajnath Singh?").sought == "how old Rajnath Singh is"


ARTICLE = ("India on Monday signed a contract with Russia under the Indo-Russia Rifles Private Limited Program, "
           "reported ANI. Indian Defence Minister Rajnath Singh met his Russian counterpart. Jaishankar said the "
           "meeting will address terrorism. The rifles will be made in India. Later, Jaishankar met Lavrov.")


@pytest.mark.parametrize("question, cased", [
    ("what did jaishankar say about terrorism", "what did Jaishankar say about terrorism"),
    ("who is the ceo of indo-russia rifles private limited", "who is the ceo of Indo-Russia Rifles Private Limited"),
    ("what is the name of russia's defence minister", "what is the name of Russia's Defence Minister"),
    ("who reported it? ani?", "who reported it? ANI?"),
    ("where will the rifles be made", "where will the rifles be made"),  # "rifles" is written in lower case
    ("later that day?", "later that day?"),  # "Later" is capitalised only where a sentence starts
    ("what did Jaishankar say about lavrov", "what did Jaishankar say about lavrov"),  # capitals: as typed
    ("Who is the CEO?", "Who is the CEO?"),
])
def test_a_question_typed_in_lower_case_is_read_with_the_names_the_passages_capitalise(question, cased):
    asked = Question.ask(question).recased([ARTICLE])
    assert (asked.text, asked.typed) == (cased, question)


@pytest.mark.parametrize("question, before, full", [
    ("And in 2022?", "Who headlined the 2023 festival?", "Who headlined the 2022 festival?"),
    ("what about 2021", "How many people attended in 2022?", "How many people attended in 2021?"),
    ("And of Luneth?", "What is the capital of Oradia?", "What is the capital of Luneth?"),
    ("what about Kestria", "Who is Velmora's trade minister?", "Who is Kestria's trade minister?"),
    ("And Putin?", "What did Modi say about the deal?", "What did Putin say about the deal?"),
    ("And in 2022?", "Who headlined the festival?", None),  # no year to replace: a follow-up as before
    ("And the museum?", "When did the ferry open?", None),  # no name to replace
    ("What about him?", "Who met Shoigu?", None),
])
def test_an_elliptical_follow_up_is_the_question_before_asked_of_something_else(question, before, full):
    assert elliptical(question, before) == full


def test_a_chain_of_elliptical_follow_ups_is_each_asked_in_full():
    asked = Question.ask("And in 2021?", ["Who headlined the 2023 festival?", "And in 2022?"])
    assert (asked.text, asked.query, asked.typed, asked.is_follow_up) == (
        "Who headlined the 2021 festival?", "Who headlined the 2021 festival?", "And in 2021?", False)
