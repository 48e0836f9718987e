"""bench/scale.py at a small size: the scale benchmark keeps working (speed is not asserted)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow
EVAL = ROOT.parent / "shared" / "eval"


@pytest.mark.skipif(not EVAL.exists(), reason="../shared/eval is not beside this checkout")
def test_scale_bench_runs_end_to_end(tmp_path: Path) -> None:
    command = [sys.executable, str(ROOT / "bench" / "scale.py"), "--size", "250", "--json"]
    out = subprocess.run(
        [*command, "--no-embedding", "--workdir", str(tmp_path / "scale")],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout)
    assert report["chunks"] > 150 and report["files"] >= 2
    assert "1 indexed" in report["append_reingest"]["summary"]
    embedded = int(report["append_reingest"]["summary"].split("; ")[1].split()[0])
    assert 1 <= embedded <= 2  # only the appended passage (and the one it now overlaps)
    assert len(report["cold_ask"]) == 3 and report["warm"]["p95_ms"] >= report["warm"]["p50_ms"]
    assert report["index_mib"] > 0 and report["keyword_index_mib"] > 0
