"""Fit the answer-or-decline decision (`retrieval/answer.py: DECISION`) and show how it holds.

Fit sets: the seed corpus (../shared/eval/dev.jsonl and tests/data/calibration.jsonl) and
XQuAD-even (Chinese and English questions). Shown, never fitted on: CMRC 2018 dev. Each
question's signals come from the real pipeline (`QA.ask`); a logistic regression per kind of
question (Chinese tokens, or terms through the dictionary) is fitted with every (set, kind,
answerable) group weighing the same, so that no set's size decides the boundary.

    .venv/bin/python bench/calibrate.py            # prints the DECISION literal and a report
    .venv/bin/python bench/calibrate.py --rows rows.jsonl   # reuse rows written by --save
"""

import json
import shutil
import tempfile
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
import numpy as np
from public import EVAL, index_settings

from bot.squad import read_set, write_collection
from ingest.pipeline import Ingester
from retrieval.answer import DECISION, REFERENCE, features
from retrieval.baseline import Baseline
from retrieval.qa import QA
from retrieval.settings import Settings
from retrieval.types import Signals

ROOT = Path(__file__).resolve().parent.parent
SEED = [EVAL / "dev.jsonl", ROOT / "tests" / "data" / "calibration.jsonl"]
XQUAD = (EVAL / "xquad-even" / "xquad.zh.even.json", EVAL / "xquad-even" / "xquad.en.even.json")
CMRC = EVAL / "cmrc2018" / "cmrc2018_dev.json"
L2 = 0.01


def _rows(settings: Settings, questions: list[tuple[str, bool]], name: str) -> list[dict[str, Any]]:
    qa = QA(settings)
    baseline = qa.baseline or REFERENCE
    rows = []
    for text, answerable in questions:
        s = qa.ask(text).signals
        assert s is not None
        rows.append(
            {
                "set": name,
                "answerable": answerable,
                "signals": asdict(s),
                "baseline": [baseline.mean, baseline.spread],
            }
        )
    return rows


def standardized(row: dict[str, Any]) -> tuple[float, ...]:
    """Return a row's decision features against its collection's baseline."""
    mean, spread = row["baseline"]
    return Baseline("", tuple(mean), tuple(spread)).standardize(features(Signals(**row["signals"])))


def collect(tmp: Path) -> list[dict[str, Any]]:
    """Ask every question of every set; return one row of signals per question."""
    rows = []
    seed = index_settings(ROOT / "data", tmp / "seed")
    Ingester(seed, progress=False).run()
    items = [json.loads(line) for path in SEED for line in path.open() if line.strip()]
    rows += _rows(seed, [(i["q"], i["answerable"]) for i in items], "seed")
    for name, main, parallel in [("xquad", *XQUAD), ("cmrc", CMRC, None)]:
        articles, questions = read_set(main, parallel)
        write_collection(articles, tmp / name / "data")
        settings = index_settings(tmp / name / "data", tmp / name / "index")
        Ingester(settings, progress=False).run()
        rows += _rows(settings, [(q.text, q.answerable) for q in questions], name)
    return rows


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


def report(rows: list[dict[str, Any]], decide: Any) -> list[str]:
    """Return answered/declined shares per set and kind of question."""
    out = []
    groups = sorted({(r["set"], r["signals"]["translated"]) for r in rows})
    for name, translated in groups:
        part = [r for r in rows if r["set"] == name and r["signals"]["translated"] == translated]
        pos = [r for r in part if r["answerable"]]
        neg = [r for r in part if not r["answerable"]]
        answered = sum(decide(r) for r in pos) / max(1, len(pos))
        declined = sum(not decide(r) for r in neg) / max(1, len(neg))
        kind = "en" if translated else "zh"
        out.append(
            f"{name:6} {kind}  answered {answered:.3f} of {len(pos)}  "
            f"declined {declined:.3f} of {len(neg)}"
        )
    return out


@click.command()
@click.option("--rows", "rows_in", type=click.Path(exists=True, path_type=Path))
@click.option("--save", type=click.Path(path_type=Path), help="Write the collected rows here.")
@click.option(
    "--workdir",
    type=click.Path(path_type=Path),
    help="Keep the collections and indexes here (re-used, only changes re-ingested).",
)
def main(rows_in: Path | None, save: Path | None, workdir: Path | None) -> None:
    """Fit DECISION on the seed corpus and XQuAD-even; report CMRC 2018 as unseen."""
    if rows_in:
        rows = [json.loads(line) for line in rows_in.open()]
    elif workdir:
        rows = collect(workdir)
    else:
        tmp = Path(tempfile.mkdtemp(prefix="citeqa-calibrate-"))
        try:
            rows = collect(tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if save:
        save.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    fitted = {}
    for translated in (False, True):
        part = [r for r in rows if r["set"] != "cmrc" and r["signals"]["translated"] == translated]
        sizes = Counter((r["set"], r["answerable"]) for r in part)
        x = np.array([standardized(r) for r in part])
        y = np.array([float(r["answerable"]) for r in part])
        w = np.array([len(part) / len(sizes) / sizes[(r["set"], r["answerable"])] for r in part])
        bias, weights = fit(x, y, w / w.mean())
        fitted[translated] = (bias, weights)
        click.echo(
            f"    {translated}: Decision({bias:.3f}, ({', '.join(f'{v:.3f}' for v in weights)})),"
        )

    def current(r: dict[str, Any]) -> bool:
        return DECISION[r["signals"]["translated"]].probability(standardized(r)) >= 0.5

    def new(r: dict[str, Any]) -> bool:
        bias, weights = fitted[r["signals"]["translated"]]
        return bool(bias + float(np.dot(weights, standardized(r))) >= 0)

    click.echo("\nwith DECISION as it is now:\n" + "\n".join(report(rows, current)))
    click.echo("\nwith the fitted DECISION (cmrc unseen):\n" + "\n".join(report(rows, new)))


if __name__ == "__main__":
    main()
