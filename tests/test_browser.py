"""A real browser: Debian's chromium, headless, driven by Playwright, against ``assistant serve --auth``
in its own process with the real model over a copy of ``seeds/``.

It logs in, asks, watches the answer stream in, checks the answer and its highlighted source are on the
screen and that markers bring their source forward, keeps two tabs apart, refuses bad input, uploads,
and checks the page never fetched anything from outside the app. A second server, over a PDF and the
seed article, opens a source on its PDF page (the quoted words boxed where they are printed) and in
its section.

The regression loop runs whole: a wrong answer gets a thumbs-down with the right answer, a right one a
thumbs-up; the Evaluation tab runs the two cases, lists the failing one first, keeps the run as the baseline
and compares two settings; the CLI and pytest then run the cases saved from the chat unchanged.

``UPDATE_SCREENSHOT=1`` writes the README's screenshots to docs/screenshot.png (the chat) and
docs/evaluation.png (the Evaluation tab); otherwise they go to a temporary folder, so a test run leaves the
tree as it was. Chromium is required: without it the tests
fail (``.ci/run`` installs it with apt).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from test_app_e2e import BINARY, NEW_DOC, AppProcess

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
USER, PASSWORD = "ann", "summit-2021"
HIGHLIGHT = "rgb(253, 230, 138)"  # mark.cited's background in assistant/ui/assets.py's CSS
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    app = AppProcess(tmp_path_factory.mktemp("browser-app"),
                     ["-m", "assistant.cli", "serve", "--quiet", "--auth", f"{USER}:{PASSWORD}"], {})
    yield app
    app.stop()


@pytest.fixture(scope="module")
def browser() -> Browser:
    assert Path(CHROMIUM).is_file(), (
        f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium), as .ci/run does"
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def log_in(page: Page, url: str, password: str = PASSWORD) -> None:
    page.goto(url)
    page.locator("input[type=text]").fill(USER)
    page.locator("input[type=password]").fill(password)
    page.get_by_role("button", name="Login").click()


@pytest.fixture(scope="module")
def context(browser, server) -> BrowserContext:
    """One browser profile, logged in once; each test opens its own tabs (each tab is a session)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    seen: list[str] = []
    context.on("request", lambda r: seen.append(r.url))
    context.seen = seen  # type: ignore[attr-defined]
    page = context.new_page()
    log_in(page, server.url)
    expect(page.locator("#question textarea")).to_be_visible(timeout=WAIT_MS)
    page.close()
    yield context
    context.close()


@pytest.fixture
def page(context, server) -> Page:
    page = context.new_page()
    page.goto(server.url)
    expect(page.locator("#question textarea")).to_be_visible(timeout=WAIT_MS)
    yield page
    page.close()


def bot_messages(page: Page):
    return page.locator('#chat [data-testid="bot"]')


def ask(page: Page, question: str) -> None:
    """Type a question and press Enter; wait until its answer is complete (the sources panel names it)."""
    answers = bot_messages(page).count()
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")
    expect(bot_messages(page)).to_have_count(answers + 1, timeout=WAIT_MS)
    expect(page.locator("#sources .sources-question")).to_have_text(f"Sources for “{question}”", timeout=WAIT_MS)


def watch_streaming(page: Page) -> None:
    """Record the length of the newest answer bubble's text each time the chat changes."""
    page.evaluate("""() => {
        window.__lengths = [];
        new MutationObserver(() => {
            const bots = document.querySelectorAll('#chat [data-testid="bot"]');
            if (bots.length) window.__lengths.push(bots[bots.length - 1].innerText.length);
        }).observe(document.querySelector('#chat'), {subtree: true, childList: true, characterData: true});
    }""")


def screenshot_path(tmp_path: Path, name: str = "screenshot.png") -> Path:
    if os.environ.get("UPDATE_SCREENSHOT") == "1":
        (ROOT / "docs").mkdir(exist_ok=True)
        return ROOT / "docs" / name
    return tmp_path / name


def test_a_login_is_required(browser, server):
    context = browser.new_context()
    page = context.new_page()
    log_in(page, server.url, password="wrong")
    expect(page.get_by_text(re.compile("incorrect credentials", re.I))).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#question textarea")).to_have_count(0)
    context.close()


