"""Answer strategies per kind of question (assistant/answering/strategies.py), through the public API
over small folders and the fake embedding model: lists, overviews, times, reasons, headings, refusals
that say what is missing. Every answer is also checked for the citation invariant."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes import write_folder

from assistant import Assistant
from assistant.answering.evidence import Evidence
from assistant.answering.extractive import Candidate
from assistant.answering.strategies import Choice, fact, is_context, is_question
from assistant.questions import Question

CLUB = {
    "club.md": (
        "# The Fenwick Rowing Club\n\n"
        "The Fenwick Rowing Club was founded in 1921 on the banks of the Alder.\n\n"
        "## The boathouse\n\n"
        "Its boathouse is 40 metres long and was rebuilt in 1987 after a flood.\n\n"
        "## People\n\n"
        "The club's first captain was Edith Marlow. The current coach is Tomas Brenner.\n\n"
        "Both of them rowed for the national team. Who will coach the juniors next year?\n\n"
        "The club closed in 2020 because of the pandemic. It reopened in May 2021 with 80 members."
    ),
    "regatta.txt": (
        "The Alder regatta was held on 12 June 2021. Ruth Okafor won the single sculls.\n\n"
        "In 2019 the regatta was cancelled due to flooding. The 2022 regatta drew 3,000 visitors."
    ),
}


@pytest.fixture
def club_bot(tmp_path, fake_settings) -> Assistant:
    folder = write_folder(tmp_path / "club", CLUB)
    return Assistant.from_folder(folder, settings=fake_settings.replace(refusal_threshold=0.3))


def check_cited(bot: Assistant, answer) -> None:
    for c in answer.citations:
        assert bot.document_text(c.doc_id)[c.start:c.end] == c.quote
    assert sorted({int(n) for n in __import__("re").findall(r"\[(\d+)\]", answer.text)}) == \
        [c.number for c in answer.citations]


def quotes(answer) -> list[str]:
    return [c.quote for c in answer.citations]


def test_a_list_names_each_member_once_across_sentences(club_bot):
    answer = club_bot.ask("Who were the captain and the coach of the club?")
    check_cited(club_bot, answer)
    assert answer.kind == "list" and not answer.refused
    assert "Edith Marlow" in answer.text and "Tomas Brenner" in answer.text


def test_an_enumeration_covers_the_whole_document_with_few_sentences(club_bot):
    answer = club_bot.ask("list all the dates in the regatta report")
    check_cited(club_bot, answer)
    assert answer.kind == "list"
    assert {"12 June 2021", "In 2019"} <= {q for quote in quotes(answer) for q in ("12 June 2021", "In 2019") if q in quote}


def test_an_overview_quotes_three_to_six_central_sentences_in_document_order(club_bot):
    answer = club_bot.ask("Summarize the rowing club document")
    check_cited(club_bot, answer)
    assert answer.kind == "overview" and not answer.refused
    assert 3 <= len(answer.citations) <= 6
    starts = [(c.doc_id, c.start) for c in answer.citations]
    assert starts == sorted(starts)
    assert not any(is_context(q) or is_question(q) for q in quotes(answer))


def test_a_time_question_quotes_every_sentence_of_that_time(club_bot):
    answer = club_bot.ask("What happened in 2021?")
    check_cited(club_bot, answer)
    assert answer.kind == "time"
    assert all("2021" in q for q in quotes(answer)) and len(answer.citations) >= 2


def test_a_time_nothing_happened_in_is_refused_saying_so(club_bot):
    answer = club_bot.ask("What happened in 1955?")
    assert answer.refused and answer.kind == "time"
    assert answer.text == "The documents don't mention 1955."
    assert answer.missing == "1955"


def test_a_reason_is_the_sentence_that_states_the_cause(club_bot):
    answer = club_bot.ask("Why did the club close in 2020?")
    check_cited(club_bot, answer)
    assert answer.kind == "reason" and "because of the pandemic" in answer.citations[0].quote


def test_a_sentence_under_a_heading_answers_with_the_heading_words(club_bot):
    answer = club_bot.ask("How long is the boathouse?")
    check_cited(club_bot, answer)
    assert answer.citations[0].quote == "Its boathouse is 40 metres long and was rebuilt in 1987 after a flood."


def test_headings_and_questions_are_never_quoted(club_bot):
    for question in ["The Fenwick Rowing Club", "boathouse", "Who will coach the juniors next year?", "People"]:
        answer = club_bot.ask(question)
        check_cited(club_bot, answer)
        assert not any(is_context(q) or is_question(q) for q in quotes(answer)), question


def test_a_name_no_document_mentions_is_refused_naming_it(club_bot):
    answer = club_bot.ask("Who is the treasurer of the Kestrel Sailing Club?")
    assert answer.refused and answer.missing == "Kestrel Sailing Club"
    assert answer.text == "The documents don't mention Kestrel Sailing Club."
    assert answer.to_dict()["missing"] == "Kestrel Sailing Club" and answer.to_dict()["kind"] == "fact"
    # a role the documents never name is refused naming the role and its owner, as the question wrote it
    answer = club_bot.ask("Who is the CFO of the Fenwick Rowing Club?")
    assert answer.refused and answer.text == "The documents don't mention Fenwick Rowing Club's CFO."


def test_a_yes_no_question_leads_with_the_evidence_not_a_bare_yes(club_bot):
    answer = club_bot.ask("Did the club reopen in May 2021?")
    check_cited(club_bot, answer)
    assert answer.kind == "yesno" and not answer.text.lower().startswith(("yes", "no"))
    assert "reopened in May 2021" in answer.text


def test_answers_over_several_documents_name_each_document(club_bot):
    answer = club_bot.ask("What happened in 2021 according to the documents?")
    check_cited(club_bot, answer)
    if len({c.doc_id for c in answer.citations}) > 1:
        for c in answer.citations:
            assert c.title in answer.text


@pytest.mark.parametrize("text, context", [
    ("# The Harwick Point Lighthouse", True),
    ("## Keepers", True),
    ("The boathouse", True),
    ("- Tower height", True),
    ("Its tower is 31 metres tall.", False),
    ("- The tower was built in 1868 from local granite.", False),
    ("#WATCH External Affairs Minister Dr S Jaishankar and Russian Foreign Minister Sergey Lavrov bump elbows as "
     "they meet in New Delhi today", False),
])
def test_what_counts_as_a_heading(text, context):
    assert is_context(text) is context


# ------------------------------------------------------------------ evidence, speakers, what the text names

TALKS = {
    "talks.txt": (
        "Defence Minister Anna Berg met her Kestrian counterpart General Pavel Dunmore in Lisk. "
        "During the talks, Berg said that the two navies would train together. "
        "On his part, Dunmore said the visit was a milestone. "
        "Foreign Minister Tomas Ruud and his Kestrian counterpart Ilse Varga signed a fishing treaty. "
        "Later in the day, President Elin Strand will host a dinner for the delegations."
    ),
}


@pytest.fixture
def talks_bot(tmp_path, fake_settings) -> Assistant:
    folder = write_folder(tmp_path / "talks", TALKS)
    return Assistant.from_folder(folder, settings=fake_settings)


def test_who_spoke_lists_those_who_speak_not_everyone_named(talks_bot):
    answer = talks_bot.ask("who spoke at the talks")
    check_cited(talks_bot, answer)
    assert answer.kind == "list"
    assert any("Berg said" in q for q in quotes(answer)) and any("Dunmore said" in q for q in quotes(answer))


def test_what_the_text_names_of_one_kind_with_a_qualifier(talks_bot):
    answer = talks_bot.ask("which kestrian officials are mentioned")
    check_cited(talks_bot, answer)
    assert answer.kind == "list" and "Dunmore" in answer.text and "Varga" in answer.text
    assert all("Kestrian" in q for q in quotes(answer))  # only the sentences that hold the qualifier


def test_a_fact_without_the_kind_of_answer_asked_for_is_refused(talks_bot):
    answer = talks_bot.ask("When will the two navies train together?")
    assert answer.refused  # the sentence about training says nothing of when


@pytest.mark.parametrize("question, expected", [
    ("Where did Anna Berg meet Pavel Dunmore?", "in Lisk"),
    ("When does the harbour ferry leave?", "every hour"),
])
def test_places_and_times_of_day_count_as_the_answer(tmp_path, fake_settings, question, expected):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "talks.txt").write_text(TALKS["talks.txt"], encoding="utf-8")
    (folder / "ferry.txt").write_text("The harbour ferry to Skerry Island leaves every hour from Pier 4.",
                                      encoding="utf-8")
    bot = Assistant.from_folder(folder, settings=fake_settings)
    answer = bot.ask(question)
    check_cited(bot, answer)
    assert not answer.refused and expected in answer.text


def test_a_role_question_takes_the_sentence_naming_the_role_over_a_closer_one_that_does_not():
    question = Question("Who is Kestria's trade minister?")

    def candidate(text: str, score: float, **evidence) -> Candidate:
        return Candidate("talks.txt", 0, len(text), text, score, 0.0, score, frozenset(), None, True, score,
                         Evidence(score, **evidence))

    closer = candidate("Kestria's trade talks with Velmora went on for a week.", 0.60, role_missing=True)
    naming = candidate("Kestria's trade minister, Jonas Ebbe, opened the talks.", 0.57)
    assert closer.refuted and not naming.refuted
    assert fact([closer, naming], question, 3, 0.45).chosen == [naming]
    far = candidate("Kestria's trade minister, Jonas Ebbe, opened the talks.", 0.50)  # beyond the margin
    assert fact([closer, far], question, 3, 0.45) == Choice([], "Kestria's trade minister")


@pytest.mark.parametrize("question", ["Give me the key points", "What topics does it cover?", "can u sum this up",
                                      "what does the document say"])
def test_an_overview_however_it_is_asked(club_bot, question):
    answer = club_bot.ask(question)
    check_cited(club_bot, answer)
    assert answer.kind == "overview" and not answer.refused and len(answer.citations) >= 3


def test_a_question_typed_in_lower_case_names_what_the_documents_capitalise(club_bot):
    answer = club_bot.ask("who is the treasurer of the fenwick rowing club")
    assert answer.refused and answer.missing == "Fenwick Rowing Club's treasurer"
    assert answer.question == "who is the treasurer of the fenwick rowing club"  # as typed


def long_essay(sections: int = 8, per_section: int = 8) -> str:
    """An essay of ``sections`` sections of ``per_section`` sentences, each section on its own subject."""
    subjects = ["harbour", "orchard", "railway", "library", "brewery", "glacier", "theatre", "vineyard", "quarry"]
    paragraphs = ["This essay is derived from a talk given at the Lisk winter school."]
    for k in range(sections):
        s = subjects[k % len(subjects)]
        paragraphs.append(" ".join(f"The {s} of the valley changed in year {1900 + 10 * k + j} for reason {j} "
                                   f"of the town and its {s} workers." for j in range(per_section)))
    return "\n\n".join(paragraphs)


@pytest.mark.parametrize("question", ["Summarize the essay", "Give me an overview"])
def test_an_overview_of_a_long_text_opens_with_its_thesis_and_covers_all_of_it(tmp_path, fake_settings, question):
    text = long_essay()
    bot = Assistant.from_folder(write_folder(tmp_path / "essay", {"essay.txt": text}), settings=fake_settings)
    answer = bot.ask(question)
    check_cited(bot, answer)
    assert answer.kind == "overview" and not answer.refused and len(answer.citations) == 6
    first, *rest = answer.citations
    assert first.start < len(text) * 0.1  # the thesis comes from the opening
    assert [c.start for c in rest] == sorted(c.start for c in rest)  # then the rest in document order
    fifths = {5 * c.start // len(text) for c in answer.citations}
    assert len(fifths) >= 4  # from across the text, not its opening alone


def test_a_short_texts_overview_stays_with_its_opening(club_bot):
    """A news story or a short note states its gist early: its overview is not spread across it."""
    answer = club_bot.ask("Summarize the rowing club document")
    assert answer.citations[0].quote == "The Fenwick Rowing Club was founded in 1921 on the banks of the Alder."


@pytest.mark.parametrize("question", ["What's in these files?", "what documents do i have", "summarize each document"])
def test_an_overview_of_a_small_collection_covers_every_document(tmp_path, fake_settings, question):
    folder = write_folder(tmp_path / "five", {
        f"{name}.txt": f"The {name} report opened the year. It tells of the {name} harbour and its boats."
        for name in ("north", "south", "east", "west", "middle")})
    bot = Assistant.from_folder(folder, settings=fake_settings)
    answer = bot.ask(question)
    check_cited(bot, answer)
    assert answer.kind == "overview" and sorted({c.doc_id for c in answer.citations}) == [
        "east.txt", "middle.txt", "north.txt", "south.txt", "west.txt"]
    assert len(answer.citations) == 5  # one sentence each, each under its document's title


@pytest.mark.parametrize("text, question, lead, best", [
    # it points back, and only the sentence before holds the place asked for
    ("The defence ministers met in Lisk on Monday. Both the ministers, along with their deputies, held a trade "
     "dialogue. Orvane sent two observers.", "Where was the trade dialogue held?",
     "The defence ministers met in Lisk on Monday.",
     "Both the ministers, along with their deputies, held a trade dialogue."),
    # a quotation going on, whose speaker the question and only the sentence before name
    ("The harbour reopened on Monday. On his part, Pavel Dunmore said: “The port is important for the town "
     "these days. I am confident the port will help regional trade.” The mayor opened a school.",
     "What did Pavel Dunmore say about regional trade?",
     "On his part, Pavel Dunmore said: “The port is important for the town these days.",
     "I am confident the port will help regional trade.”"),
])
def test_a_sentence_comes_with_the_one_before_when_only_that_one_holds_what_is_asked(tmp_path, fake_settings,
                                                                                     text, question, lead, best):
    bot = Assistant.from_folder(write_folder(tmp_path / "docs", {"talks.txt": text}), settings=fake_settings)
    answer = bot.ask(question)
    check_cited(bot, answer)
    assert quotes(answer)[:2] == [lead, best]


def test_a_sentence_wrapped_over_two_lines_is_quoted_whole(tmp_path, fake_settings):
    folder = write_folder(tmp_path / "manual", {"kettle.md": (
        "# Kettle manual\n\n## Warranty\n\nThe kettle is covered by a two-year warranty from the date of purchase. "
        "The warranty does not cover\ndamage caused by limescale. To make a claim, contact Aurora Support.\n")})
    bot = Assistant.from_folder(folder, settings=fake_settings)
    answer = bot.ask("Does the warranty cover damage caused by limescale?")
    check_cited(bot, answer)
    assert quotes(answer)[0] == "The warranty does not cover\ndamage caused by limescale."
    assert "two-year" in bot.ask("How long is the warranty?").text


MANUAL = (
    "# Aurora K2 kettle: user manual\n\n## Safety\n\n- Do not immerse the base in water.\n"
    "- Keep the kettle out of reach of children.\n\n## Descaling\n\n"
    "Descale the kettle every four weeks. Fill it with half water and half vinegar, then boil it. "
    "Rinse the kettle three times.\n\n## Warranty\n\nThe kettle has a two-year warranty. "
    "To make a claim, write to Aurora Support.\n"
)


@pytest.mark.parametrize("question, first, count", [
    ("How do I descale the kettle?", "Descale the kettle every four weeks.", 3),
    ("What are the safety rules?", "- Do not immerse the base in water.", 2),
    ("how to descale", "Descale the kettle every four weeks.", 3),
])
def test_steps_or_rules_a_section_heading_names_are_that_section(tmp_path, fake_settings, question, first, count):
    bot = Assistant.from_folder(write_folder(tmp_path / "manual", {"kettle.md": MANUAL}), settings=fake_settings)
    answer = bot.ask(question)
    check_cited(bot, answer)
    assert quotes(answer)[0] == first and len(answer.citations) == count


def test_a_question_the_heading_names_only_part_of_is_not_given_the_section(tmp_path, fake_settings):
    bot = Assistant.from_folder(write_folder(tmp_path / "manual", {"kettle.md": MANUAL}), settings=fake_settings)
    answer = bot.ask("How do I make a warranty claim?")  # "claim" is no word of "## Warranty"
    assert quotes(answer) == ["To make a claim, write to Aurora Support."]
