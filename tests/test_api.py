"""The OpenAI-compatible API, end to end: ``assistant serve`` in its own process (real model, two
collections, API keys, the network guard of test_app_e2e), driven by the official ``openai`` package and
by raw HTTP for the SSE framing and the bad requests a hostile client sends. The in-process tests at the
end cover what a live server cannot show on demand (a collection still loading, loopback-only without keys).
"""

from __future__ import annotations

import json
import shutil
import threading

import httpx
import openai
import pytest
from gradio_client import Client
from test_app_e2e import GUARD, ROOT, SEED, SEED_TEXT, AppProcess

pytestmark = pytest.mark.integration

HARBOUR = ROOT / "tests" / "gold" / "multidoc"
KEY_ALL, KEY_SEEDS = "sk-test-all-3f9a", "sk-test-seeds-71c2"
SEEDS = "docs"  # the default collection is named after its folder: AppProcess copies seeds/ to docs/


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    work = tmp_path_factory.mktemp("api")
    shutil.copytree(HARBOUR, work / "harbour")
    config = work / "assistant.toml"
    config.write_text(f'[collections.harbour]\ndocs_dir = "{work / "harbour"}"\nindex_dir = "{work / "harbour-index"}"\n',
                      encoding="utf-8")
    proc = AppProcess(work, ["-m", "assistant.cli", "serve"], {
        "ASSISTANT_CONFIG": str(config), "ASSISTANT_API_KEYS": f"{KEY_ALL}=*;{KEY_SEEDS}={SEEDS}",
        "XDG_DATA_HOME": str(work / "data"), "ASSISTANT_SHOW_PROGRESS": "false",
    })
    try:
        assert GUARD  # the server runs under the network guard (AppProcess starts it through GUARD)
        # the second collection loads in the background: wait until it answers
        with httpx.Client(base_url=proc.url, headers={"Authorization": f"Bearer {KEY_ALL}"}, timeout=120) as http:
            for _ in range(240):
                r = http.post("/v1/chat/completions", json={"model": "harbour", "messages": [
                    {"role": "user", "content": "Who was the Saturday headliner at the 2021 Harbourlight Music Festival?"}]})
                if r.status_code != 503:
                    break
                threading.Event().wait(0.5)
            assert r.status_code == 200, r.text
        yield proc
    finally:
        proc.stop()  # a server that failed its start is stopped too, not left holding its port


def client(server, key: str = KEY_ALL) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}v1", api_key=key, max_retries=0, timeout=120)


def raw(server, key: str | None = KEY_ALL) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=server.url, headers=headers, timeout=120)


def check_citations(text: str, citations: list[dict], texts: dict[str, str]) -> None:
    assert [c["number"] for c in citations] == list(range(1, len(citations) + 1))
    for c in citations:
        assert f"[{c['number']}]" in text
        assert texts[c["document"]][c["start"]:c["end"]] == c["quote"]
        assert set(c) == {"number", "document", "title", "location", "start", "end", "quote", "score", "span"}
        if c["span"] is not None:  # the short answer: inside the quote, in document offsets
            assert c["start"] <= c["span"]["start"] < c["span"]["end"] <= c["end"]
            assert texts[c["document"]][c["span"]["start"]:c["span"]["end"]] == c["span"]["text"]


SEED_TEXTS = {SEED: SEED_TEXT}


# ------------------------------------------------------------------ the openai package


def test_models_are_the_collections_each_key_may_use(server):
    assert [m.id for m in client(server).models.list()] == [SEEDS, "harbour"]
    assert [m.id for m in client(server, KEY_SEEDS).models.list()] == [SEEDS]


def test_an_answer_keeps_its_markers_and_carries_citations(server):
    reply = client(server).chat.completions.create(
        model=SEEDS, messages=[{"role": "user", "content": "How many AK-203 rifles will India buy?"}])
    text = reply.choices[0].message.content
    extra = reply.model_extra
    assert "6,01,427" in text and "[1]" in text and reply.choices[0].finish_reason == "stop"
    assert extra["refused"] is False and extra["kind"] == "fact"
    check_citations(text, extra["citations"], SEED_TEXTS)
    assert extra["citations"][0]["document"] == SEED


def test_a_refusal_is_marked_and_cites_nothing(server):
    reply = client(server).chat.completions.create(
        model=SEEDS, messages=[{"role": "user", "content": "What did India and China agree about their border?"}])
    assert reply.choices[0].message.content == "The documents don't mention China."
    assert reply.model_extra["refused"] is True and reply.model_extra["citations"] == []


