"""The browser app's parts, in-process with the fake embedding model: rendering, chat handlers, uploads,
settings, the API endpoints and the server options (login, loopback, separate sessions).

The real model, a real server process and a real browser are in test_app_e2e.py and test_browser.py.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import re
import socket
import threading
import time
from pathlib import Path

import gradio as gr
import pytest
from fakes import WIKI_ANSWER, WIKI_QUESTION, WIKI_QUOTE
from gradio_client import Client
from hypothesis import given
from hypothesis import strategies as st

from assistant import Answer, Assistant, Citation, DocumentInfo, PageView
from assistant.documents import SUPPORTED
from assistant.process import EXIT_USER_ERROR
from assistant.ui import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    EMPTY_SOURCES,
    EXAMPLES,
    ChatService,
    UploadError,
    answer_json,
    build_app,
    chat_messages,
    escape_markdown,
    launch,
    main,
    parse_auth,
    page_label,
    passage_context,
    render_answer,
    render_documents,
    render_page_view,
    render_sources,
    safe_file_name,
    server_options,
    UPLOAD_SUFFIXES,
    uploaded_files,
)

BAKERY_Q = "Who opened the Crumb bakery?"
BAKERY_QUOTE = "Marta Olsen opened the Crumb bakery in 1998."
BAKERY_TEXT = (
    "Marta Olsen opened the Crumb bakery in 1998. The bakery sells rye bread and cinnamon buns.\n\n"
    "Every Saturday the bakery gives unsold bread to the food bank."
)
LIGHTHOUSE = "The Zephyr lighthouse keeper Ingrid Holm lit the lamp in 1887.\n\nShe kept the light for forty years.\n"
LIGHTHOUSE_Q = "Who lit the Zephyr lighthouse lamp?"
BINARY = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00"


@pytest.fixture
def app(fake_bot):
    """The app's handlers over the fake bot, streaming without a pause."""
    demo = build_app(fake_bot, stream_delay=0)
    return demo.handlers


@pytest.fixture
def service(app) -> ChatService:
    return app.service


def run_chat(app, question, chat=None, selected=None, top_k=5, mode="extractive", show_scores=False):
    """All the updates ``respond`` streams for one question."""
    return list(app.respond(question, chat, selected, top_k, mode, show_scores))


def write_upload(tmp_path: Path, name: str, data: bytes | str) -> Path:
    """An uploaded file as Gradio keeps it: bytes in a cache folder, under a name of its own."""
    folder = tmp_path / "gradio-cache" / str(len(list(tmp_path.glob("gradio-cache/*"))))
    folder.mkdir(parents=True)
    path = folder / "upload.bin"
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def folder_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


# ------------------------------------------------------------------ file names


@pytest.mark.parametrize("given_name,stored", [
    ("report.txt", "report.txt"),
    ("Summit notes (final).md", "Summit-notes-final.md"),
    ("agreements 2021.HTML", "agreements-2021.html"),
    ("отчёт о саммите.pdf", "отчёт-о-саммите.pdf"),
    ("  spaced  .txt", "spaced.txt"),
    ("a..b...c.txt", "a.b.c.txt"),
    ("tab\tand\nnewline.md", "tab-and-newline.md"),
    ("x" * 300 + ".txt", "x" * 100 + ".txt"),
    ("notes.markdown", "notes.markdown"),
    ("page.htm", "page.htm"),
])
def test_safe_file_name_keeps_plain_names_readable(given_name, stored):
    assert safe_file_name(given_name) == stored


@pytest.mark.parametrize("given_name,message", [
    ("../../evil.txt", "unsafe file name “../../evil.txt”: it points outside the documents folder; "
                       "upload it under a plain name like report.txt"),
    ("..\\..\\evil.txt", "unsafe file name “..\\..\\evil.txt”: it points outside the documents folder; "
                         "upload it under a plain name like report.txt"),
    ("/etc/cron.d/job.txt", "unsafe file name “/etc/cron.d/job.txt”: it points outside the documents folder; "
                            "upload it under a plain name like report.txt"),
    ("..\uff0f..\uff0fevil.txt", "unsafe file name “..／..／evil.txt”: it points outside the documents folder; "
                                 "upload it under a plain name like report.txt"),
    ("C:evil.txt", "unsafe file name “C:evil.txt”: it points outside the documents folder; "
                   "upload it under a plain name like report.txt"),
    ("bad\x00name.txt", "unsafe file name “bad\\x00name.txt”: it points outside the documents folder; "
                        "upload it under a plain name like report.txt"),
    ("..", "unsafe file name “..”: it points outside the documents folder; upload it under a plain name like report.txt"),
    (".env.txt", "unsafe file name “.env.txt”: hidden files are not indexed; rename it without the leading dot"),
    ("", "the file has no name; name it like report.txt"),
    ("   ", "the file has no name; name it like report.txt"),
    ("notes.doc", "unsupported file type .doc; upload .txt, .md, .html, .pdf, .docx, .pptx, .xlsx, .csv, .epub, .eml, .odt, .rtf, .png, .jpg or .tif"),
    ("notes.meta.yaml", "unsupported file type .yaml; upload .txt, .md, .html, .pdf, .docx, .pptx, .xlsx, .csv, .epub, .eml, .odt, .rtf, .png, .jpg or .tif"),
    ("README", "unsupported file type (none); upload .txt, .md, .html, .pdf, .docx, .pptx, .xlsx, .csv, .epub, .eml, .odt, .rtf, .png, .jpg or .tif"),
    ("???.txt", "file name “???.txt” has no letters or digits; rename it like report.txt"),
])
def test_safe_file_name_refuses_unsafe_names_with_a_clear_message(given_name, message):
    with pytest.raises(UploadError) as caught:
        safe_file_name(given_name)
    assert str(caught.value) == message


@given(st.text(max_size=60))
def test_a_stored_name_never_leaves_the_documents_folder(name):
    root = Path("/srv/docs")
    try:
        stored = safe_file_name(name)
    except UploadError:
        return
    assert "/" not in stored and "\\" not in stored and not stored.startswith(".")
    assert Path(stored).suffix in SUPPORTED
    assert os.path.normpath(root / stored) == str(root / stored)
    assert (root / stored).parent == root


# ------------------------------------------------------------------ rendering


