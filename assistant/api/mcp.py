"""MCP tools over the collections: ``search``, ``ask`` and ``list_documents``, over streamable HTTP and stdio.

Each tool takes an optional ``collection`` (default: the server's default collection, or the first one the
caller may use); its description lists the collections this caller may use. Results are structured
content (``outputSchema``) and the same data as JSON text; ``ask`` sends the answer text with its ``[n]``
markers as the first text block. Citations have the fields of the OpenAI-compatible API's ``citations``
(number, document, title, location, start, end, quote, score), so both APIs agree; ``search`` gives the
ranked passages in the same shape (``quote`` is the whole passage, ``number`` its rank).

Streamable HTTP (``mcp_http_app``, mounted at ``/mcp`` by ``server.build_server``): the endpoint is
``http://127.0.0.1:7860/mcp/`` (and ``/mcp`` when the parent app routes it here too). It is stateless (no
session to lose between requests; every request is checked on its own). Every request first goes through
the API key check (``keys.py``): a missing or unknown key is a 401 and a client that is not on this machine
(without keys configured) a 403, as JSON in the OpenAI API's error shape, before the MCP layer sees it.
A tool call for a collection the key may not use, or that does not exist, is a tool error that says only
``no collection named 'X' you may use``. Until keys are configured, the server also checks the ``Host``
and ``Origin`` headers (the SDK's DNS-rebinding protection): only ``127.0.0.1:*``, ``localhost:*`` and
``[::1]:*`` are accepted, so a web page whose host name resolves to 127.0.0.1 cannot use the loopback
access; with keys configured the key is what protects, and any host name works. A client config::

    {"mcpServers": {"documents": {"type": "http", "url": "http://127.0.0.1:7860/mcp/",
                                  "headers": {"Authorization": "Bearer YOUR_KEY"}}}}

Stdio (``run_stdio``, ``assistant mcp``): the local user runs it, so there are no keys and every collection
may be used. Only protocol goes to stdout: while serving, the SDK points file descriptor 1 at stderr, so a
stray ``print`` of a library lands there; progress bars and logs go to stderr anyway. Collections start
loading (and indexing) in the background as soon as the server starts; a call waits for its collection.

Errors the assistant raises (an empty question, a collection that cannot be loaded) come back as tool
errors with their one-line message, never a traceback, and the server keeps serving.
"""

from __future__ import annotations

import contextlib
from typing import Annotated, Any, AsyncIterator, Callable, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field
from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

from ..config import ANSWER_MODES, MAX_TOP_K
from ..core import Assistant
from ..errors import AssistantError
from ..library import Library
from ..questions import MAX_QUESTION_CHARS
from . import openai
from .keys import Access, ApiKeys, Denied

ACCESS = "assistant.access"  # the ASGI scope key where the key check leaves the caller's Access for the tools
LOOPBACK_HOSTS = ["127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost", "[::1]"]
LOOPBACK_ORIGINS = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*",
                    "http://127.0.0.1", "http://localhost", "http://[::1]"]
MAX_HISTORY = openai.MAX_MESSAGES
READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)

# ------------------------------------------------------------------ what the tools return


class Source(BaseModel):
    """A span of one document: the document's text ``[start:end]`` is ``quote``."""

    number: int = Field(description="the [n] marker in the answer (ask), or the rank (search)")
    document: str = Field(description="the document's id (its file name in the collection)")
    title: str
    location: dict[str, Any] = Field(default_factory=dict, description="page, slide or sheet, when known")
    start: int = Field(description="character offset where the quote starts in the document's text")
    end: int = Field(description="character offset where the quote ends")
    quote: str
    score: float | None = None
    span: dict[str, Any] | None = Field(default=None, description="the short answer inside the quote: text, start "
                                        "and end (document offsets), when the reader is sure of one")


class SearchResult(BaseModel):
    collection: str
    passages: list[Source] = Field(description="best first")


class AskResult(BaseModel):
    collection: str
    answer: str = Field(description="the answer, with [n] markers that match citations")
    citations: list[Source]
    refused: bool = Field(description="true when the documents do not answer the question")
    kind: str = Field(description="what the question asked for: fact, list, overview, time, reason, yesno, ...")
    missing: str = Field(description="on a refusal, what the documents lack, when that is known")


