"""The regression loop in the browser app, in-process with the fake embedding model: the chat's feedback form,
the ``/feedback`` endpoint (behind the login too) and the Evaluation tab's handlers (assistant/ui/evaluation*).

The real model, a real server and chromium driving the whole loop are in test_app_e2e.py and test_browser.py.
"""

from __future__ import annotations

import socket
from pathlib import Path

import gradio as gr
import pytest
from gradio_client import Client

from assistant.evaluation import GoldCase, load_gold
from assistant.evaluation_gold import GoldFile, baseline_path
from assistant.ui import build_app, launch

BAKERY_Q = "Who opened the Crumb bakery?"
PERU_Q = "What is the capital of Peru?"


class Like:
    """What Gradio hands a ``like`` handler: the message's index and True (👍), False (👎) or "" (undone)."""

    def __init__(self, index: int, liked):
        self.index, self.liked, self.value = index, liked, ""


class Click:
    """A custom event's data: a case row's citation button (case, side of a comparison, number)."""

    def __init__(self, case: str, n: int, side: str = ""):
        self.case, self.n, self.side = case, n, side


def no_progress(*args, **kwargs) -> None:
    pass


@pytest.fixture
def app(fake_bot):
    return build_app(fake_bot, stream_delay=0).handlers


def chat_with(app, *questions: str):
    chat = None
    for question in questions:
        *_, last = app.respond(question, chat, None, 5, "extractive", False)
        chat = last[3]
    return chat


def gold_of(app) -> GoldFile:
    return GoldFile(app.service.bot.gold_file)


def shown(update) -> bool:
    return update["visible"]


# ------------------------------------------------------------------ the feedback form


def test_a_thumbs_up_opens_the_form_with_the_answers_key_words_and_saves_the_case(app):
    chat = chat_with(app, BAKERY_Q)
    panel, title, kind, words, form, status = app.gold.feedback_open(chat, Like(1, True))
    assert shown(panel) and not shown(kind) and (words["value"], words["visible"]) == ("Marta Olsen", True)
    assert title.startswith("**Keep this answer as expected** for “Who opened the Crumb bakery?”")
    panel, status, form = app.gold.feedback_save(chat, form, None, "Marta Olsen\nOlsen")
    assert not shown(panel) and form is None
    assert status == ("✓ Saved case **opened-crumb-bakery** to the gold file (1 case); run it in the Evaluation tab.")
    assert load_gold(app.service.bot.gold_file) == [GoldCase(
        id="opened-crumb-bakery", turns=(BAKERY_Q,), expect_any=("Marta Olsen", "Olsen"), sources=("bakery.txt",),
        tags=("from-chat", "fact"))]


def test_a_thumbs_down_asks_for_the_right_answer_and_an_empty_one_changes_nothing(app):
    chat = chat_with(app, BAKERY_Q)
    panel, title, kind, words, form, status = app.gold.feedback_open(chat, Like(1, False))
    assert shown(panel) and shown(kind) and kind["value"] == "wrong" and words["value"] == ""
    assert [value for _, value in kind["choices"]] == ["wrong", "should-refuse"]
    panel, status, kept = app.gold.feedback_save(chat, form, "wrong", "   ")
    assert shown(panel) and kept == form
    assert status == "⚠ type the right answer in a few words, or choose that it should refuse"
    assert not app.service.bot.gold_file.exists()  # nothing on disk, not even the folder's file
    panel, status, _ = app.gold.feedback_save(chat, form, "wrong", "Marta Olsson")
    assert status.startswith("✓ Saved case **opened-crumb-bakery**")
    assert gold_of(app).get("opened-crumb-bakery").expect_any == ("Marta Olsson",)
    app.gold.feedback_save(chat, form, "should-refuse", "")  # the same question again: updated, not added
    assert [(c.id, c.refuse) for c in gold_of(app).cases()] == [("opened-crumb-bakery", True)]


def test_a_refusal_gets_a_thumbs_up_as_refuse_and_a_thumbs_down_as_should_have_answered(app):
    chat = chat_with(app, PERU_Q)
    panel, title, kind, words, form, _ = app.gold.feedback_open(chat, Like(1, True))
    assert not shown(words) and "**Keep the refusal as right**" in title
    app.gold.feedback_save(chat, form, None, "")
    assert gold_of(app).get("capital-peru").refuse
    panel, title, kind, words, form, _ = app.gold.feedback_open(chat, Like(1, False))
    assert not shown(kind) and form["verdict"] == "should-answer" and shown(words)
    assert app.gold.feedback_save(chat, form, None, "")[1] == "⚠ type the answer it should have given, in a few words"
    app.gold.feedback_save(chat, form, None, "Lima")
    assert gold_of(app).get("capital-peru").expect_any == ("Lima",)