def test_escape_markdown_escapes_markdown_and_html_but_keeps_text():
    assert escape_markdown("#WATCH *bold* _it_ [x](y) <b>&</b> https://a.io") == (
        "\\#WATCH \\*bold\\* \\_it\\_ \\[x\\](y) &lt;b&gt;&amp;&lt;/b&gt; https\\://a.io"
    )
    assert escape_markdown("1998. The bakery\n- not a list") == "1998\\. The bakery\n\\- not a list"
    assert escape_markdown("6,01,427 AK-203 rifles (2+2)") == "6,01,427 AK-203 rifles (2+2)"


def test_render_answer_turns_markers_into_linked_spans():
    c = Citation(1, "bakery.txt", "Bakery", BAKERY_QUOTE, 0, 44, 0.76)
    assert render_answer(f"{BAKERY_QUOTE} [1]", 3, [c]) == (
        "Marta Olsen opened the Crumb bakery in 1998. "
        '<span class="cite cite-3-1" role="button" tabindex="0" '
        'title="[1] Bakery: “Marta Olsen opened the Crumb bakery in 1998.”">[1]</span>'
    )


def test_render_answer_shows_a_documents_note_marks_as_text():
    quote = "Revenue rose [2] in 2020."  # a verified answer shows the document's "[2]" as "[note 2]"
    c = Citation(1, "a.txt", "A <b>", quote, 5, 30, 0.9)
    out = render_answer("Revenue rose [note 2] in 2020. [1]", 0, [c])
    assert out == ("Revenue rose \\[note 2\\] in 2020. "
                   '<span class="cite cite-0-1" role="button" tabindex="0" '
                   'title="[1] A &lt;b&gt;: “Revenue rose [note 2] in 2020.”">[1]</span>')


def test_render_answer_while_streaming_and_for_a_refusal():
    assert render_answer("Marta Olsen [1", 0) == "Marta Olsen \\[1"
    assert render_answer("Marta [2] Olsen", 1) == (
        'Marta <span class="cite cite-1-2" role="button" tabindex="0" title="source [2]">[2]</span> Olsen'
    )
    assert render_answer("The documents don't say.", 0, refused=True) == (
        '<div class="refusal"><span class="refusal-label">Not in the documents</span>\n\n'
        "The documents don't say.\n\n</div>"
    )


def test_passage_context_cuts_at_sentence_ends_or_spaces_and_marks_the_cut():
    text = "alpha beta gamma. The cited sentence. delta epsilon zeta"
    start = text.index("The cited")
    end = start + len("The cited sentence.")
    assert passage_context(text, start, end, width=8) == (
        "", "The cited sentence.", " delta", True, True  # "gamma." is only part of a sentence
    )
    longer = "One two. Three four five. The cited one. Six seven. Eight nine ten eleven"
    start = longer.index("The cited")
    assert passage_context(longer, start, start + 14, width=20) == (
        "Three four five. ", "The cited one.", " Six seven.", True, True
    )
    start = text.index("The cited")
    assert passage_context(text, start, end) == (
        "alpha beta gamma. ", "The cited sentence.", " delta epsilon zeta", False, False
    )
    # the passage bounds limit the context
    assert passage_context(text, start, end, bounds=(11, end + 6)) == (
        "gamma. ", "The cited sentence.", " delta", False, False
    )


def test_render_sources_shows_title_date_and_highlighted_passage():
    c = Citation(1, "bakery.txt", "Bakery & Co", BAKERY_QUOTE, 0, 44, 0.7612)
    answer = Answer(f"{BAKERY_QUOTE} [1]", [c], question=BAKERY_Q, query=BAKERY_Q)
    docs = {"bakery.txt": DocumentInfo("bakery.txt", "Bakery & Co", "1998-05-01", 1, "2024-01-01T00:00:00+00:00")}
    html_out = render_sources(answer, 2, docs, lambda doc_id: BAKERY_TEXT)
    assert html_out == (
        '<div class="sources"><div class="sources-question">Sources for “Who opened the Crumb bakery?”</div>'
        '<div class="answer-kind">asked for a fact</div>'
        '<article class="source" id="source-2-1" data-turn="2" data-n="1">'
        '<header><span class="source-n">[1]</span> <span class="source-title">Bakery &amp; Co</span> '
        '<span class="source-date">1998-05-01</span></header>'
        '<div class="source-where">bakery.txt · characters 0–44</div>'
        f'<blockquote class="passage"><mark class="cited">{BAKERY_QUOTE}</mark>'
        " The bakery sells rye bread and cinnamon buns.\n\n"
        "Every Saturday the bakery gives unsold bread to the food bank.</blockquote>"
        '<button type="button" class="page-open" data-turn="2" data-n="1" aria-controls="page-view">'
        "Show in its section</button></article></div>"
    )
    with_scores = render_sources(answer, 2, docs, lambda doc_id: BAKERY_TEXT, show_scores=True)
    assert '<span class="score">evidence score 0.761</span>' in with_scores


def test_render_sources_names_the_page_slide_or_sheet_of_a_quote():
    text = "First page.\n\nThe front retreated 64 metres."
    start = text.index("The")
    c = Citation(1, "survey.pdf", "Survey", text[start:], start, len(text), 0.8, location={"page": 2})
    out = render_sources(Answer(f"{text[start:]} [1]", [c], question="q"), 0, {}, lambda d: text)
    assert '<div class="source-where">survey.pdf · <span class="source-location">p. 2</span></div>' in out
    assert 'aria-controls="page-view">Show on the page (p. 2)</button>' in out
    sheet = Citation(1, "sales.xlsx", "Sales", "Region: Eastvale.", 0, 17, 0.8,
                     location={"sheet": "Q&A", "row": 4, "row_end": 9})
    out = render_sources(Answer("Region: Eastvale. [1]", [sheet], question="q"), 0, {}, lambda d: "Region: Eastvale.")
    assert '<span class="source-location">sheet Q&amp;A, rows 4-9</span>' in out
    data = answer_json(Answer(f"{text[start:]} [1]", [c], question="q"), {})
    assert (data["citations"][0]["location"], data["citations"][0]["where"]) == ({"page": 2}, "p. 2")


