"""End to end: ``python app.py`` in its own process, with the real model over a copy of ``seeds/``,
driven over HTTP with ``gradio_client`` (and raw HTTP where a hostile client would not use it).

The server runs under a network guard like the suite's own (tests/conftest.py): every outbound
connection or DNS lookup it tries is refused and written to a log, which must stay empty.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
SEED = "india-russia-2plus2-ak203-summit.txt"
SEED_TEXT = (ROOT / "seeds" / SEED).read_text(encoding="utf-8")
SEED_TITLE = "India and Russia sign AK-203 rifle contract at the 2+2 dialogue before the 21st annual summit"
START_TIMEOUT = 240  # seconds: first start builds the index with the real model

NEW_DOC = """---
title: Selene research station opens on the Moon
date: 2031-05-03
---
The Selene research station on the Moon opened on 3 May 2031 with a crew of twelve astronauts.

It was built by a consortium of five space agencies over six years.
"""
BINARY = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10"

# Runs app.py with outbound network refused: connect()/connect_ex()/create_connection() to anything but
# loopback, and DNS lookups of other names, raise OSError and are logged to ASSISTANT_TEST_NETWORK_LOG.
GUARD = r"""
import ipaddress, os, runpy, socket, sys

LOG = os.environ["ASSISTANT_TEST_NETWORK_LOG"]
LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}

def is_local_host(host):
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).split("%", 1)[0]
    if host.lower() in LOCAL_NAMES or host == "":
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_unspecified or bool(getattr(ip, "ipv4_mapped", None) and ip.ipv4_mapped.is_loopback)

def is_local(family, address):
    if family == getattr(socket, "AF_UNIX", None) or not isinstance(address, tuple):
        return family == getattr(socket, "AF_UNIX", None) or isinstance(address, (str, bytes))
    return is_local_host(address[0])

def refuse(what):
    with open(LOG, "a", encoding="utf-8") as fh:
        fh.write(repr(what) + "\n")
    raise OSError(f"network disabled in tests: refused {what!r}")

connect, connect_ex, create_connection, getaddrinfo = (
    socket.socket.connect, socket.socket.connect_ex, socket.create_connection, socket.getaddrinfo)

def guarded_connect(self, address, *a, **k):
    if not is_local(self.family, address):
        refuse(address)
    return connect(self, address, *a, **k)

def guarded_connect_ex(self, address, *a, **k):
    if not is_local(self.family, address):
        refuse(address)
    return connect_ex(self, address, *a, **k)

def guarded_create_connection(address, *a, **k):
    if not is_local_host(address[0]):
        refuse(address)
    return create_connection(address, *a, **k)

def guarded_getaddrinfo(host, *a, **k):
    if not is_local_host(host):
        refuse(("dns", host))
    return getaddrinfo(host, *a, **k)

