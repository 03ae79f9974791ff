"""Checks after the SLURM CI run: every run's record (merged from its shards), the tables, and
sacct: one COMPLETED SLURM job per job Snakemake submitted, none in another state."""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--results", required=True, type=Path)
    ap.add_argument("--sacct", required=True, type=Path)
    ap.add_argument("--snakemake-log", required=True, type=Path)
    a = ap.parse_args()
    problems: list[str] = []
    cfg = yaml.safe_load(Path("config/ci.yaml").read_text())
    for meth, m in cfg["detox"]["methods"].items():
        for ps in cfg["detox"]["prompt_sets"]:
            rec_path = a.results / "runs" / "detox" / cfg["models"][0] / meth / ps / "record.json"
            if not rec_path.is_file():
                problems.append(f"missing {rec_path}")
                continue
            rec = json.loads(rec_path.read_text())
            n = m.get("n_prompts", cfg["detox"]["n_prompts"])
            if rec.get("shards") != n or rec["n_prompts"] != n:  # one prompt per shard
                problems.append(f"{rec_path}: {rec.get('shards')} shards, {rec['n_prompts']} prompts")
    for f in ("tables/table1_detox.md", "tables/table1_spine.md", "tables/table2_sentiment.md",
              "leaderboard.md", "analysis/holistic.png"):
        if not (a.results / f).is_file():
            problems.append(f"missing {a.results / f}")
    submitted = set(re.findall(r"SLURM jobid (\d+)", a.snakemake_log.read_text()))
    rows = [line.split("|") for line in a.sacct.read_text().splitlines() if line.strip()]
    states = {r[0]: r[2] for r in rows}
    bad = {j: s for j, s in states.items() if s != "COMPLETED"}
    if not submitted:
        problems.append("no SLURM job ids in the Snakemake log")
    if submitted - states.keys():
        problems.append(f"jobs missing from sacct: {sorted(submitted - states.keys())}")
    if bad:
        problems.append(f"jobs not COMPLETED: {bad}")
    for p in problems:
        print(f"[slurm-ci] FAIL {p}")
    if not problems:
        print(f"[slurm-ci] OK: {len(submitted)} SLURM jobs, all COMPLETED in sacct; every run's "
              f"record merged from its shards; tables, leaderboard and analyses written")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
