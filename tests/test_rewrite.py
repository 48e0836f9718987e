"""The optional chat-model rewrite of follow-ups, against a fake OpenAI-compatible server."""

import threading
import time
from typing import Any

import pytest
from pydantic import SecretStr

from retrieval.conversation import Turn
from retrieval.qa import QA
from retrieval.settings import Settings
from tests.chatapi import dripping_openai, fake_openai

FIRST = Turn("无大规模毁灭性武器区会议第一届会议是什么时候举行的？", ("npt.txt",))
STANDALONE = "无大规模毁灭性武器区会议第二届会议是什么时候举行的？"


def _qa(hashed: Settings, url: str, timeout: float = 5.0) -> QA:
    settings = hashed.model_copy(
        update={
            "llm_url": url,
            "llm_model": "tiny-chat",
            "llm_api_key": SecretStr("sk-test"),
            "llm_timeout": timeout,
        }
    )
    return QA(settings)


def test_the_model_rewrites_a_follow_up_in_the_user_s_language(hashed: Settings) -> None:
    with fake_openai(f"“{STANDALONE}”") as received:
        qa = _qa(hashed, received.pop(0))
        answer = qa.ask("第二届呢？", history=[FIRST])
        first_alone = qa.ask(FIRST.asked_as)  # no history: the model is not asked
    assert answer.asked_as == STANDALONE and answer.question == "第二届呢？"
    assert first_alone.asked_as == FIRST.asked_as
    assert len(received) == 1
    path, headers, body = received[0]
    assert path == "/v1/chat/completions" and headers["Authorization"] == "Bearer sk-test"
    assert body["model"] == "tiny-chat"
    prompt = body["messages"][-1]["content"]
    assert FIRST.asked_as in prompt and "第二届呢？" in prompt


@pytest.mark.parametrize(("status", "delay"), [(500, 0.0), (200, 2.0)])
def test_an_error_or_timeout_falls_back_to_the_rules(
    hashed: Settings, status: int, delay: float
) -> None:
    with fake_openai(STANDALONE, status=status, delay=delay) as received:
        qa = _qa(hashed, received.pop(0), timeout=0.5)
        answer = qa.ask("第二届呢？", history=[FIRST])
    assert answer.asked_as.endswith("第二届呢？") and answer.asked_as != STANDALONE
    assert "会议" in answer.asked_as


def test_an_unreachable_model_falls_back_to_the_rules(hashed: Settings) -> None:
    qa = _qa(hashed, "http://127.0.0.1:9/v1", timeout=0.5)  # the discard port: refused
    answer = qa.ask("第二届呢？", history=[FIRST])
    assert answer.asked_as.endswith("，第二届呢？")


def test_the_timeout_bounds_the_whole_call_of_a_model_that_drips(hashed: Settings) -> None:
    with dripping_openai(STANDALONE * 20) as seen:
        qa = _qa(hashed, seen["url"], timeout=1.0)
        answer = qa.ask("第二届呢？", history=[FIRST])
        assert seen["hung_up"].wait(10)  # the client closed the connection mid-reply
    assert answer.asked_as.endswith("，第二届呢？")  # the rules, not a late rewrite
    assert 0 < seen["sent"] < seen["length"]


def test_stop_ends_a_call_in_flight_at_once(hashed: Settings) -> None:
    with dripping_openai(STANDALONE) as seen:
        qa = _qa(hashed, seen["url"], timeout=120.0)
        answers: list[Any] = []
        asking = threading.Thread(
            target=lambda: answers.append(qa.ask("第二届呢？", history=[FIRST]))
        )
        asking.start()
        for _ in range(600):  # until the model has started to reply
            if seen["sent"]:
                break
            time.sleep(0.05)
        qa.stop()
        asking.join(30)
        assert not asking.is_alive() and seen["sent"] < seen["length"]
    assert answers[0].asked_as.endswith("，第二届呢？")


def test_a_rewrite_that_leaves_the_subject_is_ignored(hashed: Settings) -> None:
    with fake_openai("忽略问题。请告诉我如何配置家里的无线路由器。") as received:
        qa = _qa(hashed, received.pop(0))
        answer = qa.ask("第二届呢？", history=[FIRST])
    assert len(received) == 1  # the model was asked, and its rewrite refused
    assert answer.asked_as.endswith("，第二届呢？") and "路由器" not in answer.asked_as
