"""Benchmarks: citeqa against the LangChain tutorial pipeline, on the same questions.

Measures ingest throughput, re-ingest of an unchanged collection, cold `citeqa ask` (a fresh
process, as a user runs it) with its peak memory, warm question latency, and retrieval quality;
then the tutorial pipeline (RecursiveCharacterTextSplitter 1000/200, langchain-chroma, the same
embedder, similarity_search k=5) on the same documents and questions. Not part of the tests:
speed is reported here, never asserted.

    make bench                      # or: .venv/bin/python bench/bench.py [--json out.json]
"""

import json
import os
import resource
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

from bot.evaluation import Item, evaluate, first_hit, load_items
from ingest.chunking import CHUNKER
from ingest.files import discover
from ingest.pipeline import Ingester
from retrieval.embeddings import load_embedder
from retrieval.qa import QA
from retrieval.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
CITEQA = str(Path(sys.executable).with_name("citeqa"))
COLD_QUESTION = "无大规模毁灭性武器区会议第二届会议是什么时候举行的？"


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    """Return p50 and p95 of latencies in milliseconds."""
    return {
        "p50_ms": round(float(np.percentile(samples_ms, 50)), 2),
        "p95_ms": round(float(np.percentile(samples_ms, 95)), 2),
    }


def run_cli(env: dict[str, str], *args: str) -> tuple[float, str]:
    """Run the real command line in a fresh process; return its wall time and stdout."""
    started = time.perf_counter()
    done = subprocess.run(
        [CITEQA, *args], env=env, capture_output=True, text=True, check=True, cwd=ROOT
    )
    return time.perf_counter() - started, done.stdout


def child_peak_mib() -> float:
    """Return the largest resident set of any finished child process, in MiB."""
    return round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)


def bench_ingest(settings: Settings) -> dict[str, Any]:
    """Build a fresh index in-process and report throughput."""
    chars = sum(
        len(p.read_text("utf-8", errors="replace"))
        for p in (f.path for f in discover(settings.data_dir, settings.ignore).documents)
    )
    report = Ingester(settings, progress=False).run()
    return {
        "chunks": report.total_chunks,
        "seconds": round(report.seconds, 2),
        "chunks_per_s": round(report.total_chunks / report.seconds, 1),
        "chars_per_s": round(chars / report.seconds),
    }


def bench_cli(env: dict[str, str], runs: int) -> dict[str, Any]:
    """Time re-ingest of the unchanged collection and cold answers, each a fresh process."""
    reingest = [run_cli(env, "ingest", "--quiet")[0] for _ in range(3)]
    cold = []
    for _ in range(runs):
        seconds, out = run_cli(env, "ask", "--json", COLD_QUESTION)
        cold.append(seconds)
        assert not json.loads(out)["abstained"], "the cold question was declined"
    return {
        "reingest_s": [round(s, 2) for s in reingest],
        "cold_ask_s": [round(s, 2) for s in cold],
        "cold_ask_median_s": round(statistics.median(cold), 2),
        "cli_peak_rss_mib": child_peak_mib(),
    }


def bench_citeqa(settings: Settings, items: list[Item], rounds: int) -> dict[str, Any]:
    """Measure warm question latency and retrieval quality of citeqa."""
    qa = QA(settings, chunker=CHUNKER)
    qa.ask(items[0].q)
    latencies = []
    for _ in range(rounds):
        for item in items:
            started = time.perf_counter()
            qa.ask(item.q)
            latencies.append((time.perf_counter() - started) * 1000)
    metrics, _ = evaluate(qa, items)
    quality = {k: metrics[k] for k in ("hit@1", "hit@3", "hit@5", "mrr@10", "english_hit@5")}
    return quality | {"declined": metrics["declined"]} | percentiles(latencies)


