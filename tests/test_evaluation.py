"""Gold-set evaluation: matching, gold files, scoring, metrics, runs and baselines, the pytest
helpers and ``assistant eval`` (reports: tests/test_reports.py). Fake model only; every test runs in well under a second.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import yaml

from assistant import AssistantError
from assistant.citations import Answer, Citation, refusal
from assistant.cli import EXIT_PARTIAL, EXIT_USER_ERROR, main
from assistant.documents import Passage
from assistant.evaluation import (
    CaseResult,
    Comparison,
    GoldCase,
    GoldFileError,
    check_case,
    compare,
    contains,
    evaluate,
    gold_params,
    load_gold,
    load_run,
    metrics,
    normalise,
    save_run,
    score_case,
)

pytest_plugins = ["pytester"]  # runs the README recipe for a user's own gold file in-process

PNG_HEADER = b"\x89PNG\r\n\x1a\n"

FOUNDER = "Marta Olsen opened the Crumb bakery in 1998."
LAUNCH = "The Kestrel rocket was launched from Andøya on 4 March 2021."
RIVER = "The Alder river flows through the town of Brightwater."
REFUSAL_TEXT = ("The documents don't say. Nothing in the indexed documents answers this question closely "
                "enough to quote.")

# A small gold set over the `docs_dir` corpus of conftest.py: four cases pass with the fake model,
# one (river-fish) fails because the fake model quotes the wrong sentence of rivers.txt.
GOLD = [
    {"id": "founder", "question": "Who opened the Crumb bakery?", "expect_any": ["Marta Olsen"],
     "sources": ["bakery.txt"], "tags": ["name"]},
    {"id": "launch", "question": "When was the Kestrel rocket launched?", "expect_all": ["4 March 2021", "Andøya"],
     "sources": ["rocket"], "tags": ["date"]},
    {"id": "opened-when", "turns": ["Who opened the Crumb bakery?", "When did she open it?"],
     "expect_any": ["1998"], "sources": ["bakery.txt"], "tags": ["date", "multiturn"]},
    {"id": "capital", "question": "What is the capital of France?", "refuse": True, "tags": ["unanswerable"]},
    {"id": "river-fish", "question": "What do fishermen catch in the Alder river?", "expect_any": ["brown trout"],
     "sources": ["rivers.txt"], "tags": ["fact"]},
]

GOLD_CASES = [
    GoldCase("founder", ("Who opened the Crumb bakery?",), expect_any=("Marta Olsen",), sources=("bakery.txt",),
             tags=("name",)),
    GoldCase("launch", ("When was the Kestrel rocket launched?",), expect_all=("4 March 2021", "Andøya"),
             sources=("rocket",), tags=("date",)),
    GoldCase("opened-when", ("Who opened the Crumb bakery?", "When did she open it?"), expect_any=("1998",),
             sources=("bakery.txt",), tags=("date", "multiturn")),
    GoldCase("capital", ("What is the capital of France?",), refuse=True, tags=("unanswerable",)),
    GoldCase("river-fish", ("What do fishermen catch in the Alder river?",), expect_any=("brown trout",),
             sources=("rivers.txt",), tags=("fact",)),
]

# What evaluate() gives for GOLD with the fake model, less the two latency metrics.
GOLD_METRICS = {
    "cases": 5, "passed": 4, "accuracy": 0.8, "answer_accuracy": 0.75, "refusal_precision": 1.0,
    "refusal_recall": 1.0, "false_refusals": 0, "citation_precision": 1.0, "hit@5": 1.0, "mrr": 1.0,
    "median_words": 8.5, "dropped_share": None,
}
LATENCY_KEYS = ("latency_p50_s", "latency_p95_s", "first_piece_p50_s")


def write_yaml(path: Path, cases: list[dict] = GOLD) -> Path:
    path.write_text(yaml.safe_dump(cases, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def write_jsonl(path: Path, cases: list[dict] = GOLD) -> Path:
    path.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases), encoding="utf-8")
    return path


@pytest.fixture
def gold_file(tmp_path) -> Path:
    return write_yaml(tmp_path / "gold.yaml")


def cite(doc_id: str, quote: str, number: int = 1) -> Citation:
    return Citation(number, doc_id, Path(doc_id).stem.title(), quote, 0, len(quote), 1.0, f"{doc_id}#0-{len(quote)}")


def passage(doc_id: str) -> Passage:
    return Passage(f"{doc_id}#0-10", doc_id, 0, 10, "0123456789", 0.5)


def answer(text: str, *citations: Citation, retrieved: tuple[str, ...] = ()) -> Answer:
    return Answer(text=text, citations=list(citations), question="q", query="q",
                  passages=[passage(d) for d in retrieved])


def refused(retrieved: tuple[str, ...] = ()) -> Answer:
    return refusal("q", "q", passages=[passage(d) for d in retrieved])


def one_case(id: str = "c", question: str = "Who opened the Crumb bakery?", **fields) -> GoldCase:
    tuples = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
    return GoldCase(id, (question,), **tuples)


# ------------------------------------------------------------------ normalise / contains


@pytest.mark.parametrize(("text", "expected"), [
    ("6,01,427", "601427"),            # Indian grouping
    ("601,427", "601427"),             # Western grouping
    ("601427", "601427"),
    ("601 427", "601427"),             # SI grouping with a space
    ("601\u202f427", "601427"),        # ... and with a narrow no-break space
    ("1,000,000", "1000000"),
    ("February 18, 2019", "february 18 2019"),  # a comma and a space is not digit grouping
    ("Hello,   World!", "hello world"),
    ("  AK-203\n\trifles ", "ak 203 rifles"),
    ("snake_case", "snake case"),
    ("ＡＫ－２０３", "ak 203"),        # full-width forms (NFKC)
    ("Andøya", "andøya"),
    ("?!", ""),
])
def test_normalise(text, expected):
    assert normalise(text) == expected


@pytest.mark.parametrize(("haystack", "needle"), [
    ("India will procure 6,01,427 AK-203 rifles.", "601427"),
    ("India will procure 601427 AK-203 rifles.", "6,01,427"),
    ("India will procure 601,427 AK-203 rifles.", "6,01,427"),
    ("India will procure 6,01,427 AK-203 rifles.", "601,427"),
    ("MARTA OLSEN opened it", "marta olsen"),
    ("Marta Olsen opened it", "Marta Olsen."),
    ("opened by Marta\n   Olsen [1]", "Marta Olsen"),
    ("the AK-203 rifle", "AK 203"),
    ("as reported by ANI.", "ANI"),
    ("ANI-reported figures", "ani"),
])
def test_contains_matches_despite_case_punctuation_spacing_and_grouping(haystack, needle):
    assert contains(haystack, needle)


@pytest.mark.parametrize(("haystack", "needle"), [
    ("the ANIMAL kingdom", "ANI"),       # whole words only: ANI is not inside ANIMAL
    ("the ANIMAL kingdom", "mal"),
    ("India will procure 601427 rifles", "60142"),
    ("India will procure 6,01,428 rifles", "601427"),
    ("rye bread", "rye breads"),
    ("anything at all", ""),             # an empty expectation never matches
    ("anything at all", "!?"),           # nor one that is only punctuation
])
def test_contains_rejects(haystack, needle):
    assert not contains(haystack, needle)


def test_contains_does_not_glue_a_year_to_the_next_number():
    """BUG: '2021 120' is read as digit grouping ('2021120'), so neither number matches any more.

    A leading group has at most three digits, so a 4-digit year cannot start a grouped number.
    """
    assert contains("In 2021 120 rifles were delivered.", "120")
    assert contains("In 2021 120 rifles were delivered.", "2021")


# ------------------------------------------------------------------ load_gold


def test_yaml_and_jsonl_give_the_same_cases(tmp_path):
    assert load_gold(write_yaml(tmp_path / "gold.yaml")) == GOLD_CASES
    assert load_gold(write_jsonl(tmp_path / "gold.jsonl")) == GOLD_CASES
    assert load_gold(write_yaml(tmp_path / "gold.yml")) == GOLD_CASES


def test_question_is_the_last_turn():
    question, conversation = GOLD_CASES[0], GOLD_CASES[2]
    assert (question.turns, question.question) == (("Who opened the Crumb bakery?",), "Who opened the Crumb bakery?")
    assert conversation.question == "When did she open it?"


def test_yaml_comments_and_blank_jsonl_lines_are_fine(tmp_path):
    path = tmp_path / "gold.jsonl"
    path.write_text('\n{"id": "capital", "question": "What is the capital of France?", "refuse": true, '
                    '"tags": ["unanswerable"]}\n\n', encoding="utf-8")
    assert load_gold(path) == [GOLD_CASES[3]]
    path = tmp_path / "gold.yaml"
    path.write_text("# a comment\n- id: capital  # unanswerable\n  question: What is the capital of France?\n"
                    "  refuse: true\n  tags: [unanswerable]\n", encoding="utf-8")
    assert load_gold(path) == [GOLD_CASES[3]]


@pytest.mark.parametrize(("name", "text", "message"), [
    ("gold.yaml", None, "cannot read gold file {path} (No such file or directory)"),
    ("gold.yaml", "- id: a\n  question: [unclosed\n", "gold file {path} is not valid YAML: "),
    ("gold.jsonl", '{"id": "a", "question": "q", "refuse": true}\n{not json}\n', "gold file {path} is not valid JSONL: "),
    ("gold.yaml", "id: a\nquestion: q\nrefuse: true\n", "gold file {path} must hold a list of cases"),
    ("gold.yaml", "just some text\n", "gold file {path} must hold a list of cases"),
    ("gold.yaml", "- a string, not a case\n", "gold file {path}, case 1 is not a mapping"),
    ("gold.jsonl", '["a", "list"]\n', "gold file {path}, case 1 is not a mapping"),
    ("gold.yaml", "- id: a\n  question: q\n  refuse: true\n  expected: x\n  answer: y\n",
     "gold file {path}, case 1 has unknown fields: answer, expected"),
    ("gold.yaml", "- question: q\n  refuse: true\n", "gold file {path}, case 1 has no id"),
    ("gold.yaml", "- {id: a, question: q, refuse: true}\n- {id: a, question: r, refuse: true}\n",
     "gold file {path}: case id 'a' is used twice"),
    ("gold.yaml", "- id: a\n  expect_any: [x]\n", "gold file {path}, case 1 (a) needs a question or a list of turns"),
    ("gold.yaml", "- id: a\n  question: '  '\n  expect_any: [x]\n",
     "gold file {path}, case 1 (a) needs a question or a list of turns"),
    ("gold.yaml", "- id: a\n  turns: [Hi, '']\n  expect_any: [x]\n",
     "gold file {path}, case 1 (a) needs a question or a list of turns"),
    ("gold.yaml", "- id: a\n  turns: [Hi, 42]\n  expect_any: [x]\n",
     "gold file {path}, case 1 (a) needs a question or a list of turns"),
    ("gold.yaml", "- {id: a, question: q, refuse: true}\n- id: b\n  question: q\n",
     "gold file {path}, case 2 (b) needs expect_any, expect_all or refuse: true"),
    ("gold.yaml", "- id: b\n  question: q\n  refuse: false\n  expect_any: []\n",
     "gold file {path}, case 1 (b) needs expect_any, expect_all or refuse: true"),
], ids=["missing-file", "invalid-yaml", "invalid-jsonl-line", "a-mapping", "a-string", "case-not-mapping",
        "jsonl-case-not-object", "unknown-fields", "missing-id", "duplicate-id", "no-question", "blank-question",
        "blank-turn", "non-string-turn", "no-expectation", "empty-expectation"])
def test_bad_gold_files_raise_one_line_errors(tmp_path, name, text, message):
    path = tmp_path / name
    if text is not None:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(GoldFileError) as info:
        load_gold(path)
    assert isinstance(info.value, AssistantError)
    error = str(info.value)
    assert "\n" not in error
    expected = message.format(path=path)
    if expected.endswith(": "):  # the parser's own words follow
        assert error.startswith(expected) and len(error) > len(expected)
    else:
        assert error == expected


@pytest.mark.parametrize(("name", "text"), [
    ("gold.jsonl", '{"id": "a", "question": "q", "refuse": true}\n{"id": "b", "question": "q", "refuse": true}\n'
                   '{"id": b}\n'),
    ("gold.yaml", "- id: a\n  question: q\n  refuse: true\n- id: b\n  question: [unclosed\n"),
], ids=["jsonl", "yaml"])
def test_syntax_errors_say_on_which_line(tmp_path, name, text):
    """BUG: a JSONL error says "line 1" (each line is parsed on its own) when line 3 is wrong,
    and a YAML error keeps only "while parsing ..." and drops the position."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(GoldFileError) as info:
        load_gold(path)
    error = str(info.value)
    assert "\n" not in error
    # JSONL: the third line; YAML: where the bad value starts (5) or where the parser gave up (6)
    wrong_line = "3" if name.endswith(".jsonl") else "[56]"
    assert re.search(rf"\bline {wrong_line}\b", error), error


