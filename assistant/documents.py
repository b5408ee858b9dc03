"""Reading files into Documents with metadata, and splitting them into passages with exact offsets.

A document's ``text`` is what every offset refers to: ``doc.text[p.start:p.end] == p.text`` holds for
every passage and every sentence span, which is what lets a citation quote its source exactly.

>>> docs, skipped = load_documents("seeds")          # doctest: +SKIP
>>> docs[0].metadata["title"]                          # doctest: +SKIP
'India and Russia sign AK-203 rifle contract ...'
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import time
from dataclasses import dataclass, field
from functools import lru_cache
from hashlib import sha256
from pathlib import Path
from typing import Any, Callable, Sequence

import yaml
from llama_index.core import Document
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import BaseNode, MetadataMode, TextNode, TransformComponent
from pydantic import PrivateAttr

from .errors import DocumentError, NoDocumentsError
from .progress import READING, SPLITTING, Progress, no_progress
from .readers import SUPPORTED, Limits, Reading, describe_supported, location_of, read
from .wording import counted

log = logging.getLogger(__name__)  # "assistant.documents": why a parser failed, at debug level (--verbose)

__all__ = ["SUPPORTED", "FileDocument", "Passage", "Skipped", "check_offsets", "describe_supported", "load_document",
           "load_documents", "location_of", "passage_splitter", "sentence_spans"]

SIDECAR_SUFFIXES = (".meta.yaml", ".meta.yml", ".meta.json")
# Only these metadata keys are embedded with a passage; the rest is for display.
EMBEDDED_METADATA = ("title",)
# A zip container (.docx .xlsx .epub ...) may unpack to this many times max_file_mb: spreadsheet XML
# compresses 10-30x, so a genuine 20 MB workbook can hold 400 MB of XML; a bomb inflates 1000x or more.
UNPACK_FACTOR = 20
# Metadata a document keeps for itself: its passages would each carry a copy (llama-index copies a
# document's metadata into every node), so the splitter drops them from passages.
DOCUMENT_ONLY_METADATA = ("locations", "ocr_words")


class FileDocument(Document):
    """A Document whose content hash leaves out where its file sits.

    llama-index hashes text + all metadata; ``source`` defaults to the file's absolute path, so the same
    folder copied or mounted elsewhere would look changed and be embedded again. The hash keeps the
    text and every other key (title, date, a source named by front matter or a sidecar, the relative
    ``file_name``). Stored indexes see it as a plain ``Document`` (same class name); the hash they keep
    is the one computed here.
    """

    _unhashed: frozenset[str] = PrivateAttr(default=frozenset())

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickled (from a worker process reading files) with the keys its hash leaves out: llama-index
        rebuilds a pickled node through ``__init__``, which would reset them and change the hash."""
        super().__setstate__(state)
        self._unhashed = (state.get("__pydantic_private__") or {}).get("_unhashed", frozenset())

    @property
    def hash(self) -> str:
        kept = {k: v for k, v in self.metadata.items() if k not in self._unhashed}
        return sha256((str(self.text) + str(kept)).encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Passage:
    """A span of one document: ``document.text[start:end] == text``."""

    id: str
    doc_id: str
    start: int
    end: int
    text: str
    score: float = 0.0


@dataclass(frozen=True)
class Skipped:
    """A file that was not indexed, and why (one line)."""

    path: str
    reason: str
    unreadable: bool  # True for a supported file that could not be read; False for another file type
    indexed: bool = False  # True for a notice about a file that was indexed all the same
    detail: str = field(default="", compare=False, repr=False)  # the parser's exception, for the debug log

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}" if self.indexed else f"skipped {self.path}: {self.reason}"


