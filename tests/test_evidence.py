"""The evidence a sentence holds of a question (assistant/answering/evidence.py): what speaks against
answering with it, and what the extractive answerer finds in real sentences (fake embedding model, tiny
folders), down to the refusal it leads to."""

from __future__ import annotations

import dataclasses

import pytest
from fakes import HashEmbedding, hash_vector, write_folder

from assistant import Assistant
from assistant.answering import evidence
from assistant.answering.extractive import ANAPHOR, ExtractiveAnswerer
from assistant.answering.evidence import Evidence, contrasts, opposite_of, other_parties, other_time, role_in
from assistant.questions import Question, role_of
from assistant.text import sentence_terms
from assistant.text import stem

BASE = Evidence(score=0.6)


@pytest.mark.parametrize("field, value, reason", [
    ("other_year", True, "another year"),
    ("other_time", True, "another time"),
    ("opposite", True, "the opposite"),
    ("known_missing", evidence.KNOWN_MISSING_LIMIT + 0.01, "a qualifier it does not say"),
    ("other_owner", True, "another owner's"),
    ("role_missing", True, "not the role asked about"),
])
def test_evidence_against_a_sentence_says_why(field, value, reason):
    assert dataclasses.replace(BASE, **{field: value}).against == reason


@pytest.mark.parametrize("field, value", [
    ("known_missing", evidence.KNOWN_MISSING_LIMIT), ("names_missing", 1), ("unknown_missing", 0.9),
])
def test_what_answerable_questions_show_as_often_decides_nothing(field, value):
    # a pronoun for a name, a paraphrase for a word: as common in answerable questions (SQuAD 2.0 slice)
    assert dataclasses.replace(BASE, **{field: value}).against == ""


def test_the_features_are_named_in_order():
    assert len(evidence.FEATURES) == len(BASE.vector()) and BASE.vector()[0] == 0.6


def test_opposites_are_found_by_stem():
    assert opposite_of(stem("shortest"), frozenset({stem("longest"), stem("river")}))
    assert opposite_of(stem("decreased"), frozenset({stem("increased")}))
    assert not opposite_of(stem("last"), frozenset({stem("first")}))  # "the first time since" says when they last met
    assert not opposite_of(stem("river"), frozenset({stem("longest")}))


FESTIVAL = {
    "festival-2021.md": "# Harbour Festival 2021\n\nThe Saturday headliner was the band Copper Tides.\n\n"
                        "Attendance was 18,400, below the record set in 2019.",
    "festival-2022.md": "# Harbour Festival 2022\n\nThe Saturday headliner was the singer Mira Okonjo.\n\n"
                        "Attendance was 21,000 over the three days.",
    "talks.txt": "Velmora's Trade Minister, Jonas Ebbe, joined the talks. The first round of talks was held in Lisk.",
    "observers.txt": "Kestria sent two observers to the talks.",
    "museum.md": "# Museum guide\n\nThe museum opens at nine.\n\n## Greywick Point Lighthouse\n\n"
                 "Its tower is 31 metres tall and was built in 1864 from local granite. "
                 "The last resident keeper, Edwin Carrow, left in 1971.",
}


@pytest.fixture
def festival_bot(tmp_path, fake_settings) -> Assistant:
    folder = write_folder(tmp_path / "festival", FESTIVAL)
    return Assistant.from_folder(folder, settings=fake_settings)


def evidence_for(bot: Assistant, question: str, quote_starts: str) -> Evidence:
    answerer = bot.answerer_for("extractive")
    asked = Question.ask(question)
    vector = bot.retriever.embed_query(asked.query)
    ranked = answerer.candidates(asked, bot.retriever.search(asked, vector=vector), vector)
    found = next(c for c in ranked if c.text.startswith(quote_starts))
    assert found.refuted == bool(found.evidence.against)
    return found.evidence


