"""Fake OpenAI-compatible chat servers on 127.0.0.1: one that answers, one that drips."""

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _completion(reply: str) -> bytes:
    """Return a chat-completion response body whose message is `reply`."""
    return json.dumps(
        {"choices": [{"index": 0, "message": {"role": "assistant", "content": reply}}]}
    ).encode()


class _Handler(BaseHTTPRequestHandler):
    """Sends a completion's headers; subclasses send its body."""

    def send_headers(self, status: int, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Run `handler` on a free port of 127.0.0.1; yield the API's base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def fake_openai(reply: str, status: int = 200, delay: float = 0.0) -> Iterator[list[Any]]:
    """Serve /v1/chat/completions on 127.0.0.1; yield the requests it received."""
    received: list[Any] = []

    class Handler(_Handler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append((self.path, dict(self.headers), body))
            time.sleep(delay)
            payload = _completion(reply)
            self.send_headers(status, payload)
            self.wfile.write(payload)

    with _serving(Handler) as url:
        received.append(url)
        yield received


@contextmanager
def dripping_openai(reply: str, every: float = 0.2) -> Iterator[dict[str, Any]]:
    """Serve a chat completion one byte every `every` seconds (the whole reply would take
    minutes); record how much was sent before the client hung up."""
    seen: dict[str, Any] = {"requests": 0, "sent": 0, "hung_up": threading.Event()}

    class Handler(_Handler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            seen["requests"] += 1
            payload = _completion(reply)
            self.send_headers(200, payload)
            try:
                for byte in payload:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    seen["sent"] += 1
                    time.sleep(every)
            except OSError:  # the client gave up
                seen["hung_up"].set()

    with _serving(Handler) as url:
        seen["url"] = url
        seen["length"] = len(_completion(reply))
        yield seen


@dataclass
class Script:
    """What the scripted chat model does with each request: reply `text` whole or streamed
    in `pieces` (one every `every` seconds), after `delay`; or answer `status`, or send
    `raw` bytes as the body."""

    text: str = ""
    stream: bool = True
    pieces: int = 4
    every: float = 0.0
    delay: float = 0.0
    status: int = 200
    raw: bytes | None = None


def _events(text: str, pieces: int) -> Iterator[bytes]:
    """Yield a reply as OpenAI's streamed chunks, then the end marker."""
    size = max(1, -(-len(text) // pieces))
    for i in range(0, len(text), size):
        delta = {"choices": [{"index": 0, "delta": {"content": text[i : i + size]}}]}
        yield f"data: {json.dumps(delta, ensure_ascii=False)}\n\n".encode()
    yield b"data: [DONE]\n\n"


@contextmanager
def scripted_openai(script: Script) -> Iterator[dict[str, Any]]:
    """Serve /v1/chat/completions on 127.0.0.1 as `script` says; yield the base URL
    ("url") and the request bodies received ("bodies")."""
    seen: dict[str, Any] = {"bodies": []}

    class Handler(_Handler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen["bodies"].append(body)
            time.sleep(script.delay)
            if (
                script.raw is not None
                or script.status != 200
                or not (script.stream and body.get("stream"))
            ):
                payload = script.raw if script.raw is not None else _completion(script.text)
                try:
                    self.send_headers(script.status, payload)
                    self.wfile.write(payload)
                except OSError:  # the client gave up (a timeout)
                    pass
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            try:
                for event in _events(script.text, script.pieces):
                    self.wfile.write(event)
                    self.wfile.flush()
                    time.sleep(script.every)
            except OSError:  # the client gave up
                pass

    with _serving(Handler) as url:
        seen["url"] = url
        yield seen
