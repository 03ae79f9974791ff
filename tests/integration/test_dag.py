"""The real DAG on config/ci.yaml (SmolLM2-135M, minutes), plus `snakemake --lint`.

With ``LMSTEER_TEST_SLURM=1`` (set by .ci/run after .ci/slurm/up.sh stood up a one-node
cluster) the same DAG runs through ``--executor slurm`` (profiles/slurm, .ci/slurm/flags) with
one prompt per shard (.ci/slurm/ci-slurm.yaml), and sacct must show every job COMPLETED."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration
SLURM = os.environ.get("LMSTEER_TEST_SLURM") == "1"
CONFIGS = ["--configfile", "config/ci.yaml"] + ([".ci/slurm/ci-slurm.yaml"] if SLURM else [])
CI_DETOX = yaml.safe_load((ROOT / "config" / "ci.yaml").read_text())["detox"]
CI_METHODS = CI_DETOX["methods"]
RUN = ((ROOT / ".ci/slurm/flags").read_text().split() if SLURM
       else ["--profile", "profiles/default"])


def _snakemake(*args: str) -> subprocess.CompletedProcess:
    """Snakemake in the repository; a run past the timeout is killed and its lock released,
    so that the next DAG test fails (or passes) on its own account, not on a stale lock."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    cmd = [sys.executable, "-m", "snakemake", *args]
    try:
        return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=3000)
    except subprocess.TimeoutExpired:
        subprocess.run(cmd + ["--unlock"], cwd=ROOT, env=env, capture_output=True, timeout=300)
        raise


@pytest.mark.skipif(not (ROOT.parent / "shared" / "data").is_dir(),
                    reason="config/ci.yaml reads the data mirror at ../shared/data")
