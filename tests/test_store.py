"""The index on disk: incremental updates, model/chunk mismatches, corruption, stale snapshots, locking."""

from __future__ import annotations

import fcntl
import json
import os
import threading
from pathlib import Path

import pytest
from fakes import HashEmbedding, SlowHashEmbedding

from assistant import Assistant
from assistant.documents import load_documents
from assistant.errors import IndexBusyError, IndexCorruptError, IndexMismatchError, IndexMissingError
from assistant.store import FORMAT_VERSION, IndexStore, UpdateReport, new_manifest

FAISS_FILE = "default__vector_store.json"  # FaissMapVectorStore's binary FAISS index (despite the name)


class RecordingEmbedding(HashEmbedding):
    """The fake model, remembering every text it embedded for an index update."""

    embedded: list = []

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        self.embedded.extend(texts)
        return super()._get_text_embeddings(texts)


def current_name(index_dir: Path) -> str:
    return (index_dir / "CURRENT").read_text(encoding="utf-8").strip()


def live_snapshot(index_dir: Path) -> Path:
    return index_dir / "snapshots" / current_name(index_dir)


def passages_of(bot: Assistant, doc_id: str) -> list[str]:
    return sorted(pid for pid, p in bot.snapshot.passages.items() if p.doc_id == doc_id)


def check_consistent(index_dir: Path) -> None:
    """The live snapshot on disk: every passage has exactly one vector and every vector a passage."""
    snap = IndexStore(index_dir).load()
    assert snap.vectors.size == len(snap.passages)
    assert snap.vectors.passage_ids() == set(snap.passages)
    assert sorted(snap.documents) == sorted(snap.manifest["documents"])
    assert {p.doc_id for p in snap.passages.values()} == set(snap.documents)
    for p in snap.passages.values():
        assert snap.documents[p.doc_id].text[p.start:p.end] == p.text
    for doc_id, entry in snap.manifest["documents"].items():
        assert entry["passages"] == sum(1 for p in snap.passages.values() if p.doc_id == doc_id)


def report_dict(report: UpdateReport) -> dict:
    return {
        "added": report.added, "changed": report.changed, "deleted": report.deleted,
        "unchanged": report.unchanged, "passages_embedded": report.passages_embedded, "rebuilt": report.rebuilt,
    }


@pytest.fixture
def recorder():
    model = RecordingEmbedding()
    model.embedded = []
    return model


def build(docs_dir, settings, embedder=None, **kwargs) -> Assistant:
    return Assistant.from_folder(docs_dir, settings=settings, embedder=embedder, **kwargs)


# ------------------------------------------------------------------ incremental updates


def test_first_build_adds_everything(fake_bot, fake_settings):
    report = fake_bot.last_update
    assert report_dict(report) == {
        "added": ["bakery.txt", "rivers.txt", "rocket.txt"], "changed": [], "deleted": [], "unchanged": [],
        "passages_embedded": 3, "rebuilt": "",
    }
    assert report.summary() == "3 added, 0 changed, 0 deleted, 0 unchanged, 3 passages embedded"
    assert [(d.doc_id, d.title, d.passages) for d in fake_bot.documents] == [
        ("bakery.txt", "Bakery", 1), ("rivers.txt", "Rivers", 1), ("rocket.txt", "Rocket", 1),
    ]
    manifest = fake_bot.snapshot.manifest
    assert {k: manifest[k] for k in ("format", "embed_model", "dimension", "chunk_size", "chunk_overlap")} == {
        "format": FORMAT_VERSION, "embed_model": "fake-hash", "dimension": 64, "chunk_size": 240, "chunk_overlap": 32,
    }
    check_consistent(fake_settings.index_dir)


def test_unchanged_folder_embeds_nothing_and_keeps_the_snapshot(fake_bot, docs_dir, fake_settings, recorder):
    before = current_name(fake_settings.index_dir)
    bot = build(docs_dir, fake_settings, recorder)
    assert report_dict(bot.last_update) == {
        "added": [], "changed": [], "deleted": [], "unchanged": ["bakery.txt", "rivers.txt", "rocket.txt"],
        "passages_embedded": 0, "rebuilt": "",
    }
    assert recorder.embedded == []
    assert current_name(fake_settings.index_dir) == before
    assert sorted(p.name for p in (fake_settings.index_dir / "snapshots").iterdir()) == [before]
    # and refresh() on a live assistant does the same
    assert bot.refresh().touched is False
    assert current_name(fake_settings.index_dir) == before


def test_unchanged_documents_read_through_another_path_are_not_re_embedded(fake_bot, docs_dir, fake_settings,
                                                                           recorder, monkeypatch):
    """The design promises content hashes so unchanged text is never embedded twice. The document hash
    includes metadata["source"], which defaults to the file path *as given* (docs/rivers.txt vs
    /tmp/.../docs/rivers.txt), so naming the same folder another way re-embeds every document."""
    monkeypatch.chdir(docs_dir.parent)
    bot = build(Path("docs"), fake_settings, recorder)
    assert report_dict(bot.last_update)["passages_embedded"] == 0
    assert recorder.embedded == []


