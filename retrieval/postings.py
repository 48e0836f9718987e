"""Writing the keyword index: chunks in, chunks out, and the posting lists of their tokens.

Adding or removing chunks rewrites only the posting lists of their tokens, in one
transaction; a reader sees the index before it or after it (WAL).
"""

import dataclasses
import json
import sqlite3
from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np

from retrieval.bilingual import build_lexicon
from retrieval.lexical_db import EMPTY, SEP, Record, parts, searchable
from retrieval.text import sentence_spans, tokenize


def write(
    db: sqlite3.Connection, remove: Iterable[str], add: Iterable[Record], generation: str
) -> None:
    """Remove chunks by id and add (or replace) others, in one transaction stamped anew."""
    added = sorted(add, key=lambda r: (r.chunk.source, r.chunk.start, r.id))
    db.execute("BEGIN IMMEDIATE")
    try:
        gone = set(remove) | {r.id for r in added}
        removed_docs, touched = _delete(db, gone)
        postings = _insert(db, added)
        if _merge(db, removed_docs, touched, postings):
            _relexicon(db)
        row = db.execute("SELECT value FROM meta WHERE key = 'stamp'").fetchone()
        stamp = str(int(row[0] if row else 0) + 1)
        db.executemany(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)",
            [("generation", generation), ("stamp", stamp)],
        )
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _delete(db: sqlite3.Connection, ids: set[str]) -> tuple[np.ndarray, set[str]]:
    docs: list[int] = []
    touched: set[str] = set()
    for part in parts(sorted(ids)):
        marks = ",".join("?" * len(part))
        for doc, tokens in db.execute(
            f"SELECT doc, tokens FROM chunks WHERE id IN ({marks})", part
        ):
            docs.append(doc)
            touched.update(tokens.split(SEP))
        db.execute(f"DELETE FROM chunks WHERE id IN ({marks})", part)
    return np.asarray(docs, dtype=np.int32), touched


def _insert(db: sqlite3.Connection, records: list[Record]) -> dict[str, tuple[Any, Any]]:
    """Store the chunks; return token -> (docs, term frequencies) of their postings."""
    from array import array

    vocab: dict[str, int] = {}
    term_of, doc_of, tf_of = array("i"), array("i"), array("f")
    for r in records:
        c = r.chunk
        tokens = tokenize(searchable(c)) or [EMPTY]
        counts = Counter(tokens)
        sentences = json.dumps(
            [list(dict.fromkeys(tokenize(c.text[s:e]))) for s, e in sentence_spans(c.text)],
            ensure_ascii=False,
        )
        doc = db.execute(
            "INSERT INTO chunks (id, source, title, start, speaker, state, file_hash, "
            "n_chunks, length, tokens, sentences, vectors, chunk) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                r.id,
                c.source,
                c.title,
                c.start,
                c.speaker,
                c.state,
                r.file_hash,
                r.n_chunks,
                len(tokens),
                SEP.join(counts),
                sentences,
                r.vectors,
                json.dumps(dataclasses.asdict(c), ensure_ascii=False),
            ),
        ).lastrowid
        for token, tf in counts.items():
            term_of.append(vocab.setdefault(token, len(vocab)))
            doc_of.append(int(doc))  # type: ignore[arg-type]
            tf_of.append(tf)
    terms = np.frombuffer(term_of, dtype=np.int32)
    docs = np.frombuffer(doc_of, dtype=np.int32)
    tfs = np.frombuffer(tf_of, dtype=np.float32)
    order = np.argsort(terms, kind="stable")
    bounds = np.searchsorted(terms[order], np.arange(len(vocab) + 1))
    names = list(vocab)
    return {
        names[t]: (
            docs[order[bounds[t] : bounds[t + 1]]],
            tfs[order[bounds[t] : bounds[t + 1]]],
        )
        for t in range(len(vocab))
    }


def _merge(
    db: sqlite3.Connection,
    removed: np.ndarray,
    touched: set[str],
    added: dict[str, tuple[Any, Any]],
) -> bool:
    """Rewrite the posting lists of the touched tokens; return whether a token came or went."""
    changed = False
    for part in parts(sorted(touched | set(added))):
        marks = ",".join("?" * len(part))
        old = {
            term: (np.frombuffer(d, dtype=np.int32), np.frombuffer(t, dtype=np.float32))
            for term, d, t in db.execute(
                f"SELECT term, docs, tfs FROM postings WHERE term IN ({marks})", part
            )
        }
        for term in part:
            docs, tfs = old.get(term, (np.zeros(0, np.int32), np.zeros(0, np.float32)))
            if len(removed) and len(docs):
                keep = ~np.isin(docs, removed)
                docs, tfs = docs[keep], tfs[keep]
            if term in added:
                docs = np.concatenate([docs, added[term][0]])
                tfs = np.concatenate([tfs, added[term][1]])
            if len(docs):
                changed |= term not in old
                db.execute(
                    "INSERT OR REPLACE INTO postings VALUES (?, ?, ?, ?)",
                    (
                        term,
                        len(docs),
                        docs.astype(np.int32).tobytes(),
                        tfs.astype(np.float32).tobytes(),
                    ),
                )
            elif term in old:
                changed = True
                db.execute("DELETE FROM postings WHERE term = ?", (term,))
    return changed


def _relexicon(db: sqlite3.Connection) -> None:
    """Cut the dictionary down to the collection's words again."""
    frequency = dict(db.execute("SELECT term, df FROM postings").fetchall())
    lexicon = build_lexicon(frequency, frequency)
    db.execute("DELETE FROM lexicon")
    db.executemany(
        "INSERT INTO lexicon VALUES (?, ?)", ((w, SEP.join(h)) for w, h in lexicon.items())
    )
