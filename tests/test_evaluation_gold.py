"""Gold files grown from use (assistant/evaluation_gold.py): feedback made into cases, and the file kept whole
by many writers, crashes and bad input; ``assistant gold`` and ``assistant eval`` without a file or with
``--compare``. Fake embedding models; real threads and processes for the writers.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakes import at_once

from assistant import Answer, Citation
from assistant.cli import main
from assistant.config import parse_overrides
from assistant.errors import ConfigError
from assistant.evaluation import (GoldCase, GoldFileError, check_case, evaluate, evaluate_side_by_side, gold_params,
                                  load_gold)
from assistant.evaluation_gold import (GoldFile, baseline_path, case_from_answer, case_to_dict, key_words,
                                       read_cases, split_words)
from assistant.reports import write_comparison_report

REPO = Path(__file__).resolve().parent.parent
SEED_GOLD = REPO / "tests" / "gold" / "seed.yaml"
RIFLES = "How many AK-203 rifles will India buy?"
CONTRACT = ("India on Monday signed a contract with Russia to procure 6,01,427 AK-203 assault rifles under the "
            "Indo-Russia Rifles Private Limited Program for military-technical cooperation, reported ANI.")


def cited(quote: str, doc_id: str = "summit.txt", span: tuple[int, int] | None = None, number: int = 1) -> Citation:
    return Citation(number=number, doc_id=doc_id, title="Summit", quote=quote, start=0, end=len(quote), score=0.9,
                    span_start=span[0] if span else None, span_end=span[1] if span else None)


def answered(question: str, *citations: Citation, query: str = "", kind: str = "fact") -> Answer:
    text = " ".join(f"{c.quote} [{c.number}]" for c in citations)
    return Answer(text=text, citations=list(citations), question=question, query=query or question, kind=kind)


def refused(question: str) -> Answer:
    return Answer(text="The documents don't say.", refused=True, question=question, query=question)


def case(question: str, *expect: str, **fields) -> GoldCase:
    return GoldCase(id=fields.pop("id", "x"), turns=(question,), expect_any=expect, **fields)


# ------------------------------------------------------------------ feedback into a case


def test_a_thumbs_up_keeps_the_short_answer_and_the_cited_document():
    answer = answered(RIFLES, cited(CONTRACT, span=(CONTRACT.index("6,01,427"), CONTRACT.index("6,01,427") + 8)))
    assert case_from_answer(answer, "right") == GoldCase(
        id="ak-203-rifles-india-buy", turns=(RIFLES,), expect_any=("6,01,427",), sources=("summit.txt",),
        tags=("from-chat", "fact"))


def test_without_a_short_answer_the_key_words_are_the_quotes_new_numbers_then_names():
    # "AK-203" and "India" are the question's own words; 6,01,427 is the number it asks for
    assert key_words(answered(RIFLES, cited(CONTRACT))) == ("6,01,427",)
    quote = "The agreements came after Indian Defence Minister Rajnath Singh met his Russian counterpart General Sergey Shoigu."
    assert key_words(answered("Who was Rajnath Singh's Russian counterpart?", cited(quote))) == ("General Sergey Shoigu",)
    assert key_words(answered("Who met?", cited("Both leaders, Narendra Modi and Vladimir Putin, met."))) == (
        "Narendra Modi", "Vladimir Putin")
    # a quote that names nothing new: the quote itself is what must come back
    assert key_words(answered("What grows here?", cited("rye grows here."))) == ("rye grows here.",)


def test_edited_key_words_replace_the_drawn_ones():
    made = case_from_answer(answered(RIFLES, cited(CONTRACT)), "up", "6,01,427\n601427; six lakh")
    assert made.expect_any == ("6,01,427", "601427", "six lakh")
    assert split_words(" a ;; b\n\n a ") == ("a", "b") and split_words(None) == ()


def test_a_refusal_kept_as_right_and_an_answer_that_should_refuse_are_refuse_cases():
    question = "How much does one AK-203 rifle cost?"
    for made in (case_from_answer(refused(question), "right"), case_from_answer(answered(question, cited(CONTRACT)),
                                                                               "should-refuse")):
        assert made == GoldCase(id="one-ak-203-rifle-cost", turns=(question,), refuse=True, tags=("from-chat", "fact"))


def test_a_thumbs_down_needs_the_right_answer_in_a_few_words():
    wrong = answered("What did Shoigu predict?", cited("Shoigu said the ties are important."))
    made = case_from_answer(wrong, "down", "regional security")
    assert (made.expect_any, made.sources, made.refuse) == (("regional security",), (), False)
    with pytest.raises(GoldFileError, match="^type the right answer in a few words, or choose that it should refuse$"):
        case_from_answer(wrong, "wrong", "  ")
    with pytest.raises(GoldFileError, match="^type the answer it should have given, in a few words$"):
        case_from_answer(refused("Which outlet is credited?"), "down", "")
    assert case_from_answer(refused("Which outlet is credited?"), "should-answer", "ANI").expect_any == ("ANI",)
    with pytest.raises(GoldFileError, match="the verdict must be one of right, wrong, should-refuse, should-answer"):
        case_from_answer(wrong, "maybe", "x")


def test_a_follow_up_keeps_its_conversation_and_a_question_of_its_own_does_not():
    follow_up = answered("Who was his Russian counterpart?", cited("Sergey Shoigu met him."),
                         query="Who is India's defence minister? Who was his Russian counterpart?")
    made = case_from_answer(follow_up, "right", history=["Who is India's defence minister?"])
    assert made.turns == ("Who is India's defence minister?", "Who was his Russian counterpart?")
    alone = case_from_answer(answered(RIFLES, cited(CONTRACT)), "right", history=["Who is India's defence minister?"])
    assert alone.turns == (RIFLES,)


def test_gold_case_from_the_assistant_and_the_chat(fake_bot):
    chat = fake_bot.chat()
    chat.ask("Who opened the Crumb bakery?")
    made = chat.gold_case("right")
    assert made == fake_bot.gold_case(chat.turns[0][1], "right")
    assert (made.expect_any, made.sources, made.tags) == (("Marta Olsen",), ("bakery.txt",), ("from-chat", "fact"))
    with pytest.raises(Exception, match="nothing has been asked in this conversation yet"):
        fake_bot.chat().gold_case("right")


# ------------------------------------------------------------------ the file


def test_cases_saved_to_a_new_file_read_back_as_eval_reads_them(tmp_path):
    gold = GoldFile(tmp_path / "gold" / "seeds.yaml")
    assert gold.cases() == []
    first = gold.save(case(RIFLES, "6,01,427", id="rifles", sources=("summit.txt",), tags=("from-chat", "fact")))
    second = gold.save(GoldCase(id="counterpart", turns=("Who is India's defence minister?", "Who was his counterpart?"),
                                expect_any=("Shoigu",), tags=("from-chat", "fact")))
    assert load_gold(gold.path) == [first, second] == gold.cases()
    text = gold.path.read_text(encoding="utf-8")
    assert text.startswith("# A gold set:") and "- id: rifles\n  question: How many AK-203 rifles will India buy?\n" in text
    assert sorted(p.name for p in gold.path.parent.iterdir()) == [".seeds.yaml.lock", "seeds.yaml"]  # no temporary file


def test_the_same_question_again_updates_its_case_and_another_gets_an_id_of_its_own(tmp_path):
    gold = GoldFile(tmp_path / "gold.yaml")
    gold.save(case(RIFLES, "6,01,427", id="rifles"))
    again = gold.save(case("  how many AK-203 rifles will India BUY ", "601427", id="whatever"))
    assert again.id == "rifles" and again.expect_any == ("601427",)
    other = gold.save(case("How many AK-203 rifles will Russia sell?", "none", id="rifles"))
    assert other.id == "rifles-2"
    assert [(c.id, c.expect_any) for c in gold.cases()] == [("rifles", ("601427",)), ("rifles-2", ("none",))]
    saved, updated = gold.save_all([case(RIFLES, "x", id="a"), case("New?", "y", id="new")])
    assert (updated, [c.id for c in saved]) == (1, ["rifles", "new"])


def test_a_hand_written_gold_file_keeps_its_comments_and_layout(tmp_path):
    path = tmp_path / "seed.yaml"
    original = SEED_GOLD.read_text(encoding="utf-8")
    path.write_text(original, encoding="utf-8")
    gold = GoldFile(path)
    cases = gold.cases()
    middle = cases[20]
    gold.save(GoldCase(id="ignored", turns=middle.turns, expect_any=("changed",), tags=("from-chat",)))
    gold.save(case("A question of the chat?", "yes", id="chat-question"))
    text = path.read_text(encoding="utf-8")
    assert text.startswith(original.split(f"- id: {middle.id}\n")[0])  # everything before it, comments too
    assert original.split(f"- id: {cases[21].id}\n")[1] in text  # everything after it
    now = gold.cases()
    assert now[:20] == cases[:20] and now[21:-1] == cases[21:]
    assert (now[20].id, now[20].expect_any, now[-1].id) == (middle.id, ("changed",), "chat-question")
    gold.remove(middle.id)
    gold.remove("chat-question")
    assert gold.cases() == cases[:20] + cases[21:]
    assert "# ---------------------------------------------------------------- facts" in path.read_text(encoding="utf-8")


def test_a_jsonl_gold_file_is_written_as_jsonl(tmp_path):
    gold = GoldFile(tmp_path / "gold.jsonl")
    gold.save(case(RIFLES, "6,01,427", id="rifles"))
    gold.save(case("Who?", refuse=True, id="who"))
    gold.save(case(RIFLES, "601427", id="rifles"))
    lines = gold.path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [
        {"id": "rifles", "question": RIFLES, "expect_any": ["601427"]}, {"id": "who", "question": "Who?", "refuse": True}]
    assert gold.remove("rifles").id == "rifles" and [c.id for c in load_gold(gold.path)] == ["who"]


@pytest.mark.parametrize("text, message", [
    ("- id: [\n", "is not valid YAML: line 2"),
    ("{id: a}\n", "must hold a list of cases"),
    ("- id: a\n  question: Q?\n", "needs expect_any, expect_all or refuse: true"),
])
def test_a_gold_file_that_is_not_valid_is_left_exactly_as_it_is(tmp_path, text, message):
    path = tmp_path / "gold.yaml"
    path.write_text(text, encoding="utf-8")
    for change in (lambda g: g.save(case(RIFLES, "x")), lambda g: g.remove("a"), lambda g: g.cases()):
        with pytest.raises(GoldFileError, match=message) as caught:
            change(GoldFile(path))
        assert "\n" not in str(caught.value)
    assert path.read_text(encoding="utf-8") == text and sorted(p.name for p in tmp_path.iterdir()) == [
        ".gold.yaml.lock", "gold.yaml"]


def test_an_unknown_id_is_one_line_and_changes_nothing(tmp_path):
    gold = GoldFile(tmp_path / "gold.yaml")
    gold.save(case(RIFLES, "x", id="rifles"))
    before = gold.path.read_bytes()
    with pytest.raises(GoldFileError, match=r"^no case 'nope' in .*gold.yaml; `assistant gold list` shows the ids$"):
        gold.remove("nope")
    with pytest.raises(GoldFileError, match="no case 'nope'"):
        gold.get("nope")
    assert gold.path.read_bytes() == before


def test_a_write_that_fails_midway_leaves_the_file_as_it_was(tmp_path, monkeypatch):
    gold = GoldFile(tmp_path / "gold.yaml")
    gold.save(case(RIFLES, "x", id="rifles"))
    before = gold.path.read_bytes()

    def crash(*args):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        gold.save(case("Another?", "y"))
    assert gold.path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".gold.yaml.lock", "gold.yaml"]  # the temporary file went


WRITER = """
import sys
from assistant.evaluation import GoldCase
from assistant.evaluation_gold import GoldFile
gold, who, count = GoldFile(sys.argv[1]), sys.argv[2], int(sys.argv[3])
for i in range(count if count else 10**9):
    gold.save(GoldCase(id=f"{who}-{i}", turns=(f"Question {i} of writer {who}?",), expect_any=(f"answer {i}",)))
    print(i, flush=True)
