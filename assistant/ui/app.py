"""The chat in the browser: the Gradio app over the public API (``Assistant``, ``Chat``), and its entry points.

``python app.py`` (or ``assistant serve``) loads the index, building or updating it from the documents
folder, and serves the chat, by default on http://127.0.0.1:7860 (never through a share link). Each browser
tab has its own ``Chat`` (kept in ``gr.State``); answers stream in, every ``[n]`` marker links to a sources
panel that shows the document's title, date and the passage with the cited sentence highlighted. A documents tab
lists what is indexed and takes uploads of the supported types (``assistant.documents.SUPPORTED``), indexed
incrementally with ``Assistant.refresh``.

The same app answers programs: ``/ask`` returns the answer and its citations as JSON, and keeps a
conversation per client session (``/clear`` starts a new one); ``/upload`` and ``/documents`` manage
the documents; ``/feedback`` saves a gold case. 👍/👎 on an answer and the Evaluation tab are wired in from
evaluation_tab.py.

>>> from gradio_client import Client                                              # doctest: +SKIP
>>> client = Client("http://127.0.0.1:7860/")                                    # doctest: +SKIP
>>> client.predict("How many AK-203 rifles will India buy?", api_name="/ask")["text"]  # doctest: +SKIP
'India on Monday signed a contract with Russia to procure 6,01,427 AK-203 assault rifles ... [1]'

This module holds the wiring and the entry points (``launch``, ``serve``, ``main``): the handlers
(``ChatApp``) turn Gradio events into calls on ``ChatService`` (service.py) and HTML from render.py; the
page's CSS and JS are in assets.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import html
import os
import sys
import threading
import time
from typing import Any, Iterator, Sequence

import gradio as gr

from ..citations import Answer
from ..config import ANSWER_MODES, Settings
from ..core import Assistant, Chat, DocumentInfo
from ..documents import describe_supported
from ..errors import AssistantError, ConfigError
from ..library import Library
from ..process import EXIT_INTERRUPTED, EXIT_USER_ERROR, quiet_libraries
from ..progress import ProgressLines
from ..wording import counted
from .assets import CSS, JS, PAGE_VIEW_JS, SOURCES_JS, THEME_FONTS
from .render import (
    EMPTY_SOURCES,
    answer_json,
    chat_messages,
    documents_json,
    render_documents,
    render_page_message,
    render_sources,
    render_status,
)
from .evaluation_tab import GoldApp, evaluation_tab, feedback_endpoint, feedback_form
from .service import STREAM_DELAY, ChatService
from .uploads import uploaded_files

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
TITLE = "Document Q&A"

EXAMPLES = [
    "How many AK-203 rifles will India buy?",
    "Who was Rajnath Singh's Russian counterpart?",
    "Why was the annual summit not held in 2020?",
    "What did the two sides sign about Kalashnikov small arms manufacturing?",
]

# The answer modes' labels in the settings panel; a mode without one shows its name.
MODE_LABELS = {"extractive": "Extractive: quotes the documents' own sentences",
               "llm": "LLM: a model writes the answer; every claim is checked against its source"}


# ---------------------------------------------------------------------------------------- the app


class ChatApp:
    """The event handlers of one app, as plain methods (the tests call them directly)."""

    def __init__(self, service: ChatService, library: Library | None = None):
        self.service = service  # the default collection's
        self.library = library  # the other collections, chosen in the settings panel
        self._services = {service.bot.collection: service}
        self._lock = threading.Lock()
        self.gold = GoldApp(self.service_for)  # the chat's thumbs, /feedback and the Evaluation tab

    def service_for(self, collection: str | None = None) -> ChatService:
        """The service of ``collection`` (default: the app's first), loading it on first use."""
        if not collection or self.library is None or collection == self.service.bot.collection:
            return self.service
        with self._lock:
            found = self._services.get(collection)
        if found is None:
            found = ChatService(self.library.get(collection, wait=False), stream_delay=self.service.stream_delay)
            with self._lock:
                found = self._services.setdefault(collection, found)
        return found

    def _service_of(self, chat: Chat | None) -> ChatService:
        with self._lock:
            services = list(self._services.values())
        return next((s for s in services if chat is not None and chat.assistant is s.bot), self.service)

    def _doc_infos(self, service: ChatService | None = None) -> dict[str, DocumentInfo]:
        return {d.doc_id: d for d in (service or self.service).documents()}

    def sources_for(self, chat: Chat | None, turn: int | None, show_scores: bool) -> str:
        if not chat or not chat.turns:
            return EMPTY_SOURCES
        if turn is None or not 0 <= turn < len(chat.turns):
            turn = len(chat.turns) - 1
        service = self._service_of(chat)
        return render_sources(chat.turns[turn][1], turn, self._doc_infos(service), service.document_text, show_scores)

    # --------------------------------------------------------------- chat

    def respond(self, question: str, chat: Chat | None, selected: int | None, top_k: Any, mode: Any,
                show_scores: bool, collection: str | None = None) -> Iterator[tuple]:
        """Stream one answer: yields (messages, sources, status, chat, selected turn, input box)."""
        try:
            service = self.service_for(collection)
            if chat is None or chat.assistant is not service.bot:  # another collection: a new conversation
                chat = service.new_chat()
            pieces = service.stream(chat, question, top_k, mode)
        except AssistantError as exc:
            yield (chat_messages(chat), self.sources_for(chat, selected, show_scores), render_status(str(exc)),
                   chat, selected, question)
            return
        shown = " ".join(str(question).split())
        text = ""
        for piece in pieces:
            if isinstance(piece, Answer):
                break
            text += piece
            yield (chat_messages(chat, pending=(shown, text)), gr.skip(), "", chat, selected, "")
            if service.stream_delay and mode != "llm":  # model tokens come at their own pace
                time.sleep(service.stream_delay)
        yield chat_messages(chat), self.sources_for(chat, None, show_scores), "", chat, None, ""

    def clear(self, chat: Chat | None) -> tuple:
        if chat:
            chat.reset()
        return [], EMPTY_SOURCES, "", chat, None

    def select(self, chat: Chat | None, show_scores: bool, evt: gr.SelectData) -> tuple[str, int | None]:
        """A click on a message shows that answer's sources."""
        index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        if not chat or not chat.turns or not isinstance(index, int):
            return gr.skip(), gr.skip()
        turn = min(index // 2, len(chat.turns) - 1)
        return self.sources_for(chat, turn, show_scores), turn

    def open_page(self, chat: Chat | None, evt: gr.EventData) -> str:
        """A source card's button (the sources panel's ``open_page`` event, with the card's turn and
        number): that source on its page with the quote boxed, or in its section, for the page view."""
        turn, number = getattr(evt, "turn", None), getattr(evt, "n", None)
        answer = chat.turns[turn][1] if chat and isinstance(turn, int) and 0 <= turn < len(chat.turns) else None
        citation = next((c for c in answer.citations if c.number == number), None) if answer else None
        if citation is None:
            return render_page_message("that answer is no longer in this conversation; ask the question again")
        return self._service_of(chat).page_view_html(citation, "; the passage above is what it says there")

    @staticmethod
    def example(evt: gr.SelectData) -> str:
        value = evt.value
        return value.get("text", "") if isinstance(value, dict) else str(value or "")

    # --------------------------------------------------------------- API

    def api_ask(self, question: str, top_k: Any, chat: Chat | None) -> tuple[dict[str, Any], Chat]:
        """The ``/ask`` endpoint: one question of the session's conversation, answered as JSON."""
        chat = chat or self.service.new_chat()
        try:
            answer = self.service.ask(chat, question, top_k)
        except AssistantError as exc:
            raise gr.Error(html.escape(str(exc), quote=False), print_exception=False) from None
        return answer_json(answer, self._doc_infos()), chat

    def api_clear(self, chat: Chat | None) -> tuple[str, Chat | None]:
        if chat:
            chat.reset()
        return "the conversation is cleared", chat

    def api_documents(self) -> list[dict[str, Any]]:
        return documents_json(self.service.documents())

    def api_upload(self, files: Any) -> dict[str, Any]:
        report = self.service.add_files(uploaded_files(files))
        return {**report.to_dict(), "documents": self.api_documents()}

    # --------------------------------------------------------------- documents

    def documents_html(self, collection: str | None = None) -> str:
        try:
            service = self.service_for(collection)
        except AssistantError as exc:
            return render_status(str(exc))
        return render_documents(service.documents(), service.bot.skipped)

    def upload(self, files: Any, collection: str | None = None, progress: Any = gr.Progress()) -> tuple[str, str, None]:
        """The upload control: (status message, documents view, cleared upload box). While the index is
        updated, Gradio's progress bar over the status shows each phase with its rate and time left."""
        try:
            service = self.service_for(collection)
        except AssistantError as exc:
            return render_status(str(exc)), gr.skip(), None
        report = service.add_files(uploaded_files(files), ProgressLines(
            lambda line, done, total, unit: progress((done, total), desc=line, unit=unit)))
        return report.markdown(), self.documents_html(collection), None

    def switch(self, collection: str) -> tuple:
        """Another collection chosen: a new conversation over it (chat, sources, status, chat state,
        selected turn, documents view)."""
        status = ""
        try:
            self.service_for(collection)
        except AssistantError as exc:
            status = render_status(str(exc))
        return [], EMPTY_SOURCES, status, None, None, self.documents_html(collection)




def build_app(bot: Assistant, *, examples: Sequence[str] = EXAMPLES, stream_delay: float = STREAM_DELAY,
              library: Library | None = None) -> gr.Blocks:
    """The Gradio app over ``bot``. Launch it with ``launch(demo, ...)`` (or ``demo.launch``).

    With a ``library`` of several collections, a selector in the settings panel chooses the one asked
    (``bot`` is shown first); each switch starts a new conversation."""
    service = ChatService(bot, stream_delay=stream_delay)
    handlers = ChatApp(service, library)
    names = library.names if library is not None and len(library.names) > 1 else []
    first = bot.collection or (names[0] if names else "")
    settings = bot.settings
    # Uploads are copied into the uploads folder at once; Gradio's own copies are deleted after an hour.
    with gr.Blocks(title=TITLE, fill_width=True, delete_cache=(3600, 3600), analytics_enabled=False) as demo:
        demo.handlers = handlers  # type: ignore[attr-defined]  # for tests and embedding
        chat_state = gr.State(None)  # this session's Chat, created on its first question
        selected = gr.State(None)  # the turn whose sources are shown (None: the latest)
        collection_state = gr.State(first)  # the collection this session asks

        with gr.Sidebar(label="Settings", open=True, position="left", width=290):
            gr.Markdown("### Settings")
            # Only with several collections; a user's choice (the input event, not change, which the
            # page also fires when it sets the value itself) starts a new conversation over the other one.
            collection = gr.Dropdown(names, value=first, label="Collection", elem_id="collection",
                                     info="Which documents to ask; switching starts a new conversation") \
                if names else None
            top_k = gr.Slider(1, max(20, settings.top_k), value=settings.top_k, step=1, label="Passages retrieved",
                              info="How many passages are searched for each question", elem_id="top-k")
            mode = gr.Radio([(MODE_LABELS.get(m, m), m) for m in ANSWER_MODES], value=settings.answer_mode,
                            label="Answer mode", info="Extractive quotes sentences; LLM lets a model write the "
                            "answer, keeps only what its cited passages support (pip install -e '.[llm]')",
                            elem_id="answer-mode")
            show_scores = gr.Checkbox(False, label="Show retrieval scores", elem_id="show-scores")

        gr.Markdown(f"## {TITLE}\nAsk about the indexed documents. Answers cite their sources: each [n] marker "
                    "points at the passage its sentence comes from.")
        with gr.Tabs():
            with gr.Tab("Chat", id="chat-tab"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=360):
                        chatbot = gr.Chatbot(
                            label="Conversation", show_label=False, elem_id="chat", height=520, latex_delimiters=[],
                            examples=[{"text": q} for q in examples] or None, feedback_options=("Like", "Dislike"),
                            placeholder="**Ask a question about the documents**, or pick an example:",
                            buttons=["copy"],
                        )
                        with gr.Row():
                            box = gr.Textbox(placeholder="Ask about the documents… (Enter sends)", show_label=False,
                                             lines=1, max_lines=6, scale=5, elem_id="question", autofocus=True)
                            send = gr.Button("Send", variant="primary", scale=1, min_width=80, elem_id="send")
                            clear = gr.Button("Clear", scale=1, min_width=80, elem_id="clear")
                        status = gr.Markdown("", elem_id="status")
                        feedback_form(handlers.gold, chatbot, chat_state)
                    with gr.Column(scale=2, min_width=320):
                        gr.Markdown("### Sources")
                        sources = gr.HTML(EMPTY_SOURCES, elem_id="sources", js_on_load=SOURCES_JS)
                        page_view = gr.HTML("", elem_id="page-view", js_on_load=PAGE_VIEW_JS)
            with gr.Tab("Documents", id="documents-tab") as documents_tab:
                documents_view = gr.HTML(handlers.documents_html(), elem_id="documents")
                limit = f"up to {settings.max_file_mb:g} MB each"
                files = gr.File(file_count="multiple", elem_id="upload", height=140,
                                label=f"Add documents: {describe_supported()}, {limit}")
                upload_status = gr.Markdown("", elem_id="upload-status")
            evaluation_tab(handlers.gold, collection_state, top_k, mode, settings)

        # Hidden parts of the API: their events are endpoints for gradio_client, not controls.
        api_question = gr.Textbox(visible=False)
        api_top_k = gr.Number(value=settings.top_k, precision=0, visible=False)
        api_answer = gr.JSON(visible=False)
        api_button = gr.Button(visible=False)
        api_clear_button = gr.Button(visible=False)
        api_cleared = gr.Textbox(visible=False)
        api_files = gr.File(file_count="multiple", visible=False)
        api_upload_button = gr.Button(visible=False)
        api_upload_result = gr.JSON(visible=False)

        chat_io = dict(inputs=[box, chat_state, selected, top_k, mode, show_scores, collection_state],
                       outputs=[chatbot, sources, status, chat_state, selected, box])
        box.submit(handlers.respond, **chat_io, api_name="chat", api_visibility="undocumented",
                   show_progress="hidden")
        send.click(handlers.respond, **chat_io, api_visibility="private", show_progress="hidden")
        chatbot.example_select(handlers.example, None, box, api_visibility="private").then(
            handlers.respond, **chat_io, api_visibility="private", show_progress="hidden")
        clear_io = dict(inputs=[chat_state], outputs=[chatbot, sources, status, chat_state, selected])
        clear.click(handlers.clear, **clear_io, api_name="clear_button", api_visibility="private")
        chatbot.clear(handlers.clear, **clear_io, api_name="clear_bin", api_visibility="private")  # its bin icon
        chatbot.select(handlers.select, [chat_state, show_scores], [sources, selected], api_visibility="private")
        show_scores.change(handlers.sources_for, [chat_state, selected, show_scores], [sources],
                           api_visibility="private")
        sources.open_page(handlers.open_page, [chat_state], [page_view], api_visibility="private",
                          show_progress="minimal")
        for emptied in (box.submit, send.click, clear.click, chatbot.clear, chatbot.example_select):
            emptied(None, None, page_view, js="() => ''", api_visibility="private")  # in the browser alone

        if collection is not None:
            collection.input(lambda name: name, collection, collection_state, api_visibility="private").then(
                handlers.switch, collection, [chatbot, sources, status, chat_state, selected, documents_view],
                api_visibility="private")
        documents_tab.select(handlers.documents_html, collection_state, documents_view, api_visibility="private")
        demo.load(handlers.documents_html, collection_state, documents_view, api_visibility="private")
        # preprocess=False: the handler sees each file's name as the user gave it (and judges it) while
        # Gradio has still checked that every path is one of its own uploads.
        files.upload(handlers.upload, [files, collection_state], [upload_status, documents_view, files],
                     preprocess=False,
                     api_name="upload_documents", api_visibility="undocumented", concurrency_limit=1)

        api_button.click(handlers.api_ask, [api_question, api_top_k, chat_state], [api_answer, chat_state],
                         api_name="ask", api_description="Answer a question of this session's conversation; "
                         "returns the answer text with [n] markers, refused, and citations (doc_id, title, date, "
                         "quote, start, end, score).")
        api_clear_button.click(handlers.api_clear, [chat_state], [api_cleared, chat_state], api_name="clear",
                               api_description="Start a new conversation in this session.")
        api_upload_button.click(handlers.api_upload, api_files, api_upload_result, preprocess=False,
                                api_name="upload", concurrency_limit=1,
                                api_description=f"Add {describe_supported()} files to the uploads folder and "
                                "index them; returns what was added and refused, and the documents now indexed.")
        feedback_endpoint(handlers.gold, chat_state)
        gr.api(handlers.api_documents, api_name="documents",
               api_description="The indexed documents: doc_id, title, date, passages, indexed_at.")
    # Questions from several users run side by side; uploads run one at a time, and a question asked while
    # one is indexed is answered from the index as it was (Assistant.refresh swaps the new one in whole).
    demo.queue(default_concurrency_limit=8, max_size=128)
    return demo


def gradio_options(auth: tuple[str, str] | None = None) -> dict[str, Any]:
    """The page's look and the features left off, the same for ``launch`` and for mounting on a server."""
    return dict(ssr_mode=False, mcp_server=False, pwa=False, enable_monitoring=False, show_error=False,
                auth_message="Sign in to ask about the documents." if auth else None,
                theme=gr.themes.Soft(**THEME_FONTS), css=CSS, js=JS, footer_links=["api", "settings"])


def launch(demo: gr.Blocks, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
           auth: tuple[str, str] | None = None, max_file_mb: float = 20.0, block: bool = True, quiet: bool = False):
    """Serve ``demo`` locally: never a share link, no analytics, no MCP server, files up to ``max_file_mb``.

    Gradio's own lines are not printed (one of them suggests ``share=True``, which is off by design);
    unless ``quiet``, one ``serving on http://host:port`` line is, once the server listens. With ``block``
    this returns when the server stops (Ctrl-C).
    """
    try:
        launched = demo.launch(
            server_name=host, server_port=port, auth=auth, share=False, inbrowser=False,
            max_file_size=int(max_file_mb * 1024 * 1024), prevent_thread_lock=True, quiet=True,
            **gradio_options(auth),
        )
    except OSError as exc:
        raise ConfigError(f"cannot serve on {host}:{port} ({exc}); pass another --port or --host") from None
    if not quiet:
        print(f"serving on http://{host}:{port}", flush=True)
    if block:
        demo.block_thread()
    return launched


# ---------------------------------------------------------------------------------------- entry points


def add_server_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--host", help=f"address to listen on (default {DEFAULT_HOST}, or ASSISTANT_HOST)")
    parser.add_argument("--port", help=f"port to listen on (default {DEFAULT_PORT}, or ASSISTANT_PORT)")
    parser.add_argument("--auth", help="require a login, as user:password (or ASSISTANT_AUTH)")
    return parser


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """``user:password`` as a (user, password) pair; ``None`` or ``""`` for no login."""
    if value is None or value == "":
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise ConfigError("--auth must look like user:password (both parts non-empty)")
    return user, password


def server_options(host: str | None = None, port: Any = None, auth: str | None = None,
                   env: dict[str, str] | None = None) -> tuple[str, int, tuple[str, str] | None]:
    """Host, port and login from flags, else ``ASSISTANT_HOST``/``ASSISTANT_PORT``/``ASSISTANT_AUTH``."""
    env = os.environ if env is None else env
    host = host or env.get("ASSISTANT_HOST") or DEFAULT_HOST
    raw_port = port if port not in (None, "") else env.get("ASSISTANT_PORT") or DEFAULT_PORT
    try:
        port = int(raw_port)
    except (TypeError, ValueError):
        raise ConfigError(f"the port must be a number from 1 to 65535, got {raw_port!r}") from None
    if not 1 <= port <= 65535:
        raise ConfigError(f"the port must be a number from 1 to 65535, got {port}")
    return host, port, parse_auth(auth if auth is not None else env.get("ASSISTANT_AUTH"))


def serve(settings: Settings | None = None, host: str | None = None, port: Any = None, auth: str | None = None,
          *, config_file: str | None = None, collection: str | None = None, ui: bool = True,
          overrides: dict[str, Any] | None = None) -> int:
    """Serve the chat (unless ``ui`` is False), the OpenAI-compatible API and MCP on one port until
    interrupted, over every collection of the config; the chat shows ``collection`` (default: the first)."""
    from ..api.keys import ApiKeys
    from ..api.server import build_server, launch_with_chat, run
    from ..config import collections

    host, port, login = server_options(host, port, auth)
    found = collections(config_file, **(overrides or {}))
    if settings is not None:  # settings given in code: they are the default collection's
        first = next(iter(found))
        found[first] = dataclasses.replace(found[first], settings=settings.replace(
            uploads_dir=settings.uploads_dir or found[first].settings.uploads_dir))
    library = Library(found)
    keys = ApiKeys.load(config_file)
    name = collection or library.default
    if name not in library.names:
        raise ConfigError(f"no collection named {name!r}; the config has {', '.join(library.names)}")
    shown = library.collections[name].settings
    print(f"loading the index of {shown.docs_dir} (building it if it is missing or stale)...", flush=True)
    bot = library.get(name)
    for item in bot.skipped:
        print(item, file=sys.stderr)
    bot.warm_up()
    library.load_all()  # the other collections load in the background; the API answers 503 until then
    count = len(bot.documents)
    what = "the chat, the API (/v1) and MCP (/mcp)" if ui else "the API (/v1) and MCP (/mcp)"
    access = "API keys required" if keys.configured else "API for this machine only (no API keys configured)"

    def ready() -> None:
        print(f"{counted(count, 'document')} indexed in {name}; serving on http://{host}:{port}"
              + (" (login required)" if login else "") + f": {what}; {access}", flush=True)

    if not ui:
        run(build_server(library, keys), host, port, on_ready=ready)
        return 0
    demo = build_app(bot, library=library)
    launch_with_chat(demo, library, keys, host=host, port=port, launch_options=dict(
        auth=login, max_file_size=int(shown.max_file_mb * 1024 * 1024), **gradio_options(login)))
    ready()
    demo.block_thread()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python app.py [--host H] [--port P] [--auth user:password] [--docs DIR] [--index DIR] [--config F]``."""
    parser = add_server_options(argparse.ArgumentParser(prog="app.py", description="Serve the document chat "
                                                        "in the browser."))
    parser.add_argument("--docs", help="documents folder (default: seeds, or ASSISTANT_DOCS_DIR)")
    parser.add_argument("--index", dest="index_dir", help="index folder (default: index, or ASSISTANT_INDEX_DIR)")
    parser.add_argument("--config", help="settings file in TOML (default: assistant.toml if present)")
    args = parser.parse_args(argv)
    quiet_libraries()
    try:
        overrides = {k: v for k, v in {"docs_dir": args.docs, "index_dir": args.index_dir}.items() if v}
        return serve(None, args.host, args.port, args.auth, config_file=args.config,
                     overrides={**overrides, "show_progress": False})
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