def load_documents(folder: str | Path, max_file_mb: float = 20.0, follow_links_outside: bool = False,
                   workers: int = 1, progress: Progress = no_progress) -> tuple[list[Document], list[Skipped]]:
    """Every supported file under ``folder`` as a Document; other files are listed in ``skipped``.

    Nothing whose real path is outside the folder's real path is read (a link to /etc/os-release would
    otherwise be indexed and quoted) unless ``follow_links_outside``; each such link is one line in
    ``skipped``. ``skipped`` also holds notices (``indexed=True``) about files indexed with a caveat.
    With ``workers`` > 1, a folder that is slow to read (``read_files``) is read by that many worker
    processes; the result is the same, in the same order. ``progress`` hears how many files were read.
    """
    root = Path(folder)
    if not root.is_dir():
        raise NoDocumentsError(f"documents folder {root} does not exist; create it or pass another folder")
    top = root.resolve()
    files, skipped = _walk(root, top, follow_links_outside)
    todo: list[tuple[str, Path]] = []
    for parts, path in files:
        rel = "/".join(parts)
        if rel.endswith(SIDECAR_SUFFIXES):
            continue  # metadata sidecars are not documents
        if path.suffix.lower() not in SUPPORTED:
            skipped.append(Skipped(rel, f"unsupported file type {path.suffix or '(none)'}; use {describe_supported()}", False))
            continue
        if path.stat().st_size > max_file_mb * 1024 * 1024:
            skipped.append(Skipped(rel, f"larger than {max_file_mb:g} MB; split it or raise max_file_mb", True))
            continue
        todo.append((rel, path))
    documents = []
    jobs = [(rel, path, None if follow_links_outside else top, max_file_mb) for rel, path in todo]
    for loaded, problems, failed in read_files(jobs, workers, progress):
        if failed:
            skipped.append(failed)
            continue
        documents.extend(loaded)
        skipped.extend(problems)
    skipped.sort(key=lambda s: tuple(s.path.split("/")))  # the walk's order: sorted folder by folder
    for item in skipped:
        if item.detail:  # here, not where the file was read: a worker process's log goes nowhere
            log.debug("%s: the parser said %s", item.path, item.detail)
    return documents, skipped


# Files are read here first; worker processes take over the rest only when, after PARALLEL_AFTER_S of
# reading, the files left would take longer than PARALLEL_MIN_LEFT_S more. Starting the pool costs 0.5-3 s
# (a fork server importing llama-index), more than 300 text files take to read here (0.3-0.6 s), so a
# count of files alone cannot decide; the measured rate can (BENCHMARKS.md, "Ingestion speed").
PARALLEL_AFTER_S = 1.0
PARALLEL_MIN_LEFT_S = 4.0
# (doc id, path, folder that sidecars must be inside or None: anywhere, max_file_mb)
Job = tuple[str, Path, "Path | None", float]
# (the file's documents: itself, then its attachments; notices about them; why it could not be read, or None)
Outcome = tuple[list[Document], list["Skipped"], "Skipped | None"]


def read_files(jobs: list[Job], workers: int = 1, progress: Progress = no_progress) -> list[Outcome]:
    """Each file of ``jobs`` read, in order; by ``workers`` processes once reading here proves slow.

    Workers come from a fork server that has imported this module once (a fork of a process running
    torch's or the web server's threads could deadlock; spawning would import llama-index per worker).
    A worker that dies (a parser crashing the interpreter) sends the files not yet read back here.
    """
    out: list[Outcome] = []
    progress(READING, 0, len(jobs))
    started = time.monotonic()
    while len(out) < len(jobs):
        elapsed = time.monotonic() - started
        if workers > 1 and out and elapsed >= PARALLEL_AFTER_S:
            if (len(jobs) - len(out)) * elapsed / len(out) > PARALLEL_MIN_LEFT_S:
                return _read_in_workers(jobs, out, workers, progress)
            workers = 1  # decided: the rest is quicker read here
        out.append(read_file(jobs[len(out)]))
        progress(READING, len(out), len(jobs))
    return out


