"""How well the verifier (`retrieval/verify.py`) tells supported written sentences from
unsupported ones, on (sentence, passages) pairs made from the public sets.

No chat model runs here, so the sentences are made by rule from the SQuAD-format sets in
../shared/eval (XQuAD-even zh, CMRC 2018 dev). For each question whose answer sentence holds a
number or a name, the passages are its paragraph ([1]) and a paragraph of another article
([2]), and the sentences are:

- supported: the answer sentence citing [1], as it stands and with its opening clause cut off;
- changed number: one of its numbers changed (a year by 1 to 3, any other by 1 or doubled);
- swapped name: one of its names replaced by a name of another article;
- other article: a sentence of the other article that holds a number or a name, citing [1];
- wrong citation: the answer sentence citing [2].

    .venv/bin/python bench/writing.py [--limit 400]
"""

import json
import random
import re
from collections import Counter
from pathlib import Path

import click

from retrieval.question import NUMBER
from retrieval.text import sentence_spans
from retrieval.verify import check, facts

EVAL = Path(__file__).resolve().parent.parent.parent / "shared" / "eval"
SETS = {
    "xquad-zh": EVAL / "xquad-even" / "xquad.zh.even.json",
    "cmrc": EVAL / "cmrc2018" / "cmrc2018_dev.json",
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


def pairs(path: Path, rng: random.Random, limit: int) -> list[tuple[str, str, list[str]]]:
    """Return (kind, sentence, passages) triples from one set (see the docstring)."""
    articles = json.loads(path.read_text("utf-8"))["data"]
    paragraphs = [(n, p["context"]) for n, a in enumerate(articles) for p in a["paragraphs"]]
    out: list[tuple[str, str, list[str]]] = []
    questions = [(n, p) for n, a in enumerate(articles) for p in a["paragraphs"]]
    rng.shuffle(questions)
    for n, paragraph in questions:
        if len(out) >= limit * 6:
            break
        context = paragraph["context"]
        qa = paragraph["qas"][0]
        start = qa["answers"][0]["answer_start"]
        gold = next((context[a:b] for a, b in sentence_spans(context) if a <= start < b), "")
        gold = gold.strip()
        if not gold or not facts(gold):
            continue
        _, other = rng.choice([x for x in paragraphs if x[0] != n])
        passages = [context, other]
        out.append(("supported", f"{gold}[1]", passages))
        cut = gold.split("，", 1)
        if len(cut) == 2 and facts(cut[1]):
            out.append(("supported (cut)", f"{cut[1]}[1]", passages))
        changed = _changed_number(gold, rng)
        if changed and changed != gold:
            out.append(("changed number", f"{changed}[1]", passages))
        names, foreign = _names(gold), _names(other)
        swap = [f for f in foreign if f not in context]
        if names and swap:
            out.append(("swapped name", f"{gold.replace(names[0], rng.choice(swap))}[1]", passages))
        claims = [other[a:b].strip() for a, b in sentence_spans(other)]
        claims = [c for c in claims if facts(c) and c not in context]
        if claims:
            out.append(("other article", f"{rng.choice(claims)}[1]", passages))
        out.append(("wrong citation", f"{gold}[2]", passages))
    return out


@click.command()
@click.option("--limit", default=400, show_default=True, help="Questions per set.")
def main(limit: int) -> None:
    """Make the pairs, check each, report the share kept per kind."""
    rng = random.Random(SEED)
    print("| set | kind | sentences | kept (verified) |")
    print("|---|---|---|---|")
    for name, path in SETS.items():
        kept, total = Counter[str](), Counter[str]()
        examples: dict[str, str] = {}
        for kind, sentence, passages in pairs(path, rng, limit):
            verdict = check(sentence, passages)
            total[kind] += 1
            kept[kind] += verdict.verified
            wrong = verdict.verified != kind.startswith("supported")
            if wrong and kind not in examples:
                examples[kind] = f"{sentence[:80]} -> {verdict.why or 'kept'}"
        for kind in total:
            print(f"| {name} | {kind} | {total[kind]} | {kept[kind] / total[kind]:.3f} |")
        for kind, example in examples.items():
            print(f"  e.g. {kind} misjudged: {example}")


if __name__ == "__main__":
    main()