def test_render_sources_escapes_document_text():
    text = "<script>alert(1)</script> The <b>cited</b> bit. Rest."
    start = text.index("The")
    end = text.index(" Rest")
    c = Citation(1, "x.html", "<i>X</i>", text[start:end], start, end, 0.5)
    out = render_sources(Answer(f"{text[start:end]} [1]", [c], question="<q>"), 0, {}, lambda d: text)
    assert "<script>" not in out and "<b>" not in out and "<i>X</i>" not in out and "<q>" not in out
    assert '&lt;script&gt;alert(1)&lt;/script&gt; <mark class="cited">The &lt;b&gt;cited&lt;/b&gt; bit.</mark> Rest.' in out


def test_render_sources_for_a_refusal_and_for_a_vanished_document():
    refusal = Answer("The documents don't say.", refused=True, question="What is the capital of Peru?")
    assert render_sources(refusal, 0, {}, lambda d: None) == (
        '<div class="sources"><div class="sources-question">Sources for “What is the capital of Peru?”</div>'
        '<div class="answer-kind">asked for a fact</div>'
        '<div class="sources-refused"><strong>No sources.</strong> Nothing in the indexed documents answers this '
        "question closely enough to quote, so nothing is cited.</div></div>"
    )
    missing = Answer("The documents don't mention Peru.", refused=True, question="What is the capital of Peru?",
                     kind="fact", missing="Peru")
    assert '<strong>No sources.</strong> No indexed document mentions Peru, so nothing is cited.' in \
        render_sources(missing, 0, {}, lambda d: None)
    unsaid = Answer("The documents don't say how old he is.", refused=True, question="How old is he?",
                    missing="how old he is")
    assert '<strong>No sources.</strong> No indexed document says how old he is, so nothing is cited.' in \
        render_sources(unsaid, 0, {}, lambda d: None)
    c = Citation(1, "gone.txt", "Gone", "Old words.", 10, 20, 0.5)
    out = render_sources(Answer("Old words. [1]", [c], question="q"), 0, {}, lambda d: None)
    assert '<blockquote class="passage"><mark class="cited">Old words.</mark></blockquote>' in out
    assert "page-open" not in out  # nothing left to open
    assert render_sources(None, 0, {}, lambda d: None) == EMPTY_SOURCES


def test_render_page_view_shows_the_page_with_a_box_per_line_of_the_quote():
    view = PageView("a/<b>.pdf", "Harbour <i>report</i>", "collected information", {"page": 2}, page=2,
                    image=b"\x89PNG-bytes", width=1000, height=2000, boxes=((250, 100, 500, 40), (100, 150, 200, 40)))
    assert render_page_view(view, 3) == (
        '<section class="page-view page-view-page" aria-label="Source [3] on its page"><header>'
        '<span class="source-n">[3]</span> <span class="source-title">Harbour &lt;i&gt;report&lt;/i&gt;</span>'
        '<div class="source-where">a/&lt;b&gt;.pdf · p. 2</div>'
        '<button type="button" class="page-close" aria-label="Close the page view">Close</button></header>'
        '<div class="page-frame"><div class="page-sheet"><img class="page-image" '
        'src="data:image/png;base64,iVBORy1ieXRlcw==" width="1000" height="2000" '
        'alt="Page 2 of Harbour &lt;i&gt;report&lt;/i&gt; (a/&lt;b&gt;.pdf), the quoted words boxed" '
        'title="Click to zoom in or out" tabindex="0">'
        '<div class="page-mark" aria-hidden="true" style="left:25.000%;top:5.000%;width:50.000%;height:2.000%"></div>'
        '<div class="page-mark" aria-hidden="true" style="left:10.000%;top:7.500%;width:20.000%;height:2.000%"></div>'
        '</div></div><p class="page-quote">Boxed on the page: “collected information”</p></section>'
    )


def test_render_page_view_of_a_section_marks_the_exact_quote_and_says_why_there_is_no_page():
    view = PageView("minutes.pdf", "Minutes", "the <crane> arrived", {"page": 4}, page=4, before="# Crane\n",
                    after=" in May & June", clipped_after=True, notice="minutes.pdf is no longer there")
    out = render_page_view(view, 1)
    assert out.startswith('<section class="page-view page-view-section" aria-label="Source [1] in its section">')
    assert out.endswith(
        '<div class="page-notice" role="status">⚠ minutes.pdf is no longer there</div>'
        '<blockquote class="section-text"># Crane\n<mark class="cited">the &lt;crane&gt; arrived</mark>'
        " in May &amp; June …</blockquote></section>")


def test_a_cards_button_names_what_it_opens():
    def label(doc_id, location):
        return page_label(Citation(1, doc_id, "T", "q", 0, 1, 0.5, location=location))

    assert [label("a.pdf", {"page": 3}), label("scan.png", {}), label("fax.tif", {"page": 2}),
            label("notes.md", {"section": "Crane"}), label("deck.pptx", {"slide": 2})] == [
        "Show on the page (p. 3)", "Show on the image", "Show on the page (p. 2)", "Show in its section",
        "Show in its section"]


def test_a_sources_button_opens_its_source_in_the_page_view(tmp_path, fake_settings):
    from test_pages import harbour_pdf

    docs = tmp_path / "docs"
    docs.mkdir()
    harbour_pdf(docs / "harbour.pdf")
    (docs / "bakery.txt").write_text(BAKERY_TEXT, encoding="utf-8")
    handlers = build_app(Assistant.from_folder(docs, settings=fake_settings), stream_delay=0).handlers
    *_, (_, sources, _, chat, _, _) = run_chat(handlers, "When did the crane arrive?")
    [cited] = [c for c in chat.turns[0][1].citations if "October" in c.quote]
    assert (f'class="page-open" data-turn="0" data-n="{cited.number}" aria-controls="page-view">'
            "Show on the page (p. 3)</button>") in sources
    page = handlers.open_page(chat, gr.EventData(None, {"turn": 0, "n": cited.number}))
    assert page.startswith(f'<section class="page-view page-view-page" aria-label="Source [{cited.number}] on its '
                           'page">')
    assert 'src="data:image/png;base64,iVBOR' in page and page.count('class="page-mark"') == 2
    assert f'alt="Page 3 of {cited.title} (harbour.pdf), the quoted words boxed"' in page
    assert "page-notice" not in page

    *_, (_, _, _, chat, _, _) = run_chat(handlers, BAKERY_Q, chat)
    section = handlers.open_page(chat, gr.EventData(None, {"turn": 1, "n": 1}))
    assert f'<mark class="cited">{BAKERY_QUOTE}</mark>' in section and "page-view-section" in section

    (docs / "harbour.pdf").unlink()
    gone = handlers.open_page(chat, gr.EventData(None, {"turn": 0, "n": cited.number}))
    assert '<div class="page-notice" role="status">⚠ harbour.pdf is no longer in the documents folder (moved or ' \
           "deleted); run `assistant index` (or re-upload it) to index it again</div>" in gone
    for turn, number in [(5, 1), (0, 9), ("0", 1), (None, None)]:
        assert handlers.open_page(chat, gr.EventData(None, {"turn": turn, "n": number})) == (
            '<div class="page-notice" role="status">⚠ that answer is no longer in this conversation; '
            "ask the question again</div>")
    assert "no longer in this conversation" in handlers.open_page(None, gr.EventData(None, {"turn": 0, "n": 1}))


