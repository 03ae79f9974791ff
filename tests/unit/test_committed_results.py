"""The committed tables, leaderboard and holistic analysis are what the DAG's rules make from
the committed records: re-rendered here, they must match byte for byte (the holistic JSON up to
its provenance: time, commit, machine). A number edited by hand in any of them fails this test.
Figures (PNG) are left out: their bytes depend on the plotting library's build."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lmsteer.cli import main

ROOT = Path(__file__).resolve().parents[2]
RES = ROOT / "results"
RUNS = RES / "runs"
SPINE = [str(RUNS / "detox" / m / meth) for m in ("smollm2-135m", "gemma3-270m")
         for meth in ("original", "lm_steer")]


def render(out: Path, runs: Path = RUNS) -> dict[str, Path]:
    """Every derived file, rendered from ``runs`` into ``out`` by the rules' commands."""
    spine = [str(runs / Path(p).relative_to(RUNS)) for p in SPINE]
    cmds = [
        ["table", "--records", str(runs / "detox"), "--task", "detox",
         "--out-md", str(out / "table1_detox.md"), "--out-csv", str(out / "table1_detox.csv")],
        ["table", "--records", *spine, "--task", "detox", "--title",
         "Table 1, spine: original vs. LM-Steer", "--out-md", str(out / "table1_spine.md"),
         "--out-csv", str(out / "table1_spine.csv")],
        ["table", "--records", str(runs / "sentiment"), "--task", "sentiment", "--title",
         "Table 2: sentiment control", "--out-md", str(out / "table2_sentiment.md"),
         "--out-csv", str(out / "table2_sentiment.csv")],
        ["leaderboard", "--records", str(runs), "--out-dir", str(out), "--bench",
         str(RES / "bench" / "generation.json"), *map(str, sorted((RES / "bench").glob(
             "methods-*.json")))],
        ["analyze", "holistic", "--records", str(runs / "detox"), "--out", str(out / "holistic")],
    ]
    for cmd in cmds:
        assert main(cmd) == 0, cmd
    return {**{f"tables/{t}.{e}": out / f"{t}.{e}" for t in
               ("table1_detox", "table1_spine", "table2_sentiment") for e in ("md", "csv")},
            **{f"leaderboard.{e}": out / f"leaderboard.{e}" for e in ("md", "csv", "html")},
            "analysis/holistic.md": out / "holistic.md",
            "analysis/holistic.json": out / "holistic.json"}


def differing(rendered: dict[str, Path], committed: Path = RES) -> list[str]:
    """The committed files that differ from their re-rendered version."""
    out = []
    for rel, new in rendered.items():
        old = committed / rel
        if rel.endswith(".json"):
            a, b = (json.loads(p.read_text()) for p in (old, new))
            a.pop("provenance", None), b.pop("provenance", None)
            same = a == b
        else:
            same = old.read_bytes() == new.read_bytes()
        if not same:
            out.append(rel)
    return out


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, Path]:
    return render(tmp_path_factory.mktemp("rendered"))


def test_committed_derived_files_match_the_committed_records(rendered):
    assert differing(rendered) == []


def test_a_number_edited_by_hand_is_caught(rendered, tmp_path):
    """The check can fail: one committed number changed in a copy of results/."""
    copy = tmp_path / "results"
    for rel in rendered:
        (copy / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(RES / rel, copy / rel)
    table = copy / "tables" / "table1_detox.md"
    text = table.read_text()
    line = next(line for line in text.splitlines() if "| lm_steer |" in line)
    cell = next(c for c in line.split("|") if c.strip()[:2] == "0.")
    table.write_text(text.replace(line, line.replace(cell, " 0.001 ", 1), 1))
    assert differing(rendered, copy) == ["tables/table1_detox.md"]
