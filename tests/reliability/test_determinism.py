"""Same config and seed, run twice: byte-identical generations, scores and tables; records equal
except their timestamps."""
from __future__ import annotations

import json
from pathlib import Path

from lmsteer.cli import main

from conftest import write_prompts


def _pipeline(root: Path, prompts: Path, steer: Path) -> Path:
    run = root / "runs" / "detox" / "tiny-gpt2" / "lm_steer" / "toy"
    assert main(["generate", "--model", "tiny-gpt2", "--method", "lm_steer", "--artifact",
                 str(steer), "--strength", "2", "--prompts", str(prompts), "--n-prompts", "3",
                 "--samples", "4", "--max-new-tokens", "6", "--prompt-set", "toy", "--seed", "5",
                 "--out", str(run / "generations.jsonl"),
                 "--info-out", str(run / "model.json")]) == 0
    assert main(["score", "--generations", str(run / "generations.jsonl"), "--judge",
                 "tiny-gpt2", "--model-info", str(run / "model.json"), "--seed", "5",
                 "--out-dir", str(run)]) == 0
    assert main(["table", "--records", str(root / "runs"), "--out-md", str(root / "t.md"),
                 "--out-csv", str(root / "t.csv")]) == 0
    return run


def _without_times(path: Path) -> dict:
    rec = json.loads(path.read_text())
    for k in ("start_time", "end_time"):
        rec["provenance"].pop(k)
    return rec


def test_same_seed_twice_is_byte_identical(detox_data, tmp_path):
    steer = tmp_path / "steer"
    for _ in range(2):  # training twice must give the same steer too
        assert main(["train", "--model", "tiny-gpt2", "--data-root", str(detox_data),
                     "--per-class", "6", "--cache-dir", "", "--param", "rank=4",
                     "--param", "steps=6", "--param", "batch_size=4", "--seed", "5",
                     "--out", str(steer.with_name(f"steer{_}"))]) == 0
    a, b = (steer.with_name(f"steer{i}") / "steer.safetensors" for i in (0, 1))
    assert a.read_bytes() == b.read_bytes()
    prompts = write_prompts(tmp_path / "prompts.jsonl", 10)
    runs = [_pipeline(tmp_path / f"r{i}", prompts, steer.with_name("steer0")) for i in (0, 1)]
    for name in ("generations.jsonl", "scores.jsonl", "model.json"):
        assert (runs[0] / name).read_bytes() == (runs[1] / name).read_bytes(), name
    assert _without_times(runs[0] / "record.json") == _without_times(runs[1] / "record.json")
    for name in ("t.md", "t.csv"):
        assert (tmp_path / "r0" / name).read_bytes() == (tmp_path / "r1" / name).read_bytes()