def test_an_empty_gold_file_is_an_error(tmp_path):
    """BUG: an empty gold file gives zero cases; `assistant eval` then reports "0/0 cases passed" with
    exit 0, and `--report` crashes formatting an accuracy of None."""
    path = tmp_path / "gold.yaml"
    path.write_text("# nothing yet\n", encoding="utf-8")
    with pytest.raises(GoldFileError):
        load_gold(path)


@pytest.mark.parametrize(("field", "value", "as_list"), [
    ("turns", "Why?", ("Why?",)),
    ("expect_any", "Marta Olsen", ("Marta Olsen",)),
    ("expect_all", "Marta Olsen", ("Marta Olsen",)),
    ("sources", "bakery.txt", ("bakery.txt",)),
    ("tags", "name", ("name",)),
])
def test_a_string_where_a_list_belongs_is_not_split_into_characters(tmp_path, field, value, as_list):
    """BUG: `expect_any: Marta Olsen` (a common YAML slip) becomes ('M', 'a', 'r', ...), so a wrong
    answer with any one-letter word passes. Either read it as a one-item list or say it must be a list."""
    case = {"id": "a", "question": "Who opened the Crumb bakery?", "expect_any": ["Marta"], field: value}
    path = tmp_path / "gold.yaml"
    path.write_text(yaml.safe_dump([case]), encoding="utf-8")
    try:
        [loaded] = load_gold(path)
    except GoldFileError as exc:  # also acceptable: a one-line error naming the field
        assert field in str(exc) and "\n" not in str(exc)
        return
    assert getattr(loaded, field) == as_list


