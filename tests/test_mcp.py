"""The MCP server (assistant/api/mcp.py), driven by the ``mcp`` SDK's own clients.

* streamable HTTP: the whole server app (``build_server``) under uvicorn in a thread on a free loopback
  port, with ``ClientSession`` over ``streamable_http_client`` (the initialize handshake) and ``Client``
  (the newer protocol's discovery);
* stdio: a child process that registers the fake embedding model and calls ``run_stdio``, with
  ``stdio_client``.

Every tool result is compared whole with what the in-process ``Assistant`` gives for the same call.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import textwrap
import threading
from pathlib import Path
from typing import AsyncIterator, Callable, Iterator

import anyio
import httpx
import httpx2
import pytest
import uvicorn
from fakes import WIKI_ANSWER, WIKI_QUESTION, WIKI_QUOTE, HashEmbedding
from mcp import Client, ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from assistant.api import openai
from assistant.api.keys import Access, ApiKeys, digest
from assistant.api.mcp import mcp_http_app
from assistant.api.server import build_server
from assistant.config import Collection, Settings
from assistant.embeddings import register_embedder, unregister_embedder
from assistant.library import Library

REPO = Path(__file__).resolve().parent.parent
ROCKET = "When was the Kestrel rocket launched?"
SECRET_DOCS = {"nightjar.txt": "Project Nightjar is a classified satellite. It carries a thermal camera."}
TOOLS = ["search", "ask", "list_documents"]


def settings_for(folder: Path, index: Path) -> Settings:
    return Settings(embed_model="fake-hash", docs_dir=folder, index_dir=index, show_progress=False)


@pytest.fixture
def library(docs_dir, tmp_path) -> Library:
    """``docs`` (the default), ``secret`` (one document no test key may see) and ``broken`` (no folder)."""
    secret = tmp_path / "secret"
    secret.mkdir()
    for name, text in SECRET_DOCS.items():
        (secret / name).write_text(text, encoding="utf-8")
    return Library({
        "docs": Collection("docs", settings_for(docs_dir, tmp_path / "index-docs")),
        "secret": Collection("secret", settings_for(secret, tmp_path / "index-secret")),
        "broken": Collection("broken", settings_for(tmp_path / "missing", tmp_path / "index-broken")),
    })


@pytest.fixture
def serve(library) -> Iterator[Callable[..., str]]:
    """``serve(keys, over=library)``: the server app on a free 127.0.0.1 port; returns the MCP endpoint URL."""
    running: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(keys: ApiKeys, over: Library | None = None) -> str:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        app = build_server(over or library, keys)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        running.append((server, thread))
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the test server did not start")
            threading.Event().wait(0.02)
        return f"http://127.0.0.1:{sock.getsockname()[1]}/mcp/"

    yield start
    for server, thread in running:
        server.should_exit = True
        thread.join()


@contextlib.asynccontextmanager
async def session(url: str, key: str | None = None) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with httpx2.AsyncClient(headers=headers) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as client:
                await client.initialize()
                yield client


def text_of(result) -> str:
    return "\n".join(block.text for block in result.content)


def expected_search(bot, query: str, top_k: int = 5, collection: str = "docs") -> dict:
    return {"collection": collection, "passages": [
        {"number": rank, "document": p.doc_id, "title": bot.snapshot.title(p.doc_id), "location": {},
         "start": p.start, "end": p.end, "quote": p.text, "score": p.score, "span": None}
        for rank, p in enumerate(bot.search(query, top_k=top_k), 1)]}


def expected_ask(bot, question: str, history: list[str] | None = None, collection: str = "docs") -> dict:
    answer = bot.ask(question, history=history)
    return {"collection": collection, "answer": answer.text, "citations": openai.citations_json(answer),
            "refused": answer.refused, "kind": answer.kind, "missing": answer.missing}


def expected_documents(bot, collection: str = "docs") -> dict:
    return {"collection": collection, "documents": [
        {"document": d.doc_id, "title": d.title, "date": d.date, "passages": d.passages} for d in bot.documents]}


def assert_exact_quotes(bot, sources: list[dict]) -> None:
    assert sources
    for source in sources:
        assert bot.document_text(source["document"])[source["start"]:source["end"]] == source["quote"]


# ------------------------------------------------------------------ streamable HTTP


def test_http_tools_answer_with_citations_that_quote_the_documents_exactly(library, serve):
    url = serve(ApiKeys())  # no keys: loopback clients may use every collection
    bot = library.get("docs")

    async def run() -> None:
        async with session(url) as client:
            listed = (await client.list_tools()).tools
            assert [t.name for t in listed] == TOOLS
            for tool in listed:
                assert tool.description.endswith("Collections you may use: docs, secret, broken (default: docs).")
                assert tool.output_schema is not None and tool.annotations.read_only_hint is True
            assert set(listed[1].input_schema["properties"]) == {"question", "collection", "history", "mode"}
            assert listed[1].input_schema["properties"]["mode"]["anyOf"][0]["enum"] == ["extractive", "llm"]

            found = await client.call_tool("search", {"query": ROCKET, "top_k": 2})
            assert not found.is_error
            assert found.structured_content == expected_search(bot, ROCKET, top_k=2)
            assert found.structured_content["passages"][0]["document"] == "rocket.txt"
            assert_exact_quotes(bot, found.structured_content["passages"])

            answered = await client.call_tool("ask", {"question": ROCKET})
            assert not answered.is_error
            assert answered.structured_content == expected_ask(bot, ROCKET)
            assert answered.content[0].text == answered.structured_content["answer"]
            assert "[1]" in answered.content[0].text and "4 March 2021" in answered.content[0].text
            assert json.loads(answered.content[1].text) == answered.structured_content
            assert_exact_quotes(bot, answered.structured_content["citations"])

            history = [ROCKET]
            follow_up = await client.call_tool("ask", {"question": "What failed?", "history": history})
            assert follow_up.structured_content == expected_ask(bot, "What failed?", history)

            listed_docs = await client.call_tool("list_documents", {})
            assert listed_docs.structured_content == expected_documents(bot)
            assert [d["document"] for d in listed_docs.structured_content["documents"]] == \
                ["bakery.txt", "rivers.txt", "rocket.txt"]

            other = await client.call_tool("list_documents", {"collection": "secret"})
            assert other.structured_content == expected_documents(library.get("secret"), "secret")

    anyio.run(run)


def test_http_ask_over_text_with_footnotes_carries_only_the_assistants_markers(wiki_dir, tmp_path, serve):
    """The essay's own "[2]" is "[note 2]" in the answer block; the citation quotes it exactly."""
    wiki = Library({"wiki": Collection("wiki", settings_for(wiki_dir, tmp_path / "index-wiki"))})
    url = serve(ApiKeys(), over=wiki)

    async def run() -> None:
        async with session(url) as client:
            answered = await client.call_tool("ask", {"question": WIKI_QUESTION})
            assert answered.content[0].text == answered.structured_content["answer"] == WIKI_ANSWER
            assert [c["quote"] for c in answered.structured_content["citations"]] == [WIKI_QUOTE]
            assert_exact_quotes(wiki.get("wiki"), answered.structured_content["citations"])

    anyio.run(run)


