"""kill -9 of a whole Snakemake run mid-way, then `--unlock` and a rerun (the default profile
sets --rerun-incomplete): Table 1 comes out byte-identical to an uninterrupted run's.

The runs target Table 1 only (every detox method of config/ci.yaml on a tiny random GPT-2:
data, training, generation, scoring, the table); Table 2, the analyses and the leaderboard
are the same kind of jobs and would triple the test's time (test_dag.py runs all of them)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration

TABLES = ["tables/table1_detox.md", "tables/table1_detox.csv"]


def _config(tmp_path: Path, name: str) -> Path:
    """config/ci.yaml shrunk to a tiny random GPT-2 (seconds per job), results under tmp_path."""
    cfg = yaml.safe_load((ROOT / "config" / "ci.yaml").read_text())
    cfg.update(results_dir=str(tmp_path / name), models=["tiny-gpt2"], judge="tiny-gpt2",
               scorers=["profanity-check"])
    cfg["detox"]["prompt_sets"] = ["rtp-nontoxic"]
    cfg["detox"]["train"]["params"].update(rank=4, steps=4)
    cfg["sentiment"]["train"]["params"].update(rank=4, steps=4)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _snakemake(cfg: Path, *extra: str, wait: bool = True):
    """Snakemake on ``cfg``; unless ``extra`` is given, it builds Table 1 of that config."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    targets = extra or [str(cfg.with_suffix("") / t) for t in TABLES]
    cmd = [sys.executable, "-m", "snakemake", *targets, "--profile", "profiles/default",
           "--configfile", str(cfg)]
    if wait:
        return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=1200)
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


@pytest.mark.skipif(not (ROOT.parent / "shared" / "data").is_dir(),
                    reason="the DAG reads the data mirror at ../shared/data")
def test_killed_dag_reruns_to_identical_tables(tmp_path):
    ref = _config(tmp_path, "ref")
    r = _snakemake(ref)
    assert r.returncode == 0, r.stderr[-4000:]
    cut = _config(tmp_path, "cut")
    proc = _snakemake(cut, wait=False)
    marker = tmp_path / "cut" / "runs" / "detox" / "tiny-gpt2" / "lm_steer" / "steer" / \
        "steer.safetensors"
    t0 = time.time()
    while not marker.exists():
        assert proc.poll() is None, "the run finished before it could be killed"
        assert time.time() - t0 < 600
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "cut" / TABLES[0]).exists()
    assert _snakemake(cut, "--unlock").returncode == 0
    r = _snakemake(cut)
    assert r.returncode == 0, r.stderr[-4000:]
    for t in TABLES:
        assert (tmp_path / "cut" / t).read_bytes() == (tmp_path / "ref" / t).read_bytes(), t
