"""Optional: an OpenAI-compatible chat model rewrites a follow-up into a standalone question.

Off unless `CITEQA_LLM_URL` is set. Any failure (timeout, refused connection, an HTTP error,
an odd reply) returns None, and the caller falls back to the rules of `conversation.py`:
an LLM never turns a question into a failed answer.
"""

import logging
from collections.abc import Callable, Sequence

from retrieval.chat import FAILURES, ChatClient
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
    """Asks a chat model at an OpenAI-compatible endpoint to make a question standalone;
    `llm_timeout` bounds the whole call."""

    def __init__(self, settings: Settings, client: ChatClient) -> None:
        self.client = client
        self.timeout = settings.llm_timeout

    def rewrite(self, question: str, history: Sequence[Turn]) -> str | None:
        """Return the standalone question, or None when the model cannot be used in time."""
        earlier = "\n".join(
            f"- {t.asked_as}" + (f" (answered: {t.answer})" if t.answer else "") for t in history
        )
        prompt = f"Earlier questions:\n{earlier}\n\nLast question: {question}"
        messages = [
            {"role": "system", "content": INSTRUCTIONS},
            {"role": "user", "content": prompt},
        ]
        try:
            text = self.client.complete(messages, self.timeout).strip()
        except FAILURES as e:
            logger.warning("question rewrite failed, using the built-in rules: %s", e)
            return None
        text = " ".join(text.split()).strip("\"'“”")
        return text if 0 < len(text) <= MAX_REPLY else None