def test_first_open_shows_examples_settings_and_documents(page):
    for question in ("How many AK-203 rifles will India buy?", "Why was the annual summit not held in 2020?"):
        expect(page.locator("#chat").get_by_text(question)).to_be_visible()
    expect(page.get_by_text("Passages retrieved")).to_be_visible()
    expect(page.get_by_text("Answer mode")).to_be_visible()
    expect(page.get_by_text("Show retrieval scores")).to_be_visible()
    page.get_by_role("tab", name="Documents").click()
    table = page.locator("#documents-list")
    expect(table).to_contain_text("1 document, 3 passages indexed.")
    expect(table).to_contain_text("India and Russia sign AK-203 rifle contract")
    expect(table).to_contain_text("2021-12-06")


def test_answer_streams_in_with_its_highlighted_source(page, tmp_path):
    watch_streaming(page)
    ask(page, "How many AK-203 rifles will India buy?")
    answer = bot_messages(page).last
    expect(answer).to_contain_text("6,01,427 AK-203 assault rifles")
    lengths = page.evaluate("window.__lengths")
    growing = sorted(set(n for n in lengths if n > 1))
    assert len(growing) >= 3, f"the answer did not stream in: {lengths}"

    # the short answer and the sentence it stands in both carry [1]
    markers = answer.locator(".cite-0-1")
    expect(markers).to_have_count(2)
    marker = markers.first
    expect(marker).to_have_text("[1]")
    card = page.locator("#source-0-1")
    expect(card).to_be_visible()
    expect(card.locator(".source-title")).to_have_text(
        "India and Russia sign AK-203 rifle contract at the 2+2 dialogue before the 21st annual summit")
    expect(card.locator(".source-date")).to_have_text("2021-12-06")
    cited = card.locator("mark.cited")
    expect(cited).to_be_visible()
    expect(cited).to_contain_text("to procure 6,01,427 AK-203 assault rifles")
    assert cited.evaluate("el => getComputedStyle(el).backgroundColor") == HIGHLIGHT
    expect(cited.locator("strong.short-answer")).to_have_text("6,01,427")  # the short answer, marked in the quote
    expect(card.locator(".passage")).to_contain_text("The two sides also signed a treaty")  # its context

    marker.hover()
    expect(card).to_have_class(re.compile(r"\blinked\b"))
    marker.click()
    expect(card).to_have_class(re.compile(r"\bflash\b"))

    ask(page, "Why was the annual summit not held in 2020?")
    expect(bot_messages(page).last).to_contain_text("Covid-19")
    expect(page.locator("#source-1-1 mark.cited")).to_contain_text("Covid-19")
    page.locator("#chat .cite-1-1").first.hover()
    expect(page.locator("#source-1-1")).to_have_class(re.compile(r"\blinked\b"))
    path = screenshot_path(tmp_path)
    page.screenshot(path=str(path))
    assert path.stat().st_size > 20_000


def test_a_marker_of_an_earlier_answer_brings_its_source_back(page):
    ask(page, "Who is India's defence minister?")
    ask(page, "Who was his Russian counterpart?")
    expect(bot_messages(page).last).to_contain_text("Shoigu")
    expect(page.locator("#source-1-1")).to_be_visible()
    page.locator("#chat .cite-0-1").first.click()  # the short answer's [1] (its sentence carries one too)
    expect(page.locator("#sources .sources-question")).to_have_text("Sources for “Who is India's defence minister?”")
    expect(page.locator("#source-0-1")).to_have_class(re.compile(r"\bflash\b"))
    expect(page.locator("#source-0-1 mark.cited")).to_contain_text("Rajnath Singh")


def test_two_tabs_never_see_each_others_conversation(context, server):
    first, second = context.new_page(), context.new_page()
    for page in (first, second):
        page.goto(server.url)
        expect(page.locator("#question textarea")).to_be_visible(timeout=WAIT_MS)
    ask(first, "Who is India's defence minister?")
    ask(second, "Who is Russia's foreign minister?")
    expect(bot_messages(first)).to_have_count(1)
    expect(bot_messages(second)).to_have_count(1)
    expect(first.locator("#chat")).not_to_contain_text("foreign minister")
    expect(second.locator("#chat")).not_to_contain_text("defence minister")
    # a follow-up in the second tab is read against its own conversation, not the first tab's
    second.locator("#show-scores input").check()
    ask(second, "Who was his counterpart?")
    expect(second.locator("#sources .retrieved-note")).to_contain_text(
        "query “Who is Russia's foreign minister? Who was his counterpart?”")
    first.close()
    second.close()


