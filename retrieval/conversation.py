"""Follow-up questions: what to search when a question leans on the turns before it.

`resolve` is pure: given the new question, the recent turns and how rare each word is in the
collection, it returns the text to search and the documents to favour. A question that
stands alone comes back untouched; a follow-up ("第二届呢？", "Why was it never held?",
"它的投票结果如何？") gets the previous question's salient words, a few and below its own,
and favours the documents the previous answer cited. Words of the previous *answer* are not
carried: they pulled the follow-up back to the passage already shown (measured in
bench/followups.py). `Conversation` holds a chat's turns.
"""

import re
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from retrieval.text import CJK, jieba, tokenize
from retrieval.types import Answer

# Pronouns and demonstratives that point back; words that merely contain one are masked first.
_POINTING_ZH = re.compile(r"它|其|该|这|那|此|上述|他|她|前者|后者|对方|本次|同年|当时")
_NOT_POINTING_ZH = re.compile(
    r"其他|其它|其实|其中国|尤其|应该|因此|此外|如此|彼此|从此|那里|这里|哪|他国|其余|"
    r"这个问题上|这方面|有关这"
)
_ELLIPTICAL_ZH = re.compile(r"呢[？?]?\s*$|^(?:那么?|还有|另外|而|并且|以及)")
_POINTING_EN = re.compile(
    r"\b(?:it|its|they|them|their|theirs|he|him|his|she|her|these|those|there|then|"
    r"the same|the latter|the former|this one|that one|"
    r"the (?:first|second|third|fourth|last|next|previous|other) ones?|"
    r"that (?:meeting|conference|session|"
    r"statement|treaty|zone|resolution|decision|country|group|proposal|initiative|plan|year)|"
    r"this (?:meeting|conference|session|statement|treaty|zone|resolution|decision|country|"
    r"group|proposal|initiative|plan|year))\b",
    re.I,
)
_ELLIPTICAL_EN = re.compile(
    r"^(?:and|but|so|also|then|what about|how about|and what about|what else|why not)\b", re.I
)
_CJK_RE = re.compile(f"[{CJK}]")
# Parts of speech worth carrying over (jieba tags): nouns and names, abbreviations.
_SALIENT_TAGS = ("n", "j")
_ASKING = frozenset(
    [
        "什么",
        "哪个",
        "哪些",
        "哪",
        "几",
        "多少",
        "哪一",
        "哪家",
        "哪位",
        "怎样",
        "怎么",
        "如何",
        "为什么",
        "谁",
        "which",
        "what",
        "how",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "does",
        "do",
        "did",
        "is",
        "are",
        "was",
        "were",
        "according",
    ]
)
# Interrogatives whose next word is the kind of thing asked for ("哪个城市", "which treaty").
_WHICH = frozenset(
    ["什么", "哪个", "哪些", "哪", "几", "多少", "哪一", "哪家", "哪位", "which", "what", "whose"]
)
_QUESTION_WORDS = frozenset(["时候", "时间", "哪一天", "哪一年", "问题", "情况", "方面"])
_NAME_TAGS = ("nr", "ns", "nt", "nz")
POINTING_WITHIN = 5  # a Chinese pronoun points back when in a clause's first characters
SHORT_ZH = 7  # a Chinese question of at most this many characters (without 呢？) is elliptical
SHORT_EN = 2  # an English question with at most this many words of its own is elliptical
CARRIED = 4  # salient words carried over from the previous question
IDLE_SECONDS = 30 * 60
TURNS = 3


@dataclass(frozen=True, slots=True)
class Turn:
    """A question as it was searched, and the documents its answer cited, best first."""

    asked_as: str
    sources: tuple[str, ...] = ()
    answer: str = ""  # the answer line given, empty when declined

    @classmethod
    def of(cls, answer: Answer) -> "Turn":
        """Return the turn an answer makes."""
        sources = tuple(dict.fromkeys(c.source for c in answer.citations))
        return cls(answer.asked_as or answer.question, sources, answer.answer)


@dataclass(frozen=True, slots=True)
class Resolved:
    """What to search for a question, and the documents to favour."""

    text: str
    prefer: tuple[str, ...] = ()


def points_back(question: str) -> bool:
    """Return True when a question holds a pronoun or demonstrative that refers back."""
    if _CJK_RE.search(question):  # near a clause's start: "发言那天" points inside the question
        clauses = re.split(r"[，,；;：:]", _NOT_POINTING_ZH.sub("", question))
        return any(_POINTING_ZH.search(c.strip()[:POINTING_WITHIN]) for c in clauses)
    return bool(_POINTING_EN.search(question))


