"""A collection's gold file, grown from use: feedback on answers made into cases, and the file kept safe.

``case_from_answer`` turns a 👍 or 👎 on an answer into a ``GoldCase`` in the format ``assistant eval`` and
``tests/test_gold.py`` read (``evaluation.load_gold``); ``GoldFile`` adds, updates, removes, imports and
exports the cases of one file. Every change is made under a lock on a hidden sidecar file (``fcntl.flock``:
several threads, browser sessions or processes saving at once lose nothing) and written whole to a
temporary file that then replaces the old one (``os.replace``: a crash mid-write leaves the file as it was).
A YAML file keeps its comments and layout: a new case is appended as text, a changed or removed one is
replaced where it stands, and the result is parsed back before it is written.

>>> bot = Assistant.from_folder("seeds")                                       # doctest: +SKIP
>>> answer = bot.ask("How many AK-203 rifles will India buy?")                 # doctest: +SKIP
>>> GoldFile(bot.gold_file).save(bot.gold_case(answer, "right"))               # doctest: +SKIP
GoldCase(id='ak-203-rifles-india-buy', turns=('How many AK-203 rifles will India buy?',), expect_any=('6,01,427',), ...)
"""

from __future__ import annotations

import csv
import dataclasses
import fcntl
import io
import json
import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import yaml

from .citations import FOOTNOTE, Answer
from .evaluation import FAST_LOADER, GoldCase, GoldFileError, gold_cases, load_gold, normalise, parse_gold
from .text import STOPWORDS

__all__ = ["CHAT_TAG", "EXPORT_FORMATS", "VERDICTS", "GoldFile", "baseline_path", "case_from_answer",
           "case_to_dict", "case_yaml", "key_words", "read_cases", "split_words", "verdict_of"]

VERDICTS = ("right", "wrong", "should-refuse", "should-answer")
# what the browser's buttons, gradio_client callers and people type for them
VERDICT_WORDS = {"up": "right", "👍": "right", "like": "right", "true": "right", "down": "wrong", "👎": "wrong",
                 "dislike": "wrong", "false": "wrong", "refuse": "should-refuse", "answer": "should-answer"}
CHAT_TAG = "from-chat"
EXPORT_FORMATS = ("yaml", "jsonl", "csv")
# A 👍 keeps the answer's short answer, else two of its numbers or names the question does not say: any of them
# must come back. More, or of mixed kinds, would pass almost any answer from the same document ("Monday").
MAX_KEY_WORDS = 2
MAX_ID_WORDS = 6
CSV_LIST = " | "  # how a CSV cell holds several strings (alternative answers, tags, turns)

HEADER = ("# A gold set: questions with what a right answer must contain (README, \"Regression-testing answers\n"
          "# against a gold set\"). Cases saved from the chat's thumbs, or by `assistant gold import`, are\n"
          "# appended here; run it with `assistant eval` or in the browser's Evaluation tab.\n")

# Numbers and codes (6,01,427, AK-203, 2+2, 21st) and runs of capitalised words (Sergey Shoigu, Indo-Russia
# Rifles Private Limited): what an answer asserts by name.
NUMBER = re.compile(r"(?<![\w])(?:[A-Za-z]+[-/])?\d(?:[\d,.+/:-]*\d)?(?:st|nd|rd|th|s)?(?![\w])")
NAME = re.compile(r"(?<![\w'\u2019-])[A-Z][\w'\u2019-]*\w(?:\s+(?:(?:of|de|da|von|van|al|bin)\s+)?[A-Z][\w'\u2019-]*\w)*")
WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
# a question answered by a number or a date: its key words are the answer's numbers first, else its names
ASKS_NUMBER = re.compile(r"\b(?:how\s+(?:many|much|long|far|old|tall|high|big|large|often|deep|wide|heavy)|when|"
                         r"(?:what|which)\s+(?:year|date|day|month|time|percentage|number|amount))\b", re.I)


# ---------------------------------------------------------------- feedback into a case


def verdict_of(verdict: Any) -> str:
    """A verdict as one of ``VERDICTS`` ("up", "👍" and True read as "right"); ``GoldFileError`` otherwise."""
    word = str(verdict).strip().lower().replace("_", "-").replace(" ", "-")
    word = VERDICT_WORDS.get(word, word)
    if word not in VERDICTS:
        raise GoldFileError(f"the verdict must be one of {', '.join(VERDICTS)} (or up/down), got {verdict!r}")
    return word


