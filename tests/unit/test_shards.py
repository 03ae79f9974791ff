"""Sharded runs: shards merge to the unsharded generations and record; bad shards are refused."""
from __future__ import annotations

import json
import shutil

import pytest

from lmsteer.cli import main
from lmsteer.errors import LMSteerError
from lmsteer.io import read_jsonl
from lmsteer.shards import merge_shards, num_shards, shard_of

PROMPTS = [{"prompt": {"text": t}} for t in
           ["the cat", "you are", "what a", "i love", "this is", "a dog"]]


def _prompts(tmp_path):
    p = tmp_path / "prompts.jsonl"
    p.write_text("".join(json.dumps(x) + "\n" for x in PROMPTS))
    return p


def _gen(tmp_path, out, *extra):
    return main(["generate", "--model", "tiny-llama", "--prompts", str(_prompts(tmp_path)),
          "--prompt-set", "toy", "--n-prompts", "5", "--samples", "3", "--max-new-tokens", "4",
          "--batch-size", "6", "--seed", "3", "--out", str(out / "generations.jsonl"),
          "--info-out", str(out / "model.json"), *extra])


def _score(out, *extra):
    main(["score", "--generations", str(out / "generations.jsonl"), "--scorers",
          "profanity-check", "--task", "detox", "--prompt-set", "toy", "--seed", "1",
          "--model-info", str(out / "model.json"), "--out-dir", str(out), *extra])


def test_shard_slices():
    ps = list(range(10))
    assert num_shards(10, 4) == 3 and num_shards(8, 4) == 2 and num_shards(1, 4) == 1
    assert shard_of(ps, 2, 4) == ([8, 9], 8)
    with pytest.raises(LMSteerError, match="does not exist: 10 prompts make 3 shards"):
        shard_of(ps, 3, 4)


def test_shards_merge_to_the_unsharded_run(tmp_path):
    whole = tmp_path / "whole"
    _gen(tmp_path, whole)
    _score(whole)
    shards = []
    for i in range(3):  # 2 prompts per shard = batch_size // samples: chunk seeds line up
        d = tmp_path / "shards" / str(i)
        _gen(tmp_path, d, "--shard", str(i), "--prompts-per-shard", "2")
        _score(d, "--scores-only")
        assert not (d / "record.json").exists() and (d / "scorers.json").is_file()
        shards.append(str(d))
    merged = tmp_path / "merged"
    main(["aggregate", "--shards", *shards, "--task", "detox", "--prompt-set", "toy",
          "--seed", "1", "--out-dir", str(merged)])
    assert read_jsonl(merged / "generations.jsonl") == read_jsonl(whole / "generations.jsonl")
    assert read_jsonl(merged / "scores.jsonl") == read_jsonl(whole / "scores.jsonl")
    a = json.loads((whole / "record.json").read_text())
    b = json.loads((merged / "record.json").read_text())
    assert b["shards"] == 3 and (a["n_prompts"], a["samples_per_prompt"]) == (5, 3)
    assert b["n_prompts"] == 5 and b["model"] == a["model"]
    assert a["metrics"].keys() == b["metrics"].keys()
    for k, m in a["metrics"].items():
        for f in ("n", "mean", "ci_low", "ci_high"):
            assert b["metrics"][k][f] == pytest.approx(m[f], abs=1e-5), (k, f)


def test_merge_refuses_bad_shards(tmp_path):
    d0, d1 = tmp_path / "0", tmp_path / "1"
    for i, d in enumerate((d0, d1)):
        _gen(tmp_path, d, "--shard", str(i), "--prompts-per-shard", "3")
        _score(d, "--scores-only")
    merge_shards([d0, d1])  # fine
    with pytest.raises(LMSteerError, match="prompts already in an earlier shard"):
        merge_shards([d0, d0])
    (d1 / "scores.jsonl").unlink()
    with pytest.raises(LMSteerError, match="missing scores.jsonl \\(rerun that shard\\)"):
        merge_shards([d0, d1])
    shutil.copy(d0 / "scores.jsonl", d1 / "scores.jsonl")
    info = json.loads((d1 / "model.json").read_text())
    info["output_matrix_sha256"] = "0" * 64
    (d1 / "model.json").write_text(json.dumps(info))
    with pytest.raises(LMSteerError, match="other model weights"):
        merge_shards([d0, d1])

def test_shard_flags_are_checked(tmp_path, caplog):
    assert _gen(tmp_path, tmp_path / "x", "--shard", "0") != 0
    assert "--shard needs --prompts-per-shard" in caplog.text
    assert _gen(tmp_path, tmp_path / "x", "--shard", "9", "--prompts-per-shard", "2") != 0
    assert "shard 9 does not exist: 5 prompts make 3 shards of 2" in caplog.text
    assert not (tmp_path / "x").exists()  # nothing written