# ------------------------------------------------------------------ score_case


def test_a_right_answer_passes():
    case = one_case("founder", expect_any=["Marta Olsen", "Olsen"], sources=["bakery.txt"], tags=["name"])
    result = score_case(case, answer(f"{FOUNDER} [1]", cite("bakery.txt", FOUNDER),
                                     retrieved=("rivers.txt", "bakery.txt")), latency_s=0.25)
    assert result == CaseResult(
        id="founder", question="Who opened the Crumb bakery?", passed=True, answer=f"{FOUNDER} [1]", refused=False,
        expected_refusal=False, answer_correct=True, citation_correct=True, source_rank=2, words=8, latency_s=0.25,
        tags=["name"], cited=["bakery.txt"], why="", sources=["bakery.txt"], first_piece_s=0.25, locations=[""],
    )


def test_a_wrong_answer_fails_and_says_why():
    case = one_case("river-fish", "What do fishermen catch?", expect_any=["brown trout"], sources=["rivers.txt"])
    result = score_case(case, answer(f"{RIVER} [1]", cite("rivers.txt", RIVER), retrieved=("rivers.txt",)))
    assert asdict(result) == {
        "id": "river-fish", "question": "What do fishermen catch?", "passed": False, "answer": f"{RIVER} [1]",
        "refused": False, "expected_refusal": False, "answer_correct": False, "citation_correct": True,
        "source_rank": 1, "words": 9, "latency_s": 0.0, "tags": [], "cited": ["rivers.txt"],
        "why": "expected text missing from the answer", "sources": ["rivers.txt"],
        "first_piece_s": 0.0, "generated_sentences": 0, "dropped_sentences": 0, "locations": [""],
    }


@pytest.mark.parametrize(("expect_any", "expect_all", "passed"), [
    ([], ["Kestrel", "4 March 2021", "Andøya"], True),
    ([], ["Kestrel", "5 March 2021"], False),           # one of all is missing
    (["Falcon", "Kestrel"], [], True),                  # one of any is enough
    (["Falcon", "Eagle"], [], False),
    (["Kestrel"], ["Andøya", "2021"], True),           # both kinds together
    (["Kestrel"], ["Andøya", "2022"], False),
    (["Falcon"], ["Andøya", "2021"], False),
])
def test_expect_any_and_expect_all(expect_any, expect_all, passed):
    case = one_case(question="When was the Kestrel launched?", expect_any=expect_any, expect_all=expect_all)
    result = score_case(case, answer(f"{LAUNCH} [1]", cite("rocket.txt", LAUNCH)))
    assert (result.passed, result.answer_correct, result.why) == (
        passed, passed, "" if passed else "expected text missing from the answer")


def test_a_refusal_where_one_is_expected_passes():
    case = one_case("capital", "What is the capital of France?", refuse=True, tags=["unanswerable"])
    result = score_case(case, refused(retrieved=("rivers.txt",)), latency_s=0.01)
    assert result == CaseResult(
        id="capital", question="What is the capital of France?", passed=True, answer=REFUSAL_TEXT, refused=True,
        expected_refusal=True, answer_correct=True, citation_correct=None, source_rank=None, words=0,
        latency_s=0.01, tags=["unanswerable"], cited=[], why="", first_piece_s=0.01,
    )