def split_words(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """What a person typed as expected words: one per line or separated by ";" (a comma belongs to numbers
    like 6,01,427), trimmed, empty ones dropped, each once."""
    if text is None:
        return ()
    parts = text if isinstance(text, (list, tuple)) else re.split(r"[;\n]", str(text))
    return tuple(dict.fromkeys(p.strip() for p in map(str, parts) if p.strip()))


def key_words(answer: Answer, asked: Iterable[str] = ()) -> tuple[str, ...]:
    """The words an answer is right by, of one kind, the most telling first: its short answer
    (``Answer.span``) when the reader found one; else the numbers of its cited quotes that the question (and
    ``asked``) does not say, or their names that share no word with the question ("General Sergey Shoigu",
    not "Defence Minister Rajnath Singh" for "Who was Rajnath Singh's counterpart?"), numbers first for a
    question of how many, how long or when; else the names that add something to it; at most
    ``MAX_KEY_WORDS``; the first quote itself when it names nothing new."""
    said = set(normalise(" ".join([answer.question, *asked])).split())
    quotes = [FOOTNOTE.sub(" ", c.quote) for c in answer.citations]
    numbers = [m.group() for q in quotes for m in NUMBER.finditer(q)]
    names = []
    for m in (m for q in quotes for m in NAME.finditer(q)):
        words = m.group().split()
        while words and words[0].lower() in STOPWORDS:  # "The", "In", "He": a sentence's opener
            words.pop(0)
        names.append(" ".join(words))
    span = answer.span
    fresh = [n for n in names if not set(normalise(n).split()) & said]
    kinds = ([[span["text"]] if span else [], numbers, fresh, names] if ASKS_NUMBER.search(answer.question)
             else [[span["text"]] if span else [], fresh, numbers, names])
    for kind in kinds:
        found: list[str] = []
        for word in kind:
            word = word.strip(" .,;:'\u2019-")
            norm = normalise(word)
            if norm and not set(norm.split()) <= said and all(normalise(w) != norm for w in found):
                found.append(word)
        if found:
            return tuple(found[:MAX_KEY_WORDS])
    return (" ".join(quotes[0].split()),) if quotes else ()


def case_from_answer(answer: Answer, verdict: Any, correction: str | Sequence[str] | None = None,
                     history: Sequence[str] = ()) -> GoldCase:
    """The gold case that feedback on ``answer`` makes (see ``Assistant.gold_case``): tagged ``from-chat`` and
    the question's kind; a follow-up's turns are the conversation's earlier questions (``history``) and it."""
    verdict = verdict_of(verdict)
    words = split_words(correction)
    # a follow-up (asked as another query than it was typed: "who was his counterpart?") keeps the questions
    # before it; a question that stands on its own is a case of its own wherever it was asked
    follow_up = bool(history) and normalise(answer.query or answer.question) != normalise(answer.question)
    turns = (tuple(str(t) for t in history) if follow_up else ()) + (answer.question,)
    tags = tuple(dict.fromkeys((CHAT_TAG, answer.kind or "fact")))
    case = GoldCase(id=case_id(turns), turns=turns, tags=tags)
    if verdict == "should-refuse" or (verdict == "right" and answer.refused):
        return dataclasses.replace(case, refuse=True)
    if verdict == "right":
        sources = (answer.citations[0].doc_id,) if answer.citations else ()
        return dataclasses.replace(case, expect_any=words or key_words(answer, history), sources=sources)
    if not words:  # wrong, or should have answered: only the person knows the right answer
        if answer.refused or verdict == "should-answer":
            raise GoldFileError("type the answer it should have given, in a few words")
        raise GoldFileError("type the right answer in a few words, or choose that it should refuse")
    return dataclasses.replace(case, expect_any=words)


def case_id(turns: Sequence[str]) -> str:
    """A readable id from the question's words: "ak-203-rifles-india-buy"."""
    text = re.sub(r"['\u2019]s\b", "", normalise_case(turns[-1]))  # "moscow's" -> "moscow"
    words = [w for w in WORD.findall(text) if w not in STOPWORDS and w not in {"many", "much"}]
    return "-".join(words[:MAX_ID_WORDS])[:60].strip("-") or "case"


def normalise_case(text: str) -> str:
    return " ".join(text.lower().split())


def question_key(case: GoldCase) -> tuple[str, ...]:
    """What makes two cases the same question: their turns, normalised."""
    return tuple(normalise(t) for t in case.turns)


def case_to_dict(case: GoldCase) -> dict[str, Any]:
    """A case as its gold file holds it: only the fields it sets, in the README's order."""
    data: dict[str, Any] = {"id": case.id}
    if len(case.turns) == 1:
        data["question"] = case.turns[0]
    else:
        data["turns"] = list(case.turns)
    for name in ("expect_any", "expect_all"):
        if getattr(case, name):
            data[name] = list(getattr(case, name))
    if case.refuse:
        data["refuse"] = True
    if case.sources:
        data["sources"] = list(case.sources)
    if case.location:
        data["location"] = dict(case.location)
    if case.tags:
        data["tags"] = list(case.tags)
    return data


def baseline_path(gold_file: str | Path) -> Path:
    """Where the baseline run of a gold file is kept: ``seed.yaml`` -> ``seed.baseline.json``, beside it."""
    gold_file = Path(gold_file)
    return gold_file.with_name(f"{gold_file.stem}.baseline.json")


# ---------------------------------------------------------------- reading files to import or run


def read_cases(path: str | Path, max_file_mb: float | None = None) -> list[GoldCase]:
    """The cases of a gold file to import or run: the project's YAML or JSONL, or a CSV with a ``question``
    column and an ``answer`` one (alternatives separated by " | "; or ``refuse`` true), optional ``id``,
    ``tags``, ``sources``, ``turns``. ``GoldFileError`` in one line for a file over ``max_file_mb``, not
    valid or with no cases."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise GoldFileError(f"cannot read gold file {path} ({exc.strerror})") from None
    if max_file_mb is not None and size > max_file_mb * 1024 * 1024:
        raise GoldFileError(f"gold file {path.name} is {size / 1024 / 1024:.1f} MB, over the {max_file_mb:g} MB "
                            "limit (max_file_mb); split it into smaller files")
    if path.suffix.lower() == ".csv":
        return read_csv(path)
    if path.suffix.lower() not in (".yaml", ".yml", ".jsonl", ".json"):
        raise GoldFileError(f"{path.name} is not a gold file; give a .yaml, .jsonl or .csv file")
    return load_gold(path)


def read_csv(path: Path) -> list[GoldCase]:
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise GoldFileError(f"{path.name} is not UTF-8 text; save the CSV as UTF-8") from None
    try:
        rows = list(csv.DictReader(io.StringIO(raw)))
        columns = [c.strip().lower() for c in (csv.DictReader(io.StringIO(raw)).fieldnames or [])]
    except csv.Error as exc:
        raise GoldFileError(f"{path.name} is not a readable CSV ({exc})") from None
    if "question" not in columns and "turns" not in columns:
        raise GoldFileError(f"{path.name} has no question column; its first line must name the columns, like "
                            "question,answer")
    items = []
    for n, row in enumerate(rows, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items() if isinstance(v, str)}
        if not any(row.values()):
            continue
        question = row.get("question", "")
        turns = split_list(row.get("turns", "")) or ((question,) if question else ())
        refuse = row.get("refuse", "").lower() in ("1", "true", "yes", "y")
        item: dict[str, Any] = {"id": row.get("id") or case_id(turns or ("case",)), "turns": list(turns),
                                "expect_any": list(split_list(row.get("answer", "") or row.get("expect_any", ""))),
                                "expect_all": list(split_list(row.get("expect_all", ""))), "refuse": refuse,
                                "sources": list(split_list(row.get("sources", ""))),
                                "tags": list(split_list(row.get("tags", "")))}
        if not turns:
            raise GoldFileError(f"{path.name}, line {n}: the question is empty")
        if not refuse and not item["expect_any"] and not item["expect_all"]:
            raise GoldFileError(f"{path.name}, line {n}: no answer; give the right answer in a few words, "
                                "or refuse: true")
        items.append(item)
    if not items:
        raise GoldFileError(f"{path.name} has no cases; add a line for each question")
    return gold_cases(unique_ids(items), path)


def split_list(cell: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in cell.split(CSV_LIST.strip()) if p.strip())


def unique_ids(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ids made unique within a file by a number: rifles, rifles-2, ..."""
    taken: set[str] = set()
    for item in items:
        base, n = item["id"], 1
        while item["id"] in taken:
            n += 1
            item["id"] = f"{base}-{n}"
        taken.add(item["id"])
    return items


# ---------------------------------------------------------------- the file


class GoldFile:
    """One gold file (YAML, or JSONL when it ends in .jsonl), changed safely by many writers at once.

    A missing or empty file holds no cases; a file that is not valid YAML/JSONL is a ``GoldFileError`` and
    is left exactly as it is.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()

    @property
    def jsonl(self) -> bool:
        return self.path.suffix.lower() == ".jsonl"

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(f".{self.path.name}.lock")

    def cases(self) -> list[GoldCase]:
        """The file's cases as they are now ([] when there is no file yet)."""
        return parse_gold(self._text(), self.path)

    def get(self, case_id: str) -> GoldCase:
        for case in self.cases():
            if case.id == case_id:
                return case
        raise GoldFileError(f"no case {case_id!r} in {self.path}; `assistant gold list` shows the ids")

    def save(self, case: GoldCase) -> GoldCase:
        """Add ``case``, or update the case of the same question (its id kept); returns the case as saved."""
        return self.save_all([case])[0][0]

    def save_all(self, cases: Sequence[GoldCase]) -> tuple[list[GoldCase], int]:
        """Add or update every case in one write: (the cases as saved, how many were updates)."""
        with self._locked():
            text = self._text()
            held = parse_gold(text, self.path)
            saved, updated = [], 0
            for case in cases:
                old = next((i for i, c in enumerate(held) if question_key(c) == question_key(case)), None)
                if old is not None:
                    case = dataclasses.replace(case, id=held[old].id)
                    text = self._replace(text, held, old, case)
                    held[old] = case
                    updated += 1
                else:
                    case = dataclasses.replace(case, id=free_id(case.id, {c.id for c in held}))
                    text = self._append(text, held, case)
                    held.append(case)
                saved.append(case)
            self._write(text, held)
        return saved, updated

    def remove(self, case_id: str) -> GoldCase:
        """Take the case ``case_id`` out of the file; returns it."""
        with self._locked():
            text = self._text()
            held = parse_gold(text, self.path)
            index = next((i for i, c in enumerate(held) if c.id == case_id), None)
            if index is None:
                raise GoldFileError(f"no case {case_id!r} in {self.path}; `assistant gold list` shows the ids")
            text = self._replace(text, held, index, None)
            removed = held.pop(index)
            self._write(text, held)
        return removed

    def export(self, fmt: str) -> str:
        """The cases as ``yaml``, ``jsonl`` or ``csv`` text (question, answer, refuse, tags, ...)."""
        cases = self.cases()
        if fmt == "jsonl":
            return "".join(json.dumps(case_to_dict(c), ensure_ascii=False) + "\n" for c in cases)
        if fmt == "yaml":
            return dump_yaml(cases)
        if fmt == "csv":
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(["id", "question", "answer", "expect_all", "refuse", "sources", "tags", "turns"])
            for c in cases:
                writer.writerow([c.id, c.question, CSV_LIST.join(c.expect_any), CSV_LIST.join(c.expect_all),
                                 "true" if c.refuse else "", CSV_LIST.join(c.sources), CSV_LIST.join(c.tags),
                                 CSV_LIST.join(c.turns) if len(c.turns) > 1 else ""])
            return out.getvalue()
        raise GoldFileError(f"export format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")

    # ------------------------------------------------------------ reading and writing

    def _text(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return ""
        except UnicodeDecodeError:
            raise GoldFileError(f"gold file {self.path} is not UTF-8 text; fix or move it") from None
        except OSError as exc:
            raise GoldFileError(f"cannot read gold file {self.path} ({exc.strerror})") from None

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer at a time, across threads and processes: an exclusive flock on the sidecar lock file
        (each ``open`` is a lock of its own, so two threads of one process wait for each other too)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock = open(self.lock_path, "a+b")
        except OSError as exc:
            raise GoldFileError(f"cannot write the gold file's folder {self.path.parent} ({exc.strerror})") from None
        with lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _write(self, text: str, cases: list[GoldCase]) -> None:
        """Write ``text`` in place of the file, after checking it reads back as ``cases`` (else the cases are
        written out anew: correct, without the comments that could not be kept)."""
        try:
            ok = [case_to_dict(c) for c in parse_gold(text, self.path)] == [case_to_dict(c) for c in cases]
        except GoldFileError:
            ok = False
        if not ok:
            text = ("".join(json.dumps(case_to_dict(c), ensure_ascii=False) + "\n" for c in cases) if self.jsonl
                    else dump_yaml(cases))
        write_atomic(self.path, text)

    def _append(self, text: str, held: list[GoldCase], case: GoldCase) -> str:
        if self.jsonl:
            return text + ("" if not text or text.endswith("\n") else "\n") + json.dumps(case_to_dict(case),
                                                                                         ensure_ascii=False) + "\n"
        if not text.strip():
            return HEADER + "\n" + case_yaml(case)
        # appended as text; a file that is not a block list ("[{...}]") reads back wrong and is written anew (_write)
        return text + ("" if text.endswith("\n") else "\n") + "\n" + case_yaml(case)

    def _replace(self, text: str, held: list[GoldCase], index: int, case: GoldCase | None) -> str:
        """``text`` with case ``index`` of ``held`` replaced by ``case`` (removed for None), where it stands."""
        if self.jsonl:
            lines = [line for line in text.splitlines() if line.strip()]
            lines[index:index + 1] = [] if case is None else [json.dumps(case_to_dict(case), ensure_ascii=False)]
            return "".join(line + "\n" for line in lines)
        span = item_lines(text, index)
        kept = [c for i, c in enumerate(held) if i != index]
        if span is None:
            return dump_yaml(kept if case is None else [*held[:index], case, *held[index + 1:]])
        lines = text.splitlines(keepends=True)
        start, end, indent = span
        new = [] if case is None else [indent + line if line.strip() else line
                                       for line in case_yaml(case).splitlines(keepends=True)]
        if case is None and 0 < start and end < len(lines) and not lines[start - 1].strip() and not lines[end].strip():
            end += 1  # the blank line that kept it apart goes with it
        return "".join(lines[:start] + new + lines[end:])


def free_id(wanted: str, taken: set[str]) -> str:
    if wanted not in taken:
        return wanted
    n = 2
    while f"{wanted}-{n}" in taken:
        n += 1
    return f"{wanted}-{n}"


def case_yaml(case: GoldCase) -> str:
    """One case as a YAML list item, as its gold file holds it."""
    return yaml.safe_dump([case_to_dict(case)], sort_keys=False, allow_unicode=True, default_flow_style=None,
                          width=110)


def dump_yaml(cases: Sequence[GoldCase]) -> str:
    return HEADER + "".join("\n" + case_yaml(c) for c in cases)


def item_lines(text: str, index: int) -> tuple[int, int, str] | None:
    """Lines ``[start, end)`` of the ``index``-th item of a YAML block list and its indent, from its "- " to
    its last value (the comments and blank lines after it stay); None where the layout is not that plain."""
    try:
        root = yaml.compose(text, Loader=FAST_LOADER)
    except yaml.YAMLError:
        return None
    if not isinstance(root, yaml.SequenceNode) or root.flow_style or index >= len(root.value):
        return None
    node = root.value[index]
    if not isinstance(node, yaml.MappingNode) or node.flow_style or node.start_mark.column < 2:
        return None
    line = text.splitlines()[node.start_mark.line]
    dash = node.start_mark.column - 2
    if line[dash:node.start_mark.column] != "- " or line[:dash].strip():
        return None
    end = last_mark(node)
    return node.start_mark.line, end.line + (1 if end.column else 0), line[:dash]


def last_mark(node: yaml.Node) -> Any:
    """Where a node's own text ends: a block collection's end mark lies past the comments after it."""
    while isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and not node.flow_style and node.value:
        last = node.value[-1]
        node = last[1] if isinstance(node, yaml.MappingNode) else last
    return node.end_mark


def write_atomic(path: Path, text: str) -> None:
    """``text`` as the whole of ``path``: written to a temporary file beside it, synced, then put in its place
    in one step, so a reader or a crash sees the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~umask())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    try:
        folder = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(folder)  # the rename itself survives a power cut
    finally:
        os.close(folder)


def umask() -> int:
    """The process's umask, read without changing it (os.umask sets it, for every thread at once)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022
