"""Concurrent safety: the conversion lock serialises jobs, and two DAG runs with different
results folders share no output except the atomically written, locked resources/ cache."""
from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

from lmsteer.io import file_lock

ROOT = Path(__file__).resolve().parents[2]


def _hold(lock: str, log: str, tag: str) -> None:
    with file_lock(lock):
        with open(log, "a") as f:
            f.write(f"{tag} start {time.time()}\n")
        time.sleep(0.4)
        with open(log, "a") as f:
            f.write(f"{tag} end {time.time()}\n")


def test_file_lock_serialises_two_processes(tmp_path):
    lock, log = str(tmp_path / ".m.lock"), str(tmp_path / "log")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_hold, args=(lock, log, t)) for t in "ab"]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    events = [line.split() for line in Path(log).read_text().splitlines()]
    # one holder's start and end come before the other's start: the intervals never overlap
    assert [e[1] for e in events] == ["start", "end", "start", "end"]
    assert events[0][0] == events[1][0] != events[2][0] == events[3][0]


def _outputs(results_dir: str, tmp_path: Path) -> dict[str, str]:
    """Every file the DAG would write for ``config/ci.yaml`` with ``results_dir`` -> its rule."""
    cfg = yaml.safe_load((ROOT / "config" / "ci.yaml").read_text())
    cfg["results_dir"] = results_dir
    path = tmp_path / f"{Path(results_dir).name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    r = subprocess.run([sys.executable, "-m", "snakemake", "--configfile", str(path),
                        "--forceall", "--summary"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    out = {}
    for line in r.stdout.splitlines():
        cols = line.split("\t")
        if len(cols) > 2 and cols[0] != "output_file":
            out[cols[0]] = cols[2]
    assert out, r.stdout[-2000:]
    return out


def test_two_results_folders_share_only_the_locked_atomic_resources(tmp_path):
    a = _outputs(str(tmp_path / "run_a"), tmp_path)
    b = _outputs(str(tmp_path / "run_b"), tmp_path)
    shared = set(a) & set(b)
    assert any(p.endswith("table1_detox.md") for p in a)
    for p in shared:
        # resources/: data copies (sha256-checked, atomic) and model conversion (locked, atomic)
        assert p.startswith("resources/"), p
        assert a[p] in ("prepare_data", "convert_model"), (p, a[p])
    assert all(p.startswith(str(tmp_path / "run_a")) for p in set(a) - shared)