def test_a_follow_ups_case_keeps_its_conversation_and_an_undone_thumb_closes_the_form(app):
    chat = chat_with(app, BAKERY_Q, "When did she open it?")
    *_, form, _ = app.gold.feedback_open(chat, Like(3, True))
    app.gold.feedback_save(chat, form, None, "1998")
    [saved] = gold_of(app).cases()
    assert saved.turns == (BAKERY_Q, "When did she open it?") and saved.expect_any == ("1998",)
    panel, *_ = app.gold.feedback_open(chat, Like(3, ""))
    assert not shown(panel)
    *_, form, _ = app.gold.feedback_open(chat, Like(1, True))
    app.clear(chat)  # Clear, then another question: the open form's answer is gone
    list(app.respond(PERU_Q, chat, None, 5, "extractive", False))
    assert app.gold.feedback_save(chat, form, None, "x")[1] == "⚠ that answer is no longer in this conversation"
    assert len(gold_of(app).cases()) == 1
    assert app.gold.feedback_choice("should-refuse") == gr.update(visible=False)


def test_the_feedback_endpoint_saves_and_answers_with_the_case(app):
    session = chat_with(app, BAKERY_Q)
    assert app.gold.api_feedback(BAKERY_Q, "up", "", [], session) == {
        "id": "opened-crumb-bakery", "question": BAKERY_Q, "expect_any": ["Marta Olsen"], "sources": ["bakery.txt"],
        "tags": ["from-chat", "fact"]}
    assert app.gold.api_feedback("When did she open it?", "👎", "in 1998", [BAKERY_Q], None) == {
        "id": "open", "turns": [BAKERY_Q, "When did she open it?"], "expect_any": ["in 1998"],
        "tags": ["from-chat", "fact"]}
    for verdict, correction, message in (("down", "", "type the right answer in a few words"),
                                         ("meh", "x", "the verdict must be one of right, wrong")):
        with pytest.raises(gr.Error, match=message):
            app.gold.api_feedback(BAKERY_Q, verdict, correction, [], None)
    assert len(gold_of(app).cases()) == 2


# ------------------------------------------------------------------ the Evaluation tab


def run_tab(app, upload=None, top_k=5, mode="extractive"):
    return app.gold.eval_run(upload, None, top_k, mode, progress=no_progress)


def test_running_without_cases_says_how_to_get_some(app):
    *_, status, _ = run_tab(app)
    assert status == ("⚠ the gold file of docs has no cases yet; give an answer a thumbs-up or thumbs-down in the "
                      "chat, or upload a gold file")


def test_a_run_shows_the_metrics_the_chart_every_case_and_the_clis_reports(app):
    gold_of(app).save_all([GoldCase(id="bakery", turns=(BAKERY_Q,), expect_any=("Marta Olsson",), tags=("name",)),
                           GoldCase(id="peru", turns=(PERU_Q,), refuse=True, tags=("unanswerable",))])
    summary, chart, cases, reports, run, tags, status, source = run_tab(app)
    assert status == "" and "<strong>1 of 2 cases passed</strong>" in summary and "No baseline yet" in summary
    assert "refusal precision</th><td>1.00" in summary and "refusal recall</th><td>1.00" in summary
    assert Path(chart).name == "report.png" and Path(chart).stat().st_size > 5000
    assert [Path(p).name for p in reports] == ["report.md", "report.html", "report.png", "run.json"]
    assert "## Failing cases (1)" in Path(reports[0]).read_text(encoding="utf-8")
    assert cases.index('data-case="bakery"') < cases.index('data-case="peru"')  # the failure first
    assert 'any of “Marta Olsson”' in cases and "✗ fail" in cases and "expected text missing" in cases
    assert 'class="page-open eval-source" data-case="bakery" data-side="" data-n="1"' in cases
    assert [value for _, value in tags["choices"]] == ["", "name", "unanswerable"]
    assert "holds 2 cases" in source and "no baseline yet" in source
    only_failures = app.gold.eval_filter(run, True, False, "")
    assert 'data-case="bakery"' in only_failures and 'data-case="peru"' not in only_failures
    assert 'data-case="bakery"' not in app.gold.eval_filter(run, False, False, "unanswerable")
    assert "0 cases shown of 2" in app.gold.eval_filter(run, False, True, "")  # nothing worse: no baseline
    page = app.gold.eval_open_source(run, None, None, Click("bakery", 1))
    assert 'class="page-view page-view-section"' in page and "Marta Olsen opened the Crumb bakery" in page
    assert "no longer in this run" in app.gold.eval_open_source(run, None, None, Click("gone", 1))


