"""Citations: ``verify`` keeps only markers that point at real quoted spans, and every answer obeys that."""

from __future__ import annotations

import dataclasses
import re

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from assistant import Answer, Assistant, Citation, Settings
from assistant.citations import REFUSAL, markers, refusal, shown, verify
from assistant.errors import EmptyQuestionError, QuestionError
from assistant.questions import check_question
from fakes import WIKI_ANSWER, WIKI_NOTE_ANSWER, WIKI_NOTE_QUESTION, WIKI_QUESTION

TEXTS = {
    "a.txt": "The Alder river is 120 kilometres long. Fishermen catch trout in it.",
    "b.txt": "Marta Olsen opened the Crumb bakery in 1998.",
}


def cite(number: int, doc_id: str, quote: str, start: int | None = None, score: float = 0.5) -> Citation:
    text = TEXTS[doc_id]
    start = text.find(quote) if start is None else start
    return Citation(number, doc_id, doc_id.upper(), quote, start, start + len(quote), score, f"{doc_id}#0-{len(text)}")


def answer(text: str, citations: list[Citation], **kwargs) -> Answer:
    return Answer(text=text, citations=citations, question="q?", query="q?", confidence=0.7, **kwargs)


RIVER = "The Alder river is 120 kilometres long."
TROUT = "Fishermen catch trout in it."
BAKERY = "Marta Olsen opened the Crumb bakery in 1998."


# ------------------------------------------------------------------ verify


def test_verify_keeps_a_span_inside_its_quote_and_drops_one_outside():
    text = "The Alder river is 120 kilometres long."
    inside = Citation(1, "a.txt", "A", text, 0, len(text), 0.9, span_start=19, span_end=33)
    outside = dataclasses.replace(inside, span_start=30, span_end=60)
    kept = verify(Answer(text=f"120 kilometres. [1]\n{text} [1]", citations=[inside]), {"a.txt": text})
    assert kept.citations[0].span == {"text": "120 kilometres", "start": 19, "end": 33}
    assert kept.span == {"text": "120 kilometres", "start": 19, "end": 33, "citation": 1}
    assert verify(Answer(text=f"{text} [1]", citations=[outside]), {"a.txt": text}).citations[0].span is None


def test_valid_answer_is_unchanged():
    given_answer = answer(f"{RIVER} [1] {BAKERY} [2]", [cite(1, "a.txt", RIVER), cite(2, "b.txt", BAKERY)])
    assert verify(given_answer, TEXTS) == given_answer


def test_citation_whose_quote_is_not_in_the_document_is_dropped_and_the_rest_renumbered():
    wrong = Citation(1, "a.txt", "A.TXT", "The Alder river is 200 kilometres long.", 0, 39, 0.9)
    result = verify(answer(f"Made up. [1] {BAKERY} [2]", [wrong, cite(2, "b.txt", BAKERY)]), TEXTS)
    assert result == answer(f"Made up. {BAKERY} [1]", [cite(1, "b.txt", BAKERY)])


@pytest.mark.parametrize(
    "bad",
    [
        Citation(1, "a.txt", "A", RIVER, 1, 40, 0.5),  # offsets shifted by one
        Citation(1, "zzz.txt", "Z", RIVER, 0, 39, 0.5),  # no such document
        Citation(1, "a.txt", "A", " ", 39, 40, 0.5),  # a blank quote supports nothing
        Citation(1, "a.txt", "A", "", 0, 0, 0.5),
    ],
)
def test_unsupported_citations_are_dropped(bad):
    result = verify(answer(f"{RIVER} [1] {TROUT} [2]", [bad, cite(2, "a.txt", TROUT)]), TEXTS)
    assert result == answer(f"{RIVER} {TROUT} [1]", [cite(1, "a.txt", TROUT)])


def test_dangling_markers_are_dropped():
    result = verify(answer(f"{RIVER} [1] [7] {TROUT} [3]", [cite(1, "a.txt", RIVER)]), TEXTS)
    assert result == answer(f"{RIVER} [1] {TROUT}", [cite(1, "a.txt", RIVER)])


