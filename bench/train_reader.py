"""Train the reader (`retrieval/reader.npz`): does this sentence state the question's answer?

Data, public only: XQuAD-even (its Chinese questions, and the same questions in English, over
the Chinese articles) and CMRC 2018 dev, both CC BY-SA 4.0, built into collections as
../shared/eval/README.md says (every sixth article left out). Every question is asked through
the real pipeline; each sentence of its first `reader.DEPTH` passages is one pair, labelled 1
when it holds an answer text inside a right passage (the README's rule), else 0: the other
sentences of the gold paragraph, the same article's other passages, and every sentence found
for a left-out article's question are the negatives.

Never trained on: the seed corpus and RGB (whose licence allows evaluation only). The report
holds whole collections out: XQuAD's figures come from a reader trained on CMRC alone, CMRC's
from one trained on XQuAD alone, the seed corpus's and RGB's from the reader shipped, which is
trained on both.

Model: one hidden layer (`HIDDEN` units) over the standardized hand features and the
element-wise product of the two e5 vectors; binary cross-entropy, each collection and class
weighing the same; Adam. About a minute on 2 cores once the pairs are collected (collecting
them asks every question: about 8 minutes).

    make train-reader
    .venv/bin/python bench/train_reader.py --workdir /tmp/cal --pairs /tmp/cal/pairs.npz
"""

import json
import time
from pathlib import Path
from typing import Any

import click
import numpy as np
from calibrate import Asked, auc, collections

from retrieval.answer import SIGNAL_DEPTH, cite
from retrieval.qa import QA
from retrieval.reader import DEPTH, FEATURES, WEIGHTS, Pairs, Reader, pairs
from retrieval.settings import Settings
from retrieval.text import sentence_spans, squash

TRAIN = ("xquad", "cmrc")
HIDDEN = 32
EPOCHS = 40
SEED = 0


def _collect(settings: Settings, asked: list[Asked], name: str) -> dict[str, Any]:
    """Ask every question; return its pairs, labels and per-question facts."""
    qa = QA(settings)
    hand, product, label, owner, rank, questions = [], [], [], [], [], []
    for text, answerable, rank_of, answers in asked:
        a, found = qa._search(text, None, None, ())
        translated = a.lang != "zh"
        read = pairs(a.question, found, translated)
        read_passages = found.passages[:DEPTH]
        right = {p.chunk_id: rank_of([p.chunk.text]) == 1 for p in read_passages}
        order = [p.chunk_id for p in read_passages]
        texts = {p.chunk_id: p.chunk.text for p in read_passages}
        similarity = a.searcher.sentence_similarity(found.passages[:SIGNAL_DEPTH], found)
        line, _, _ = cite(a.question, found, SIGNAL_DEPTH, similarity)
        for (cid, i), h, v in zip(read.keys, read.hand, read.product, strict=True):
            sentence = _sentence(texts[cid], i)
            label.append(right[cid] and any(x in squash(sentence) for x in answers))
            hand.append(h)
            product.append(v)
            owner.append(len(questions))
            rank.append(order.index(cid))
        questions.append(
            {
                "set": name,
                "lang": "en" if translated else "zh",
                "answerable": answerable,
                "line_before": bool(line) and any(x in squash(line) for x in answers),
            }
        )
    return {
        "hand": np.asarray(hand, np.float32).reshape(-1, len(FEATURES)),
        "product": np.asarray(product, np.float16),
        "label": np.asarray(label, np.int8),
        "owner": np.asarray(owner, np.int32),
        "rank": np.asarray(rank, np.int8),
        "questions": questions,
    }


def _sentence(text: str, i: int) -> str:
    a, b = sentence_spans(text)[i]
    return text[a:b]


def collect(workdir: Path) -> dict[str, Any]:
    """Return the pairs of every collection, questions numbered across them."""
    parts = [_collect(s, asked, name) for name, s, asked in collections(workdir)]
    offsets = np.cumsum([0] + [len(p["questions"]) for p in parts])
    return {
        "hand": np.vstack([p["hand"] for p in parts]),
        "product": np.vstack([p["product"] for p in parts]),
        "label": np.concatenate([p["label"] for p in parts]),
        "owner": np.concatenate([p["owner"] + o for p, o in zip(parts, offsets, strict=False)]),
        "rank": np.concatenate([p["rank"] for p in parts]),
        "questions": [q for p in parts for q in p["questions"]],
    }


def save(data: dict[str, Any], path: Path) -> None:
    """Write collected pairs."""
    arrays = {k: v for k, v in data.items() if k != "questions"}
    np.savez(path, **arrays, questions=np.array(json.dumps(data["questions"])))


def load(path: Path) -> dict[str, Any]:
    """Read collected pairs."""
    with np.load(path) as z:
        data = {k: z[k] for k in z.files if k != "questions"}
        data["questions"] = json.loads(str(z["questions"]))
    return data


