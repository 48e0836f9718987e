"""A running QA picks up an ingest finished by another process, whole, without restart."""

import threading

from retrieval.qa import QA
from retrieval.settings import Settings
from retrieval.store import Store
from tests.conftest import run_citeqa, settings_env

NEW = "南极条约协商国会议讨论了冰川保护。企鹅栖息地受到严格保护。"


def _ingest(settings: Settings) -> None:
    out = run_citeqa(settings_env(settings), "ingest", "--quiet")
    assert out.returncode == 0, out.stderr


def test_a_finished_ingest_is_picked_up_without_restart(hashed: Settings) -> None:
    qa = QA(hashed)
    before = qa.searcher.generation
    assert not qa.refresh(force=True)  # nothing new
    assert all("南极" not in p.chunk.text for p in qa.retrieve("南极条约 企鹅").passages)
    (hashed.data_dir / "antarctica.md").write_text(f"# 南极\n\n{NEW}\n", "utf-8")
    _ingest(hashed)  # another process
    assert qa.refresh(force=True)
    assert qa.searcher.generation != before
    top = qa.retrieve("南极条约 企鹅").passages[0]
    assert "南极" in top.chunk.text and top.dense_rank is not None  # vectors seen too
    assert "antarctica.md" in qa.sources


def test_answers_during_a_reload_come_from_one_generation(hashed: Settings) -> None:
    qa = QA(hashed)
    (hashed.data_dir / "antarctica.md").write_text(f"# 南极\n\n{NEW}\n", "utf-8")
    errors: list[BaseException] = []
    done = threading.Event()

    def ask_repeatedly() -> None:
        while not done.is_set():
            try:
                answer = qa.ask("南极条约协商国会议讨论了什么？")
                for c in answer.citations:  # every citation is a passage of the index in use
                    assert qa.chunk(c.chunk_id) is not None or "南极" in c.text
            except BaseException as e:
                errors.append(e)
                return

    asker = threading.Thread(target=ask_repeatedly)
    asker.start()
    _ingest(hashed)
    qa.refresh(force=True)
    done.set()
    asker.join(60)
    assert not errors
    assert any("南极" in c.text for c in qa.ask("南极条约协商国会议讨论了什么？").citations)


def test_a_store_opened_before_another_ingest_reads_the_vectors_it_can(hashed: Settings) -> None:
    """Chroma in this process has not loaded the vectors another process added: reading them
    skips those instead of failing the question."""
    store = Store(hashed)
    old = list(store.ids())
    assert len(store.embeddings(old[:5])) == 5
    (hashed.data_dir / "antarctica.md").write_text(f"# 南极\n\n{NEW}\n", "utf-8")
    _ingest(hashed)
    new = [cid for cid in Store(hashed, fresh=True).ids() if cid not in set(old)]
    assert new
    got = store.embeddings(old[:5] + new)
    assert set(old[:5]) <= set(got) <= set(old[:5] + new)