def test_another_years_report_is_evidence_of_another_year(festival_bot):
    question = "What was the attendance at the 2019 Harbour Festival?"
    found = evidence_for(festival_bot, question, "Attendance was 18,400")
    assert found.other_year  # it mentions 2019, but it is the 2021 festival's report
    assert festival_bot.ask(question).refused
    same = evidence_for(festival_bot, "What was the attendance at the 2022 Harbour Festival?", "Attendance was 21,000")
    assert not same.other_year and same.names_missing == 0
    answer = festival_bot.ask("What was the attendance at the 2022 Harbour Festival?")
    assert not answer.refused and "21,000" in answer.text


def test_a_name_the_sentence_does_not_hold_is_missing(festival_bot):
    found = evidence_for(festival_bot, "Who is Kestria's trade minister?", "Velmora's Trade Minister")
    assert found.names_missing == 1 and found.known_missing == 0


def test_a_word_the_document_uses_elsewhere_is_a_qualifier_the_sentence_fails(festival_bot):
    found = evidence_for(festival_bot, "Who led the first round of talks?", "Velmora's Trade Minister")
    assert found.known_missing > 0  # "first" and "round" are in the next sentence of the same document
    never = evidence_for(festival_bot, "Who is Velmora's finance minister?", "Velmora's Trade Minister")
    assert never.unknown_missing > 0 and never.known_missing == 0  # the document never says "finance"


def role_evidence(question: str, sentence: str) -> tuple[bool, bool]:
    return role_in(role_of(question), sentence, sentence_terms(sentence), set())


@pytest.mark.parametrize("question, sentence, missing, other", [
    ("Who is Kestria's trade minister?", "Velmora's Trade Minister, Jonas Ebbe, joined the talks.", False, True),
    ("Who is Kestria's trade minister?", "Figures were published by the Velmoran trade ministry.", False, True),
    ("Who is Velmora's trade minister?", "Velmora's Trade Minister, Jonas Ebbe, joined the talks.", False, False),
    ("Who is Velmora's trade minister?", "The Velmoran trade minister, Jonas Ebbe, spoke.", False, False),
    ("What is the capital of Luneth?", "They met in Vantry, the capital of Oradia.", False, True),
    ("What is the capital of Luneth?", "Its capital, Brask, lies on the coast.", False, False),  # whose? unsaid
    ("Who is Velmora's defence minister?", "Velmora's Trade Minister, Jonas Ebbe, joined the talks.", True, False),
    ("Who is the mayor of Port Aldwin?", "Port Aldwin was chosen for its workforce.", True, False),
    ("What is the final score of the Cup Final?", "Lisk beat Brask 2-1 in the Cup Final.", False, False),  # "what": not required
    ("Who was the V&A's first director?", "Henry Cole, the museum's first director, opened it.", False, False),
    ("Who is Russia's defence minister?", "The talks came after Indian Defence Minister Rajnath Singh met his Russian counterpart "
                                          "General Sergey Shoigu.", False, False),
    ("Who is Kestria's defence minister?", "The talks came after Indian Defence Minister Rajnath Singh met his Russian counterpart "
                                           "General Sergey Shoigu.", False, True),
])
def test_a_sentence_names_the_role_asked_about_and_whose_it_is(question, sentence, missing, other):
    assert role_evidence(question, sentence) == (missing, other)


def test_a_sentence_relating_two_other_parties_is_about_another_relation():
    assert other_parties(("Oradia", "Luneth"), "Trade between Velmora and Kestria was worth 4.2 billion euros.")
    assert not other_parties(("Oradia", "Luneth"), "Trade between Oradia and Luneth grew.")
    assert not other_parties(("Oradia", "Luneth"), "Trade grew by 4%.")


def test_another_owners_role_is_refused_naming_what_is_missing(festival_bot):
    found = evidence_for(festival_bot, "Who is Kestria's trade minister?", "Velmora's Trade Minister")
    assert found.other_owner and found.against
    refused = festival_bot.ask("Who is Kestria's trade minister?")
    assert refused.refused and refused.missing == "Kestria's trade minister"
    answered = festival_bot.ask("Who is Velmora's trade minister?")
    assert not answered.refused and "Jonas Ebbe" in answered.text