def test_adding_a_file_embeds_only_its_passages(fake_bot, docs_dir, fake_settings, recorder):
    old_ids = sorted(fake_bot.snapshot.passages)
    assert old_ids == [f"{name}#0-{len((docs_dir / name).read_text(encoding='utf-8'))}"
                       for name in ("bakery.txt", "rivers.txt", "rocket.txt")]
    (docs_dir / "zoo.txt").write_text("The zoo keeps two tigers. Tigers eat meat.", encoding="utf-8")
    bot = build(docs_dir, fake_settings, recorder)
    assert report_dict(bot.last_update) == {
        "added": ["zoo.txt"], "changed": [], "deleted": [], "unchanged": ["bakery.txt", "rivers.txt", "rocket.txt"],
        "passages_embedded": 1, "rebuilt": "",
    }
    # the passage, then its sentences (a model without encode_spans embeds them one by one)
    assert recorder.embedded == ["title: Zoo\n\nThe zoo keeps two tigers. Tigers eat meat.",
                                 "The zoo keeps two tigers.", "Tigers eat meat."]
    assert sorted(bot.snapshot.passages) == sorted(old_ids + ["zoo.txt#0-42"])
    check_consistent(fake_settings.index_dir)


def test_changing_a_file_re_embeds_only_it_and_drops_its_old_passages(docs_dir, fake_settings, recorder):
    small = fake_settings.replace(chunk_size=32, chunk_overlap=0)  # several passages per document
    first = build(docs_dir, small)
    old = passages_of(first, "rivers.txt")
    assert len(old) > 1
    new_text = "The Alder river is short.\n\nIt floods every winter. Nobody swims in it."
    (docs_dir / "rivers.txt").write_text(new_text, encoding="utf-8")
    bot = build(docs_dir, small, recorder)
    report = bot.last_update
    assert (report.added, report.changed, report.deleted, report.unchanged, report.rebuilt) == (
        [], ["rivers.txt"], [], ["bakery.txt", "rocket.txt"], "")
    new = passages_of(bot, "rivers.txt")
    passages_embedded = [text for text in recorder.embedded if text.startswith("title: ")]  # not the sentences
    assert report.passages_embedded == len(new) == len(passages_embedded)
    assert all(text.startswith("title: Rivers\n\n") for text in passages_embedded)
    squash = lambda text: "".join(text.split())  # noqa: E731 - passages (no overlap) spell the new text
    assert squash("".join(bot.snapshot.passages[p].text for p in new)) == squash(new_text)
    assert set(old) - set(new), "the old passages are gone"
    snap = IndexStore(fake_settings.index_dir).load()
    assert not (set(old) - set(new)) & set(snap.passages)
    assert not (set(old) - set(new)) & snap.vectors.passage_ids()
    # the other documents kept their passages
    for doc_id in ("bakery.txt", "rocket.txt"):
        assert passages_of(bot, doc_id) == passages_of(first, doc_id)
    check_consistent(fake_settings.index_dir)


def test_changed_file_loses_its_old_passages_and_vectors(fake_bot, docs_dir, fake_settings):
    (docs_dir / "rivers.txt").write_text("The Alder river dried up in 2022.", encoding="utf-8")
    bot = build(docs_dir, fake_settings)
    assert bot.last_update.changed == ["rivers.txt"]
    assert bot.last_update.passages_embedded == 1
    assert passages_of(bot, "rivers.txt") == ["rivers.txt#0-33"]
    snap = IndexStore(fake_settings.index_dir).load()
    assert "rivers.txt#0-145" not in snap.passages
    assert "rivers.txt#0-145" not in snap.vectors.passage_ids()
    assert snap.vectors.size == len(snap.passages) == 3
    check_consistent(fake_settings.index_dir)


def test_deleting_a_file_removes_it_everywhere(fake_bot, docs_dir, fake_settings, recorder):
    assert any(p.doc_id == "rocket.txt" for p in fake_bot.retriever.search("Kestrel rocket fuel valve"))
    (docs_dir / "rocket.txt").unlink()
    bot = build(docs_dir, fake_settings, recorder)
    assert report_dict(bot.last_update) == {
        "added": [], "changed": [], "deleted": ["rocket.txt"], "unchanged": ["bakery.txt", "rivers.txt"],
        "passages_embedded": 0, "rebuilt": "",
    }
    assert recorder.embedded == []
    snap = IndexStore(fake_settings.index_dir).load()
    assert "rocket.txt" not in snap.manifest["documents"]
    assert "rocket.txt" not in snap.documents
    assert [p for p in snap.passages.values() if p.doc_id == "rocket.txt"] == []
    assert [n for n in snap.vectors.passage_ids() if n.startswith("rocket.txt#")] == []
    assert snap.vectors.size == len(snap.passages) == 2
    check_consistent(fake_settings.index_dir)
    # search and answers never bring back a deleted document
    for question in ["Kestrel rocket fuel valve", "When was the Kestrel rocket launched?", "rocket", "Andøya"]:
        assert all(p.doc_id != "rocket.txt" for p in bot.retriever.search(question, top_k=10))
        assert all(c.doc_id != "rocket.txt" for c in bot.ask(question).citations)