def test_citations_are_renumbered_in_order_of_first_use():
    given_answer = answer(
        f"{BAKERY} [5] {RIVER} [2] Again the bakery. [5]",
        [cite(2, "a.txt", RIVER), cite(5, "b.txt", BAKERY)],
    )
    assert verify(given_answer, TEXTS) == answer(
        f"{BAKERY} [1] {RIVER} [2] Again the bakery. [1]",
        [cite(1, "b.txt", BAKERY), cite(2, "a.txt", RIVER)],
    )


def test_unused_citations_are_dropped():
    result = verify(answer(f"{RIVER} [1]", [cite(1, "a.txt", RIVER), cite(2, "a.txt", TROUT)]), TEXTS)
    assert result == answer(f"{RIVER} [1]", [cite(1, "a.txt", RIVER)])


def test_marker_without_space_is_normalised():
    result = verify(answer(f"{RIVER}[1]", [cite(1, "a.txt", RIVER)]), TEXTS)
    assert result.text == f"{RIVER} [1]"


def test_answer_with_no_valid_citation_becomes_a_refusal():
    wrong = Citation(1, "a.txt", "A", "Invented.", 0, 9, 0.9)
    passages = ["p1"]
    result = verify(answer("Invented. [1]", [wrong], passages=passages), TEXTS)
    assert result == Answer(
        text=f"{REFUSAL} Nothing in the indexed documents answers this question closely enough to quote.",
        citations=[], refused=True, question="q?", query="q?", confidence=0.7, passages=passages,
    )
    assert verify(answer("No markers at all.", []), TEXTS).refused is True
    assert verify(answer("Dangling only. [1]", []), TEXTS).refused is True


def test_refusal_passes_through_unchanged():
    refused = refusal("q?", "q?", 0.2)
    assert verify(refused, TEXTS) is refused
    assert refused.text.startswith(("The documents don't say", "The documents don't mention"))
    assert (refused.refused, refused.citations) == (True, [])


def test_markers():
    assert markers("One [1] two [2] one again [1] and [10].") == [1, 2, 1, 10]
    assert markers("No markers, [x] or [].") == []


def test_bracketed_numbers_inside_a_quote_are_not_markers():
    """Documents copied from Wikipedia or papers hold footnote marks like "[3]". Inside a quote they are the
    document's: never renumbered or dropped as markers, and shown as "[note 3]" so that a reader (or a
    check counting markers) does not take them for a citation with no source; the quote stays exact."""
    texts = {"w.txt": "Sales rose [3] in 2020. Costs fell [1] in 2021."}
    sales = Citation(1, "w.txt", "W", "Sales rose [3] in 2020.", 0, 23, 0.8)
    result = verify(answer("Sales rose [3] in 2020. [1]", [sales]), texts)
    assert result == answer("Sales rose [note 3] in 2020. [1]", [sales])

    costs = Citation(2, "w.txt", "W", "Costs fell [1] in 2021.", 24, 47, 0.7)
    result = verify(answer("Costs fell [1] in 2021. [2] Sales rose [3] in 2020. [1]", [sales, costs]), texts)
    assert result == answer("Costs fell [note 1] in 2021. [1] Sales rose [note 3] in 2020. [2]",
                            [dataclasses.replace(costs, number=1), dataclasses.replace(sales, number=2)])
    assert markers(result.text) == [1, 2]


WIKI_TEXT = ("Y Combinator is an American technology startup accelerator launched in March 2005.[1] "
             "It has funded over 4,000 startups in total.[2]")


@pytest.mark.parametrize("given", [
    "It has funded over 4,000 startups in total.[2] [1]",  # the quote as it is in the document
    "It has funded over 4,000 startups in total.[note 2] [1]",  # as an answerer already shows it
])
def test_a_footnote_mark_in_a_quote_reads_as_a_note_and_verify_counts_only_the_assistants_markers(given):
    """Asked how many startups Y Combinator funded, the answer read "... in total.[2] [1]": a second
    source that is not there. The mark is the essay's, and verify reads only the assistant's markers."""
    quote = "It has funded over 4,000 startups in total.[2]"
    start = WIKI_TEXT.index(quote)
    funded = Citation(1, "yc.txt", "YC", quote, start, start + len(quote), 0.8)
    result = verify(answer(given, [funded]), {"yc.txt": WIKI_TEXT})
    assert result == answer("It has funded over 4,000 startups in total.[note 2] [1]", [funded])
    assert markers(result.text) == [1] and result.citations[0].quote == quote


