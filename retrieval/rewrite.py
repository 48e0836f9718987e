"""Optional: an OpenAI-compatible chat model rewrites a follow-up into a standalone question.

Off unless `CITEQA_LLM_URL` is set. Any failure (timeout, refused connection, an HTTP error,
an odd reply) returns None, and the caller falls back to the rules of `conversation.py`:
an LLM never turns a question into a failed answer.
"""

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, ThreadPoolExecutor, wait
from typing import Any

import httpx

from retrieval.conversation import Turn
from retrieval.settings import Settings

logger = logging.getLogger(__name__)

INSTRUCTIONS = (
    "You rewrite the user's last question so that it can be understood without the "
    "conversation: replace pronouns and fill in what it leaves out from the earlier "
    "questions. Keep the language of the last question. If it already stands alone, return "
    "it unchanged. Reply with the question only."
)
MAX_REPLY = 500
MAX_BODY = 1_000_000  # bytes of a chat-completion reply read at most
STOP_CHECK = 0.1  # seconds between looks at the deadline and at `stop`
# What a call can fail with, each meaning "use the rules": HTTP, a pool already stopped
# (RuntimeError), the deadline, a cancelled call, an odd reply.
FAILURES = (
    httpx.HTTPError,
    RuntimeError,
    TimeoutError,
    CancelledError,
    ValueError,
    LookupError,
    TypeError,
)
# Share of a rewrite's weight (IDF) that words of the conversation must hold: under it, the
# rewrite has left the conversation's subject (an injected "ignore the question, ..."), and
# the built-in rules are used (measured in bench/followups.py --rewrites).
KEEP_SHARE = 0.25


def keeps_subject(
    rewritten: str,
    question: str,
    history: Sequence[Turn],
    terms: Callable[[str], list[frozenset[str]]],
    idf: Callable[[str], float],
) -> bool:
    """Return whether a rewrite stays with the conversation: most of its weight (each word
    weighs its rarest index token's IDF) is in words of the question or of earlier turns.
    `terms` gives a text's words as index tokens, an English word as its translations too,
    so that a rewrite in the other language than the earlier turns is compared as well."""
    earlier = [question, *(t.asked_as for t in history), *(t.answer for t in history)]
    context: set[str] = set().union(*(alts for text in earlier for alts in terms(text)))
    words = terms(rewritten)
    weights = [max(idf(a) for a in alts) for alts in words]
    shared = sum(w for alts, w in zip(words, weights, strict=True) if alts & context)
    return sum(weights) > 0 and shared / sum(weights) >= KEEP_SHARE


class Rewriter:
    """Asks a chat model at an OpenAI-compatible endpoint to make a question standalone.

    `llm_timeout` bounds the whole call, however slowly the reply comes (httpx's timeouts
    bound each read); `stop` ends every call in flight at once, for a bot shutting down.
    """

    def __init__(self, settings: Settings) -> None:
        self.url = settings.llm_url.rstrip("/") + "/chat/completions"
        self.model = settings.llm_model
        self.key = settings.llm_api_key
        self.timeout = settings.llm_timeout
        self._stopping = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="citeqa-rewrite")

    def stop(self) -> None:
        """Give up on every call in flight, and on those to come."""
        self._stopping.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def rewrite(self, question: str, history: Sequence[Turn]) -> str | None:
        """Return the standalone question, or None when the model cannot be used in time."""
        earlier = "\n".join(
            f"- {t.asked_as}" + (f" (answered: {t.answer})" if t.answer else "") for t in history
        )
        prompt = f"Earlier questions:\n{earlier}\n\nLast question: {question}"
        headers = {"Authorization": f"Bearer {self.key.get_secret_value()}"} if self.key else {}
        body = {
            "model": self.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": INSTRUCTIONS},
                {"role": "user", "content": prompt},
            ],
        }
        deadline = time.monotonic() + self.timeout
        try:
            future = self._pool.submit(self._post, body, headers, deadline)
            while not future.done():
                left = deadline - time.monotonic()
                if left <= 0 or self._stopping.is_set():
                    future.cancel()
                    raise TimeoutError(f"no reply within {self.timeout:g} s")
                wait([future], timeout=min(left, STOP_CHECK))
            reply = future.result()
            text = str(json.loads(reply)["choices"][0]["message"]["content"]).strip()
        except FAILURES as e:
            logger.warning("question rewrite failed, using the built-in rules: %s", e)
            return None
        text = " ".join(text.split()).strip("\"'“”")
        return text if 0 < len(text) <= MAX_REPLY else None

    def _post(self, body: dict[str, Any], headers: dict[str, str], deadline: float) -> bytes:
        """Return the reply's body; give up at `deadline` even while bytes still trickle in."""
        data = bytearray()
        with httpx.stream(
            "POST", self.url, json=body, headers=headers, timeout=self.timeout
        ) as reply:
            reply.raise_for_status()
            for chunk in reply.iter_bytes():
                data += chunk
                if time.monotonic() > deadline or self._stopping.is_set():
                    raise TimeoutError(f"no full reply within {self.timeout:g} s")
                if len(data) > MAX_BODY:
                    raise ValueError(f"reply over {MAX_BODY} bytes")
        return bytes(data)
