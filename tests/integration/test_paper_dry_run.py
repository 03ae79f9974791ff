"""`snakemake -n --configfile config/paper.yaml` builds the whole paper grid offline."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_paper_config_dry_run_lists_every_backbone_method_and_analysis():
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
               HF_HUB_OFFLINE="1", no_proxy="*", http_proxy="http://127.0.0.1:9",
               https_proxy="http://127.0.0.1:9")  # any download attempt would fail
    r = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--configfile",
                        "config/paper.yaml"], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    out = r.stdout + r.stderr
    cfg = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
    models, methods = cfg["models"], cfg["detox"]["methods"]
    assert len(models) == 12 and len(methods) == 10
    jobs = re.findall(r"rule (\w+):\n(?:    .*\n)*?    wildcards: ([^\n]+)", out)
    seen: dict[str, set] = {}
    for rule, wc in jobs:
        seen.setdefault(rule, set()).add(tuple(sorted(dict(
            kv.split("=", 1) for kv in wc.split(", ")).items())))
    agg = {(dict(w)["model"], dict(w)["method"]) for w in seen["aggregate"]}
    assert agg == {(m, meth) for m in models for meth in methods}  # every backbone x method
    sent = {(dict(w)["model"], dict(w)["method"]) for w in seen["score"]
            if dict(w)["task"] == "sentiment"}
    assert sent == {(m, meth) for m in models for meth in cfg["sentiment"]["methods"]}
    assert not {w for w in seen["score"] if dict(w)["task"] == "detox"}  # sharded: aggregate
    # 10,000 prompts in shards of 1,000; PPLM and MuCoLa on 1,000 prompts: one shard
    detox_gen = [dict(w)["part"] for w in seen["generate"] if dict(w)["task"] == "detox"]
    assert {p.split("/shards/")[1] for p in detox_gen} == {str(i) for i in range(10)}
    assert len(detox_gen) == len(models) * (8 * 10 + 2)
    for rule in ("analysis_continuous", "analysis_compositional", "analysis_data_efficiency",
                 "analysis_highlighting", "analysis_probing", "transfer_table", "efficiency"):
        assert rule in seen, rule
    assert {dict(w)["tgt"] for w in seen["transfer_table"]} == {"gpt2-medium", "gpt-j-6b",
                                                                "llama-2-7b"}
    assert "rule analysis_holistic:" in out and "rule table1_detox:" in out
    # resources come from the model registry: a GPU for the paper backbones
    res = re.search(r"wildcards: task=detox, model=llama-2-7b, method=lm_steer, "
                    r"part=\S+/shards/0\n"
                    r"(?:    .*\n)*?    resources: ([^\n]*)", out).group(1)
    assert "gpu=1" in res and "mem_mb=48000" in res
    # and the generation batch size (registry: 50 sequences for the 7B models)
    assert re.search(r"--model llama-2-7b --method lm_steer .*--batch-size 50 ", out)


def _job_mem(out: str, method: str) -> dict[tuple[str, str, str], set[int]]:
    """(rule, task, model) -> the mem_mb values that ``method``'s jobs request, from a dry
    run."""
    mem: dict[tuple[str, str, str], set[int]] = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", out):
        rule = re.match(r"(?:local)?rule (\w+):", block)
        run = re.search(r"wildcards: task=(\w+), model=([^,\s]+)", block)
        mb = re.search(r"resources: .*?mem_mb=(\d+)", block)
        if rule and run and mb and f"method={method}" in block:
            mem.setdefault((rule.group(1), *run.groups()), set()).add(int(mb.group(1)))
    return mem


def test_a_methods_prompt_count_and_memory_can_differ_per_model(tmp_path):
    """detox/sentiment ``methods.<m>.n_prompts`` as model -> number: the named model's jobs get
    that count, the others keep theirs; a bad count is refused with its key. A method's own
    ``mem_mb`` (one number or model -> number) raises its generation jobs' memory request."""
    cfg = yaml.safe_load((ROOT / "config" / "ci.yaml").read_text())
    cfg.update(models=["tiny-gpt2", "tiny-llama"], judge="tiny-gpt2",
               results_dir=str(tmp_path / "r"))
    cfg["detox"]["methods"] = {"prompting": {"strength": 1, "n_prompts": {"tiny-llama": 1},
                                             "mem_mb": {"tiny-llama": 9000}}}
    cfg["sentiment"]["methods"] = {"prompting": {"strength": 1, "params": {"task": "sentiment"},
                                                 "n_prompts": {"tiny-gpt2": 3}, "mem_mb": 7000}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    r = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--nolock",
                        f"{tmp_path}/r/tables/table1_detox.md",
                        f"{tmp_path}/r/tables/table2_sentiment.md", "--configfile", str(path)],
                       cwd=ROOT, capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, PATH=f"{Path(sys.executable).parent}:"
                                                 f"{os.environ['PATH']}"))
    assert r.returncode == 0, r.stderr[-3000:]
    runs = re.findall(r"lmsteer generate --model (\S+) --method prompting .*?"
                      r"--prompt-set (\S+) --n-prompts (\d+)", r.stdout)
    counts = {(m, n) for m, ps, n in runs if ps.startswith("rtp-")}
    assert counts == {("tiny-llama", "1"), ("tiny-gpt2", str(cfg["detox"]["n_prompts"]))}
    sent = {(m, n) for m, ps, n in runs if ps.startswith("sentiment-")}
    assert sent == {("tiny-gpt2", "3"), ("tiny-llama", str(cfg["sentiment"]["n_prompts"]))}
    mem = _job_mem(r.stdout, "prompting")  # the registry gives the tiny models 2000
    assert mem[("generate", "detox", "tiny-llama")] == {9000}
    assert mem[("generate", "detox", "tiny-gpt2")] == {2000}
    assert mem[("generate", "sentiment", "tiny-gpt2")] == {7000}
    assert mem[("score", "detox", "tiny-llama")] == {2000}  # scoring does not sample: unchanged
    cfg["detox"]["methods"]["prompting"]["n_prompts"] = {"tiny-llama": 0}
    path.write_text(yaml.safe_dump(cfg))
    bad = subprocess.run([sys.executable, "-m", "lmsteer", "validate-config", "--config",
                          str(path)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "n_prompts" in bad.stderr