def test_a_sentence_is_read_with_its_section_heading(festival_bot):
    # "Its tower" says nothing of the lighthouse but under its heading; read with it, it answers
    answer = festival_bot.ask("When was the Greywick Point Lighthouse built?")
    assert not answer.refused and "1864" in answer.text
    refused = festival_bot.ask("Who was the first keeper of the Greywick Point Lighthouse?")
    assert refused.refused  # the heading lifts the last keeper's sentence too; the role rule refuses it


def lexical_of(folder, settings, question: str, quote_starts: str) -> float:
    bot = Assistant.from_folder(folder, settings=settings)
    answerer = bot.answerer_for("extractive")
    asked = Question.ask(question)
    vector = bot.retriever.embed_query(asked.query)
    ranked = answerer.candidates(asked, bot.retriever.search(asked, vector=vector), vector)
    return next(c for c in ranked if c.text.startswith(quote_starts)).lexical


def test_words_naming_the_kind_of_answer_are_not_required_where_no_document_uses_them(tmp_path, fake_settings):
    deal = "The council signed the harbour contract on Monday, reported ANI."
    question = "Which news agency reported the harbour contract?"
    alone = write_folder(tmp_path / "alone", {"deal.txt": deal})
    assert lexical_of(alone, fake_settings, question, "The council") == pytest.approx(1.0)
    # a collection that uses the word holds the sentence to it, whichever document the sentence is in
    used = write_folder(tmp_path / "used", {"deal.txt": deal, "agency.txt": "The agency opened an office in Lisk."})
    assert lexical_of(used, fake_settings, question, "The council") < 0.8
    # a sentence naming nothing the question does not (no candidate answer) is held to them too
    unnamed = write_folder(tmp_path / "unnamed", {"deal.txt": "The council signed the harbour contract, it was reported."})
    assert lexical_of(unnamed, fake_settings, question, "The council") < 0.8


def test_words_asking_for_a_kind_of_answer_are_not_required_where_no_document_uses_them(tmp_path, fake_settings):
    folder = write_folder(tmp_path / "day", {"day.txt": "Later in the day, the council will meet Brask Shipping."})
    assert lexical_of(folder, fake_settings, "What is happening later in the day?", "Later") == pytest.approx(1.0)


class Paraphrases(HashEmbedding):
    """Hashed bag of words, but some phrases say what others do (as a real model has them)."""

    def _embed(self, text: str) -> list[float]:
        same = {"top diplomat": "foreign minister", "diplomat": "minister diplomat", "yearly": "annual",
                "yearly meeting": "annual meeting", "southern": "northern", "southern branch": "northern branch",
                "final destination": "first port"}
        return hash_vector(same.get(text, text))


def phrase_synonyms(question: str, sentence: str) -> dict[str, dict[str, float]]:
    answerer = ExtractiveAnswerer(None, Paraphrases(), idf=lambda term: 1.0)
    asked = Question(question)
    weights = {t: 1.0 for t in asked.stems}
    return answerer.phrase_synonyms(asked, weights, asked.surface, {0: sentence})[0]


def test_a_phrase_said_in_other_words_counts_for_each_of_its_words():
    found = phrase_synonyms("Who is Moscow's top diplomat?", "Russian Foreign Minister Sergey Lavrov spoke.")
    assert found["top"]["foreign minist"] == pytest.approx(1.0) and found["diplomat"]["foreign minist"] == pytest.approx(1.0)
    assert "moscow" not in found  # a name is matched on its own, never as part of a phrase


def test_a_unit_saying_one_word_of_a_phrase_is_not_the_phrase():
    # "annual" says "yearly", not "yearly meeting": "meeting" is not credited through it
    found = phrase_synonyms("When is the yearly meeting held?", "The annual report was late.")
    assert "meet" not in found


