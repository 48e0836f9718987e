"""CiteqaRetriever: citeqa's cited passages as LangChain documents, in a real LCEL chain.

The chat model is LangChain's own fake (`FakeListChatModel`): no model can run here, and the
point is what the retriever hands the chain, which the test reads from the prompt it builds.
"""

import asyncio

from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompt_values import PromptValue
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda, RunnablePassthrough

from retrieval.langchain import CiteqaRetriever
from retrieval.qa import QA
from retrieval.settings import Settings
from retrieval.text import squash

ANSWERABLE = "哪个中东国家是唯一没有参加无大规模毁灭性武器区会议的国家？"
UNANSWERABLE = "明天北京的天气怎么样？"


def _format(docs: list[Document]) -> str:
    return "\n\n".join(f"[{d.metadata['n']}] {d.page_content}" for d in docs) or "(no passages)"


def test_documents_are_the_cited_passages_verbatim(real_index: Settings) -> None:
    qa = QA(real_index)
    docs = CiteqaRetriever(qa=qa, k=3).invoke(ANSWERABLE)
    answer = qa.ask(ANSWERABLE, k=3)
    assert docs and len(docs) <= 3
    assert [d.page_content for d in docs] == [c.text for c in answer.citations]
    for doc in docs:
        assert set(doc.metadata) == {"n", "source", "title", "locator", "start", "end", "score"}
        source = squash((real_index.data_dir / doc.metadata["source"]).read_text("utf-8"))
        assert all(squash(part) in source for part in doc.page_content.split("\n\n"))
    assert any("以色列" in d.page_content for d in docs)
    assert [d.metadata["n"] for d in docs] == list(range(1, len(docs) + 1))


def test_a_declined_question_returns_no_documents(real_index: Settings) -> None:
    assert CiteqaRetriever(qa=QA(real_index)).invoke(UNANSWERABLE) == []


def test_ainvoke_gives_the_same_documents(real_index: Settings) -> None:
    retriever = CiteqaRetriever(qa=QA(real_index))
    assert asyncio.run(retriever.ainvoke(ANSWERABLE)) == retriever.invoke(ANSWERABLE)


def test_the_retriever_feeds_an_lcel_chain(real_index: Settings) -> None:
    retriever = CiteqaRetriever(qa=QA(real_index), k=2)
    prompts: list[PromptValue] = []

    def seen(prompt: PromptValue) -> PromptValue:
        prompts.append(prompt)
        return prompt

    prompt = ChatPromptTemplate.from_template(
        "Answer only from these passages, citing them as [n]:\n{context}\n\nQuestion: {question}"
    )
    model = FakeListChatModel(responses=["以色列 [1]", "I cannot answer that from the documents."])
    chain = (
        {"context": retriever | _format, "question": RunnablePassthrough()}
        | prompt
        | RunnableLambda(seen)
        | model
        | StrOutputParser()
    )
    assert chain.invoke(ANSWERABLE) == "以色列 [1]"
    first = retriever.invoke(ANSWERABLE)[0].page_content
    assert f"[1] {first}" in prompts[0].to_string() and ANSWERABLE in prompts[0].to_string()
    assert chain.invoke(UNANSWERABLE) == "I cannot answer that from the documents."
    assert "(no passages)" in prompts[1].to_string()