def test_shown_marks_only_bracketed_numbers():
    assert shown("Founded in 2005.[1] Funded 4,000 startups [2, 3] and more [4-6].[citation needed]") == (
        "Founded in 2005.[note 1] Funded 4,000 startups [note 2, 3] and more [note 4-6].[citation needed]")
    assert shown(shown("a [2]")) == "a [note 2]" and shown("no marks") == "no marks"


def test_answer_to_dict():
    result = answer(f"{RIVER} [1]", [cite(1, "a.txt", RIVER)])
    assert result.to_dict() == {
        "text": f"{RIVER} [1]",
        "citations": [{"number": 1, "doc_id": "a.txt", "title": "A.TXT", "quote": RIVER, "start": 0, "end": 39,
                       "score": 0.5, "passage_id": "a.txt#0-68", "location": {}, "where": "", "span": None}],
        "refused": False, "question": "q?", "query": "q?", "confidence": 0.7, "mode": "extractive", "passages": [],
        "dropped": [], "generated": "", "kind": "fact", "missing": "", "span": None,
    }


# ------------------------------------------------------------------ every answer of the assistant


def check_answer(bot: Assistant, ans: Answer) -> None:
    """The invariant of every answer leaving the assistant (see assistant/citations.py)."""
    used = markers(ans.text)  # every "[n]" is a marker: a document's own are shown as "[note n]"
    numbers = [c.number for c in ans.citations]
    if ans.refused:
        assert ans.citations == []
        assert used == []
        assert ans.text.startswith(("The documents don't say", "The documents don't mention"))
        return
    assert ans.citations, "an answer that is not a refusal cites something"
    assert numbers == list(range(1, len(numbers) + 1)), "citations are numbered 1..n"
    assert set(used) == set(numbers), "every marker has a citation and every citation is used"
    first_use = list(dict.fromkeys(used))
    assert first_use == numbers, "numbered in order of first use"
    for c in ans.citations:
        assert c.quote.strip() == c.quote and c.quote
        assert c.quote == bot.document_text(c.doc_id)[c.start:c.end]
        assert c.title == bot.snapshot.title(c.doc_id)
        assert c.passage_id in bot.snapshot.passages
        passage = bot.snapshot.passages[c.passage_id]
        assert passage.doc_id == c.doc_id and passage.start < c.end and c.start < passage.end
        if ans.mode == "extractive":
            assert shown(c.quote) in ans.text, "the extractive answer quotes its source verbatim"
        if c.span is not None:  # the short answer: a span of the quote, and what the answer leads with
            assert c.start <= c.span_start < c.span_end <= c.end
            assert c.span["text"] == bot.document_text(c.doc_id)[c.span_start:c.span_end]
    if ans.span is not None and ans.mode == "extractive":  # the answer leads with the first short answer
        assert ans.text.lower().startswith(shown(ans.span["text"]).strip().rstrip(".,;:").lower())


QUESTIONS = [
    "How many AK-203 rifles will India procure?",
    "Which assault rifles did India sign a contract to procure from Russia?",
    "Which news agency reported the rifle contract?",
    "Which agreement did the two sides sign a treaty to amend?",
    "When was the Kalashnikov agreement dated?",
    "In which city did Rajnath Singh meet Sergey Shoigu?",
    "Who is the Russian defence minister?",
    "Who was his counterpart?",
    "What kind of dialogue did the ministers hold?",
    "Who took part in the 2+2 dialogue?",
    "Which summit were Modi and Putin going to attend?",
    "What number India-Russia annual summit was it?",
    "How did Singh describe defence engagements between India and Russia?",
    "What did Singh call the most important pillar of the partnership?",
    "What did Shoigu say about regional security?",
    "What did Jaishankar say the meeting would address?",
    "What did Jaishankar say about globalisation?",
    "When did Modi and Putin last meet face-to-face?",
    "Where did Modi and Putin meet in November 2019?",
    "Where did Modi go in September 2019?",
    "Why was the annual summit not held in 2020?",
    "Which year was the summit not held?",
    "What is the price of each AK-203 rifle?",
    "Where will the rifles be manufactured?",
    "When will the rifles be delivered?",
    "What was the outcome of the Modi-Putin meeting?",
    "Who won the cricket world cup in 2011?",
    "What is the capital of France?",
    "How many S-400 systems did India buy?",
    "What is the boiling point of water?",
    "Tell me about the rifles",
    "rifles",
    "AK-203",
    "6,01,427",
    "601427",
    "?",
    "the of and",
    "Kalashnikov Kalashnikov Kalashnikov",
    "Qu'est-ce que l'accord AK-203 ?",
    "Сколько автоматов АК-203 купит Индия?",
    "#WATCH pic.twitter.com/g555h4a7W8",
    "What did they say about terrorism and violent extremism?",
    # lists, overviews, times: answers that gather several sentences keep the same invariant
    "Who attended the 2+2 dialogue?",
    "List all the people mentioned in the article.",
    "list the dates",
    "Summarize the article.",
    "tell me about Shoigu",
    "What happened in 2019?",
    "Did India sign a contract with Russia?",
]


