"""No data lost: empty results never replace an output, two writers of one output never mix,
and `score` only makes a record of generations that form one run."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lmsteer.cli import main
from lmsteer.errors import DataError, OutputBusyError
from lmsteer.io import exclusive_outputs, lock_path, write_json, write_jsonl

from conftest import OLD, ROOT, lmsteer, one_line_error, write_prompts

def _gen(prompts: Path, out: Path, *extra: str, model: str = "tiny-gpt2") -> list[str]:
    return ["generate", "--model", model, "--prompts", str(prompts), "--samples", "2",
            "--max-new-tokens", "3", "--out", str(out), *extra]


def test_an_empty_prompt_file_is_an_error_and_keeps_the_output(caplog, tmp_path, out):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    one_line_error(caplog, _gen(empty, out), "no prompts")
    assert out.read_text() == OLD


def test_n_prompts_zero_is_refused_before_anything_is_written(tmp_path, out):
    prompts = write_prompts(tmp_path / "p.jsonl", 3)
    r = lmsteer(*_gen(prompts, out, "--n-prompts", "0"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "--n-prompts" in r.stderr and "at least 1" in r.stderr
    assert out.read_text() == OLD


def test_no_rows_never_replace_a_file(tmp_path):
    p = tmp_path / "scores.jsonl"
    p.write_text(OLD)
    with pytest.raises(DataError, match="nothing to write"):
        write_jsonl(p, [])
    with pytest.raises(DataError, match="non-finite"):
        write_json(p, {"strength": float("nan")})
    assert p.read_text() == OLD and [f.name for f in tmp_path.iterdir()] == ["scores.jsonl"]


def test_a_second_writer_of_the_same_output_fails_fast(tmp_path, out):
    prompts = write_prompts(tmp_path / "p.jsonl", 2)
    with exclusive_outputs([out]):  # "another process" is writing generations.jsonl
        t = time.time()
        r = lmsteer(*_gen(prompts, out, "--info-out", str(out.parent / "model.json")))
        assert time.time() - t < 60
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "being written by another process" in r.stderr
    assert out.read_text() == OLD and not (out.parent / "model.json").exists()
    # the same info-out with another --out is refused as well: one run's files never mix
    with exclusive_outputs([out.parent / "model.json"]):
        r = lmsteer(*_gen(prompts, tmp_path / "other.jsonl", "--info-out",
                          str(out.parent / "model.json")))
    assert r.returncode == 2 and "model.json" in r.stderr
    assert not (tmp_path / "other.jsonl").exists()
    assert main(_gen(prompts, out)) == 0 and out.read_text() != OLD  # free again
    assert not lock_path(out).exists()


def test_score_out_dir_is_locked_too(caplog, tmp_path, out):
    prompts = write_prompts(tmp_path / "p.jsonl", 2)
    gens = tmp_path / "g.jsonl"
    assert main(_gen(prompts, gens)) == 0
    (out.parent / "record.json").write_text(OLD)
    with exclusive_outputs([out.parent]):
        one_line_error(caplog, ["score", "--generations", str(gens), "--scorers", "profanity-check",
                        "--out-dir", str(out.parent)], "another process")
    assert (out.parent / "record.json").read_text() == OLD


def test_a_killed_writer_releases_its_lock(tmp_path, out):
    code = ("import sys, time; from lmsteer.io import exclusive_outputs\n"
            f"with exclusive_outputs([{str(out)!r}]):\n"
            "    print('held', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "held"
    with pytest.raises(OutputBusyError):
        with exclusive_outputs([out]):
            pass
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    with exclusive_outputs([out]):  # the stale lock file does not block
        pass


@pytest.fixture
def two_runs(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Generations of seed 0, seed 1 (same model), and of another model (seed 0)."""
    prompts = write_prompts(tmp_path / "p.jsonl", 2)
    paths = []
    for name, extra in (("s0", ["--seed", "0"]), ("s1", ["--seed", "1"]),
                        ("llama", ["--seed", "0"])):
        g = tmp_path / f"{name}.jsonl"
        assert main(_gen(prompts, g, *extra,
                         model="tiny-llama" if name == "llama" else "tiny-gpt2")) == 0
        paths.append(g)
    return tuple(paths)


def _score(gens: list[Path], out_dir: Path) -> list[str]:
    return ["score", "--generations", *map(str, gens), "--scorers", "profanity-check",
            "--out-dir", str(out_dir)]


def test_score_refuses_generations_that_are_not_one_run(caplog, tmp_path, two_runs):
    s0, s1, llama = two_runs
    rec = tmp_path / "rec"
    rec.mkdir()
    (rec / "record.json").write_text(OLD)
    one_line_error(caplog, _score([s0, s0], rec), str(s0), "given twice")
    doubled = tmp_path / "doubled.jsonl"
    doubled.write_text(s0.read_text() * 2)
    one_line_error(caplog, _score([doubled], rec), str(doubled), "duplicated rows")
    one_line_error(caplog, _score([s0, s1], rec), str(s1), "another run", "'seed': 1")
    one_line_error(caplog, _score([s0, llama], rec), str(llama), "another run", "tiny-llama")
    assert (rec / "record.json").read_text() == OLD
    assert main(_score([s0], rec)) == 0  # one run scores
    record = json.loads((rec / "record.json").read_text())
    assert record["samples_per_prompt"] == 2 and record["seed"] == 0
