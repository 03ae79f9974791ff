"""The real DAG on config/ci.yaml (SmolLM2-135M, minutes), plus `snakemake --lint`."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def _snakemake(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=3000)


@pytest.mark.skipif(not (ROOT.parent / "shared" / "data").is_dir(),
                    reason="config/ci.yaml reads the data mirror at ../shared/data")
def test_ci_dag_end_to_end():
    r = _snakemake("--profile", "profiles/default", "--configfile", "config/ci.yaml",
                   "--forceall")
    assert r.returncode == 0, r.stderr[-4000:]
    out = ROOT / "results" / "ci"
    table = (out / "tables" / "table1_detox.md").read_text()
    for needle in ("smollm2-135m", "lm_steer", "original", "rtp-challenging", "rtp-nontoxic",
                   "jigsaw-bilstm", "profanity-check"):
        assert needle in table
    assert (out / "figures" / "table1_detox.png").stat().st_size > 5000
    recs = list((out / "runs" / "detox").rglob("record.json"))
    assert len(recs) == 4
    for p in recs:
        rec = json.loads(p.read_text())
        assert rec["model"]["name"] == "smollm2-135m"
        assert rec["n_prompts"] == 2 and rec["samples_per_prompt"] == 5
        assert rec["provenance"]["packages"]["torch"].startswith("2.13")
    # Table 2: original on all three prompt types, the steer at +k and -k on two each
    sent = (out / "tables" / "table2_sentiment.md").read_text()
    assert "sst-tfidf" in sent and "% positive: neutral prompts" in sent
    assert (out / "figures" / "table2_sentiment.png").stat().st_size > 5000
    srecs = {p.parent.relative_to(out / "runs" / "sentiment").as_posix():
             json.loads(p.read_text()) for p in (out / "runs" / "sentiment").rglob("record.json")}
    assert sorted(srecs) == ["smollm2-135m/lm_steer/negative", "smollm2-135m/lm_steer/positive",
                             "smollm2-135m/original/none"]
    assert srecs["smollm2-135m/lm_steer/positive"]["strength"] == 5
    assert srecs["smollm2-135m/lm_steer/negative"]["strength"] == -5
    assert srecs["smollm2-135m/lm_steer/negative"]["prompt_set"] == \
        "sentiment-neutral+sentiment-positive"
    for rec in srecs.values():
        assert rec["scorers"]["sst-tfidf"]["sst_binary_test_accuracy"] >= 0.80
        assert rec["n_prompts"] == len(rec["prompt_set"].split("+"))  # 1 prompt per type


def test_snakemake_lint_passes():
    r = _snakemake("--lint")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