def test_refusals_and_bad_input_get_clear_messages(page):
    ask(page, "What will the weather be in Delhi during the summit?")
    refusal = bot_messages(page).last.locator(".refusal")
    expect(refusal).to_contain_text("Not in the documents")
    expect(refusal).to_contain_text("The documents don't say what the weather will be in Delhi during the summit.")
    expect(page.locator("#sources .sources-refused")).to_contain_text(
        "No sources. No indexed document says what the weather will be in Delhi during the summit")

    box = page.locator("#question textarea")
    box.fill("   ")
    box.press("Enter")
    expect(page.locator("#status")).to_have_text("⚠ the question is empty; type a question about the documents",
                                                  timeout=WAIT_MS)
    box.fill("x" * 100_000)
    box.press("Enter")
    expect(page.locator("#status")).to_have_text("⚠ the question is 100,000 characters long; keep it under 2,000",
                                                  timeout=WAIT_MS)
    expect(bot_messages(page)).to_have_count(1)
    ask(page, "Who is the Prime Minister of India?")  # still serving
    expect(bot_messages(page).last).to_contain_text("Narendra Modi")
    expect(page.locator("#status")).to_have_text("")


def test_clear_starts_a_new_conversation(page):
    page.locator("#show-scores input").check()
    ask(page, "Who is India's defence minister?")
    page.locator("#clear").click()
    expect(bot_messages(page)).to_have_count(0)
    expect(page.locator("#chat").get_by_text("How many AK-203 rifles will India buy?")).to_be_visible()
    ask(page, "Who was his Russian counterpart?")
    expect(page.locator("#sources .retrieved-note")).to_contain_text("query “Who was his Russian counterpart?”")


def test_upload_refuses_a_binary_file_then_indexes_a_document(page, server):
    page.get_by_role("tab", name="Documents").click()
    upload = page.locator("#upload input[type=file]")
    upload.set_input_files(files=[{"name": "photo.txt", "mimeType": "text/plain", "buffer": BINARY}])
    expect(page.locator("#upload-status")).to_have_text(
        "✗ Refused photo.txt: binary file, not text; convert it to .txt, .md, .html, .pdf, .docx, .pptx, .xlsx, .csv, .epub, .eml, .odt, .rtf, .png, .jpg or .tif. "
        "Nothing already indexed was changed.", timeout=WAIT_MS)
    expect(page.locator("#documents-list")).to_contain_text("1 document, 3 passages indexed.")
    upload.set_input_files(files=[{"name": "Selene Station (notes).md", "mimeType": "text/markdown",
                                   "buffer": NEW_DOC.encode("utf-8")}])
    expect(page.locator("#upload-status")).to_have_text(
        "✓ Added Selene Station (notes).md (saved as uploads/Selene-Station-notes.md): 1 passage indexed; "
        "ask about it now.", timeout=WAIT_MS)
    expect(page.locator("#documents-list")).to_contain_text("2 documents, 4 passages indexed.")
    expect(page.locator("#documents-list")).to_contain_text("Selene research station opens on the Moon")
    assert sorted(p.name for p in server.docs.iterdir()) == [  # the documents folder is left alone
        "india-russia-2plus2-ak203-summit.meta.yaml", "india-russia-2plus2-ak203-summit.txt"
    ]
    assert [p.name for p in (server.work / "data").rglob("*.md")] == ["Selene-Station-notes.md"]
    page.get_by_role("tab", name="Chat").click()
    ask(page, "When did the Selene research station open?")
    expect(bot_messages(page).last).to_contain_text("3 May 2031")
    expect(page.locator("#source-0-1 .source-title")).to_have_text("Selene research station opens on the Moon")
    expect(page.locator("#source-0-1 .source-date")).to_have_text("2031-05-03")


# ------------------------------------------------------------------ from the chat to the gold set and back