def test_add_change_and_delete_in_one_update(fake_bot, docs_dir, fake_settings):
    (docs_dir / "bakery.txt").unlink()
    (docs_dir / "rocket.txt").write_text("The Kestrel rocket flew again in 2022.", encoding="utf-8")
    (docs_dir / "sub").mkdir()
    (docs_dir / "sub" / "zoo.md").write_text("# Zoo\n\nThe zoo keeps two tigers.", encoding="utf-8")
    bot = build(docs_dir, fake_settings)
    assert report_dict(bot.last_update) == {
        "added": ["sub/zoo.md"], "changed": ["rocket.txt"], "deleted": ["bakery.txt"], "unchanged": ["rivers.txt"],
        "passages_embedded": 2, "rebuilt": "",
    }
    assert sorted(bot.snapshot.passages) == ["rivers.txt#0-145", "rocket.txt#0-38", "sub/zoo.md#0-32"]
    check_consistent(fake_settings.index_dir)


def test_file_names_sharing_a_prefix_keep_their_vectors(tmp_path, fake_settings):
    """Passages are named doc_id#start-end and PassageVectorStore.delete removes every vector whose id
    starts with f"{doc_id}#". Changing "a.txt" therefore also deletes the vectors of "a.txt#2.txt"
    (a legal file name) while its passages stay: the new snapshot is published inconsistent and
    loading it raises IndexCorruptError."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Apples grow on trees in orchards.", encoding="utf-8")
    (docs / "a.txt#2.txt").write_text("Bananas grow in tropical plantations.", encoding="utf-8")
    build(docs, fake_settings)
    (docs / "a.txt").write_text("Apples grow on trees in big orchards.", encoding="utf-8")
    bot = build(docs, fake_settings)
    assert bot.last_update.changed == ["a.txt"]
    check_consistent(fake_settings.index_dir)


# ------------------------------------------------------------------ settings that force a rebuild


def test_new_embedding_model_rebuilds(fake_bot, docs_dir, fake_settings):
    bot = build(docs_dir, fake_settings.replace(embed_model="fake-hash-b"))
    assert report_dict(bot.last_update) == {
        "added": ["bakery.txt", "rivers.txt", "rocket.txt"], "changed": [], "deleted": [], "unchanged": [],
        "passages_embedded": 3, "rebuilt": "embed_model is 'fake-hash' in the index but 'fake-hash-b' now",
    }
    assert bot.snapshot.manifest["embed_model"] == "fake-hash-b"
    check_consistent(fake_settings.index_dir)


@pytest.mark.parametrize(
    "changes, reason",
    [
        ({"chunk_size": 128}, "chunk_size is 240 in the index but 128 now"),
        ({"chunk_overlap": 0}, "chunk_overlap is 32 in the index but 0 now"),
    ],
)
def test_new_chunking_rebuilds(fake_bot, docs_dir, fake_settings, changes, reason):
    bot = build(docs_dir, fake_settings.replace(**changes))
    assert bot.last_update.rebuilt == reason
    assert bot.last_update.added == ["bakery.txt", "rivers.txt", "rocket.txt"]
    assert bot.last_update.summary().startswith(f"full rebuild ({reason}): 3 added")
    check_consistent(fake_settings.index_dir)


def test_rebuild_asked_for(fake_bot, docs_dir, fake_settings, recorder):
    bot = build(docs_dir, fake_settings, recorder, rebuild=True)
    assert bot.last_update.rebuilt == "asked for"
    assert bot.last_update.passages_embedded == len([t for t in recorder.embedded if t.startswith("title: ")]) == 3
    check_consistent(fake_settings.index_dir)


def test_no_update_with_another_model_is_a_mismatch(fake_bot, docs_dir, fake_settings):
    with pytest.raises(IndexMismatchError) as info:
        build(docs_dir, fake_settings.replace(embed_model="fake-hash-b"), update=False)
    message = str(info.value)
    assert "\n" not in message
    assert "embed_model is 'fake-hash' in the index but 'fake-hash-b' now" in message
    assert "assistant index" in message


def test_no_update_with_other_chunking_is_a_mismatch(fake_bot, docs_dir, fake_settings):
    with pytest.raises(IndexMismatchError, match="chunk_size is 240 in the index but 64 now"):
        build(docs_dir, fake_settings, update=False, chunk_size=64)


def test_no_update_loads_without_reading_documents(fake_bot, docs_dir, fake_settings):
    (docs_dir / "rivers.txt").unlink()  # ignored: the index is used as it is
    bot = build(docs_dir, fake_settings, update=False)
    assert sorted(bot.snapshot.documents) == ["bakery.txt", "rivers.txt", "rocket.txt"]
    assert bot.last_update is None


def test_no_update_without_an_index_is_index_missing(docs_dir, fake_settings):
    with pytest.raises(IndexMissingError, match="run `assistant index`"):
        build(docs_dir, fake_settings, update=False)


# ------------------------------------------------------------------ corruption and repair


@pytest.mark.parametrize("victim", [FAISS_FILE, "manifest.json", "docstore.json", "id_map.json", "documents.json",
                                    "bm25.npz", "bm25.json", "sentences.npz"])
@pytest.mark.parametrize("damage", ["garbage", "deleted"])
def test_corrupt_index_is_reported_in_one_line_and_repaired(fake_bot, docs_dir, fake_settings, victim, damage):
    path = live_snapshot(fake_settings.index_dir) / victim
    if damage == "deleted":
        path.unlink()
    else:
        path.write_bytes(b"\x00garbage{not json")
    with pytest.raises(IndexCorruptError) as info:
        IndexStore(fake_settings.index_dir).load()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"index in {fake_settings.index_dir} is unreadable")
    assert message.endswith("run `assistant index --rebuild` to rebuild it from the documents")
    with pytest.raises(IndexCorruptError):
        build(docs_dir, fake_settings, update=False)
    # an ordinary update notices and rebuilds from the documents
    bot = build(docs_dir, fake_settings)
    assert bot.last_update.rebuilt.startswith("previous index unusable: index in")
    assert bot.last_update.added == ["bakery.txt", "rivers.txt", "rocket.txt"]
    check_consistent(fake_settings.index_dir)
    check_lexical_and_sentences(fake_settings.index_dir)
    assert bot.ask("Who opened the Crumb bakery?").citations[0].doc_id == "bakery.txt"


def test_corrupt_index_repaired_by_refresh_rebuild(fake_bot, fake_settings):
    (live_snapshot(fake_settings.index_dir) / FAISS_FILE).write_bytes(b"garbage")
    report = fake_bot.refresh(rebuild=True)
    assert report.rebuilt == "asked for"
    check_consistent(fake_settings.index_dir)


def test_current_pointing_nowhere_is_corrupt(fake_bot, fake_settings):
    (fake_settings.index_dir / "CURRENT").write_text("20990101T000000-missing\n", encoding="utf-8")
    with pytest.raises(IndexCorruptError):
        IndexStore(fake_settings.index_dir).load()


def test_vectors_and_passages_out_of_step_is_corrupt(fake_bot, fake_settings):
    path = live_snapshot(fake_settings.index_dir) / "docstore.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    store = data["docstore/data"]
    store.pop(sorted(store)[0])
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(IndexCorruptError, match=r"inconsistent \(3 vectors, 3 BM25 rows, 3 sentence groups for 2 passages\)"):
        IndexStore(fake_settings.index_dir).load()


def test_future_format_is_a_mismatch(fake_bot, fake_settings):
    path = live_snapshot(fake_settings.index_dir) / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**manifest, "format": 99}), encoding="utf-8")
    with pytest.raises(IndexMismatchError, match="has format 99"):
        IndexStore(fake_settings.index_dir).load()


# ------------------------------------------------------------------ snapshots and locking


def test_stale_snapshots_and_temp_files_are_cleaned(fake_bot, docs_dir, fake_settings):
    index = fake_settings.index_dir
    live = current_name(index)
    (index / "snapshots" / ".tmp-20200101T000000-deadbeef").mkdir()
    (index / "snapshots" / ".tmp-20200101T000000-deadbeef" / "docstore.json").write_text("{partial")
    (index / "snapshots" / "20200101T000000-0ld0ld00").mkdir()
    (index / ".CURRENT.99999").write_text("half-written\n")
    bot = build(docs_dir, fake_settings)  # nothing changed, but the leftovers go
    assert bot.last_update.touched is False
    assert sorted(p.name for p in (index / "snapshots").iterdir()) == [live]
    assert not (index / ".CURRENT.99999").exists()


def test_an_update_replaces_the_live_snapshot(fake_bot, docs_dir, fake_settings):
    index = fake_settings.index_dir
    before = current_name(index)
    (docs_dir / "zoo.txt").write_text("The zoo keeps two tigers.", encoding="utf-8")
    build(docs_dir, fake_settings)
    after = current_name(index)
    assert after != before
    assert sorted(p.name for p in (index / "snapshots").iterdir()) == [after]
    assert sorted(p.name for p in index.iterdir()) == [".lock", "CURRENT", "snapshots"]


def test_update_while_another_holds_the_lock_is_busy(fake_bot, docs_dir, fake_settings):
    index = fake_settings.index_dir
    before = current_name(index)
    (docs_dir / "zoo.txt").write_text("The zoo keeps two tigers.", encoding="utf-8")
    with open(index / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(IndexBusyError) as info:
            fake_bot.refresh()
        assert "\n" not in str(info.value)
        assert "another process is updating the index" in str(info.value)
        # reading is never blocked by a writer
        assert IndexStore(index).load().manifest["documents"].keys() == {"bakery.txt", "rivers.txt", "rocket.txt"}
        fcntl.flock(lock, fcntl.LOCK_UN)
    assert current_name(index) == before
    assert fake_bot.refresh().added == ["zoo.txt"]


class SignallingSlowEmbedding(SlowHashEmbedding):
    """The slow fake that says when it has started embedding (the index lock is held by then)."""

    model_name: str = "fake-hash"  # same manifest as the other fakes

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        EMBEDDING_STARTED.set()
        return super()._get_text_embeddings(texts)


EMBEDDING_STARTED = threading.Event()


def test_two_concurrent_updates_second_is_busy(docs_dir, fake_settings):
    EMBEDDING_STARTED.clear()
    documents, _ = load_documents(docs_dir)
    base = new_manifest("fake-hash", 64, 256, 32)
    results: dict = {}

    def slow_update():
        try:
            results["slow"] = IndexStore(fake_settings.index_dir).update(documents, SignallingSlowEmbedding(), base)
        except Exception as exc:  # pragma: no cover - reported below
            results["slow"] = exc

    thread = threading.Thread(target=slow_update)
    thread.start()
    try:
        assert EMBEDDING_STARTED.wait(10)
        with pytest.raises(IndexBusyError):
            IndexStore(fake_settings.index_dir).update(documents, HashEmbedding(), base)
    finally:
        thread.join(30)
    snapshot, report = results["slow"]
    assert report.added == ["bakery.txt", "rivers.txt", "rocket.txt"]
    check_consistent(fake_settings.index_dir)


def test_slow_fake_is_registered():
    from assistant.embeddings import load_embedder

    model = load_embedder("fake-slow", batch_size=8)
    assert (model.model_name, model.dimension, model.embed_batch_size) == ("fake-slow", 64, 8)
    assert isinstance(model, SlowHashEmbedding)


def test_index_survives_a_crash_before_publish(fake_bot, docs_dir, fake_settings, monkeypatch):
    """A process killed after writing the new snapshot but before replacing CURRENT leaves the old one live."""
    before = current_name(fake_settings.index_dir)
    (docs_dir / "zoo.txt").write_text("The zoo keeps two tigers.", encoding="utf-8")

    def crash(self, name):
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(IndexStore, "_publish", crash)
    with pytest.raises(KeyboardInterrupt):
        build(docs_dir, fake_settings)
    monkeypatch.undo()
    assert current_name(fake_settings.index_dir) == before
    snap = IndexStore(fake_settings.index_dir).load()
    assert sorted(snap.documents) == ["bakery.txt", "rivers.txt", "rocket.txt"]
    bot = build(docs_dir, fake_settings)  # the next update cleans up and adds the file
    assert bot.last_update.added == ["zoo.txt"]
    assert len(os.listdir(fake_settings.index_dir / "snapshots")) == 1


# ------------------------------------------------------------------ BM25 rows and sentence vectors (format 2)

import numpy as np  # noqa: E402
from fakes import hash_vector  # noqa: E402

from assistant import Settings  # noqa: E402
from assistant.documents import sentence_spans  # noqa: E402
from assistant.errors import ConfigError  # noqa: E402
from assistant.lexical import BM25Index  # noqa: E402
from assistant.store import HNSW_FILE, SentenceVectors, faiss_ids  # noqa: E402

SNAPSHOT_FILES = [
    "bm25.json", "bm25.npz", FAISS_FILE, "docstore.json", "documents.json", "graph_store.json", "id_map.json",
    "image__vector_store.json", "index_store.json", "manifest.json", "sentences.npz",
]
NEEDED_FILES = {"bm25.json", "bm25.npz", "sentences.npz", "manifest.json", "documents.json", "docstore.json",
                FAISS_FILE, "id_map.json"}  # an incremental update writes no image__vector_store.json
BM25_QUERIES = ["Alder river", "bakery bread", "Kestrel rocket fuel valve", "tigers", "2021", "the", "zebra"]


def check_lexical_and_sentences(index_dir: Path) -> None:
    """The live snapshot's BM25 index is the one a fresh build over its passages gives, and each passage
    has its sentence group: the whole sentences it overlaps (document offsets), each with the vector of
    the part inside the passage."""
    snap = IndexStore(index_dir).load()
    assert sorted(snap.lexical.ids) == sorted(snap.passages)
    fresh = BM25Index.build({pid: p.text for pid, p in snap.passages.items()})
    assert sorted(snap.lexical.terms) == sorted(fresh.terms)
    for query in BM25_QUERIES:
        got, want = dict(snap.lexical.search(query, 100)), dict(fresh.search(query, 100))
        assert sorted(got) == sorted(want), query
        assert all(got[pid] == pytest.approx(want[pid], rel=1e-5) for pid in got), query
    assert sorted(snap.sentence_vectors.entries) == sorted(snap.passages)
    for pid, p in snap.passages.items():
        text = snap.documents[p.doc_id].text
        spans, vectors = snap.sentence_vectors.of(pid)
        expected = [(s, e) for s, e in sentence_spans(text) if e > p.start and s < p.end]
        assert [tuple(span) for span in spans.tolist()] == expected, pid
        assert expected, f"{pid} has no sentence"
        assert (spans.dtype, vectors.dtype, vectors.shape) == (np.int32, np.float16, (len(expected), 64))
        for (s, e), vector in zip(expected, vectors):
            assert 0 <= s < e <= len(text)
            part = text[max(s, p.start):min(e, p.end)]  # the fake embeds each sentence's part on its own
            np.testing.assert_allclose(vector.astype("float32"), hash_vector(part), atol=2e-3)


def test_snapshot_holds_bm25_and_sentence_files(fake_bot, fake_settings):
    assert sorted(p.name for p in live_snapshot(fake_settings.index_dir).iterdir()) == SNAPSHOT_FILES
    snap = IndexStore(fake_settings.index_dir).load()
    assert (len(snap.lexical), len(snap.sentence_vectors), snap.approximate) == (3, 3, None)
    assert snap.manifest["vector_index"] == "exact"
    check_lexical_and_sentences(fake_settings.index_dir)


def modify_add(docs_dir: Path) -> None:
    (docs_dir / "zoo.txt").write_text("The zoo keeps two tigers. Tigers eat meat.\n\nZebras graze.", encoding="utf-8")


def modify_change(docs_dir: Path) -> None:
    (docs_dir / "rivers.txt").write_text(
        "The Alder river is short.\n\nIt floods every winter. Nobody swims in it. Zebras drink from it.",
        encoding="utf-8")


def modify_delete(docs_dir: Path) -> None:
    (docs_dir / "bakery.txt").unlink()


def modify_all(docs_dir: Path) -> None:
    modify_add(docs_dir)
    modify_change(docs_dir)
    modify_delete(docs_dir)


@pytest.mark.parametrize("chunking", [{}, {"chunk_size": 32, "chunk_overlap": 8}], ids=["one-passage", "small-chunks"])
@pytest.mark.parametrize("modify", [modify_add, modify_change, modify_delete, modify_all])
def test_bm25_rows_and_sentence_groups_follow_the_passages(docs_dir, fake_settings, modify, chunking):
    settings = fake_settings.replace(**chunking)
    first = build(docs_dir, settings)
    check_lexical_and_sentences(settings.index_dir)
    modify(docs_dir)
    bot = build(docs_dir, settings)
    assert bot.last_update.touched and not bot.last_update.rebuilt
    snap = IndexStore(settings.index_dir).load()
    assert len(snap.lexical) == len(snap.sentence_vectors) == snap.vectors.size == len(snap.passages)
    if chunking:
        assert len(snap.passages) > len(snap.documents), "several passages per document"
    check_lexical_and_sentences(settings.index_dir)
    check_consistent(settings.index_dir)
    # passages of documents left alone keep their sentence groups as they were
    kept = set(first.snapshot.passages) & set(snap.passages)
    assert kept
    for pid in kept:
        before, after = first.snapshot.sentence_vectors.of(pid), snap.sentence_vectors.of(pid)
        np.testing.assert_array_equal(before[0], after[0])
        np.testing.assert_array_equal(before[1], after[1])


def test_a_changed_file_keeping_its_passage_id_gets_new_counts_vector_and_sentences(fake_bot, docs_dir, fake_settings):
    old_text = (docs_dir / "rivers.txt").read_text(encoding="utf-8")
    new_text = ("Zebras graze by the dry Alder. " * 10)[:len(old_text) - 1] + "."
    assert len(new_text) == len(old_text)
    (docs_dir / "rivers.txt").write_text(new_text, encoding="utf-8")
    bot = build(docs_dir, fake_settings)
    assert bot.last_update.changed == ["rivers.txt"]
    pid = f"rivers.txt#0-{len(old_text)}"
    assert passages_of(bot, "rivers.txt") == [pid]  # same id as before, new text
    snap = IndexStore(fake_settings.index_dir).load()
    assert snap.lexical.search("trout", 5) == []
    assert [p for p, _ in snap.lexical.search("zebras", 5)] == [pid]
    np.testing.assert_allclose(snap.vectors.vectors_of([pid])[0], hash_vector("title: Rivers\n\n" + new_text), atol=1e-6)
    check_lexical_and_sentences(fake_settings.index_dir)
    check_consistent(fake_settings.index_dir)


def test_bm25_rows_out_of_step_is_corrupt(fake_bot, fake_settings):
    path = live_snapshot(fake_settings.index_dir)
    BM25Index.load(path).updated(delete=["rivers.txt#0-145"]).save(path)
    with pytest.raises(IndexCorruptError) as info:
        IndexStore(fake_settings.index_dir).load()
    assert str(info.value) == (
        f"index in {fake_settings.index_dir} is inconsistent (3 vectors, 2 BM25 rows, 3 sentence groups for "
        "3 passages); run `assistant index --rebuild`")


def test_sentence_groups_out_of_step_is_corrupt(fake_bot, fake_settings):
    path = live_snapshot(fake_settings.index_dir)
    SentenceVectors.load(path).updated({}, {"rocket.txt#0-162"}).save(path)
    with pytest.raises(IndexCorruptError, match=r"inconsistent \(3 vectors, 3 BM25 rows, 2 sentence groups for 3 passages\)"):
        IndexStore(fake_settings.index_dir).load()


def test_sentence_vectors_round_trip(tmp_path):
    entries = {
        "a#0-9": (np.array([[0, 4], [5, 9]], dtype=np.int32), np.eye(2, 4, dtype=np.float16)),
        "b#0-3": (np.zeros((0, 2), dtype=np.int32), np.zeros((0, 4), dtype=np.float16)),  # no sentence
        "ü#3-7": (np.array([[3, 7]], dtype=np.int32), np.full((1, 4), 0.5, dtype=np.float16)),
    }
    SentenceVectors(entries).save(tmp_path)
    loaded = SentenceVectors.load(tmp_path)
    assert sorted(loaded.entries) == sorted(entries) and len(loaded) == 3
    for pid, (spans, vectors) in entries.items():
        np.testing.assert_array_equal(loaded.of(pid)[0], spans)
        np.testing.assert_array_equal(loaded.of(pid)[1], vectors)
    assert loaded.of("missing") is None


def set_manifest_format(index_dir: Path, version: int) -> None:
    path = live_snapshot(index_dir) / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**manifest, "format": version}), encoding="utf-8")


def test_a_format_1_index_is_rebuilt_by_an_update(fake_bot, docs_dir, fake_settings):
    set_manifest_format(fake_settings.index_dir, 1)
    bot = build(docs_dir, fake_settings)
    assert report_dict(bot.last_update) == {
        "added": ["bakery.txt", "rivers.txt", "rocket.txt"], "changed": [], "deleted": [], "unchanged": [],
        "passages_embedded": 3,
        "rebuilt": f"previous index unusable: index in {fake_settings.index_dir} has format 1, this version reads {FORMAT_VERSION}; "
                   "run `assistant index --rebuild`",
    }
    assert bot.snapshot.manifest["format"] == FORMAT_VERSION
    check_consistent(fake_settings.index_dir)
    check_lexical_and_sentences(fake_settings.index_dir)


def test_a_format_1_index_without_update_is_a_mismatch(fake_bot, docs_dir, fake_settings):
    set_manifest_format(fake_settings.index_dir, 1)
    with pytest.raises(IndexMismatchError) as info:
        build(docs_dir, fake_settings, update=False)
    assert str(info.value) == (f"index in {fake_settings.index_dir} has format 1, this version reads {FORMAT_VERSION}; "
                               "run `assistant index --rebuild`")


# ------------------------------------------------------------------ the HNSW graph (vector_index = "hnsw")


@pytest.fixture
def hnsw_settings(fake_settings) -> Settings:
    return fake_settings.replace(vector_index="hnsw")


@pytest.fixture
def hnsw_builds(monkeypatch) -> list:
    """Records every full HNSW (re)build."""
    from assistant.store import PassageVectorStore

    calls: list = []
    original = PassageVectorStore.hnsw

    def counting(self):
        calls.append(self.size)
        return original(self)

    monkeypatch.setattr(PassageVectorStore, "hnsw", counting)
    return calls


def check_hnsw(index_dir: Path) -> None:
    snap = IndexStore(index_dir).load()
    assert (live_snapshot(index_dir) / HNSW_FILE).is_file()
    assert snap.manifest["vector_index"] == "hnsw"
    assert snap.approximate is not None
    assert snap.approximate.ntotal == snap.vectors.size == len(snap.passages)
    exact_ids, _ = snap.vectors.all_vectors()
    assert sorted(faiss_ids(snap.approximate).tolist()) == sorted(exact_ids.tolist())


QUESTIONS = ["Who opened the Crumb bakery?", "Kestrel rocket fuel valve", "How long is the Alder river?", "tigers"]


def test_hnsw_index_is_written_and_searches_like_the_exact_one(docs_dir, hnsw_settings, tmp_path):
    bot = build(docs_dir, hnsw_settings)
    assert sorted(p.name for p in live_snapshot(hnsw_settings.index_dir).iterdir()) == sorted(SNAPSHOT_FILES + [HNSW_FILE])
    check_hnsw(hnsw_settings.index_dir)
    snap = bot.snapshot
    for question in QUESTIONS:
        vector = bot.retriever.embed_query(question)
        approximate, exact = snap.search(vector, 3), snap.vectors.search(vector, 3)
        assert [pid for pid, _ in approximate] == [pid for pid, _ in exact]
        assert [s for _, s in approximate] == pytest.approx([s for _, s in exact], abs=1e-5)
    exact_bot = build(docs_dir, hnsw_settings.replace(vector_index="exact", index_dir=tmp_path / "exact-index"))
    for question in QUESTIONS:
        assert bot.retriever.search(question, top_k=3) == exact_bot.retriever.search(question, top_k=3)


def test_hnsw_grows_with_an_added_file_without_a_rebuild(docs_dir, hnsw_settings, hnsw_builds, recorder):
    build(docs_dir, hnsw_settings)
    assert hnsw_builds == [3]
    modify_add(docs_dir)
    bot = build(docs_dir, hnsw_settings, recorder)
    assert bot.last_update.added == ["zoo.txt"]
    assert hnsw_builds == [3], "additions go into the existing graph"
    assert bot.snapshot.approximate.ntotal == 4
    check_hnsw(hnsw_settings.index_dir)
    assert bot.retriever.search("tigers zebras", top_k=1)[0].doc_id == "zoo.txt"


@pytest.mark.parametrize("modify, passages", [(modify_delete, 2), (modify_change, 3), (modify_all, 3)])
def test_hnsw_is_rebuilt_after_a_delete_or_change(docs_dir, hnsw_settings, hnsw_builds, modify, passages):
    build(docs_dir, hnsw_settings)
    modify(docs_dir)
    bot = build(docs_dir, hnsw_settings)
    assert hnsw_builds == [3, passages]
    assert bot.snapshot.approximate.ntotal == passages
    check_hnsw(hnsw_settings.index_dir)
    found = {p.doc_id for p in bot.retriever.search("Crumb bakery bread", top_k=5)}
    assert ("bakery.txt" in found) == (modify is modify_change)


def test_switching_between_exact_and_hnsw_re_embeds_nothing(docs_dir, fake_settings, hnsw_settings, recorder):
    index = fake_settings.index_dir
    build(docs_dir, fake_settings)
    before = current_name(index)
    bot = build(docs_dir, hnsw_settings, recorder)
    assert report_dict(bot.last_update) == {
        "added": [], "changed": [], "deleted": [], "unchanged": ["bakery.txt", "rivers.txt", "rocket.txt"],
        "passages_embedded": 0, "rebuilt": "",
    }
    assert current_name(index) != before, "a new snapshot, with the graph"
    check_hnsw(index)
    hnsw_name = current_name(index)
    bot = build(docs_dir, fake_settings, recorder)
    assert bot.last_update.passages_embedded == 0
    assert recorder.embedded == []
    assert current_name(index) != hnsw_name
    assert not (live_snapshot(index) / HNSW_FILE).exists()
    assert NEEDED_FILES <= {p.name for p in live_snapshot(index).iterdir()}
    snap = IndexStore(index).load()
    assert (snap.approximate, snap.manifest["vector_index"]) == (None, "exact")
    check_consistent(index)
    # and with nothing switched, nothing is written
    exact_name = current_name(index)
    assert build(docs_dir, fake_settings, recorder).last_update.touched is False
    assert current_name(index) == exact_name


def test_hnsw_index_loads_without_update(docs_dir, hnsw_settings):
    build(docs_dir, hnsw_settings)
    bot = build(docs_dir, hnsw_settings, update=False)
    assert bot.snapshot.approximate.ntotal == 3
    assert bot.retriever.search("Kestrel rocket", top_k=1)[0].doc_id == "rocket.txt"


def test_a_missing_hnsw_file_is_corrupt(docs_dir, hnsw_settings):
    build(docs_dir, hnsw_settings)
    (live_snapshot(hnsw_settings.index_dir) / HNSW_FILE).unlink()
    with pytest.raises(IndexCorruptError, match=r"run `assistant index --rebuild` to rebuild it from the documents$"):
        IndexStore(hnsw_settings.index_dir).load()
    bot = build(docs_dir, hnsw_settings)
    assert bot.last_update.rebuilt.startswith("previous index unusable")
    check_hnsw(hnsw_settings.index_dir)


def test_an_unknown_vector_index_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as info:
        Settings(vector_index="bogus", index_dir=tmp_path)
    assert str(info.value) == "vector_index must be exact or hnsw, got 'bogus'"
    with pytest.raises(ValueError, match="vector_index must be one of exact, hnsw"):
        new_manifest("fake-hash", 64, 240, 32, vector_index="bogus")


def test_a_moved_documents_folder_re_embeds_nothing(fake_bot, docs_dir, fake_settings, recorder, tmp_path):
    """A document's hash leaves out its absolute path (metadata["source"] when no file names a source), so
    the same folder copied or mounted elsewhere is unchanged; its title, date and text still count."""
    import shutil

    (docs_dir / "rivers.meta.yaml").write_text("date: 2020-02-02\n", encoding="utf-8")
    build(docs_dir, fake_settings)
    moved = tmp_path / "elsewhere" / "mounted"
    shutil.copytree(docs_dir, moved)
    bot = build(moved, fake_settings, recorder)
    assert report_dict(bot.last_update) == {
        "added": [], "changed": [], "deleted": [], "unchanged": ["bakery.txt", "rivers.txt", "rocket.txt"],
        "passages_embedded": 0, "rebuilt": "",
    }
    assert recorder.embedded == []
    (moved / "rivers.meta.yaml").write_text("date: 2021-03-03\n", encoding="utf-8")  # metadata still matters
    bot = build(moved, fake_settings, recorder)
    assert (bot.last_update.changed, bot.last_update.unchanged) == (["rivers.txt"], ["bakery.txt", "rocket.txt"])
    check_consistent(fake_settings.index_dir)


def test_a_long_document_gives_each_passage_its_sentences_without_scanning_them_all(tmp_path, fake_settings,
                                                                                     monkeypatch):
    """Each passage's sentences were found by a scan of all its document's sentences: passages x sentences
    steps, the square of a document's length (a 2 MB document of prose: 0.8 s, 20 MB: over a minute)."""
    from assistant.stores import snapshot

    class Sentences(list):
        scans = 0

        def __iter__(self):
            Sentences.scans += 1
            return super().__iter__()

    monkeypatch.setattr(snapshot, "sentence_spans", lambda text: Sentences(sentence_spans(text)))
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "log.txt").write_text(" ".join(f"The ferry left pier {n} at nine." for n in range(2000)), encoding="utf-8")
    bot = Assistant.from_folder(docs, settings=fake_settings)
    assert bot.passage_count > 20 and Sentences.scans <= 3  # the starts and ends listed once, not a scan a passage
    check_consistent(fake_settings.index_dir)  # each passage has exactly its sentences