def test_a_word_and_its_opposite_never_say_each_other_however_close_their_vectors(tmp_path, fake_settings):
    # a model puts "southern" and "northern" close; the sentence says the opposite, not the word in other words
    folder = write_folder(tmp_path / "river", {"river.txt": (
        "The river splits near Arnhem. The northern branch keeps the name Lek until it reaches the sea.")})
    bot = Assistant.from_folder(folder, settings=fake_settings, embedder=Paraphrases())
    answerer = bot.answerer_for("extractive")
    asked = Question.ask("Which name does the southern branch keep until it reaches the sea?")
    vector = bot.retriever.embed_query(asked.query)
    ranked = answerer.candidates(asked, bot.retriever.search(asked, vector=vector), vector)
    quote = next(c for c in ranked if c.text.startswith("The northern branch"))
    assert quote.evidence.opposite and quote.refuted
    assert bot.ask("Which name does the southern branch keep until it reaches the sea?").refused
    # nor does a phrase holding the opposite say the question's phrase ("first port" for "final destination")
    found = phrase_synonyms("What was the final destination of the ship?", "Lisk was the first port of the ship.")
    assert found and not any("first port" in close for close in found.values())
    assert contrasts(stem("first"), stem("last")) and not opposite_of(stem("last"), frozenset({stem("first")}))


@pytest.mark.parametrize("question, sentence, other", [
    # the next one of something, over one that is over
    ("Where will the next 2+2 dialogue be held?", "The ministers held a 2+2 dialogue in Delhi.", True),
    ("When is the next restoration of the engine?", "Volunteers restored its engine between 1998 and 2004.", True),
    ("Where will the next round of talks take place?", "The next round of talks will take place in Orvane.", False),
    ("What is next to the lighthouse?", "The keeper's cottage was built next to it.", False),  # a place, not a time
    # what was done, over what will be
    ("What did Modi and Putin agree on?", "Modi and Putin will hold a meeting later in the day.", True),
    ("What did Modi and Putin agree on?", "Modi and Putin agreed to extend the treaty.", False),
    ("What did Shoigu say Russia and India will help with?", "Russia and India will help to secure the region.", False),
    # when something happened, over a sentence saying when it did not
    ("When was the first annual summit held?", "The annual summit was not held in 2020 because of the pandemic.", True),
    ("When did the ferry run?", "The ferry did not run in the winter of 2021.", True),
    ("In which year was the annual summit not held?", "The annual summit was not held in 2020.", False),
    ("When was the summit held?", "The summit was held in Delhi in 2021, not in Moscow.", False),
    # when something happened, over a sentence telling only how things are now
    ("When did the museum open?", "The museum is open from Tuesday to Sunday, and is closed on Mondays.", True),
    ("When did the museum open?", "It opened to the public in 1987.", False),
    ("When did the museum open?", "The museum is housed in the customs house built in 1850.", False),  # a year
    ("When is the museum open?", "The museum is open from Tuesday to Sunday.", False),
    # a plain question about the future is left alone: "it opened on 1 April" tells of that very event
    ("When will the ferry route open?", "The ferry route opened on 1 April 2024.", False),
    ("When will the crossing reopen?", "The crossing will reopen by September 2024.", False),
])
def test_a_sentence_about_another_time_than_the_question(question, sentence, other):
    assert other_time(question, sentence) is other


def test_a_sentence_about_what_its_heading_or_the_sentence_before_names_holds_those_names(tmp_path, fake_settings):
    folder = write_folder(tmp_path / "plant", {"plant.md": (
        "# Brightwater Robotics opens a plant in Lisk\n\nThe plant will build robots for warehouses. "
        "The company has invested 48 million euros in the site. The festival director said the site was noisy.")})
    question = "How much has Brightwater Robotics invested in the site?"
    # "The company ..." is about what the heading names: its names count in full, not at half weight
    assert lexical_of(folder, fake_settings, question, "The company") == pytest.approx(1.0)
    # "The festival director" is about the director: the heading's names count at half weight
    assert lexical_of(folder, fake_settings, question, "The festival director") < 0.8


