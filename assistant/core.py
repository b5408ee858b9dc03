"""The pipeline object: ``Assistant`` (index + retrieval + answering) and ``Chat`` (a conversation).

>>> from assistant import Assistant
>>> bot = Assistant.from_folder("seeds")                                   # doctest: +SKIP
>>> bot.ask("How many AK-203 rifles will India buy?").citations[0].quote    # doctest: +SKIP
'India on Monday signed a contract with Russia to procure 6,01,427 AK-203 assault rifles ...'
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from llama_index.core import Document
from llama_index.core.base.embeddings.base import BaseEmbedding

from .answering.extractive import ExtractiveAnswerer
from .citations import Answer, Citation, verify
from .config import (ANSWER_MODES, INDEX_SETTINGS, UPLOADS, Settings, check_top_k, collections, gold_path,
                     uploads_folder)
from .documents import Passage, Skipped, describe_supported, load_documents
from .embeddings import dimension_of, load_embedder, max_tokens
from .errors import ConfigError, DocumentError, IndexMismatchError, NoDocumentsError, QuestionError
from .pages import PageView, indexed_file, page_view
from .progress import Progress, TerminalProgress, no_progress
from .questions import MAX_QUESTION_CHARS, Question, check_question
from .reader import load_reader
from .retrieval import HybridRetriever
from .stores import Store, open_store
from .stores.snapshot import Snapshot, UpdateReport, mismatch, new_manifest

log = logging.getLogger("assistant")

__all__ = ["Assistant", "Chat", "DocumentInfo", "MAX_QUESTION_CHARS"]

Rewrite = Callable[[str, list[str]], str]  # (question, earlier questions) -> stand-alone query


_REFRESH_LOCK = threading.Lock()


@dataclass(frozen=True)
class _State:
    """What one question is answered from; replaced whole when the index changes."""

    snapshot: Snapshot
    retriever: HybridRetriever
    answerer: ExtractiveAnswerer
    texts: Mapping[str, str]
    llm_answerer: Any = None  # built on the first question in llm mode


@dataclass(frozen=True)
class DocumentInfo:
    """One indexed document as listed by ``Assistant.documents``."""

    doc_id: str
    title: str
    date: str
    passages: int
    indexed_at: str


class Assistant:
    """Answers questions from an indexed folder of documents, citing the passages it quotes.

    Build one with ``Assistant.from_folder``; ask with ``ask``, ``stream`` or a ``chat()``.
    """

    def __init__(self, snapshot: Snapshot | None, embedder: BaseEmbedding, settings: Settings,
                 skipped: list[Skipped] | None = None, report: UpdateReport | None = None, llm: Any = None,
                 store: Store | None = None):
        """Serve ``snapshot``; with ``None``, call ``refresh()`` to build or load the index first.

        ``llm`` is a llama-index LLM for answer mode ``llm``; without one, the model the settings name is
        loaded on the first question in that mode. ``store`` is the one the settings name, already open.
        """
        self.settings = settings
        self.embedder = embedder
        self.collection = ""  # the collection's name when made by from_config
        self.skipped = list(skipped or [])
        self.last_update = report
        self._llm = llm  # the LLM, kept across index refreshes
        self._llm_lock = threading.Lock()
        self.store: Store = store or open_store(settings)
        if snapshot is not None:
            self._use(snapshot)

    def _use(self, snapshot: Snapshot) -> None:
        retriever = HybridRetriever(snapshot, self.embedder, top_k=self.settings.top_k)
        answerer = ExtractiveAnswerer(
            snapshot, self.embedder, idf=retriever.idf, known=retriever.knows,
            refusal_threshold=self.settings.refusal_threshold, max_sentences=self.settings.max_sentences,
            reader=load_reader(self.settings.reader), reader_threshold=self.settings.reader_threshold,
        )
        texts = snapshot.texts()
        # One assignment, so a question answered while refresh() runs in another thread sees either the
        # old index or the new one, never a mix.
        self._state = _State(snapshot, retriever, answerer, texts)

    @property
    def snapshot(self) -> Snapshot:
        return self._state.snapshot

    @property
    def retriever(self) -> HybridRetriever:
        return self._state.retriever

    @property
    def answerer(self) -> ExtractiveAnswerer:
        return self._state.answerer

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_folder(cls, folder: str | Path | None = None, *, index_dir: str | Path | None = None,
                    settings: Settings | None = None, update: bool = True, rebuild: bool = False,
                    embedder: BaseEmbedding | None = None, llm: Any = None, **overrides: Any) -> "Assistant":
        """Load the index of ``folder`` (default ``seeds``), building or updating it first.

        With ``update=False`` the index is loaded as it is (fast; no file is read), and an index built
        with other settings raises ``IndexMismatchError``. ``rebuild=True`` re-embeds everything.
        ``embedder`` and ``llm`` inject models (llama-index ``BaseEmbedding`` / ``LLM``) instead of
        loading the ones the settings name. Keyword overrides (``top_k=3``) change settings.
        """
        settings = (settings or Settings.load()).replace(
            **{k: v for k, v in {"docs_dir": folder, "index_dir": index_dir, **overrides}.items() if v is not None}
        )
        embedder = embedder or load_embedder(settings.embed_model, settings.embed_batch_size, settings.embed_backend,
                                             settings.embed_url, settings.onnx_cache_dir)
        if not update:
            bot = cls(None, embedder, settings, llm=llm)
            bot._use(bot._load_checked())
        else:
            bot = cls(None, embedder, settings, llm=llm)
            bot.refresh(rebuild=rebuild)
        if settings.answer_mode == "llm":
            bot.answerer_for("llm")  # load the model now: a missing one fails here, not mid-chat
        return bot

    @classmethod
    def from_config(cls, collection: str | None = None, *, config_file: str | Path | None = None,
                    embedder: BaseEmbedding | None = None, llm: Any = None, update: bool = True,
                    rebuild: bool = False, **overrides: Any) -> "Assistant":
        """The assistant of one collection of the config file (``[collections.NAME]``); the default
        collection (the ``seeds`` folder unless configured) without a name.

        >>> Assistant.from_config("papers").ask("What did the trial find?")   # doctest: +SKIP
        """
        found = collections(config_file, **overrides)
        name = collection or next(iter(found))
        if name not in found:
            raise ConfigError(f"no collection named {name!r}; the config has {', '.join(found)}")
        bot = cls.from_folder(settings=found[name].settings, embedder=embedder, llm=llm, update=update,
                              rebuild=rebuild)
        bot.collection = name
        return bot

    def _load_checked(self) -> Snapshot:
        """The store's committed index, which must match the settings' model and chunking."""
        snapshot = self.store.load()
        reason = mismatch(snapshot.manifest, self._manifest_base(self.settings, self.embedder))
        if reason:
            raise IndexMismatchError(
                f"the index in {self.store.describe()} does not match the settings ({reason}); "
                "run `assistant index` to rebuild it"
            )
        return snapshot

    def _follow_store(self) -> "_State":
        """With a shared store (a database), serve what was last committed: one cheap version check per
        question, a reload when another process has updated the index since. The state to answer from."""
        if self.store.shared and self.store.version() != self._state.snapshot.version:
            # no lock: loading a served snapshot is one read, and a lock taken inside a reading transaction
            # could wait on a refresh() that waits on that transaction (a rebuild drops the tables)
            self._use(self._load_checked())
        return self._state

    @staticmethod
    def _manifest_base(settings: Settings, embedder: BaseEmbedding) -> dict:
        limit = max_tokens(embedder)
        if limit is not None and settings.chunk_size > limit:
            raise ConfigError(
                f"chunk_size {settings.chunk_size} is more than the {limit} tokens {embedder.model_name} reads; "
                f"set chunk_size to {limit} or less"
            )
        return new_manifest(embedder.model_name, dimension_of(embedder), settings.chunk_size, settings.chunk_overlap,
                            settings.vector_index)

    def refresh(self, rebuild: bool = False, progress: Progress | None = None) -> UpdateReport:
        """Re-read the documents folder and index what was added, changed or deleted.

        ``progress(phase, done, total)`` hears of each phase (files read, passages embedded, index
        written); by default bars on stderr when ``settings.show_progress``. Safe to call while other
        threads ask questions; concurrent refreshes run one after another.
        """
        if progress is None:
            progress = TerminalProgress() if self.settings.show_progress else no_progress
        with _REFRESH_LOCK:
            return self._refresh(rebuild, progress)

    def _refresh(self, rebuild: bool, progress: Progress) -> UpdateReport:
        documents, skipped = self._load_documents(progress)
        for item in skipped:
            log.warning("%s", item)
        if not documents:
            unreadable = "; ".join(str(s) for s in skipped if s.unreadable)
            raise NoDocumentsError(
                f"no readable documents in {self.settings.docs_dir}; add {describe_supported()} files"
                + (f" ({unreadable})" if unreadable else "")
            )
        snapshot, report = self.store.update(documents, self.embedder, self._manifest_base(self.settings, self.embedder),
                                             rebuild=rebuild, progress=progress)
        self.skipped, self.last_update = skipped, report
        self._use(snapshot)
        return report

    def _load_documents(self, progress: Progress) -> tuple[list[Document], list[Skipped]]:
        """The documents folder's files, then the uploads folder's (ids ``uploads/<file>``)."""
        settings = self.settings
        documents, skipped = load_documents(settings.docs_dir, settings.max_file_mb,
                                            follow_links_outside=settings.follow_links_outside,
                                            workers=settings.parse_workers, progress=progress)
        uploads = self.uploads_dir
        if not uploads.is_dir() or uploads.resolve() == Path(settings.docs_dir).resolve():
            return documents, skipped
        taken = {doc.doc_id for doc in documents}
        more, more_skipped = load_documents(uploads, settings.max_file_mb, workers=settings.parse_workers,
                                            progress=progress)
        for doc in more:
            doc.id_ = f"{UPLOADS}/{doc.id_}"
            if doc.id_ in taken:
                skipped.append(Skipped(doc.id_, f"the documents folder has a file {doc.id_} too; rename one", True))
                continue
            documents.append(doc)
        skipped.extend(dataclasses.replace(s, path=f"{UPLOADS}/{s.path}") for s in more_skipped)
        return documents, skipped

    @property
    def uploads_dir(self) -> Path:
        """Where files added through the browser or the API are kept (indexed with the documents)."""
        return uploads_folder(self.settings, self.collection)

    @property
    def gold_file(self) -> Path:
        """The collection's gold set: where the chat's 👍/👎 save cases, and what ``assistant eval`` and the
        Evaluation tab run by default (``gold_file``, else a file in the user's data folder)."""
        return gold_path(self.settings, self.collection)

    def with_settings(self, **changes: Any) -> "Assistant":
        """This assistant's index, models and store, answering with other settings: ``top_k=10``,
        ``answer_mode="llm"``, ``reader="off"``, ``refusal_threshold=0.6``, ``max_sentences=1`` (to compare two
        ways of answering over the same cases). Itself when nothing changes; a setting that needs another
        index (``chunk_size``, ``embed_model``, ``docs_dir``, ...) is a ``ConfigError``."""
        needs_index = sorted(set(changes) & INDEX_SETTINGS)
        if needs_index:
            raise ConfigError(f"{', '.join(needs_index)} cannot change over this index (it needs another); "
                              "compare settings of answering such as top_k, answer_mode, reader or refusal_threshold")
        settings = self.settings.replace(**changes)
        if settings == self.settings:
            return self
        twin = Assistant(None, self.embedder, settings, skipped=self.skipped, report=self.last_update, llm=self._llm,
                         store=self.store)
        twin.collection = self.collection
        twin._use(self.snapshot)
        if settings.answer_mode == "llm":
            twin.answerer_for("llm")  # a missing model fails now, not at the first case
            if self._llm is None and settings.llm_model == self.settings.llm_model:
                self._llm = twin._llm  # loaded once for every later comparison too
        return twin

    def gold_case(self, answer: Answer, verdict: str, correction: str | None = None,
                  history: list[str] | None = None):
        """A gold case (``evaluation.GoldCase``) made of feedback on ``answer``: ``verdict`` "right" (👍: the
        answer's key words, or ``correction``'s, and its cited document; a refusal becomes ``refuse: true``),
        "wrong" (👎: ``correction`` is the right answer in a few words), "should-refuse" or "should-answer"
        (with ``correction``). ``history`` holds the conversation's earlier questions (the case's ``turns``).
        Save it with ``GoldFile(bot.gold_file).save(case)`` (``assistant.evaluation_gold``)."""
        from .evaluation_gold import case_from_answer

        return case_from_answer(answer, verdict, correction, history or [])

    def warm_up(self) -> None:
        """Load the embedding model and the reader now instead of on the first question."""
        warm = getattr(self.embedder, "warm_up", None)
        if warm:
            warm()
        self.embedder.get_query_embedding("warm up")
        reader = self._state.answerer.reader if hasattr(self, "_state") else None
        if reader is not None:
            reader.warm_up()

    # ------------------------------------------------------------------ asking

    def ask(self, question: str, history: list[str] | None = None, top_k: int | None = None,
            mode: str | None = None, rewrite: Rewrite | None = None,
            generation: dict[str, Any] | None = None) -> Answer:
        """Answer one question; ``history`` holds earlier user questions of the same conversation.

        ``top_k`` (passages retrieved) and ``mode`` (``extractive`` or ``llm``) override the settings for
        this question only; ``rewrite(question, history)`` replaces the answer mode's way of making a
        follow-up stand-alone. ``generation`` (``temperature``, ``max_tokens``) goes to the model in llm
        mode, per call, for server backends (llama-index's local llama.cpp keeps the configured values).
        """
        *_, answer = self.stream(question, history, top_k=top_k, mode=mode, rewrite=rewrite, generation=generation)
        return answer

    def stream(self, question: str, history: list[str] | None = None, top_k: int | None = None,
               mode: str | None = None, rewrite: Rewrite | None = None,
               generation: dict[str, Any] | None = None) -> Iterator[str | Answer]:
        """Yield the answer text in pieces (the model's tokens in llm mode), then the verified ``Answer``.

        The pieces are a draft; the final ``Answer`` is what was verified, with every [n] checked.
        """
        question = check_question(question)
        if top_k is not None:
            check_top_k(top_k)
        with self.store.reading():  # a database: one committed state for the version check, search and rows
            state = self._follow_store()
            answerer = self._answerer(state, mode or self.settings.answer_mode)
            asked = Question.ask(question, history, rewrite=rewrite or answerer.standalone)
            vector = state.retriever.embed_query(asked.query)
            passages = state.retriever.search(asked, top_k=top_k, vector=vector)
        asked = asked.recased([p.text for p in passages])
        extra = {"generation": generation} if generation and answerer is not state.answerer else {}
        for piece in answerer.stream(asked, passages, vector, **extra):
            if isinstance(piece, Answer):
                yield verify(piece, state.texts)
            else:
                yield piece

    def search(self, question: str, top_k: int | None = None) -> list[Passage]:
        """The passages retrieval ranks best for ``question``, best first (``score`` 0-1), without answering."""
        asked = Question.ask(question)
        if top_k is not None:
            check_top_k(top_k)
        with self.store.reading():
            return self._follow_store().retriever.search(asked, top_k=top_k)

    def answerer_for(self, mode: str | None = None):
        """The answerer of ``mode`` (``extractive`` or ``llm``; default: the settings'), loading the LLM
        on first use in llm mode."""
        return self._answerer(self._state, mode or self.settings.answer_mode)

    check_question = staticmethod(check_question)

    def _answerer(self, state: "_State", mode: str):
        if mode == "extractive":
            return state.answerer
        if mode != "llm":
            raise ConfigError(f"answer mode must be one of {', '.join(ANSWER_MODES)}, got {mode!r}")
        with self._llm_lock:
            if self._llm is None:
                from .llms import load_llm

                self._llm = load_llm(self.settings)
            if state.llm_answerer is None:
                from .answering.llm import LLMAnswerer, Prompts

                object.__setattr__(state, "llm_answerer", LLMAnswerer(
                    state.answerer, self._llm, Prompts.load(self.settings.prompts_dir or None),
                    support_threshold=self.settings.support_threshold, max_sentences=self.settings.max_sentences))
            return state.llm_answerer

    def chat(self) -> "Chat":
        """A conversation whose follow-up questions are read in the light of earlier ones."""
        return Chat(self)

    # ------------------------------------------------------------------ what is indexed

    @property
    def documents(self) -> list[DocumentInfo]:
        out = []
        for doc_id, entry in sorted(self.snapshot.manifest.get("documents", {}).items()):
            out.append(DocumentInfo(doc_id, entry.get("title", doc_id), entry.get("date", ""),
                                    entry.get("passages", 0), entry.get("indexed_at", "")))
        return out

    def document_text(self, doc_id: str) -> str:
        return self._state.texts[doc_id]

    def document_metadata(self, doc_id: str) -> dict[str, Any]:
        """What the document's file or sidecar says about it: title, date, source, ..."""
        return dict(self._state.snapshot.documents[doc_id].metadata)

    def page_view(self, citation: Citation) -> PageView:
        """Where ``citation``'s quote sits, to show it: its PDF page (scanned too) or image rendered with the
        quoted words boxed; for other formats, or a file gone since indexing, the section of text around it
        (``assistant.pages``). Only files inside the documents and uploads folders are opened."""
        document = self._state.snapshot.documents.get(citation.doc_id)
        if document is None or document.text[citation.start:citation.end] != citation.quote:
            raise DocumentError(f"{citation.doc_id} changed or was removed since this answer; "
                                "ask the question again")
        file = indexed_file(citation.doc_id, self.settings.docs_dir, self.uploads_dir,
                            self.settings.follow_links_outside)
        return page_view(citation.doc_id, document.text, document.metadata, citation.start, citation.end, file)

    @property
    def passage_count(self) -> int:
        """How many passages are indexed."""
        return len(self._state.snapshot.passages)

    def as_query_engine(self):
        """A llama-index query engine over this assistant, for llama-index's own evaluators."""
        from llama_index.core.base.response.schema import Response
        from llama_index.core.query_engine import CustomQueryEngine

        bot = self

        class AssistantQueryEngine(CustomQueryEngine):
            def custom_query(self, query_str: str) -> Response:
                answer = bot.ask(query_str)
                nodes = bot.retriever.retrieve(answer.query)
                return Response(response=answer.text, source_nodes=nodes,
                                metadata={"refused": answer.refused, "citations": [c.__dict__ for c in answer.citations]})

        return AssistantQueryEngine()


class Chat:
    """A conversation with an ``Assistant``: follow-up questions are resolved from earlier turns."""

    def __init__(self, assistant: Assistant):
        self.assistant = assistant
        self.turns: list[tuple[str, Answer]] = []

    @property
    def questions(self) -> list[str]:
        return [q for q, _ in self.turns]

    def ask(self, question: str, top_k: int | None = None, mode: str | None = None) -> Answer:
        answer = self.assistant.ask(question, history=self.questions, top_k=top_k, mode=mode)
        self.turns.append((answer.question, answer))
        return answer

    def stream(self, question: str, top_k: int | None = None, mode: str | None = None) -> Iterator[str | Answer]:
        for piece in self.assistant.stream(question, history=self.questions, top_k=top_k, mode=mode):
            if isinstance(piece, Answer):
                self.turns.append((piece.question, piece))
            yield piece

    def gold_case(self, verdict: str, correction: str | None = None, turn: int = -1):
        """``Assistant.gold_case`` for one answer of this conversation (default the latest), its earlier
        questions as the case's turns."""
        if not self.turns:
            raise QuestionError("nothing has been asked in this conversation yet; ask a question first")
        turn = turn % len(self.turns)
        return self.assistant.gold_case(self.turns[turn][1], verdict, correction, self.questions[:turn])

    def reset(self) -> None:
        self.turns.clear()
