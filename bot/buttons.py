"""The inline buttons under an answer, as typed callback data.

A passage button carries everything it needs (chunk id and marked sentence numbers, under
Telegram's 64 bytes), so it keeps working after the bot restarts for as long as the index holds
that passage. A "more results" button carries a key to the question, remembered in memory for
the last `REMEMBERED` questions; after a restart it answers that it has expired.
"""

import re
from collections import OrderedDict
from dataclasses import dataclass

from retrieval.conversation import Turn

REMEMBERED = 1000  # questions kept for "more results" buttons, across all chats


@dataclass(frozen=True, slots=True)
class PassageButton:
    """Show cited passage `chunk_id` in full, sentences `marks` (by number) in bold."""

    chunk_id: str
    marks: tuple[int, ...]

    PATTERN = re.compile(r"^p:([0-9a-f]{32}):([0-9,]*)$")

    def data(self) -> str:
        """Return the callback data: 32 hex digits and a few sentence numbers, < 64 bytes."""
        return f"p:{self.chunk_id}:{','.join(map(str, self.marks))}"

    @classmethod
    def parse(cls, match: re.Match[str]) -> "PassageButton":
        """Return the button a `PATTERN` match describes."""
        return cls(match[1], tuple(int(i) for i in match[2].split(",") if i))


@dataclass(frozen=True, slots=True)
class MoreButton:
    """Show the cited passages after the first `offset` of remembered question `key`."""

    key: str
    offset: int

    PATTERN = re.compile(r"^m:([0-9a-f]+):(\d+)$")

    def data(self) -> str:
        """Return the callback data."""
        return f"m:{self.key}:{self.offset}"

    @classmethod
    def parse(cls, match: re.Match[str]) -> "MoreButton":
        """Return the button a `PATTERN` match describes."""
        return cls(match[1], int(match[2]))


@dataclass(frozen=True, slots=True)
class ClosestButton:
    """Show the closest passages of remembered declined question `key` (not as an answer)."""

    key: str

    PATTERN = re.compile(r"^c:([0-9a-f]+)$")

    def data(self) -> str:
        """Return the callback data."""
        return f"c:{self.key}"

    @classmethod
    def parse(cls, match: re.Match[str]) -> "ClosestButton":
        """Return the button a `PATTERN` match describes."""
        return cls(match[1])


@dataclass(frozen=True, slots=True)
class Asked:
    """A question as asked, for "more results": its text, the document it was limited to and
    the conversation it followed, so that the next page continues the same ranking."""

    text: str
    source: str | None
    history: tuple[Turn, ...] = ()


class Questions:
    """The last `size` questions that offered "more results", by key."""

    def __init__(self, size: int = REMEMBERED) -> None:
        self.size = size
        self._asked: OrderedDict[str, Asked] = OrderedDict()
        self._counter = 0

    def remember(self, asked: Asked) -> str:
        """Store a question and return its key, forgetting the oldest beyond `size`."""
        key = format(self._counter, "x")
        self._counter += 1
        self._asked[key] = asked
        while len(self._asked) > self.size:
            self._asked.popitem(last=False)
        return key

    def get(self, key: str) -> Asked | None:
        """Return the question stored under `key`, if still remembered."""
        return self._asked.get(key)
