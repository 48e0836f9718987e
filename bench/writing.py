"""How well the verifier (`retrieval/verify.py`) tells supported written sentences from
unsupported ones, on (sentence, passages) pairs made from the public sets.

No chat model runs here, so the sentences are made by rule from the SQuAD-format sets in
../shared/eval (XQuAD-even zh, CMRC 2018 dev). For each question whose answer sentence holds a
number or a name, the passages are its paragraph ([1]) and a paragraph of another article
([2]), and the sentences are:

- supported: the answer sentence citing [1], as it stands and with its opening clause cut off;
- changed number: one of its numbers changed (a year by 1 to 3, any other by 1 or doubled);
- swapped name: one of its names replaced by a name of another article;
- swapped noun: one of its (Chinese) nouns replaced by a noun of another article;
- other article: a sentence of the other article that holds a number or a name, citing [1];
- other article, no figures: one that holds neither (the word coverage alone can tell);
- wrong citation: the answer sentence citing [2].

XQuAD's articles are the same in English and Chinese, so the set "xquad-en→zh" asks the same of
the English answer sentence over the Chinese paragraphs: an English answer over Chinese
documents, its words checked through the bilingual lexicon (CC-CEDICT cut down to the
paragraphs' words, as an index builds it).

    .venv/bin/python bench/writing.py [--limit 400]
"""

import json
import random
import re
from collections import Counter
from pathlib import Path

import click

from retrieval import verify
from retrieval.bilingual import build_lexicon, stem
from retrieval.question import NUMBER
from retrieval.text import sentence_spans, tokenize
from retrieval.verify import Translations, check, facts, nouns

EVAL = Path(__file__).resolve().parent.parent.parent / "shared" / "eval"
XQUAD_EN = EVAL / "xquad-even" / "xquad.en.even.json"
XQUAD_ZH = EVAL / "xquad-even" / "xquad.zh.even.json"
SETS = {
    "xquad-zh": (XQUAD_ZH, XQUAD_ZH),
    "cmrc": (EVAL / "cmrc2018" / "cmrc2018_dev.json",) * 2,
    "xquad-en→zh": (XQUAD_EN, XQUAD_ZH),
}
SEED = 0


def _changed_number(sentence: str, rng: random.Random) -> str | None:
    numbers = list(NUMBER.finditer(sentence))
    if not numbers:
        return None
    m = rng.choice(numbers)
    n = m.group(0)
    if re.fullmatch(r"1[5-9]\d\d|20\d\d", n):
        other = str(int(n) + rng.choice([-3, -2, -1, 1, 2, 3]))
    elif "." in n:
        other = f"{float(n) * 2:g}"
    else:
        other = str(int(n) + 1) if rng.random() < 0.5 else str(int(n) * 2 + 1)
    return sentence[: m.start()] + other + sentence[m.end() :]


def _names(sentence: str) -> list[str]:
    return [f.text for f in facts(sentence) if f.kind == "name"]


def _paragraphs(path: Path) -> list[tuple[int, dict]]:
    articles = json.loads(path.read_text("utf-8"))["data"]
    return [(n, p) for n, a in enumerate(articles) for p in a["paragraphs"]]


def _answer_sentence(paragraph: dict) -> str:
    context = paragraph["context"]
    start = paragraph["qas"][0]["answers"][0]["answer_start"]
    return next((context[a:b] for a, b in sentence_spans(context) if a <= start < b), "").strip()