socket.socket.connect = guarded_connect
socket.socket.connect_ex = guarded_connect_ex
socket.create_connection = guarded_create_connection
socket.getaddrinfo = guarded_getaddrinfo
sys.argv = sys.argv[1:]
if sys.argv[0] == "-m":  # python -m MODULE ...
    sys.argv = sys.argv[1:]
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
else:
    runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_the_guard_refuses_and_logs_outbound_connections(tmp_path):
    """The guard the app runs under really stops a connection to the outside and writes it down."""
    script = tmp_path / "reach_out.py"
    script.write_text(
        "import socket\n"
        "for target in [('10.255.255.1', 80), ('example.com', 443)]:\n"
        "    try:\n"
        "        socket.create_connection(target, timeout=1)\n"
        "    except OSError as exc:\n"
        "        print('refused' if 'network disabled' in str(exc) else f'other: {exc}')\n"
        "with socket.create_server(('127.0.0.1', 0)) as server:\n"
        "    socket.create_connection(server.getsockname(), timeout=1).close()\n"
        "    print('loopback ok')\n",
        encoding="utf-8",
    )
    log = tmp_path / "network.log"
    out = subprocess.run([sys.executable, "-c", GUARD, str(script)], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "ASSISTANT_TEST_NETWORK_LOG": str(log)})
    assert (out.returncode, out.stdout, out.stderr) == (0, "refused\nrefused\nloopback ok\n", "")
    assert log.read_text(encoding="utf-8") == "('10.255.255.1', 80)\n('example.com', 443)\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppProcess:
    """One app server in a subprocess, on a free loopback port, over its own documents and index."""

    def __init__(self, work: Path, argv: list[str], env: dict[str, str]):
        self.work = work
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.docs = work / "docs"
        self.index = work / "index"
        self.output = work / "server.log"
        self.network_log = work / "network.log"
        self.network_log.write_text("", encoding="utf-8")
        shutil.copytree(ROOT / "seeds", self.docs)
        base = {k: v for k, v in os.environ.items() if not k.startswith(("ASSISTANT_", "GRADIO_"))}
        base.update({
            "ASSISTANT_DOCS_DIR": str(self.docs), "ASSISTANT_INDEX_DIR": str(self.index),
            "ASSISTANT_TEST_NETWORK_LOG": str(self.network_log), "GRADIO_TEMP_DIR": str(work / "gradio"),
            "PYTHONUNBUFFERED": "1", "XDG_DATA_HOME": str(work / "data"), **env,
        })
        cwd = work / "cwd"  # no assistant.toml of the developer's is picked up
        cwd.mkdir()
        with open(self.output, "wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-c", GUARD, *argv, "--port", str(self.port)],
                                         cwd=cwd, env=base, stdout=out, stderr=subprocess.STDOUT)
        self._wait_until_serving()

    def _wait_until_serving(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the app exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "config", timeout=2).status_code in (200, 401):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        raise AssertionError(f"the app did not start within {START_TIMEOUT} s:\n{self.log()}")

    def log(self) -> str:
        return self.output.read_text(encoding="utf-8", errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    server = AppProcess(tmp_path_factory.mktemp("app"), [str(ROOT / "app.py")], {"ASSISTANT_MAX_FILE_MB": "1"})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(app) -> Client:
    return Client(app.url, verbose=False)


def new_client(app) -> Client:
    return Client(app.url, verbose=False)


def check_citations(answer: dict) -> None:
    """Every [n] has its citation and every citation quotes its document exactly."""
    numbers = [c["number"] for c in answer["citations"]]
    assert numbers == list(range(1, len(numbers) + 1))
    for c in answer["citations"]:
        assert f"[{c['number']}]" in answer["text"]
        if c["doc_id"] == SEED:
            assert SEED_TEXT[c["start"]:c["end"]] == c["quote"]
            assert (c["title"], c["date"]) == (SEED_TITLE, "2021-12-06")


def sse_call(http: httpx.Client, api_name: str, data: list) -> tuple[str, object]:
    """Call an endpoint over Gradio's plain HTTP API (what any program can send): (last event, its data)."""
    event_id = http.post(f"/gradio_api/call/{api_name}", json={"data": data}).json()["event_id"]
    body = http.get(f"/gradio_api/call/{api_name}/{event_id}", timeout=60).text
    event, data_line = body.strip().split("\n\n")[-1].splitlines()[:2]
    return event.removeprefix("event: "), json.loads(data_line.removeprefix("data: "))


def sse_result(http: httpx.Client, api_name: str, data: list) -> list:
    event, result = sse_call(http, api_name, data)
    assert event == "complete", (event, result)
    return result


# ------------------------------------------------------------------ answers


def test_serves_on_loopback_only(app):
    deadline = time.monotonic() + 30  # the line follows the server's start (the API is attached in between)
    while f"serving on http://127.0.0.1:{app.port}" not in app.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    log = app.log()
    assert f"serving on http://127.0.0.1:{app.port}" in log
    assert "Running on" not in log and "share=True" not in log  # Gradio's lines, one suggesting a public link
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == app.port:
                listening.append(local.rsplit(":", 1)[0])
    assert listening == ["0100007F"]  # 127.0.0.1, nothing on other interfaces


def test_ask_returns_the_answer_and_its_citations(client):
    answer = client.predict("How many AK-203 rifles will India buy?", api_name="/ask")
    assert not answer["refused"]
    assert "6,01,427" in answer["text"]
    assert answer["citations"][0]["doc_id"] == SEED
    assert "6,01,427" in answer["citations"][0]["quote"]
    check_citations(answer)


def test_follow_up_uses_the_sessions_conversation(client, app):
    client.predict(api_name="/clear")
    first = client.predict("Who is India's defence minister?", api_name="/ask")
    assert "Rajnath Singh" in first["text"]
    follow = client.predict("Who was his Russian counterpart?", api_name="/ask")
    assert "Shoigu" in follow["text"]
    assert follow["query"] == "Who is India's defence minister? Who was his Russian counterpart?"
    check_citations(follow)
    # another client is another session: it has no conversation to lean on
    alone = new_client(app).predict("Who was his Russian counterpart?", api_name="/ask")
    assert alone["query"] == "Who was his Russian counterpart?"
    assert client.predict(api_name="/clear") == "the conversation is cleared"
    again = client.predict("Who was his Russian counterpart?", api_name="/ask")
    assert again["query"] == "Who was his Russian counterpart?"


def test_refusal_is_structured(client):
    answer = client.predict("What did India and China agree about their border?", api_name="/ask")
    assert answer["refused"] and answer["citations"] == []
    assert (answer["text"], answer["missing"], answer["kind"]) == ("The documents don't mention China.", "China", "fact")


def test_the_chat_streams_its_answer_with_markers_and_sources(app):
    job = new_client(app).submit("Why was the annual summit not held in 2020?", 5, "extractive", True,
                                 api_name="/chat")
    job.result(timeout=60)
    updates = job.outputs()
    assert len(updates) > 3  # streamed in pieces
    messages, sources, status, box = updates[-1]
    assert status == "" and box == ""
    assert [m["role"] for m in messages] == ["user", "assistant"]
    reply = messages[1]["content"][0]["text"] if isinstance(messages[1]["content"], list) else messages[1]["content"]
    assert "Covid-19" in reply and '<span class="cite cite-0-1"' in reply
    assert '<article class="source" id="source-0-1"' in sources and "2021-12-06" in sources
    assert '<mark class="cited">' in sources and "Covid-19" in sources.split('<mark class="cited">')[1].split("</mark>")[0]
    assert "Retrieved passages (" in sources  # show_scores was on


def test_several_users_at_once(app):
    questions = {
        "How many AK-203 rifles will India buy?": "6,01,427",
        "Who is Russia's foreign minister?": "Lavrov",
        "Where was the previous annual summit held?": "Vladivostok",
        "Why was the annual summit not held in 2020?": "Covid-19",
        "Who is the Prime Minister of India?": "Narendra Modi",
        "Which assault rifles did India sign a contract to procure from Russia?": "AK-203",
    }
    answers: dict[str, dict] = {}
    errors: list[BaseException] = []

    def ask(question: str) -> None:
        try:
            answers[question] = new_client(app).predict(question, api_name="/ask")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(q,)) for q in questions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    for question, expected in questions.items():
        assert expected in answers[question]["text"], (question, answers[question]["text"])
        assert answers[question]["query"] == question  # nobody saw anyone else's conversation