@pytest.fixture(scope="module")
def seed_bot(tmp_path_factory, seeds_dir) -> Assistant:
    index = tmp_path_factory.mktemp("seed-index")
    # the threshold is pinned: the calibrated default is tuned for the real model, not the fake one
    settings = Settings(embed_model="fake-hash", index_dir=index, show_progress=False, refusal_threshold=0.45)
    return Assistant.from_folder(seeds_dir, settings=settings)


@pytest.fixture(scope="module")
def seed_bot_small(tmp_path_factory, seeds_dir) -> Assistant:
    """Small passages, three sentences per answer and a low threshold: more, and longer, answers."""
    index = tmp_path_factory.mktemp("seed-index-small")
    settings = Settings(embed_model="fake-hash", index_dir=index, show_progress=False, chunk_size=64,
                        chunk_overlap=8, max_sentences=3, refusal_threshold=0.2, top_k=8)
    return Assistant.from_folder(seeds_dir, settings=settings)


@pytest.mark.parametrize("question", QUESTIONS)
def test_every_answer_cites_exact_spans(seed_bot, seed_bot_small, question):
    for bot in (seed_bot, seed_bot_small):
        ans = bot.ask(question)
        check_answer(bot, ans)
        assert ans.question == " ".join(question.split())


def test_fixed_questions_give_both_answers_and_refusals(seed_bot, seed_bot_small):
    answers = [seed_bot.ask(q) for q in QUESTIONS]
    assert any(a.refused for a in answers) and any(not a.refused for a in answers)
    assert any(len(seed_bot_small.ask(q).citations) > 1 for q in QUESTIONS)


def test_a_known_answer(seed_bot):
    ans = seed_bot.ask("How many AK-203 rifles will India procure?")
    quote = (
        "India on Monday signed a contract with Russia to procure 6,01,427 AK-203 assault rifles under the "
        "Indo-Russia Rifles Private Limited Program for military-technical cooperation, reported ANI."
    )
    assert (ans.refused, ans.text, [(c.number, c.doc_id, c.quote, c.start, c.end) for c in ans.citations]) == (
        False, f"6,01,427. [1]\n{quote} [1]",  # the reader's short answer first (the bot is made before the
        [(1, "india-russia-2plus2-ak203-summit.txt", quote, 0, len(quote))],  # unit tests' rules-only fixture)
    )


def askable(question: str) -> bool:
    """Text the assistant takes as a question (not only white space or control characters)."""
    try:
        check_question(question)
    except QuestionError:
        return False
    return True


SEED_WORDS = st.sampled_from(
    "India Russia AK-203 rifles contract Singh Shoigu Lavrov Jaishankar Modi Putin summit Delhi 2+2 "
    "dialogue treaty Kalashnikov 2019 2020 Covid-19 BRICS Brasilia Vladivostok defence cooperation "
    "partnership peace multipolarity globalisation terrorism ANI 6,01,427 annual Monday price weapons "
    "football banana quantum".split()
)
QUESTION_STARTS = st.sampled_from(["", "Who ", "What ", "When ", "Why ", "How many ", "How much did ",
                                   "Which ", "Where ", "And ", "What about ", "Summarize ", "Tell me about ",
                                   "List all the ", "Who attended ", "What happened in ", "Did "])