def pairs(
    written: Path, cited: Path, rng: random.Random, limit: int
) -> list[tuple[str, str, list[str]]]:
    """Return (kind, sentence, passages) triples: sentences of `written`'s paragraphs over
    the same paragraphs of `cited` (the same file, or its translation; see the docstring)."""
    sentences = _paragraphs(written)
    contexts = [(n, p["context"]) for n, p in _paragraphs(cited)]
    out: list[tuple[str, str, list[str]]] = []
    order = list(range(len(sentences)))
    rng.shuffle(order)
    for i in order:
        if len(out) >= limit * 7:
            break
        n, paragraph = sentences[i]
        own = paragraph["context"]
        context = contexts[i][1]
        gold = _answer_sentence(paragraph)
        if not gold or not facts(gold):
            continue
        j = rng.choice([k for k, (m, _) in enumerate(contexts) if m != n])
        other, other_written = contexts[j][1], sentences[j][1]["context"]
        passages = [context, other]
        out.append(("supported", f"{gold}[1]", passages))
        cut = re.split(r"[，,]", gold, maxsplit=1)
        if len(cut) == 2 and facts(cut[1]):
            out.append(("supported (cut)", f"{cut[1].strip()}[1]", passages))
        changed = _changed_number(gold, rng)
        if changed and changed != gold:
            out.append(("changed number", f"{changed}[1]", passages))
        names, foreign = _names(gold), _names(other_written)
        swap = [f for f in foreign if f not in own]
        if names and swap:
            out.append(("swapped name", f"{gold.replace(names[0], rng.choice(swap))}[1]", passages))
        mine = nouns(gold)
        theirs = [w for w in nouns(other_written) if w not in own]
        if mine and theirs:
            swapped = gold.replace(rng.choice(mine), rng.choice(theirs))
            out.append(("swapped noun", f"{swapped}[1]", passages))
        claims = [other_written[a:b].strip() for a, b in sentence_spans(other_written)]
        claims = [c for c in claims if c not in own and len(c) > 8]
        with_facts = [c for c in claims if facts(c)]
        if with_facts:
            out.append(("other article", f"{rng.choice(with_facts)}[1]", passages))
        without = [c for c in claims if not facts(c)]
        if without:
            out.append(("other article, no figures", f"{rng.choice(without)}[1]", passages))
        out.append(("wrong citation", f"{gold}[2]", passages))
    return out


def translator(path: Path) -> Translations:
    """Return the lookup of English words in the lexicon of `path`'s paragraphs' words."""
    frequency = Counter(t for _, p in _paragraphs(path) for t in tokenize(p["context"]))
    lexicon = build_lexicon(frequency, frequency)
    return lambda words: {stem(w): lexicon[stem(w)] for w in words if stem(w) in lexicon}


@click.command()
@click.option("--limit", default=400, show_default=True, help="Questions per set.")
@click.option("--sweep", is_flag=True, help="Also report each kind's kept share by COVERED.")
def main(limit: int, sweep: bool) -> None:
    """Make the pairs, check each, report the share kept per kind."""
    rng = random.Random(SEED)
    if sweep:
        _sweep(limit)
        return
    print("| set | kind | sentences | kept (verified) |")
    print("|---|---|---|---|")
    for name, (written, cited) in SETS.items():
        kept, total = Counter[str](), Counter[str]()
        examples: dict[str, str] = {}
        translate = translator(cited)
        for kind, sentence, passages in pairs(written, cited, rng, limit):
            verdict = check(sentence, passages, translate)
            total[kind] += 1
            kept[kind] += verdict.verified
            wrong = verdict.verified != kind.startswith("supported")
            if wrong and kind not in examples:
                examples[kind] = f"{sentence[:80]} -> {verdict.why or 'kept'}"
        for kind in total:
            print(f"| {name} | {kind} | {total[kind]} | {kept[kind] / total[kind]:.3f} |")
        for kind, example in examples.items():
            print(f"  e.g. {kind} misjudged: {example}")


def _sweep(limit: int) -> None:
    """Report the share kept per kind at each word-coverage threshold."""
    thresholds = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7)
    print("| set | kind | " + " | ".join(f"{t:.1f}" for t in thresholds) + " |")
    print("|---|---|" + "---|" * len(thresholds))
    rng = random.Random(SEED)
    for name, (written, cited) in SETS.items():
        translate = translator(cited)
        made = pairs(written, cited, rng, limit)
        for kind in dict.fromkeys(k for k, _, _ in made):
            shares = []
            for t in thresholds:
                verify.COVERED = t
                some = [(s, p) for k, s, p in made if k == kind]
                shares.append(sum(check(s, p, translate).verified for s, p in some) / len(some))
            print(f"| {name} | {kind} | " + " | ".join(f"{x:.3f}" for x in shares) + " |")


if __name__ == "__main__":
    main()
