"""The study plan as data: ``Plan.runs()`` turns a config into its run specs, without
Snakemake; the rules read the same Plan (tests/integration shows the DAG they make)."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from lmsteer.plan import Plan, Run
from lmsteer.plan_analysis import StudyPlan

ROOT = Path(__file__).resolve().parents[2]


def _config(name: str) -> dict:
    """A shipped config as Snakemake sees it: ``--configfile`` extends config/config.yaml."""
    base = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    if name == "config.yaml":
        return base

    def merge(a: dict, b: dict) -> dict:
        for k, v in b.items():
            a[k] = merge(a.get(k, {}), v) if isinstance(v, dict) and isinstance(a.get(k), dict) \
                else v
        return a
    return merge(base, yaml.safe_load((ROOT / "config" / name).read_text()))


@pytest.fixture(scope="module")
def default() -> list[Run]:
    return Plan(_config("config.yaml")).runs()


def test_the_default_study_has_every_method_on_both_lms(default):
    detox = [r for r in default if r.task == "detox"]
    assert len(detox) == 10 * 2 * 2  # methods x models x prompt sets
    assert len([r for r in default if r.task == "sentiment"]) == 38
    assert {r.model for r in default} == {"smollm2-135m", "gemma3-270m"}


def test_what_trains_comes_from_the_class(default):
    trains = {r.method for r in default if r.trains}
    assert trains == {"lm_steer", "gedi", "dexperts", "soft_blacklist", "dapt", "lora", "pplm",
                      "mucola"}
    for r in default:
        assert (r.artifact is not None) == r.trains
    steer = next(r for r in default if r.method == "lm_steer" and r.task == "detox")
    assert steer.artifact.endswith("/detox/smollm2-135m/lm_steer/steer")


def _run(runs: list[Run], **kw) -> Run:
    (hit,) = [r for r in runs if all(getattr(r, k) == v for k, v in kw.items())]
    return hit


def test_per_model_and_per_method_settings(default):
    g = dict(task="detox", model="gemma3-270m")
    assert _run(default, **g, method="original", unit="rtp-nontoxic").n_prompts == 48
    assert _run(default, **g, method="original", unit="rtp-challenging").n_prompts == 12
    assert _run(default, **g, method="pplm", unit="rtp-nontoxic").n_prompts == 8
    assert _run(default, **g, method="mucola", unit="rtp-nontoxic").n_prompts == 4
    assert _run(default, **g, method="mucola", unit="rtp-nontoxic").resources["mem_mb"] == 10000
    s = _run(default, task="detox", model="smollm2-135m", method="lm_steer", unit="rtp-nontoxic")
    assert (s.strength, s.samples, s.max_new_tokens, s.top_p, s.batch_size) == (2, 25, 20, 0.9,
                                                                                 100)
    assert s.params == {"dummy_value": 0}
    assert s.record.endswith("runs/detox/smollm2-135m/lm_steer/rtp-nontoxic/record.json")


def test_sentiment_targets_carry_the_sign(default):
    sent = {(r.model, r.method, r.unit): r for r in default if r.task == "sentiment"}
    assert sent[("gemma3-270m", "lm_steer", "positive")].strength == 3
    assert sent[("gemma3-270m", "lm_steer", "negative")].strength == -3
    assert sent[("smollm2-135m", "original", "none")].strength == 0
    assert sent[("smollm2-135m", "lm_steer", "positive")].parts == ("positive/neutral",
                                                                    "positive/negative")


def test_steered_and_longer_runs_are_scheduled_first(default):
    p = {(r.model, r.method, r.unit): r.priority for r in default if r.task == "detox"}
    g = "gemma3-270m"
    assert p[(g, "lm_steer", "rtp-nontoxic")] > p[(g, "lm_steer", "rtp-challenging")] \
        > p[(g, "original", "rtp-nontoxic")] > p[(g, "original", "rtp-challenging")] > 0


def test_the_paper_grid_is_sharded():
    runs = Plan(_config("paper.yaml")).runs()
    big = _run(runs, task="detox", model="pythia-70m", method="lm_steer", unit="rtp-nontoxic-10k")
    assert big.parts == tuple(f"rtp-nontoxic-10k/shards/{i}" for i in range(10))
    assert len(_run(runs, task="detox", model="gpt2", method="pplm",
                    unit="rtp-nontoxic-10k").parts) == 1
    assert _run(runs, task="detox", model="llama-2-7b", method="lm_steer",
                unit="rtp-nontoxic-10k").resources == {"gpu": 1, "mem_mb": 48000, "runtime": 180}


def test_commands_quote_a_users_folder_and_name_its_run(tmp_path):
    folder = tmp_path / "my-model"
    folder.mkdir()
    cfg = _config("ci.yaml")
    cfg["models"] = [str(folder)]
    plan = StudyPlan(copy.deepcopy(cfg))
    (run,) = [r for r in plan.runs("detox") if r.method == "original"
              and r.unit == "rtp-nontoxic"]
    assert run.model == "my-model" and "/my-model/original/" in run.record
    cmd = plan.generate_command("detox", "my-model", "original", "rtp-nontoxic")
    assert f"--model {folder} --model-name my-model " in cmd
    assert plan.train_command("detox", "my-model", "lm_steer").startswith(
        f"python -m lmsteer train --model {folder} --method lm_steer ")