def test_an_answer_where_a_refusal_is_expected_fails():
    case = one_case("capital", "What is the capital of France?", refuse=True)
    result = score_case(case, answer(f"{FOUNDER} [1]", cite("bakery.txt", FOUNDER)))
    assert (result.passed, result.refused, result.answer_correct, result.citation_correct, result.words, result.why) == (
        False, False, False, None, 8, "answered a question the documents cannot answer")


def test_a_refusal_of_an_answerable_question_fails():
    case = one_case("founder", expect_any=["Marta Olsen"], sources=["bakery.txt"])
    result = score_case(case, refused(retrieved=("rivers.txt", "rocket.txt", "bakery.txt")))
    assert (result.passed, result.refused, result.answer_correct, result.citation_correct, result.source_rank,
            result.words, result.why) == (False, True, False, False, 3, 0, "refused an answerable question")


@pytest.mark.parametrize("source", ["bakery.txt", "bakery", "notes/bakery.txt"])
def test_the_expected_source_may_be_named_by_id_file_name_or_stem(source):
    case = one_case(expect_any=["Marta Olsen"], sources=[source])
    result = score_case(case, answer(f"{FOUNDER} [1]", cite("notes/bakery.txt", FOUNDER),
                                     retrieved=("rocket.txt", "notes/bakery.txt")))
    assert (result.passed, result.citation_correct, result.source_rank, result.cited) == (
        True, True, 2, ["notes/bakery.txt"])


def test_a_right_answer_citing_the_wrong_source_fails():
    case = one_case(expect_any=["Marta Olsen"], sources=["bakery.txt"])
    result = score_case(case, answer(f"{FOUNDER} [1]", cite("copy-of-bakery.txt", FOUNDER),
                                     retrieved=("copy-of-bakery.txt",)))
    assert (result.passed, result.answer_correct, result.citation_correct, result.source_rank, result.why) == (
        False, True, False, None, "expected source not cited")


def test_one_of_several_citations_naming_the_source_is_enough():
    case = one_case(expect_any=["Marta Olsen"], sources=["bakery.txt", "history.txt"])
    text = f"{RIVER} [1] {FOUNDER} [2]"
    result = score_case(case, answer(text, cite("rivers.txt", RIVER), cite("bakery.txt", FOUNDER, 2)))
    assert (result.passed, result.citation_correct, result.cited, result.words) == (
        True, True, ["rivers.txt", "bakery.txt"], 17)


@pytest.mark.parametrize(("quote", "citation_correct"), [(FOUNDER, True), (RIVER, False)])
def test_without_sources_a_citation_is_correct_when_its_quote_holds_the_answer(quote, citation_correct):
    case = one_case(expect_any=["Marta Olsen"])
    result = score_case(case, answer("Marta Olsen did. [1]", cite("bakery.txt", quote)))
    assert (result.answer_correct, result.citation_correct, result.passed, result.source_rank) == (
        True, citation_correct, citation_correct, None)


def test_every_failing_case_says_why():
    """BUG: a right answer whose cited quote does not hold the answer (and no `sources`) fails with
    why == "", so `assistant eval` prints an empty "why:" line."""
    case = one_case(expect_any=["Marta Olsen"])
    result = score_case(case, answer("Marta Olsen did. [1]", cite("rivers.txt", RIVER)))
    assert not result.passed
    assert result.why != ""


def test_word_count_leaves_out_citation_markers():
    text = "Marta Olsen opened it. [1] She sells rye bread. [2] [3]"
    result = score_case(one_case(expect_any=["Marta"]), answer(text, cite("bakery.txt", "Marta Olsen opened it.")))
    assert result.words == 8


def test_citation_markers_are_not_part_of_the_answer():
    """BUG: contains() is run on the text with its [n] markers, so expecting "1" or "2" (how many stages
    failed?) passes for any answer with one or two citations."""
    case = one_case(question="How many stages failed?", expect_any=["2"])
    text = f"{LAUNCH} [1] Engineers blamed a valve. [2]"
    result = score_case(case, answer(text, cite("rocket.txt", LAUNCH), cite("rocket.txt", "Engineers blamed a valve.", 2)))
    assert (result.passed, result.answer_correct) == (False, False)


# ------------------------------------------------------------------ metrics


def hand_built_results() -> list[CaseResult]:
    """Five judged cases: right, wrong (wrong source), refused rightly, answered wrongly, refused wrongly."""
    founder = one_case("founder", expect_any=["Marta Olsen"], sources=["bakery.txt"])
    capital = one_case("capital", "What is the capital of France?", refuse=True)
    launch = one_case("launch", expect_any=["Kestrel"], sources=["rocket.txt"])
    return [
        score_case(founder, answer(f"{FOUNDER} [1]", cite("bakery.txt", FOUNDER), retrieved=("bakery.txt",)), 0.1),
        score_case(replace(founder, id="wrong"), answer(f"{RIVER} [1]", cite("rivers.txt", RIVER),
                                                        retrieved=("rivers.txt", "bakery.txt")), 0.2),
        score_case(capital, refused(), 0.3),
        score_case(replace(capital, id="overeager"), answer(f"{FOUNDER} [1]", cite("bakery.txt", FOUNDER)), 0.5),
        score_case(launch, refused(retrieved=("a", "b", "c", "d", "e", "rocket.txt")), 0.4),
    ]


def test_metrics_of_hand_built_results():
    results = hand_built_results()
    assert [(r.id, r.passed, r.refused, r.citation_correct, r.source_rank, r.words) for r in results] == [
        ("founder", True, False, True, 1, 8),
        ("wrong", False, False, False, 2, 9),
        ("capital", True, True, None, None, 0),
        ("overeager", False, False, None, None, 8),
        ("launch", False, True, False, 6, 0),
    ]
    assert metrics(results) == {
        "cases": 5,
        "passed": 2,
        "accuracy": 0.4,
        "answer_accuracy": 0.3333,     # founder of founder, wrong, launch
        "refusal_precision": 0.5,      # capital of capital, launch
        "refusal_recall": 0.5,         # capital of capital, overeager
        "false_refusals": 1,           # launch
        "citation_precision": 0.5,     # founder of founder, wrong (refused and unanswerable cases left out)
        "hit@5": 0.6667,               # ranks 1, 2, 6
        "mrr": 0.5556,                 # (1 + 1/2 + 1/6) / 3
        "median_words": 8,             # 8, 9, 8 (refusals left out)
        "latency_p50_s": 0.3,
        "latency_p95_s": 0.5,
        "first_piece_p50_s": 0.3,      # extractive: the first piece comes with the answer
        "dropped_share": None,         # no generated sentences
    }


