"""The regression loop in the browser: the chat's 👍/👎 feedback form, the ``/feedback`` endpoint and the
Evaluation tab, as Gradio handlers over ``evaluation.EvaluationService`` and wiring for ``build_app``.

👍 on an answer opens a small form with the answer's key words (editable) and saves the case; 👎 asks for the
right answer in a few words, or that it should refuse (or, under a refusal, what it should have answered).
Cases go to the collection's gold file. The Evaluation tab runs that file (or an uploaded one) with a
progress bar, shows the metrics, accuracy by tag and every case against the baseline, keeps a run as the
baseline, and compares two settings side by side; its reports are the ones ``assistant eval`` writes.
"""

from __future__ import annotations

import html
import tempfile
import time
from typing import Any, Callable

import gradio as gr

from ..citations import Answer
from ..core import Chat
from ..errors import AssistantError
from ..evaluation_gold import case_to_dict, split_words, verdict_of
from ..wording import counted
from .assets import EVAL_JS, PAGE_VIEW_JS
from .evaluation import ComparisonRun, EvaluationRun, EvaluationService
from .render import (escape_markdown, render_eval_cases, render_eval_summary, render_page_message,
                     render_side_by_side, render_status)
from .service import ChatService

PROGRESS_EVERY_S = 0.1  # the progress bar moves at most this often (each move is a message to the page)
WRONG_CHOICES = [("The right answer is:", "wrong"), ("It should refuse", "should-refuse")]
REFUSED_CHOICES = [("It should have answered:", "should-answer")]


def feedback_form_state(verdict: str, turn: int, question: str) -> dict[str, Any]:
    """What the open form is about: the verdict, and the turn and its question (a cleared or new conversation
    has another question at that turn)."""
    return {"verdict": verdict, "turn": turn, "question": question}


