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


def _start(args: list[str]) -> subprocess.Popen:
    env = dict(os.environ, PYTHONHASHSEED="0")
    return subprocess.Popen([sys.executable, "-m", "lmsteer", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 300) -> None:
    """SIGKILL the process group as soon as ``ready()`` is true (fails if it finished first)."""
    t0 = time.time()
    while not ready():
        assert proc.poll() is None, f"finished before it could be killed: {proc.stderr.read()}"
        assert time.time() - t0 < timeout, "never reached the kill point"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _train_args(data: Path, out: Path) -> list[str]:
    return ["train", "--model", "tiny-llama", "--data-root", str(data), "--per-class", "12",
            "--cache-dir", "", "--param", "rank=8", "--param", "steps=600",
            "--param", "batch_size=4", "--param", "checkpoint_every=25", "--out", str(out)]


def _run(args: list[str]) -> None:
    p = _start(args)
    _, err = p.communicate(timeout=600)
    assert p.returncode == 0, err[-3000:]


def test_kill_9_during_training_then_rerun_gives_the_uninterrupted_steer(detox_data, tmp_path):
    ref, cut = tmp_path / "ref", tmp_path / "cut"
    _run(_train_args(detox_data, ref))
    proc = _start(_train_args(detox_data, cut))
    prog = cut / "checkpoint" / "progress.json"
    _kill_when(proc, lambda: prog.is_file() and '"step": 50' in prog.read_text())
    assert not (cut / "steer.safetensors").exists()  # no final file from a killed run
    _run(_train_args(detox_data, cut))  # resumes from the checkpoint
    a, b = load_file(ref / "steer.safetensors"), load_file(cut / "steer.safetensors")
    for k in a:
        assert a[k].equal(b[k]), k  # bit for bit
    log_ref = (ref / "train_log.json").read_text()
    assert '"steps": 600' in log_ref


def test_kill_9_during_generation_then_rerun_gives_identical_generations(tmp_path):
    prompts = write_prompts(tmp_path / "prompts.jsonl", 60)
    args = lambda out: ["generate", "--model", "tiny-gpt2", "--prompts", str(prompts),  # noqa: E731
                        "--samples", "25", "--max-new-tokens", "40", "--batch-size", "50",
                        "--seed", "3", "--out", str(out)]
    ref, cut = tmp_path / "ref.jsonl", tmp_path / "cut" / "generations.jsonl"
    _run(args(ref))
    proc = _start(args(cut))
    _kill_when(proc, lambda: "generate" in _peek_stderr(proc))
    assert not cut.exists()  # the temp file never takes the final name
    _run(args(cut))
    assert _sha(cut) == _sha(ref)


def _peek_stderr(proc: subprocess.Popen) -> str:
    """Non-blocking read of what the process has written to stderr so far."""
    import fcntl

    fd = proc.stderr.fileno()
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
    try:
        chunk = proc.stderr.read() or ""
    except (BlockingIOError, TypeError):
        chunk = ""
    proc._seen = getattr(proc, "_seen", "") + chunk
    return proc._seen
