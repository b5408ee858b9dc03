"""The chat in the browser: a Gradio app over the public API (``Assistant``, ``Chat``).

``python app.py`` (or ``assistant serve``) loads the index, building or updating it from the documents
folder, and serves the chat on http://127.0.0.1:7860. Each browser tab has its own ``Chat`` (kept in
``gr.State``); answers stream in, every ``[n]`` marker links to a sources panel that shows the document's
title, date and the passage with the cited sentence highlighted. A documents tab lists what is indexed and
takes uploads (``.txt``, ``.md``, ``.html``, ``.pdf``), indexed incrementally with ``Assistant.refresh``.

The same app answers programs: ``/ask`` returns the answer and its citations as JSON, and keeps a
conversation per client session (``/clear`` starts a new one); ``/upload`` and ``/documents`` manage
the documents.

>>> from gradio_client import Client                                              # doctest: +SKIP
>>> client = Client("http://127.0.0.1:7860/")                                    # doctest: +SKIP
>>> client.predict("How many AK-203 rifles will India buy?", api_name="/ask")["text"]  # doctest: +SKIP
'India on Monday signed a contract with Russia to procure 6,01,427 AK-203 assault rifles ... [1]'

Nothing here reaches around the API: questions go through ``Chat.stream``/``Chat.ask``, documents are
listed with ``Assistant.documents``, passages read with ``Assistant.document_text`` and uploads become
files in the documents folder followed by ``Assistant.refresh()``.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any, Iterator, Sequence

# Set before gradio is imported: no usage statistics and no version check leave this machine.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

import gradio as gr  # noqa: E402

from .citations import MARKER, Answer, Citation  # noqa: E402
from .config import ANSWER_MODES, Settings  # noqa: E402
from .core import Assistant, Chat, DocumentInfo  # noqa: E402
from .documents import SUPPORTED, load_document  # noqa: E402
from .errors import AssistantError, ConfigError  # noqa: E402

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
TITLE = "Document Q&A"

EXAMPLES = [
    "How many AK-203 rifles will India buy?",
    "Who was Rajnath Singh's Russian counterpart?",
    "Why was the annual summit not held in 2020?",
    "What did the two sides sign about Kalashnikov small arms manufacturing?",
]

UPLOAD_SUFFIXES = tuple(SUPPORTED)  # .txt .md .markdown .html .htm .pdf
MAX_NAME_CHARS = 100  # of a stored file's stem
CONTEXT_CHARS = 320  # passage text shown on each side of a cited sentence
STREAM_DELAY = 0.02  # seconds between streamed pieces, so the answer visibly builds up
MAX_SCORES_LISTED = 20

# The answer modes' labels in the settings panel; a mode without one shows its name.
MODE_LABELS = {"extractive": "Extractive: quotes the documents' own sentences",
               "llm": "LLM: a model writes the answer; every claim is checked against its source"}


class UploadError(AssistantError):
    """A file offered for upload was refused: unsafe name, unsupported type or too large."""


# ---------------------------------------------------------------------------------------- server side


@dataclass
class UploadReport:
    """What happened to each file of one upload."""

    added: list[DocumentInfo] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)  # stored name -> name as given, where they differ
    unchanged: list[str] = field(default_factory=list)  # same content already in the folder
    refused: list[tuple[str, str]] = field(default_factory=list)  # (name as given, why)

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": [{"doc_id": d.doc_id, "title": d.title, "date": d.date, "passages": d.passages,
                       "given_name": self.renamed.get(d.doc_id, d.doc_id)} for d in self.added],
            "unchanged": list(self.unchanged),
            "refused": [{"file": name, "reason": reason} for name, reason in self.refused],
        }

    def markdown(self) -> str:
        lines = []
        for d in self.added:
            given = self.renamed.get(d.doc_id)
            saved = f" (saved as {_md(d.doc_id)})" if given else ""
            passages = f"{d.passages} passage{'s' if d.passages != 1 else ''}"
            lines.append(f"✓ Added **{_md(given or d.doc_id)}**{saved}: {passages} indexed; ask about it now.")
        for name in self.unchanged:
            lines.append(f"• **{_md(name)}** is already indexed with the same content.")
        for name, reason in self.refused:
            lines.append(f"✗ Refused **{_md(name)}**: {_md(reason)}. Nothing already indexed was changed.")
        return "\n\n".join(lines)


class ChatService:
    """What every browser session shares: the ``Assistant`` and document uploads.

    Sessions keep their own ``Chat`` and pass their settings (number of passages) with each question.
    Questions go on while an upload is indexed: the assistant swaps in the new index in one step.
    """

    def __init__(self, bot: Assistant, stream_delay: float = STREAM_DELAY):
        self.bot = bot
        self.stream_delay = stream_delay
        self._upload_lock = threading.Lock()  # one upload moves files and re-indexes at a time

    # --------------------------------------------------------------- asking

    def new_chat(self) -> Chat:
        return self.bot.chat()

    def options(self, top_k: Any = None, mode: Any = None) -> tuple[int, str]:
        """The session's number of passages and answer mode, checked."""
        settings = self.bot.settings
        top_k = settings.top_k if top_k in (None, "") else top_k
        mode = settings.answer_mode if mode in (None, "") else mode
        try:
            top_k = int(float(top_k))
        except (TypeError, ValueError):
            raise ConfigError(f"the number of passages must be a whole number, got {top_k!r}") from None
        checked = settings.replace(top_k=top_k, answer_mode=str(mode))  # validates: raises ConfigError
        return checked.top_k, checked.answer_mode

    def ask(self, chat: Chat, question: str, top_k: Any = None, mode: Any = None) -> Answer:
        top_k, mode = self.options(top_k, mode)
        return chat.ask(question, top_k=top_k, mode=mode)

    def stream(self, chat: Chat, question: str, top_k: Any = None, mode: Any = None) -> Iterator[str | Answer]:
        """``Chat.stream``, started here so a bad question raises now, not at the first piece."""
        top_k, mode = self.options(top_k, mode)
        pieces = chat.stream(question, top_k=top_k, mode=mode)
        first = next(pieces)
        return chain([first], pieces)

    # --------------------------------------------------------------- documents

    def documents(self) -> list[DocumentInfo]:
        return self.bot.documents

    def document_text(self, doc_id: str) -> str | None:
        try:
            return self.bot.document_text(doc_id)
        except KeyError:  # a document removed from the folder since this answer was given
            return None

    @property
    def max_file_mb(self) -> float:
        return self.bot.settings.max_file_mb

    def add_files(self, files: Sequence[tuple[str, str | Path]]) -> UploadReport:
        """Store uploaded files under the documents folder with safe names, then index them.

        ``files`` holds (name as the user gave it, path of the uploaded bytes). Each file is checked
        (name, type, size, readable as a document) in a hidden staging folder before it is moved in, so
        a refused file never reaches the folder and nothing already indexed is touched.
        """
        report = UploadReport()
        if not files:
            report.refused.append(("(no file)", "choose a .txt, .md, .html or .pdf file to upload"))
            return report
        docs_dir = Path(self.bot.settings.docs_dir)
        try:
            staging = tempfile.TemporaryDirectory(prefix=".upload-", dir=docs_dir)
        except OSError as exc:
            for given, _ in files:
                report.refused.append((given, f"cannot write to the documents folder {docs_dir} ({exc.strerror})"))
            return report
        with staging:
            staged = self._stage(files, Path(staging.name), report)
            if staged:
                self._publish(staged, docs_dir, report)
        return report

    def _stage(self, files: Sequence[tuple[str, str | Path]], staging: Path,
               report: UploadReport) -> list[tuple[str, str, Path]]:
        staged: list[tuple[str, str, Path]] = []
        limit = self.max_file_mb * 1024 * 1024
        for given, path in files:
            given = given or Path(path).name
            try:
                name = safe_file_name(given)
                size = Path(path).stat().st_size
                if size > limit:
                    raise UploadError(f"it is {_size(size)}, over the {self.max_file_mb:g} MB limit; "
                                      "split it into smaller files")
                if any(name == other for _, other, _ in staged):
                    raise UploadError(f"another file in this upload is also named {name}; rename one of them")
                target = staging / name
                shutil.copyfile(path, target)
                load_document(target, doc_id=name)  # raises DocumentError: binary, empty, not UTF-8, bad PDF
            except AssistantError as exc:
                report.refused.append((given, str(exc)))
                continue
            except OSError as exc:
                report.refused.append((given, f"could not read the uploaded file ({exc.strerror})"))
                continue
            staged.append((given, name, target))
        return staged

    def _publish(self, staged: list[tuple[str, str, Path]], docs_dir: Path, report: UploadReport) -> None:
        with self._upload_lock:
            moved: list[tuple[str, str]] = []
            for given, name, target in staged:
                dest = docs_dir / name
                if dest.exists():
                    if dest.is_file() and dest.read_bytes() == target.read_bytes():
                        report.unchanged.append(name)
                    else:
                        report.refused.append((given, f"a different document named {name} is already in the "
                                                      "documents folder; rename the file and upload it again"))
                    continue
                os.replace(target, dest)
                moved.append((given, name))
            if not moved:
                return
            try:
                self.bot.refresh()
            except Exception as exc:  # e.g. another process is updating the index: take the files back
                for given, name in moved:
                    (docs_dir / name).unlink(missing_ok=True)
                if not isinstance(exc, AssistantError):
                    raise
                report.refused.extend((given, f"it could not be indexed ({exc})") for given, _ in moved)
                return
            indexed = {d.doc_id: d for d in self.bot.documents}
            skipped = {s.path: s.reason for s in self.bot.skipped}
            for given, name in moved:
                if name in indexed:
                    report.added.append(indexed[name])
                    if given != name:
                        report.renamed[name] = given
                else:
                    (docs_dir / name).unlink(missing_ok=True)
                    report.refused.append((given, skipped.get(name, "it could not be indexed")))


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    return f"{n / 1024:.1f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MB"


