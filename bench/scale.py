"""citeqa on a large synthetic collection: ingest, re-ingest, cold start, latency, size, memory.

The collection is built from public text: the sentences of the SQuAD-format sets in
`../shared/eval/` (CMRC 2018, XQuAD) and of the seed corpus in `data/`, shuffled (fixed seed)
into 30,000-character Markdown files until it holds about SIZE chunks. Every step runs the real
`citeqa` command in a fresh process, timed, with that process's own peak memory:

- full ingest; re-ingest with nothing changed; re-ingest after one paragraph is appended;
- the pure embedding time of the same chunks and sentences (the embedder alone, in this process);
- cold `citeqa ask` (three runs); warm p50/p95 over 50 questions through `ask --json -`;
- the index on disk.

    .venv/bin/python bench/scale.py                 # 10k chunks (about 5 minutes here)
    .venv/bin/python bench/scale.py --size 100000   # the 100k collection (about 30 minutes)
"""

import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from retrieval.embeddings import load_embedder
from retrieval.lexical import DATABASE
from retrieval.settings import DEFAULT_EMBEDDER
from retrieval.store import Store
from retrieval.text import sentence_spans

ROOT = Path(__file__).resolve().parent.parent
CITEQA = str(Path(sys.executable).with_name("citeqa"))
FILE_CHARS = 30_000
CHARS_PER_CHUNK = 240  # measured: chunks of ~280 characters with one sentence of overlap


def sentences(folder: Path, data: Path) -> list[str]:
    """Return every sentence of the SQuAD sets under `folder` and the text files of `data`."""
    texts: list[str] = []
    for path in sorted(folder.rglob("*.json")):
        for article in json.loads(path.read_text("utf-8"))["data"]:
            texts += [p["context"] for p in article["paragraphs"]]
    texts += [p.read_text("utf-8") for p in sorted(data.glob("*")) if p.suffix in (".txt", ".md")]
    out = []
    for text in texts:
        text = re.sub(r"\s+", " ", text)
        out += [text[s:e] for s, e in sentence_spans(text) if len(text[s:e]) > 8]
    return out


def build(directory: Path, pool: list[str], size: int, seed: int = 7) -> int:
    """Write Markdown files of shuffled sentences, about `size` chunks in all; return files."""
    rng = random.Random(seed)
    directory.mkdir(parents=True)
    target, written, n = size * CHARS_PER_CHUNK, 0, 0
    while written < target:
        body, length = [], 0
        while length < FILE_CHARS:
            paragraph = "".join(rng.choice(pool) for _ in range(rng.randint(3, 8)))
            body.append(paragraph)
            length += len(paragraph)
        n += 1
        (directory / f"part-{n:05d}.md").write_text(
            f"# Part {n}\n\n" + "\n\n".join(body) + "\n", "utf-8"
        )
        written += length
    return n


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> dict[str, Any]:
    """Run `citeqa` under /usr/bin/time for its own peak memory."""
    started = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%M", CITEQA, *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode:
        raise click.ClickException(f"citeqa {' '.join(args)} failed: {done.stderr[-500:]}")
    peak_kib = int(done.stderr.strip().splitlines()[-1])
    return {"seconds": round(seconds, 2), "peak_mib": round(peak_kib / 1024, 1), "out": done}


def pure_embedding(env: dict[str, str], index: Path) -> float:
    """Return the seconds the embedder alone takes for the indexed chunks and sentences."""
    from retrieval.settings import Settings

    settings = Settings(_env_file=None, index_dir=index)  # type: ignore[call-arg]
    store = Store(settings)
    texts = [r.chunk.text for r in store.records()]
    parts = [c[s:e] for c in texts for s, e in sentence_spans(c)]
    embedder = load_embedder(env.get("CITEQA_EMBEDDER", DEFAULT_EMBEDDER))
    embedder.embed_documents(texts[:8])  # load the model outside the timing
    started = time.perf_counter()
    embedder.embed_documents(texts)  # as ingest calls it: each embedder batches by itself
    sentence_texts = list(dict.fromkeys(p for p in parts if p not in set(texts)))
    embedder.embed_documents(sentence_texts)
    return round(time.perf_counter() - started, 1)