def test_http_endpoint_answers_with_and_without_the_trailing_slash(serve):
    url = serve(ApiKeys())

    async def run() -> None:
        for endpoint in (url, url.rstrip("/")):
            async with session(endpoint) as client:
                result = await client.call_tool("list_documents", {})
                assert not result.is_error and len(result.structured_content["documents"]) == 3

    anyio.run(run)


def test_http_api_keys_guard_the_endpoint_and_each_collection(library, serve):
    keys = ApiKeys({digest("sk-docs"): Access(names=frozenset({"docs"})),
                    digest("sk-secret"): Access(names=frozenset({"secret"})),
                    digest("sk-none"): Access(names=frozenset())})
    url = serve(keys)
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    accept = {"Accept": "application/json, text/event-stream"}

    missing = httpx.post(url, json=ping, headers=accept)
    assert missing.status_code == 401
    assert missing.json()["error"]["message"] == "missing API key: send the header 'Authorization: Bearer YOUR_KEY'"
    unknown = httpx.post(url, json=ping, headers={**accept, "Authorization": "Bearer sk-nope"})
    assert unknown.status_code == 401
    assert unknown.json()["error"]["message"] == "unknown API key: check the key you send"
    assert "sk-nope" not in unknown.text
    known = httpx.post(url, json=ping, headers={**accept, "Authorization": "Bearer sk-docs", "Host": "mcp.example"})
    assert known.status_code == 200  # with keys configured any host name may be used

    async def run() -> None:
        async with session(url, "sk-docs") as client:
            listed = (await client.list_tools()).tools
            for tool in listed:
                assert tool.description.endswith("Collections you may use: docs (default: docs).")
            said = []
            for name, arguments in [("search", {"query": "satellite"}), ("ask", {"question": "What is Nightjar?"}),
                                    ("list_documents", {})]:
                for collection in ("secret", "nope"):
                    result = await client.call_tool(name, {**arguments, "collection": collection})
                    assert result.is_error
                    assert text_of(result) == (f"Error executing tool {name}: no collection named {collection!r} "
                                               "you may use; you may use: docs")
                    said.append(text_of(result))
            assert not any(word in " ".join(said).lower() for word in ("nightjar.txt", "classified", "camera", "broken"))
            allowed = await client.call_tool("search", {"query": ROCKET})
            assert not allowed.is_error and allowed.structured_content["collection"] == "docs"

        # A key that may not use the default collection gets its first own one as the default.
        async with httpx2.AsyncClient(headers={"Authorization": "Bearer sk-secret"}) as http:
            async with Client(streamable_http_client(url, http_client=http)) as client:  # the newer protocol
                for tool in (await client.list_tools()).tools:
                    assert tool.description.endswith("Collections you may use: secret (default: secret).")
                result = await client.call_tool("list_documents", {})
                assert result.structured_content == expected_documents(library.get("secret"), "secret")
                denied = await client.call_tool("ask", {"question": ROCKET, "collection": "docs"})
                assert denied.is_error and "docs" in text_of(denied) and "secret" in text_of(denied)

        async with session(url, "sk-none") as client:  # a key that may use nothing learns no names
            for tool in (await client.list_tools()).tools:
                assert tool.description.endswith("Your API key may not use any collection.")
            for collection in (None, "docs"):
                result = await client.call_tool("search", {"query": ROCKET, "collection": collection})
                assert text_of(result) == "Error executing tool search: your API key may not use any collection"

    anyio.run(run)