class DocumentEntry(BaseModel):
    document: str = Field(description="the document's id, as in citations")
    title: str
    date: str
    passages: int


class DocumentList(BaseModel):
    collection: str
    documents: list[DocumentEntry]


# Argument types: their descriptions and bounds go into each tool's input schema.
CollectionArg = Annotated[str | None, Field(description="the collection to use; omit it for the default")]
QueryArg = Annotated[str, Field(description="what to look for, in words", max_length=MAX_QUESTION_CHARS)]
QuestionArg = Annotated[str, Field(description="the question, in words", max_length=MAX_QUESTION_CHARS)]
TopKArg = Annotated[int, Field(description="how many passages to return", ge=1, le=MAX_TOP_K)]
HistoryArg = Annotated[list[Annotated[str, Field(max_length=MAX_QUESTION_CHARS)]] | None,
                       Field(description="earlier user questions of this conversation, oldest first, so a "
                             "follow-up like 'and when?' is understood", max_length=MAX_HISTORY)]
ModeArg = Annotated[Literal[ANSWER_MODES] | None,  # type: ignore[valid-type]
                    Field(description="extractive: quote the documents; llm: a written answer from the model, "
                          "verified against the documents; omit it for the server's setting")]

SEARCH = "Find the passages of the documents that best match a query, best first, with where each one is."
ASK = ("Answer a question from the documents. The answer carries [n] markers (a document's own footnote "
       "marks read [note n]); each citation gives the document, the exact quote and where it is. 'refused' "
       "is true when the documents do not answer it.")
LIST_DOCUMENTS = "List the documents of a collection: id, title, date and number of passages."

# ------------------------------------------------------------------ the tools


def everyone(request: Any) -> Access:
    """Stdio: the local user may use every collection."""
    return Access(everything=True)


def checked_caller(request: Any) -> Access:
    """HTTP: the access the key check (``KeyCheck``) found for this request; none if it did not run."""
    access = request.scope.get(ACCESS) if request is not None else None
    return access if isinstance(access, Access) else Access()


class Tools:
    """The three tools over ``library``; ``access(request)`` says what the caller of a request may use."""

    def __init__(self, library: Library, access: Callable[[Any], Access] = everyone, wait: bool = True):
        self.library = library
        self.access = access
        self.wait = wait  # False: a collection another request is still indexing is an error, not a wait

    def search(self, ctx: Context, query: QueryArg, collection: CollectionArg = None, top_k: TopKArg = 5) \
            -> SearchResult:
        name, bot = self.open_collection(ctx, collection)
        try:
            passages = bot.search(query, top_k=top_k)
        except AssistantError as exc:
            raise ToolError(str(exc)) from None
        return SearchResult(collection=name, passages=[
            Source(number=rank, document=p.doc_id, title=bot.snapshot.title(p.doc_id),
                   location=dict(getattr(p, "location", None) or {}), start=p.start, end=p.end, quote=p.text,
                   score=p.score)
            for rank, p in enumerate(passages, 1)])

    def ask(self, ctx: Context, question: QuestionArg, collection: CollectionArg = None, history: HistoryArg = None,
            mode: ModeArg = None) -> Annotated[CallToolResult, AskResult]:
        name, bot = self.open_collection(ctx, collection)
        try:
            answer = bot.ask(question, history=list(history or []), mode=mode)
        except AssistantError as exc:
            raise ToolError(str(exc)) from None
        result = AskResult(collection=name, answer=answer.text,
                           citations=[Source(**c) for c in openai.citations_json(answer)],
                           refused=answer.refused, kind=answer.kind, missing=answer.missing)
        return CallToolResult(content=[TextContent(type="text", text=answer.text),
                                       TextContent(type="text", text=result.model_dump_json())],
                              structured_content=result.model_dump(mode="json"))

    def list_documents(self, ctx: Context, collection: CollectionArg = None) -> DocumentList:
        name, bot = self.open_collection(ctx, collection)
        return DocumentList(collection=name, documents=[
            DocumentEntry(document=d.doc_id, title=d.title, date=d.date, passages=d.passages) for d in bot.documents])

    def open_collection(self, ctx: Context, collection: str | None) -> tuple[str, Assistant]:
        """(name, assistant) of the collection the caller asks for, or a ``ToolError`` that names nothing
        the caller may not use."""
        usable = self.access(ctx.request_context.request).visible(self.library.names)
        if not usable:
            raise ToolError("your API key may not use any collection")
        name = collection or self.default(usable)
        if name not in usable:
            raise ToolError(f"no collection named {name!r} you may use; you may use: {', '.join(usable)}")
        try:
            return name, self.library.get(name, wait=self.wait)
        except AssistantError as exc:
            raise ToolError(str(exc)) from None

    def default(self, usable: list[str]) -> str:
        """The library's default collection, or the first one the caller may use when it may not use that."""
        return self.library.default if self.library.default in usable else usable[0]

    def collections_note(self, request: Any) -> str:
        usable = self.access(request).visible(self.library.names)
        if not usable:
            return "\n\nYour API key may not use any collection."
        return f"\n\nCollections you may use: {', '.join(usable)} (default: {self.default(usable)})."

    async def describe(self, ctx: Any, call_next: Callable) -> Any:
        """Server middleware: each caller's ``tools/list`` names the collections that caller may use."""
        result = await call_next(ctx)
        if ctx.method == "tools/list" and isinstance(result, dict) and isinstance(result.get("tools"), list):
            note = self.collections_note(ctx.request)
            result = {**result, "tools": [{**tool, "description": (tool.get("description") or "") + note}
                                          for tool in result["tools"]]}
        return result


