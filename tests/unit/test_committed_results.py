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
        ["tradeoff", "--selections", *map(str, sorted((RES / "selection" / "detox").glob(
            "*/*/*.json"))), "--out-md", str(out / "tradeoff_detox.md"),
         "--out-csv", str(out / "tradeoff_detox.csv"), "--out-png", str(out / "tradeoff.png")],
    ]
    for cmd in cmds:
        assert main(cmd) == 0, cmd
    return {**{f"tables/{t}.{e}": out / f"{t}.{e}" for t in
               ("table1_detox", "table1_spine", "table2_sentiment", "tradeoff_detox")
               for e in ("md", "csv")},
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


# ---------------------------------------------------------------- README and docs numbers
def _bench_report():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_report", ROOT / "bench" / "report.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_numbers_in_readme_and_docs_are_rendered_from_the_records():
    """`lmsteer docs --check`: every lmsteer block of README.md, docs/*.md, config/README.md and
    results/README.md is what the committed records give; docs/performance.md's bench blocks
    are what bench/report.py gives from the committed bench JSON."""
    from lmsteer.docs import doc_files, render_files

    files = doc_files(ROOT)
    assert ROOT / "README.md" in files
    assert "<!-- lmsteer:spine -->" in (ROOT / "README.md").read_text()
    assert render_files(files, RES, check=True) == []
    report = _bench_report()
    perf = (ROOT / "docs" / "performance.md").read_text()
    timing = json.loads((RES / "bench" / "dag.json").read_text())
    assert report.render_doc(perf, RES / "bench", timing) == perf


def test_a_readme_number_edited_by_hand_is_caught(tmp_path):
    from lmsteer.docs import render_files

    readme = tmp_path / "README.md"
    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- lmsteer:spine -->", 1)[1].split("<!-- lmsteer:spine:end -->")[0]
    line = next(x for x in block.splitlines() if x.startswith("| ") and "→" in x)
    readme.write_text(text.replace(line, line.replace("→", "→ 0.001 ←", 1)))
    assert render_files([readme], RES, check=True) == [readme]
    # the command a developer runs: --check fails naming the file, a plain run mends it
    assert main(["docs", "--check", "--results", str(RES), str(readme)]) == 2
    assert main(["docs", "--results", str(RES), str(readme)]) == 0
    assert readme.read_text() == text


# ---------------------------------------------------------------- analyses on today's steers
STEER_ANALYSES = ("continuous", "compositional", "highlighting", "probing")


def _steer_hash(task: str, model: str) -> set[str]:
    """The artifact hashes the committed LM-Steer records of ``model`` name."""
    return {json.loads(p.read_text())["model"]["method"].get("artifact_sha256")
            for p in (RUNS / task / model / "lm_steer").glob("*/record.json")}


def test_the_analyses_ran_on_the_committed_steers():
    """Each analysis of a trained steer names the hash of the steer it read, and it is the
    steer of the committed LM-Steer records (Table 1's; Table 2's for the sentiment steer of
    the compositional analysis); the transfer table reads the committed records themselves."""
    checked = 0
    for name in STEER_ANALYSES:
        for path in sorted((RES / "analysis" / name).glob("*.json")):
            data = json.loads(path.read_text())
            hashes = {k: v for k, v in data.items() if k.startswith("steer") and
                      k.endswith("_sha256")}
            assert hashes, f"{path}: names no steer hash (ran before steers were hashed)"
            for key, h in hashes.items():
                folder = data[key.removesuffix("_sha256")]
                task = "sentiment" if "/sentiment/" in folder else "detox"
                assert _steer_hash(task, path.stem) == {h}, (path, key)
                checked += 1
    assert checked >= 6  # continuous, compositional (two steers), highlighting x2, probing x2
    for path in (RES / "analysis" / "transfer").glob("*.json"):
        data = json.loads(path.read_text())
        made = data["provenance"]["end_time"]
        for role, rec in data["records"].items():
            used = json.loads((ROOT / rec).read_text())["provenance"]["end_time"]
            assert used <= made, f"{path}: its {role} record {rec} is newer than the analysis"