# ------------------------------------------------------------------ documents


def test_upload_a_document_then_ask_about_it(client, app, tmp_path):
    path = tmp_path / "Selene Station (notes).md"
    path.write_text(NEW_DOC, encoding="utf-8")
    result = client.predict([handle_file(str(path))], api_name="/upload")
    assert result["added"] == [{"doc_id": "uploads/Selene-Station-notes.md",
                                "title": "Selene research station opens on the Moon",
                                "date": "2031-05-03", "passages": 1, "given_name": "Selene Station (notes).md"}]
    assert result["refused"] == [] and result["unchanged"] == []
    stored = list((app.work / "data" / "doc-assistant" / "uploads").glob("docs-*/Selene-Station-notes.md"))
    assert [p.read_text(encoding="utf-8") for p in stored] == [NEW_DOC]
    assert not (app.docs / "Selene-Station-notes.md").exists()  # never into the documents folder
    docs = client.predict(api_name="/documents")
    assert [d["doc_id"] for d in docs] == [SEED, "uploads/Selene-Station-notes.md"]
    assert docs == result["documents"]

    answer = new_client(app).predict("When did the Selene research station open?", api_name="/ask")
    assert not answer["refused"], answer["text"]
    assert "3 May 2031" in answer["text"]
    assert [(c["doc_id"], c["date"]) for c in answer["citations"]] == [("uploads/Selene-Station-notes.md",
                                                                       "2031-05-03")]
    # the seed article still answers as before
    assert "6,01,427" in new_client(app).predict("How many AK-203 rifles will India buy?", api_name="/ask")["text"]


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("question,message", [
    ("", "the question is empty; type a question about the documents"),
    ("x" * 100_000, "the question is 100,000 characters long; keep it under 2,000"),
])
def test_bad_questions_through_the_api_and_the_chat(app, question, message):
    api = new_client(app)
    with pytest.raises(Exception) as caught:
        api.predict(question, api_name="/ask")
    assert str(caught.value) == message
    messages, sources, status, box = api.predict(question, 5, "extractive", False, api_name="/chat")
    assert status == "⚠ " + message
    assert messages == [] and box == question
    assert "6,01,427" in api.predict("How many AK-203 rifles will India buy?", api_name="/ask")["text"]


