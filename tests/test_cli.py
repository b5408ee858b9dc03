"""The command line, run in-process: output, exit codes, and one-line errors without tracebacks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.cli import EXIT_PARTIAL, EXIT_USER_ERROR, main
from fakes import WIKI_ANSWER, WIKI_QUESTION, WIKI_QUOTE

REPO = Path(__file__).resolve().parent.parent
BAKERY_QUOTE = "Marta Olsen opened the Crumb bakery in 1998."


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    """Run from an empty folder so no assistant.toml of the developer's is picked up."""
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)


@pytest.fixture
def index_dir(tmp_path) -> Path:
    return tmp_path / "index"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def opts(docs: Path, index: Path, model: str = "fake-hash") -> list[str]:
    return ["--model", model, "--index", str(index), "--docs", str(docs), "--quiet"]


def assert_one_line_error(code: int, err: str, *fragments: str) -> str:
    assert code != 0
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got: {err!r}"
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


# ------------------------------------------------------------------ index


def test_index_prints_a_summary(capsys, docs_dir, index_dir):
    assert run(capsys, "index", *opts(docs_dir, index_dir)) == (
        0,
        f"indexed 3 documents (3 passages) in {index_dir}: "
        "3 added, 0 changed, 0 deleted, 0 unchanged, 3 passages embedded\n",
        "",
    )
    assert run(capsys, "index", *opts(docs_dir, index_dir)) == (
        0,
        f"indexed 3 documents (3 passages) in {index_dir}: "
        "0 added, 0 changed, 0 deleted, 3 unchanged, 0 passages embedded\n",
        "",
    )


def test_counts_in_messages_agree_with_their_number(capsys, tmp_path, index_dir):
    """"indexed 1 documents (1 passages)": one of a thing is said in the singular (wording.counted)."""
    docs = tmp_path / "one"
    docs.mkdir()
    (docs / "note.txt").write_text("The ferry leaves at nine.", encoding="utf-8")
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 cut short")
    code, out, err = run(capsys, "index", *opts(docs, index_dir))
    assert out == (f"indexed 1 document (1 passage) in {index_dir}: "
                   "1 added, 0 changed, 0 deleted, 0 unchanged, 1 passage embedded\n")
    assert (code, err.splitlines()[-1]) == (
        EXIT_PARTIAL, "error: 1 file could not be read (listed above); fix or remove them")


def test_index_shows_each_phase_with_rate_and_time_left(capsys, tmp_path, index_dir, monkeypatch):
    """Without --quiet: a bar per phase (files read, passages embedded, index written), each ending with
    done/total in words people read ("2.1k/2.1k characters", never "0.00char"), elapsed<left and the rate.
    (Bars show for phases that last a second; this one is made to show them at once.)"""
    from assistant import progress

    monkeypatch.setattr(progress, "SHOW_AFTER_S", 0)
    docs = tmp_path / "many"
    docs.mkdir()
    for n in range(40):
        (docs / f"note-{n:02d}.txt").write_text(f"Crane {n} lifted {n + 2} crates at the harbour on day {n}.")
    code, out, err = run(capsys, "index", "--model", "fake-hash", "--index", str(index_dir), "--docs", str(docs),
                         "--parse-workers", "2", "--embed-backend", "torch")
    assert code == 0 and out.startswith("indexed 40 documents (40 passages)")
    final = {line.split(":")[0]: line for line in err.replace("\r", "\n").splitlines() if "100%" in line}
    assert list(final) == ["Reading files", "Splitting documents", "Embedding passages", "Writing index"]
    assert re.search(r"\| 2\.\dk/2\.\dk characters \[\d\d:\d\d<00:00, [\d.]+k? characters/s\]$",
                     final["Splitting documents"])
    assert re.search(r"\| 40/40 files \[\d\d:\d\d<00:00, [\d.]+k? files/s\]$", final["Reading files"])
    assert re.search(r"\| 40/40 passages \[\d\d:\d\d<00:00, [\d.]+k? passages/s\]$", final["Embedding passages"])
    assert re.search(r"\| 7/7 steps \[", final["Writing index"])