def test_render_documents_lists_titles_passages_and_skipped_files(fake_bot, docs_dir, fake_settings):
    (docs_dir / "scan.txt").write_bytes(BINARY)
    bot = Assistant.from_folder(docs_dir, settings=fake_settings)
    out = render_documents(bot.documents, bot.skipped)
    assert out.startswith('<div id="documents-list"><p class="documents-summary">3 documents, 3 passages indexed.</p>')
    for title, doc_id in [("Bakery", "bakery.txt"), ("Rivers", "rivers.txt"), ("Rocket", "rocket.txt")]:
        assert f"<tr><td>{title}</td><td><code>{doc_id}</code></td>" in out
    assert ("<li>skipped scan.txt: binary file, not text; convert it to .txt, .md, .html, .pdf, .docx, .pptx, .xlsx, .csv, .epub, .eml, .odt, .rtf, .png, .jpg or .tif</li>" in out)
    assert render_documents([]) == '<div id="documents-list"><p class="documents-empty">No documents are indexed.</p></div>'


# ------------------------------------------------------------------ chat handlers


def test_respond_streams_the_answer_then_shows_its_sources(app, fake_bot):
    updates = run_chat(app, BAKERY_Q)
    assert len(updates) >= 4  # several pieces, then the final answer
    messages, sources, status, chat, selected, box = updates[-1]
    expected = fake_bot.ask(BAKERY_Q)
    assert chat.turns == [(BAKERY_Q, expected)]
    assert messages == [
        {"role": "user", "content": "Who opened the Crumb bakery?"},
        {"role": "assistant", "content": render_answer(expected.text, 0, expected.citations)},
    ]
    assert (status, selected, box) == ("", None, "")
    assert f'<mark class="cited">{BAKERY_QUOTE}</mark>' in sources and 'id="source-0-1"' in sources
    # the streamed updates show the answer growing, the question already in place
    partials = [u[0][-1]["content"] for u in updates[:-1]]
    assert partials[0] == "Marta "
    assert partials == sorted(partials, key=len) and len(set(partials)) == len(partials)
    assert all(u[0][0] == {"role": "user", "content": "Who opened the Crumb bakery?"} for u in updates)
    assert all(u[1] is not None and u[5] == "" for u in updates)


def test_follow_up_and_separate_sessions(app):
    first = run_chat(app, BAKERY_Q)[-1][3]
    follow = run_chat(app, "When did she open it?", chat=first)[-1]
    chat = follow[3]
    assert chat is first and len(chat.turns) == 2
    assert chat.turns[1][1].query == "Who opened the Crumb bakery? When did she open it?"
    other = run_chat(app, "When did she open it?")[-1][3]  # a new tab: no state yet
    assert other is not chat and len(other.turns) == 1
    assert other.turns[0][1].query == "When did she open it?"
    assert len(chat.turns) == 2


@pytest.mark.parametrize("question,message", [
    ("", "⚠ the question is empty; type a question about the documents"),
    ("   \n\t", "⚠ the question is empty; type a question about the documents"),
    ("x" * 100_000, "⚠ the question is 100,000 characters long; keep it under 2,000"),
])
def test_bad_questions_get_one_clear_message_and_change_nothing(app, question, message):
    chat = run_chat(app, BAKERY_Q)[-1][3]
    updates = run_chat(app, question, chat=chat)
    assert len(updates) == 1
    messages, sources, status, same_chat, selected, box = updates[0]
    assert status == message
    assert same_chat is chat and len(chat.turns) == 1
    assert len(messages) == 2 and f'<mark class="cited">{BAKERY_QUOTE}</mark>' in sources
    assert box == question  # kept, so the user can fix it


def test_refusal_is_shown_as_such(app):
    messages, sources, status, chat, _, _ = run_chat(app, "What is the capital of Peru?")[-1]
    assert chat.turns[0][1].refused
    assert messages[1]["content"].startswith('<div class="refusal"><span class="refusal-label">Not in the documents')
    assert "<strong>No sources.</strong>" in sources and status == ""


def test_settings_change_retrieval_and_show_scores(app, fake_bot, service):
    _, sources, _, chat, _, _ = run_chat(app, BAKERY_Q, top_k=1, show_scores=True)[-1]
    answer = chat.turns[0][1]
    assert len(answer.passages) == 1 and fake_bot.settings.top_k == 5
    assert "Retrieved passages (1), best first" in sources and "retrieval score" in sources
    _, sources, _, chat, _, _ = run_chat(app, "When did she open it?", chat=chat, top_k=3)[-1]
    assert len(chat.turns[1][1].passages) == 3
    assert "Retrieved passages" not in sources
    assert service.options(3.0, "extractive") == (3, "extractive")
    assert service.options(None, None) == (fake_bot.settings.top_k, "extractive")


@pytest.mark.parametrize("top_k,mode,message", [
    (0, "extractive", "top_k must be between 1 and 100, got 0"),
    (500, "extractive", "top_k must be between 1 and 100, got 500"),
    ("many", "extractive", "the number of passages must be a whole number, got 'many'"),
    (5, "poetry", "answer_mode must be one of extractive, llm, got 'poetry'"),
])
def test_bad_settings_are_a_message_not_a_crash(app, top_k, mode, message):
    (update,) = run_chat(app, BAKERY_Q, top_k=top_k, mode=mode)
    assert update[2] == "⚠ " + escape_markdown(message)  # Markdown, shown as the plain message


