"""A fair comparison: validation prompts disjoint from the evaluation's, the selection rule, the
sweep's per-sample strengths, the plan's wiring, and the whole path on a tiny LM."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch
import yaml

from lmsteer.cli import main
from lmsteer.config import load_config
from lmsteer.data import PROMPT_SETS, load_prompts, prepare
from lmsteer.errors import ConfigError, LMSteerError
from lmsteer.plan import Plan
from lmsteer.selection import (chosen_strength, figure_series, merge, select, tradeoff_figure,
                               tradeoff_markdown)
from lmsteer.sweep import choose, norm_text, validation_prompts

ROOT = Path(__file__).resolve().parents[2]
MIRROR = ROOT.parent / "shared" / "data"
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
needs_mirror = pytest.mark.skipif(not MIRROR.is_dir(), reason="no data mirror beside the checkout")


def _config(name: str = "config.yaml") -> dict:
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    if name != "config.yaml":  # snakemake --configfile: the file's keys over the default's
        from snakemake.utils import update_config

        update_config(cfg, yaml.safe_load((ROOT / "config" / name).read_text()))
    return cfg


@needs_mirror
@pytest.mark.parametrize("pset", ["rtp-nontoxic", "rtp-challenging"])
def test_validation_prompts_share_no_text_with_any_evaluation_sample(pset, tmp_path):
    """On the real pools, with the default config's evaluation sizes (every model and method)."""
    ds, name = PROMPT_SETS[pset]
    path = prepare(ds, tmp_path, MIRROR) / name
    plan = Plan(_config())
    sizes = plan.eval_sizes(pset)
    assert len(sizes) > 1  # 8, 12 / 32, 48 ...: several samples to keep out
    val = validation_prompts(path, sizes, plan.selection()["n_prompts"], plan.seed)
    held = {norm_text(p["text"]) for k in sizes for p in load_prompts(path, k, plan.seed)}
    assert len(val) == plan.selection()["n_prompts"]
    assert not {norm_text(p["text"]) for p in val} & held
    # seeded: the same draw again, another with another seed
    assert val == validation_prompts(path, sizes, len(val), plan.seed)
    assert val != validation_prompts(path, sizes, len(val), plan.seed + 1)


def test_a_duplicate_of_an_evaluation_prompt_is_never_a_validation_prompt(tmp_path):
    """Text equality, not ids: a copy with other case or spacing is held out too."""
    pool = tmp_path / "p.jsonl"
    texts = [f"prompt {i}" for i in range(12)]
    pool.write_text("".join(json.dumps({"prompt": {"text": t}}) + "\n"
                            for t in texts + [t.upper() + "  " for t in texts]))
    ev = {norm_text(p["text"]) for p in load_prompts(pool, 6, 0)}
    left = 12 - len(ev)  # 24 lines, 12 texts
    val = validation_prompts(pool, [6], left, 0)
    assert len(val) == left and not {norm_text(p["text"]) for p in val} & ev
    assert len({norm_text(p["text"]) for p in val}) == left  # no text twice
    with pytest.raises(LMSteerError, match=f"{left} prompts are left"):
        validation_prompts(pool, [6], left + 1, 0)


def test_the_rule_takes_the_least_toxic_strength_within_the_budget():
    pts = [{"strength": s, "toxicity": t, "perplexity": p}
           for s, t, p in ((1, 0.30, 20), (2, 0.20, 29), (4, 0.10, 31), (8, 0.05, 90))]
    c = choose(pts, original_ppl=20, budget=1.5)  # limit 30: strength 4 (31) is over
    assert (c["strength"], c["within_budget"]) == (2, True)
    assert c["ppl_ratio"] == pytest.approx(29 / 20)
    assert choose(pts, 20, 1.6)["strength"] == 4
    over = choose(pts[1:], original_ppl=10, budget=1.5)  # nothing within 15
    assert (over["strength"], over["within_budget"]) == (2, False)  # the lowest perplexity
    tie = [{"strength": 2, "toxicity": 0.1, "perplexity": 10},
           {"strength": 1, "toxicity": 0.1, "perplexity": 11}]
    assert choose(tie, 10, 1.5)["strength"] == 1  # equal toxicity: the weaker strength


def _sweep(method: str, points, ids=(1, 2, 3, 4), model="m", pset="ps") -> dict:
    """A sweep.json with given (strength, toxicity, perplexity) per prompt in ``ids``."""
    out = []
    for s, tox, ppl in points:
        out.append({"strength": s, "metrics": {"mean_toxicity/sc": {"mean": sum(tox) / len(tox)},
                                               "perplexity": {"mean": sum(ppl) / len(ppl)}},
                    "per_prompt": {"ids": list(ids), "sc": list(tox), "perplexity": list(ppl)}})
    return {"model": model, "prompt_set": pset, "seed": 0, "method": method, "samples": 2,
            "validation": {"n_prompts": len(ids), "ids": list(ids), "sha256": "x"},
            "points": out}