WRONG_Q = "What did Moscow's defence chief predict the two nations would boost together?"  # seed: para-russian-prediction
RIGHT_Q = "How many AK-203 rifles will India buy?"


def give_feedback(page: Page, thumb: str) -> None:
    """Press the thumb of the newest answer: its feedback form opens."""
    bot_messages(page).last.hover()
    page.get_by_role("button", name=thumb).last.click()
    expect(page.locator("#feedback-title")).to_be_visible(timeout=WAIT_MS)


def test_feedback_in_the_chat_becomes_cases_the_evaluation_tab_runs_compares_and_the_cli_reruns(page, server, browser,
                                                                                                tmp_path):
    ask(page, WRONG_Q)
    expect(bot_messages(page).last).not_to_contain_text("regional security")  # the answer is wrong
    give_feedback(page, "Dislike")
    expect(page.locator("#feedback-title")).to_contain_text("This answer is wrong")
    page.locator("#feedback-save").click()  # no correction: one line, nothing saved
    expect(page.locator("#feedback-status")).to_have_text(
        "⚠ type the right answer in a few words, or choose that it should refuse", timeout=WAIT_MS)
    page.locator("#feedback-words textarea").fill("regional security")
    page.locator("#feedback-save").click()
    expect(page.locator("#feedback-status")).to_have_text(
        "✓ Saved case moscow-defence-chief-predict-two-nations to the gold file (1 case); run it in the Evaluation tab.",
        timeout=WAIT_MS)
    expect(page.locator("#feedback-title")).to_be_hidden()

    ask(page, RIGHT_Q)
    give_feedback(page, "Like")
    expect(page.locator("#feedback-words textarea")).to_have_value("6,01,427")  # the answer's key words, editable
    page.locator("#feedback-save").click()
    expect(page.locator("#feedback-status")).to_contain_text("✓ Saved case ak-203-rifles-india-buy", timeout=WAIT_MS)

    page.get_by_role("tab", name="Evaluation").click()
    expect(page.get_by_role("tab", name="Evaluation")).to_have_count(1)
    expect(page.locator("#eval-source")).to_contain_text("holds 2 cases", timeout=WAIT_MS)
    page.locator("#eval-run").click()
    summary = page.locator("#eval-summary")
    expect(summary).to_contain_text("1 of 2 cases passed", timeout=WAIT_MS)
    expect(summary).to_contain_text("refusal precision")
    expect(page.locator("#eval-chart img")).to_be_visible()
    rows = page.locator("#eval-cases tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("moscow-defence-chief-predict-two-nations")
    expect(rows.first.locator(".verdict")).to_have_text("✗ fail")
    expect(rows.nth(1).locator(".verdict")).to_have_text("✓ pass")
    expect(rows.first.locator(".eval-expected")).to_have_text("any of “regional security”")
    page.locator("#eval-failures input").check()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(WRONG_Q)
    page.locator("#eval-failures input").uncheck()
    expect(rows).to_have_count(2)
    for report in ("report.md", "report.html", "report.png", "run.json"):  # the CLI's reports, to download
        expect(page.locator(f"#eval-reports a[href$='/{report}']")).to_have_count(1)
    report_url = page.locator("#eval-reports a[href$='/report.html']").get_attribute("href")
    assert page.request.get(report_url).text().startswith("<!doctype html>")
    stranger = browser.new_context()  # without the login the report is not served
    assert stranger.request.get(report_url).status in (401, 403)
    stranger.close()
    page.set_viewport_size({"width": 1400, "height": 1300})  # the summary, the chart and both cases
    page.screenshot(path=str(screenshot_path(tmp_path, "evaluation.png")))
    page.set_viewport_size({"width": 1400, "height": 900})

    rows.nth(1).locator(".eval-source").first.click()  # a case's citation opens where it sits
    expect(page.locator("#eval-page-view mark.cited")).to_contain_text("6,01,427 AK-203 assault rifles",
                                                                       timeout=WAIT_MS)

    page.locator("#eval-baseline").click()
    expect(page.locator("#eval-status")).to_contain_text("This run (1 of 2 cases passed) is the baseline now",
                                                         timeout=WAIT_MS)
    page.locator("#eval-b-other textarea").fill("refusal_threshold=0.99")
    page.locator("#eval-compare").click()
    side = page.locator("#eval-side-by-side")
    expect(side).to_contain_text("B: top_k=5, answer_mode=extractive, refusal_threshold=0.99", timeout=WAIT_MS)
    expect(side).to_contain_text("the answers differ in 2")
    pair = side.locator("tr.eval-pair", has_text=RIGHT_Q)
    expect(pair).to_have_class(re.compile(r"\bdiffers\b"))
    expect(pair.locator("td").nth(1)).to_contain_text("✓ 6,01,427")
    expect(pair.locator("td").nth(2)).to_contain_text("✗ Not in the documents")

    # the cases saved from the chat run unchanged in the CLI (the collection's file, against the baseline set
    # above) and in pytest
    [gold_file] = (server.work / "data").rglob("gold/*.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update(XDG_DATA_HOME=str(server.work / "data"), ASSISTANT_DOCS_DIR=str(server.docs),
               ASSISTANT_INDEX_DIR=str(server.index), PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "assistant.cli", "eval", "--quiet", "--no-update"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("1/2 cases passed: accuracy 0.500")
    assert "0 cases worse than the baseline\n0 cases better than the baseline" in done.stdout
    assert done.stderr.strip().startswith("baseline: ") and done.stderr.strip().endswith(".baseline.json")
    from assistant import Assistant, Settings
    from assistant.evaluation import check_case, gold_params

    bot = Assistant.from_folder(server.docs, index_dir=server.index, settings=Settings(show_progress=False),
                                update=False)
    passed, failed = [], []
    for param in gold_params(gold_file):
        try:
            passed.append(check_case(bot, param.values[0]).id)
        except AssertionError as exc:
            failed.append(str(exc).splitlines()[0])
    assert (passed, failed) == (["ak-203-rifles-india-buy"],
                                ["moscow-defence-chief-predict-two-nations: expected text missing from the answer"])


def test_the_page_fetched_nothing_from_outside_and_the_server_kept_serving(context, server):
    assert len(context.seen) > 50  # the page, its scripts, styles, fonts and API calls were all watched
    assert [url for url in context.seen if not url.startswith((server.url, "data:", "blob:"))] == []
    assert server.alive()
    assert server.network_log.read_text(encoding="utf-8") == ""
    assert "Traceback" not in server.log()


# ------------------------------------------------------------------ a source opened on its page


@pytest.fixture(scope="module")
def pdf_server(tmp_path_factory):
    """The app over a PDF (running header, page numbers, a hyphenated line break) and the seed article."""
    from test_pages import harbour_pdf

    work = tmp_path_factory.mktemp("pdf-app")
    docs = work / "pdf-docs"
    docs.mkdir()
    harbour_pdf(docs / "harbour.pdf")
    for seed in (ROOT / "seeds").iterdir():
        (docs / seed.name).write_bytes(seed.read_bytes())
    app = AppProcess(work, ["-m", "assistant.cli", "serve", "--quiet"], {"ASSISTANT_DOCS_DIR": str(docs)})
    yield app
    app.stop()


@pytest.fixture
def pdf_page(browser, pdf_server) -> Page:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    seen: list[str] = []
    context.on("request", lambda r: seen.append(r.url))
    page = context.new_page()
    page.goto(pdf_server.url)
    expect(page.locator("#question textarea")).to_be_visible(timeout=WAIT_MS)
    yield page
    assert [url for url in seen if not url.startswith((pdf_server.url, "data:", "blob:"))] == []
    context.close()


def page_boxes(page: Page) -> tuple[dict[str, float], list[dict[str, float]]]:
    """The page image's rectangle and each box's, read at one moment (the view may be scrolling)."""
    return page.evaluate("""() => {
        const rect = (el) => { const r = el.getBoundingClientRect();
                               return {x: r.x, y: r.y, width: r.width, height: r.height}; };
        return [rect(document.querySelector('#page-view img.page-image')),
                [...document.querySelectorAll('#page-view .page-mark')].map(rect)];
    }""")


def test_a_source_opens_on_its_pdf_page_with_the_quoted_words_boxed(pdf_page, pdf_server, tmp_path):
    from test_pages import word_rect

    page = pdf_page
    ask(page, "When did the crane arrive?")
    expect(bot_messages(page).last).to_contain_text("The crane arrived in October")
    card = page.locator("#sources .source", has_text="The crane arrived in October").first
    expect(card.locator(".source-where")).to_contain_text("harbour.pdf · p. 3")
    opener = card.locator(".page-open")
    expect(opener).to_have_text("Show on the page (p. 3)")
    opener.click()

    image = page.locator("#page-view img.page-image")
    expect(image).to_be_visible(timeout=WAIT_MS)
    expect(image).to_have_attribute("alt", re.compile(r"^Page 3 of .+ \(harbour\.pdf\), the quoted words boxed$"))
    page.wait_for_function("() => { const i = document.querySelector('#page-view img.page-image');"
                           " return i && i.complete && i.naturalWidth > 0; }", timeout=WAIT_MS)
    assert image.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [1191, 1684]  # A4 at 144 dpi
    expect(page.locator("#page-view .source-where")).to_have_text("harbour.pdf · p. 3")
    expect(page.locator("#page-view .page-quote")).to_contain_text(
        "The crane arrived in October and was working by the first of November.")
    expect(page.locator("#page-view .page-notice")).to_have_count(0)

    # one box per printed line of the quote, each over its words where the page shows them
    marks = page.locator("#page-view .page-mark")
    expect(marks).to_have_count(2)
    assert marks.first.evaluate("m => getComputedStyle(m).position") == "absolute"
    shown, boxes = page_boxes(page)
    scale = shown["width"] / 1191
    for at, (line, words) in zip(boxes, [(0, "The crane arrived in October and was"),
                                         (1, "working by the first of November.")]):
        x0, y0, x1, y1 = (v * scale for v in word_rect(line, "", words))
        assert abs(at["x"] - shown["x"] - x0) <= 3 and abs(at["x"] + at["width"] - shown["x"] - x1) <= 3, (at, x0, x1)
        assert shown["y"] + y0 - 3 <= at["y"] and at["y"] + at["height"] <= shown["y"] + y1 + 3, (at, y0, y1)
    first = boxes[0]
    hit = page.evaluate("([x, y]) => document.elementFromPoint(x, y).className",
                        [first["x"] + first["width"] / 2, first["y"] + first["height"] / 2])
    assert hit == "page-image"  # the boxes let a click through to the page (zoom)
    page.screenshot(path=str(tmp_path / "page-view.png"))

    image.click()  # zoom in: the page grows, the boxes stay on their words
    expect(page.locator("#page-view .page-frame")).to_have_class(re.compile(r"\bzoomed\b"))
    zoomed, [mark, _] = page_boxes(page)
    assert zoomed["width"] > 2 * shown["width"]
    assert abs((mark["x"] - zoomed["x"]) / zoomed["width"] - (first["x"] - shown["x"]) / shown["width"]) < 0.002
    assert abs((mark["y"] - zoomed["y"]) / zoomed["height"] - (first["y"] - shown["y"]) / shown["height"]) < 0.002

    image.focus()  # and out again from the keyboard
    image.press("Enter")
    expect(page.locator("#page-view .page-frame")).not_to_have_class(re.compile(r"\bzoomed\b"))

    page.locator("#page-view .page-close").click()
    expect(page.locator("#page-view .page-view")).to_have_count(0)


def test_a_text_source_opens_in_its_section_and_a_new_question_empties_the_page_view(pdf_page):
    page = pdf_page
    ask(page, "How many AK-203 rifles will India buy?")
    card = page.locator("#source-0-1")
    expect(card.locator(".page-open")).to_have_text("Show in its section")
    card.locator(".page-open").click()
    section = page.locator("#page-view .page-view-section")
    expect(section).to_be_visible(timeout=WAIT_MS)
    cited = section.locator("mark.cited")
    expect(cited).to_contain_text("to procure 6,01,427 AK-203 assault rifles")
    assert cited.evaluate("el => getComputedStyle(el).backgroundColor") == HIGHLIGHT
    expect(section.locator(".section-text")).to_contain_text("The two sides also signed a treaty")
    expect(page.locator("#page-view img")).to_have_count(0)
    ask(page, "When did the crane arrive?")
    expect(page.locator("#page-view .page-view")).to_have_count(0)