def test_hit_at_k_follows_k():
    assert metrics(hand_built_results(), k=1)["hit@1"] == 0.3333
    assert metrics(hand_built_results(), k=6)["hit@6"] == 1.0


def test_metrics_of_nothing():
    assert metrics([]) == {
        "cases": 0, "passed": 0, "accuracy": None, "answer_accuracy": None, "refusal_precision": None,
        "refusal_recall": None, "false_refusals": 0, "citation_precision": None, "hit@5": None, "mrr": None,
        "median_words": 0, "latency_p50_s": 0.0, "latency_p95_s": 0.0, "first_piece_p50_s": 0.0,
        "dropped_share": None,
    }


@pytest.mark.parametrize(("other", "expected"), [
    # an answerable case that gives no sources has nothing to rank: it must not count as a miss
    (score_case(one_case("no-sources", expect_any=["Marta Olsen"]),
                answer(f"{FOUNDER} [1]", cite("bakery.txt", FOUNDER), retrieved=("bakery.txt",))),
     {"hit@5": 1.0, "mrr": 1.0}),
    # a case that gives sources none of which was retrieved (and so refused) is a miss
    (score_case(one_case("missed", expect_any=["Kestrel"], sources=["rocket.txt"]), refused(retrieved=("bakery.txt",))),
     {"hit@5": 0.5, "mrr": 0.5}),
], ids=["case-without-sources", "sources-not-retrieved"])
def test_hit_at_k_and_mrr_count_exactly_the_cases_that_give_sources(other, expected):
    """BUG: metrics() counts "has citations or a rank" instead of "gives sources": cases without
    `sources` dilute hit@k/MRR, and a case whose sources were never retrieved is left out."""
    founder = score_case(one_case("founder", expect_any=["Marta Olsen"], sources=["bakery.txt"]),
                         answer(f"{FOUNDER} [1]", cite("bakery.txt", FOUNDER), retrieved=("bakery.txt",)))
    m = metrics([founder, other])
    assert {"hit@5": m["hit@5"], "mrr": m["mrr"]} == expected


# ------------------------------------------------------------------ evaluate


def test_evaluate_runs_every_case_through_the_bot(fake_bot, gold_file):
    calls = []
    result = evaluate(fake_bot, load_gold(gold_file), progress=lambda i, n, case: calls.append((i, n, case.id, case.passed)))
    assert {k: v for k, v in result.metrics.items() if k not in LATENCY_KEYS} == GOLD_METRICS
    assert all(isinstance(result.metrics[k], float) and result.metrics[k] >= 0 for k in LATENCY_KEYS)
    assert calls == [(1, 5, "founder", True), (2, 5, "launch", True), (3, 5, "opened-when", True),
                     (4, 5, "capital", True), (5, 5, "river-fish", False)]
    assert [(c.id, c.question, c.passed, c.answer, c.refused, c.source_rank, c.words, c.cited, c.why)
            for c in result.cases] == [
        ("founder", "Who opened the Crumb bakery?", True, f"{FOUNDER} [1]", False, 1, 8, ["bakery.txt"], ""),
        ("launch", "When was the Kestrel rocket launched?", True, f"{LAUNCH} [1]", False, 1, 11, ["rocket.txt"], ""),
        ("opened-when", "When did she open it?", True, f"{FOUNDER} [1]", False, 1, 8, ["bakery.txt"], ""),
        ("capital", "What is the capital of France?", True, "The documents don't mention France.", True, None, 0, [],
         ""),
        ("river-fish", "What do fishermen catch in the Alder river?", False, f"{RIVER} [1]", False, 1, 9,
         ["rivers.txt"], "expected text missing from the answer"),
    ]
    assert [c.id for c in result.failures] == ["river-fish"]
    assert list(result.by_tag) == ["date", "fact", "multiturn", "name", "unanswerable"]
    assert {tag: (m["cases"], m["accuracy"]) for tag, m in result.by_tag.items()} == {
        "date": (2, 1.0), "fact": (1, 0.0), "multiturn": (1, 1.0), "name": (1, 1.0), "unanswerable": (1, 1.0),
    }
    assert result.by_tag["unanswerable"]["refusal_recall"] == 1.0
    assert json.loads(json.dumps(result.to_dict())) == result.to_dict()
    assert set(result.to_dict()) == {"metrics", "by_tag", "cases"}


def test_evaluate_asks_every_turn_of_a_conversation_in_one_chat(fake_bot, monkeypatch):
    from assistant.core import Chat

    asked = []
    original_ask, original_stream = Chat.ask, Chat.stream

    def spy_ask(self, question):
        asked.append((self, question))  # the chat itself: an id() could be reused
        return original_ask(self, question)

    def spy_stream(self, question):  # the scored (last) turn is streamed, to time its first piece
        asked.append((self, question))
        return original_stream(self, question)

    monkeypatch.setattr(Chat, "ask", spy_ask)
    monkeypatch.setattr(Chat, "stream", spy_stream)
    evaluate(fake_bot, [GOLD_CASES[0], GOLD_CASES[2]])
    assert [q for _, q in asked] == ["Who opened the Crumb bakery?",
                                     "Who opened the Crumb bakery?", "When did she open it?"]
    assert asked[1][0] is asked[2][0] and asked[0][0] is not asked[1][0]  # the conversation shares one chat; each case gets a new one


def test_evaluate_reads_a_gold_file_path(fake_bot, gold_file):
    by_path = evaluate(fake_bot, str(gold_file))
    assert [(c.id, c.passed) for c in by_path.cases] == [(c.id, c.passed) for c in evaluate(fake_bot, GOLD_CASES).cases]