def test_streaming_sends_the_same_answer_and_citations_last(server):
    question = [{"role": "user", "content": "Why was the annual summit not held in 2020?"}]
    whole = client(server).chat.completions.create(model=SEEDS, messages=question)
    chunks = list(client(server).chat.completions.create(model=SEEDS, messages=question, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == whole.choices[0].message.content and "Covid-19" in text
    assert len(chunks) > 3 and chunks[-1].choices[0].finish_reason == "stop"
    last = chunks[-1].model_extra
    assert last["citations"] == whole.model_extra["citations"] and last["refused"] is False
    check_citations(text, last["citations"], SEED_TEXTS)


def test_the_conversation_is_the_request_messages(server):
    first = "Who is India's defence minister?"
    reply = client(server).chat.completions.create(model=SEEDS, messages=[{"role": "user", "content": first}])
    assert "Rajnath Singh" in reply.choices[0].message.content
    follow = client(server).chat.completions.create(model=SEEDS, messages=[
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": first},
        {"role": "assistant", "content": reply.choices[0].message.content},
        {"role": "user", "content": [{"type": "text", "text": "Who was his Russian counterpart?"}]},
    ])
    assert "Shoigu" in follow.choices[0].message.content


def test_the_model_names_the_collection_and_the_answer_mode(server):
    reply = client(server).chat.completions.create(model="harbour:extractive", messages=[
        {"role": "user", "content": "Who was the Saturday headliner at the 2021 Harbourlight Music Festival?"}])
    assert "The Lantern Keepers" in reply.choices[0].message.content
    assert reply.model_extra["citations"][0]["document"] == "harbourlight-festival-2021.txt"


@pytest.mark.parametrize("make,status,code", [
    (lambda s: client(s, "sk-wrong").models.list(), 401, "invalid_api_key"),
    (lambda s: client(s, KEY_SEEDS).chat.completions.create(
        model="harbour", messages=[{"role": "user", "content": "Who headlined in 2021?"}]), 403, "forbidden"),
    (lambda s: client(s).chat.completions.create(
        model="papers", messages=[{"role": "user", "content": "What?"}]), 404, "model_not_found"),
    (lambda s: client(s).chat.completions.create(model=SEEDS, messages=[{"role": "user", "content": "  "}]),
     400, None),
])
def test_errors_reach_the_openai_client_with_their_status(server, make, status, code):
    with pytest.raises(openai.APIStatusError) as caught:
        make(server)
    assert caught.value.status_code == status
    error = caught.value.body
    assert error["code"] == code and "\n" not in error["message"]
    assert "harbourlight" not in json.dumps(caught.value.response.json())  # nothing of a forbidden collection


# ------------------------------------------------------------------ raw HTTP


def test_sse_framing(server):
    with raw(server) as http:
        with http.stream("POST", "/v1/chat/completions", json={
                "model": SEEDS, "stream": True,
                "messages": [{"role": "user", "content": "Who is Russia's foreign minister?"}]}) as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            body = r.read().decode()
    events = body.split("\n\n")
    assert events[-1] == "" and events[-2] == "data: [DONE]"
    data = [json.loads(e.removeprefix("data: ")) for e in events[:-2] if not e.startswith(":")]
    assert all(e.startswith(("data: ", ":")) for e in events[:-1])
    assert data[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert {d["object"] for d in data} == {"chat.completion.chunk"} and len({d["id"] for d in data}) == 1
    assert "Lavrov" in "".join(d["choices"][0]["delta"].get("content", "") for d in data)
    assert "citations" in data[-1] and "citations" not in data[-2]


BIG = "x" * 10_000_000


@pytest.mark.parametrize("body,status,words", [
    (b"{not json", 400, "not valid JSON"),
    (b"[1, 2]", 400, "JSON object"),
    (json.dumps({"model": SEEDS}).encode(), 400, "'messages' must be a non-empty list"),
    (json.dumps({"model": SEEDS, "messages": [{"role": "system", "content": "hi"}]}).encode(), 400,
     "no user message"),
    (json.dumps({"model": SEEDS, "messages": [{"role": "user", "content": 42}]}).encode(), 400,
     "must be a string or a list of text parts"),
    (json.dumps({"model": SEEDS, "messages": [{"role": "user", "content": "q"}] * 500}).encode(), 400,
     "at most 100 messages"),
    (json.dumps({"model": SEEDS, "messages": [{"role": "user", "content": "q"},
                                                {"role": "assistant", "content": "a"}]}).encode(), 400,
     "last message must be the user's question"),
    (json.dumps({"model": SEEDS, "messages": [{"role": "user", "content": BIG}]}).encode(), 413, "larger than"),
    (json.dumps({"model": SEEDS, "stream": "yes", "messages": [{"role": "user", "content": "q"}]}).encode(), 400,
     "'stream' must be true or false"),
    (json.dumps({"model": 7, "messages": [{"role": "user", "content": "q"}]}).encode(), 400, "must name a collection"),
])
def test_bad_requests_get_a_4xx_with_one_line_and_the_server_lives(server, body, status, words):
    with raw(server) as http:
        r = http.post("/v1/chat/completions", content=body, headers={"content-type": "application/json"})
        assert r.status_code == status, r.text
        error = r.json()["error"]
        assert words in error["message"] and "\n" not in error["message"]
        assert set(error) == {"message", "type", "param", "code"}
        assert http.get("/v1/models").status_code == 200


def test_no_key_is_401_and_the_key_is_never_logged(server):
    with raw(server, key=None) as http:
        r = http.get("/v1/models")
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    log = server.log()
    assert KEY_ALL not in log and KEY_SEEDS not in log


def test_streaming_clients_at_once_each_get_their_own_conversation(server):
    conversations = {
        SEEDS: [("Who is India's defence minister?", "Rajnath Singh"),
                  ("Who was his Russian counterpart?", "Shoigu")],
        "harbour": [("Who was the Saturday headliner at the 2021 Harbourlight Music Festival?", "Lantern Keepers")],
    }
    errors: list[BaseException] = []
    results: list[tuple[str, str, list]] = []

    def run(collection: str) -> None:
        try:
            messages: list[dict] = []
            for question, expected in conversations[collection]:
                messages.append({"role": "user", "content": question})
                chunks = list(client(server).chat.completions.create(model=collection, messages=messages, stream=True))
                text = "".join(c.choices[0].delta.content or "" for c in chunks)
                results.append((collection, expected in text and text, chunks[-1].model_extra["citations"]))
                messages.append({"role": "assistant", "content": text})
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(name,)) for name in [SEEDS, "harbour"] * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert errors == []
    assert len(results) == 4 * 3
    for collection, text, citations in results:
        assert text, collection  # each answer holds what its own conversation asked for
        wanted = (lambda d: d == SEED) if collection == SEEDS else (lambda d: d.startswith("harbourlight"))
        assert citations and all(wanted(c["document"]) for c in citations)


def test_the_browser_api_and_the_chat_share_the_port(server):
    answer = Client(server.url, verbose=False).predict("How many AK-203 rifles will India buy?", api_name="/ask")
    assert "6,01,427" in answer["text"]


def test_the_server_never_reached_the_network(server):
    assert server.alive()
    assert server.network_log.read_text(encoding="utf-8") == ""


# ------------------------------------------------------------------ in process


@pytest.fixture
def library(docs_dir, fake_settings):
    from assistant.config import Collection
    from assistant.library import Library

    return Library({"docs": Collection("docs", fake_settings.replace(docs_dir=docs_dir))})


def test_a_collection_still_indexing_answers_503(docs_dir, tmp_path):
    from fastapi.testclient import TestClient

    from assistant import Settings
    from assistant.api.keys import ApiKeys
    from assistant.api.server import build_server
    from assistant.config import Collection
    from assistant.library import Library
    from fakes import SlowHashEmbedding

    settings = Settings(docs_dir=docs_dir, index_dir=tmp_path / "index", show_progress=False)
    library = Library({"docs": Collection("docs", settings)}, embedder=SlowHashEmbedding(delay=3.0))
    loading = threading.Thread(target=library.get, args=("docs",))
    loading.start()
    try:
        while not library.loading("docs"):
            threading.Event().wait(0.01)
        with TestClient(build_server(library, ApiKeys(), mcp=False), base_url="http://127.0.0.1:7860",
                        client=("127.0.0.1", 5000)) as http:
            r = http.post("/v1/chat/completions", json={"model": "docs", "messages": [
                {"role": "user", "content": "Who opened the Crumb bakery?"}]})
            assert r.status_code == 503 and r.headers["retry-after"] == "5"
            assert "being indexed" in r.json()["error"]["message"]
            loading.join(60)
            r = http.post("/v1/chat/completions", json={"model": "docs", "messages": [
                {"role": "user", "content": "Who opened the Crumb bakery?"}]})
            assert r.status_code == 200 and "Marta Olsen" in r.json()["choices"][0]["message"]["content"]
    finally:
        loading.join(60)


def test_a_documents_footnote_marks_never_read_as_markers_in_the_api(wiki_dir, fake_settings):
    """Over text with footnote marks of its own: the answer's content, streamed or not, holds only the
    assistant's [1] (the essay's "[2]" is "[note 2]"); the citation quotes the span exactly."""
    from fastapi.testclient import TestClient

    from assistant.api.keys import ApiKeys
    from assistant.api.server import build_server
    from assistant.config import Collection
    from assistant.library import Library
    from fakes import WIKI, WIKI_QUESTION, WIKI_QUOTE, WIKI_READ_ANSWER

    library = Library({"wiki": Collection("wiki", fake_settings.replace(docs_dir=wiki_dir))})
    request = {"model": "wiki", "messages": [{"role": "user", "content": WIKI_QUESTION}]}
    with TestClient(build_server(library, ApiKeys(), mcp=False), base_url="http://127.0.0.1:7860",
                    client=("127.0.0.1", 5000)) as http:
        data = http.post("/v1/chat/completions", json=request).json()
        streamed = [json.loads(line[6:]) for line in
                    http.post("/v1/chat/completions", json={**request, "stream": True}).text.splitlines()
                    if line.startswith("data: {")]
    assert data["choices"][0]["message"]["content"] == WIKI_READ_ANSWER  # the server runs the real reader
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in streamed) == WIKI_READ_ANSWER
    for citations in (data["citations"], streamed[-1]["citations"]):
        assert [(c["number"], c["quote"]) for c in citations] == [(1, WIKI_QUOTE)]
        assert WIKI["yc.txt"][citations[0]["start"]:citations[0]["end"]] == WIKI_QUOTE


def test_without_keys_only_this_machine_may_call(library):
    from fastapi.testclient import TestClient

    from assistant.api.keys import ApiKeys
    from assistant.api.server import build_server

    app = build_server(library, ApiKeys(), mcp=False)
    with TestClient(app, base_url="http://127.0.0.1:7860", client=("127.0.0.1", 5000)) as local:
        assert [m["id"] for m in local.get("/v1/models").json()["data"]] == ["docs"]
    with TestClient(app, client=("192.168.1.20", 5000)) as remote:
        r = remote.get("/v1/models", headers={"Authorization": "Bearer anything"})
        assert r.status_code == 403 and "this machine only" in r.json()["error"]["message"]
    # a page that rebinds its own name to 127.0.0.1 (DNS rebinding) arrives from loopback with its name
    with TestClient(app, base_url="http://evil.example:7860", client=("127.0.0.1", 5000)) as rebound:
        assert rebound.get("/v1/models").status_code == 403
    with TestClient(app, base_url="http://localhost:7860", client=("127.0.0.1", 5000)) as named:
        assert named.get("/v1/models").status_code == 200


def test_the_chat_server_is_built_with_the_api_routes_before_it_serves(tmp_path):
    # added after launch() returned, the routes were missing for a client that came at once: 404 from /v1
    from assistant.api.keys import ApiKeys
    from assistant.api.server import launch_with_chat
    from assistant.library import Library

    class Demo:
        def launch(self, **options):
            self.options = options
            self.server_app = "app"

    demo = Demo()
    config = tmp_path / "assistant.toml"
    config.write_text(f'[collections.docs]\ndocs_dir = "{tmp_path / "docs"}"\nindex_dir = "{tmp_path / "index"}"\n',
                      encoding="utf-8")
    launch_with_chat(demo, Library.from_config(config), ApiKeys(), host="127.0.0.1", port=0, launch_options={})
    paths = {getattr(route, "path", None) for route in demo.options["app_kwargs"]["routes"]}
    assert {"/v1/models", "/v1/chat/completions", "/mcp"} <= paths
    assert demo.options["app_kwargs"]["exception_handlers"] and "lifespan" in demo.options["app_kwargs"]
