"""Fit the answer-or-decline decision (`retrieval/answer.py: DECISION`) so that it transfers.

Collections: the seed corpus (../shared/eval/dev.jsonl, tests/data/calibration.jsonl and
tests/data/seed_questions.jsonl), XQuAD-even (its Chinese questions, and the same questions in
English), CMRC 2018 dev, and the RGB first half (bench/rgb.py). Every question's signals come
from the real pipeline. A logistic regression per kind of question (Chinese tokens, or terms
through the dictionary) is fitted with every (collection, answerable) group weighing the same.

The report is leave-one-collection-out: each collection's answered and declined shares come
from a decision fitted on the *other* collections only, so they show how the decision holds
on a collection it never saw. DECISION itself is then fitted on all of them.

    .venv/bin/python bench/calibrate.py --workdir /tmp/cal --save rows.jsonl
    .venv/bin/python bench/calibrate.py --rows rows.jsonl      # refit from saved rows
"""

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
import numpy as np
import rgb
from public import EVAL, index_settings

from bot.evaluation import first_hit
from bot.squad import Question, first_right, read_set, write_collection
from ingest.pipeline import Ingester
from retrieval.answer import CLOSE, DECISION, REFERENCE, SIGNAL_DEPTH, cite, features, signals
from retrieval.baseline import Baseline
from retrieval.qa import QA
from retrieval.settings import Settings
from retrieval.text import language, squash
from retrieval.types import Signals

ROOT = Path(__file__).resolve().parent.parent
SEED = [
    EVAL / "dev.jsonl",
    ROOT / "tests" / "data" / "calibration.jsonl",
    ROOT / "tests" / "data" / "seed_questions.jsonl",
]
XQUAD = (EVAL / "xquad-even" / "xquad.zh.even.json", EVAL / "xquad-even" / "xquad.en.even.json")
CMRC = EVAL / "cmrc2018" / "cmrc2018_dev.json"
RGB = EVAL / "rgb" / "zh_refine.first150.jsonl"
L2 = 0.01
DEPTH = 10

# (text, answerable, rank of the first right passage among `texts` or None, answers)
Asked = tuple[str, bool, Callable[[list[str]], int | None], tuple[str, ...]]


def _rows(settings: Settings, questions: list[Asked], name: str) -> list[dict[str, Any]]:
    """Ask every question; one row each: signals, baseline, retrieval rank, answer line hit."""
    qa = QA(settings)
    baseline = qa.baseline or REFERENCE
    rows = []
    for text, answerable, rank_of, answers in questions:
        asked, found = qa._search(text, None, None, ())
        similarity = asked.searcher.sentence_similarity(found.passages[:SIGNAL_DEPTH], found)
        sig = signals(found, asked.lang != "zh", asked.baseline)
        line, _ = cite(asked.question, found, DEPTH, similarity)
        rows.append(
            {
                "set": name,
                "lang": "zh" if language(text) == "zh" else "en",
                "answerable": answerable,
                "rank": rank_of([p.chunk.text for p in found.passages[:DEPTH]]),
                "line_hit": bool(line) and any(a in squash(line) for a in answers),
                "signals": asdict(sig),
                "baseline": [baseline.mean, baseline.spread],
            }
        )
    return rows


def _squad(questions: list[Question]) -> list[Asked]:
    return [
        (q.text, q.answerable, lambda texts, q=q: first_right(texts, q), q.answers)
        for q in questions
    ]


def collect(tmp: Path) -> list[dict[str, Any]]:
    """Build every collection (re-using `tmp`) and ask every question."""
    rows: list[dict[str, Any]] = []
    seed = index_settings(ROOT / "data", tmp / "seed")
    Ingester(seed, progress=False).run()
    items = [json.loads(line) for path in SEED if path.exists() for line in path.open()]
    asked: list[Asked] = [
        (
            i["q"],
            i["answerable"],
            lambda texts, g=tuple(i["gold"]): first_hit(texts, g) if g else None,
            tuple(squash(g) for g in i["gold"]),
        )
        for i in items
    ]
    rows += _rows(seed, asked, "seed")
    for name, main, parallel in [("xquad", *XQUAD), ("cmrc", CMRC, None)]:
        articles, questions = read_set(main, parallel)
        write_collection(articles, tmp / name / "data")
        settings = index_settings(tmp / name / "data", tmp / name / "index")
        Ingester(settings, progress=False).run()
        rows += _rows(settings, _squad(questions), name)
    questions = rgb.build(RGB, tmp / "rgb" / "data")
    settings = index_settings(tmp / "rgb" / "data", tmp / "rgb" / "index")
    Ingester(settings, progress=False).run()
    rows += _rows(settings, _squad(questions), "rgb")
    return rows


def standardized(row: dict[str, Any]) -> tuple[float, ...]:
    """Return a row's decision features against its collection's baseline."""
    mean, spread = row["baseline"]
    return Baseline("", tuple(mean), tuple(spread)).standardize(features(Signals(**row["signals"])))


def fit(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, np.ndarray]:
    """Weighted, L2-regularised logistic regression by Newton's method."""
    xb = np.hstack([np.ones((len(x), 1)), x])
    beta = np.zeros(xb.shape[1])
    reg = L2 * np.eye(xb.shape[1])
    reg[0, 0] = 0.0
    for _ in range(50):
        p = 1 / (1 + np.exp(-(xb @ beta)))
        grad = xb.T @ (w * (p - y)) + reg @ beta
        hess = (xb * (w * p * (1 - p))[:, None]).T @ xb + reg
        beta -= np.linalg.solve(hess, grad)
    return float(beta[0]), beta[1:]