def safe_file_name(name: str) -> str:
    """The name an uploaded file is stored under, or ``UploadError`` if the name is unsafe.

    Names that try to leave the documents folder (``../x.txt``, ``/etc/x.txt``, ``..\\x.txt``, also
    in full-width Unicode), hidden names and unsupported types are refused; anything else keeps its
    letters, digits, ``.``, ``-`` and ``_`` (in any script) with other runs of characters turned into ``-``.

    >>> safe_file_name("Summit notes (final).md")
    'Summit-notes-final.md'
    """
    raw = name if isinstance(name, str) else ""
    shown = _shown_name(raw)
    normal = unicodedata.normalize("NFKC", raw).strip()  # full-width "／" becomes "/" here, before the check
    if not normal:
        raise UploadError("the file has no name; name it like report.txt")
    if any(sep in normal for sep in ("/", "\\", "\x00")) or normal in (".", "..") or ":" in normal[:3]:
        raise UploadError(f"unsafe file name {shown}: it points outside the documents folder; "
                          "upload it under a plain name like report.txt")
    if normal.startswith("."):
        raise UploadError(f"unsafe file name {shown}: hidden files are not indexed; rename it without the leading dot")
    stem, suffix = os.path.splitext(normal)
    suffix = suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise UploadError(f"unsupported file type {suffix or '(none)'}; upload .txt, .md, .html or .pdf")
    stem = re.sub(r"[^\w.-]+", "-", stem)
    stem = re.sub(r"\.{2,}", ".", re.sub(r"-{2,}", "-", stem)).strip("-._")[:MAX_NAME_CHARS].strip("-._")
    if not stem:
        raise UploadError(f"file name {shown} has no letters or digits; rename it like report{suffix}")
    return stem + suffix


