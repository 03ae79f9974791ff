"""Names from a config or the CLI never run shell code or escape the results folder; record
fields never inject markup into the Markdown tables or the leaderboard."""
from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lmsteer.errors import ConfigError
from lmsteer.names import resolve_config

ROOT = Path(__file__).resolve().parents[2]
CI = yaml.safe_load((ROOT / "config" / "ci.yaml").read_text())


def _config(tmp_path: Path, edit) -> Path:
    cfg = copy.deepcopy(CI)
    edit(cfg)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _validate(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lmsteer", "validate-config", "--config",
                           str(path)], cwd=ROOT, capture_output=True, text=True, timeout=120)


def _set(keys: str, value):
    def edit(cfg):
        *head, last = keys.split(".")
        node = cfg
        for k in head:
            node = node[int(k)] if isinstance(node, list) else node[k]
        node[last] = value
    return edit


INJECTIONS = {
    "model": lambda marker: _set("models", [f"tiny-gpt2$(touch {marker})"]),
    "model-backticks": lambda marker: _set("models", [f"tiny-gpt2`touch {marker}`"]),
    "judge": lambda marker: _set("judge", f"x;touch {marker}"),
    "method": lambda marker: lambda cfg: cfg["detox"]["methods"].update(
        {f"original;touch {marker}": {"strength": 0}}),
    "results_dir": lambda marker: _set("results_dir", f"r$(touch {marker})"),
    "mirror": lambda marker: _set("data.mirror", f"m;touch {marker}"),
}


@pytest.mark.parametrize("where", sorted(INJECTIONS))
def test_shell_code_in_a_config_name_is_refused_and_never_runs(tmp_path, where):
    marker = tmp_path / "PWNED"
    path = _config(tmp_path, INJECTIONS[where](marker))
    r = _validate(path)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "invalid config" in r.stderr or "not a valid" in r.stderr
    if where == "model":  # the DAG refuses it at parse time too, before any job
        d = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--configfile", str(path),
                            "--cores", "1"], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert d.returncode != 0
        assert "tiny-gpt2$(touch" in d.stdout + d.stderr
    assert not marker.exists()


@pytest.mark.parametrize("models", [[".."], ["../.."], [{"name": "..", "path": "tiny-gpt2"}],
                                    [{"name": "a/b", "path": "tiny-gpt2"}], ["-rf"]])
def test_a_model_name_cannot_escape_the_results_folder(tmp_path, models):
    r = _validate(_config(tmp_path, _set("models", models)))
    assert r.returncode == 2, r.stderr
    assert "not a valid" in r.stderr or "invalid config" in r.stderr


def test_results_dir_with_dotdot_and_override_keys_are_refused():
    cfg = copy.deepcopy(CI)
    cfg["results_dir"] = "results/../../elsewhere"
    with pytest.raises(ConfigError, match="results_dir"):
        resolve_config(cfg)
    cfg = copy.deepcopy(CI)
    cfg["model_overrides"] = {"..": {"batch_size": 2}}
    with pytest.raises(ConfigError, match="model_overrides"):
        resolve_config(cfg)


def test_two_models_with_one_run_name_are_refused(tmp_path):
    a, b = tmp_path / "a" / "m", tmp_path / "b" / "m"
    a.mkdir(parents=True), b.mkdir(parents=True)
    cfg = copy.deepcopy(CI)
    cfg["models"] = [str(a), str(b)]
    with pytest.raises(ConfigError, match="used twice"):
        resolve_config(cfg)
    cfg["models"] = [str(a), {"name": "m2", "path": str(b)}]
    assert resolve_config(cfg) == {"m": str(a), "m2": str(b)}


def test_cli_model_name_must_be_a_safe_name(tmp_path):
    r = subprocess.run([sys.executable, "-m", "lmsteer", "generate", "--model", "tiny-gpt2",
                        "--model-name", "../escape", "--prompts", "p.jsonl", "--out",
                        str(tmp_path / "g.jsonl")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "--model-name" in r.stderr and "not a valid name" in r.stderr


HOSTILE = '<script>alert(1)</script>|<img src=x onerror=alert(2)>'


def _hostile_record(path: Path) -> Path:
    import json

    rec = json.loads(next((ROOT / "results" / "runs" / "detox").rglob("record.json")).read_text())
    rec["backbone"], rec["method"] = HOSTILE, HOSTILE
    for m in rec["metrics"].values():
        if "scorer" in m:
            m["scorer"] = HOSTILE
    path.mkdir(parents=True)
    (path / "record.json").write_text(json.dumps(rec))
    return path


def test_markdown_tables_and_leaderboard_escape_html_from_records(tmp_path):
    from lmsteer.cli import main

    recs = _hostile_record(tmp_path / "recs" / "x")
    assert main(["table", "--records", str(recs), "--out-md", str(tmp_path / "t.md"),
                 "--out-csv", str(tmp_path / "t.csv")]) == 0
    assert main(["leaderboard", "--records", str(recs), "--out-dir", str(tmp_path)]) == 0
    for md in (tmp_path / "t.md", tmp_path / "leaderboard.md"):
        text = md.read_text()
        assert "&lt;script&gt;" in text, md
        assert "<script" not in text and "<img" not in text, md
        # a pipe in a field does not add a column: each table's rows have its header's cells
        for block in text.split("\n\n"):
            rows = [line for line in block.splitlines() if line.startswith("|")]
            widths = {len(line.replace("\\|", "").split("|")) for line in rows}
            assert len(widths) <= 1, (md, block)
        assert HOSTILE.split("|")[0].replace("<", "&lt;").replace(">", "&gt;") in text