def train(data: dict[str, Any], sets: tuple[str, ...], vectors: bool = True) -> Reader:
    """Fit the reader on the pairs of the questions of `sets`."""
    import torch

    torch.manual_seed(SEED)
    qsets = np.array([q["set"] for q in data["questions"]])
    keep = np.isin(qsets[data["owner"]], sets)
    hand = data["hand"][keep]
    product = data["product"][keep].astype(np.float32) * float(vectors)
    y = data["label"][keep].astype(np.float32)
    # every (collection, class) group weighs the same
    groups = np.char.add(qsets[data["owner"][keep]], y.astype(int).astype(str))
    names, counts = np.unique(groups, return_counts=True)
    share = dict(zip(names, len(y) / len(names) / counts, strict=True))
    w = np.array([share[g] for g in groups], np.float32)
    # a feature constant in training (no English question in CMRC) stays as it is
    mean, spread = hand.mean(0), hand.std(0)
    scale = np.where(spread > 1e-3, spread, 1.0)
    x_h = torch.tensor((hand - mean) / scale)
    x_v = torch.tensor(product)
    t_y, t_w = torch.tensor(y), torch.tensor(w)
    first = torch.nn.Linear(len(FEATURES), HIDDEN)
    vec = torch.nn.Linear(product.shape[1], HIDDEN, bias=False)
    last = torch.nn.Linear(HIDDEN, 1)
    params = [*first.parameters(), *vec.parameters(), *last.parameters()]
    opt = torch.optim.AdamW(params, lr=2e-3, weight_decay=1e-3)
    drop = torch.nn.Dropout(0.1)
    for _ in range(EPOCHS):
        for batch in torch.randperm(len(y)).split(512):
            h = torch.relu(first(x_h[batch]) + vec(x_v[batch]))
            z = last(drop(h)).squeeze(-1)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                z, t_y[batch], weight=t_w[batch]
            )
            opt.zero_grad()
            loss.backward()
            opt.step()

    def array(t: torch.Tensor) -> np.ndarray:
        return t.detach().numpy().astype(np.float32)

    return Reader(
        mean.astype(np.float32),
        scale.astype(np.float32),
        array(first.weight.T),
        array(vec.weight.T),
        array(first.bias),
        array(last.weight[0]),
        float(last.bias[0]),
        product.shape[1],
    )


def evaluate(data: dict[str, Any], reader: Reader, sets: tuple[str, ...]) -> list[str]:
    """Return, per collection and language: answer line before and with the reader (best
    sentence of the first `SIGNAL_DEPTH` passages) and the AUC of the best sentence's score
    between answerable and unanswerable questions."""
    logits = reader.logits(
        Pairs([("", 0)] * len(data["label"]), data["hand"], data["product"].astype(np.float32))
    )
    best: dict[int, tuple[float, int]] = {}
    for q, r, z, y in zip(data["owner"], data["rank"], logits, data["label"], strict=True):
        if r < SIGNAL_DEPTH and (q not in best or z > best[q][0]):
            best[int(q)] = (float(z), int(y))
    out = []
    for name in sets:
        for lang in ("zh", "en"):
            qs = [
                i for i, q in enumerate(data["questions"]) if q["set"] == name and q["lang"] == lang
            ]
            if not qs:
                continue
            pos = [i for i in qs if data["questions"][i]["answerable"]]
            neg = [i for i in qs if not data["questions"][i]["answerable"]]
            before = np.mean([data["questions"][i]["line_before"] for i in pos])
            after = np.mean([best.get(i, (0.0, 0))[1] for i in pos])
            score = [best.get(i, (-30.0, 0))[0] for i in qs]
            a = auc(
                [s for i, s in zip(qs, score, strict=True) if i in set(pos)],
                [s for i, s in zip(qs, score, strict=True) if i in set(neg)],
            )
            out.append(
                f"| {name} | {lang} | {len(pos)}/{len(neg)} | {before:.3f} | {after:.3f} | "
                f"{'—' if a is None else f'{a:.3f}'} |"
            )
    return out


@click.command()
@click.option("--workdir", type=click.Path(path_type=Path), default=Path("/tmp/citeqa-calibrate"))
@click.option("--pairs", "pairs_path", type=click.Path(path_type=Path), default=None)
@click.option("--out", type=click.Path(path_type=Path), default=WEIGHTS, show_default=True)
@click.option(
    "--held-out",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write each reader trained without one collection here (for bench/calibrate.py).",
)
@click.option("--no-vectors", is_flag=True, help="Hand features only.")
def main(
    workdir: Path, pairs_path: Path | None, out: Path, held_out: Path | None, no_vectors: bool
) -> None:
    """Collect pairs (or read them), report held-out collections, write the reader."""
    if pairs_path and pairs_path.exists():
        data = load(pairs_path)
    else:
        started = time.perf_counter()
        data = collect(workdir)
        click.echo(f"collected {len(data['label'])} pairs in {time.perf_counter() - started:.0f} s")
        if pairs_path:
            save(data, pairs_path)
    header = [
        "| set | lang | n (ans/unans) | line before | line with reader | AUC of best |",
        "|---|---|---|---|---|---|",
    ]
    lines = list(header)
    for held in TRAIN:
        without = train(data, tuple(s for s in TRAIN if s != held), not no_vectors)
        lines += evaluate(data, without, (held,))
        if held_out:
            held_out.mkdir(parents=True, exist_ok=True)
            without.save(held_out / f"reader-without-{held}.npz")
    started = time.perf_counter()
    reader = train(data, TRAIN, not no_vectors)
    seconds = time.perf_counter() - started
    lines += evaluate(data, reader, ("seed", "rgb"))
    click.echo("held out (XQuAD, CMRC: trained on the other; seed, RGB: the shipped reader):")
    click.echo("\n".join(lines))
    click.echo(f"trained on {', '.join(TRAIN)} in {seconds:.0f} s; writing {out}")
    reader.save(out)


if __name__ == "__main__":
    main()
