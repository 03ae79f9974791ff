"""`snakemake spine` runs issue 2's part of the study alone: LM-Steer's training and the original
LM and LM-Steer on every model and prompt set, then table1_spine -- no baseline, no Table 2."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _dry_run(cfg: dict, tmp_path: Path, *targets: str) -> str:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    r = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--nolock", *targets,
                        "--configfile", str(path)], cwd=ROOT, capture_output=True, text=True,
                       timeout=600, env=dict(os.environ, PATH=f"{Path(sys.executable).parent}:"
                                                          f"{os.environ['PATH']}"))
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def _blocks(out: str) -> Iterator[tuple[str, str]]:
    """(rule, the job's lines) of every job in a dry run's listing."""
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", out):
        rule = re.match(r"(?:local)?rule (\w+):", block)
        if rule:
            yield rule.group(1), block


def _jobs(out: str) -> set[tuple[str, str]]:
    """(rule, method or '') of every job in a dry run's listing."""
    jobs = set()
    for rule, block in _blocks(out):
        meth = re.search(r"wildcards: .*?method=(\w+)", block)
        jobs.add((rule, meth.group(1) if meth else ""))
    return jobs


def test_spine_target_lists_only_the_spines_jobs(tmp_path):
    cfg = yaml.safe_load((ROOT / "config" / "ci.yaml").read_text())
    cfg.update(models=["tiny-gpt2", "tiny-llama"], judge="tiny-gpt2",
               results_dir=str(tmp_path / "r"))
    out = _dry_run(cfg, tmp_path, "spine")
    jobs = _jobs(out)
    rules = {r for r, _ in jobs}  # (prepare_data and convert_model where resources/ lacks them)
    assert {"train", "generate", "score", "table1_spine", "spine"} <= rules
    assert rules <= {"prepare_data", "convert_model", "train", "generate", "score", "sweep",
                     "select", "table1_spine", "spine"}, sorted(jobs)
    assert {m for r, m in jobs if r in ("generate", "score")} == {"original", "lm_steer"}
    # LM-Steer's strength is chosen on validation prompts: its sweep and the original's only
    assert {m for r, m in jobs if r == "sweep"} == {"original", "lm_steer"}
    assert {m for r, m in jobs if r == "select"} == {"lm_steer"}
    assert {m for r, m in jobs if r == "train"} == {"lm_steer"}
    runs = re.findall(r"lmsteer generate --model (\S+) --method (\S+) .*?--prompt-set (\S+)", out)
    assert sorted(runs) == sorted((m, meth, ps) for m in ("tiny-gpt2", "tiny-llama")
                                  for meth in ("original", "lm_steer")
                                  for ps in cfg["detox"]["prompt_sets"])
    table = re.search(r"lmsteer table --records (.*?) --task detox", out).group(1).split()
    assert len(table) == 2 * 2 * len(cfg["detox"]["prompt_sets"])  # 8 record files
    assert all(p.endswith("record.json") and ("/original/" in p or "/lm_steer/" in p)
               for p in table)
    # the full DAG renders it too, beside Table 1
    assert ("table1_spine", "") in _jobs(_dry_run(cfg, tmp_path))


def _threads(out: str) -> dict[str, set[int]]:
    """rule -> the thread counts its jobs got in a dry run's listing (1 when none is shown)."""
    got: dict[str, set[int]] = {}
    for rule, block in _blocks(out):
        n = re.search(r"^\s*threads: (\d+)", block, re.M)
        got.setdefault(rule, set()).add(int(n.group(1)) if n else 1)
    return got


def test_model_jobs_take_job_threads_and_efficiency_two(tmp_path):
    """`job_threads` sets every model job's threads (Snakemake exports them as OMP_NUM_THREADS),
    so config.yaml's 1 runs two jobs at once on 2 cores; the efficiency timing keeps 2."""
    cfg = yaml.safe_load((ROOT / "config" / "ci.yaml").read_text())
    cfg.update(models=["tiny-gpt2"], judge="tiny-gpt2", results_dir=str(tmp_path / "r"))
    for n in (1, 3):
        cfg["job_threads"] = n
        got = _threads(_dry_run(cfg, tmp_path, "--cores", "8"))
        for rule in ("train", "generate", "score", "analysis_highlighting"):
            assert got.get(rule) == {n}, (rule, sorted(got))
        assert got["efficiency"] == {2}


def test_training_and_steered_runs_are_scheduled_first(tmp_path):
    """Priorities: data and conversion, then LM-Steer's training (the longest job), then its
    runs (they wait for it), each set's longer runs before shorter ones, the original LM last."""
    cfg = yaml.safe_load((ROOT / "config" / "ci.yaml").read_text())
    cfg.update(models=["tiny-gpt2"], judge="tiny-gpt2", results_dir=str(tmp_path / "r"))
    cfg["detox"]["n_prompts"] = 3
    cfg["model_overrides"] = {"tiny-gpt2": {"n_prompts": {"rtp-challenging": 5}}}
    prio = {}
    for rule, block in _blocks(_dry_run(cfg, tmp_path, "spine", "--forceall")):
        run = re.search(r"method=(\w+), (?:part|unit)=([\w-]+)", block)
        p = re.search(r"^\s*priority: ([\d.e-]+)", block, re.M)
        prio[(rule, *(run.groups() if run else ()))] = float(p.group(1)) if p else 0
    gen = {k[1:]: v for k, v in prio.items() if k[0] == "generate"}
    assert prio[("prepare_data",)] > prio[("train",)] > max(gen.values())
    assert (gen[("lm_steer", "rtp-challenging")] > gen[("lm_steer", "rtp-nontoxic")]
            > gen[("original", "rtp-challenging")] > gen[("original", "rtp-nontoxic")] > 0)
    assert all(prio[("score", *k)] == v for k, v in gen.items())
