"""Check a written sentence against the passages it cites: does every fact in it stand there?

A chat model's sentence ends with its citations (`[2]`, `[1][3]`, `[1, 3]`). It passes when
every number, date, name and quoted phrase in it stands in one of the passages it cites (a
number next to the words it stands next to in the sentence, `NEAR` / `WINDOW`), and when those
passages hold most of its words (`COVERED`): both sides are normalised first
(full- and half-width forms alike, `二〇二一` as `2021`, `1,234` as `1234`, an English month as
its number with 月, case). An English word or name counts as held by a Chinese passage when
one of its translations is there (`Translations`: the collection's bilingual lexicon, which
holds names whole); a name also when the passage spells it by sound (`transliterate`). A
sentence that cites a passage the answer does not have, or none at all, fails.
"""

import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from retrieval.bilingual import stem
from retrieval.text import STOPWORDS, jieba, tokenize
from retrieval.transliterate import spelled
from retrieval.types import WrittenSentence

# English words (stemmed) -> the collection's Chinese words that translate them
Translations = Callable[[Sequence[str]], Mapping[str, Sequence[str]]]
# Share of a sentence's checkable words that its cited passages must hold (bench/writing.py)
COVERED = 0.5
# A number must stand within WINDOW characters of one of the NEAR words on either side of it
# in the sentence, where the passages hold those words at all (bench/writing.py)
NEAR = 3
WINDOW = 24
# Words that say where a claim comes from, not what it claims.
FRAMING = frozenset(
    [
        "according",
        "passage",
        "passages",
        "document",
        "documents",
        "text",
        "source",
        "sources",
        "state",
        "states",
        "stated",
        "say",
        "says",
        "said",
        "mention",
        "mentions",
        "mentioned",
        "note",
        "notes",
        "noted",
        "report",
        "reports",
        "reported",
        "根据",
        "据",
        "文件",
        "段落",
        "文中",
        "文本",
        "材料",
        "资料",
        "提到",
        "提及",
        "指出",
        "表示",
        "显示",
        "所述",
        "称",
        "说",
    ]
)