def test_ask_with_nothing_to_update_prints_no_progress(capsys, docs_dir, index_dir):
    """Every `assistant ask` printed "Reading files ..." and "Splitting documents: 0.00char" to stderr,
    though nothing had changed: a bar is for work one waits for."""
    argv = ["ask", "Who opened the Crumb bakery?", "--model", "fake-hash", "--index", str(index_dir),
            "--docs", str(docs_dir)]
    assert run(capsys, *argv)[0] == 0  # builds the index: three small files, over in milliseconds
    code, out, err = run(capsys, *argv)
    assert (code, err) == (0, "") and out.startswith(BAKERY_QUOTE)


def test_index_rebuild(capsys, docs_dir, index_dir):
    run(capsys, "index", *opts(docs_dir, index_dir))
    code, out, err = run(capsys, "index", *opts(docs_dir, index_dir), "--rebuild")
    assert (code, err) == (0, "")
    assert out == (f"indexed 3 documents (3 passages) in {index_dir}: full rebuild (asked for): "
                   "3 added, 0 changed, 0 deleted, 0 unchanged, 3 passages embedded\n")


def test_index_with_a_binary_file_indexes_the_rest_and_names_it(capsys, docs_dir, index_dir):
    (docs_dir / "scan.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (docs_dir / "notes.doc").write_bytes(b"\xd0\xcf\x11\xe0")
    code, out, err = run(capsys, "index", *opts(docs_dir, index_dir))
    assert code == EXIT_PARTIAL == 1
    assert out == (f"indexed 3 documents (3 passages) in {index_dir}: "
                   "3 added, 0 changed, 0 deleted, 0 unchanged, 3 passages embedded\n")
    assert err.splitlines() == [
        "skipped notes.doc: unsupported file type .doc; use .txt, .md, .html, .pdf, .docx, .pptx, .xlsx, .csv, .epub, .eml, .odt, .rtf, .png, .jpg or .tif",
        "skipped scan.txt: binary file, not text; convert it to .txt, .md, .html, .pdf, .docx, .pptx, .xlsx, .csv, .epub, .eml, .odt, .rtf, .png, .jpg or .tif",
        "error: 1 file could not be read (listed above); fix or remove them",
    ]
    assert "Traceback" not in err


def test_a_skipped_file_is_explained_in_words_and_verbose_adds_the_parser_error(tmp_path, docs_dir):
    """"skipped report.docx: not a readable .docx file (AttributeError)": the reason says what is wrong with
    the file; the exception is for developers, in the log with --verbose only."""
    import zipfile

    with zipfile.ZipFile(docs_dir / "report.docx", "w") as package:  # a zip, but not a Word document
        package.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        package.writestr("word/document.xml", "<html><body>Notes</body></html>")
    launcher = tmp_path / "launch.py"
    launcher.write_text(f"import sys\nsys.path[:0] = [{str(REPO)!r}, {str(REPO / 'tests')!r}]\n"
                        "from fakes import register_fakes\nregister_fakes()\nfrom assistant.cli import main\n"
                        "raise SystemExit(main(sys.argv[1:]))\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    said = {}
    for flags in ([], ["--verbose"]):
        result = subprocess.run([sys.executable, str(launcher), "index", *opts(docs_dir, tmp_path / "i"), *flags],
                                capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
        assert result.returncode == EXIT_PARTIAL and "Traceback" not in result.stderr
        said[bool(flags)] = result.stderr.splitlines()
    reason = ("skipped report.docx: not a readable .docx file (its word/document.xml is not a Word document); "
              "re-save it from Word")
    assert said[False] == [reason, "error: 1 file could not be read (listed above); fix or remove them"]
    assert said[True][0].startswith("report.docx: the parser said AttributeError: ") and said[True][1:] == said[False]


def test_index_repairs_a_corrupt_index(capsys, docs_dir, index_dir):
    run(capsys, "index", *opts(docs_dir, index_dir))
    live = index_dir / "snapshots" / (index_dir / "CURRENT").read_text().strip()
    (live / "manifest.json").write_text("{garbage", encoding="utf-8")
    code, out, err = run(capsys, "index", *opts(docs_dir, index_dir))
    assert (code, err) == (0, "")
    assert out.startswith(f"indexed 3 documents (3 passages) in {index_dir}: full rebuild (previous index unusable")
    code, out, err = run(capsys, "ask", "Who opened the Crumb bakery?", *opts(docs_dir, index_dir), "--no-update")
    assert (code, err) == (0, "")
    assert out.startswith(f"{BAKERY_QUOTE} [1]")


# ------------------------------------------------------------------ ask and chat


def test_ask_prints_the_answer_and_its_sources(capsys, docs_dir, index_dir):
    code, out, err = run(capsys, "ask", "Who opened the Crumb bakery?", *opts(docs_dir, index_dir))
    assert (code, err) == (0, "")
    assert out == (
        f"{BAKERY_QUOTE} [1]\n"
        "\n"
        "Sources:\n"
        "  [1] Bakery (bakery.txt, chars 0-44)\n"
        f"      \u201c{BAKERY_QUOTE}\u201d\n"
    )


def test_ask_shows_the_document_date(capsys, docs_dir, index_dir):
    (docs_dir / "bakery.meta.yaml").write_text("title: Crumb history\ndate: 2001-05-06\n", encoding="utf-8")
    code, out, err = run(capsys, "ask", "Who opened the Crumb bakery?", *opts(docs_dir, index_dir))
    assert (code, err) == (0, "")
    assert "  [1] Crumb history, 2001-05-06 (bakery.txt, chars 0-44)\n" in out


def test_ask_refusal_has_no_sources(capsys, docs_dir, index_dir):
    code, out, err = run(capsys, "ask", "What is the capital of France?", *opts(docs_dir, index_dir))
    assert (code, err, out) == (0, "", "The documents don't mention France.\n")
    code, out, err = run(capsys, "ask", "What is the boiling point of water?", *opts(docs_dir, index_dir))
    assert (code, err) == (0, "")
    assert out == "The documents don't mention the boiling point of water.\n"  # what was asked, as a refusal names it


def test_ask_json(capsys, docs_dir, index_dir):
    code, out, err = run(capsys, "ask", "Who opened the Crumb bakery?", *opts(docs_dir, index_dir), "--json")
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert {k: data[k] for k in ("text", "refused", "question", "query", "mode")} == {
        "text": f"{BAKERY_QUOTE} [1]", "refused": False, "question": "Who opened the Crumb bakery?",
        "query": "Who opened the Crumb bakery?", "mode": "extractive",
    }
    assert data["citations"] == [{
        "number": 1, "doc_id": "bakery.txt", "title": "Bakery", "quote": BAKERY_QUOTE, "start": 0, "end": 44,
        "score": data["citations"][0]["score"], "passage_id": "bakery.txt#0-154", "location": {}, "where": "",
        "span": None,
    }]
    assert data["passages"][0]["id"] == "bakery.txt#0-154"

    code, out, _ = run(capsys, "ask", "What is the capital of France?", *opts(docs_dir, index_dir), "--json")
    data = json.loads(out)
    assert (code, data["refused"], data["citations"]) == (0, True, [])


def test_ask_over_text_with_footnotes_prints_only_its_own_markers(capsys, wiki_dir, index_dir):
    """The document's "[2]" (a footnote mark) is "[note 2]" in the answer and its source line, in plain text
    and --json alike; every "[n]" printed is the assistant's; the JSON quote is the exact span."""
    code, out, err = run(capsys, "ask", WIKI_QUESTION, *opts(wiki_dir, index_dir))
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == WIKI_ANSWER
    assert re.findall(r"\[(\d+)\]", out) == ["1", "1"]  # the marker, then its source's number
    code, out, err = run(capsys, "ask", WIKI_QUESTION, *opts(wiki_dir, index_dir), "--json")
    data = json.loads(out)
    assert (code, data["text"], [c["quote"] for c in data["citations"]]) == (0, WIKI_ANSWER, [WIKI_QUOTE])


def test_ask_no_update_uses_the_index_as_it_is(capsys, docs_dir, index_dir):
    run(capsys, "index", *opts(docs_dir, index_dir))
    (docs_dir / "bakery.txt").unlink()
    code, out, err = run(capsys, "ask", "Who opened the Crumb bakery?", *opts(docs_dir, index_dir), "--no-update")
    assert (code, err) == (0, "")
    assert out.startswith(f"{BAKERY_QUOTE} [1]")


def test_chat(capsys, docs_dir, index_dir, monkeypatch):
    lines = iter(["Who opened the Crumb bakery?", "/reset", "   x   ", ""])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(lines))
    code, out, err = run(capsys, "chat", *opts(docs_dir, index_dir))
    assert (code, err) == (0, "")
    assert out.startswith("Ask about the documents.")
    assert f"{BAKERY_QUOTE} [1]" in out
    assert "(new conversation)" in out


def test_chat_ends_on_eof(capsys, docs_dir, index_dir, monkeypatch):
    def eof(prompt=""):
        raise EOFError

    monkeypatch.setattr("builtins.input", eof)
    code, out, err = run(capsys, "chat", *opts(docs_dir, index_dir))
    assert (code, err) == (0, "")


# ------------------------------------------------------------------ errors: one line, no traceback


@pytest.mark.parametrize("question", ["   ", "", "\t\n"])
def test_empty_question(capsys, docs_dir, index_dir, question):
    code, out, err = run(capsys, "ask", question, *opts(docs_dir, index_dir))
    assert code == EXIT_USER_ERROR
    assert out == ""
    assert err == "error: the question is empty; type a question about the documents\n"
    assert not index_dir.exists(), "fails before loading a model or building an index"


def test_missing_docs_folder(capsys, tmp_path, index_dir):
    code, out, err = run(capsys, "ask", "Who?", *opts(tmp_path / "nowhere", index_dir))
    assert_one_line_error(code, err, "does not exist", str(tmp_path / "nowhere"))
    code, out, err = run(capsys, "index", *opts(tmp_path / "nowhere", index_dir))
    assert_one_line_error(code, err, "does not exist")


def test_folder_without_readable_documents(capsys, tmp_path, index_dir):
    docs = tmp_path / "junk"
    docs.mkdir()
    (docs / "a.docx").write_bytes(b"PK\x03\x04")
    (docs / "b.txt").write_bytes(b"\x00\x00binary")
    for argv in (["index"], ["ask", "Who?"]):
        code, out, err = run(capsys, *argv, *opts(docs, index_dir))
        assert code == EXIT_USER_ERROR
        assert_one_line_error(code, err, "no readable documents", str(docs))
        assert out == ""


def test_no_update_with_another_model_is_a_mismatch(capsys, docs_dir, index_dir):
    run(capsys, "index", *opts(docs_dir, index_dir))
    code, out, err = run(capsys, "ask", "Who opened the Crumb bakery?",
                         *opts(docs_dir, index_dir, model="fake-hash-b"), "--no-update")
    assert code == EXIT_USER_ERROR
    assert out == ""
    assert_one_line_error(code, err, "does not match the settings",
                          "embed_model is 'fake-hash' in the index but 'fake-hash-b' now", "assistant index")


def test_corrupt_index_with_no_update(capsys, docs_dir, index_dir):
    run(capsys, "index", *opts(docs_dir, index_dir))
    live = index_dir / "snapshots" / (index_dir / "CURRENT").read_text().strip()
    (live / "default__vector_store.json").write_bytes(b"not a faiss index")
    code, out, err = run(capsys, "ask", "Who opened the Crumb bakery?", *opts(docs_dir, index_dir), "--no-update")
    assert code == EXIT_USER_ERROR
    assert_one_line_error(code, err, "is unreadable", "assistant index --rebuild")


def test_unknown_model(capsys, docs_dir, index_dir):
    code, out, err = run(capsys, "index", *opts(docs_dir, index_dir, model="no-such-model"))
    assert code == EXIT_USER_ERROR
    assert_one_line_error(code, err, "'no-such-model'", "neither registered", "fake-hash")
    assert not (index_dir / "CURRENT").exists()


def test_invalid_setting_from_the_environment(capsys, docs_dir, index_dir, monkeypatch):
    monkeypatch.setenv("ASSISTANT_TOP_K", "many")
    code, out, err = run(capsys, "ask", "Who?", *opts(docs_dir, index_dir))
    assert code == EXIT_USER_ERROR
    assert_one_line_error(code, err, "top_k", "'many'")


def test_invalid_top_k_flag(capsys, docs_dir, index_dir):
    code, out, err = run(capsys, "ask", "Who?", *opts(docs_dir, index_dir), "--top-k", "0")
    assert_one_line_error(code, err, "top_k must be between 1 and 100, got 0")


def test_missing_config_file(capsys, docs_dir, index_dir, tmp_path):
    code, out, err = run(capsys, "index", *opts(docs_dir, index_dir), "--config", str(tmp_path / "none.toml"))
    assert_one_line_error(code, err, "none.toml not found")


def test_index_busy(capsys, docs_dir, index_dir):
    import fcntl

    index_dir.mkdir()
    with open(index_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        code, out, err = run(capsys, "index", *opts(docs_dir, index_dir))
    assert code == EXIT_USER_ERROR
    assert_one_line_error(code, err, "another process is updating the index")


def test_empty_question_in_a_subprocess_has_no_traceback(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    result = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "ask", "   ", "--index", str(tmp_path / "index"),
         "--docs", str(tmp_path / "docs"), "--quiet"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
    )
    assert "Traceback" not in result.stderr
    assert (result.returncode, result.stdout, result.stderr) == (
        EXIT_USER_ERROR, "", "error: the question is empty; type a question about the documents\n",
    )


def cli_in_subprocess(tmp_path: Path, shell: str) -> subprocess.CompletedProcess:
    """``shell`` run by bash -o pipefail, with ``$CLI`` the assistant command (real model, this checkout)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    env["CLI"] = f"{sys.executable} -m assistant.cli"
    return subprocess.run(["bash", "-o", "pipefail", "-c", shell], capture_output=True, text=True, cwd=tmp_path,
                          env=env, timeout=300)


@pytest.mark.integration
def test_a_closed_pipe_is_a_quiet_normal_end(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "bakery.txt").write_text(BAKERY_QUOTE + " The bakery sells rye bread.", encoding="utf-8")
    # `true` never reads: every write of the answer meets a closed pipe
    result = cli_in_subprocess(tmp_path, f"$CLI ask 'Who opened the Crumb bakery?' --docs {docs} "
                                         f"--index {tmp_path / 'index'} --quiet | true")
    assert (result.returncode, result.stderr) == (0, "")


@pytest.mark.integration
def test_asking_over_an_unreadable_index_says_why_it_rebuilds(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "bakery.txt").write_text(BAKERY_QUOTE, encoding="utf-8")
    index = tmp_path / "index"
    first = cli_in_subprocess(tmp_path, f"$CLI index --docs {docs} --index {index} --quiet")
    assert first.returncode == 0, first.stderr
    live = index / "snapshots" / (index / "CURRENT").read_text().strip()
    (live / "manifest.json").write_text("{garbage", encoding="utf-8")
    result = cli_in_subprocess(tmp_path, f"$CLI ask 'Who opened the Crumb bakery?' --docs {docs} --index {index} --quiet")
    # a new process answers with the real reader: the short answer, then the quote
    assert result.returncode == 0 and result.stdout.startswith(f"Marta Olsen. [1]\n{BAKERY_QUOTE}")
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"rebuilding the index in {index} from the documents: previous index unusable"), line


# ------------------------------------------------------------------ collections, api, mcp


def test_collection_flag_asks_a_collection_of_the_config(capsys, docs_dir, tmp_path):
    harbour = tmp_path / "harbour"
    harbour.mkdir()
    (harbour / "ferry.txt").write_text("The harbour ferry to Skerry Island leaves every hour from Pier 4.",
                                       encoding="utf-8")
    config = tmp_path / "assistant.toml"
    config.write_text(f'embed_model = "fake-hash"\nrefusal_threshold = 0.05\ndocs_dir = "{docs_dir}"\n'
                      f'index_dir = "{tmp_path / "index"}"\n\n[collections.harbour]\ndocs_dir = "{harbour}"\n'
                      f'index_dir = "{tmp_path / "harbour-index"}"\n', encoding="utf-8")
    code, out, err = run(capsys, "index", "--config", str(config), "--collection", "harbour", "--quiet")
    assert code == 0 and f"indexed 1 document (1 passage) in {tmp_path / 'harbour-index'}" in out
    code, out, err = run(capsys, "ask", "When does the harbour ferry leave?", "--config", str(config),
                         "--collection", "harbour", "--json", "--quiet")
    answer = json.loads(out)
    assert code == 0 and [c["doc_id"] for c in answer["citations"]] == ["ferry.txt"]
    code, out, err = run(capsys, "ask", "Who opened the Crumb bakery?", "--config", str(config), "--quiet",
                         "--json")  # no --collection: the documents folder's own
    assert code == 0 and json.loads(out)["citations"][0]["doc_id"] == "bakery.txt"
    code, out, err = run(capsys, "ask", "Who?", "--config", str(config), "--collection", "mail", "--quiet")
    assert_one_line_error(code, err, "no collection named 'mail'", "docs, harbour")


def test_api_on_a_taken_port_is_one_line(capsys, docs_dir, index_dir):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = str(taken.getsockname()[1])
        code, out, err = run(capsys, "api", *opts(docs_dir, index_dir), "--port", port)
    assert_one_line_error(code, err, f"cannot serve on 127.0.0.1:{port}", "pass another --port")


def test_mcp_over_stdio_answers_with_citations(docs_dir, tmp_path):
    """``assistant mcp`` as an MCP client starts it: the SDK's stdio client lists the tools and asks."""
    import anyio
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    launcher = tmp_path / "launch.py"
    launcher.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(REPO / 'tests')!r})\n"
        "from fakes import register_fakes\n"
        "register_fakes()\n"
        "from assistant.cli import main\n"
        "raise SystemExit(main(sys.argv[1:]))\n", encoding="utf-8")
    params = StdioServerParameters(command=sys.executable, args=[str(launcher), "mcp", *opts(docs_dir, tmp_path / "i")],
                                   env={k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")},
                                   cwd=str(tmp_path))

    errors = tmp_path / "stderr.log"  # the server's stderr (progress, logs): never its stdout, the protocol's

    async def talk():
        with errors.open("w", encoding="utf-8") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    tools = sorted(t.name for t in (await session.list_tools()).tools)
                    result = await session.call_tool("ask", {"question": "Who opened the Crumb bakery?"})
                    return tools, result

    tools, result = anyio.run(talk)
    assert "Traceback" not in errors.read_text(encoding="utf-8")
    assert tools == ["ask", "list_documents", "search"]
    assert not result.is_error and "Marta Olsen" in result.content[0].text
    data = result.structured_content
    assert data["citations"][0]["document"] == "bakery.txt" and data["refused"] is False
    assert (docs_dir / "bakery.txt").read_text(encoding="utf-8")[
        data["citations"][0]["start"]:data["citations"][0]["end"]] == data["citations"][0]["quote"]