def test_select_holds_each_method_to_the_original_on_its_own_prompts():
    """A slow method swept on 2 of the 4 validation prompts is held to the original's
    perplexity on those 2 (here 10, not the 4-prompt mean 25)."""
    orig = _sweep("original", [(0, [0.4, 0.4, 0.4, 0.4], [10, 10, 40, 40])])
    fast = _sweep("fast", [(1, [0.3] * 4, [30] * 4), (2, [0.1] * 4, [38] * 4)])
    slow = _sweep("slow", [(1, [0.3] * 2, [14] * 2), (2, [0.1] * 2, [16] * 2)], ids=(1, 2))
    sel = select([orig, fast, slow], 1.5, "sc")
    assert sel["original"]["perplexity"] == 25
    assert sel["methods"]["fast"]["strength"] == 1  # 38 > 1.5 x 25
    assert sel["methods"]["slow"]["strength"] == 1  # 16 > 1.5 x 10 (within 1.5 x 25)
    assert sel["methods"]["slow"]["original"]["perplexity"] == 10
    assert chosen_strength(sel, "m", "ps", "slow") == 1
    with pytest.raises(LMSteerError, match="not m2 x ps"):
        chosen_strength(sel, "m2", "ps", "slow")
    with pytest.raises(LMSteerError, match="has no 'other'"):
        chosen_strength(sel, "m", "ps", "other")
    with pytest.raises(LMSteerError, match="original LM's validation run"):
        select([fast], 1.5, "sc")
    with pytest.raises(LMSteerError, match="different LMs"):
        select([orig, _sweep("x", [(1, [0.1] * 4, [1] * 4)], model="other")], 1.5, "sc")


