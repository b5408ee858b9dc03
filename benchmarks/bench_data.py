"""The public evaluation sets in ../shared/benchmarks, read in place (never copied into the project).

Each loader returns a ``Dataset``: documents (id -> (title, text)), questions with the ids of the
documents that answer them (``relevant``), and for reading-comprehension sets the gold answer strings.

>>> data = xquad()                                   # doctest: +SKIP
>>> len(data.documents), len(data.questions)         # doctest: +SKIP
(240, 1190)
"""

from __future__ import annotations

import ast
import csv
import io
import json
import os
import random
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

VARIABLE = "ASSISTANT_BENCHMARK_DATA"
BESIDE = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"  # ../shared/benchmarks beside the checkout
SHARED = Path(os.environ.get(VARIABLE) or BESIDE)  # the variable alone, else beside the checkout: no machine's path


@dataclass
class Question:
    id: str
    text: str
    relevant: frozenset[str]  # ids of the documents that answer it (empty: unanswerable)
    answers: tuple[str, ...] = ()  # gold answer strings (reading-comprehension sets)
    about: str = ""  # the document it was written about, answerable or not (reading-comprehension sets)


@dataclass
class Dataset:
    name: str
    documents: dict[str, tuple[str, str]]  # id -> (title, text)
    questions: list[Question] = field(default_factory=list)

    def sample(self, n_questions: int, seed: int = 0) -> "Dataset":
        """A smaller set: ``n_questions`` questions drawn at random, all documents kept."""
        if n_questions >= len(self.questions):
            return self
        picked = random.Random(seed).sample(self.questions, n_questions)
        return Dataset(f"{self.name} (sample of {n_questions})", self.documents, picked)

    def subset(self, n_documents: int, n_questions: int, seed: int = 0) -> "Dataset":
        """A much smaller set (smoke runs): ``n_documents`` documents drawn at random and up to
        ``n_questions`` of the questions about them (unanswerable ones included: ``about``)."""
        rng = random.Random(seed)
        keep = set(rng.sample(sorted(self.documents), min(n_documents, len(self.documents))))
        about = [q for q in self.questions if (q.about in keep if q.about else q.relevant and q.relevant <= keep)]
        picked = rng.sample(about, min(n_questions, len(about)))
        return Dataset(f"{self.name} (subset of {len(keep)} documents)",
                       {d: text for d, text in self.documents.items() if d in keep}, picked)


def data_folder() -> Path:
    """The folder of the public sets: ``$ASSISTANT_BENCHMARK_DATA`` when it is set, else ../shared/benchmarks
    beside the checkout; neither there, one line that names both."""
    if SHARED.is_dir():
        return SHARED
    given = os.environ.get(VARIABLE)
    if given:
        raise SystemExit(f"error: no benchmark data: {VARIABLE}={given} is not a folder; point it at the shared "
                         f"benchmarks folder, or unset it to read ../shared/benchmarks beside the checkout ({BESIDE})")
    raise SystemExit(f"error: no benchmark data: ../shared/benchmarks beside the checkout ({BESIDE}) is missing and "
                     f"{VARIABLE} is not set; put the shared benchmarks folder there or set {VARIABLE} to it")


def _path(*parts: str) -> Path:
    path = data_folder().joinpath(*parts)
    if not path.exists():
        raise SystemExit(f"error: {path} not found in the benchmark data folder; use the whole shared benchmarks "
                         "folder")
    return path


def _squad(path: Path, name: str) -> Dataset:
    """SQuAD-format JSON: every paragraph is a document; a question is answered by its paragraph."""
    documents, questions = {}, []
    for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
        for i, paragraph in enumerate(article["paragraphs"]):
            doc_id = f"{article['title']}-{i:03d}"
            documents[doc_id] = (article["title"].replace("_", " "), paragraph["context"])
            for qa in paragraph["qas"]:
                impossible = qa.get("is_impossible", False)
                answers = tuple(dict.fromkeys(a["text"] for a in qa["answers"]))
                questions.append(Question(qa["id"], qa["question"], frozenset() if impossible else frozenset([doc_id]),
                                          answers, about=doc_id))
    return Dataset(name, documents, questions)


def xquad() -> Dataset:
    """XQuAD English: 240 paragraphs, 1,190 questions, each answered by one paragraph."""
    return _squad(_path("xquad", "xquad.en.json"), "XQuAD en")


def squad2() -> Dataset:
    """The SQuAD 2.0 dev slice: 83 paragraphs, 706 questions of which 320 are unanswerable."""
    return _squad(_path("squad2-subset", "dev-v2.0.subset.json"), "SQuAD 2.0 slice")


def scifact(split: str = "validation") -> Dataset:
    """BEIR's SciFact test, built as its SOURCE.txt says: 5,183 abstracts, 300 claims, 339 qrels.

    ``split="train"`` gives the training claims over the same abstracts: a development set for tuning
    that the reported test figures never see.
    """
    with zipfile.ZipFile(_path("scifact", "scifact.zip")) as archive:
        def rows(name: str) -> list[dict]:
            return list(csv.DictReader(io.TextIOWrapper(archive.open(name), encoding="utf-8")))

        documents = {}
        for row in rows("corpus_train.csv"):
            sentences = _printed_strings(row["abstract"])
            documents[row["doc_id"]] = (row["title"], " ".join(s.strip() for s in sentences))
        claims: dict[str, tuple[str, set[str]]] = {}
        for row in rows(f"claims_{split}.csv"):
            text, relevant = claims.setdefault(row["id"], (row["claim"], set()))
            relevant.update(re.findall(r"\d+", row["cited_doc_ids"]))  # "[ 5152028 11705328]" (numpy print)
    questions = [Question(qid, text, frozenset(str(d) for d in relevant)) for qid, (text, relevant) in claims.items()]
    questions = [q for q in questions if q.relevant]
    name = "SciFact (BEIR test)" if split == "validation" else f"SciFact ({split} claims)"
    return Dataset(name, documents, questions)


def _printed_strings(text: str) -> list[str]:
    """The strings of a printed numpy array: "['First.'\n 'Second.']" has no commas, so a plain
    ``literal_eval`` would glue the sentences together ("First.Second.")."""
    literal = r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\""
    return [ast.literal_eval(m) for m in re.findall(literal, text)]


def document_text(dataset: Dataset, doc_id: str) -> str:
    """What is indexed for a document: its title line, then its text (SciFact's titles carry meaning)."""
    title, text = dataset.documents[doc_id]
    return f"{title}\n\n{text}" if dataset.name.startswith("SciFact") else text


def write_folder(dataset: Dataset, folder: Path) -> dict[str, str]:
    """The dataset as a folder of .txt files; returns file name -> document id.

    Each file's title (which the assistant embeds as a header of every passage) carries no more than
    the alternatives see: SciFact's paper title moves from the text into the title; XQuAD and SQuAD
    paragraphs all get the dataset's name (their Wikipedia article titles would be extra information).
    """
    folder.mkdir(parents=True)
    names = {}
    for n, doc_id in enumerate(dataset.documents):
        name = f"d{n:05d}.txt"
        title, text = dataset.documents[doc_id]
        if not dataset.name.startswith("SciFact"):
            title = dataset.name.split(" (")[0]
        (folder / name).write_text(text, encoding="utf-8")
        (folder / f"d{n:05d}.meta.yaml").write_text(json.dumps({"title": title}), encoding="utf-8")
        names[name] = doc_id
    return names


if __name__ == "__main__":  # `python benchmarks/bench_data.py`: where the data is, or why it is not (.ci/run)
    print(data_folder())