def test_http_assistant_errors_are_one_line_tool_errors_and_the_server_keeps_serving(library, serve):
    url = serve(ApiKeys())

    async def run() -> None:
        async with session(url) as client:
            for name, arguments in [("ask", {"question": "   "}), ("search", {"query": ""}),
                                    ("ask", {"question": ROCKET, "collection": "broken"}),
                                    ("list_documents", {"collection": "broken"})]:
                result = await client.call_tool(name, arguments)
                assert result.is_error
                message = text_of(result)
                assert message.startswith(f"Error executing tool {name}: ") and "\n" not in message
                assert "Traceback" not in message
            answered = await client.call_tool("ask", {"question": ROCKET})
            assert not answered.is_error and answered.structured_content["citations"]

    anyio.run(run)


class GatedEmbedding(HashEmbedding):
    """The fake model, holding each indexing batch until ``OPEN`` is set (a collection kept indexing)."""

    model_name: str = "fake-gated"

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        INDEXING.set()
        OPEN.wait(60)
        return super()._get_text_embeddings(texts)


INDEXING = threading.Event()
OPEN = threading.Event()


@pytest.fixture
def gated_model() -> Iterator[str]:
    INDEXING.clear()
    OPEN.clear()
    register_embedder("fake-gated", GatedEmbedding)
    yield "fake-gated"
    OPEN.set()
    unregister_embedder("fake-gated")


def test_http_a_collection_still_indexing_is_a_tool_error_until_it_is_ready(docs_dir, tmp_path, serve, gated_model):
    library = Library({"docs": Collection("docs", settings_for(docs_dir, tmp_path / "index-docs")),
                       "slow": Collection("slow", settings_for(docs_dir, tmp_path / "index-slow").replace(
                           embed_model=gated_model))})
    url = serve(ApiKeys(), library)
    loader = threading.Thread(target=library.get, args=("slow",), daemon=True)
    loader.start()
    assert INDEXING.wait(60)

    async def ask() -> object:
        async with session(url) as client:
            return await client.call_tool("ask", {"question": ROCKET, "collection": "slow"})

    busy = anyio.run(ask)
    assert busy.is_error
    assert text_of(busy) == "Error executing tool ask: collection slow is being indexed; ask again in a moment"
    OPEN.set()
    loader.join()
    ready = anyio.run(ask)
    assert not ready.is_error and ready.structured_content["collection"] == "slow"