class GoldApp:
    """The feedback and Evaluation tab handlers, as plain methods (the tests call them directly).

    ``service_for(collection)`` is the app's ``ChatService`` of a collection (``ChatApp.service_for``)."""

    def __init__(self, service_for: Callable[[str | None], ChatService]):
        self.service_for = service_for
        self.reports = tempfile.TemporaryDirectory(prefix="assistant-eval-")  # removed when the app goes

    def evaluation(self, collection: str | None = None) -> EvaluationService:
        return EvaluationService(self.service_for(collection).bot, self.reports.name)

    # --------------------------------------------------------------- feedback in the chat

    def feedback_open(self, chat: Chat | None, evt: gr.LikeData) -> tuple:
        """A thumb on an answer: (form, its title, the 👎 choices, the words box, the form's state, status)."""
        index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        if not chat or not chat.turns or not isinstance(index, int) or evt.liked not in (True, False):
            return self.feedback_closed()
        turn = min(index // 2, len(chat.turns) - 1)
        question, answer = chat.turns[turn]
        asked = f"“{escape_markdown(question)}”"
        if evt.liked:
            if answer.refused:
                return (gr.update(visible=True), f"**Keep the refusal as right** for {asked}: saved as "
                        "`refuse: true`.", gr.update(visible=False, value=None), gr.update(visible=False, value=""),
                        feedback_form_state("right", turn, question), "")
            words = "\n".join(chat.assistant.gold_case(answer, "right", history=chat.questions[:turn]).expect_any)
            return (gr.update(visible=True), f"**Keep this answer as expected** for {asked}. A right answer "
                    "must contain one of these words (one per line; edit them before saving):",
                    gr.update(visible=False, value=None),
                    gr.update(visible=True, value=words, label="Key words of the answer"),
                    feedback_form_state("right", turn, question), "")
        choices = REFUSED_CHOICES if answer.refused else WRONG_CHOICES
        return (gr.update(visible=True), f"**This answer is wrong** for {asked}. What is right?",
                gr.update(visible=not answer.refused, choices=choices, value=choices[0][1]),
                gr.update(visible=True, value="", label="The right answer, in a few words (alternatives on lines "
                          "of their own)"),
                feedback_form_state(choices[0][1], turn, question), "")

    @staticmethod
    def feedback_closed() -> tuple:
        return (gr.update(visible=False), "", gr.update(visible=False), gr.update(visible=False, value=""), None, "")

    @staticmethod
    def feedback_choice(kind: str | None) -> Any:
        """Only a wrong answer or one that should have been given needs words typed."""
        return gr.update(visible=kind != "should-refuse")

    def feedback_save(self, chat: Chat | None, form: dict[str, Any] | None, kind: str | None, words: str) -> tuple:
        """The form's Save: (form, status line, the form's state). The case goes to the gold file of the
        collection that answered. A bad correction keeps the form open with one line saying what to do;
        nothing is written."""
        if not chat or not form or not 0 <= form["turn"] < len(chat.turns) or \
                chat.turns[form["turn"]][0] != form["question"]:
            return gr.update(visible=False), render_status("that answer is no longer in this conversation"), None
        verdict = form["verdict"] if form["verdict"] == "right" else (kind or form["verdict"])
        answer = chat.turns[form["turn"]][1]
        evaluation = EvaluationService(chat.assistant, self.reports.name)
        try:
            if verdict == "right" and not answer.refused and not split_words(words):
                raise AssistantError("keep at least one key word the answer must contain, or give it a thumbs-down instead")
            case = evaluation.save_feedback(answer, verdict, words, chat.questions[:form["turn"]])
            count = counted(len(evaluation.gold.cases()), "case")
        except AssistantError as exc:
            return gr.update(visible=True), render_status(str(exc)), form
        return (gr.update(visible=False), f"✓ Saved case **{escape_markdown(case.id)}** to the gold file ({count}); "
                "run it in the Evaluation tab.", None)

    def api_feedback(self, question: str, verdict: str, correction: str | None, history: Any,
                     chat: Chat | None) -> dict[str, Any]:
        """The ``/feedback`` endpoint: the case the verdict on the question's answer makes, saved."""
        try:
            history = [str(h) for h in history] if isinstance(history, list) else split_words(history or "")
            verdict = verdict_of(verdict)
            evaluation = self.evaluation()
            answer = evaluation.answer_for(question, history, chat.turns if chat else ())
            return case_to_dict(evaluation.save_feedback(answer, verdict, correction, history))
        except AssistantError as exc:
            raise gr.Error(html.escape(str(exc), quote=False), print_exception=False) from None

    # --------------------------------------------------------------- the Evaluation tab

    def eval_describe(self, collection: str | None = None) -> str:
        try:
            return escape_markdown(self.evaluation(collection).describe())
        except AssistantError as exc:
            return render_status(str(exc))

    def eval_run(self, upload: Any, collection: str | None, top_k: Any, mode: Any,
                 progress: Any = gr.Progress()) -> tuple:
        """Run: (summary, chart, cases, reports, run state, tag filter, status, source line)."""
        try:
            chat_service = self.service_for(collection)
            top_k, mode = chat_service.options(top_k, mode)
            evaluation = EvaluationService(chat_service.bot, self.reports.name)
            cases, source = evaluation.cases(upload)
            run = evaluation.run(cases, source, top_k, mode, progress=progress_steps(progress, "Asking"))
        except AssistantError as exc:
            return (gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), render_status(str(exc)),
                    gr.skip())
        tags = sorted({t for r in run.result.cases for t in r.tags})
        return (render_eval_summary(run), str(run.chart), render_eval_cases(run), [str(p) for p in run.reports], run,
                gr.update(choices=[("all tags", "")] + [(t, t) for t in tags], value=""), "",
                escape_markdown(evaluation.describe()))

    @staticmethod
    def eval_filter(run: EvaluationRun | None, failures_only: bool, worse_only: bool, tag: str | None) -> str:
        if run is None:
            return gr.skip()
        return render_eval_cases(run, bool(failures_only), bool(worse_only), tag or "")

    def eval_set_baseline(self, run: EvaluationRun | None, collection: str | None = None) -> tuple[str, str]:
        """Set as baseline: (status, source line)."""
        if run is None:
            return render_status("run the gold set first; then its run can become the baseline"), gr.skip()
        try:
            evaluation = self.evaluation(collection)
            path = evaluation.set_baseline(run)
        except (AssistantError, OSError) as exc:
            return render_status(f"could not keep the baseline ({exc})"), gr.skip()
        return (f"✓ This run ({run.result.metrics['passed']} of {counted(run.result.metrics['cases'], 'case')} "
                f"passed) is the baseline now: later runs, here and `assistant eval`, are compared with it "
                f"({escape_markdown(str(path))}).", escape_markdown(evaluation.describe()))

    def eval_compare(self, upload: Any, collection: str | None, a_top_k: Any, a_mode: Any, a_other: str,
                     b_top_k: Any, b_mode: Any, b_other: str, progress: Any = gr.Progress()) -> tuple:
        """Compare: each side's passages, answer mode and other settings ("reader=off"); (side by side,
        reports, comparison state, status)."""
        try:
            evaluation = self.evaluation(collection)
            cases, _ = evaluation.cases(upload)
            compared = evaluation.compare(cases, overrides_text(a_top_k, a_mode, a_other),
                                          overrides_text(b_top_k, b_mode, b_other),
                                          progress=progress_steps(progress, "Comparing"))
        except AssistantError as exc:
            return gr.skip(), gr.skip(), gr.skip(), render_status(str(exc))
        return render_side_by_side(compared), [str(p) for p in compared.reports], compared, ""

    def eval_open_source(self, run: EvaluationRun | None, compared: ComparisonRun | None,
                         collection: str | None, evt: gr.EventData) -> str:
        """A citation's button in a case row: its source where it sits (the page, the quote boxed)."""
        case_id, side, number = getattr(evt, "case", None), getattr(evt, "side", ""), getattr(evt, "n", None)
        answer: Answer | None = None
        if side in ("a", "b") and compared is not None:
            answer = compared.answer(side, case_id)
        elif run is not None:
            answer = run.result.answers.get(case_id)
        citation = next((c for c in answer.citations if c.number == number), None) if answer else None
        if citation is None:
            return render_page_message("that case is no longer in this run; run the gold set again")
        try:
            return self.service_for(collection).page_view_html(citation)
        except AssistantError as exc:  # the collection itself is gone
            return render_page_message(str(exc))


