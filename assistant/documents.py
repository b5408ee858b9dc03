"""Reading files into Documents with metadata, and splitting them into passages with exact offsets.

A document's ``text`` is what every offset refers to: ``doc.text[p.start:p.end] == p.text`` holds for
every passage and every sentence span, which is what lets a citation quote its source exactly.

>>> docs, skipped = load_documents("seeds")          # doctest: +SKIP
>>> docs[0].metadata["title"]                          # doctest: +SKIP
'India and Russia sign AK-203 rifle contract ...'
"""

from __future__ import annotations

import codecs
import datetime as dt
import os
import re
import time
from dataclasses import dataclass
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
from .progress import READING, Progress, no_progress

SUPPORTED = {".txt": "text", ".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html", ".pdf": "pdf"}


def describe_supported(last: str = "or") -> str:
    """The supported file types for a message, one suffix per kind: '.txt, .md, .html or .pdf'."""
    first: dict[str, str] = {}
    for suffix, kind in SUPPORTED.items():
        first.setdefault(kind, suffix)
    main = list(first.values())
    return ", ".join(main[:-1]) + f" {last} " + main[-1] if len(main) > 1 else main[0]


SIDECAR_SUFFIXES = (".meta.yaml", ".meta.yml", ".meta.json")
# Only these metadata keys are embedded with a passage; the rest is for display.
EMBEDDED_METADATA = ("title",)
# Text files in UTF-16/UTF-32 are told apart from binaries by their byte order mark. UTF-32 LE first: its
# mark begins with UTF-16 LE's.
BYTE_ORDER_MARKS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


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
    jobs = [(rel, path, None if follow_links_outside else top) for rel, path in todo]
    for (rel, _), (document, notices, error) in zip(todo, read_files(jobs, workers, progress)):
        if document is None:
            skipped.append(Skipped(rel, error, True))
            continue
        documents.append(document)
        skipped.extend(Skipped(rel, notice, False, indexed=True) for notice in notices)
    skipped.sort(key=lambda s: tuple(s.path.split("/")))  # the walk's order: sorted folder by folder
    return documents, skipped


# Files are read here first; worker processes take over the rest only when, after PARALLEL_AFTER_S of
# reading, the files left would take longer than PARALLEL_MIN_LEFT_S more. Starting the pool costs 0.5-3 s
# (a fork server importing llama-index), more than 300 text files take to read here (0.3-0.6 s), so a
# count of files alone cannot decide; the measured rate can (BENCHMARKS.md, "Ingestion speed").
PARALLEL_AFTER_S = 1.0
PARALLEL_MIN_LEFT_S = 4.0
Job = tuple[str, Path, "Path | None"]  # (doc id, path, folder that sidecars must be inside, None: anywhere)
Outcome = tuple["Document | None", list[str], str]  # (document, notices, why it could not be read)


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
    """One file as (document, notices, '') or (None, [], the one-line reason it could not be read)."""
    rel, path, top = job
    readable = (lambda p: True) if top is None else (lambda p: _inside(Path(os.path.realpath(p)), top))
    try:
        document, notices = _load(path, rel, readable)
    except DocumentError as exc:
        return None, [], str(exc)
    return document, notices, ""


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


def load_document(path: str | Path, doc_id: str | None = None) -> Document:
    """One file as a Document; raises DocumentError with a one-line reason when it cannot be read."""
    return _load(Path(path), doc_id)[0]


def _load(path: Path, doc_id: str | None = None,
          readable: Callable[[Path], bool] = lambda p: True) -> tuple[Document, list[str]]:
    """One file as a Document and notices about it; ``readable`` says which sidecar files may be read."""
    notices: list[str] = []
    kind = SUPPORTED.get(path.suffix.lower())
    if kind is None:
        raise DocumentError(f"unsupported file type {path.suffix}; use {describe_supported()}")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"cannot read file ({exc.strerror})") from None
    meta: dict[str, Any] = {}
    if kind == "pdf":
        text, meta = _read_pdf(raw)
    else:
        text = _decode(raw)
        if kind == "html":
            text, meta = _read_html(text)
        else:
            text, meta = _split_front_matter(text, notices)
            if kind == "markdown" and "title" not in meta:
                heading = re.search(r"^#\s+(.+)$", text, re.MULTILINE)
                if heading:
                    meta["title"] = heading.group(1).strip()
    if not text.strip():
        raise DocumentError("no text in file")
    meta.update(_read_sidecar(path, readable))
    doc_id = doc_id or path.name
    metadata = {
        "title": str(meta.get("title") or _title_from_name(path)),
        "date": _as_date(meta.get("date")),
        "source": str(meta.get("source") or path.resolve().as_posix()),
        "file_name": doc_id,
    }
    document = FileDocument(
        text=text,
        id_=doc_id,
        metadata=metadata,
        excluded_embed_metadata_keys=[k for k in metadata if k not in EMBEDDED_METADATA],
        excluded_llm_metadata_keys=[k for k in metadata if k not in EMBEDDED_METADATA],
    )
    if not meta.get("source"):
        document._unhashed = frozenset({"source"})  # the file's absolute path: where it sits, not what it says
    return document, notices