def _read_in_workers(jobs: list[Job], out: list[Outcome], workers: int, progress: Progress) -> list[Outcome]:
    """The files of ``jobs`` after the ``out`` already read, by a pool of ``workers`` processes."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    rest = jobs[len(out):]
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            for outcome in pool.map(read_file, rest, chunksize=max(1, min(8, len(rest) // (4 * workers)))):
                out.append(outcome)
                progress(READING, len(out), len(jobs))
    except BrokenProcessPool:
        for job in jobs[len(out):]:
            out.append(read_file(job))
            progress(READING, len(out), len(jobs))
    return out


def read_file(job: Job) -> Outcome:
    """One file as (documents, notices, None) or ([], [], why it could not be read)."""
    rel, path, top, max_file_mb = job
    readable = (lambda p: True) if top is None else (lambda p: _inside(Path(os.path.realpath(p)), top))
    try:
        documents, problems = _load(path, rel, readable, max_file_mb)
    except DocumentError as exc:
        return [], [], Skipped(rel, str(exc), True, detail=exc.detail)
    return documents, problems, None


def _walk(root: Path, top: Path, follow_outside: bool) -> tuple[list[tuple[tuple[str, ...], Path]], list[Skipped]]:
    """The regular files under ``root`` (relative parts, path) in sorted order, and the links left out.

    Hidden files and folders are left out silently. A link is followed when its target is inside the
    folder (or ``follow_outside``); a link to a folder that holds it would loop, so it is left out.
    """
    files: list[tuple[tuple[str, ...], Path]] = []
    skipped: list[Skipped] = []

    def visit(folder: Path, parts: tuple[str, ...], holders: frozenset[Path]) -> None:
        try:
            names = sorted(entry.name for entry in os.scandir(folder))
        except OSError:
            return  # an unreadable sub-folder is left out, as before
        for name in names:
            if name.startswith("."):
                continue  # hidden files and folders are not documents
            path, rel = folder / name, parts + (name,)
            if path.is_symlink():
                target = Path(os.path.realpath(path))
                if not target.exists():
                    skipped.append(Skipped("/".join(rel), "a link to nothing (its target is missing); "
                                                          "fix or remove the link", False))
                    continue
                if not follow_outside and not _inside(target, top):
                    kind, what = ("folder", "copy it in") if target.is_dir() else ("file", "copy the file in")
                    skipped.append(Skipped("/".join(rel), f"a link to a {kind} outside the documents folder "
                                                          f"({target}); {what}, or set follow_links_outside", False))
                    continue
            if path.is_dir():
                real = path.resolve()
                if real in holders:
                    skipped.append(Skipped("/".join(rel), "a link to a folder that holds it (a loop); remove the link",
                                           False))
                    continue
                visit(path, rel, holders | {real})
            elif path.is_file():  # FIFOs, sockets and devices are not documents
                files.append((rel, path))

    visit(root, (), frozenset({top}))
    return files, skipped


def _inside(real: Path, top: Path) -> bool:
    return real == top or top in real.parents


def load_document(path: str | Path, doc_id: str | None = None, max_file_mb: float = 20.0) -> Document:
    """One file as a Document; raises DocumentError with a one-line reason when it cannot be read.

    An e-mail's attachments are left out here; ``load_documents`` indexes them as documents of their own.
    """
    return _load(Path(path), doc_id, max_file_mb=max_file_mb)[0][0]


def _load(path: Path, doc_id: str | None = None, readable: Callable[[Path], bool] = lambda p: True,
          max_file_mb: float = 20.0) -> tuple[list[Document], list[Skipped]]:
    """One file as Documents (itself, then its attachments) and the notices and failures about them.

    ``readable`` says which sidecar files may be read.
    """
    kind = SUPPORTED.get(path.suffix.lower())
    if kind is None:
        raise DocumentError(f"unsupported file type {path.suffix}; use {describe_supported()}")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"cannot read file ({exc.strerror})") from None
    doc_id = doc_id or path.name
    limits = Limits(max_unpacked_bytes=int(max_file_mb * UNPACK_FACTOR * 1024 * 1024))
    reading = read(kind, raw, limits)
    documents = [_document(reading, doc_id, path, _read_sidecar(path, readable))]
    problems = [Skipped(doc_id, notice, False, indexed=True) for notice in reading.notices]
    for name, content in reading.attachments:
        child_id = f"{doc_id}/{_attachment_name(name)}"
        try:
            if len(content) > max_file_mb * 1024 * 1024:
                raise DocumentError(f"attachment larger than {max_file_mb:g} MB; save it separately or raise "
                                    "max_file_mb")
            child = read(SUPPORTED[Path(name).suffix.lower()], content, limits)
            if child.attachments:  # an attached e-mail's own attachments: one level is indexed, not more
                child.notices.append(f"{counted(len(child.attachments), 'attachment')} of this attached message "
                                     "not indexed; save them separately")
            documents.append(_document(child, child_id, path, {"attached_to": doc_id}, title_from=name))
            problems.extend(Skipped(child_id, notice, False, indexed=True) for notice in child.notices)
        except DocumentError as exc:
            problems.append(Skipped(child_id, str(exc), True, detail=exc.detail))
    return documents, problems


def _attachment_name(name: str) -> str:
    """An attachment's file name as the last part of a document id: no folders, no hidden name."""
    base = re.split(r"[\\/]", name)[-1].strip().lstrip(".")
    return re.sub(r"[\x00-\x1f#]", "-", base) or "attachment"


