"""What kind of answer a question asks for, and whether a sentence offers one.

A sentence that answers "who" names a person the question does not; "when" gives a date or
year; "where" a place; "how many" a number; "why" a reason. Used to pick the answer line.
"""

import re
from typing import Literal

from retrieval.text import jieba

Kind = Literal["who", "when", "where", "number", "why", ""]

_KINDS: list[tuple[Kind, re.Pattern[str]]] = [
    ("why", re.compile(r"为什么|为何|原因|何故|^why\b|\bwhy\b", re.I)),
    (
        "when",
        re.compile(
            r"什么时候|何时|哪一?年|哪一?天|哪个月|几月|几号|哪个(?:世纪|年代|时期)|什么时间|"
            r"什么年代|\bwhen\b|\bwhat (?:year|date|day|month|century|decade|time)\b|"
            r"\bwhich (?:year|date|day|month|century|decade)\b",
            re.I,
        ),
    ),
    (
        "number",
        re.compile(
            r"多少|几[个次名位年岁项种座届分]|多大|多长|多高|多重|多远|多久|百分之几|"
            r"\bhow (?:many|much|old|long|far|large|big|tall|high)\b|"
            r"\bwhat (?:percentage|number)\b",
            re.I,
        ),
    ),
    (
        "where",
        re.compile(
            r"哪里|哪儿|在哪|什么地方|哪个(?:国家|城市|地方|州|省|地区)|\bwhere\b|"
            r"\bwhat (?:country|city|state|place|region)\b|\bwhich (?:country|city|state|place)\b",
            re.I,
        ),
    ),
    ("who", re.compile(r"谁|哪位|什么人|哪个人|\bwho\b|\bwhom\b|\bwhose\b", re.I)),
]
_TAGS: dict[Kind, tuple[str, ...]] = {
    "who": ("nr", "nrt", "nrfg"),
    "where": ("ns", "nt"),
    "number": ("m",),
    "when": ("t",),
}
NUMBER = re.compile(r"\d+(?:\.\d+)?")
_DATE = re.compile(
    r"\d{1,4}\s*[年月日]|[一二三四五六七八九十〇]+\s*[年月日]|世纪|年代|\b1\d{3}\b|\b20\d{2}\b"
)
_REASON = re.compile(
    r"因为|由于|因此|所以|原因|导致|为了|以便|从而|because|due to|in order to|so that", re.I
)


def kind(question: str) -> Kind:
    """Return the kind of answer the question asks for ('' when it is none of these)."""
    return next((k for k, pattern in _KINDS if pattern.search(question)), "")


def offers(k: Kind, sentence: str, question: str) -> bool:
    """Return True when the sentence holds an answer of kind `k` that the question lacks."""
    if not k:
        return False
    if k == "why":
        return bool(_REASON.search(sentence))
    if k == "when" and _DATE.search(sentence):
        return True
    if k == "number" and set(NUMBER.findall(sentence)) - set(NUMBER.findall(question)):
        return True
    tags = _TAGS[k]
    return any(
        tag.startswith(tags) and word not in question and len(word) > 1
        for word, tag in jieba().tag(sentence)
    )