def test_evaluate_uses_the_bot_top_k_for_hit_at_k(docs_dir, fake_settings):
    from assistant import Assistant

    bot = Assistant.from_folder(docs_dir, settings=fake_settings, top_k=2)
    assert evaluate(bot, GOLD_CASES[:1]).metrics["hit@2"] == 1.0


# ------------------------------------------------------------------ runs and baselines


@pytest.fixture
def run_result(fake_bot):
    return evaluate(fake_bot, GOLD_CASES)


def test_save_run_and_load_run(run_result, tmp_path):
    path = tmp_path / "run.json"
    save_run(run_result, path, gold="gold.yaml", docs="docs")
    assert load_run(path) == {"info": {"gold": "gold.yaml", "docs": "docs"}, **json.loads(json.dumps(run_result.to_dict()))}
    assert "Andøya" in path.read_text(encoding="utf-8")  # readable UTF-8, not \u escapes


def test_a_run_compared_with_itself_has_no_changes(run_result, tmp_path):
    save_run(run_result, tmp_path / "run.json")
    comparison = compare(run_result, load_run(tmp_path / "run.json"))
    assert comparison == Comparison(worse=[], better=[], missing=[], metric_deltas={
        k: 0 for k, v in run_result.metrics.items() if isinstance(v, (int, float))},
        same=[c.id for c in run_result.cases], new=[])
    assert {comparison.change(c.id) for c in run_result.cases} == {"same"}


def test_compare_lists_worse_and_better_cases_with_both_answers(run_result, tmp_path):
    save_run(run_result, tmp_path / "run.json")
    baseline = load_run(tmp_path / "run.json")
    by_id = {c["id"]: c for c in baseline["cases"]}
    by_id["river-fish"].update(passed=True, answer="Brown trout. [1]")
    by_id["founder"].update(passed=False, answer="The documents don't say.")
    baseline["cases"].append({**by_id["capital"], "id": "retired"})
    baseline["metrics"]["accuracy"] = 0.6
    comparison = compare(run_result, baseline)
    assert comparison.worse == [{
        "id": "river-fish", "question": "What do fishermen catch in the Alder river?",
        "before": "Brown trout. [1]", "after": f"{RIVER} [1]", "why": "expected text missing from the answer",
    }]
    assert comparison.better == [{
        "id": "founder", "question": "Who opened the Crumb bakery?",
        "before": "The documents don't say.", "after": f"{FOUNDER} [1]", "why": "",
    }]
    assert comparison.missing == ["retired"]
    assert comparison.metric_deltas["accuracy"] == 0.2
    assert comparison.metric_deltas["cases"] == 0
    assert {c.id: comparison.change(c.id) for c in run_result.cases} == {
        c.id: {"river-fish": "worse", "founder": "better"}.get(c.id, "same") for c in run_result.cases}
    del baseline["cases"][0]
    assert compare(run_result, baseline).change(run_result.cases[0].id) == "new"


@pytest.mark.parametrize(("text", "message"), [
    (None, "cannot read baseline run {path} (No such file or directory)"),
    ("{not json", "baseline run {path} is not JSON; make one with `assistant eval GOLD --out RUN.json`"),
    ('{"metrics": {}}', "baseline run {path} has no cases/metrics; make one with `assistant eval --out`"),
    ("[1, 2]", "baseline run {path} has no cases/metrics; make one with `assistant eval --out`"),
    ("null", "baseline run {path} has no cases/metrics; make one with `assistant eval --out`"),
    ("5", "baseline run {path} has no cases/metrics; make one with `assistant eval --out`"),
    ('"cases and metrics"', "baseline run {path} has no cases/metrics; make one with `assistant eval --out`"),
], ids=["missing", "not-json", "no-cases", "a-list", "null", "a-number", "a-string"])
def test_load_run_errors(tmp_path, text, message):
    """null, a number and a string are BUGS today: TypeError (an internal error in the CLI), or a string
    accepted as a run because `"cases" in "cases and metrics"` is a substring test."""
    path = tmp_path / "run.json"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(GoldFileError) as info:
        load_run(path)
    assert str(info.value) == message.format(path=path)


# ------------------------------------------------------------------ pytest helpers


def test_gold_params_are_named_by_id(gold_file):
    params = gold_params(gold_file)
    assert [(p.id, p.values, list(p.marks)) for p in params] == [(c.id, (c,), []) for c in GOLD_CASES]


def test_cases_that_fail_in_the_baseline_are_strict_xfails(gold_file, run_result, tmp_path):
    save_run(run_result, tmp_path / "baseline.json")
    params = gold_params(gold_file, baseline=tmp_path / "baseline.json")
    assert [p.id for p in params] == [c.id for c in GOLD_CASES]
    marked = {p.id: [(m.name, m.kwargs) for m in p.marks] for p in params if p.marks}
    assert marked == {"river-fish": [("xfail", {"strict": True, "reason": "fails in the baseline run"})]}


def test_check_case_returns_the_result_of_a_passing_case(fake_bot):
    result = check_case(fake_bot, GOLD_CASES[2])
    assert (result.id, result.passed, result.answer) == ("opened-when", True, f"{FOUNDER} [1]")


@pytest.mark.parametrize(("case", "message"), [
    (GOLD_CASES[4],
     "river-fish: expected text missing from the answer\n"
     "  question: What do fishermen catch in the Alder river?\n"
     "  expected: any of ['brown trout']\n"
     f"  answer:   {RIVER} [1]"),
    (GoldCase("paris", ("Who opened the Crumb bakery?",), refuse=True),
     "paris: answered a question the documents cannot answer\n"
     "  question: Who opened the Crumb bakery?\n"
     "  expected: a refusal\n"
     f"  answer:   {FOUNDER} [1]"),
    (GoldCase("both", ("Who opened the Crumb bakery?",), expect_any=("Marta",), expect_all=("Olsen", "1999")),
     "both: expected text missing from the answer\n"
     "  question: Who opened the Crumb bakery?\n"
     "  expected: any of ['Marta'] and all of ['Olsen', '1999']\n"
     f"  answer:   {FOUNDER} [1]"),
], ids=["wrong-answer", "not-refused", "expect-all"])
def test_check_case_fails_with_question_expectation_and_answer(fake_bot, case, message):
    with pytest.raises(AssertionError) as info:
        check_case(fake_bot, case)
    assert str(info.value) == message


