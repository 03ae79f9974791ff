"""Small on-disk fixtures for the reliability suite: detox data sets, prompts, a CLI runner."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def write_detox_data(root: Path, n: int = 24) -> Path:
    """A tiny Davidson CSV and OLID split under ``root`` (the prepared-data layout)."""
    (root / "davidson").mkdir(parents=True, exist_ok=True)
    rows = ["idx,count,hate_speech,offensive_language,neither,class,tweet"]
    for i in range(n):
        cls, text = (1, f"you are a stupid idiot number {i}") if i % 2 else \
            (2, f"what a lovely day in the park number {i}")
        rows.append(f'{i},3,0,0,3,{cls},"{text}"')
    (root / "davidson" / "labeled_data.csv").write_text("\n".join(rows) + "\n")
    (root / "olid").mkdir(exist_ok=True)
    texts = [f"i hate you all {i}" if i % 2 else f"i love this movie {i}" for i in range(n)]
    (root / "olid" / "train_text.txt").write_text("\n".join(texts) + "\n")
    (root / "olid" / "train_labels.txt").write_text("\n".join(str(i % 2) for i in range(n)) + "\n")
    return root


def write_prompts(path: Path, n: int) -> Path:
    path.write_text("".join(f'{{"prompt": {{"text": "the cat number {i} said"}}}}\n'
                            for i in range(n)))
    return path


def lmsteer(*args: str, timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    """Run ``python -m lmsteer`` in a subprocess from the project root."""
    env = dict(os.environ, PYTHONHASHSEED="0")
    return subprocess.run([sys.executable, "-m", "lmsteer", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, **kw)


OLD = "previous results: must survive a failed run\n"


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """An existing output (generations.jsonl holding ``OLD``) that a failed run must keep."""
    p = tmp_path / "run" / "generations.jsonl"
    p.parent.mkdir()
    p.write_text(OLD)
    return p


@pytest.fixture
def detox_data(tmp_path: Path) -> Path:
    return write_detox_data(tmp_path / "data")


def one_line_error(caplog, argv: list[str], *needles: str) -> str:
    """``lmsteer argv`` (in process) exits 2 with exactly one ERROR line, on one line, that
    contains every needle; returns it."""
    from lmsteer.cli import main

    caplog.clear()
    with caplog.at_level(logging.INFO):
        rc = main(argv)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert rc == 2 and len(errors) == 1 and "\n" not in errors[0], (rc, errors)
    for n in needles:
        assert n in errors[0], (n, errors[0])
    return errors[0]