def test_clear_and_select_show_the_right_sources(app):
    chat = run_chat(app, BAKERY_Q)[-1][3]
    run_chat(app, "What is the capital of Peru?", chat=chat)
    evt = gr.SelectData(None, {"index": 1, "value": "x"})  # the first answer's bubble
    sources, turn = app.select(chat, False, evt)
    assert turn == 0 and 'id="source-0-1"' in sources
    evt = gr.SelectData(None, {"index": [2], "value": "x"})  # the second question's bubble
    sources, turn = app.select(chat, False, evt)
    assert turn == 1 and "<strong>No sources.</strong>" in sources
    assert app.sources_for(chat, 0, True) != app.sources_for(chat, 0, False)
    assert app.clear(chat) == ([], EMPTY_SOURCES, "", chat, None)
    assert chat.turns == []
    assert app.clear(None) == ([], EMPTY_SOURCES, "", None, None)
    assert app.example(gr.SelectData(None, {"index": 0, "value": {"text": EXAMPLES[0]}})) == EXAMPLES[0]


def test_chat_messages_escape_what_the_user_typed(app):
    chat = run_chat(app, "<img src=x onerror=alert(1)> # Who opened the Crumb bakery?")[-1][3]
    assert chat_messages(chat)[0] == {
        "role": "user", "content": "&lt;img src=x onerror=alert(1)&gt; # Who opened the Crumb bakery?"
    }


# ------------------------------------------------------------------ the API handlers


def test_api_ask_returns_the_answer_as_json(app, fake_bot):
    data, chat = app.api_ask(BAKERY_Q, 5, None)
    expected = fake_bot.ask(BAKERY_Q).to_dict()
    expected["citations"][0]["date"] = ""
    assert data == expected
    assert data["citations"] == [{
        "number": 1, "doc_id": "bakery.txt", "title": "Bakery", "quote": BAKERY_QUOTE, "start": 0, "end": 44,
        "score": data["citations"][0]["score"], "passage_id": "bakery.txt#0-154", "location": {}, "where": "", "span": None, "date": "",
    }]
    follow, same = app.api_ask("When did she open it?", None, chat)
    assert same is chat and follow["query"] == "Who opened the Crumb bakery? When did she open it?"
    assert app.api_clear(chat) == ("the conversation is cleared", chat) and chat.turns == []


def test_a_documents_footnote_marks_never_read_as_markers_in_the_chat_or_ask(wiki_dir, fake_settings):
    """Over text with footnote marks of its own ("[2]"): the chat bubble links only the assistant's [1],
    while the answer streams in and after; the essay's mark reads "[note 2]"; /ask returns the same text
    and the exact quote."""
    handlers = build_app(Assistant.from_folder(wiki_dir, settings=fake_settings), stream_delay=0).handlers
    updates = run_chat(handlers, WIKI_QUESTION)
    for update in updates:
        bubble = update[0][-1]["content"]
        assert re.findall(r"cite-0-(\d+)", bubble) in ([], ["1"]) and "\\[2\\]" not in bubble
    assert updates[-1][0][-1]["content"].startswith(
        'Y Combinator has funded over 4,000 startups in total.\\[note 2\\] <span class="cite cite-0-1"')
    data, _ = handlers.api_ask(WIKI_QUESTION, 5, None)
    assert (data["text"], [c["quote"] for c in data["citations"]]) == (WIKI_ANSWER, [WIKI_QUOTE])


@pytest.mark.parametrize("question,message", [
    ("", "the question is empty; type a question about the documents"),
    ("y" * 100_000, "the question is 100,000 characters long; keep it under 2,000"),
])
def test_api_ask_raises_a_gradio_error_with_the_message(app, question, message):
    with pytest.raises(gr.Error) as caught:
        app.api_ask(question, 5, None)
    assert caught.value.message == message


def test_answer_json_adds_each_sources_date():
    c = Citation(1, "a.txt", "A", "q", 0, 1, 0.5)
    docs = {"a.txt": DocumentInfo("a.txt", "A", "2021-12-06", 1, "")}
    assert answer_json(Answer("q [1]", [c]), docs)["citations"][0]["date"] == "2021-12-06"


# ------------------------------------------------------------------ uploads


def test_upload_stores_a_sanitised_copy_and_indexes_it(app, service, docs_dir, tmp_path):
    before = {d.doc_id: d.indexed_at for d in service.documents()}
    status, view, cleared = app.upload([{"path": str(write_upload(tmp_path, "x", LIGHTHOUSE)),
                                         "orig_name": "Zephyr lighthouse (log).txt"}])
    assert status == ("✓ Added **Zephyr lighthouse (log).txt** (saved as uploads/Zephyr-lighthouse-log.txt): "
                      "1 passage indexed; ask about it now.")
    assert cleared is None
    uploads = service.bot.uploads_dir
    assert (uploads / "Zephyr-lighthouse-log.txt").read_text(encoding="utf-8") == LIGHTHOUSE
    assert folder_files(uploads) == ["Zephyr-lighthouse-log.txt"]
    assert folder_files(docs_dir) == ["bakery.txt", "rivers.txt", "rocket.txt"]  # never into the documents folder
    assert not uploads.is_relative_to(docs_dir.parent)
    assert "<code>uploads/Zephyr-lighthouse-log.txt</code>" in view
    after = {d.doc_id: d.indexed_at for d in service.documents()}
    assert {k: v for k, v in after.items() if k in before} == before  # the others were not re-indexed
    answer = run_chat(app, LIGHTHOUSE_Q)[-1][3].turns[0][1]
    assert not answer.refused, answer.text
    assert [c.doc_id for c in answer.citations] == ["uploads/Zephyr-lighthouse-log.txt"]