def test_check_case_message_with_only_expect_all(fake_bot):
    """BUG (cosmetic): with no expect_any the message reads "expected: any of [] and all of [...]"."""
    case = GoldCase("all", ("Who opened the Crumb bakery?",), expect_all=("Olsen", "1999"))
    with pytest.raises(AssertionError) as info:
        check_case(fake_bot, case)
    assert "  expected: all of ['Olsen', '1999']\n" in str(info.value)


USER_TEST = """
import pytest
from assistant import Assistant
from assistant.evaluation import check_case, gold_params

@pytest.fixture(scope="module")
def bot(tmp_path_factory):
    return Assistant.from_folder("docs", index_dir=tmp_path_factory.mktemp("index"), embed_model="fake-hash",
                                 show_progress=False)

@pytest.mark.parametrize("case", gold_params("gold.yaml", baseline="baseline.json"))
def test_gold(bot, case):
    check_case(bot, case)
"""


def test_a_users_gold_file_runs_as_parametrised_tests(pytester, docs_dir, run_result):
    """The README recipe end to end, in-process: the known failure is an xfail, a regression fails by its id."""
    (pytester.path / "docs").mkdir()
    for doc in docs_dir.iterdir():
        (pytester.path / "docs" / doc.name).write_bytes(doc.read_bytes())
    write_yaml(pytester.path / "gold.yaml")
    # A name no other test module has (in-process runs share sys.modules); fake-hash is registered by conftest.py.
    pytester.makepyfile(test_users_gold_cases=USER_TEST)
    save_run(run_result, pytester.path / "baseline.json")

    outcome = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-rfx")
    outcome.assert_outcomes(passed=4, xfailed=1)
    outcome.stdout.fnmatch_lines(["XFAIL test_users_gold_cases.py::test_gold[[]river-fish[]]*"])

    baseline = json.loads(json.dumps(run_result.to_dict()))
    for case in baseline["cases"]:  # the baseline now says launch used to fail
        if case["id"] == "launch":
            case["passed"] = False
    (pytester.path / "baseline.json").write_text(json.dumps(baseline), encoding="utf-8")
    gold = pytester.path / "gold.yaml"  # and founder expects another name: a regression
    gold.write_text(gold.read_text(encoding="utf-8").replace("Marta Olsen", "Marta Olsson"), encoding="utf-8")
    outcome = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-rfx")
    outcome.assert_outcomes(failed=2, passed=2, xfailed=1)
    outcome.stdout.fnmatch_lines_random([
        "FAILED test_users_gold_cases.py::test_gold[[]founder[]]*",
        "FAILED test_users_gold_cases.py::test_gold[[]launch[]]*",  # a strict xfail that passes fails, and says so
    ])


# ------------------------------------------------------------------ assistant eval


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    """Run from an empty folder so no assistant.toml of the developer's is picked up."""
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)


def eval_cli(capsys, gold: Path, docs: Path, index: Path, *extra: str) -> tuple[int, str, str]:
    code = main(["eval", str(gold), "--model", "fake-hash", "--docs", str(docs), "--index", str(index), "--quiet",
                 *extra])
    out, err = capsys.readouterr()
    return code, out, err


SUMMARY = (
    "4/5 cases passed: accuracy 0.800, refusal precision 1.000 / recall 1.000, citation precision 1.000, "
    "hit@5 1.000, MRR 1.000, median 8.5 words, latency p50 N ms\n"
    "  date             2 cases  accuracy 1.000\n"
    "  fact             1 case   accuracy 0.000\n"
    "  multiturn        1 case   accuracy 1.000\n"
    "  name             1 case   accuracy 1.000\n"
    "  unanswerable     1 case   accuracy 1.000\n"
)


def without_latency(text: str) -> str:
    return re.sub(r"latency p50 \d+ ms", "latency p50 N ms", text)


def test_eval_prints_the_summary(capsys, gold_file, docs_dir, tmp_path):
    code, out, err = eval_cli(capsys, gold_file, docs_dir, tmp_path / "index")
    assert (code, without_latency(out), err) == (0, SUMMARY, "")


def test_eval_reads_jsonl(capsys, docs_dir, tmp_path):
    code, out, err = eval_cli(capsys, write_jsonl(tmp_path / "gold.jsonl"), docs_dir, tmp_path / "index")
    assert (code, without_latency(out), err) == (0, SUMMARY, "")


def test_eval_shows_progress_and_why_a_case_fails(capsys, gold_file, docs_dir, tmp_path):
    code = main(["eval", str(gold_file), "--model", "fake-hash", "--docs", str(docs_dir),
                 "--index", str(tmp_path / "index")])
    out, err = capsys.readouterr()
    assert code == 0
    progress = [line for line in err.splitlines() if line.startswith(("[", "      "))]
    assert progress == [
        "[1/5] ok   founder",
        "[2/5] ok   launch",
        "[3/5] ok   opened-when",
        "[4/5] ok   capital",
        "[5/5] FAIL river-fish",
        "      question: What do fishermen catch in the Alder river?",
        "      why:      expected text missing from the answer",
        f"      answer:   {RIVER} [1]",
    ]
    assert without_latency(out) == SUMMARY


def test_eval_against_its_own_run_has_no_regressions(capsys, gold_file, docs_dir, tmp_path):
    run_json = tmp_path / "run.json"
    code, out, err = eval_cli(capsys, gold_file, docs_dir, tmp_path / "index", "--out", str(run_json))
    assert (code, err) == (0, "")
    assert load_run(run_json)["info"] == {"gold": str(gold_file), "docs": str(docs_dir)}
    code, out, err = eval_cli(capsys, gold_file, docs_dir, tmp_path / "index", "--baseline", str(run_json))
    assert (code, err) == (0, "")
    assert without_latency(out) == SUMMARY + "0 cases worse than the baseline\n0 cases better than the baseline\n"


