"""Check a written sentence against the passages it cites: does every fact in it stand there?

A chat model's sentence ends with its citations (`[2]`, `[1][3]`, `[1, 3]`). It passes when
every number, date, name and quoted phrase in it stands in one of the passages it cites:
both sides are normalised first (full- and half-width forms alike, `二〇二一` as `2021`,
`1,234` as `1234`, an English month as its number with 月, case). A sentence that cites a
passage the answer does not have, or none at all, fails.
"""

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from retrieval.text import jieba

CITE = re.compile(r"[\[【]\s*(\d+(?:\s*[,，、]\s*\d+)*)\s*[\]】]")
_CN_DIGITS = str.maketrans("〇零一二三四五六七八九", "00123456789")
_CN_RUN = re.compile(r"[〇零一二三四五六七八九]{2,}(?=年)")  # 二〇二一年, not 一个
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_QUOTED = re.compile(r"[“\"「『《]([^”\"」』》]{2,80})[”\"」』》]")
# a capitalised word not opening an English sentence, next to Chinese text too ("签署Eutelsat")
_ENGLISH_NAME = re.compile(
    r"(?<![.!?]\s)(?<!^)(?<![A-Za-z'\-])[A-Z][a-zA-Z'\-]+(?:\s+[A-Z][a-zA-Z'\-]+)*"
)
_CHINESE_NAME_TAGS = ("nr", "ns", "nt", "nz")
MONTHS = {
    m: n
    for n, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for m in names
}
_MONTH = re.compile(r"\b(" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\b\.?")


def normalise(text: str) -> str:
    """Return text in the form facts are compared in (see the module's docstring)."""
    text = unicodedata.normalize("NFKC", text)
    text = _CN_RUN.sub(lambda m: m.group(0).translate(_CN_DIGITS), text)
    text = _THOUSANDS.sub("", text).lower()
    return re.sub(r"\s+", " ", text)


def cites(sentence: str) -> tuple[int, ...]:
    """Return the passage numbers a sentence cites, in order, each once."""
    found = (int(n) for m in CITE.finditer(sentence) for n in re.split(r"[,，、]", m.group(1)))
    return tuple(dict.fromkeys(found))


def without_cites(sentence: str) -> str:
    """Return the sentence with its citation marks taken out."""
    return CITE.sub("", sentence).strip()


@dataclass(frozen=True, slots=True)
class Fact:
    """Something a sentence states that its passages must hold: `kind` is number, month,
    quote or name; `forms` the normalised texts any one of which counts as found."""

    kind: str
    text: str
    forms: tuple[str, ...]


def facts(sentence: str) -> list[Fact]:
    """Return the numbers, months, quoted phrases and names a sentence states."""
    plain = without_cites(sentence)
    said = normalise(plain)
    out = [Fact("quote", q, (normalise(q),)) for q in _QUOTED.findall(plain)]
    for m in _MONTH.finditer(said):
        n = MONTHS[m.group(1)]
        out.append(Fact("month", m.group(0), (m.group(1), f"{n}月")))
    out += [Fact("number", n, (n,)) for n in dict.fromkeys(_NUMBER.findall(said))]
    names = dict.fromkeys(m.group(0) for m in _ENGLISH_NAME.finditer(plain))
    names.update(
        dict.fromkeys(
            word
            for word, tag in jieba().tag(plain)
            if tag.startswith(_CHINESE_NAME_TAGS) and len(word) > 1 and not word.isascii()
        )
    )
    out += [Fact("name", n, (normalise(n),)) for n in names if normalise(n) not in MONTHS]
    return out


def _holds(text: str, fact: Fact) -> bool:
    """Return whether a normalised text holds the fact: a number (or a month's "1月") only
    where it stands alone, so that 5 is not found in 15 or 2.5, nor January in "11月"."""
    for form in fact.forms:
        if not form[0].isdigit():
            if form in text:
                return True
        else:
            after = r"(?!\d|\.\d)" if form[-1].isdigit() else ""
            if re.search(rf"(?<![\d.]){re.escape(form)}{after}", text):
                return True
    return False


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a sentence stands in its cited passages, and why not when it does not."""

    verified: bool
    cites: tuple[int, ...]
    why: str = ""
    missing: tuple[Fact, ...] = ()


def check(sentence: str, passages: Sequence[str]) -> Verdict:
    """Check a written sentence against the answer's passages (`passages[0]` is [1])."""
    numbers = cites(sentence)
    if not numbers:
        return Verdict(False, numbers, "cites no passage")
    if any(not 1 <= n <= len(passages) for n in numbers):
        return Verdict(False, numbers, f"cites a passage the answer does not have: {numbers}")
    cited = " ".join(normalise(passages[n - 1]) for n in numbers)
    missing = tuple(f for f in facts(sentence) if not _holds(cited, f))
    if missing:
        shown = ", ".join(f"{f.kind} {f.text!r}" for f in missing[:3])
        return Verdict(False, numbers, f"not in the cited passages: {shown}", missing)
    return Verdict(True, numbers)
