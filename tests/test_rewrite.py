"""The optional chat-model rewrite of follow-ups, against a fake OpenAI-compatible server."""

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import SecretStr

from retrieval.conversation import Turn
from retrieval.qa import QA
from retrieval.settings import Settings

FIRST = Turn("无大规模毁灭性武器区会议第一届会议是什么时候举行的？", ("npt.txt",))
STANDALONE = "无大规模毁灭性武器区会议第二届会议是什么时候举行的？"


@contextmanager
def fake_openai(reply: str, status: int = 200, delay: float = 0.0) -> Iterator[list[Any]]:
    """Serve /v1/chat/completions on 127.0.0.1; yield the requests it received."""
    received: list[Any] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append((self.path, dict(self.headers), body))
            time.sleep(delay)
            payload = json.dumps(
                {"choices": [{"index": 0, "message": {"role": "assistant", "content": reply}}]}
            ).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        received.append(f"http://127.0.0.1:{server.server_address[1]}/v1")
        yield received
    finally:
        server.shutdown()
        server.server_close()


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
