"""The keyword index against SQLite's FTS5 over the same pre-tokenised text.

`retrieval/lexical.py` keeps its own posting lists in SQLite. This measures what FTS5 would
give instead, on a synthetic collection of SIZE chunks made of the benchmark sets' and the
seed corpus's sentences (as bench/scale.py builds one): build time, size on disk, query time
for Chinese questions (top 100), a one-file update (30 chunks out, 30 in), and how far
FTS5's `bm25()` ranking agrees with citeqa's (top-10 overlap).

    .venv/bin/python bench/fts5.py [--size 100000]
"""

import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import click
from scale import ROOT, questions, sentences

from retrieval.lexical import LexicalIndex, Record
from retrieval.lexical_db import searchable
from retrieval.text import tokenize
from retrieval.types import Chunk

EVAL = ROOT.parent / "shared" / "eval"
PER_FILE = 30


def chunks(pool: list[str], size: int, seed: int = 7) -> list[Chunk]:
    """Return `size` chunks of 2-4 random sentences, `PER_FILE` to a file."""
    rng = random.Random(seed)
    out = []
    for n in range(size):
        text = "".join(rng.choice(pool) for _ in range(rng.randint(2, 4)))
        source = f"part-{n // PER_FILE:05d}.md"
        start = (n % PER_FILE) * 1000
        out.append(Chunk(source, source, text, start, start + len(text)))
    return out


def _ms(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[int(len(ordered) * 0.95)]
    return f"p50 {statistics.median(ordered) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms"


@click.command()
@click.option("--size", default=100_000, show_default=True, help="Chunks.")
def main(size: int) -> None:
    """Measure the keyword index and FTS5 on the same chunks and questions."""
    pool = sentences(EVAL, ROOT / "data")
    found = chunks(pool, size)
    records = [Record(c.chunk_id(), c, "h", PER_FILE) for c in found]
    asked = [tokenize(q) for q in questions(pool, 200)]
    with tempfile.TemporaryDirectory(prefix="citeqa-fts5-") as tmp:
        ours = LexicalIndex(Path(tmp) / "lexical.sqlite")
        started = time.perf_counter()
        ours.apply([], records, "g")
        ours_build = time.perf_counter() - started
        started = time.perf_counter()
        tokens = [" ".join(tokenize(searchable(c))) for c in found]
        tokenizing = time.perf_counter() - started
        fts_path = Path(tmp) / "fts5.sqlite"
        db = sqlite3.connect(fts_path, isolation_level=None)
        db.execute("CREATE VIRTUAL TABLE f USING fts5(id UNINDEXED, tokens)")
        started = time.perf_counter()
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO f VALUES (?, ?)", zip((r.id for r in records), tokens, strict=True)
        )
        db.execute("COMMIT")
        fts_build = time.perf_counter() - started + tokenizing

        ours_times, fts_times, overlap = [], [], []
        for q in asked:
            terms = ours.terms(q, translate=False)
            started = time.perf_counter()
            top = ours.top(terms, q, 100)
            ours_times.append(time.perf_counter() - started)
            match = " OR ".join('"' + t.replace('"', '""') + '"' for t in dict.fromkeys(q))
            started = time.perf_counter()
            rows = db.execute(
                "SELECT id FROM f WHERE f MATCH ? ORDER BY bm25(f) LIMIT 100", (match,)
            ).fetchall()
            fts_times.append(time.perf_counter() - started)
            mine = {cid for cid, _ in top[:10]}
            theirs = {r[0] for r in rows[:10]}
            overlap.append(len(mine & theirs) / max(1, min(10, len(mine))))

        gone = records[:PER_FILE]
        started = time.perf_counter()
        ours.apply([r.id for r in gone], gone, "g2")
        ours_update = time.perf_counter() - started
        started = time.perf_counter()
        db.execute("BEGIN")
        db.executemany("DELETE FROM f WHERE id = ?", [(r.id,) for r in gone])
        db.executemany(
            "INSERT INTO f VALUES (?, ?)",
            [(r.id, " ".join(tokenize(searchable(r.chunk)))) for r in gone],
        )
        db.execute("COMMIT")
        fts_update = time.perf_counter() - started
        sizes = {p.name: p.stat().st_size / 2**20 for p in Path(tmp).glob("*.sqlite")}
    click.echo(f"{size} chunks, {len(asked)} Chinese questions (top 100)")
    click.echo(
        f"citeqa index: build {ours_build:.1f} s (tokens, sentences, chunk JSON), "
        f"{sizes['lexical.sqlite']:.0f} MiB, query {_ms(ours_times)}, "
        f"one file updated {ours_update * 1000:.0f} ms"
    )
    click.echo(
        f"FTS5: build {fts_build:.1f} s (tokens only), {sizes['fts5.sqlite']:.0f} MiB, "
        f"query {_ms(fts_times)}, one file updated {fts_update * 1000:.0f} ms "
        "(DELETE by id scans: no index on an UNINDEXED column)"
    )
    click.echo(f"top-10 agreement with citeqa's BM25: {statistics.mean(overlap):.3f}")


if __name__ == "__main__":
    main()
