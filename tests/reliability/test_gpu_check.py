"""`make gpu-check` (tools/gpu_check.py) runs on the CPU here so that it cannot rot, and its
checks can fail: a fold that does nothing is caught."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import gpu_check  # noqa: E402


def test_gpu_check_runs_on_cpu_and_reports_every_part(tmp_path):
    out = tmp_path / "gpu-check.json"
    r = subprocess.run([sys.executable, "tools/gpu_check.py", "--models", "tiny-gpt2",
                        "tiny-llama", "--steps", "3", "--unit", "tests/unit/test_sampling.py",
                        "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                       env=dict(os.environ, LMSTEER_DEVICE="cpu"), timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ALL OK" in r.stdout and "| tiny-llama |" in r.stdout
    rep = json.loads(out.read_text())
    assert rep["device"] == "cpu" and rep["ok"] is True
    assert rep["unit_tests"]["returncode"] == 0 and "passed" in rep["unit_tests"]["summary"]
    for name in ("tiny-gpt2", "tiny-llama"):
        e = rep["models"][name]
        assert e["logits"]["steer_shift"] > 0 and e["logits"]["fold_vs_unfold"] < 1e-4
        assert e["train_steps"] == 3 and e["generate_rows"] == 100 and e["peak_mem_mb"] > 0


def test_a_broken_fold_fails_the_check(monkeypatch):
    from lmsteer.steer import Steer

    monkeypatch.setattr(Steer, "fold", lambda self, values: setattr(self, "_folded", True))
    monkeypatch.setattr(Steer, "unfold", lambda self: setattr(self, "_folded", False))
    res = gpu_check.logits_three_ways("tiny-gpt2", "cpu")
    assert res["ok"] is False and res["fold_vs_unfold"] > 0
