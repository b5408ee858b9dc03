"""The command line: ``assistant index``, ``ask``, ``chat``, ``eval``, ``gold``, ``serve``, ``api`` and ``mcp``.

A thin shell over the public API. Errors a user can cause print one line and exit non-zero;
set ``ASSISTANT_DEBUG=1`` to see tracebacks.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Sequence

# Only light modules here: `assistant --help` and argument errors answer at once; the models, torch and
# llama-index are imported by the commands that need them.
from .citations import Answer, shown
from .config import ANSWER_MODES, EMBED_BACKENDS, LLM_BACKENDS, Settings
from .errors import AssistantError, ConfigError
from .process import (EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_PARTIAL, EXIT_USER_ERROR, quiet_broken_pipe,
                      quiet_libraries)
from .questions import check_question
from .wording import agreeing, counted

__all__ = ["EXIT_INTERNAL", "EXIT_PARTIAL", "EXIT_USER_ERROR", "format_answer", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    quiet_libraries(verbose=args.verbose)
    try:
        return args.run(args)
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return quiet_broken_pipe()
    except Exception as exc:  # never a traceback for the user; one line that says what to do
        if os.environ.get("ASSISTANT_DEBUG"):
            raise
        print(f"internal error: {exc.__class__.__name__}: {exc} (rerun with ASSISTANT_DEBUG=1 and report it)",
              file=sys.stderr)
        return EXIT_INTERNAL


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="assistant", description="Ask questions about a folder of documents; "
                                     "every answer cites the passage it came from.")
    sub = parser.add_subparsers(dest="command", required=True)

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--docs", help="documents folder (default: seeds, or ASSISTANT_DOCS_DIR)")
    common.add_argument("--index", dest="index_dir", help="index folder (default: index, or ASSISTANT_INDEX_DIR)")
    common.add_argument("--store", help="where the index lives: a postgresql://user@host/db URI or a Milvus one "
                        "(http://host:19530, milvus:///path/x.db) shared by many processes (default: the --index "
                        "folder, or ASSISTANT_STORE)")
    common.add_argument("--config", help="settings file in TOML (default: assistant.toml if present)")
    common.add_argument("--model", dest="embed_model", help="embedding model name or local folder")
    common.add_argument("--embed-backend", choices=EMBED_BACKENDS,
                        help="how passages are embedded: onnx (default: torch's vectors, faster), torch, onnx-int8 "
                        "(faster still, other vectors: re-embeds) or openai (a server at --embed-url)")
    common.add_argument("--embed-url",
                        help="embed backend openai: the server's base URL, e.g. http://127.0.0.1:7997/v1")
    common.add_argument("--quiet", action="store_true", help="no progress bars")
    common.add_argument("--verbose", action="store_true",
                        help="also log what developers need: the parser's error behind each file skipped")
    common.add_argument("--collection", help="a collection of the config file ([collections.NAME]); "
                        "default: the documents folder's own")

    p = sub.add_parser("index", parents=[common], help="index the documents folder (only what changed)")
    p.add_argument("--rebuild", action="store_true", help="re-embed everything from scratch")
    p.add_argument("--parse-workers", type=int, help="processes reading files in folders of many files (default 2)")
    p.set_defaults(run=_index)

    asking = argparse.ArgumentParser(add_help=False, parents=[common])
    asking.add_argument("--top-k", type=int, help="passages retrieved per question")
    asking.add_argument("--mode", dest="answer_mode", choices=ANSWER_MODES,
                        help="extractive (default: quotes sentences) or llm (a model writes, every claim checked)")
    asking.add_argument("--llm-backend", choices=LLM_BACKENDS, help="llm mode: local GGUF, openai-compatible or ollama")
    asking.add_argument("--llm-model", help="llm mode: bundled model name (qwen2.5-0.5b, the default, or smollm2), "
                        ".gguf path, or server model name")
    asking.add_argument("--llm-url", help="llm mode with a server: its base URL, e.g. http://127.0.0.1:8000/v1")
    asking.add_argument("--no-update", action="store_true",
                        help="use the index as it is, without checking the documents folder for changes")

    p = sub.add_parser("ask", parents=[asking], help="answer one question")
    p.add_argument("question", help="the question, in quotes")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    p.set_defaults(run=_ask)

    p = sub.add_parser("chat", parents=[asking], help="a conversation in the terminal (follow-ups work)")
    p.set_defaults(run=_chat)

    gold_file = argparse.ArgumentParser(add_help=False)
    gold_file.add_argument("--gold-file", help="the collection's gold file (default: the gold_file setting, else "
                           "one in your data folder per collection, where the chat's thumbs save cases)")

    p = sub.add_parser("eval", parents=[asking, gold_file],
                       help="score the answers against a gold set (YAML or JSONL; default: the collection's)")
    p.add_argument("gold", nargs="?", help="gold file: a YAML list or JSONL of cases (default: the collection's "
                   "gold file, compared with its baseline when one was set)")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"),
                   help="run the cases under two settings side by side, each as name=value overrides "
                   "('top_k=5' 'top_k=10', 'answer_mode=extractive' 'answer_mode=llm'; '' for the settings as "
                   "they are); --report writes both answers of every case, the differing first")
    p.add_argument("--baseline", help="an earlier run (--out) to compare with: lists cases that got worse/better")
    p.add_argument("--out", help="save this run as JSON (to use as a later --baseline)")
    p.add_argument("--report", help="write a report: REPORT.md or REPORT.html (chart PNG beside it)")
    p.add_argument("--min-accuracy", type=float, help="exit 1 when accuracy is below this (0-1)")
    p.add_argument("--allow-regressions", action="store_true",
                   help="do not fail when cases that passed in the baseline fail now")
    p.set_defaults(run=_eval)

    p = sub.add_parser("gold", help="the collection's gold file: list, show, rm, import and export its cases")
    gold = p.add_subparsers(dest="action", required=True)
    where = argparse.ArgumentParser(add_help=False, parents=[common, gold_file])
    q = gold.add_parser("list", parents=[where], help="every case: id, tags and question")
    q.set_defaults(run=_gold_list)
    q = gold.add_parser("show", parents=[where], help="one case as the file holds it")
    q.add_argument("id", help="the case's id (see `assistant gold list`)")
    q.set_defaults(run=_gold_show)
    q = gold.add_parser("rm", parents=[where], help="remove one case")
    q.add_argument("id", help="the case's id (see `assistant gold list`)")
    q.set_defaults(run=_gold_rm)
    q = gold.add_parser("import", parents=[where], help="add the cases of a YAML/JSONL gold file or a CSV of "
                        "question,answer (a question already there is updated)")
    q.add_argument("file", help="FILE.yaml, FILE.jsonl or FILE.csv (columns question, answer; optional id, tags, "
                   "sources, refuse; alternatives in one cell separated by ' | ')")
    q.set_defaults(run=_gold_import)
    q = gold.add_parser("export", parents=[where], help="print the cases as JSONL, CSV or YAML")
    q.add_argument("--format", choices=("jsonl", "csv", "yaml"), default="jsonl", help="default jsonl")
    q.add_argument("--out", help="write to this file instead of printing")
    q.set_defaults(run=_gold_export)

    p = sub.add_parser("serve", parents=[common], help="the chat in the browser (http://127.0.0.1:7860), the "
                       "OpenAI-compatible API (/v1) and MCP (/mcp), on one port")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1, or ASSISTANT_HOST)")
    p.add_argument("--port", help="port to listen on (default 7860, or ASSISTANT_PORT)")
    p.add_argument("--auth", help="require a login for the browser chat, as user:password (or ASSISTANT_AUTH)")
    p.set_defaults(run=_serve, ui=True)

    p = sub.add_parser("api", parents=[common], help="the OpenAI-compatible API (/v1) and MCP (/mcp) alone")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1, or ASSISTANT_HOST)")
    p.add_argument("--port", help="port to listen on (default 7860, or ASSISTANT_PORT)")
    p.set_defaults(run=_serve, ui=False, auth=None)

    p = sub.add_parser("mcp", parents=[common], help="an MCP server on stdin/stdout (tools: search, ask, "
                       "list_documents) for MCP clients that start it themselves")
    p.set_defaults(run=_mcp)
    return parser


def _overrides(args: argparse.Namespace) -> dict:
    return {"docs_dir": args.docs, "index_dir": args.index_dir, "store": args.store, "embed_model": args.embed_model,
            "top_k": getattr(args, "top_k", None), "answer_mode": getattr(args, "answer_mode", None),
            "llm_backend": getattr(args, "llm_backend", None), "llm_model": getattr(args, "llm_model", None),
            "llm_url": getattr(args, "llm_url", None), "show_progress": False if args.quiet else None,
            "embed_backend": args.embed_backend, "embed_url": args.embed_url,
            "parse_workers": getattr(args, "parse_workers", None)}


def _assistant(args: argparse.Namespace, **options):
    """The assistant of ``--collection`` from the config, else of the documents folder the flags name."""
    from .core import Assistant

    if args.collection:
        return Assistant.from_config(args.collection, config_file=args.config, **options,
                                     **{k: v for k, v in _overrides(args).items() if v is not None})
    return Assistant.from_folder(settings=_settings(args), **options)


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.load(
        args.config,
        docs_dir=args.docs,
        index_dir=args.index_dir,
        store=args.store,
        embed_model=args.embed_model,
        embed_backend=args.embed_backend,
        embed_url=args.embed_url,
        parse_workers=getattr(args, "parse_workers", None),
        top_k=getattr(args, "top_k", None),
        answer_mode=getattr(args, "answer_mode", None),
        llm_backend=getattr(args, "llm_backend", None),
        llm_model=getattr(args, "llm_model", None),
        llm_url=getattr(args, "llm_url", None),
        show_progress=False if args.quiet else None,
    )


def _index(args: argparse.Namespace) -> int:
    bot = _assistant(args, update=True, rebuild=args.rebuild)
    report = bot.last_update
    for item in bot.skipped:
        print(item, file=sys.stderr)
    print(f"indexed {counted(len(bot.documents), 'document')} ({counted(bot.passage_count, 'passage')}) in "
          f"{bot.store.describe()}: {report.summary()}")
    unreadable = [s for s in bot.skipped if s.unreadable]
    if unreadable:
        print(f"error: {counted(len(unreadable), 'file')} could not be read (listed above); fix or remove them",
              file=sys.stderr)
        return EXIT_PARTIAL
    return 0


def _load(args: argparse.Namespace):
    from .errors import IndexMissingError

    try:
        bot = _assistant(args, update=not args.no_update)
    except IndexMissingError:  # --no-update, but there is nothing to use yet: build it
        bot = _assistant(args, update=True)
    for item in bot.skipped:
        print(item, file=sys.stderr)
    return bot


def _ask(args: argparse.Namespace) -> int:
    check_question(args.question)  # fail fast, before loading any model
    bot = _load(args)
    answer = _answer(bot.stream(args.question), bot, show_draft=not args.json)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(format_answer(answer, bot))
    return 0


def _chat(args: argparse.Namespace) -> int:
    bot = _load(args)
    chat = bot.chat()
    print("Ask about the documents. Empty line or Ctrl-D to quit; /reset starts a new conversation.")
    while True:
        try:
            question = input("\nyou> ").strip()
        except EOFError:
            print()
            return 0
        if not question:
            return 0
        if question == "/reset":
            chat.reset()
            print("(new conversation)")
            continue
        try:
            answer = _answer(chat.stream(question), bot, show_draft=True)
        except AssistantError as exc:
            print(f"error: {exc}")
            continue
        print("\n" + format_answer(answer, bot))


def _eval(args: argparse.Namespace) -> int:
    from .evaluation import compare, evaluate, load_gold, load_run, save_run
    from .evaluation_gold import baseline_path
    from .reports import write_report

    gold = args.gold or _gold_path(args)
    if args.gold is None and not gold.is_file():
        raise ConfigError(f"the collection's gold file {gold} has no cases yet; save some with the chat's thumbs "
                          "in the browser or `assistant gold import FILE`, or name a gold file")
    cases = load_gold(gold)  # fail fast on a bad gold file, before loading any model
    if args.compare:
        return _eval_side_by_side(args, cases)
    if args.baseline is None and args.gold is None and baseline_path(gold).is_file():
        args.baseline = str(baseline_path(gold))  # set in the browser's Evaluation tab
        print(f"baseline: {args.baseline}", file=sys.stderr)
    baseline = load_run(args.baseline) if args.baseline else None
    if args.min_accuracy is not None and not 0 <= args.min_accuracy <= 1:
        raise ConfigError(f"--min-accuracy must be between 0 and 1, got {args.min_accuracy}")
    bot = _load(args)

    def progress(i: int, n: int, case) -> None:
        mark = "ok  " if case.passed else "FAIL"
        print(f"[{i:>{len(str(n))}}/{n}] {mark} {case.id}", file=sys.stderr)
        if not case.passed:
            print(f"      question: {case.question}\n      why:      {case.why}\n      answer:   {case.answer}",
                  file=sys.stderr)

    result = evaluate(bot, cases, progress=None if args.quiet else progress)
    comparison = compare(result, baseline) if baseline else None
    if args.out:
        save_run(result, args.out, gold=str(gold), docs=str(bot.settings.docs_dir))
    if args.report:
        print(f"report: {write_report(result, args.report, comparison)}")
    print(_summary(result))
    failed = False
    if comparison:
        for name, items in (("worse", comparison.worse), ("better", comparison.better)):
            print(f"{counted(len(items), 'case')} {name} than the baseline" + (":" if items else ""))
            for item in items:
                print(f"  {item['id']}: {item['question']}\n    before: {item['before']}\n    now:    {item['after']}")
        failed = bool(comparison.worse) and not args.allow_regressions
    if args.min_accuracy is not None and (result.metrics["accuracy"] or 0) < args.min_accuracy:
        print(f"error: accuracy {result.metrics['accuracy']:.3f} is below --min-accuracy {args.min_accuracy}",
              file=sys.stderr)
        failed = True
    elif failed:
        print("error: cases that passed in the baseline fail now (--allow-regressions to accept)", file=sys.stderr)
    return EXIT_PARTIAL if failed else 0


def _eval_side_by_side(args: argparse.Namespace, cases) -> int:
    """``assistant eval --compare A B``: the cases under two settings, the answers that differ listed."""
    from .config import parse_overrides
    from .evaluation import evaluate_side_by_side
    from .reports import write_comparison_report

    if args.baseline or args.out or args.min_accuracy is not None:
        raise ConfigError("--compare runs two settings against each other; leave out --baseline, --out and "
                          "--min-accuracy (run each setting on its own for those)")
    a, b = (parse_overrides(text) for text in args.compare)  # a bad setting fails before any model loads
    bot = _load(args)
    side = evaluate_side_by_side(bot, cases, a, b)
    if args.report:
        print(f"report: {write_comparison_report(side, args.report)}")
    for name, label, run in (("A", side.labels[0], side.a), ("B", side.labels[1], side.b)):
        print(f"{name} ({label}): " + _summary(run))
    differ = side.differ()
    print(f"the answers differ in {counted(len(differ), 'case')}" + (":" if differ else ""))
    for a_case, b_case in differ:
        print(f"  {a_case.id}: {a_case.question}\n    A {'ok  ' if a_case.passed else 'FAIL'} {a_case.answer}\n"
              f"    B {'ok  ' if b_case.passed else 'FAIL'} {b_case.answer}")
    return 0


def _gold_path(args: argparse.Namespace):
    """The gold file of the collection the flags name (``--gold-file``, the setting, else the data folder's)."""
    from pathlib import Path

    from .config import collections

    overrides = {k: v for k, v in _overrides(args).items() if v is not None}
    if getattr(args, "gold_file", None):
        overrides["gold_file"] = args.gold_file
    found = collections(args.config, **overrides)
    name = args.collection or next(iter(found))
    if name not in found:
        raise ConfigError(f"no collection named {name!r}; the config has {', '.join(found)}")
    return Path(found[name].settings.gold_file)


def _gold_file(args: argparse.Namespace):
    from .evaluation_gold import GoldFile

    return GoldFile(_gold_path(args))


def _gold_list(args: argparse.Namespace) -> int:
    gold = _gold_file(args)
    cases = gold.cases()
    if not cases:
        print(f"no cases yet in {gold.path}; the chat's thumbs in the browser or `assistant gold import FILE` "
              "add some")
        return 0
    width = max(len(c.id) for c in cases)
    for c in cases:
        expected = "refuse" if c.refuse else " | ".join(c.expect_any or c.expect_all)
        print(f"{c.id:<{width}}  {' -> '.join(c.turns)}  [{expected}]" + (f"  ({', '.join(c.tags)})" if c.tags else ""))
    print(f"{counted(len(cases), 'case')} in {gold.path}")
    return 0


def _gold_show(args: argparse.Namespace) -> int:
    from .evaluation_gold import case_yaml

    print(case_yaml(_gold_file(args).get(args.id)), end="")
    return 0


def _gold_rm(args: argparse.Namespace) -> int:
    gold = _gold_file(args)
    removed = gold.remove(args.id)
    print(f"removed {removed.id} ({removed.question}) from {gold.path}; {counted(len(gold.cases()), 'case')} left")
    return 0


def _gold_import(args: argparse.Namespace) -> int:
    from .evaluation_gold import read_cases

    gold = _gold_file(args)
    cases = read_cases(args.file, max_file_mb=_settings(args).max_file_mb)  # all or nothing: checked first
    saved, updated = gold.save_all(cases)
    print(f"imported {counted(len(saved), 'case')} into {gold.path} ({len(saved) - updated} added, {updated} "
          f"updated); {counted(len(gold.cases()), 'case')} in all")
    return 0


def _gold_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .evaluation_gold import write_atomic

    gold = _gold_file(args)
    text = gold.export(args.format)
    if args.out:
        write_atomic(Path(args.out), text)
        print(f"exported {counted(len(gold.cases()), 'case')} to {args.out}", file=sys.stderr)
    else:
        print(text, end="")
    return 0


def _summary(result) -> str:
    m = result.metrics
    k = next((key for key in m if key.startswith("hit@")), "hit@5")
    def f(v):
        return "n/a" if v is None else f"{v:.3f}"
    lines = [f"{m['passed']}/{counted(m['cases'], 'case')} passed: accuracy {f(m['accuracy'])}, "
             f"refusal precision {f(m['refusal_precision'])} / recall {f(m['refusal_recall'])}, "
             f"citation precision {f(m['citation_precision'])}, {k} {f(m.get(k))}, MRR {f(m['mrr'])}, "
             f"median {m['median_words']} {agreeing(m['median_words'], 'word')}, "
             f"latency p50 {m['latency_p50_s'] * 1000:.0f} ms"]
    for tag, t in result.by_tag.items():
        lines.append(f"  {tag:<14} {t['cases']:>3} {agreeing(t['cases'], 'case'):<6} accuracy {f(t['accuracy'])}")
    return "\n".join(lines)


def _serve(args: argparse.Namespace) -> int:
    from .ui import serve

    overrides = {k: v for k, v in _overrides(args).items() if v is not None}
    overrides.setdefault("show_progress", False)
    return serve(None, host=args.host, port=args.port, auth=args.auth, config_file=args.config,
                 collection=args.collection, ui=args.ui, overrides=overrides)


def _mcp(args: argparse.Namespace) -> int:
    from .api.mcp import run_stdio
    from .config import collections
    from .library import Library

    overrides = {k: v for k, v in _overrides(args).items() if v is not None}
    overrides.setdefault("show_progress", False)  # stdout is the protocol's
    library = Library(collections(args.config, **overrides))
    if args.collection and args.collection not in library.names:
        raise ConfigError(f"no collection named {args.collection!r}; the config has {', '.join(library.names)}")
    library.get(args.collection or library.default)  # index now: a broken folder fails before the client waits
    run_stdio(library)
    return 0


def _answer(pieces, bot, show_draft: bool) -> Answer:
    """Consume a stream: in llm mode the model's draft goes to stderr as it comes; returns the Answer."""
    draft = False
    for piece in pieces:
        if isinstance(piece, Answer):
            if draft:
                print("\n(draft above; the verified answer follows)\n", file=sys.stderr, flush=True)
            return piece
        if show_draft and bot.settings.answer_mode == "llm":
            print(piece, end="", file=sys.stderr, flush=True)
            draft = True
    raise RuntimeError("the answer stream ended without an answer")


def format_answer(answer: Answer, bot=None) -> str:
    """The answer followed by its numbered sources, for a terminal."""
    lines = [answer.text]
    dates = {d.doc_id: d.date for d in bot.documents} if bot is not None else {}
    if answer.citations:
        lines.append("")
        lines.append("Sources:")
        for c in answer.citations:
            date = dates.get(c.doc_id, "")
            where = f"{c.title}" + (f", {date}" if date else "") + f" ({c.doc_id}, {c.where or f'chars {c.start}-{c.end}'})"
            lines.append(f"  [{c.number}] {where}")
            lines.append(f"      \u201c{shown(c.quote)}\u201d")  # as the answer shows it: no bare "[2]"
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