def _shown_name(name: str) -> str:
    """A file name quoted for a message: control characters visible, at most 80 characters."""
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in name)
    return "“" + (shown if len(shown) <= 80 else shown[:77] + "...") + "”"


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """``user:password`` as a (user, password) pair; ``None`` or ``""`` for no login."""
    if value is None or value == "":
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise ConfigError("--auth must look like user:password (both parts non-empty)")
    return user, password


# ---------------------------------------------------------------------------------------- rendering

_MD_INLINE = re.compile(r"([\\`*_\[\]~|$@])")  # emphasis, code, links, tables, strike, maths, e-mails
_MD_LINE_START = re.compile(r"^([ \t]*)([#+=-])", re.MULTILINE)  # headings, lists, rules
_MD_NUMBERED = re.compile(r"^([ \t]*\d+)([.)])", re.MULTILINE)  # "1998. The bakery" is not a list


def _md(text: str) -> str:
    """Text that Markdown and HTML show exactly as written (no headings, links, emphasis or tags).

    Only what Markdown would act on is escaped (screen readers read the escapes aloud); ``<``, ``>``
    and ``&`` become HTML entities, which Markdown leaves alone.
    """
    text = _MD_INLINE.sub(r"\\\1", text)
    text = _MD_LINE_START.sub(r"\1\\\2", text)
    text = _MD_NUMBERED.sub(r"\1\\\2", text)
    text = text.replace("://", "\\://").replace("www.", "www\\.")  # no automatic links
    return html.escape(text, quote=False)


def _attr(text: str) -> str:
    return html.escape(text, quote=True)


