"""The server side every browser session shares: the ``Assistant``, each session's options and uploads.

``ChatService`` holds no Gradio object, so it works the same behind the browser, an API endpoint or a test.
Uploaded files are judged (name, type, size, readable as a document) in a staging folder, moved into the
uploads folder (``Assistant.uploads_dir``, in the user's data folder: never the documents folder, which may be
a project checkout) and indexed with ``Assistant.refresh()``; a file refused at any step is not left there.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any, Iterator, Sequence

from ..citations import Answer, Citation
from ..config import UPLOADS
from ..core import Assistant, Chat, DocumentInfo
from ..documents import describe_supported, load_document
from ..errors import AssistantError, ConfigError
from ..pages import PageView
from ..progress import Progress, no_progress
from ..wording import counted
from .render import escape_markdown, render_page_message, render_page_view
from .uploads import UploadError, check_not_link, check_size, safe_file_name

log = logging.getLogger("assistant")

STREAM_DELAY = 0.02  # seconds between streamed pieces, so the answer visibly builds up


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
                       "given_name": self.renamed.get(d.doc_id, d.doc_id.removeprefix(f"{UPLOADS}/"))}
                      for d in self.added],
            "unchanged": list(self.unchanged),
            "refused": [{"file": name, "reason": reason} for name, reason in self.refused],
        }

    def markdown(self) -> str:
        lines = []
        for d in self.added:
            given = self.renamed.get(d.doc_id)
            saved = f" (saved as {escape_markdown(d.doc_id)})" if given else ""
            shown = given or d.doc_id.removeprefix(f"{UPLOADS}/")
            lines.append(f"✓ Added **{escape_markdown(shown)}**{saved}: {counted(d.passages, 'passage')} indexed; "
                         "ask about it now.")
        for name in self.unchanged:
            lines.append(f"• **{escape_markdown(name)}** is already indexed with the same content.")
        for name, reason in self.refused:
            lines.append(f"✗ Refused **{escape_markdown(name)}**: {escape_markdown(reason)}. "
                         "Nothing already indexed was changed.")
        return "\n\n".join(lines)


class ChatService:
    """What every browser session shares: the ``Assistant`` and document uploads.

    Sessions keep their own ``Chat`` and pass their settings (number of passages, answer mode) with each
    question. Questions go on while an upload is indexed: ``Assistant.refresh`` swaps in the new index in
    one step, so a question sees the old index or the new one, never a mix.
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

    def page_view(self, citation: Citation) -> PageView:
        """The cited page with the quote boxed, or its section (``Assistant.page_view``)."""
        return self.bot.page_view(citation)

    def page_view_html(self, citation: Citation, after: str = "") -> str:
        """The page view of ``citation`` as HTML, or one line saying why it cannot be shown (``after`` is added
        to the line for a file no library can render)."""
        try:
            return render_page_view(self.page_view(citation), citation.number)
        except AssistantError as exc:
            return render_page_message(str(exc))
        except Exception as exc:  # a file no library can render: one line here, the details in the log
            log.exception("could not show %s", citation.doc_id)
            return render_page_message(f"could not show {citation.doc_id} ({exc.__class__.__name__}){after}")

    @property
    def max_file_mb(self) -> float:
        return self.bot.settings.max_file_mb

    def add_files(self, files: Sequence[tuple[str, str | Path]], progress: Progress = no_progress) -> UploadReport:
        """Store uploaded files in the uploads folder (``Assistant.uploads_dir``) with safe names, index them.

        ``files`` holds (name as the user gave it, path of the uploaded bytes). Each file is checked
        (name, type, size, readable as a document) in a hidden staging folder before it is moved in, so
        a refused file never reaches the folder and nothing already indexed is touched. ``progress``
        hears the phases of the index update (files read, passages embedded, index written).
        """
        report = UploadReport()
        if not files:
            report.refused.append(("(no file)", f"choose a {describe_supported()} file to upload"))
            return report
        folder = self.bot.uploads_dir  # the user's data folder, never the documents folder (a checkout)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            staging = tempfile.TemporaryDirectory(prefix=".upload-", dir=folder)
        except OSError as exc:
            for given, _ in files:
                report.refused.append((given, f"cannot write to the uploads folder {folder} ({exc.strerror})"))
            return report
        with staging:
            staged = self._stage(files, Path(staging.name), report)
            if staged:
                self._publish(staged, folder, report, progress)
        return report

    def _stage(self, files: Sequence[tuple[str, str | Path]], staging: Path,
               report: UploadReport) -> list[tuple[str, str, Path]]:
        staged: list[tuple[str, str, Path]] = []
        for given, path in files:
            given = given or Path(path).name
            try:
                name = safe_file_name(given)
                check_size(Path(path).stat().st_size, self.max_file_mb)
                if any(name == other for _, other, _ in staged):
                    raise UploadError(f"another file in this upload is also named {name}; rename one of them")
                target = staging / name
                check_not_link(path)
                shutil.copyfile(path, target)
                # raises DocumentError: binary, empty, not UTF-8, a bad PDF, a zip bomb, a password-protected file
                load_document(target, doc_id=name, max_file_mb=self.max_file_mb)
            except AssistantError as exc:
                report.refused.append((given, str(exc)))
                continue
            except OSError as exc:
                report.refused.append((given, f"could not read the uploaded file ({exc.strerror})"))
                continue
            staged.append((given, name, target))
        return staged

    def _publish(self, staged: list[tuple[str, str, Path]], folder: Path, report: UploadReport,
                 progress: Progress) -> None:
        with self._upload_lock:
            moved: list[tuple[str, str]] = []
            for given, name, target in staged:
                dest = folder / name
                original = Path(self.bot.settings.docs_dir) / name
                if original.is_file() and original.read_bytes() == target.read_bytes():
                    report.unchanged.append(name)  # the documents folder holds it already
                    continue
                if dest.exists():
                    if dest.is_file() and dest.read_bytes() == target.read_bytes():
                        report.unchanged.append(name)
                    else:
                        report.refused.append((given, f"a different document named {name} was uploaded "
                                                      "before; rename the file and upload it again"))
                    continue
                os.replace(target, dest)
                moved.append((given, name))
            if not moved:
                return
            try:
                self.bot.refresh(progress=progress)
            except Exception as exc:  # e.g. another process is updating the index: take the files back
                for given, name in moved:
                    (folder / name).unlink(missing_ok=True)
                if not isinstance(exc, AssistantError):
                    raise
                report.refused.extend((given, f"it could not be indexed ({exc})") for given, _ in moved)
                return
            indexed = {d.doc_id: d for d in self.bot.documents}
            skipped = {s.path: s.reason for s in self.bot.skipped}
            for given, name in moved:
                doc_id = f"{UPLOADS}/{name}"
                if doc_id in indexed:
                    report.added.append(indexed[doc_id])
                    if given != name:
                        report.renamed[doc_id] = given
                else:
                    (folder / name).unlink(missing_ok=True)
                    report.refused.append((given, skipped.get(doc_id, "it could not be indexed")))