def documents(client: Client) -> list[tuple[str, int, str]]:
    return [(d["doc_id"], d["passages"], d["indexed_at"]) for d in client.predict(api_name="/documents")]


def test_binary_file_renamed_txt_is_refused_through_the_upload_control(client, app, tmp_path):
    before = documents(client)
    files_before = sorted(p.name for p in app.docs.iterdir())
    path = tmp_path / "photo.txt"
    path.write_bytes(BINARY)
    status, view, cleared = client.predict([handle_file(str(path))], api_name="/upload_documents")
    assert status == ("✗ Refused **photo.txt**: binary file, not text; convert it to .txt, .md, .html, .pdf, "
                      ".docx, .pptx, .xlsx, .csv, .epub, .eml, .odt, .rtf, .png, .jpg or .tif. "
                      "Nothing already indexed was changed.")
    assert cleared is None and f"<code>{SEED}</code>" in view
    assert documents(client) == before
    assert sorted(p.name for p in app.docs.iterdir()) == files_before


def test_path_traversal_names_are_refused(client, app, tmp_path):
    before = documents(client)
    # A crafted request: the file name is the client's to choose, so send the worst one by hand.
    with httpx.Client(base_url=app.url.rstrip("/"), timeout=30) as http:
        uploaded = http.post("/gradio_api/upload", files={"files": ("../../evil.txt", b"Evil text.", "text/plain")})
        assert uploaded.status_code == 200
        payload = [{"path": uploaded.json()[0], "orig_name": "../../evil.txt", "meta": {"_type": "gradio.FileData"}}]
        (result,) = sse_result(http, "upload", [payload])
        status = sse_result(http, "upload_documents", [payload])[0]
    assert result["refused"] == [{"file": "../../evil.txt", "reason": "unsafe file name “../../evil.txt”: it points "
                                  "outside the documents folder; upload it under a plain name like report.txt"}]
    assert result["added"] == []
    assert status.startswith("✗ Refused **../../evil.txt**: unsafe file name")
    # A Windows-style name (backslashes are legal in Linux names): gradio_client drops the backslashes and
    # what is left is a hidden name, refused too.
    odd = tmp_path / "..\\..\\evil.txt"
    odd.write_text("Evil text.", encoding="utf-8")
    result = client.predict([handle_file(str(odd))], api_name="/upload")
    assert result["refused"] == [{"file": "....evil.txt", "reason": "unsafe file name “....evil.txt”: hidden files "
                                  "are not indexed; rename it without the leading dot"}]
    assert not [p for p in app.work.rglob("evil.txt") if "gradio" not in p.parts]
    # a path the client made up (not one of Gradio's uploads) never reaches the handler
    with httpx.Client(base_url=app.url.rstrip("/"), timeout=30) as http:
        outside = [{"path": str(ROOT / "README.md"), "orig_name": "readme.md", "meta": {"_type": "gradio.FileData"}}]
        assert sse_call(http, "upload", [outside])[0] == "error"
    assert not (app.docs / "readme.md").exists() and not list(app.work.rglob("readme.md"))
    assert documents(client) == before


