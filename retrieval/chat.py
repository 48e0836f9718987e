"""A client of an OpenAI-compatible chat-completions endpoint (a hosted API, Ollama, vLLM,
llama.cpp's server), for the optional follow-up rewrite and the optional written answer.

Every call is bounded as a whole: however slowly a reply trickles in, it ends at its
deadline, and `stop` ends every call in flight at once (a bot shutting down). A call fails
with one of `FAILURES` and never leaks the API key: it is sent as a header only, and no
error message holds a request.
"""

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError, ThreadPoolExecutor, wait
from typing import Any

import httpx

from retrieval.settings import Settings

MAX_BODY = 1_000_000  # bytes of a chat-completion reply read at most
STOP_CHECK = 0.1  # seconds between looks at the deadline and at `stop`
# What a call can fail with, each meaning "do without the model": HTTP, a pool already
# stopped (RuntimeError), the deadline, a cancelled call, an odd reply.
FAILURES = (
    httpx.HTTPError,
    RuntimeError,
    TimeoutError,
    CancelledError,
    ValueError,
    LookupError,
    TypeError,
)
Messages = list[dict[str, str]]
Draft = Callable[[str], None]  # called with the reply so far, as it streams in


class ChatClient:
    """Posts chat completions to `settings.llm_url`, whole or streamed."""

    def __init__(self, settings: Settings) -> None:
        self.url = settings.llm_url.rstrip("/") + "/chat/completions"
        self.model = settings.llm_model
        self._key = settings.llm_api_key
        self._stopping = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="citeqa-chat")

    def stop(self) -> None:
        """Give up on every call in flight, and on those to come."""
        self._stopping.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def complete(
        self,
        messages: Messages,
        timeout: float,
        max_tokens: int | None = None,
        on_draft: Draft | None = None,
    ) -> str:
        """Return the model's reply; with `on_draft`, ask for a stream (server-sent events)
        and call it with the text so far as pieces arrive (a server that answers whole is
        read whole). Raise one of `FAILURES` past `timeout` seconds or on a bad reply."""
        key = self._key.get_secret_value()
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        body: dict[str, Any] = {"model": self.model, "temperature": 0, "messages": messages}
        if max_tokens:
            body["max_tokens"] = max_tokens
        if on_draft is not None:
            body["stream"] = True
        deadline = time.monotonic() + timeout
        future = self._pool.submit(self._post, body, headers, deadline, timeout, on_draft)
        while not future.done():
            left = deadline - time.monotonic()
            if left <= 0 or self._stopping.is_set():
                future.cancel()
                raise TimeoutError(f"no reply within {timeout:g} s")
            wait([future], timeout=min(left, STOP_CHECK))
        return future.result()

    def _post(
        self,
        body: dict[str, Any],
        headers: dict[str, str],
        deadline: float,
        timeout: float,
        on_draft: Draft | None,
    ) -> str:
        """Return the reply's text; give up at `deadline` even while bytes still trickle in."""
        data = bytearray()
        stream = _Events(on_draft)
        with httpx.stream("POST", self.url, json=body, headers=headers, timeout=timeout) as reply:
            reply.raise_for_status()
            streamed = "text/event-stream" in reply.headers.get("content-type", "")
            for chunk in reply.iter_bytes():
                if streamed:
                    stream.feed(chunk)
                else:
                    data += chunk
                if time.monotonic() > deadline or self._stopping.is_set():
                    raise TimeoutError(f"no full reply within {timeout:g} s")
                if len(data) + stream.size > MAX_BODY:
                    raise ValueError(f"reply over {MAX_BODY} bytes")
        if streamed:
            return stream.finish()
        return str(json.loads(bytes(data))["choices"][0]["message"]["content"])


class _Events:
    """Reads a streamed completion (server-sent events, `data: {json}` lines ending with
    `data: [DONE]`), passing the text so far to `on_draft` as it grows."""

    def __init__(self, on_draft: Draft | None) -> None:
        self.on_draft = on_draft
        self.size = 0
        self._pending = b""
        self._parts: list[str] = []
        self._done = False

    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        lines = (self._pending + chunk).split(b"\n")
        self._pending = lines.pop()
        grew = False
        for line in lines:
            grew |= self._line(line.strip())
        if grew and self.on_draft is not None:
            self.on_draft("".join(self._parts))

    def _line(self, line: bytes) -> bool:
        if not line.startswith(b"data:") or self._done:
            return False
        payload = line[5:].strip()
        if payload == b"[DONE]":
            self._done = True
            return False
        event = json.loads(payload)
        if "error" in event:
            raise ValueError(f"the model reported an error: {str(event['error'])[:200]}")
        choices = event.get("choices") or [{}]
        piece = (choices[0].get("delta") or {}).get("content") or ""
        if not isinstance(piece, str):
            raise TypeError("a streamed piece that is not text")
        self._parts.append(piece)
        return bool(piece)

    def finish(self) -> str:
        """Return the whole text; raise ValueError for a stream that never got going."""
        self._line(self._pending.strip())
        if not self._parts and not self._done:
            raise ValueError("the stream held no completion")
        return "".join(self._parts)