def _document(reading: Reading, doc_id: str, path: Path, extra: dict[str, Any],
              title_from: str | None = None) -> Document:
    """A read file as a Document: format metadata, then ``extra`` (a sidecar), then the locations."""
    if not reading.text.strip():
        raise DocumentError("no text in file")
    meta = {**reading.meta, **extra}
    metadata: dict[str, Any] = {
        "title": str(meta.get("title") or _title_from_name(Path(title_from or path.name))),
        "date": _as_date(meta.get("date")),
        "source": str(meta.get("source") or path.resolve().as_posix()),
        "file_name": doc_id,
    }
    for key, value in meta.items():
        if key not in metadata and value not in (None, "", [], {}):
            metadata[key] = value if isinstance(value, (str, int, float, bool, list, dict)) else str(value)
    if reading.locations:
        metadata["locations"] = [[offset, location] for offset, location in reading.locations]
    document = FileDocument(
        text=reading.text,
        id_=doc_id,
        metadata=metadata,
        excluded_embed_metadata_keys=[k for k in metadata if k not in EMBEDDED_METADATA],
        excluded_llm_metadata_keys=[k for k in metadata if k not in EMBEDDED_METADATA],
    )
    if not meta.get("source"):
        document._unhashed = frozenset({"source"})  # the file's absolute path: where it sits, not what it says
    return document


def _read_sidecar(path: Path, readable: Callable[[Path], bool] = lambda p: True) -> dict[str, Any]:
    for suffix in SIDECAR_SUFFIXES:
        sidecar = path.with_name(path.stem + suffix)
        if sidecar.is_file() and readable(sidecar):  # a linked sidecar outside the folder is listed by the walk
            try:
                data = yaml.safe_load(sidecar.read_text(encoding="utf-8")) or {}
            except (yaml.YAMLError, UnicodeDecodeError) as exc:
                raise DocumentError(f"metadata file {sidecar.name} is not valid YAML/JSON ({exc})") from None
            if not isinstance(data, dict):
                raise DocumentError(f"metadata file {sidecar.name} must hold a mapping of title/date/source")
            return data
    return {}


def _title_from_name(path: Path) -> str:
    return re.sub(r"[-_]+", " ", path.stem).strip().capitalize() or path.name


def _as_date(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()[:10]
    return str(value)


# ---------------------------------------------------------------- passages and sentences


def passage_splitter(chunk_size: int, chunk_overlap: int, tokenizer=None,
                     progress: Progress = no_progress) -> list[TransformComponent]:
    """The node-parser steps that turn Documents into passages with stable ids and exact offsets.

    ``tokenizer`` (text -> tokens) should be the embedding model's, so that ``chunk_size`` is what the
    model reads; without it llama-index's default tokenizer counts. ``progress`` hears the characters
    split (phase ``SPLITTING``), within a document too.
    """
    splitter = OffsetSentenceSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap, tokenizer=tokenizer)
    splitter.progress = progress
    return [splitter, PassageIds()]