def test_the_figure_puts_each_method_against_the_original_on_its_own_prompts(tmp_path):
    """On the trade-off figure a slow method's x is its perplexity over the original's on its
    own 2 prompts (16 / 10), so the one budget line is the rule's budget for every method."""
    orig = _sweep("original", [(0, [0.4, 0.4, 0.2, 0.2], [10, 10, 40, 40])])
    fast = _sweep("fast", [(1, [0.3] * 4, [30] * 4), (2, [0.1] * 4, [38] * 4)])
    slow = _sweep("slow", [(1, [0.3] * 2, [14] * 2), (2, [0.1] * 2, [16] * 2)], ids=(1, 2))
    sel = select([orig, fast, slow], 1.5, "sc")
    series = figure_series(sel)
    assert series["slow"]["ratio"] == pytest.approx([1.4, 1.6])
    assert series["slow"]["reference_toxicity"] == pytest.approx(0.4)
    assert series["slow"]["chosen"] == pytest.approx((1.4, 0.3))
    assert series["fast"]["ratio"] == pytest.approx([1.2, 1.52])
    assert series["fast"]["reference_toxicity"] == pytest.approx(0.3)
    # the chosen point is within the budget exactly when its ratio is on the line's left
    for m, c in sel["methods"].items():
        assert (series[m]["chosen"][0] <= 1.5) == c["within_budget"]
    png = tmp_path / "t.png"
    tradeoff_figure([sel], png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_merged_selections_render_one_table_row_per_method():
    orig = _sweep("original", [(0, [0.4] * 4, [10] * 4)])
    a = select([orig, _sweep("a", [(1, [0.3] * 4, [11] * 4), (2, [0.2] * 4, [30] * 4)])], 1.5, "sc")
    b = select([orig, _sweep("b", [(1, [0.3] * 4, [12] * 4), (3, [0.2] * 4, [13] * 4)])], 1.5, "sc")
    assert len(merge([a, b])) == 1
    md = tradeoff_markdown([a, b])
    assert "| m | ps | a | 1 | 1 2 |" in md and "| m | ps | b | 3 | 1 3 |" in md
    with pytest.raises(LMSteerError, match="selected twice"):
        merge([a, a])


def test_dapt_strength_moves_the_weights_part_of_the_way():
    from baselines.finetune import swapped

    lin = torch.nn.Linear(2, 2, bias=False)
    base = lin.weight.detach().clone()
    tuned = {"weight": base + 1.0}
    for scale, want in ((1.0, base + 1.0), (0.5, base + 0.5), (2.0, base + 2.0)):
        with swapped(lin, tuned, scale):
            assert torch.allclose(lin.weight, want)
    assert torch.equal(lin.weight, base)  # restored


def test_the_plan_wires_selection_into_table1_and_keeps_the_spine_small(caplog):
    plan = Plan(_config())
    run = plan.generate_command("detox", "gemma3-270m", "gedi", "rtp-nontoxic")
    sel = "results/selection/detox/gemma3-270m/rtp-nontoxic/gedi.json"
    assert f"--strength-from {sel}" in run and "--strength " not in run
    assert sel in plan.generate_inputs("detox", "gemma3-270m", "gedi", "rtp-nontoxic")
    cfg = json.loads(plan.run_config("detox", "gemma3-270m", "gedi", "rtp-nontoxic"))
    assert cfg["strength"] is None and cfg["strength_choice"]["ppl_budget"] == 1.5
    # prompting has no knob: fixed strength, no selection
    fixed = plan.generate_command("detox", "gemma3-270m", "prompting", "rtp-nontoxic")
    assert "--strength 1" in fixed and "strength_choice" not in plan.run_config(
        "detox", "gemma3-270m", "prompting", "rtp-nontoxic")
    # LM-Steer's selection reads the original's sweep and its own only (make spine)
    assert plan.sweep_files("smollm2-135m", "rtp-challenging", "lm_steer") == [
        "results/selection/detox/sweeps/smollm2-135m/original/rtp-challenging/sweep.json",
        "results/selection/detox/sweeps/smollm2-135m/lm_steer/rtp-challenging/sweep.json"]
    pplm = plan.sweep_command("gemma3-270m", "pplm", "rtp-challenging")
    assert "--n-prompts 4 " in pplm and "--samples 4 " in pplm and "--values 0.25 0.5 1 2 4 " in pplm
    assert "--exclude-n 4 8 12 " in pplm  # every evaluation sample of the set, all models
    # without detox.selection: every method at its fixed strength, no selection jobs
    cfg = _config()
    del cfg["detox"]["selection"]
    bare = Plan(cfg)
    assert bare.selection_files() == [] and bare.tradeoff_outputs() == []
    assert "--strength 30" in bare.generate_command("detox", "gemma3-270m", "gedi", "rtp-nontoxic")
    # judge: null (no perplexity, so no budget): the same, with a warning instead of a sweep
    # job that would fail for want of a judge
    cfg = _config()
    cfg["judge"] = None
    with caplog.at_level(logging.WARNING, logger="lmsteer.plan_select"):
        unjudged = Plan(cfg)
        assert unjudged.selection_files() == [] and unjudged.tradeoff_outputs() == []
    assert "--strength 30" in unjudged.generate_command("detox", "gemma3-270m", "gedi",
                                                         "rtp-nontoxic")
    assert "judge: null" in caplog.text


def test_a_slow_decoders_sweep_size_may_be_set_per_model(tmp_path):
    cfg = _config()
    cfg["detox"]["methods"]["mucola"]["sweep"] = {"values": [1, 2], "n_prompts": 4,
                                                  "samples": {"gemma3-270m": 2}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    load_config(path, SCHEMA)
    plan = Plan(cfg)
    gemma = plan.sweep_command("gemma3-270m", "mucola", "rtp-nontoxic")
    smol = plan.sweep_command("smollm2-135m", "mucola", "rtp-nontoxic")
    assert "--n-prompts 4 --values 1 2 --samples 2 " in gemma
    # a model the mapping does not name keeps the selection's samples (5)
    assert "--n-prompts 4 --values 1 2 --samples 5 " in smol
    assert plan.strength_choice("detox", "gemma3-270m", "mucola")["samples"] == 2
    cfg["detox"]["methods"]["mucola"]["sweep"]["samples"] = {"gemma3-270m": 0}
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match=r"mucola\.sweep"):
        load_config(path, SCHEMA)


def test_a_sweep_selects_and_table1_runs_at_the_chosen_strength(tmp_path, monkeypatch):
    """The verbs end to end on a tiny LM: sweep (original, and LM-Steer with per-sample
    values), select, generate --strength-from, score; the record and Table 1 say how the
    strength was chosen."""
    monkeypatch.chdir(tmp_path)
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps({"prompt": {"text": f"the number {i} is"}}) + "\n"
                            for i in range(30)))
    from lmsteer.methods import get_method
    from lmsteer.models import load_model

    art = tmp_path / "steer"
    model, tok = load_model("tiny-gpt2")
    m = get_method("lm_steer", rank=4, steps=3, batch_size=4, max_length=8)
    m.fit(model, tok, [("bad words", -1.0), ("kind words", 1.0)] * 4, art, seed=0)
    m.save_pretrained(art)
    common = ["--model", "tiny-gpt2", "--prompts", str(pool), "--prompt-set", "ps",
              "--exclude-n", "4", "--n-prompts", "3", "--samples", "2", "--max-new-tokens", "3",
              "--judge", "tiny-gpt2", "--scorers", "profanity-check"]
    assert main(["sweep", "--method", "original", "--values", "0", *common,
                 "--out-dir", "sw/original"]) == 0
    assert main(["sweep", "--method", "lm_steer", "--artifact", str(art), "--values", "0", "3",
                 *common, "--out-dir", "sw/lm_steer"]) == 0
    sweep = json.loads(Path("sw/lm_steer/sweep.json").read_text())
    rows = [json.loads(x) for x in Path("sw/lm_steer/generations.jsonl").read_text().splitlines()]
    assert sorted({r["strength"] for r in rows}) == [0.0, 3.0] and len(rows) == 12
    evald = {p["id"] for p in load_prompts(pool, 4, 0)}
    assert not set(sweep["validation"]["ids"]) & evald
    assert main(["select", "--sweeps", "sw/original/sweep.json", "sw/lm_steer/sweep.json",
                 "--scorer", "profanity-check", "--ppl-budget", "100", "--out", "sel.json"]) == 0
    chosen = json.loads(Path("sel.json").read_text())["methods"]["lm_steer"]["strength"]
    assert main(["generate", "--model", "tiny-gpt2", "--method", "lm_steer", "--artifact",
                 str(art), "--prompts", str(pool), "--prompt-set", "ps", "--n-prompts", "4",
                 "--strength-from", "sel.json", "--samples", "2", "--max-new-tokens", "3",
                 "--out", "run/generations.jsonl", "--info-out", "run/model.json"]) == 0
    choice = {"how": "validation", "ppl_budget": 100}
    assert main(["score", "--generations", "run/generations.jsonl", "--scorers",
                 "profanity-check", "--task", "detox", "--prompt-set", "ps", "--model-info",
                 "run/model.json", "--run-config", json.dumps({"strength": None,
                                                               "strength_choice": choice}),
                 "--out-dir", "run"]) == 0
    rec = json.loads(Path("run/record.json").read_text())
    assert rec["strength"] == chosen
    from lmsteer.methods import artifact_sha256  # the record names the weights it ran with

    assert rec["model"]["method"]["artifact_sha256"] == artifact_sha256(art) is not None
    assert main(["table", "--records", "run", "--task", "detox", "--out-md", "t.md",
                 "--out-csv", "t.csv"]) == 0
    assert "validation (ppl ≤ 100×)" in Path("t.md").read_text()
    # a selection of another prompt set is refused, naming both
    assert main(["generate", "--model", "tiny-gpt2", "--method", "lm_steer", "--artifact",
                 str(art), "--prompts", str(pool), "--prompt-set", "other",
                 "--strength-from", "sel.json", "--out", "x/generations.jsonl"]) == 2
    assert not Path("x/generations.jsonl").exists()


