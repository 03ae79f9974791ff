"""The Makefile's first-run rule: the committed results are DAG outputs, so the first `make
reproduce` (all of them) or `make spine` (the spine's 8 records and its table only) in a checkout
removes them for the DAG to regenerate, and later calls resume. Run on a scratch tree with the
real Makefile and stand-in python/snakemake executables that only log their arguments."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPINE = [f"results/runs/detox/m{i}/{meth}/p{j}/{f}.json" for i in (1, 2)
         for meth in ("original", "lm_steer") for j in (1, 2) for f in ("record", "model")]
OTHERS = ["results/runs/detox/m1/gedi/p1/record.json", "results/runs/detox/m1/gedi/p1/model.json",
          "results/runs/sentiment/m1/original/record.json", "results/tables/table1_detox.md",
          "results/leaderboard.md"]
SPINE_TABLE = ["results/tables/table1_spine.md", "results/tables/table1_spine.csv",
               "results/figures/table1_spine.png"]


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    for f in ("envs/requirements.txt", "envs/requirements-nodeps.txt", "pyproject.toml"):
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text("")
        os.utime(tmp_path / f, (1_000_000, 1_000_000))  # older than the env stamp
    bin_ = tmp_path / ".venv" / "bin"
    bin_.mkdir(parents=True)
    for exe in ("python", "snakemake"):
        (bin_ / exe).write_text(f'#!/bin/sh\necho "{exe} $*" >> "{tmp_path}/calls.log"\n')
        (bin_ / exe).chmod(0o755)
    (tmp_path / ".venv" / ".installed").write_text("")
    for f in SPINE + OTHERS + SPINE_TABLE:
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text("{}")
    return tmp_path


def _make(tree: Path, *args: str) -> str:
    r = subprocess.run(["make", "-s", *args], cwd=tree, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def _present(tree: Path, files: list[str]) -> list[str]:
    return [f for f in files if (tree / f).exists()]


def test_first_make_spine_removes_only_the_spines_records_and_table(tree):
    out = _make(tree, "spine")
    assert "first 'make spine' here" in out
    assert _present(tree, SPINE + SPINE_TABLE) == []
    assert _present(tree, OTHERS) == OTHERS  # baselines, Table 1, Table 2, leaderboard kept
    assert "snakemake --profile profiles/default spine" in (tree / "calls.log").read_text()
    # a later call resumes: what the interrupted run already made is kept
    (tree / SPINE[0]).write_text("{}")
    assert "first 'make spine'" not in _make(tree, "spine")
    assert _present(tree, SPINE) == [SPINE[0]]


def test_dry_run_or_own_config_removes_nothing(tree):
    _make(tree, "spine", "ARGS=-n")
    _make(tree, "spine", "ARGS=--configfile config/ci.yaml")
    assert _present(tree, SPINE + SPINE_TABLE + OTHERS) == SPINE + SPINE_TABLE + OTHERS
    assert "snakemake --profile profiles/default spine -n" in (tree / "calls.log").read_text()


def test_first_make_reproduce_removes_every_record_and_then_spine_keeps_its_work(tree):
    assert "first 'make reproduce' here" in _make(tree, "reproduce")
    assert _present(tree, SPINE + OTHERS + SPINE_TABLE) == []  # every record, table, board
    (tree / SPINE[0]).write_text("{}")  # made by the begun reproduction
    assert "first 'make spine'" not in _make(tree, "spine")
    assert _present(tree, [SPINE[0]]) == [SPINE[0]]