def fit_rows(rows: list[dict[str, Any]]) -> dict[bool, tuple[float, np.ndarray]]:
    """Fit one decision per kind of question; each (collection, answerable) weighs the same."""
    fitted = {}
    for translated in (False, True):
        part = [r for r in rows if r["signals"]["translated"] == translated]
        sizes = Counter((r["set"], r["answerable"]) for r in part)
        x = np.array([standardized(r) for r in part])
        y = np.array([float(r["answerable"]) for r in part])
        w = np.array([len(part) / len(sizes) / sizes[(r["set"], r["answerable"])] for r in part])
        fitted[translated] = fit(x, y, w / w.mean())
    return fitted


def probability(fitted: dict[bool, tuple[float, np.ndarray]], row: dict[str, Any]) -> float:
    """Return a fitted decision's probability for a row."""
    bias, weights = fitted[row["signals"]["translated"]]
    z = bias + float(np.dot(weights, standardized(row)))
    return 1 / (1 + np.exp(-max(-30.0, min(30.0, z))))


def auc(pos: list[float], neg: list[float]) -> float | None:
    """Return the probability that an answerable question outscores an unanswerable one."""
    if not pos or not neg:
        return None
    p, n = np.asarray(pos)[:, None], np.asarray(neg)[None, :]
    return float(((p > n).sum() + 0.5 * (p == n).sum()) / (p.size * n.size))


def report(rows: list[dict[str, Any]], prob: Callable[[dict[str, Any]], float]) -> list[str]:
    """Return per collection and question language: retrieval hits, answered, declined."""
    out = [
        "| set | lang | n (ans/unans) | hit@1 | hit@5 | answered | declined | closest offered "
        "(declined ans / unans) | cited hit@1 | line | AUC |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, lang in sorted({(r["set"], r["lang"]) for r in rows}):
        part = [r for r in rows if r["set"] == name and r["lang"] == lang]
        pos = [r for r in part if r["answerable"]]
        neg = [r for r in part if not r["answerable"]]
        p_pos, p_neg = [prob(r) for r in pos], [prob(r) for r in neg]
        answered = [p >= 0.5 for p in p_pos]

        def share(n: float, d: int) -> str:
            return f"{n / d:.3f}" if d else "—"

        hit1 = sum(r["rank"] == 1 for r in pos)
        hit5 = sum(bool(r["rank"]) and r["rank"] <= 5 for r in pos)
        cited1 = sum(r["rank"] == 1 and a for r, a in zip(pos, answered, strict=True))
        line = sum(r["line_hit"] and a for r, a in zip(pos, answered, strict=True))
        off_pos = sum(CLOSE <= p < 0.5 for p in p_pos)
        off_neg = sum(CLOSE <= p < 0.5 for p in p_neg)
        a = auc(p_pos, p_neg)
        out.append(
            f"| {name} | {lang} | {len(pos)}/{len(neg)} | {share(hit1, len(pos))} | "
            f"{share(hit5, len(pos))} | {share(sum(answered), len(pos))} | "
            f"{share(sum(p < 0.5 for p in p_neg), len(neg))} | "
            f"{share(off_pos, len(pos) - sum(answered))} / "
            f"{share(off_neg, sum(p < 0.5 for p in p_neg))} | "
            f"{share(cited1, len(pos))} | {share(line, len(pos))} | "
            f"{'—' if a is None else f'{a:.3f}'} |"
        )
    return out


def leave_one_out(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the rows, each with `loo`: its probability under a decision fitted without its
    collection."""
    out = []
    for name in sorted({r["set"] for r in rows}):
        fitted = fit_rows([r for r in rows if r["set"] != name])
        out += [r | {"loo": probability(fitted, r)} for r in rows if r["set"] == name]
    return out


@click.command()
@click.option("--rows", "rows_in", type=click.Path(exists=True, path_type=Path))
@click.option("--save", type=click.Path(path_type=Path), help="Write the collected rows here.")
@click.option(
    "--workdir",
    type=click.Path(path_type=Path),
    default=Path("/tmp/citeqa-calibrate"),
    show_default=True,
    help="Keep the collections and indexes here (re-used, only changes re-ingested).",
)
def main(rows_in: Path | None, save: Path | None, workdir: Path) -> None:
    """Fit DECISION on every collection; report each one left out of the fit."""
    rows = [json.loads(line) for line in rows_in.open()] if rows_in else collect(workdir)
    if save:
        save.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    fitted = fit_rows(rows)
    click.echo("DECISION = {")
    for translated, (bias, weights) in fitted.items():
        click.echo(
            f"    {translated}: Decision(\n        {bias:.3f}, "
            f"({', '.join(f'{v:.3f}' for v in weights)})\n    ),"
        )
    click.echo("}")

    def current(r: dict[str, Any]) -> float:
        return DECISION[r["signals"]["translated"]].probability(standardized(r))

    click.echo("\nwith DECISION as it is now:\n" + "\n".join(report(rows, current)))
    loo = leave_one_out(rows)
    click.echo(
        "\nleave-one-collection-out (each row: fitted on the other collections):\n"
        + "\n".join(report(loo, lambda r: float(r["loo"])))
    )
    click.echo(
        "\nfitted on all (in-sample):\n" + "\n".join(report(rows, lambda r: probability(fitted, r)))
    )


if __name__ == "__main__":
    main()