GENERATED_QUESTIONS = st.builds(
    lambda start, words, end: start + " ".join(words) + end,
    QUESTION_STARTS, st.lists(SEED_WORDS, min_size=1, max_size=12), st.sampled_from(["?", "", ".", " ?"]),
) | st.text(min_size=1, max_size=200).filter(askable)


@settings(max_examples=120, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(question=GENERATED_QUESTIONS)
def test_generated_questions_give_verified_answers(seed_bot, question):
    check_answer(seed_bot, seed_bot.ask(question))


@settings(max_examples=40, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(question=GENERATED_QUESTIONS, earlier=st.lists(GENERATED_QUESTIONS, max_size=3))
def test_follow_ups_give_verified_answers(seed_bot_small, question, earlier):
    chat = seed_bot_small.chat()
    for q in [*earlier, question]:
        check_answer(seed_bot_small, chat.ask(q))
    assert len(chat.turns) == len(earlier) + 1


def test_stream_pieces_join_to_the_answer(seed_bot):
    pieces = list(seed_bot.stream("Why was the annual summit not held in 2020?"))
    final = pieces[-1]
    assert isinstance(final, Answer)
    assert "".join(pieces[:-1]) == final.text
    check_answer(seed_bot, final)


def test_follow_up_question_uses_the_conversation(seed_bot):
    chat = seed_bot.chat()
    chat.ask("Which Russian minister did Rajnath Singh meet in Delhi?")
    follow_up = chat.ask("What did he say about regional security?")
    assert follow_up.query == (
        "Which Russian minister did Rajnath Singh meet in Delhi? What did he say about regional security?"
    )
    check_answer(seed_bot, follow_up)
    chat.reset()
    assert chat.turns == []


@pytest.mark.parametrize("question", ["", "   ", "\n\t", "x" * 2001])
def test_empty_or_huge_question_is_an_error(seed_bot, question):
    with pytest.raises(EmptyQuestionError):
        seed_bot.ask(question)


def test_documents_with_footnote_marks_are_quoted_verbatim(tmp_path, fake_settings):
    """The end-to-end face of test_bracketed_numbers_inside_a_quote_are_not_markers."""
    docs = tmp_path / "wiki"
    docs.mkdir()
    (docs / "volga.txt").write_text(
        "The Volga is the longest river in Europe, at 3,531 kilometres [2]. "
        "The Volga flows into the Caspian Sea [1].\n\nIts basin covers much of western Russia.",
        encoding="utf-8",
    )
    bot = Assistant.from_folder(docs, settings=fake_settings)
    for question in ["How long is the Volga river in kilometres?", "Where does the Volga flow into?"]:
        ans = bot.ask(question)
        assert not ans.refused
        check_answer(bot, ans)


@pytest.mark.parametrize("question,expected", [(WIKI_QUESTION, WIKI_ANSWER), (WIKI_NOTE_QUESTION, WIKI_NOTE_ANSWER)])
def test_an_answer_over_text_with_footnotes_shows_them_as_notes(wiki_dir, fake_settings, question, expected):
    """The issue's probe: "[2] Worrying that Y Combinator makes founders move ... [1]" read as two
    citations, one with no source. The essay's "[2]" reads "[note 2]"; the quote keeps it exactly."""
    bot = Assistant.from_folder(wiki_dir, settings=fake_settings)
    ans = bot.ask(question)
    assert ans.text == expected
    check_answer(bot, ans)
    assert re.search(r"\[[23]\]", ans.citations[0].quote)  # the exact span, its own mark included


def test_answers_over_the_small_corpus(fake_bot):
    ans = fake_bot.ask("Who opened the Crumb bakery?")
    assert (ans.text, ans.refused, [(c.doc_id, c.quote, c.start, c.end) for c in ans.citations]) == (
        "Marta Olsen opened the Crumb bakery in 1998. [1]", False,
        [("bakery.txt", "Marta Olsen opened the Crumb bakery in 1998.", 0, 44)],
    )
    refused = fake_bot.ask("What is the capital of France?")
    assert (refused.refused, refused.citations, refused.text, refused.missing) == (
        True, [], "The documents don't mention France.", "France")