def test_ci_dag_end_to_end(tmp_path):
    start = subprocess.run(["date", "+%Y-%m-%dT%H:%M:%S"], capture_output=True, text=True
                           ).stdout.strip()
    r = _snakemake(*RUN, *CONFIGS, "--forceall")
    assert r.returncode == 0, r.stderr[-4000:]
    out = ROOT / "results" / ("ci-slurm" if SLURM else "ci")
    if SLURM:  # every submitted job COMPLETED in sacct; every record merged from its shards
        (tmp_path / "snakemake.log").write_text(r.stdout + r.stderr)
        sacct = subprocess.run(["sacct", "-n", "-X", "-P", "-S", start, "-o",
                                "JobID,JobName%60,State,ExitCode,Elapsed"],
                               capture_output=True, text=True, check=True).stdout
        (tmp_path / "sacct.txt").write_text(sacct)
        print(sacct)  # the job ids and states, in the CI log with -rA / on failure
        c = subprocess.run([sys.executable, ".ci/slurm/check.py", "--results", str(out),
                            "--sacct", str(tmp_path / "sacct.txt"), "--snakemake-log",
                            str(tmp_path / "snakemake.log")], cwd=ROOT, capture_output=True,
                           text=True)
        sys.stdout.write(c.stdout)
        assert c.returncode == 0, c.stdout
    table = (out / "tables" / "table1_detox.md").read_text()
    for needle in ("smollm2-135m", "lm_steer", "original", "rtp-challenging", "rtp-nontoxic",
                   "jigsaw-bilstm", "profanity-check"):
        assert needle in table
    assert (out / "figures" / "table1_detox.png").stat().st_size > 5000
    spine = (out / "tables" / "table1_spine.md").read_text()  # the spine's rows alone
    rows = [r.split(" | ") for r in spine.splitlines() if r.startswith("| rtp-")]
    assert sorted({r[2] for r in rows}) == ["lm_steer", "original"] and len(rows) == 8
    assert all(r in table for r in spine.splitlines() if r.startswith("| rtp-"))
    recs = {p.parent.relative_to(out / "runs" / "detox").as_posix(): json.loads(p.read_text())
            for p in (out / "runs" / "detox").rglob("record.json")}
    methods = ["dapt", "dexperts", "gedi", "lm_steer", "lora", "mucola", "original", "pplm",
               "prompting", "soft_blacklist"]  # every method of the registry, through the DAG
    assert sorted(recs) == sorted(f"smollm2-135m/{m}/{ps}" for m in methods
                                  for ps in ("rtp-challenging", "rtp-nontoxic"))
    for key, rec in recs.items():
        assert rec["model"]["name"] == "smollm2-135m"
        few = CI_METHODS[rec["method"]].get("n_prompts", CI_DETOX["n_prompts"])  # ci.yaml's
        assert rec["n_prompts"] == few and rec["samples_per_prompt"] == 5, key
        assert rec["provenance"]["packages"]["torch"].startswith("2.13")
    assert "**Fewer prompts**" in table and "pplm on smollm2-135m" in table
    # the fair comparison: the swept methods' rows run at the strength their selection chose
    swept = {m: spec["sweep"] for m, spec in CI_METHODS.items() if spec.get("sweep")}
    assert sorted(swept) == ["dexperts", "lm_steer", "soft_blacklist"]  # sweep: false elsewhere
    for key, rec in recs.items():
        choice = rec["config"].get("strength_choice")
        method, pset = key.split("/")[1:]
        if method not in swept:
            assert choice is None, key
            continue
        sel = json.loads((out / "selection" / "detox" / "smollm2-135m" / pset /
                          f"{method}.json").read_text())
        assert choice["how"] == "validation" and choice["grid"] == swept[method], key
        assert rec["strength"] == sel["methods"][method]["strength"] in swept[method], key
    assert "validation (ppl ≤ 1.5×)" in table and "| fixed |" in table
    trade = (out / "tables" / "tradeoff_detox.md").read_text()
    assert all(m in trade for m in swept)
    assert (out / "figures" / "tradeoff_detox.png").stat().st_size > 5000
    eff = json.loads((out / "bench" / "methods-smollm2-135m.json").read_text())
    assert sorted(eff["methods"]) == sorted(methods) and eff["methods"]["original"]["ratio"] == 1
    # Table 2: original on all three prompt types, the steer at +k and -k on two each
    sent = (out / "tables" / "table2_sentiment.md").read_text()
    assert "sst-tfidf" in sent and "% positive: neutral prompts" in sent
    assert (out / "figures" / "table2_sentiment.png").stat().st_size > 5000
    srecs = {p.parent.relative_to(out / "runs" / "sentiment").as_posix():
             json.loads(p.read_text()) for p in (out / "runs" / "sentiment").rglob("record.json")}
    assert sorted(srecs) == sorted(["smollm2-135m/original/none"] + [
        f"smollm2-135m/{m}/{t}" for m in ("dapt", "dexperts", "gedi", "lm_steer", "lora", "mucola",
                                          "pplm", "prompting", "soft_blacklist")
        for t in ("negative", "positive")])
    assert srecs["smollm2-135m/dexperts/negative"]["strength"] == -3.2
    assert srecs["smollm2-135m/lm_steer/positive"]["strength"] == 5
    assert srecs["smollm2-135m/lm_steer/negative"]["strength"] == -5
    assert srecs["smollm2-135m/lm_steer/negative"]["prompt_set"] == \
        "sentiment-neutral+sentiment-positive"
    for rec in srecs.values():
        assert rec["scorers"]["sst-tfidf"]["sst_binary_test_accuracy"] >= 0.80
        assert rec["n_prompts"] == len(rec["prompt_set"].split("+"))  # 1 prompt per type
    # every analysis once (tiny): numbers with provenance, a table naming the model, a figure
    an = out / "analysis"
    for stem in ("continuous/smollm2-135m", "compositional/smollm2-135m", "holistic",
                 "transfer/smollm2-135m-to-smollm2-135m", "data_efficiency/smollm2-135m",
                 "highlighting/smollm2-135m", "probing/smollm2-135m"):
        data = json.loads((an / f"{stem}.json").read_text())
        assert data["provenance"]["packages"]["torch"].startswith("2.13"), stem
        assert "smollm2-135m" in (an / f"{stem}.md").read_text(), stem
        if stem.split("/")[0] not in ("highlighting", "probing"):  # these have no figure
            assert (an / f"{stem}.png").stat().st_size > 5000, stem
    sweep = json.loads((an / "continuous" / "smollm2-135m.json").read_text())
    assert sorted(float(v) for v in sweep["metrics"]) == [-5.0, 0.0, 5.0]
    assert "perplexity" in sweep["metrics"]["5.0"]
    comp = json.loads((an / "compositional" / "smollm2-135m.json").read_text())
    assert sorted(comp["metrics"]) == ["-5,0", "-5,5", "5,0", "5,5"]
    tr = json.loads((an / "transfer" / "smollm2-135m-to-smollm2-135m.json").read_text())
    assert tr["fit"]["shared_tokens"] > 40000 and tr["fit"]["r2_source_from_target"] > 0.99
    de = json.loads((an / "data_efficiency" / "smollm2-135m.json").read_text())
    assert sorted(de["metrics"]) == ["0:-1", "64:0", "8:0"]
    assert "<mark>" in (an / "highlighting" / "smollm2-135m.html").read_text()
    # the leaderboard: every board, regenerated byte for byte after deleting it
    board = {ext: (out / f"leaderboard.{ext}").read_bytes() for ext in ("md", "csv", "html")}
    md = board["md"].decode()
    for name in ("## detox: rtp-nontoxic", "## detox: rtp-challenging",
                 "## sentiment: towards positive", "## sentiment: towards negative",
                 "| smollm2-135m | lm_steer | 5 |", "Published (paper)", "## efficiency",
                 "| smollm2-135m | pplm (detox) |"):
        assert name in md
    for ext in board:
        (out / f"leaderboard.{ext}").unlink()
    r = _snakemake("leaderboard", "--profile", "profiles/default",  # target first:
                   *CONFIGS)  # --configfile takes several values
    assert r.returncode == 0, r.stderr[-4000:]
    assert {ext: (out / f"leaderboard.{ext}").read_bytes() for ext in board} == board
    # the HTML report bundles the tables, figures and leaderboard
    r = _snakemake(*CONFIGS, "--report", str(out / "report.html"))
    assert r.returncode == 0, r.stderr[-4000:]
    html = (out / "report.html").read_text()
    for name in ("table1_detox.png", "table2_sentiment.png", "leaderboard.html",
                 "holistic.png", "smollm2-135m-to-smollm2-135m.png"):
        assert name in html


def test_snakemake_lint_passes():
    r = _snakemake("--lint")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