CITE = re.compile(r"[\[【]\s*(\d+(?:\s*[,，、]\s*\d+)*)\s*[\]】]")
_CN_DIGITS = str.maketrans("〇零一二三四五六七八九", "00123456789")
_CN_RUN = re.compile(r"[〇零一二三四五六七八九]{2,}(?=年)")  # 二〇二一年, not 一个
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_COUNTED = re.compile(r"\d+(?:\.\d+)?[\u4e00-\u9fff]?")
_DIGIT_GAP = re.compile(r"(?<=\d) (?=[\u4e00-\u9fff])|(?<=[\u4e00-\u9fff]) (?=\d)")
_SCALES = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "k": 1e3, "m": 1e6, "bn": 1e9}
# "1.5 million"; "m" and "bn" only after a currency sign ("£30m", not "300 m" tall)
_SCALED = re.compile(
    r"(\d+(?:\.\d+)?)\s*(thousand|million|billion)\b|(?<=[$£€¥])(\d+(?:\.\d+)?)(k|m|bn)\b"
)
_STOP = re.compile(r"[。！？!?]|\.(?=\s)")
_QUOTED = re.compile(r"[“\"「『《]([^”\"」』》]{2,80})[”\"」』》]")
# a capitalised word not opening an English sentence, next to Chinese text too ("签署Eutelsat")
_ENGLISH_NAME = re.compile(
    r"(?<![.!?]\s)(?<!^)(?<![A-Za-z'\-])[A-Z][a-zA-Z'\-]+(?:\s+[A-Z][a-zA-Z'\-]+)*"
)
_LATIN_NAME = re.compile(r"(?<![A-Za-z'\-])[A-Z][a-zA-Z0-9'\-]+(?:\s+[A-Z][a-zA-Z0-9'\-]+)*")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_GLOSSED = re.compile(
    r"((?<![A-Za-z'\-])[A-Z][a-zA-Z'\-]+(?:\s+[A-Z][a-zA-Z'\-]+)*)"
    r"\s*[（(]([^()（）]{0,29}[\u4e00-\u9fff][^()（）]{0,29})[)）]"
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
# capitalised: "it may be" states no month
_MONTH = re.compile(
    r"\b(" + "|".join(sorted((m.capitalize() for m in MONTHS), key=len, reverse=True)) + r")\b\.?"
)


def normalise(text: str) -> str:
    """Return text in the form facts are compared in (see the module's docstring)."""
    text = unicodedata.normalize("NFKC", text)
    text = _CN_RUN.sub(lambda m: m.group(0).translate(_CN_DIGITS), text)
    text = _THOUSANDS.sub("", text).lower()
    return _DIGIT_GAP.sub("", re.sub(r"\s+", " ", text))  # "1774 年" as "1774年"


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
    # a number's neighbouring words (before it, after it), once for each time it is stated
    near: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()


def facts(sentence: str) -> list[Fact]:
    """Return the numbers, months, quoted phrases and names a sentence states."""
    plain = without_cites(sentence)
    said = normalise(plain)
    out = [Fact("quote", q, (normalise(q),)) for q in _QUOTED.findall(plain)]
    for m in _MONTH.finditer(unicodedata.normalize("NFKC", plain)):
        n = MONTHS[m.group(1).lower()]
        out.append(Fact("month", m.group(0), (m.group(1).lower(), f"{n}月")))
    # a number with the Chinese unit that follows it (1956年, 5174架) stands with that unit:
    # the same number elsewhere in the passage, counting something else, does not count
    counted: dict[str, list[tuple[tuple[str, ...], tuple[str, ...]]]] = {}
    forms: dict[str, tuple[str, ...]] = {}
    scaled = list(_SCALED.finditer(said))
    for m in scaled:  # "1.5 million" stands as 1500000 or 150万
        number, scale = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        forms[m.group(0)] = _amounts(float(number) * _SCALES[scale], m.group(0))
        counted.setdefault(m.group(0), []).append(_neighbours(said, m.start(), m.end()))
    for m in _COUNTED.finditer(said):
        if any(s.start() <= m.start() < s.end() for s in scaled):
            continue
        stated = m.group(0)
        big = stated.isdigit() and len(stated) >= 5
        forms[stated] = _amounts(int(stated), stated) if big else _decade(stated, said)
        counted.setdefault(stated, []).append(_neighbours(said, m.start(), m.end()))
    out += [Fact("number", k, forms[k], tuple(near)) for k, near in counted.items()]
    # "Kuwait (科威特)": an English name with the passage's own form of it in brackets
    glossed = {m.group(1): m.group(2) for m in _GLOSSED.finditer(plain)}
    # in a Chinese sentence a capitalised word is a name wherever it stands, even first
    latin = _LATIN_NAME if _CJK.search(plain) else _ENGLISH_NAME
    names = dict.fromkeys(m.group(0) for m in latin.finditer(plain))
    names.update(
        dict.fromkeys(
            word
            for word, tag in jieba().tag(plain)
            if tag.startswith(_CHINESE_NAME_TAGS) and len(word) > 1 and not word.isascii()
        )
    )
    out += [
        Fact("name", n, (normalise(n), *((normalise(glossed[n]),) if n in glossed else ())))
        for n in names
        if normalise(n) not in MONTHS
    ]
    return out


def _amounts(value: float, written: str) -> tuple[str, ...]:
    """Return the forms of an amount: as written, in digits, and in 万 or 亿 (150万)."""
    out = [written]
    if value == int(value):
        out.append(str(int(value)))
    if value >= 10_000:
        out.append(f"{value / 10_000:g}万")
    if value >= 100_000_000:
        out.append(f"{value / 100_000_000:g}亿")
    return tuple(dict.fromkeys(out))


def _decade(number: str, said: str) -> tuple[str, ...]:
    """Return the forms of a number: a decade ("the 1970s") also as 70年代 and 1970年代."""
    if re.fullmatch(r"1[0-9]{2}0|20[0-9]0", number) and re.search(rf"{number}'?s\b", said):
        return number, f"{number[2:]}年代", f"{number}年代"
    return (number,)


def _neighbours(said: str, start: int, end: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return the words next to a number in a normalised sentence, `NEAR` on each side."""
    before = [w for w in tokenize(said[:start]) if _telling(w)]
    after = [w for w in tokenize(said[end:]) if _telling(w)]
    return tuple(before[-NEAR:]), tuple(after[:NEAR])


def _telling(word: str) -> bool:
    """Return whether a word next to a number can tell where it belongs: not one Chinese
    character (至, 自, 到 stand next to most years) nor a short English word."""
    return word not in FRAMING and (word[0].isdigit() or len(word) > (2 if word.isascii() else 1))


def _occurrences(text: str, form: str) -> Iterator[re.Match[str]]:
    """Yield where a normalised text states a number (alone: 5 is not in 15 or 2.5)."""
    after = r"(?!\d|\.\d)" if form[-1].isdigit() else ""
    return re.finditer(rf"(?<![\d.]){re.escape(form)}{after}", text)


def _anchored(
    text: str, fact: Fact, translations: Mapping[str, Sequence[str]], translated: bool
) -> bool:
    """Return whether each time the sentence states a number, the text states it next to
    one of the same words on each side of it (when the text holds any of them at all; on
    either side when the sentence is in another language, whose word order differs): a year
    right for another event of the same passage is not right for this one."""
    windows = [_around(text, *m.span()) for f in fact.forms for m in _occurrences(text, f)]
    for near in fact.near:
        sides = [[w for w in side if _word_in(text, w, translations)] for side in near]
        if translated:
            sides = [[w for side in sides for w in side]]
        if not any(
            all(not side or any(_word_in(window, w, translations) for w in side) for side in sides)
            for window in windows
        ):
            return False
    return True


def _around(text: str, start: int, end: int) -> str:
    """Return the text within WINDOW characters of a span, not past its sentence."""
    before = text[max(0, start - WINDOW) : start]
    after = text[end : end + WINDOW]
    before = _STOP.split(before)[-1]
    return before + text[start:end] + _STOP.split(after)[0]


def _word_in(text: str, word: str, translations: Mapping[str, Sequence[str]]) -> bool:
    if word[0].isdigit():
        return next(_occurrences(text, word), None) is not None
    if not word.isascii():
        return word in text
    return _english_holds(text, word) or _in_text(text, stem(word), translations)


def _holds(text: str, fact: Fact) -> bool:
    """Return whether a normalised text holds the fact: a number (or a month's "1月") only
    where it stands alone, so that 5 is not found in 15 or 2.5, nor January in "11月"."""
    for form in fact.forms:
        if not form[0].isdigit():
            if form in text:
                return True
        elif next(_occurrences(text, form), None):
            return True
    return False


def _english_holds(text: str, word: str) -> bool:
    """Return whether a normalised text holds an English word or an inflection of it."""
    return re.search(rf"(?<![a-z0-9]){re.escape(stem(word))}", text) is not None


def _in_text(text: str, key: str, translations: Mapping[str, Sequence[str]]) -> bool:
    """Return whether `text` holds a translation of the stemmed English word or phrase `key`
    (one of two characters or more: 约 or 好 stand in most Chinese passages)."""
    return any(len(h) > 1 and h in text for h in translations.get(key, ()))


def _rendered(text: str, name: str, translations: Mapping[str, Sequence[str]]) -> bool:
    """Return whether a Chinese text renders an English name: by the dictionary, the whole
    name or word by word, or its words by their sound (`transliterate.spelled`)."""
    words = [
        w for w in re.findall(r"[a-z][a-z\-]*", re.sub(r"'s\b", "", name)) if w not in STOPWORDS
    ]
    if len(words) > 1 and _in_text(text, stem(" ".join(words)), translations):
        return True
    return bool(words) and all(
        _in_text(text, stem(w), translations) or spelled(text, w) for w in words
    )


def nouns(plain: str) -> list[str]:
    """Return the Chinese nouns of a sentence (two characters or more): what it makes claims
    about, which a model that keeps to its passages copies from them."""
    return list(
        dict.fromkeys(
            w
            for w, tag in jieba().tag(plain)
            if tag.startswith("n") and len(w) > 1 and not w.isascii() and w not in FRAMING
        )
    )


def coverage(plain: str, text: str, translations: Mapping[str, Sequence[str]]) -> tuple[float, int]:
    """Return the share of a sentence's words that a normalised text holds, and how many
    words could be checked. A Chinese word must stand there; an English word there or by a
    translation. An English word that neither stands in a text without Latin script nor has a
    translation cannot be checked and does not count. Numbers are left to the facts."""
    latin = re.search(r"[a-z]{3}", text) is not None
    held = checked = 0
    for word in dict.fromkeys(tokenize(plain)):
        if word in FRAMING or word[0].isdigit():
            continue
        if not word.isascii():
            held += word in text
            checked += 1
        elif _english_holds(text, word) or _in_text(text, stem(word), translations):
            held += 1
            checked += 1
        elif latin or stem(word) in translations:
            checked += 1
    return (held / checked if checked else 1.0), checked


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a sentence stands in its cited passages, and why not when it does not."""

    verified: bool
    cites: tuple[int, ...]
    why: str = ""
    missing: tuple[Fact, ...] = ()


def _no_translations(words: Sequence[str]) -> Mapping[str, Sequence[str]]:
    return {}


@dataclass(frozen=True, slots=True)
class _Claims:
    """What a sentence claims, worked out once whichever passages it is checked against."""

    plain: str  # normalised, without its citations
    facts: tuple[Fact, ...]
    nouns: tuple[str, ...]
    translations: Mapping[str, Sequence[str]]
    chinese: bool  # written in Chinese: its English names are copied, not translated

    @classmethod
    def of(cls, sentence: str, translate: Translations) -> "_Claims":
        plain = normalise(without_cites(sentence))
        found = facts(sentence)
        english = [w for w in tokenize(plain) if w.isascii()]
        english += [f.forms[0] for f in found if f.kind == "name" and " " in f.forms[0]]
        return cls(
            plain,
            tuple(found),
            tuple(nouns(plain)),
            translate(english),
            _CJK.search(plain) is not None,
        )


def _judge(claims: _Claims, numbers: tuple[int, ...], passages: Sequence[str]) -> Verdict:
    """Check claims citing `numbers` against normalised passages (`passages[0]` is [1])."""
    if not numbers:
        return Verdict(False, numbers, "cites no passage")
    if any(not 1 <= n <= len(passages) for n in numbers):
        return Verdict(False, numbers, f"cites a passage the answer does not have: {numbers}")
    cited = " ".join(passages[n - 1] for n in numbers)
    translations = claims.translations
    translated = claims.chinese != (_CJK.search(cited) is not None)
    missing = tuple(
        f
        for f in claims.facts
        if not _holds(cited, f)
        and not (
            f.kind in ("name", "quote")
            and f.forms[0].isascii()
            and not claims.chinese
            and _rendered(cited, f.forms[0], translations)
        )
    )
    if not missing:
        missing = tuple(
            f
            for f in claims.facts
            if f.kind == "number" and not _anchored(cited, f, translations, translated)
        )
    if missing:
        shown = ", ".join(f"{f.kind} {f.text!r}" for f in missing[:3])
        return Verdict(False, numbers, f"not in the cited passages: {shown}", missing)
    absent = [w for w in claims.nouns if w not in cited]
    if absent:
        return Verdict(False, numbers, f"not in the cited passages: {', '.join(absent[:3])}")
    share, checked = coverage(claims.plain, cited, translations)
    if not checked and not claims.facts:
        return Verdict(False, numbers, "nothing in it can be checked against its passages")
    if share < COVERED:
        return Verdict(
            False, numbers, f"the cited passages hold {share:.0%} of its {checked} words"
        )
    return Verdict(True, numbers)


def check(
    sentence: str, passages: Sequence[str], translate: Translations = _no_translations
) -> Verdict:
    """Check a written sentence against the answer's passages (`passages[0]` is [1])."""
    claims = _Claims.of(sentence, translate)
    return _judge(claims, cites(sentence), [normalise(p) for p in passages])


# A sentence ends at its citations (with the stop after them), or at a stop followed by any
# citations; a full stop only after a lowercase letter, digit or closing mark ("U.S." and
# "2.5" do not end one).
_END = re.compile(
    rf"(?:{CITE.pattern})+\s*[。！？!?.；;]?"
    rf"|[。！？!?；;](?:\s*{CITE.pattern})*"
    rf"|(?<=[a-z0-9)\]\"”'])\.(?:\s*{CITE.pattern})*(?=\s|$)"
)
_BULLET = re.compile(r"^\s*(?:[-*•·]|\d+[.)、])\s+")


def sentences(reply: str) -> list[str]:
    """Return a written reply's sentences, each with the citations that close it."""
    out: list[str] = []
    for line in reply.splitlines():
        line = _BULLET.sub("", line).strip()
        pos = 0
        for m in _END.finditer(line):
            piece = line[pos : m.end()].strip()
            pos = m.end()
            if piece and not without_cites(piece).strip("。！？!?.；; ") and out:
                out[-1] += piece  # citations alone close the sentence before
            elif piece:
                out.append(piece)
        if line[pos:].strip():
            out.append(line[pos:].strip())
    return out


def recite(sentence: str, numbers: Sequence[int]) -> str:
    """Return a sentence with its citations replaced by `numbers`, before its final stop."""
    plain = without_cites(sentence).rstrip()
    stop = plain[-1] if plain and plain[-1] in "。！？!?.；;" else ""
    body = plain[: len(plain) - len(stop)].rstrip()
    gap = " " if body[-1:].isascii() else ""
    return f"{body}{gap}{_marks(numbers)}{stop}"


def verify_reply(
    reply: str, passages: Sequence[str], translate: Translations = _no_translations
) -> list[WrittenSentence]:
    """Check each sentence of a reply. One that fails as cited but that another passage
    alone holds is kept with its citation corrected (`corrected_from`: the model's)."""
    out: list[WrittenSentence] = []
    normalised = [normalise(p) for p in passages]
    for sentence in sentences(reply):
        claims = _Claims.of(sentence, translate)
        verdict = _judge(claims, cites(sentence), normalised)
        if verdict.verified:
            out.append(WrittenSentence(sentence, verdict.cites, True))
            continue
        for n in range(1, len(passages) + 1):
            if n not in verdict.cites and _judge(claims, (n,), normalised).verified:
                why = f"cited {_marks(verdict.cites) or 'nothing'}; [{n}] holds it"
                out.append(WrittenSentence(recite(sentence, [n]), (n,), True, why, verdict.cites))
                break
        else:
            out.append(WrittenSentence(sentence, verdict.cites, False, verdict.why))
    return out


def _marks(numbers: Sequence[int]) -> str:
    return "".join(f"[{n}]" for n in numbers)