def test_set_as_baseline_then_a_worse_case_is_listed_first(app):
    gold = gold_of(app)
    gold.save_all([GoldCase(id="peru", turns=(PERU_Q,), refuse=True),
                   GoldCase(id="bakery", turns=(BAKERY_Q,), expect_any=("Marta Olsen",))])
    assert app.gold.eval_set_baseline(None)[0] == "⚠ run the gold set first; then its run can become the baseline"
    run = run_tab(app)[4]
    status, source = app.gold.eval_set_baseline(run)
    assert status.startswith("✓ This run (2 of 2 cases passed) is the baseline now") and "a baseline set" in source
    assert baseline_path(gold.path).is_file()
    gold.save(GoldCase(id="bakery", turns=(BAKERY_Q,), expect_any=("Marta Olsson",)))
    summary, _, cases, _, run, *_ = run_tab(app)
    assert "1 case worse and 0 better than the baseline, 1 the same, 0 new" in summary
    assert cases.index('data-case="bakery"') < cases.index('data-case="peru"')
    assert '<span class="change worse"' in cases
    worse = app.gold.eval_filter(run, False, True, "")
    assert "1 case shown of 2" in worse and 'data-case="bakery"' in worse


def test_compare_shows_two_settings_side_by_side_the_differing_cases_first(app):
    gold_of(app).save_all([GoldCase(id="peru", turns=(PERU_Q,), refuse=True),
                           GoldCase(id="bakery", turns=(BAKERY_Q,), expect_any=("Marta Olsen",))])
    html, reports, compared, status = app.gold.eval_compare(None, None, 5, "extractive", "", 5, "extractive",
                                                            "refusal_threshold=0.99", progress=no_progress)
    assert status == "" and "the answers differ in 1" in html
    assert "<strong>B</strong>: top_k=5, answer_mode=extractive, refusal_threshold=0.99" in html
    assert html.index('data-case="bakery"') < html.index('data-case="peru"')
    assert [Path(p).name for p in reports] == ["comparison.md", "comparison.html", "comparison.png"]
    page = app.gold.eval_open_source(None, compared, None, Click("bakery", 1, side="a"))
    assert "Marta Olsen opened the Crumb bakery" in page
    *_, status = app.gold.eval_compare(None, None, 5, "extractive", "", 5, "extractive", "colour=red",
                                       progress=no_progress)
    assert status.startswith("⚠ unknown setting 'colour'")


@pytest.mark.parametrize("name, content, message", [
    ("cases.yaml", "- id: [\n", "cases.yaml is not valid YAML: line 2: expected the node content"),
    ("cases.jsonl", "{oops\n", "cases.jsonl is not valid JSONL: line 1"),
    ("cases.csv", "q,a\nx,y\n", "cases.csv has no question column"),
    ("big.yaml", "#" * (2 * 1024 * 1024), "gold file big.yaml is 2.0 MB, over the 1 MB limit (max\\_file\\_mb)"),
])
def test_an_uploaded_gold_file_that_is_bad_is_one_line_and_changes_nothing(docs_dir, fake_settings, tmp_path, name,
                                                                          content, message):
    from assistant import Assistant

    bot = Assistant.from_folder(docs_dir, settings=fake_settings.replace(max_file_mb=1))
    app = build_app(bot, stream_delay=0).handlers
    upload = tmp_path / name
    upload.write_text(content, encoding="utf-8")
    *_, status, _ = run_tab(app, str(upload))
    assert status.startswith("⚠ ") and message in status  # (the Markdown line escapes "_" and brackets)
    assert "\n" not in status and not bot.gold_file.exists() and upload.read_text(encoding="utf-8") == content


def test_an_uploaded_csv_runs_without_touching_the_collections_gold_file(app, tmp_path):
    upload = tmp_path / "sheet.csv"
    upload.write_text(f"question,answer\n{BAKERY_Q},Marta Olsen\n", encoding="utf-8")
    summary, *_ = run_tab(app, str(upload))
    assert "<strong>1 of 1 case passed</strong> · the uploaded sheet.csv (1 case)" in summary
    assert not app.service.bot.gold_file.exists()


# ------------------------------------------------------------------ behind the login


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_feedback_needs_the_login_like_everything_else(fake_bot, tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    demo = build_app(fake_bot, stream_delay=0)
    port = free_port()
    launch(demo, port=port, auth=("ann", "secret"), block=False, quiet=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        with pytest.raises(Exception):
            Client(url, verbose=False).predict(BAKERY_Q, "up", "", [], api_name="/feedback")
        assert not fake_bot.gold_file.exists()
        client = Client(url, auth=("ann", "secret"), verbose=False)
        assert client.predict(BAKERY_Q, "up", "", [], api_name="/feedback")["id"] == "opened-crumb-bakery"
        assert [c.id for c in load_gold(fake_bot.gold_file)] == ["opened-crumb-bakery"]
    finally:
        demo.close()