def progress_steps(progress: Any, verb: str) -> Callable[[int, int, Any], None]:
    """``evaluate``'s progress callback moving Gradio's bar: at most every ``PROGRESS_EVERY_S``, and the last."""
    last = [0.0]

    def step(i: int, n: int, case: Any) -> None:
        now = time.monotonic()
        if i == n or now - last[0] >= PROGRESS_EVERY_S:
            last[0] = now
            progress((i, n), desc=f"{verb}: case {i} of {n}", unit="cases")
    return step


def overrides_text(top_k: Any, mode: Any, other: str | None) -> str:
    """One side of Compare as setting overrides: "top_k=5, answer_mode=extractive, reader=off"."""
    parts = [f"top_k={int(float(top_k))}" if top_k not in (None, "") else "", f"answer_mode={mode}" if mode else "",
             (other or "").strip()]
    return ", ".join(p for p in parts if p)


# ------------------------------------------------------------------------------------ wiring


def feedback_form(gold: GoldApp, chatbot: gr.Chatbot, chat_state: gr.State) -> None:
    """The feedback form under the chat, opened by the Chatbot's own thumbs (its ``like`` event)."""
    form_state = gr.State(None)
    with gr.Column(visible=False, elem_id="feedback", variant="panel") as panel:
        title = gr.Markdown("", elem_id="feedback-title")
        kind = gr.Radio(WRONG_CHOICES, show_label=False, visible=False, elem_id="feedback-kind")
        words = gr.Textbox("", lines=2, max_lines=6, elem_id="feedback-words", label="Key words of the answer")
        with gr.Row():
            save = gr.Button("Save case", variant="primary", size="sm", elem_id="feedback-save")
            cancel = gr.Button("Cancel", size="sm", elem_id="feedback-cancel")
    status = gr.Markdown("", elem_id="feedback-status")
    outputs = [panel, title, kind, words, form_state, status]
    chatbot.like(gold.feedback_open, [chat_state], outputs, api_visibility="private")
    kind.change(gold.feedback_choice, kind, words, api_visibility="private")
    cancel.click(gold.feedback_closed, None, outputs, api_visibility="private")
    save.click(gold.feedback_save, [chat_state, form_state, kind, words], [panel, status, form_state],
               api_visibility="private")


def feedback_endpoint(gold: GoldApp, chat_state: gr.State) -> None:
    """``/feedback`` for gradio_client: (question, verdict, correction, history) -> the saved case."""
    question = gr.Textbox(visible=False, label="question")
    verdict = gr.Textbox(visible=False, label="verdict")
    correction = gr.Textbox(visible=False, label="correction")
    history = gr.JSON(visible=False, label="history")
    button = gr.Button(visible=False)
    case = gr.JSON(visible=False)
    button.click(gold.api_feedback, [question, verdict, correction, history, chat_state], case, api_name="feedback",
                 api_description="Save feedback on the answer to a question as a case of the collection's gold file: "
                 "verdict right (👍), wrong (👎, correction: the right answer in a few words), should-refuse or "
                 "should-answer (with a correction); history: the conversation's earlier questions. Returns the "
                 "case as saved (a question saved before is updated, not added again).")


