"""Questions answered from several threads while the index is refreshed (as a server does)."""

from __future__ import annotations

import threading

from assistant import Assistant


def test_asking_while_refreshing_never_mixes_old_and_new_index(docs_dir, fake_settings):
    bot = Assistant.from_folder(docs_dir, settings=fake_settings)
    errors: list[BaseException] = []
    stop = threading.Event()

    def ask_forever():
        while not stop.is_set():
            try:
                for question in ("How long is the Alder river?", "Who opened the Crumb bakery?",
                                 "What did the new leaflet announce?"):
                    answer = bot.ask(question)  # verify() checked each quote against the index it used
                    assert sorted(c.number for c in answer.citations) == list(range(1, len(answer.citations) + 1))
                    assert all(f"[{c.number}]" in answer.text for c in answer.citations)
            except BaseException as exc:  # noqa: BLE001 - collected and re-raised in the main thread
                errors.append(exc)
                return

    askers = [threading.Thread(target=ask_forever) for _ in range(3)]
    for t in askers:
        t.start()
    try:
        for i in range(5):
            (docs_dir / f"leaflet-{i}.txt").write_text(f"The new leaflet number {i} announced a harbour festival.")
            report = bot.refresh()
            assert report.added == [f"leaflet-{i}.txt"]
            (docs_dir / f"leaflet-{i}.txt").unlink()
            assert bot.refresh().deleted == [f"leaflet-{i}.txt"]
    finally:
        stop.set()
        for t in askers:
            t.join(timeout=30)
    assert errors == []
    assert sorted(d.doc_id for d in bot.documents) == ["bakery.txt", "rivers.txt", "rocket.txt"]


def test_concurrent_refreshes_in_one_process_wait_for_each_other(docs_dir, fake_settings):
    bot = Assistant.from_folder(docs_dir, settings=fake_settings)
    (docs_dir / "new.txt").write_text("A new note about the harbour.")
    reports, errors = [], []

    def refresh():
        try:
            reports.append(bot.refresh())
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=refresh) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert sorted(len(r.added) for r in reports) == [0, 0, 0, 1]

