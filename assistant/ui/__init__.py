"""The chat in the browser: a Gradio app over the public API (``Assistant``, ``Chat``).

``python app.py`` or ``assistant serve`` runs it (``main``/``serve``); ``build_app(bot)`` builds it for
embedding. The parts, each in its own module:

- ``service``: ``ChatService`` and ``UploadReport``, the server side every session shares (no Gradio)
- ``uploads``: upload safety: ``safe_file_name``, type and size checks, ``UploadError``
- ``render``: answers, source cards, the page view of a source and the documents view as HTML/Markdown; the
  JSON for API clients
- ``assets``: the page's CSS and JS
- ``app``: the Gradio wiring (``build_app``, ``ChatApp``), ``launch``, ``serve``, ``main`` and server options

Every public name of those modules is importable from ``assistant.ui`` too.
"""

import os

# Set before gradio is first imported (app.py imports it): no usage statistics and no version check leave
# this machine. Every module of this package is imported through here, so this always runs first.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

from .app import (  # noqa: E402
    DEFAULT_HOST,
    DEFAULT_PORT,
    EXAMPLES,
    MODE_LABELS,
    TITLE,
    ChatApp,
    add_server_options,
    build_app,
    launch,
    main,
    parse_auth,
    serve,
    server_options,
)
from .assets import CSS, JS, PAGE_VIEW_JS, SOURCES_JS, THEME_FONTS  # noqa: E402
from .render import (  # noqa: E402
    CONTEXT_CHARS,
    EMPTY_SOURCES,
    MAX_SCORES_LISTED,
    answer_json,
    chat_messages,
    documents_json,
    escape_markdown,
    page_label,
    passage_context,
    render_answer,
    render_documents,
    render_page_message,
    render_page_view,
    render_sources,
    render_status,
)
from .service import STREAM_DELAY, ChatService, UploadReport  # noqa: E402
from .uploads import (  # noqa: E402
    MAX_NAME_CHARS,
    UPLOAD_SUFFIXES,
    UploadError,
    check_size,
    safe_file_name,
    uploaded_files,
)

__all__ = [
    "CONTEXT_CHARS", "CSS", "DEFAULT_HOST", "DEFAULT_PORT", "EMPTY_SOURCES", "EXAMPLES", "JS", "MAX_NAME_CHARS",
    "MAX_SCORES_LISTED", "MODE_LABELS", "PAGE_VIEW_JS", "SOURCES_JS", "STREAM_DELAY", "THEME_FONTS", "TITLE",
    "UPLOAD_SUFFIXES", "ChatApp", "ChatService", "UploadError", "UploadReport", "add_server_options", "answer_json",
    "build_app", "chat_messages", "check_size", "documents_json", "escape_markdown", "launch", "main", "page_label",
    "parse_auth", "passage_context", "render_answer", "render_documents", "render_page_message", "render_page_view",
    "render_sources", "render_status", "safe_file_name", "serve", "server_options", "uploaded_files",
]