"""


def writer(path: Path, who: str, count: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-c", WRITER, str(path), who, str(count)], stdout=subprocess.PIPE,
                            text=True, env=env)


def test_a_writer_killed_mid_write_loses_nothing_already_in_the_file(tmp_path):
    """SIGKILL at random moments of a writer that rewrites a 1,500-case file again and again: the file always
    parses, holds every case it held before, and each saved case after them in order."""
    gold = GoldFile(tmp_path / "gold.yaml")
    gold.save_all([case(f"Kept question {i}?", f"kept {i}", id=f"kept-{i}") for i in range(1500)])
    rng = random.Random(25)
    saved = 0
    for attempt in range(4):
        proc = writer(gold.path, f"w{attempt}", 0)
        assert proc.stdout.readline()  # it has saved once: the next writes are under way
        time.sleep(rng.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        cases = load_gold(gold.path)
        assert [c.id for c in cases[:1500]] == [f"kept-{i}" for i in range(1500)]
        mine = [c.id for c in cases[1500 + saved:]]
        assert mine and mine == [f"w{attempt}-{i}" for i in range(len(mine))]
        saved += len(mine)
    assert len(gold.cases()) == 1500 + saved


def test_processes_saving_at_once_lose_nothing(tmp_path):
    path = tmp_path / "gold.yaml"
    procs = [writer(path, f"p{n}", 25) for n in range(4)]
    for proc in procs:
        assert proc.wait(120) == 0
    cases = load_gold(path)
    assert sorted(c.id for c in cases) == sorted(f"p{n}-{i}" for n in range(4) for i in range(25))


def test_threads_saving_at_once_lose_nothing(tmp_path):
    gold = GoldFile(tmp_path / "gold.yaml")

    def save(n: int) -> None:
        for i in range(20):
            GoldFile(gold.path).save(case(f"Thread {n} question {i}?", "x", id="same-id"))
    assert at_once(save, 8) == []
    cases = load_gold(gold.path)  # also: every id once
    assert len(cases) == 160
    assert {c.question for c in cases} == {f"Thread {n} question {i}?" for n in range(8) for i in range(20)}


# ------------------------------------------------------------------ import and export


def test_import_a_csv_of_questions_and_answers(tmp_path):
    path = tmp_path / "cases.csv"
    path.write_text("question,answer,tags\n"
                    f'"{RIFLES}","6,01,427 | 601427",number | from-sheet\n'
                    "Who met Shoigu?,Rajnath Singh,\n", encoding="utf-8")
    cases = read_cases(path)
    assert [case_to_dict(c) for c in cases] == [
        {"id": "ak-203-rifles-india-buy", "question": RIFLES, "expect_any": ["6,01,427", "601427"],
         "tags": ["number", "from-sheet"]},
        {"id": "met-shoigu", "question": "Who met Shoigu?", "expect_any": ["Rajnath Singh"]}]


@pytest.mark.parametrize("name, content, message", [
    ("cases.csv", "q,a\nWho?,x\n", "cases.csv has no question column; its first line must name the columns, like "
                                   "question,answer"),
    ("cases.csv", "question,answer\nWho?,\n", "cases.csv, line 2: no answer; give the right answer in a few words, "
                                              "or refuse: true"),
    ("cases.csv", "question,answer\n", "cases.csv has no cases; add a line for each question"),
    ("cases.txt", "- id: a\n", "cases.txt is not a gold file; give a .yaml, .jsonl or .csv file"),
    ("cases.jsonl", '{"id": "a"\n', "is not valid JSONL: line 1"),
    ("big.yaml", "#" * (2 * 1024 * 1024), "gold file big.yaml is 2.0 MB, over the 1 MB limit (max_file_mb); split it "
                                          "into smaller files"),
])
def test_a_bad_file_to_import_is_one_clear_line(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(GoldFileError) as caught:
        read_cases(path, max_file_mb=1)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_export_as_csv_imports_back_as_the_same_cases(tmp_path):
    gold = GoldFile(tmp_path / "gold.yaml")
    gold.save_all([case(RIFLES, "6,01,427", "601427", id="rifles", sources=("summit.txt",), tags=("from-chat", "fact")),
                   GoldCase(id="follow", turns=("Who is the minister?", "Who was his counterpart?"),
                            expect_any=("Shoigu",)), case("Cost?", refuse=True, id="cost")])
    out = tmp_path / "out.csv"
    out.write_text(gold.export("csv"), encoding="utf-8")
    assert read_cases(out) == gold.cases()
    out = tmp_path / "out.jsonl"
    out.write_text(gold.export("jsonl"), encoding="utf-8")
    assert load_gold(out) == gold.cases()
    with pytest.raises(GoldFileError, match="export format must be one of yaml, jsonl, csv"):
        gold.export("xml")


# ------------------------------------------------------------------ saved from the chat, run by eval and pytest


def test_a_case_saved_from_the_chat_runs_unchanged_in_evaluate_and_in_pytest(fake_bot, tmp_path):
    chat = fake_bot.chat()
    chat.ask("Who opened the Crumb bakery?")
    gold = GoldFile(fake_bot.gold_file)
    gold.save(chat.gold_case("right"))
    chat.ask("What is the capital of Peru?")
    gold.save(chat.gold_case("right"))  # a refusal kept as right
    assert fake_bot.gold_file.is_relative_to(Path(os.environ["XDG_DATA_HOME"]))  # never the checkout
    result = evaluate(fake_bot, fake_bot.gold_file)
    assert (result.metrics["passed"], result.metrics["cases"]) == (2, 2)
    for param in gold_params(fake_bot.gold_file):
        check_case(fake_bot, param.values[0])


# ------------------------------------------------------------------ two settings over one index


def test_with_settings_answers_over_the_same_index_and_refuses_settings_of_the_index(fake_bot):
    assert fake_bot.with_settings() is fake_bot and fake_bot.with_settings(top_k=5) is fake_bot
    twin = fake_bot.with_settings(top_k=1, refusal_threshold=0.99)
    assert twin.settings.top_k == 1 and twin.snapshot is fake_bot.snapshot and twin.store is fake_bot.store
    assert twin.ask("Who opened the Crumb bakery?").refused and not fake_bot.ask("Who opened the Crumb bakery?").refused
    with pytest.raises(ConfigError, match="^chunk_size, embed_model cannot change over this index"):
        fake_bot.with_settings(chunk_size=100, embed_model="x")


def test_parse_overrides():
    assert parse_overrides("top_k=10, answer_mode=llm; reader = off") == {"top_k": 10, "answer_mode": "llm",
                                                                           "reader": "off"}
    assert parse_overrides("") == {} and parse_overrides("max-sentences=1") == {"max_sentences": 1}
    with pytest.raises(ConfigError, match="write each setting as name=value"):
        parse_overrides("top_k")
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        parse_overrides("colour=red")
    with pytest.raises(ConfigError, match="setting top_k must be a int, got 'ten'"):
        parse_overrides("top_k=ten")


def test_two_settings_side_by_side_list_the_cases_that_differ_first(fake_bot, tmp_path):
    cases = [case("What is the capital of Peru?", refuse=True, id="peru"),
             case("Who opened the Crumb bakery?", "Marta Olsen", id="bakery")]
    side = evaluate_side_by_side(fake_bot, cases, {}, {"refusal_threshold": 0.99})
    assert side.labels == ("as configured", "refusal_threshold=0.99")
    assert [(a.id, a.passed, b.passed) for a, b in side.pairs()] == [("bakery", True, False), ("peru", True, True)]
    assert [a.id for a, _ in side.differ()] == ["bakery"]
    for suffix in (".md", ".html"):
        report = write_comparison_report(side, tmp_path / f"cmp{suffix}").read_text(encoding="utf-8")
        assert "as configured" in report and "refusal_threshold=0.99" in report and "the answers differ in 1" in report
        assert report.index("bakery") < report.index("peru")
    assert (tmp_path / "cmp.png").stat().st_size > 1000


# ------------------------------------------------------------------ assistant gold, assistant eval


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def where(docs_dir, tmp_path, monkeypatch) -> list[str]:
    monkeypatch.chdir(tmp_path)
    return ["--docs", str(docs_dir), "--index", str(tmp_path / "index"), "--model", "fake-hash", "--quiet"]


def test_assistant_gold_lists_shows_imports_exports_and_removes(capsys, where, tmp_path):
    code, out, err = cli(capsys, "gold", "list", *where)
    assert code == 0 and out.startswith("no cases yet in ") and "gold" in out
    sheet = tmp_path / "cases.csv"
    sheet.write_text("question,answer\nWho opened the Crumb bakery?,Marta Olsen\nHow long is the Alder river?,120 "
                     "kilometres\n", encoding="utf-8")
    code, out, err = cli(capsys, "gold", "import", str(sheet), *where)
    assert (code, err) == (0, "") and out.startswith("imported 2 cases into ") and out.endswith(
        " (2 added, 0 updated); 2 cases in all\n")
    gold_path = Path(out.split(" into ")[1].split(" (")[0])
    assert gold_path.parent.name == "gold" and gold_path.is_relative_to(Path(os.environ["XDG_DATA_HOME"]))
    code, out, err = cli(capsys, "gold", "list", *where)
    assert out.splitlines() == ["opened-crumb-bakery  Who opened the Crumb bakery?  [Marta Olsen]",
                                "long-alder-river     How long is the Alder river?  [120 kilometres]",
                                f"2 cases in {gold_path}"]
    assert cli(capsys, "gold", "show", "long-alder-river", *where) == (
        0, "- id: long-alder-river\n  question: How long is the Alder river?\n  expect_any: [120 kilometres]\n", "")
    code, out, err = cli(capsys, "gold", "export", "--format", "jsonl", *where)
    assert [json.loads(line)["id"] for line in out.splitlines()] == ["opened-crumb-bakery", "long-alder-river"]
    assert cli(capsys, "gold", "rm", "long-alder-river", *where)[1] == (
        f"removed long-alder-river (How long is the Alder river?) from {gold_path}; 1 case left\n")
    code, out, err = cli(capsys, "gold", "rm", "long-alder-river", *where)
    assert (code, err) == (2, f"error: no case 'long-alder-river' in {gold_path}; `assistant gold list` shows the ids\n")
    before = gold_path.read_bytes()
    sheet.write_text("q,a\nx,y\n", encoding="utf-8")
    code, out, err = cli(capsys, "gold", "import", str(sheet), *where)
    assert (code, err) == (2, "error: cases.csv has no question column; its first line must name the columns, like "
                              "question,answer\n")
    assert gold_path.read_bytes() == before


def test_assistant_eval_without_a_file_runs_the_collections_gold_file_against_its_baseline(capsys, where, fake_bot,
                                                                                           tmp_path):
    code, out, err = cli(capsys, "eval", *where)
    assert code == 2 and err.startswith("error: the collection's gold file ") and err.endswith(
        " has no cases yet; save some with the chat's thumbs in the browser or `assistant gold import FILE`, or name "
        "a gold file\n")
    gold = GoldFile(fake_bot.gold_file)
    gold.save(case("Who opened the Crumb bakery?", "Marta Olsen", id="bakery"))
    code, out, err = cli(capsys, "eval", *where)
    assert (code, err) == (0, "") and out.startswith("1/1 case passed: accuracy 1.000")
    code, out, err = cli(capsys, "eval", *where, "--out", str(baseline_path(gold.path)))
    gold.save(case("Who opened the Crumb bakery?", "Marta Olsson", id="bakery"))  # now it fails
    code, out, err = cli(capsys, "eval", *where)
    assert code == 1 and err == (f"baseline: {baseline_path(gold.path)}\nerror: cases that passed in the baseline fail "
                                 "now (--allow-regressions to accept)\n")
    assert "1 case worse than the baseline:\n  bakery: Who opened the Crumb bakery?" in out


def test_assistant_eval_compare_writes_both_answers_of_every_case(capsys, where, fake_bot, tmp_path):
    GoldFile(fake_bot.gold_file).save_all([case("Who opened the Crumb bakery?", "Marta Olsen", id="bakery"),
                                           case("What is the capital of Peru?", refuse=True, id="peru")])
    report = tmp_path / "compare.html"
    code, out, err = cli(capsys, "eval", *where, "--compare", "", "refusal_threshold=0.99", "--report", str(report))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"report: {report}" and lines[1].startswith("A (as configured): 2/2 cases passed")
    assert "B (refusal_threshold=0.99): 1/2 cases passed" in out
    assert "the answers differ in 1 case:\n  bakery: Who opened the Crumb bakery?\n    A ok   " in out
    assert "A: <b>as configured</b> · B: <b>refusal_threshold=0.99</b>" in report.read_text(encoding="utf-8")
    for bad, message in ((["top_k=x", ""], "error: setting top_k must be a int, got 'x'\n"),
                         (["chunk_size=64", ""], "error: chunk_size cannot change over this index (it needs another); "
                                                 "compare settings of answering such as top_k, answer_mode, reader or "
                                                 "refusal_threshold\n")):
        assert cli(capsys, "eval", *where, "--compare", *bad)[::2] == (2, message)