def is_elliptical(question: str) -> bool:
    """Return True when a question leaves its subject out: "卡塔尔呢？", "What about Qatar?"."""
    if _CJK_RE.search(question):
        if _ELLIPTICAL_ZH.search(question):
            return True
        short = len(re.sub(r"[？?。！!，,\s]", "", question)) <= SHORT_ZH
    else:
        if _ELLIPTICAL_EN.search(question):
            return True
        short = len(tokenize(question)) <= SHORT_EN
    return short and not salient(question)  # a short question naming its own subject stands


def is_followup(question: str) -> bool:
    """Return True when a question points back or leaves its subject out."""
    return points_back(question) or is_elliptical(question)


def salient(text: str) -> list[tuple[str, str]]:
    """Return the words that name what a question is about, with their jieba tags, in order.

    Nouns, names and numbers in Chinese; in English, names (capitalised, not first), numbers
    and hyphenated terms. A word right after an interrogative ("哪个城市", "which treaty") is
    what is asked for, not the subject, and is left out.
    """
    seen: dict[str, tuple[str, str]] = {}
    previous = ""
    first_english = True
    for word, tag in jieba().tag(text):
        word = word.strip()
        if not word or tag == "x":
            continue
        asked, previous = previous.lower() in _WHICH, word
        opening, first_english = first_english and tag == "eng", first_english and tag != "eng"
        key = word.lower()
        if asked or key in seen or key in _ASKING or key in _QUESTION_WORDS:
            continue
        if tag == "eng":
            named = word[0].isupper() and not opening
            keep = named or "-" in word or any(c.isdigit() for c in word)
        elif tag == "m":
            keep = len(word) > 1 and (any(c.isdigit() for c in word) or bool(_CJK_RE.search(word)))
        else:
            keep = tag.startswith(_SALIENT_TAGS) and len(word) > 1
        if keep:
            seen[key] = (word, tag)
    return list(seen.values())


def _replaced(word: str, tag: str, new: list[tuple[str, str]]) -> bool:
    """Return True when the new question names something in the place of `word`.

    "卡塔尔呢？" after a question about 古巴 asks about Qatar instead of Cuba; "第二届呢？"
    after 第一届 asks about the second session instead of the first.
    """
    for other, other_tag in new:
        if tag.startswith(_NAME_TAGS) and other_tag.startswith(_NAME_TAGS):
            return True
        same_frame = len(other) == len(word) and other[0] == word[0] and other[-1] == word[-1]
        if same_frame and other != word:
            return True
    return False


def resolve(
    question: str,
    history: Sequence[Turn],
    rarity: Callable[[str], float] | None = None,
) -> Resolved:
    """Return what to search for `question` after the turns in `history` (oldest first).

    `rarity` scores a word by how rare it is in the collection (IDF); the rarest previous
    words are carried over.
    """
    if not history or not is_followup(question):
        return Resolved(question)
    previous = history[-1]
    new = salient(question)
    own = {w.lower() for w, _ in new} | set(tokenize(question))
    # "卡塔尔呢？" names a new subject in the old frame; "它的…" keeps the old subject.
    substitutes = new if not points_back(question) else []
    carried = [
        (w, t)
        for w, t in salient(previous.asked_as)
        if w.lower() not in own
        and w.lower() not in question.lower()
        and not _replaced(w, t, substitutes)
    ]
    if rarity is not None:
        ranked = sorted(carried, key=lambda wt: -rarity(wt[0]))[:CARRIED]
        carried = [wt for wt in carried if wt in ranked]
    else:
        carried = carried[:CARRIED]
    if not carried:
        return Resolved(question, previous.sources[:1])
    context = " ".join(w for w, _ in carried)
    if _CJK_RE.search(question):  # Chinese words run together; a comma ends the context
        context = re.sub(rf"(?<=[{CJK}]) (?=[{CJK}])", "", context) + "，"
    else:
        context += " "
    return Resolved(context + question, previous.sources[:1])


class Conversation:
    """One chat's (or one group member's) recent turns; forgotten after `idle` seconds."""

    def __init__(self, size: int = TURNS, idle: float | None = None) -> None:
        self.idle = IDLE_SECONDS if idle is None else idle
        self.turns: deque[Turn] = deque(maxlen=size)
        self.last = 0.0

    def history(self, now: float | None = None) -> list[Turn]:
        """Return the turns, oldest first; none when the conversation has been idle too long."""
        now = time.monotonic() if now is None else now
        if self.turns and now - self.last > self.idle:
            self.turns.clear()
        return list(self.turns)

    def add(self, answer: Answer, now: float | None = None) -> None:
        """Remember an answer as the latest turn."""
        self.turns.append(Turn.of(answer))
        self.last = time.monotonic() if now is None else now

    def clear(self) -> None:
        """Start over."""
        self.turns.clear()
