"""Fake OpenAI-compatible chat servers on 127.0.0.1: one that answers, one that drips."""

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


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


@contextmanager
def dripping_openai(reply: str, every: float = 0.2) -> Iterator[dict[str, Any]]:
    """Serve a chat completion one byte every `every` seconds (the whole reply would take
    minutes); record how much was sent before the client hung up."""
    seen: dict[str, Any] = {"requests": 0, "sent": 0, "hung_up": threading.Event()}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            seen["requests"] += 1
            payload = json.dumps(
                {"choices": [{"index": 0, "message": {"role": "assistant", "content": reply}}]}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            try:
                for byte in payload:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    seen["sent"] += 1
                    time.sleep(every)
            except OSError:  # the client gave up
                seen["hung_up"].set()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    seen["url"] = f"http://127.0.0.1:{server.server_address[1]}/v1"
    seen["length"] = len(reply.encode()) + 80
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()