def test_an_upload_reports_each_phase_of_the_index_update(service, tmp_path):
    """The upload's progress: files read, passages embedded, index written, each as a line with its rate and
    time left (Gradio's progress bar shows these lines; a test clock makes the figures exact)."""
    from assistant.progress import ProgressLines

    ticks = iter(range(0, 1000, 2))
    lines: list[tuple[str, int, int, str]] = []
    report = service.add_files([("lighthouse.txt", str(write_upload(tmp_path, "x", LIGHTHOUSE)))],
                               ProgressLines(lambda *a: lines.append(a), clock=lambda: next(ticks)))
    assert [d.doc_id for d in report.added] == ["uploads/lighthouse.txt"]
    assert lines == [
        ("Reading files: 0/3 files", 0, 3, "files"),  # the documents folder ...
        *[(f"Reading files: {n}/3 files, 0.5 files/s, " + (f"about {(3 - n) * 2} s left" if n < 3 else "done"), n, 3,
           "files") for n in range(1, 4)],
        ("Reading files: 0/1 file", 0, 1, "file"),  # ... then the uploads folder
        ("Reading files: 1/1 file, 0.5 files/s, done", 1, 1, "file"),
        ("Splitting documents: 0/100 characters", 0, 100, "characters"),
        ("Splitting documents: 100/100 characters, 50 characters/s, done", 100, 100, "characters"),
        ("Embedding passages: 0/1 passage", 0, 1, "passage"),
        ("Embedding passages: 1/1 passage, 0.5 passages/s, done", 1, 1, "passage"),
        ("Writing index: 0/7 steps", 0, 7, "steps"),
        *[(f"Writing index: {n}/7 steps, 0.5 steps/s, " + (f"about {(7 - n) * 2} s left" if n < 7 else "done"), n, 7,
           "steps") for n in range(1, 8)],
    ]


@pytest.mark.parametrize("name,data,reason", [
    ("photo.txt", BINARY, "binary file, not text; convert it to .txt, .md, .html, .pdf, .docx, .pptx, .xlsx, .csv, .epub, .eml, .odt, .rtf, .png, .jpg or .tif"),
    ("../../evil.txt", LIGHTHOUSE, "unsafe file name “../../evil.txt”: it points outside the documents folder; "
                                   "upload it under a plain name like report.txt"),
    ("..\\evil.txt", LIGHTHOUSE, "unsafe file name “..\\evil.txt”: it points outside the documents folder; "
                                 "upload it under a plain name like report.txt"),
    ("notes.docx", b"PK\x03\x04", "not a readable .docx file (it is not the zip archive every .docx file is"),
    ("empty.md", "   \n", "no text in file"),
    ("broken.pdf", b"%PDF-1.4 not really", "not a readable PDF"),
    ("latin1.txt", "caf\u00e9 \u00fcber".encode("utf-16-le"), "binary file, not text"),  # no byte order mark
])
def test_refused_uploads_leave_the_folder_and_index_untouched(app, service, docs_dir, tmp_path, name, data, reason):
    index_before = [(d.doc_id, d.passages, d.indexed_at) for d in service.documents()]
    files_before = folder_files(tmp_path / "docs")
    status, _, _ = app.upload([{"path": str(write_upload(tmp_path, "x", data)), "orig_name": name}])
    assert status.startswith("✗ Refused **")
    assert escape_markdown(reason) in status and status.endswith("Nothing already indexed was changed.")
    assert [(d.doc_id, d.passages, d.indexed_at) for d in service.documents()] == index_before
    assert folder_files(tmp_path / "docs") == files_before
    assert folder_files(service.bot.uploads_dir) == []  # no staging folder left behind either
    assert not list(tmp_path.rglob("evil.txt"))


def test_upload_takes_every_supported_office_ebook_and_mail_type(app, service, docs_dir, tmp_path):
    from gold.make_mixed import write_csv, write_docx, write_eml, write_epub, write_pptx, write_xlsx

    assert set(UPLOAD_SUFFIXES) == set(SUPPORTED)
    when = dt.datetime(2024, 5, 14, tzinfo=dt.timezone.utc)
    files = [
        write_docx(tmp_path / "harbour.docx", "Harbour", [("Dredging", ["The harbour dredged 42,000 cubic metres."])]),
        write_pptx(tmp_path / "orchard.pptx", "Orchard", [("Harvest", ["The orchard picked 310 tonnes."], "")]),
        write_xlsx(tmp_path / "sales.xlsx", {"Sales": [["Region", "Revenue"], ["Eastvale", 88400]]}),
        write_csv(tmp_path / "stations.csv", [["Station", "Elevation"], ["Ben Arrach", 1130]]),
        write_epub(tmp_path / "tales.epub", "Tales", "A. Moray", [("Keeper", "Ansel kept the light for 31 years.")]),
        write_eml(tmp_path / "ferry.eml", "Ferry", "office@example.org", "all@example.org", when,
                  "The ferry leaves at 07:45."),
    ]
    report = service.add_files([(path.name, path) for path in files])
    assert report.refused == []
    assert sorted(d.doc_id for d in report.added) == sorted(f"uploads/{path.name}" for path in files)
    answer = run_chat(app, "How many tonnes did the orchard pick?")[-1][3].turns[0][1]
    assert [(c.doc_id, c.where) for c in answer.citations] == [("uploads/orchard.pptx", "slide 1")]


def test_upload_limits_size_and_judges_each_file_on_its_own(docs_dir, fake_settings, tmp_path):
    bot = Assistant.from_folder(docs_dir, settings=fake_settings.replace(max_file_mb=0.001))  # about 1 KB
    service = ChatService(bot)
    report = service.add_files([
        ("big.txt", write_upload(tmp_path, "x", "word " * 400)),
        ("lighthouse.txt", write_upload(tmp_path, "x", LIGHTHOUSE)),
        ("lighthouse.txt", write_upload(tmp_path, "x", LIGHTHOUSE + "More.")),
    ])
    assert report.to_dict() == {
        "added": [{"doc_id": "uploads/lighthouse.txt", "title": "Lighthouse", "date": "", "passages": 1,
                   "given_name": "lighthouse.txt"}],
        "unchanged": [],
        "refused": [
            {"file": "big.txt", "reason": "it is 2.0 KB, over the 0.001 MB limit; split it into smaller files"},
            {"file": "lighthouse.txt", "reason": "another file in this upload is also named lighthouse.txt; "
                                                 "rename one of them"},
        ],
    }
    assert not (docs_dir / "big.txt").exists() and not (bot.uploads_dir / "big.txt").exists()


