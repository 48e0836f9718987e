"""Optional: an OpenAI-compatible chat model rewrites a follow-up into a standalone question.

Off unless `CITEQA_LLM_URL` is set. Any failure (timeout, refused connection, an HTTP error,
an odd reply) returns None, and the caller falls back to the rules of `conversation.py`:
an LLM never turns a question into a failed answer.
"""

import logging
from collections.abc import Sequence

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


class Rewriter:
    """Asks a chat model at an OpenAI-compatible endpoint to make a question standalone."""

    def __init__(self, settings: Settings) -> None:
        self.url = settings.llm_url.rstrip("/") + "/chat/completions"
        self.model = settings.llm_model
        self.key = settings.llm_api_key
        self.timeout = settings.llm_timeout

    def rewrite(self, question: str, history: Sequence[Turn]) -> str | None:
        """Return the standalone question, or None when the model cannot be used."""
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
        try:
            reply = httpx.post(self.url, json=body, headers=headers, timeout=self.timeout)
            reply.raise_for_status()
            text = str(reply.json()["choices"][0]["message"]["content"]).strip()
        except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as e:
            logger.warning("question rewrite failed, using the built-in rules: %s", e)
            return None
        text = " ".join(text.split()).strip("\"'“”")
        return text if 0 < len(text) <= MAX_REPLY else None
