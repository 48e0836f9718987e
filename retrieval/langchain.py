"""citeqa's retrieval as a LangChain retriever, for chains with your own model and prompt.

    from retrieval.langchain import CiteqaRetriever
    from retrieval.qa import QA
    from retrieval.settings import Settings

    retriever = CiteqaRetriever(qa=QA(Settings()), k=5)
    docs = retriever.invoke("消极安全保证是什么？")  # [] when the collection holds no answer

Each `Document` is one cited passage, verbatim from its source, with where it stands in
`metadata`. A question citeqa declines returns no documents, so a chain can say so instead of
letting its model answer from nothing.
"""

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from retrieval.qa import QA
from retrieval.types import Citation


class CiteqaRetriever(BaseRetriever):
    """Returns the passages citeqa cites for a question, best first; none when it declines."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    qa: QA
    k: int = Field(5, ge=1, le=20, description="How many cited passages to return at most.")
    source: str | None = Field(None, description="Only passages of this document.")

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None
    ) -> list[Document]:
        """Return the cited passages; `k` (as in `invoke(query, k=3)`) overrides the field."""
        k = k or self.k
        answer = self.qa.ask(query, k=k, source=self.source)
        if answer.abstained:
            return []
        return [_document(c) for c in answer.citations[:k]]


def _document(citation: Citation) -> Document:
    metadata: dict[str, Any] = {
        "n": citation.n,
        "source": citation.source,
        "title": citation.title,
        "locator": citation.locator,
        "start": citation.start,
        "end": citation.end,
        "score": citation.score,
    }
    return Document(page_content=citation.text, metadata=metadata, id=citation.chunk_id or None)
