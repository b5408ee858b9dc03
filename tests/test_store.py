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
from assistant.store import IndexStore, UpdateReport, new_manifest

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
    assert set(snap.vectors._node_id_to_faiss_id_map) == set(snap.passages)
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
        "format": 2, "embed_model": "fake-hash", "dimension": 64, "chunk_size": 240, "chunk_overlap": 32,
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
    assert not (set(old) - set(new)) & set(snap.vectors._node_id_to_faiss_id_map)
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
    assert "rivers.txt#0-145" not in snap.vectors._node_id_to_faiss_id_map
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
    assert [n for n in snap.vectors._node_id_to_faiss_id_map if n.startswith("rocket.txt#")] == []
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


@pytest.mark.parametrize("victim", [FAISS_FILE, "manifest.json", "docstore.json", "id_map.json", "documents.json"])
def test_corrupt_index_is_reported_in_one_line_and_repaired(fake_bot, docs_dir, fake_settings, victim):
    (live_snapshot(fake_settings.index_dir) / victim).write_bytes(b"\x00garbage{not json")
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