def mcp_server(library: Library, access: Callable[[Any], Access] = everyone, *, wait: bool = True,
               preload: bool = False) -> MCPServer:
    """An ``MCPServer`` with the three tools; ``preload`` starts loading every collection when it starts."""
    tools = Tools(library, access, wait)

    @contextlib.asynccontextmanager
    async def lifespan(server: MCPServer) -> AsyncIterator[dict[str, Any]]:
        if preload:
            library.load_all(background=True)
        yield {}

    server = MCPServer("doc-assistant", instructions="Search and ask questions about a collection of documents; "
                       "every answer cites the exact passages it comes from.",
                       log_level="WARNING", lifespan=lifespan)
    server.add_tool(tools.search, name="search", description=SEARCH, annotations=READ_ONLY)
    server.add_tool(tools.ask, name="ask", description=ASK, annotations=READ_ONLY)
    server.add_tool(tools.list_documents, name="list_documents", description=LIST_DOCUMENTS, annotations=READ_ONLY)
    server.middleware.append(tools.describe)
    return server


# ------------------------------------------------------------------ transports


class KeyCheck:
    """ASGI app: the API key check in front of the MCP endpoint (any path below where it is mounted)."""

    def __init__(self, app: Callable, keys: ApiKeys):
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # no websockets; the lifespan is the parent app's (see mcp_http_app)
        client = scope.get("client")
        try:
            access = self.keys.check(Headers(scope=scope).get("authorization"), client[0] if client else None)
        except Denied as exc:
            response = openai.error_from(exc).response()
            if exc.status == 401:
                response.headers["WWW-Authenticate"] = "Bearer"
            await response(scope, receive, send)
            return
        await self.app({**scope, ACCESS: access}, receive, send)


def transport_security(keys: ApiKeys) -> TransportSecuritySettings:
    """Host/Origin checks against DNS rebinding while loopback clients need no key; off once keys are set."""
    if keys.configured:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=LOOPBACK_HOSTS,
                                     allowed_origins=LOOPBACK_ORIGINS)


def mcp_http_app(library: Library, keys: ApiKeys) -> tuple[KeyCheck, Callable[[Any], Any]]:
    """(ASGI app, lifespan) for streamable HTTP: mount the app (at ``/mcp``) and run the lifespan in the
    parent app (``FastAPI(lifespan=lifespan)``). The MCP session manager serves nothing until the lifespan
    runs, and it can run only once: build a new pair for each server start."""
    server = mcp_server(library, checked_caller, wait=False)
    server.streamable_http_app(stateless_http=True, transport_security=transport_security(keys),
                               max_request_body_size=openai.MAX_BODY_BYTES)
    manager = server.session_manager

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with manager.run():
            yield

    return KeyCheck(manager.handle_request, keys), lifespan


def run_stdio(library: Library) -> None:
    """Serve the tools over stdin/stdout until the client closes them (``assistant mcp``)."""
    server = mcp_server(library, everyone, wait=True, preload=True)
    try:
        server.run("stdio")
    except KeyboardInterrupt:
        pass
