"""kill -9 in the middle of training or generation, rerun the same command: same result as an
uninterrupted run, and no partial file ever sits under a final name."""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from safetensors.torch import load_file

from conftest import ROOT, write_prompts


def _start(args: list[str], log: Path) -> subprocess.Popen:
    """Start ``lmsteer args`` in its own process group, stderr to ``log`` (never a full pipe)."""
    env = dict(os.environ, PYTHONHASHSEED="0")
    with open(log, "w") as err:
        return subprocess.Popen([sys.executable, "-m", "lmsteer", *args], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 300) -> None:
    """SIGKILL the process group as soon as ``ready()`` is true (fails if it finished first)."""
    t0 = time.time()
    while not ready():
        assert proc.poll() is None, "finished before it could be killed"
        assert time.time() - t0 < timeout, "never reached the kill point"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _train_args(data: Path, out: Path) -> list[str]:
    return ["train", "--model", "tiny-llama", "--data-root", str(data), "--per-class", "12",
            "--cache-dir", "", "--param", "rank=8", "--param", "steps=2000",
            "--param", "batch_size=4", "--param", "checkpoint_every=25", "--out", str(out)]


def _run(args: list[str], log: Path) -> None:
    p = _start(args, log)
    p.wait(timeout=600)
    assert p.returncode == 0, log.read_text()[-3000:]


def test_kill_9_during_training_then_rerun_gives_the_uninterrupted_steer(detox_data, tmp_path):
    ref, cut = tmp_path / "ref", tmp_path / "cut"
    log = tmp_path / "stderr.log"
    _run(_train_args(detox_data, ref), log)
    proc = _start(_train_args(detox_data, cut), log)
    prog = cut / "checkpoint" / "progress.json"
    _kill_when(proc, prog.is_file)  # killed right after its first checkpoint
    assert not (cut / "steer.safetensors").exists()  # no final file from a killed run
    _run(_train_args(detox_data, cut), log)  # resumes from the checkpoint
    assert "resuming training from step" in log.read_text()
    a, b = load_file(ref / "steer.safetensors"), load_file(cut / "steer.safetensors")
    for k in a:
        assert a[k].equal(b[k]), k  # bit for bit
    log_ref = (ref / "train_log.json").read_text()
    assert '"steps": 2000' in log_ref


def test_kill_9_during_generation_then_rerun_gives_identical_generations(tmp_path):
    prompts = write_prompts(tmp_path / "prompts.jsonl", 60)
    args = lambda out: ["generate", "--model", "tiny-gpt2", "--prompts", str(prompts),  # noqa: E731
                        "--samples", "25", "--max-new-tokens", "40", "--batch-size", "50",
                        "--seed", "3", "--out", str(out)]
    ref, cut = tmp_path / "ref.jsonl", tmp_path / "cut" / "generations.jsonl"
    log = tmp_path / "stderr.log"
    _run(args(ref), log)
    proc = _start(args(cut), log)
    _kill_when(proc, lambda: "generate original:" in log.read_text())  # first batch under way
    assert not cut.exists()  # the temp file never takes the final name
    _run(args(cut), log)
    assert _sha(cut) == _sha(ref)