def _shorten(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def render_answer(text: str, turn: int, citations: Sequence[Citation] = (), refused: bool = False) -> str:
    """An answer as chat-bubble Markdown: the text escaped, each ``[n]`` a clickable marker.

    Each marker names its turn and citation number in a class (``cite-{turn}-{n}``; the Chatbot's
    sanitiser drops ``data-`` attributes) so the page can bring the matching source card forward, and
    has a tooltip with the cited title and sentence. Bracketed numbers inside a quoted sentence
    (footnotes) are left as text.
    """
    by_number = {c.number: c for c in citations}
    quoted = [(m.start(), m.start() + len(c.quote)) for c in citations if c.quote
              for m in re.finditer(re.escape(c.quote), text)]
    parts, pos = [], 0
    for m in MARKER.finditer(text):
        if any(s <= m.start() and m.end() <= e for s, e in quoted):
            continue
        n = int(m.group(1))
        if citations and n not in by_number:
            continue
        c = by_number.get(n)
        tip = f"[{n}] {c.title}: “{_shorten(c.quote)}”" if c else f"source [{n}]"
        parts.append(_md(text[pos:m.start()]))
        parts.append(f' <span class="cite cite-{turn}-{n}" role="button" tabindex="0" '
                     f'title="{_attr(tip)}">[{n}]</span>')
        pos = m.end()
    parts.append(_md(text[pos:]))
    body = "".join(parts)
    if refused:
        return f'<div class="refusal"><span class="refusal-label">Not in the documents</span>\n\n{body}\n\n</div>'
    return body


def chat_messages(chat: Chat | None, pending: tuple[str, str] | None = None) -> list[dict[str, str]]:
    """The conversation as Chatbot messages; ``pending`` is (question, partial answer) being streamed."""
    messages: list[dict[str, str]] = []
    for turn, (question, answer) in enumerate(chat.turns if chat else []):
        messages.append({"role": "user", "content": _md(question)})
        messages.append({"role": "assistant",
                         "content": render_answer(answer.text, turn, answer.citations, answer.refused)})
    if pending is not None:
        question, partial = pending
        turn = len(chat.turns) if chat else 0
        messages.append({"role": "user", "content": _md(question)})
        messages.append({"role": "assistant", "content": render_answer(partial, turn) if partial else "…"})
    return messages


_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*\s+|\n+")


def passage_context(doc_text: str, start: int, end: int, bounds: tuple[int, int] | None = None,
                    width: int = CONTEXT_CHARS) -> tuple[str, str, str, bool, bool]:
    """(before, cited, after, clipped_before, clipped_after): the cited span inside its passage.

    ``bounds`` are the passage's offsets in the document (default: the whole document); at most
    ``width`` characters are kept on each side, cut where a sentence ends if one does in that window,
    else at a space, so neither a word nor (where it can be helped) a sentence is broken.
    """
    lo_bound, hi_bound = bounds or (0, len(doc_text))
    lo_bound, hi_bound = max(0, min(lo_bound, start)), min(len(doc_text), max(hi_bound, end))
    lo = max(lo_bound, start - width)
    hi = min(hi_bound, end + width)
    if lo > lo_bound:
        ends = [m.end() for m in _SENTENCE_END.finditer(doc_text, lo, start)]
        space = doc_text.find(" ", lo, start)
        lo = ends[0] if ends else (space + 1 if space >= 0 else lo)
    if hi < hi_bound:
        ends = [m.start() + len(m.group().rstrip()) for m in _SENTENCE_END.finditer(doc_text, end, hi)
                if m.end() <= hi and m.start() > end]
        space = doc_text.rfind(" ", end, hi)
        hi = ends[-1] if ends else (space if space >= 0 else hi)
    return doc_text[lo:start], doc_text[start:end], doc_text[end:hi], lo > lo_bound, hi < hi_bound


def _passage_bounds(answer: Answer, citation: Citation) -> tuple[int, int] | None:
    for passage in answer.passages:
        if getattr(passage, "id", None) == citation.passage_id:
            return passage.start, passage.end
    return None


EMPTY_SOURCES = (
    '<div class="sources-empty">Sources appear here. Each <span class="cite-sample">[n]</span> in an answer '
    "points at the passage it quotes, with the cited sentence highlighted; hover or click a marker to bring its "
    "source forward.</div>"
)


def render_sources(answer: Answer | None, turn: int, documents: dict[str, DocumentInfo],
                   document_text: Any, show_scores: bool = False) -> str:
    """The sources panel for one answer: per citation its title, date and highlighted passage."""
    if answer is None:
        return EMPTY_SOURCES
    head = f'<div class="sources-question">Sources for “{html.escape(answer.question)}”</div>'
    cards = []
    if answer.refused:
        cards.append('<div class="sources-refused"><strong>No sources.</strong> Nothing in the indexed documents '
                     "answers this question closely enough to quote, so nothing is cited.</div>")
    for c in answer.citations:
        info = documents.get(c.doc_id)
        date = info.date if info and info.date else ""
        text = document_text(c.doc_id)
        if text is not None and text[c.start:c.end] == c.quote:
            before, cited, after, cut_before, cut_after = passage_context(text, c.start, c.end,
                                                                          _passage_bounds(answer, c))
        else:  # the document changed or went away since: show the quote alone
            before, cited, after, cut_before, cut_after = "", c.quote, "", False, False
        where = f"{html.escape(c.doc_id)} · characters {c.start}–{c.end}"
        if show_scores:
            where += f' · <span class="score">evidence score {c.score:.3f}</span>'
        cards.append(
            f'<article class="source" id="source-{turn}-{c.number}" data-turn="{turn}" data-n="{c.number}">'
            f'<header><span class="source-n">[{c.number}]</span> '
            f'<span class="source-title">{html.escape(c.title)}</span>'
            + (f' <span class="source-date">{html.escape(date)}</span>' if date else "")
            + f'</header><div class="source-where">{where}</div>'
            f'<blockquote class="passage">{"… " if cut_before else ""}{html.escape(before)}'
            f'<mark class="cited">{html.escape(cited)}</mark>{html.escape(after)}{" …" if cut_after else ""}'
            "</blockquote></article>"
        )
    if show_scores and answer.passages:
        rows = []
        for rank, p in enumerate(answer.passages[:MAX_SCORES_LISTED], 1):
            info = documents.get(p.doc_id)
            title = info.title if info else p.doc_id
            rows.append(f"<tr><td>{rank}</td><td>{html.escape(title)}</td><td class=\"chars\">{p.start}–{p.end}</td>"
                        f'<td class="score">{p.score:.3f}</td></tr>')
        cards.append(
            f'<details class="retrieved" open><summary>Retrieved passages ({len(answer.passages)}), best first'
            f"</summary><table><thead><tr><th>#</th><th>document</th><th>characters</th><th>retrieval score</th></tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table>"
            f'<div class="retrieved-note">Answer confidence {answer.confidence:.3f} · mode {html.escape(answer.mode)}'
            f" · query “{html.escape(answer.query)}”</div></details>"
        )
    return f'<div class="sources">{head}{"".join(cards)}</div>'


def render_documents(documents: Sequence[DocumentInfo], skipped: Sequence[Any] = ()) -> str:
    """The documents view: what is indexed (title, file, date, passages, when) and what was skipped."""
    if not documents:
        body = '<p class="documents-empty">No documents are indexed.</p>'
    else:
        rows = "".join(
            f"<tr><td>{html.escape(d.title)}</td><td><code>{html.escape(d.doc_id)}</code></td>"
            f"<td class=\"date\">{html.escape(d.date)}</td><td class=\"num\">{d.passages}</td>"
            f"<td class=\"when\">{html.escape(_when(d.indexed_at))}</td></tr>"
            for d in documents
        )
        total = sum(d.passages for d in documents)
        body = (f'<p class="documents-summary">{len(documents)} document{"s" if len(documents) != 1 else ""}, '
                f"{total} passage{'s' if total != 1 else ''} indexed.</p>"
                '<table class="documents"><thead><tr><th>title</th><th>file</th><th>date</th><th>passages</th>'
                f"<th>indexed</th></tr></thead><tbody>{rows}</tbody></table>")
    if skipped:
        items = "".join(f"<li>{html.escape(str(s))}</li>" for s in skipped)
        body += f'<details class="skipped"><summary>Not indexed ({len(skipped)})</summary><ul>{items}</ul></details>'
    return f'<div id="documents-list">{body}</div>'


def _when(stamp: str) -> str:
    return stamp.replace("T", " ").replace("+00:00", " UTC") if stamp else ""


def answer_json(answer: Answer, documents: dict[str, DocumentInfo]) -> dict[str, Any]:
    """An answer as plain JSON data for API clients: ``Answer.to_dict`` plus each source's date."""
    data = answer.to_dict()
    for citation in data["citations"]:
        info = documents.get(citation["doc_id"])
        citation["date"] = info.date if info else ""
    return data


def documents_json(documents: Sequence[DocumentInfo]) -> list[dict[str, Any]]:
    return [{"doc_id": d.doc_id, "title": d.title, "date": d.date, "passages": d.passages,
             "indexed_at": d.indexed_at} for d in documents]


def _status(message: str) -> str:
    return f"⚠ {_md(message)}" if message else ""


def _uploaded(files: Any) -> list[tuple[str, str]]:
    """(name as given, server path) for each file of an upload event's raw payload.

    Gradio has already checked that each path is one of its own uploads; the name is the client's, so
    it is what ``safe_file_name`` must judge.
    """
    if not files:
        return []
    items = files if isinstance(files, list) else [files]
    out = []
    for item in items:
        if isinstance(item, dict) and item.get("path"):
            out.append((str(item.get("orig_name") or Path(item["path"]).name), str(item["path"])))
        elif isinstance(item, (str, Path)):
            out.append((Path(item).name, str(item)))
    return out


# ---------------------------------------------------------------------------------------- the app


class ChatApp:
    """The event handlers of one app, as plain methods (the tests call them directly)."""

    def __init__(self, service: ChatService):
        self.service = service

    def _doc_infos(self) -> dict[str, DocumentInfo]:
        return {d.doc_id: d for d in self.service.documents()}

    def sources_for(self, chat: Chat | None, turn: int | None, show_scores: bool) -> str:
        if not chat or not chat.turns:
            return EMPTY_SOURCES
        if turn is None or not 0 <= turn < len(chat.turns):
            turn = len(chat.turns) - 1
        return render_sources(chat.turns[turn][1], turn, self._doc_infos(), self.service.document_text, show_scores)

    # --------------------------------------------------------------- chat

    def respond(self, question: str, chat: Chat | None, selected: int | None, top_k: Any, mode: Any,
                show_scores: bool) -> Iterator[tuple]:
        """Stream one answer: yields (messages, sources, status, chat, selected turn, input box)."""
        chat = chat or self.service.new_chat()
        try:
            pieces = self.service.stream(chat, question, top_k, mode)
        except AssistantError as exc:
            yield (chat_messages(chat), self.sources_for(chat, selected, show_scores), _status(str(exc)),
                   chat, selected, question)
            return
        shown = " ".join(str(question).split())
        text = ""
        for piece in pieces:
            if isinstance(piece, Answer):
                break
            text += piece
            yield (chat_messages(chat, pending=(shown, text)), gr.skip(), "", chat, selected, "")
            if self.service.stream_delay and mode != "llm":  # model tokens come at their own pace
                time.sleep(self.service.stream_delay)
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
        report = self.service.add_files(_uploaded(files))
        return {**report.to_dict(), "documents": self.api_documents()}

    # --------------------------------------------------------------- documents

    def documents_html(self) -> str:
        return render_documents(self.service.documents(), self.service.bot.skipped)

    def upload(self, files: Any) -> tuple[str, str, None]:
        """The upload control: (status message, documents view, cleared upload box)."""
        report = self.service.add_files(_uploaded(files))
        return report.markdown(), self.documents_html(), None


CSS = """
#chat .cite { color: var(--color-accent); cursor: pointer; font-weight: 600; font-size: 0.8em;
  vertical-align: super; line-height: 0; padding: 0 1px; border-radius: 3px; }
#chat .cite:hover, #chat .cite:focus { background: #fde68a; color: #1f2937; outline: none; }
#chat .refusal { border-left: 4px solid #9ca3af; padding-left: 10px; color: var(--body-text-color-subdued); }
#chat .refusal-label { display: inline-block; font-size: 0.75em; font-weight: 700; text-transform: uppercase;
  letter-spacing: 0.04em; background: #e5e7eb; color: #374151; border-radius: 4px; padding: 1px 6px; }
#sources { max-height: 640px; overflow-y: auto; }
#sources .sources-question { font-size: 0.85em; color: var(--body-text-color-subdued); margin-bottom: 8px; }
#sources .source { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 10px 12px;
  margin-bottom: 10px; transition: box-shadow 0.2s, border-color 0.2s; scroll-margin: 8px; }
#sources .source.linked, #sources .source.flash { border-color: #f59e0b;
  box-shadow: 0 0 0 3px rgba(245, 158, 11, 0.35); }
#sources .source-n { font-weight: 700; color: var(--color-accent); }
#sources .source-title { font-weight: 600; }
#sources .source-date { font-size: 0.85em; color: var(--body-text-color-subdued); margin-left: 4px; }
#sources .source-where { font-size: 0.78em; color: var(--body-text-color-subdued); margin: 2px 0 6px; }
#sources .passage { white-space: pre-wrap; margin: 0; padding: 4px 0 4px 10px; font-size: 0.9em;
  border-left: 3px solid var(--border-color-primary); color: var(--body-text-color-subdued); }
#sources mark.cited { background: #fde68a; color: #1f2937; padding: 0 2px; border-radius: 3px; }
#sources .sources-refused { border-left: 4px solid #9ca3af; padding: 6px 10px; margin-bottom: 10px; }
#sources .retrieved table, #documents-list table { width: 100%; font-size: 0.85em; border-collapse: collapse;
  border: none !important; }
#sources .retrieved td, #sources .retrieved th, #documents-list td, #documents-list th { padding: 4px 8px;
  border: none !important; border-bottom: 1px solid var(--border-color-primary) !important; text-align: left;
  vertical-align: top; }
#documents-list td.date, #documents-list td.when, #sources .retrieved td.chars { white-space: nowrap; }
#sources .retrieved-note { font-size: 0.8em; color: var(--body-text-color-subdued); margin-top: 4px; }
#sources .sources-empty { color: var(--body-text-color-subdued); font-size: 0.9em; }
#sources .cite-sample { color: var(--color-accent); font-weight: 600; }
#documents-list td.num { text-align: right; }
#status, #upload-status { min-height: 0; }
#status p { color: #b45309; font-weight: 600; }
"""

# Markers and source cards meet in the browser: hovering a marker outlines its card, clicking (or Enter)
# scrolls the card into view and flashes it. A click on an older answer first switches the panel to that
# answer (Chatbot.select), so the card is looked for again for a moment until it is there.
JS = r"""
() => {
  if (window.__assistantCites) return;
  window.__assistantCites = true;
  const markerOf = (el) => (el && el.closest ? el.closest('#chat .cite') : null);
  const cardOf = (m) => {
    const k = /(?:^|\s)cite-(\d+)-(\d+)(?:\s|$)/.exec(m.className);
    return k ? document.getElementById(`source-${k[1]}-${k[2]}`) : null;
  };
  const bring = (m, tries = 0) => {
    const card = cardOf(m);
    if (!card) { if (tries < 40) setTimeout(() => bring(m, tries + 1), 75); return; }
    card.scrollIntoView({behavior: 'smooth', block: 'nearest'});
    card.classList.remove('flash'); void card.offsetWidth; card.classList.add('flash');
    clearTimeout(card.__flash); card.__flash = setTimeout(() => card.classList.remove('flash'), 2500);
  };
  document.addEventListener('click', (e) => { const m = markerOf(e.target); if (m) bring(m); });
  document.addEventListener('keydown', (e) => {
    const m = markerOf(e.target);
    if (m && (e.key === 'Enter' || e.key === ' ')) { e.preventDefault(); bring(m); }
  });
  const hover = (on) => (e) => {
    const m = markerOf(e.target); if (!m) return;
    const card = cardOf(m); if (card) card.classList.toggle('linked', on);
  };
  document.addEventListener('mouseover', hover(true));
  document.addEventListener('mouseout', hover(false));
}
"""

THEME_FONTS = dict(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])