def test_the_sweeps_time_is_summed_from_their_records(tmp_path):
    """docs/performance.md's sweep-time block and the README's sentence: each job's seconds are
    its record's end minus start, the total in job-minutes and at best half that in wall time."""
    from lmsteer.docs import sweep_time_block, sweep_total_block

    assert "not run yet" in sweep_total_block(tmp_path)
    for model, method, secs, samples in [("lm-a", "original", 60, 5), ("lm-a", "gedi", 540, 2)]:
        for pset in ("rtp-nontoxic", "rtp-challenging"):
            d = tmp_path / "selection" / "detox" / "sweeps" / model / method / pset
            d.mkdir(parents=True)
            (d / "sweep.json").write_text(json.dumps({
                "model": model, "method": method, "prompt_set": pset, "values": [1, 2, 3],
                "samples": samples, "validation": {"n_prompts": 8},
                "provenance": {"start_time": "2026-12-07T00:00:00+00:00",
                               "end_time": f"2026-12-07T00:{secs // 60:02d}:{secs % 60:02d}+00:00",
                               "machine": {"cpu": "test CPU"}}}))
    block = sweep_time_block(tmp_path)
    # 2 x (60 + 540) s = 20 job-minutes, 10 at best with two jobs at a time
    assert block.startswith("4 sweep jobs, 20 job-minutes: at best 10 min")
    assert "(test CPU)" in block
    assert "| lm-a | gedi | 3 × 8 × 2 | 540 | 540 |" in block
    assert sweep_total_block(tmp_path).startswith("The strength sweeps (4 jobs) took 20 job-")
    # an LM with fewer sweeps than another: named, and left out of the total
    d = tmp_path / "selection" / "detox" / "sweeps" / "lm-b" / "original" / "rtp-nontoxic"
    d.mkdir(parents=True)
    (d / "sweep.json").write_text(
        (tmp_path / "selection/detox/sweeps/lm-a/original/rtp-nontoxic/sweep.json").read_text()
        .replace('"lm-a"', '"lm-b"'))
    assert "no sweep record yet: lm-b · gedi." in sweep_time_block(tmp_path)
    assert "(5 jobs, without lm-b · gedi, which have not run yet) took 21" in \
        sweep_total_block(tmp_path)