def questions(pool: list[str], n: int = 50, seed: int = 11) -> list[str]:
    """Return questions made of collection sentences (a clause each, as users quote)."""
    rng = random.Random(seed)
    return [re.split(r"[，,。]", rng.choice(pool))[0][:40] + "？" for _ in range(n)]


def du_mib(path: Path) -> float:
    """Return the size of a directory tree in MiB."""
    return round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20, 1)


@click.command()
@click.option("--size", default=10_000, show_default=True, help="Chunks, roughly.")
@click.option(
    "--source",
    type=click.Path(path_type=Path, exists=True),
    default=ROOT.parent / "shared" / "eval",
    show_default=True,
    help="A folder of SQuAD-format JSON files to take sentences from.",
)
@click.option("--workdir", type=click.Path(path_type=Path), help="Keep the collection here.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--no-embedding", is_flag=True, help="Skip the pure-embedding measurement.")
@click.option(
    "--data",
    "collection",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="Measure a copy of this collection instead of a synthetic one (e.g. data/).",
)
def main(
    size: int,
    source: Path,
    workdir: Path | None,
    as_json: bool,
    no_embedding: bool,
    collection: Path | None,
) -> None:
    """Measure citeqa on a synthetic collection of about SIZE chunks (or a given one)."""
    tmp = workdir or Path(tempfile.mkdtemp(prefix="citeqa-scale-"))
    data, index = tmp / "data", tmp / "index"
    pool = sentences(source, ROOT / "data")
    if collection is not None:
        shutil.rmtree(data, ignore_errors=True)
        shutil.copytree(collection, data)
        files = sum(1 for p in data.rglob("*") if p.is_file())
    else:
        files = build(data, pool, size)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEQA_")}
    env |= {"CITEQA_DATA_DIR": str(data), "CITEQA_INDEX_DIR": str(index), "HF_HUB_OFFLINE": "1"}
    report: dict[str, Any] = {"files": files, "sentences_in_pool": len(pool)}
    full = run(env, "ingest", "--quiet")
    chunks = int(re.search(r"(\d+) in the index", full["out"].stdout)[1])  # type: ignore[index]
    report["chunks"] = chunks
    report["full_ingest"] = full | {"chunks_per_s": round(chunks / full["seconds"], 1)}
    report["noop_reingest"] = run(env, "ingest", "--quiet")
    first = sorted(p for p in data.rglob("*.md") if p.name != "README.md")[0]
    with first.open("a", encoding="utf-8") as f:
        f.write("\n\n本段为规模测试追加的一段新文字，用来检验只改一个文件时的重新索引。\n")
    appended = run(env, "ingest", "--quiet")
    report["append_reingest"] = appended | {"summary": appended["out"].stdout.strip()}
    if not no_embedding:
        report["pure_embedding_s"] = pure_embedding(env, index)
        report["pipeline_overhead"] = round(full["seconds"] / report["pure_embedding_s"] - 1, 3)
    asked = questions(pool)
    report["cold_ask"] = [run(env, "ask", asked[i]) for i in range(3)]
    warm = run(env, "ask", "--json", "-", stdin="\n".join(asked) + "\n")
    ms = [json.loads(line)["timings_ms"]["total"] for line in warm["out"].stdout.splitlines()]
    report["warm"] = {
        "p50_ms": round(statistics.median(ms), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "peak_mib": warm["peak_mib"],
    }
    report["index_mib"] = du_mib(index)
    report["keyword_index_mib"] = round((index / DATABASE).stat().st_size / 2**20, 1)
    for step in ("full_ingest", "noop_reingest", "append_reingest"):
        report[step].pop("out", None)
    for run_ in report["cold_ask"]:
        run_.pop("out", None)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=1))
        return
    click.echo(f"{chunks} chunks in {files} files ({tmp})")
    for step in ("full_ingest", "noop_reingest", "append_reingest"):
        click.echo(f"{step:16} {report[step]}")
    if "pure_embedding_s" in report:
        click.echo(
            f"pure embedding   {report['pure_embedding_s']} s "
            f"(pipeline adds {report['pipeline_overhead']:.0%})"
        )
    cold = [r["seconds"] for r in report["cold_ask"]]
    click.echo(f"cold ask         {cold} s, peak {report['cold_ask'][0]['peak_mib']} MiB")
    click.echo(f"warm             {report['warm']}")
    click.echo(f"index on disk    {report['index_mib']} MiB")


if __name__ == "__main__":
    main()