@pytest.mark.parametrize("sentence, about_before", [
    ("It was commissioned by Odo.", True),
    ("They even lent their name to the castle.", True),
    ("The company has invested 48 million euros.", True),
    ("The festival director, Helen Strand, said so.", False),
    ("The Saturday headliner was Copper Tides.", False),
    ("Italy won the cup.", False),
])
def test_a_sentence_opening_with_a_pronoun_or_a_bare_noun_as_subject_is_about_what_came_before(sentence, about_before):
    assert (ANAPHOR.match(sentence) is not None) == about_before


def test_a_quotation_going_on_after_he_said_is_the_named_speakers(tmp_path, fake_settings):
    """'“...,” she said. “...”': the second quotation is hers, and she is named a sentence earlier still."""
    folder = write_folder(tmp_path / "port", {"port.txt": (
        "Mara Velt said the port will grow. “We look at the cost of growth,” she said. "
        "“Long standing challenges of flooding remain.” The mayor opened a school.")})
    bot = Assistant.from_folder(folder, settings=fake_settings)
    question = "What did Mara Velt say about flooding?"
    assert lexical_of(folder, fake_settings, question, "“Long standing") == pytest.approx(1.0)
    assert evidence_for(bot, question, "“Long standing").names_missing == 0
    answer = bot.ask(question)
    assert answer.text.startswith("“Long standing challenges of flooding remain.” [1]")
    # a quotation after a sentence that says nobody spoke is nobody's
    other = write_folder(tmp_path / "other", {"port.txt": (
        "Mara Velt opened the port. The cost of growth is high. “Long standing challenges of flooding remain.”")})
    assert lexical_of(other, fake_settings, question, "“Long standing") < 0.8


def test_a_word_naming_what_another_retrieved_document_is_about_is_evidence_of_that_document(tmp_path, fake_settings):
    """"What does a museum ticket cost?": the festival's ticket prices are about another document's subject
    (its document never says "museum", a document titled for the museum is retrieved), so the museum's
    price answers, although it scores lower."""
    folder = write_folder(tmp_path / "town", {
        "festival.txt": "A festival ticket cost 55 euros.",
        "museum.md": "# The Maritime Museum\n\nThe museum opened in 1987. Its adult ticket costs 8 euros at the desk.",
    })
    bot = Assistant.from_folder(folder, settings=fake_settings)
    question = "What does a museum ticket cost?"
    festival = evidence_for(bot, question, "A festival ticket")
    assert festival.other_subject and festival.against == "another document's subject"
    museum = evidence_for(bot, question, "Its adult ticket")
    assert not museum.other_subject and museum.score < festival.score  # a close second
    assert "8 euros" in bot.ask(question).text and "55 euros" not in bot.ask(question).text
    # a question that also names the sentence's own document's subject is about that document
    assert not evidence_for(bot, "What did a festival museum ticket cost?", "A festival ticket").other_subject


def test_a_sentence_saying_it_inherits_the_words_of_the_sentence_it_points_back_to(tmp_path, fake_settings):
    folder = write_folder(tmp_path / "museum", {"museum.txt": (
        "The Port Aldwin maritime museum occupies the customs house. It opened to the public in 1987. "
        "The harbour was dredged in 1990.")})
    # "museum" is the subject "It" stands for: it counts, at less than a word the sentence says
    assert 0.5 < lexical_of(folder, fake_settings, "When did the museum open?", "It opened") < 1.0
    assert lexical_of(folder, fake_settings, "When did the museum open?", "The harbour") == 0.0


def test_a_year_in_the_title_dates_every_sentence_under_it(tmp_path, fake_settings):
    folder = write_folder(tmp_path / "fest", {"fest.md": "# Harbour Festival 2022\n\nThe headliner was Ann Vole."})
    assert lexical_of(folder, fake_settings, "Who was the headliner in 2022?", "The headliner") == pytest.approx(1.0)
    # a name of the title still counts half: the heading names it for every sentence alike
    assert lexical_of(folder, fake_settings, "Who was the Harbour headliner?", "The headliner") < 1.0