def _decode(raw: bytes) -> str:
    for mark, encoding in BYTE_ORDER_MARKS:
        if raw.startswith(mark):
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError:
                raise DocumentError(f"not valid {encoding.upper()} text; save it as UTF-8") from None
            if "\x00" not in text[:8192]:
                return text.replace("\r\n", "\n").replace("\r", "\n")
            break  # a mark followed by NUL characters: a binary that happens to start like one
    if b"\x00" in raw[:8192]:
        raise DocumentError(f"binary file, not text; convert it to {describe_supported()}")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(encoding).replace("\r\n", "\n").replace("\r", "\n")
        except UnicodeDecodeError:
            continue
    raise DocumentError("not valid UTF-8 text; save it as UTF-8")


def _split_front_matter(text: str, notices: list[str]) -> tuple[str, dict[str, Any]]:
    """The text after a YAML front matter block, and its mapping.

    A block that is not YAML is dropped with a notice (it was meant as front matter: its keys must not
    be quoted as the document's first sentence); one that is YAML but not a mapping (a sentence between
    two rules) is kept as text.
    """
    match = re.match(r"---\n(.*?)\n---\n", text, re.DOTALL)
    if not match:
        return text, {}
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        notices.append(f"front matter is not valid YAML ({_yaml_problem(exc)}); indexed the text without it")
        return text[match.end():], {}
    if not isinstance(meta, dict):
        return text, {}  # not front matter after all: keep the text as written
    return text[match.end():], meta


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """'line 2: mapping values are not allowed here', counting lines of the file (front matter starts on 2)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"line {mark.line + 2}: {problem}" if mark is not None else problem


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


def _read_html(html: str) -> tuple[str, dict[str, Any]]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    meta: dict[str, Any] = {}
    if soup.title and soup.title.get_text(strip=True):
        meta["title"] = soup.title.get_text(strip=True)
    elif soup.h1:
        meta["title"] = soup.h1.get_text(strip=True)
    for name in ("date", "article:published_time", "dc.date", "pubdate"):
        tag = soup.find("meta", attrs={"name": name}) or soup.find("meta", attrs={"property": name})
        if tag and tag.get("content"):
            meta["date"] = tag["content"]
            break
    for tag in soup(["script", "style", "noscript", "template", "head", "title"]):
        tag.decompose()
    text = soup.get_text("\n")
    lines = [re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in text.split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return text, meta


def _read_pdf(raw: bytes) -> tuple[str, dict[str, Any]]:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(raw))
        if reader.is_encrypted:
            raise DocumentError("PDF is encrypted; save an unencrypted copy")
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
        info = reader.metadata or {}
    except DocumentError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise DocumentError(f"not a readable PDF ({exc.__class__.__name__}); re-export it") from None
    text = "\n\n".join(p for p in pages if p)
    if not text.strip():
        raise DocumentError("PDF has no extractable text (scanned images?); run OCR first")
    meta: dict[str, Any] = {}
    if info.get("/Title"):
        meta["title"] = str(info["/Title"])
    created = info.get("/CreationDate")
    if created and re.match(r"D:\d{8}", str(created)):
        c = str(created)[2:10]
        meta["date"] = f"{c[:4]}-{c[4:6]}-{c[6:8]}"
    return text, meta


def _title_from_name(path: Path) -> str:
    return re.sub(r"[-_]+", " ", path.stem).strip().capitalize() or path.name


def _as_date(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()[:10]
    return str(value)


# ---------------------------------------------------------------- passages and sentences


def passage_splitter(chunk_size: int, chunk_overlap: int, tokenizer=None) -> list[TransformComponent]:
    """The node-parser steps that turn Documents into passages with stable ids and exact offsets.

    ``tokenizer`` (text -> tokens) should be the embedding model's, so that ``chunk_size`` is what the
    model reads; without it llama-index's default tokenizer counts.
    """
    splitter = OffsetSentenceSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap, tokenizer=tokenizer)
    return [splitter, PassageIds()]


class OffsetSentenceSplitter(SentenceSplitter):
    """SentenceSplitter whose passage offsets are right even when text repeats.

    llama-index locates each chunk with ``text.find`` from the previous chunk's start, so a chunk whose
    text also occurs inside the previous chunk gets the earlier position, and two chunks starting at
    the same character lose their offsets. Chunks come in document order and each one starts after the
    previous start or ends after the previous end; searching from there finds the true position.
    """

    @classmethod
    def class_name(cls) -> str:
        return "OffsetSentenceSplitter"

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
        return nodes


def check_offsets(doc_text: str, passage: Passage) -> None:
    if doc_text[passage.start:passage.end] != passage.text:
        raise RuntimeError(f"passage {passage.id} does not match its document text")


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """(start, end) of each sentence of ``text[start:end]``, in document offsets, trimmed of spaces.

    Line breaks separate sentences too (headings, list items); within a line NLTK's Punkt model
    (shipped inside llama-index) finds the sentence ends.
    """
    end = len(text) if end is None else end
    spans = []
    for line in re.finditer(r"[^\n]+", text[start:end]):
        base = start + line.start()
        for s, e in _punkt().span_tokenize(line.group()):
            chunk = line.group()[s:e]
            lead = len(chunk) - len(chunk.lstrip())
            trail = len(chunk) - len(chunk.rstrip())
            if e - trail > s + lead:
                spans.append((base + s + lead, base + e - trail))
    return spans


@lru_cache(maxsize=1)
def _punkt():
    """NLTK's trained English Punkt model (knows "Dr.", "U.S."); llama-index ships its data."""
    import nltk
    from llama_index.core.utils import globals_helper

    wait = getattr(globals_helper, "wait_for_nltk_check", None)
    if wait:
        wait()
    return nltk.tokenize.punkt.PunktTokenizer("english")
