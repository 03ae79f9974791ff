"""A user's own model -- a local folder written by save_pretrained -- runs through the DAG under
a safe run name (the folder's name, or an explicit {name, path} entry)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lmsteer.names import model_entries

ROOT = Path(__file__).resolve().parents[2]


def test_run_names_of_model_entries(tmp_path):
    folder = tmp_path / "my-llm"
    folder.mkdir()
    assert model_entries(["gpt2", "EleutherAI/pythia-70m", str(folder), str(folder) + "/",
                          {"name": "mine", "path": "org/other"}][:1]) == {"gpt2": "gpt2"}
    assert model_entries(["EleutherAI/pythia-70m", str(folder),
                          {"name": "mine", "path": "org/other"}]) == {
        "pythia-70m": "EleutherAI/pythia-70m", "my-llm": str(folder), "mine": "org/other"}
    assert model_entries([str(folder) + "/"]) == {"my-llm": str(folder) + "/"}


@pytest.fixture(scope="module")
def own_model(tmp_path_factory) -> Path:
    """A tiny GPT-2 and its tokenizer saved with save_pretrained, as a user would."""
    from lmsteer.models import load_tiny

    folder = tmp_path_factory.mktemp("user") / "my-tiny-gpt2"
    model, tok = load_tiny("gpt2", seed=0)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def test_a_home_relative_folder_loads(own_model, monkeypatch):
    """``~/...`` reaches the CLI shell-quoted (unexpanded): the loader expands it."""
    from lmsteer.models import load_model

    monkeypatch.setenv("HOME", str(own_model.parent))
    model, _ = load_model(f"~/{own_model.name}")
    assert model.config.model_type == "gpt2"


def _config(tmp: Path, own_model: Path, entry=None) -> Path:
    cfg = {
        "results_dir": str(tmp / "results"), "models": [entry or str(own_model)], "judge": None,
        "scorers": ["profanity-check"], "job_threads": 1,
        "detox": {
            "methods": {"original": {"strength": 0},
                        "lm_steer": {"strength": 5, "params": {"dummy_value": 0}}},
            "prompt_sets": ["rtp-nontoxic"], "n_prompts": 2,
            "train": {"sources": ["davidson", "olid"], "per_class": 16,
                      "params": {"rank": 4, "steps": 5, "batch_size": 4, "max_length": 16}},
            "generation": {"samples": 2, "max_new_tokens": 4, "top_p": 0.9, "batch_size": 4}},
    }
    path = tmp / "own.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _snakemake(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    return subprocess.run([sys.executable, "-m", "snakemake", "--profile", "profiles/default",
                           *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=env)


def test_a_local_folder_plans_under_its_folder_name(tmp_path, own_model):
    cfg = _config(tmp_path, own_model)
    assert subprocess.run([sys.executable, "-m", "lmsteer", "validate-config", "--config",
                           str(cfg)], cwd=ROOT).returncode == 0
    r = _snakemake("spine", "-n", "--forceall", "--configfile", str(cfg))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    runs = f"{tmp_path}/results/runs/detox/my-tiny-gpt2"
    assert f"{runs}/lm_steer/steer/method.json" in r.stdout
    assert f"{runs}/original/rtp-nontoxic/record.json" in r.stdout
    assert f"--model {own_model} --model-name my-tiny-gpt2 " in r.stdout
    assert "MissingInputException" not in r.stdout + r.stderr
    # an explicit {name, path} entry names the run folders
    cfg = _config(tmp_path, own_model, {"name": "mine", "path": str(own_model)})
    r = _snakemake("spine", "-n", "--forceall", "--configfile", str(cfg))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert f"{tmp_path}/results/runs/detox/mine/lm_steer/steer/method.json" in r.stdout
    assert f"--model {own_model} --model-name mine" in r.stdout


@pytest.mark.integration
def test_the_dag_runs_on_a_local_folder_model(tmp_path, own_model):
    cfg = _config(tmp_path, own_model)
    r = _snakemake("spine", "--configfile", str(cfg))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    runs = tmp_path / "results" / "runs" / "detox" / "my-tiny-gpt2"
    for method in ("original", "lm_steer"):
        rec = json.loads((runs / method / "rtp-nontoxic" / "record.json").read_text())
        assert rec["backbone"] == "my-tiny-gpt2" and rec["model"]["source"] == "local"
        assert rec["model"]["name"] == str(own_model)
        assert rec["n_prompts"] == 2 and rec["samples_per_prompt"] == 2
    table = (tmp_path / "results" / "tables" / "table1_spine.md").read_text()
    assert "my-tiny-gpt2" in table and "lm_steer" in table