def test_other_types_and_oversized_files_are_refused(client, app, tmp_path):
    before = documents(client)
    doc = tmp_path / "minutes.doc"
    doc.write_bytes(b"\xd0\xcf\x11\xe0 an old binary Word file")
    result = client.predict([handle_file(str(doc))], api_name="/upload")
    assert result["refused"] == [{"file": "minutes.doc", "reason": "unsupported file type .doc; upload .txt, .md, "
                                  ".html, .pdf, .docx, .pptx, .xlsx, .csv, .epub, .eml, .odt, .rtf, .png, .jpg or .tif"}]
    big = tmp_path / "big.txt"
    big.write_text("A long line of words. " * 80_000, encoding="utf-8")  # 1.7 MB, over ASSISTANT_MAX_FILE_MB=1
    with pytest.raises(Exception, match="exceeds the maximum file size of 1048576 bytes"):
        client.predict([handle_file(str(big))], api_name="/upload")  # gradio_client checks before sending
    with httpx.Client(base_url=app.url.rstrip("/"), timeout=30) as http:  # and the server checks too
        refused = http.post("/gradio_api/upload", files={"files": ("big.txt", big.read_bytes(), "text/plain")})
    assert refused.status_code == 413 and "maximum allowed size" in refused.text
    assert documents(client) == before
    assert not (app.docs / "big.txt").exists() and not (app.docs / "minutes.doc").exists()


# ------------------------------------------------------------------ feedback from many sessions at once


def test_eight_sessions_saving_feedback_at_once_lose_and_duplicate_nothing(app):
    """8 gradio_client sessions, 20 /feedback calls each, all at once against the real model: every one of the
    160 cases is in the gold file once, and the file reads as `assistant eval` reads it."""
    from fakes import at_once

    from assistant.evaluation import load_gold, normalise

    seed = [c.question for c in load_gold(ROOT / "tests" / "gold" / "seed.yaml") if len(c.turns) == 1]
    questions = list({normalise(q): q for q in reversed(seed)}.values())[::-1]  # each question once
    questions += [f"What did the summit decide about topic number {n}?" for n in range(160 - len(questions))]
    sessions = [questions[n::8] for n in range(8)]
    assert sorted(len(s) for s in sessions) == [20] * 8
    saved: dict[int, list[dict]] = {}

    def session(n: int) -> None:
        client = new_client(app)
        saved[n] = [client.predict(q, "wrong" if i % 4 == 0 else "right", f"answer {n}-{i}" if i % 4 == 0 else "",
                                   [], api_name="/feedback") for i, q in enumerate(sessions[n])]
    assert at_once(session, 8) == [] and sorted(saved) == list(range(8))
    [gold_file] = (app.work / "data").rglob("gold/*.yaml")
    cases = load_gold(gold_file)  # parses; ids are unique or it would refuse
    assert len(cases) == 160
    assert sorted(c.question for c in cases) == sorted(questions)  # 0 lost, 0 duplicated
    assert sorted(r["id"] for rs in saved.values() for r in rs) == sorted(c.id for c in cases)  # as answered
    assert all("from-chat" in c.tags for c in cases)
    assert sorted(p.name for p in gold_file.parent.iterdir()) == [f".{gold_file.name}.lock", gold_file.name]


def test_the_app_keeps_serving_and_never_reached_the_network(app):
    answer = new_client(app).predict("Where did Modi and Putin last meet face-to-face before this summit?",
                                     api_name="/ask")
    assert "Brasilia" in answer["text"]
    assert app.alive()
    assert app.network_log.read_text(encoding="utf-8") == ""
    # The only tracebacks are Gradio's own log of refusing the made-up path; none comes from the app.
    log = app.log()
    assert log.count("Traceback") == log.count("gradio.exceptions.InvalidPathError: Cannot move")
    assert f'File "{ROOT / "assistant"}' not in log