def evaluation_tab(gold: GoldApp, collection_state: gr.State, top_k: gr.Slider, mode: gr.Radio, settings: Any,
                   page_view_js: str = PAGE_VIEW_JS) -> gr.Tab:
    """The Evaluation tab, inside ``build_app``'s Blocks; returns the tab (its select event refreshes it)."""
    from ..config import ANSWER_MODES

    with gr.Tab("Evaluation", id="evaluation-tab") as tab:
        # inside the tab: a State that is a child of gr.Tabs itself showed the tab's name twice
        run_state, compared_state = gr.State(None), gr.State(None)
        source = gr.Markdown(gold.eval_describe(), elem_id="eval-source")
        with gr.Row(equal_height=True):
            upload = gr.File(label="Or run an uploaded gold file (YAML, JSONL, or CSV of question,answer)",
                             file_types=[".yaml", ".yml", ".jsonl", ".csv"], type="filepath", height=120,
                             elem_id="eval-upload", scale=3)
            with gr.Column(scale=1, min_width=200):
                run = gr.Button("Run", variant="primary", elem_id="eval-run")
                baseline = gr.Button("Set as baseline", elem_id="eval-baseline")
        status = gr.Markdown("", elem_id="eval-status")
        with gr.Row(equal_height=False):
            summary = gr.HTML("", elem_id="eval-summary", min_height=120)
            chart = gr.Image(None, type="filepath", label="Accuracy by tag", show_label=False, elem_id="eval-chart",
                             interactive=False, height=300, buttons=["download"])
        with gr.Row():
            failures = gr.Checkbox(False, label="Failures only", elem_id="eval-failures")
            worse = gr.Checkbox(False, label="Worse only", elem_id="eval-worse")
            tag = gr.Dropdown([("all tags", "")], value="", label="Tag", elem_id="eval-tag", scale=2)
        cases = gr.HTML("", elem_id="eval-cases", js_on_load=EVAL_JS)
        page_view = gr.HTML("", elem_id="eval-page-view", js_on_load=page_view_js)
        reports = gr.File(label="Reports (the ones `assistant eval --report` writes) and the run's JSON",
                          file_count="multiple", interactive=False, elem_id="eval-reports")
        with gr.Accordion("Compare two settings over the same cases", open=True, elem_id="eval-compare-panel"):
            sides = []
            with gr.Row():
                for name in ("A", "B"):
                    with gr.Column(min_width=260):
                        gr.Markdown(f"**{name}**")
                        k = gr.Slider(1, max(20, settings.top_k), value=settings.top_k, step=1,
                                      label="Passages retrieved", elem_id=f"eval-{name.lower()}-top-k")
                        m = gr.Radio(list(ANSWER_MODES), value=settings.answer_mode, label="Answer mode",
                                     elem_id=f"eval-{name.lower()}-mode")
                        other = gr.Textbox("", label="Other settings", placeholder="reader=off, max_sentences=1",
                                           elem_id=f"eval-{name.lower()}-other")
                        sides.append((k, m, other))
            compare = gr.Button("Compare", elem_id="eval-compare")
            compare_status = gr.Markdown("", elem_id="eval-compare-status")
            side_by_side = gr.HTML("", elem_id="eval-side-by-side", js_on_load=EVAL_JS, min_height=60)
            compare_reports = gr.File(label="Comparison reports (`assistant eval --compare A B --report`)",
                                      file_count="multiple", interactive=False, elem_id="eval-compare-reports")

    run.click(gold.eval_run, [upload, collection_state, top_k, mode],
              [summary, chart, cases, reports, run_state, tag, status, source],
              api_name="evaluate", api_visibility="undocumented", concurrency_limit=2, show_progress_on=[summary])
    for box in (failures, worse, tag):
        box.change(gold.eval_filter, [run_state, failures, worse, tag], cases, api_visibility="private")
    baseline.click(gold.eval_set_baseline, [run_state, collection_state], [status, source], api_visibility="private")
    compare.click(gold.eval_compare, [upload, collection_state, *sides[0], *sides[1]],
                  [side_by_side, compare_reports, compared_state, compare_status], api_visibility="private",
                  concurrency_limit=2, show_progress_on=[side_by_side])
    for html_view in (cases, side_by_side):
        html_view.open_source(gold.eval_open_source, [run_state, compared_state, collection_state], page_view,
                              api_visibility="private", show_progress="minimal")
    tab.select(gold.eval_describe, collection_state, source, api_visibility="private")
    return tab