def build_app(bot: Assistant, *, examples: Sequence[str] = EXAMPLES, stream_delay: float = STREAM_DELAY) -> gr.Blocks:
    """The Gradio app over ``bot``. Launch it with ``launch(demo, ...)`` (or ``demo.launch``)."""
    service = ChatService(bot, stream_delay=stream_delay)
    handlers = ChatApp(service)
    settings = bot.settings
    # Uploads are copied into the documents folder at once; Gradio's own copies are deleted after an hour.
    with gr.Blocks(title=TITLE, fill_width=True, delete_cache=(3600, 3600), analytics_enabled=False) as demo:
        demo.handlers = handlers  # type: ignore[attr-defined]  # for tests and embedding
        chat_state = gr.State(None)  # this session's Chat, created on its first question
        selected = gr.State(None)  # the turn whose sources are shown (None: the latest)

        with gr.Sidebar(label="Settings", open=True, position="left", width=290):
            gr.Markdown("### Settings")
            top_k = gr.Slider(1, max(20, settings.top_k), value=settings.top_k, step=1, label="Passages retrieved",
                              info="How many passages are searched for each question", elem_id="top-k")
            mode = gr.Radio([(MODE_LABELS.get(m, m), m) for m in ANSWER_MODES], value=settings.answer_mode,
                            label="Answer mode", info="Extractive quotes sentences; LLM lets a model write the "
                            "answer, keeps only what its cited passages support (pip install -e '.[llm]')",
                            elem_id="answer-mode")
            show_scores = gr.Checkbox(False, label="Show retrieval scores", elem_id="show-scores")

        gr.Markdown(f"## {TITLE}\nAsk about the indexed documents. Every sentence of an answer is quoted from a "
                    "document and followed by a [n] marker that points at its source.")
        with gr.Tabs():
            with gr.Tab("Chat", id="chat-tab"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=360):
                        chatbot = gr.Chatbot(
                            label="Conversation", show_label=False, elem_id="chat", height=520, latex_delimiters=[],
                            examples=[{"text": q} for q in examples] or None, feedback_options=None,
                            placeholder="**Ask a question about the documents**, or pick an example:",
                            buttons=["copy"],
                        )
                        with gr.Row():
                            box = gr.Textbox(placeholder="Ask about the documents… (Enter sends)", show_label=False,
                                             lines=1, max_lines=6, scale=5, elem_id="question", autofocus=True)
                            send = gr.Button("Send", variant="primary", scale=1, min_width=80, elem_id="send")
                            clear = gr.Button("Clear", scale=1, min_width=80, elem_id="clear")
                        status = gr.Markdown("", elem_id="status")
                    with gr.Column(scale=2, min_width=320):
                        gr.Markdown("### Sources")
                        sources = gr.HTML(EMPTY_SOURCES, elem_id="sources")
            with gr.Tab("Documents", id="documents-tab") as documents_tab:
                documents_view = gr.HTML(handlers.documents_html(), elem_id="documents")
                limit = f"up to {settings.max_file_mb:g} MB each"
                files = gr.File(file_count="multiple", elem_id="upload", height=140,
                                label=f"Add documents: .txt, .md, .html or .pdf, {limit}")
                upload_status = gr.Markdown("", elem_id="upload-status")

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

        chat_io = dict(inputs=[box, chat_state, selected, top_k, mode, show_scores],
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

        documents_tab.select(handlers.documents_html, None, documents_view, api_visibility="private")
        demo.load(handlers.documents_html, None, documents_view, api_visibility="private")
        # preprocess=False: the handler sees each file's name as the user gave it (and judges it) while
        # Gradio has still checked that every path is one of its own uploads.
        files.upload(handlers.upload, files, [upload_status, documents_view, files], preprocess=False,
                     api_name="upload_documents", api_visibility="undocumented", concurrency_limit=1)

        api_button.click(handlers.api_ask, [api_question, api_top_k, chat_state], [api_answer, chat_state],
                         api_name="ask", api_description="Answer a question of this session's conversation; "
                         "returns the answer text with [n] markers, refused, and citations (doc_id, title, date, "
                         "quote, start, end, score).")
        api_clear_button.click(handlers.api_clear, [chat_state], [api_cleared, chat_state], api_name="clear",
                               api_description="Start a new conversation in this session.")
        api_upload_button.click(handlers.api_upload, api_files, api_upload_result, preprocess=False,
                                api_name="upload", concurrency_limit=1,
                                api_description="Add .txt/.md/.html/.pdf files to the documents folder and index "
                                "them; returns what was added and refused, and the documents now indexed.")
        gr.api(handlers.api_documents, api_name="documents",
               api_description="The indexed documents: doc_id, title, date, passages, indexed_at.")
    # Questions from several users run side by side (the index lock keeps uploads apart from them).
    demo.queue(default_concurrency_limit=8, max_size=128)
    return demo


def launch(demo: gr.Blocks, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
           auth: tuple[str, str] | None = None, max_file_mb: float = 20.0, block: bool = True, quiet: bool = False):
    """Serve ``demo`` locally: never a share link, no analytics, no MCP server, files up to ``max_file_mb``."""
    try:
        return demo.launch(
            server_name=host, server_port=port, auth=auth, share=False, inbrowser=False, ssr_mode=False,
            mcp_server=False, pwa=False, enable_monitoring=False, max_file_size=int(max_file_mb * 1024 * 1024),
            prevent_thread_lock=not block, quiet=quiet, show_error=False,
            auth_message="Sign in to ask about the documents." if auth else None,
            theme=gr.themes.Soft(**THEME_FONTS), css=CSS, js=JS, footer_links=["api", "settings"],
        )
    except OSError as exc:
        raise ConfigError(f"cannot serve on {host}:{port} ({exc}); pass another --port or --host") from None


# ---------------------------------------------------------------------------------------- entry points


def add_server_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--host", help=f"address to listen on (default {DEFAULT_HOST}, or ASSISTANT_HOST)")
    parser.add_argument("--port", help=f"port to listen on (default {DEFAULT_PORT}, or ASSISTANT_PORT)")
    parser.add_argument("--auth", help="require a login, as user:password (or ASSISTANT_AUTH)")
    return parser


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


def serve(settings: Settings, host: str | None = None, port: Any = None, auth: str | None = None) -> int:
    """Load (or build) the index for ``settings`` and serve the chat until interrupted."""
    host, port, login = server_options(host, port, auth)
    print(f"loading the index of {settings.docs_dir} (building it if it is missing or stale)...", flush=True)
    bot = Assistant.from_folder(settings=settings)
    for item in bot.skipped:
        print(item, file=sys.stderr)
    bot.warm_up()
    count = len(bot.documents)
    print(f"{count} document{'s' if count != 1 else ''} indexed; serving on http://{host}:{port}"
          + (" (login required)" if login else ""), flush=True)
    launch(build_app(bot), host=host, port=port, auth=login, max_file_mb=settings.max_file_mb)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python app.py [--host H] [--port P] [--auth user:password] [--docs DIR] [--index DIR] [--config F]``."""
    from .cli import EXIT_USER_ERROR, _quiet_libraries

    parser = add_server_options(argparse.ArgumentParser(prog="app.py", description="Serve the document chat "
                                                        "in the browser."))
    parser.add_argument("--docs", help="documents folder (default: seeds, or ASSISTANT_DOCS_DIR)")
    parser.add_argument("--index", dest="index_dir", help="index folder (default: index, or ASSISTANT_INDEX_DIR)")
    parser.add_argument("--config", help="settings file in TOML (default: assistant.toml if present)")
    args = parser.parse_args(argv)
    _quiet_libraries()
    try:
        settings = Settings.load(args.config, docs_dir=args.docs, index_dir=args.index_dir, show_progress=False)
        return serve(settings, args.host, args.port, args.auth)
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        return 130