@pytest.fixture
def regressed_baseline(capsys, gold_file, docs_dir, tmp_path) -> Path:
    """A baseline run in which river-fish (failing now) passed and founder (passing now) failed."""
    run_json = tmp_path / "run.json"
    assert eval_cli(capsys, gold_file, docs_dir, tmp_path / "index", "--out", str(run_json))[0] == 0
    data = json.loads(run_json.read_text(encoding="utf-8"))
    for case in data["cases"]:
        if case["id"] == "river-fish":
            case.update(passed=True, answer="Brown trout. [1]")
        if case["id"] == "founder":
            case.update(passed=False, answer="The documents don't say.")
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


COMPARISON = (
    "1 case worse than the baseline:\n"
    "  river-fish: What do fishermen catch in the Alder river?\n"
    "    before: Brown trout. [1]\n"
    f"    now:    {RIVER} [1]\n"
    "1 case better than the baseline:\n"
    "  founder: Who opened the Crumb bakery?\n"
    "    before: The documents don't say.\n"
    f"    now:    {FOUNDER} [1]\n"
)


def test_eval_fails_when_a_case_that_passed_in_the_baseline_fails(capsys, gold_file, docs_dir, tmp_path,
                                                                  regressed_baseline):
    code, out, err = eval_cli(capsys, gold_file, docs_dir, tmp_path / "index", "--baseline", str(regressed_baseline))
    assert code == EXIT_PARTIAL == 1
    assert without_latency(out) == SUMMARY + COMPARISON
    assert err == "error: cases that passed in the baseline fail now (--allow-regressions to accept)\n"


def test_eval_allow_regressions(capsys, gold_file, docs_dir, tmp_path, regressed_baseline):
    code, out, err = eval_cli(capsys, gold_file, docs_dir, tmp_path / "index", "--baseline", str(regressed_baseline),
                              "--allow-regressions")
    assert (code, without_latency(out), err) == (0, SUMMARY + COMPARISON, "")


@pytest.mark.parametrize(("minimum", "code", "error"), [
    ("0.8", 0, ""),
    ("0.5", 0, ""),
    ("1.0", 1, "error: accuracy 0.800 is below --min-accuracy 1.0\n"),
    ("0.81", 1, "error: accuracy 0.800 is below --min-accuracy 0.81\n"),
])
def test_eval_min_accuracy(capsys, gold_file, docs_dir, tmp_path, minimum, code, error):
    assert eval_cli(capsys, gold_file, docs_dir, tmp_path / "index", "--min-accuracy", minimum)[::2] == (code, error)


@pytest.fixture
def no_model(monkeypatch):
    """Fail the test if the CLI gets as far as loading the index and the model."""
    from assistant.core import Assistant

    loaded = []

    def from_folder(*args, **kwargs):
        loaded.append(args)
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(Assistant, "from_folder", from_folder)
    return loaded


def assert_one_line_error(code: int, out: str, err: str) -> str:
    assert code == EXIT_USER_ERROR == 2
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.mark.parametrize("minimum", ["2", "-0.1"])
def test_eval_min_accuracy_out_of_range(capsys, gold_file, docs_dir, tmp_path, no_model, minimum):
    line = assert_one_line_error(*eval_cli(capsys, gold_file, docs_dir, tmp_path / "index", "--min-accuracy", minimum))
    assert line == f"error: --min-accuracy must be between 0 and 1, got {float(minimum)}"
    assert no_model == []


@pytest.mark.parametrize(("text", "fragment"), [
    (None, "cannot read gold file"),
    ("- id: a\n  question: [unclosed\n", "is not valid YAML"),
    ("- id: a\n  question: q\n", "needs expect_any, expect_all or refuse: true"),
])
def test_eval_bad_gold_file_fails_fast_with_one_line(capsys, docs_dir, tmp_path, no_model, text, fragment):
    gold = tmp_path / "bad.yaml"
    if text is not None:
        gold.write_text(text, encoding="utf-8")
    line = assert_one_line_error(*eval_cli(capsys, gold, docs_dir, tmp_path / "index"))
    assert fragment in line and str(gold) in line
    assert no_model == []


def test_eval_bad_baseline_fails_fast_with_one_line(capsys, gold_file, docs_dir, tmp_path, no_model):
    baseline = tmp_path / "run.json"
    baseline.write_text("{not json", encoding="utf-8")
    line = assert_one_line_error(*eval_cli(capsys, gold_file, docs_dir, tmp_path / "index", "--baseline", str(baseline)))
    assert line == f"error: baseline run {baseline} is not JSON; make one with `assistant eval GOLD --out RUN.json`"
    assert no_model == []


@pytest.mark.parametrize("suffix", [".md", ".html"])
def test_eval_report(capsys, gold_file, docs_dir, tmp_path, suffix):
    report = tmp_path / f"r{suffix}"
    code, out, err = eval_cli(capsys, gold_file, docs_dir, tmp_path / "index", "--report", str(report))
    assert (code, err) == (0, "")
    assert without_latency(out) == f"report: {report}\n" + SUMMARY
    assert report.read_text(encoding="utf-8").count("Failing cases (1)") == 1
    assert (tmp_path / "r.png").read_bytes().startswith(PNG_HEADER)


def test_eval_summary_names_the_hit_at_k_it_measured(capsys, gold_file, docs_dir, tmp_path):
    """BUG: metrics are keyed hit@{top_k}, but the summary (and the report's METRIC_LABELS) look up
    hit@5 only, so `--top-k 3` prints "hit@5 n/a"."""
    code, out, err = eval_cli(capsys, gold_file, docs_dir, tmp_path / "index", "--top-k", "3")
    assert (code, err) == (0, "")
    assert "hit@3 1.000" in out.splitlines()[0]