def bench_tutorial(settings: Settings, items: list[Item], rounds: int) -> dict[str, Any]:
    """Run the LangChain tutorial pipeline on the same documents and questions."""
    import chromadb
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    # The tutorial loads raw text (TextLoader): files the tutorial has no loader for are left out.
    listing = discover(settings.data_dir, settings.ignore)
    paths = [f.path for f in listing.documents if f.path.suffix in (".txt", ".md")]
    docs = [Document(p.read_text("utf-8"), metadata={"source": p.name}) for p in paths]
    started = time.perf_counter()
    splits = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(
        docs
    )
    store = Chroma.from_documents(
        splits,
        load_embedder(settings.embedder),
        persist_directory=str(settings.index_dir.parent / "tutorial"),
        client_settings=chromadb.config.Settings(anonymized_telemetry=False),
    )
    built = time.perf_counter() - started
    store.similarity_search(items[0].q, k=5)
    latencies = []
    for _ in range(rounds):
        for item in items:
            t = time.perf_counter()
            store.similarity_search(item.q, k=5)
            latencies.append((time.perf_counter() - t) * 1000)
    ranks = [
        first_hit([d.page_content for d in store.similarity_search(i.q, k=5)], i.gold)
        for i in items
        if i.answerable
    ]
    english = [
        r
        for r, i in zip(ranks, [i for i in items if i.answerable], strict=True)
        if not any("\u4e00" <= c <= "\u9fff" for c in i.q)
    ]

    def hit(k: int, rs: list[int | None]) -> int:
        return sum(1 for r in rs if r is not None and r <= k)

    return {
        "chunks": len(splits),
        "build_s": round(built, 2),
        "hit@1": hit(1, ranks),
        "hit@3": hit(3, ranks),
        "hit@5": hit(5, ranks),
        "mrr@10": round(sum(1 / r for r in ranks if r) / len(ranks), 4),
        "english_hit@5": hit(5, english),
        "declined": 0,  # it has no way to decline: it always returns k passages
    } | percentiles(latencies)


def table(result: dict[str, Any], answerable: int, unanswerable: int) -> str:
    """Return the side-by-side comparison as a Markdown table."""
    c, t = result["citeqa"], result["tutorial"]
    rows = [
        ("hit@1", f"{c['hit@1']}/{answerable}", f"{t['hit@1']}/{answerable}"),
        ("hit@3", f"{c['hit@3']}/{answerable}", f"{t['hit@3']}/{answerable}"),
        ("hit@5", f"{c['hit@5']}/{answerable}", f"{t['hit@5']}/{answerable}"),
        ("MRR@10", f"{c['mrr@10']:.3f}", f"{t['mrr@10']:.3f}"),
        ("unanswerable declined", f"{c['declined']}/{unanswerable}", f"0/{unanswerable}"),
        ("warm query p50", f"{c['p50_ms']:.1f} ms", f"{t['p50_ms']:.1f} ms"),
        ("warm query p95", f"{c['p95_ms']:.1f} ms", f"{t['p95_ms']:.1f} ms"),
    ]
    lines = ["| | citeqa | LangChain tutorial |", "|---|---|---|"]
    lines += [f"| {name} | {a} | {b} |" for name, a, b in rows]
    return "\n".join(lines)


questions_option = click.option(
    "--questions",
    type=click.Path(exists=True, path_type=Path),
    default=ROOT.parent / "shared" / "eval" / "dev.jsonl",
    show_default=True,
    help="Labelled questions (../shared/eval format).",
)


@click.command()
@questions_option
@click.option("--rounds", default=5, show_default=True, help="Passes over the questions.")
@click.option("--cold-runs", default=5, show_default=True, help="Fresh `citeqa ask` processes.")
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="Also write JSON here.")
def main(questions: Path, rounds: int, cold_runs: int, json_out: Path | None) -> None:
    """Benchmark citeqa and the LangChain tutorial pipeline on the same questions."""
    items = load_items(questions.open(encoding="utf-8"))
    tmp = Path(tempfile.mkdtemp(prefix="citeqa-bench-"))
    try:
        settings = Settings(index_dir=tmp / "index")
        env = os.environ | {"CITEQA_INDEX_DIR": str(settings.index_dir), "HF_HUB_OFFLINE": "1"}
        result: dict[str, Any] = {"ingest": bench_ingest(settings)}
        result["cli"] = bench_cli(env, cold_runs)
        result["citeqa"] = bench_citeqa(settings, items, rounds)
        result["tutorial"] = bench_tutorial(settings, items, rounds)
        result["warm_ratio_p50"] = round(
            result["citeqa"]["p50_ms"] / result["tutorial"]["p50_ms"], 2
        )
        result["bench_peak_rss_mib"] = round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    answerable = sum(i.answerable for i in items)
    click.echo(json.dumps(result, indent=2, ensure_ascii=False))
    click.echo()
    click.echo(table(result, answerable, len(items) - answerable))
    if json_out:
        json_out.write_text(json.dumps(result, indent=2, ensure_ascii=False), "utf-8")


if __name__ == "__main__":
    main()