def test_http_without_keys_takes_loopback_clients_and_host_names_only(library, serve):
    url = serve(ApiKeys())
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    accept = {"Accept": "application/json, text/event-stream"}
    port = url.split(":")[2].split("/")[0]
    assert httpx.post(url, json=ping, headers={**accept, "Host": f"localhost:{port}"}).status_code == 200
    # A web page whose host name resolves to 127.0.0.1 (DNS rebinding) is turned away.
    assert httpx.post(url, json=ping, headers={**accept, "Host": f"attacker.example:{port}"}).status_code == 421
    assert httpx.post(url, json=ping, headers={**accept, "Origin": "http://attacker.example"}).status_code == 403

    # A client on another machine: 403 before the MCP layer (the session manager is not even running).
    app, _ = mcp_http_app(library, ApiKeys())

    async def from_elsewhere() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=("192.0.2.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:7860") as http:
            return await http.post("/", json=ping, headers=accept)

    response = anyio.run(from_elsewhere)
    assert response.status_code == 403
    assert response.json()["error"]["type"] == "permission_error"


# ------------------------------------------------------------------ stdio

LAUNCHER = """
    import sys
    sys.path[:0] = [{repo!r}, {tests!r}]

    from fakes import WIKI_ANSWER, WIKI_QUESTION, WIKI_QUOTE, HashEmbedding

    from assistant.api.mcp import run_stdio
    from assistant.config import Collection, Settings
    from assistant.embeddings import register_embedder
    from assistant.library import Library


    class ChattyEmbedding(HashEmbedding):
        \"\"\"The fake model, printing to stdout as some libraries do: it must not reach the protocol.\"\"\"

        def _get_text_embeddings(self, texts):
            print("chatty: embedding", len(texts), "texts")
            return super()._get_text_embeddings(texts)

        def _get_query_embedding(self, query):
            print("chatty: embedding a query")
            return super()._get_query_embedding(query)


    register_embedder("fake-hash", ChattyEmbedding)
    settings = Settings(embed_model="fake-hash", docs_dir={docs!r}, index_dir={index!r}, show_progress=True,
                        reader="off")  # the rules alone, as the unit tests run them
    run_stdio(Library({{"docs": Collection("docs", settings)}}))
"""


def test_stdio_serves_every_tool_to_the_sdk_client(docs_dir, fake_settings, tmp_path):
    launcher = tmp_path / "serve_mcp.py"
    launcher.write_text(textwrap.dedent(LAUNCHER).format(repo=str(REPO), tests=str(REPO / "tests"),
                                                         docs=str(docs_dir), index=str(tmp_path / "child-index")),
                        encoding="utf-8")
    env = {"PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "PYTHONUNBUFFERED": "1", "HOME": os.environ.get("HOME", str(tmp_path))}
    params = StdioServerParameters(command=sys.executable, args=[str(launcher)], env=env, cwd=str(tmp_path))
    bot = Library({"docs": Collection("docs", fake_settings.replace(docs_dir=docs_dir))}).get("docs")
    errors = tmp_path / "stderr.txt"

    async def run() -> None:
        with errors.open("w", encoding="utf-8") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write):
                async with ClientSession(read, write) as client:
                    await client.initialize()
                    listed = (await client.list_tools()).tools
                    assert [t.name for t in listed] == TOOLS
                    assert listed[0].description.endswith("Collections you may use: docs (default: docs).")

                    found = await client.call_tool("search", {"query": ROCKET, "top_k": 3})
                    assert found.structured_content == expected_search(bot, ROCKET, top_k=3)
                    answered = await client.call_tool("ask", {"question": ROCKET})
                    assert answered.structured_content == expected_ask(bot, ROCKET)
                    assert answered.content[0].text == answered.structured_content["answer"]
                    assert_exact_quotes(bot, answered.structured_content["citations"])

                    empty = await client.call_tool("ask", {"question": ""})
                    assert empty.is_error and "\n" not in text_of(empty) and "Traceback" not in text_of(empty)
                    unknown = await client.call_tool("search", {"query": ROCKET, "collection": "nope"})
                    assert text_of(unknown) == "Error executing tool search: no collection named 'nope' you may use; " \
                                               "you may use: docs"
                    documents = await client.call_tool("list_documents", {})
                    assert documents.structured_content == expected_documents(bot)

    anyio.run(run)
    assert "chatty: embedding" in errors.read_text(encoding="utf-8")  # stray prints went to stderr