class OffsetSentenceSplitter(SentenceSplitter):
    """SentenceSplitter whose passage offsets are right even when text repeats.

    llama-index locates each chunk with ``text.find`` from the previous chunk's start, so a chunk whose
    text also occurs inside the previous chunk gets the earlier position, and two chunks starting at
    the same character lose their offsets. Chunks come in document order and each one starts after the
    previous start or ends after the previous end; searching from there finds the true position.
    """

    _progress: Any = PrivateAttr(default=None)  # a Progress; None: no_progress
    _done: int = PrivateAttr(default=0)  # characters split so far in this call
    _told: int = PrivateAttr(default=0)  # ... as last reported
    _limit: int = PrivateAttr(default=0)  # ... at the end of the document being split
    _total: int = PrivateAttr(default=0)

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        # The last resort for a run of text with no space and no punctuation is llama-index's split into
        # single characters (a million pieces per MB, each measured); pieces of MAX_RUN characters keep
        # that linear and ten times cheaper, and still fit any chunk size.
        self._sub_sentence_split_fns = [*self._sub_sentence_split_fns[:-1], _split_run]

    @property
    def progress(self) -> Progress:
        return self._progress or no_progress

    @progress.setter
    def progress(self, value: Progress) -> None:
        self._progress = value

    @classmethod
    def class_name(cls) -> str:
        return "OffsetSentenceSplitter"

    def _parse_nodes(self, nodes: Sequence[BaseNode], show_progress: bool = False, **kwargs: Any) -> list[BaseNode]:
        """Split document by document, reporting characters split (a 5 MB file shows progress too)."""
        texts = [node.get_content(metadata_mode=MetadataMode.NONE) for node in nodes]
        self._done = self._told = 0
        self._total = sum(map(len, texts))
        self.progress(SPLITTING, 0, self._total)
        out: list[BaseNode] = []
        for node, text in zip(nodes, texts):
            self._limit = self._done + len(text)
            out.extend(super()._parse_nodes([node], show_progress=False, **kwargs))
            self._done = self._limit
            self._report(force=True)
        return out

    def _token_size(self, text: str) -> int:
        # every piece the splitter keeps is measured here once it fits: progress moves by its characters
        size = super()._token_size(text)
        if size <= self.chunk_size and self._done < self._limit:
            self._done = min(self._done + len(text), self._limit)
            self._report()
        return size

    def _report(self, force: bool = False) -> None:
        if force or self._done - self._told >= max(self._total // 200, 65536):
            self._told = self._done
            self.progress(SPLITTING, self._done, self._total)

    def _postprocess_parsed_nodes(self, nodes, parent_doc_map):
        nodes = super()._postprocess_parsed_nodes(nodes, parent_doc_map)
        previous: dict[str, tuple[int, int]] = {}
        for node in nodes:
            doc = parent_doc_map.get(node.ref_doc_id or "")
            if doc is None or not isinstance(node, TextNode):
                continue
            text = node.get_content(metadata_mode=MetadataMode.NONE)
            if node.ref_doc_id not in previous:
                start = doc.text.find(text)
            else:
                ps, pe = previous[node.ref_doc_id]
                found = [i for i in (doc.text.find(text, max(ps, pe - len(text) + 1)),
                                     doc.text.find(text, max(ps + 1, pe - len(text)))) if i >= 0]
                start = min(found) if found else -1
            if start < 0:
                raise RuntimeError(f"passage text not found in document {node.ref_doc_id}")
            node.start_char_idx, node.end_char_idx = start, start + len(text)
            previous[node.ref_doc_id] = (start, start + len(text))
        return nodes


MAX_RUN = 10  # characters per piece when a run of text has no space or punctuation to split at


def _split_run(text: str) -> list[str]:
    return [text[i:i + MAX_RUN] for i in range(0, len(text), MAX_RUN)]


class PassageIds(TransformComponent):
    """Gives each passage the id ``doc_id#start-end``.

    ``OffsetSentenceSplitter`` records where each passage sits in its document; an id built from that is
    stable across re-indexing, so an unchanged document keeps its passage ids.
    """

    def __call__(self, nodes: Sequence[BaseNode], **kwargs: Any) -> Sequence[BaseNode]:
        for node in nodes:
            assert isinstance(node, TextNode)
            doc_id = node.ref_doc_id or ""
            start, end = node.start_char_idx, node.end_char_idx
            if start is None or end is None:
                raise RuntimeError(f"splitter gave no offsets for a passage of {doc_id}")
            node.id_ = f"{doc_id}#{start}-{end}"
            for key in DOCUMENT_ONLY_METADATA:
                node.metadata.pop(key, None)
        return nodes


def check_offsets(doc_text: str, passage: Passage) -> None:
    if doc_text[passage.start:passage.end] != passage.text:
        raise RuntimeError(f"passage {passage.id} does not match its document text")


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """(start, end) of each sentence of ``text[start:end]``, in document offsets, trimmed of spaces.

    Line breaks separate sentences too (headings, list items), except where a line is only wrapped
    (``paragraph_spans``); within a paragraph NLTK's Punkt model (shipped inside llama-index) finds the
    sentence ends.
    """
    end = len(text) if end is None else end
    spans = []
    for block_start, block_end in paragraph_spans(text, start, end):
        block = text[block_start:block_end]
        found: list[tuple[int, int]] = []
        for s, e in _punkt().span_tokenize(block):
            chunk = block[s:e]
            lead = len(chunk) - len(chunk.lstrip())
            trail = len(chunk) - len(chunk.rstrip())
            if e - trail > s + lead:
                found.append((block_start + s + lead, block_start + e - trail))
        for s, e in _marks_kept_with_their_sentence(text, found):
            spans.extend(_bounded(text, s, e))
    return spans


# Footnote marks right after a full stop ("founded in 2005.[1] It has ..."), which Punkt gives to the
# next sentence: "[1]", "[3][citation needed]".
NOTE_MARKS = re.compile(r"(?:\[[^\[\]\n]{1,40}\])+")


def _marks_kept_with_their_sentence(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``spans`` with the footnote marks that open a sentence straight after the one before (no space
    between) given back to that one: a quote of "It has funded 4,000 startups.[2]" then carries its own
    mark, not its neighbour's."""
    out: list[tuple[int, int]] = []
    for s, e in spans:
        marks = NOTE_MARKS.match(text, s, e)
        if marks and out and out[-1][1] == s:
            out[-1] = (out[-1][0], marks.end())
            s = marks.end()
            while s < e and text[s].isspace():
                s += 1
            if s >= e:
                continue
        out.append((s, e))
    return out


# A line that starts a block of its own: a heading, a list item, a table row, a quoted line.
BLOCK_START = re.compile(r"\s*(?:#{1,6}\s|[-*+\u2022\u2023\u25e6]\s|\d{1,3}[.)]\s|[|>])")
WRAP_SHARE = 0.75  # a line this close to the text's wrapping width that ends mid-sentence was wrapped
MIN_WRAP_WIDTH = 40  # texts whose long lines are shorter than this are not taken for wrapped prose


def paragraph_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """(start, end) of each paragraph of ``text[start:end]``: its lines, joined where a line is only
    wrapped ("The warranty does not cover\\ndamage caused by limescale."): the next line goes on in lower
    case, or the line stops mid-sentence (no closing punctuation) near the width the text is wrapped at.
    A blank line, a heading, a list item or a table row always starts a paragraph of its own.
    """
    end = len(text) if end is None else end
    lines = [(start + m.start(), start + m.end()) for m in re.finditer(r"[^\n]*\S[^\n]*", text[start:end])]
    if not lines:
        return []
    lengths = sorted(len(text[s:e].rstrip()) for s, e in lines)
    width = lengths[int(0.9 * (len(lengths) - 1))]  # what the text is wrapped at, if it is
    width = width if width >= MIN_WRAP_WIDTH else float("inf")  # short lines: items, verse, not wrapped prose
    out = [lines[0]]
    for (prev_start, prev_end), (line_start, line_end) in zip(lines, lines[1:]):
        prev, line = text[prev_start:prev_end].rstrip(), text[line_start:line_end]
        # a list item may wrap too ("- Keep the kettle out of reach of\\n  children."); a heading never does
        wrapped = text[prev_end:line_start].count("\n") == 1 and not BLOCK_START.match(line) \
            and not prev.lstrip().startswith(("#", "|", ">"))
        goes_on = line.lstrip()[:1].islower() or (
            len(prev) >= WRAP_SHARE * width and (prev[-1:].isalnum() or prev[-1:] in ",-"))
        if wrapped and goes_on:
            out[-1] = (out[-1][0], line_end)
        else:
            out.append((line_start, line_end))
    return out


SENTENCE_MAX_CHARS = 1000  # longer "sentences" (a line with no full stop) are cut into pieces
_CLAUSE_END = re.compile(r"[,;:)\]]\s|\s[-\u2013\u2014]\s")


def _bounded(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """``(start, end)`` as pieces of at most ``SENTENCE_MAX_CHARS``, trimmed of spaces.

    A quote is a sentence, so a 5 MB line without a full stop must not be one: it is cut after the
    last clause mark (comma, semicolon, colon, dash) in the second half of each piece, else at the last
    space, else (no space at all) at the limit. Real sentences are far shorter (the longest in XQuAD's
    contexts is 1,163 characters; one in SciFact's 30,000 is longer) and are left alone.
    """
    pieces = []
    while end - start > SENTENCE_MAX_CHARS:
        window = text[start + SENTENCE_MAX_CHARS // 2:start + SENTENCE_MAX_CHARS]
        clause = [m.end() for m in _CLAUSE_END.finditer(window)]
        space = [m.end() for m in re.finditer(r"\s+", window)]
        cut = start + SENTENCE_MAX_CHARS // 2 + (clause or space or [len(window)])[-1]
        piece_end = cut
        while piece_end > start and text[piece_end - 1].isspace():
            piece_end -= 1
        pieces.append((start, piece_end))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if end > start:
        pieces.append((start, end))
    return pieces


@lru_cache(maxsize=1)
def _punkt():
    """NLTK's trained English Punkt model (knows "Dr.", "U.S."); llama-index ships its data."""
    import nltk
    from llama_index.core.utils import globals_helper

    wait = getattr(globals_helper, "wait_for_nltk_check", None)
    if wait:
        wait()
    return nltk.tokenize.punkt.PunktTokenizer("english")