def test_upload_of_an_existing_name(service, docs_dir, tmp_path):
    same = service.add_files([("bakery.txt", write_upload(tmp_path, "x", (docs_dir / "bakery.txt").read_bytes()))])
    assert same.markdown() == "• **bakery.txt** is already indexed with the same content."
    other = service.add_files([("bakery.txt", write_upload(tmp_path, "x", "A different bakery."))])
    assert [d.doc_id for d in other.added] == ["uploads/bakery.txt"]  # beside the documents folder's own
    assert (docs_dir / "bakery.txt").read_text(encoding="utf-8").startswith("Marta Olsen")
    third = service.add_files([("bakery.txt", write_upload(tmp_path, "x", "Yet another bakery."))])
    assert third.refused == [("bakery.txt", "a different document named bakery.txt was uploaded before; "
                                            "rename the file and upload it again")]
    assert (service.bot.uploads_dir / "bakery.txt").read_text(encoding="utf-8") == "A different bakery."
    assert service.add_files([]).refused == [("(no file)", "choose a .txt, .md, .html, .pdf, .docx, .pptx, .xlsx, "
                                                           ".csv, .epub, .eml, .odt, .rtf, .png, .jpg or .tif file "
                                                           "to upload")]


def test_upload_while_another_process_indexes_takes_the_file_back(service, docs_dir, fake_settings, tmp_path):
    lock_path = Path(fake_settings.index_dir) / ".lock"
    with open(lock_path, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as `assistant index` in another process would
        report = service.add_files([("lighthouse.txt", write_upload(tmp_path, "x", LIGHTHOUSE))])
        fcntl.flock(held, fcntl.LOCK_UN)
    assert report.refused == [("lighthouse.txt", f"it could not be indexed (another process is updating the index in "
                                                 f"{fake_settings.index_dir}; wait for it to finish and retry)")]
    assert not (service.bot.uploads_dir / "lighthouse.txt").exists()
    assert [d.doc_id for d in service.documents()] == ["bakery.txt", "rivers.txt", "rocket.txt"]


def test_an_unexpected_failure_while_indexing_takes_the_file_back_too(service, docs_dir, tmp_path, monkeypatch):
    def broken_refresh(rebuild: bool = False, progress=None):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(service.bot, "refresh", broken_refresh)
    with pytest.raises(RuntimeError, match="disk on fire"):
        service.add_files([("lighthouse.txt", write_upload(tmp_path, "x", LIGHTHOUSE))])
    assert folder_files(docs_dir) == ["bakery.txt", "rivers.txt", "rocket.txt"]
    assert folder_files(service.bot.uploads_dir) == []


def test_api_upload_returns_structured_results(app, docs_dir, tmp_path):
    data = app.api_upload([{"path": str(write_upload(tmp_path, "x", LIGHTHOUSE)), "orig_name": "keeper.md"},
                           {"path": str(write_upload(tmp_path, "x", BINARY)), "orig_name": "scan.txt"}])
    assert data["added"] == [{"doc_id": "uploads/keeper.md", "title": "Keeper", "date": "", "passages": 1,
                              "given_name": "keeper.md"}]
    assert data["refused"] == [{"file": "scan.txt", "reason": "binary file, not text; convert it to .txt, .md, .html, "
                                                              ".pdf, .docx, .pptx, .xlsx, .csv, .epub, .eml, .odt, "
                                                              ".rtf, .png, .jpg or .tif"}]
    assert [d["doc_id"] for d in data["documents"]] == ["bakery.txt", "rivers.txt", "rocket.txt", "uploads/keeper.md"]
    assert app.api_documents() == data["documents"]


def test_uploaded_payloads_are_read_with_the_users_file_name():
    assert uploaded_files(None) == [] and uploaded_files([]) == []
    assert uploaded_files({"path": "/c/abc/file.txt", "orig_name": "../x.txt"}) == [("../x.txt", "/c/abc/file.txt")]
    assert uploaded_files([{"path": "/c/abc/file.txt"}, "/c/d/other.md"]) == [
        ("file.txt", "/c/abc/file.txt"), ("other.md", "/c/d/other.md")
    ]


# ------------------------------------------------------------------ concurrency


def test_questions_from_many_sessions_at_once(app, fake_bot):
    results: dict[int, object] = {}

    def ask(i: int) -> None:
        results[i] = run_chat(app, BAKERY_Q if i % 2 else "What is the capital of Peru?")[-1][3]

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == list(range(8))
    assert len({id(chat) for chat in results.values()}) == 8
    for i, chat in results.items():
        assert len(chat.turns) == 1 and chat.turns[0][1].refused == (i % 2 == 0)


# ------------------------------------------------------------------ the app and its server


def test_the_app_exposes_named_api_endpoints(fake_bot):
    demo = build_app(fake_bot)
    assert set(demo.get_api_info()["named_endpoints"]) == {"/ask", "/clear", "/upload", "/documents", "/feedback"}
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False" and demo.analytics_enabled is False


def test_server_options_from_flags_env_and_defaults():
    assert server_options(env={}) == (DEFAULT_HOST, DEFAULT_PORT, None) == ("127.0.0.1", 7860, None)
    env = {"ASSISTANT_HOST": "0.0.0.0", "ASSISTANT_PORT": "8000", "ASSISTANT_AUTH": "ann:s3:cret"}
    assert server_options(env=env) == ("0.0.0.0", 8000, ("ann", "s3:cret"))
    assert server_options("127.0.0.2", "9000", "bob:pw", env=env) == ("127.0.0.2", 9000, ("bob", "pw"))
    assert parse_auth("") is None and parse_auth(None) is None
    for bad in ("nocolon", ":pw", "user:"):
        with pytest.raises(Exception, match="--auth must look like user:password"):
            parse_auth(bad)
    for bad in ("http", "0", "70000"):
        with pytest.raises(Exception, match="the port must be a number from 1 to 65535"):
            server_options(port=bad, env={})


@pytest.mark.parametrize("argv,message", [
    (["--port", "seventy"], "error: the port must be a number from 1 to 65535, got 'seventy'\n"),
    (["--auth", "ann"], "error: --auth must look like user:password (both parts non-empty)\n"),
])
def test_app_main_prints_one_line_errors(capsys, argv, message, tmp_path):
    assert main([*argv, "--docs", str(tmp_path), "--index", str(tmp_path / "index")]) == EXIT_USER_ERROR
    out, err = capsys.readouterr()
    assert err == message


def test_cli_serve_checks_its_options_before_loading(capsys, tmp_path):
    from assistant.cli import main as cli_main

    assert cli_main(["serve", "--port", "0", "--docs", str(tmp_path), "--quiet"]) == EXIT_USER_ERROR
    assert capsys.readouterr().err == "error: the port must be a number from 1 to 65535, got 0\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_launch_with_login_on_loopback_and_separate_client_sessions(fake_bot, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    demo = build_app(fake_bot, stream_delay=0)
    port = free_port()
    launch(demo, port=port, auth=("ann", "secret"), block=False)
    try:
        assert (demo.server_name, demo.server_port, demo.share) == ("127.0.0.1", port, False)
        assert capsys.readouterr().out == f"serving on http://127.0.0.1:{port}\n"  # no hint to share it
        url = f"http://127.0.0.1:{port}/"
        with pytest.raises(Exception):
            Client(url, verbose=False)  # no login
        with pytest.raises(Exception):
            Client(url, auth=("ann", "wrong"), verbose=False)
        one = Client(url, auth=("ann", "secret"), verbose=False)
        two = Client(url, auth=("ann", "secret"), verbose=False)
        assert one.predict(BAKERY_Q, api_name="/ask")["citations"][0]["quote"] == BAKERY_QUOTE
        assert one.predict("When did she open it?", api_name="/ask")["query"] == (
            "Who opened the Crumb bakery? When did she open it?"
        )
        assert two.predict("When did she open it?", api_name="/ask")["query"] == "When did she open it?"
        with pytest.raises(Exception, match="the question is empty"):
            two.predict("  ", api_name="/ask")
        assert one.predict(api_name="/clear") == "the conversation is cleared"
        assert one.predict("When did she open it?", api_name="/ask")["query"] == "When did she open it?"
        assert [d["doc_id"] for d in one.predict(api_name="/documents")] == ["bakery.txt", "rivers.txt", "rocket.txt"]
    finally:
        demo.close()


def test_launch_on_a_busy_port_is_a_clear_error(fake_bot):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(Exception, match=f"cannot serve on 127.0.0.1:{port} .*pass another --port or --host"):
            launch(build_app(fake_bot), port=port, block=False, quiet=True)


def test_llm_mode_streams_the_model_draft_then_shows_the_verified_answer(docs_dir, fake_settings):
    """The answer-mode switch: the model's tokens stream in, then the checked, cited answer replaces them."""
    from test_llm_answerer import ScriptedLLM

    reply = "Marta Olsen opened the Crumb bakery in 1998 [1]. She also sells moon rocks [2]."
    bot = Assistant.from_folder(docs_dir, settings=fake_settings.replace(refusal_threshold=0.05),
                                llm=ScriptedLLM(replies=[reply], prompts=[]))
    app = build_app(bot, stream_delay=0).handlers
    updates = run_chat(app, BAKERY_Q, mode="llm")
    drafts = [u[0][-1]["content"] for u in updates[:-1]]
    assert len(drafts) > 3 and "moon rocks" in drafts[-1]  # the draft, token by token
    messages, sources, status, chat, _, _ = updates[-1]
    final = chat.turns[-1][1]
    assert final.mode == "llm" and final.text == "Marta Olsen opened the Crumb bakery in 1998. [1]"
    assert "moon rocks" not in messages[-1]["content"] and "Marta Olsen" in messages[-1]["content"]
    assert "Crumb bakery" in sources and status == ""


# ------------------------------------------------------------------ collections


@pytest.fixture
def two_collections(docs_dir, fake_settings, tmp_path):
    from assistant.config import Collection
    from assistant.library import Library

    other = tmp_path / "harbour"
    other.mkdir()
    (other / "ferry.txt").write_text("The harbour ferry to Skerry Island leaves every hour from Pier 4.",
                                     encoding="utf-8")
    library = Library({
        "docs": Collection("docs", fake_settings.replace(docs_dir=docs_dir, uploads_dir=str(tmp_path / "up-docs"))),
        "harbour": Collection("harbour", fake_settings.replace(docs_dir=other, index_dir=tmp_path / "harbour-index",
                                                               refusal_threshold=0.05,
                                                               uploads_dir=str(tmp_path / "up-harbour"))),
    })
    demo = build_app(library.get("docs"), library=library, stream_delay=0)
    return demo.handlers, library


def test_the_collection_selector_asks_the_chosen_collection(two_collections, tmp_path):
    app, library = two_collections
    *_, (messages, sources, status, chat, _, box) = app.respond("Who opened the Crumb bakery?", None, None, 5,
                                                                  "extractive", False, "docs")
    assert "Marta Olsen" in chat.turns[-1][1].text and chat.assistant is library.get("docs")
    messages, sources, status, chat_state, selected, documents = app.switch("harbour")
    assert (messages, chat_state, selected, status) == ([], None, None, "")
    assert "ferry.txt" in documents and "bakery.txt" not in documents
    # a conversation begun in another collection does not carry over: the chat is replaced
    *_, (messages, sources, status, chat2, _, box) = app.respond("When does the harbour ferry leave?", chat, None,
                                                                   5, "extractive", False, "harbour")
    assert chat2 is not chat and chat2.assistant is library.get("harbour")
    answer = chat2.turns[-1][1]
    assert "every hour" in answer.text and [c.doc_id for c in answer.citations] == ["ferry.txt"]
    assert "ferry.txt" in sources
    # uploads go to the chosen collection's uploads folder and index
    status, view, _ = app.upload([{"path": str(write_upload(tmp_path, "x", LIGHTHOUSE)), "orig_name": "light.txt"}],
                                 "harbour")
    assert status.startswith("✓ Added **light.txt**") and "uploads/light.txt" in view
    assert (tmp_path / "up-harbour" / "light.txt").is_file() and not (tmp_path / "up-docs").exists()
    assert "uploads/light.txt" not in app.documents_html("docs")


def test_an_unknown_collection_is_a_status_line_not_a_crash(two_collections):
    app, _ = two_collections
    *_, (messages, sources, status, chat, _, box) = app.respond("Who opened the Crumb bakery?", None, None, 5,
                                                                  "extractive", False, "nope")
    assert status == "⚠ no collection named 'nope'" and box == "Who opened the Crumb bakery?"
