"""Every value a user can type is checked where it is typed: a one-line error and exit code 2,
never a traceback later on and never an invalid record; the config schema refuses the same."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from lmsteer.cli import main
from lmsteer.models import load_model
from lmsteer.steer import Steer, SteerConfig, output_matrix_sha256

from conftest import ROOT, one_line_error, write_prompts

OLD = "previous results: must survive a failed run\n"


@pytest.fixture
def prompts(tmp_path: Path) -> Path:
    return write_prompts(tmp_path / "p.jsonl", 2)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    p = tmp_path / "g.jsonl"
    p.write_text(OLD)
    return p


def _gen(prompts: Path, out: Path, *extra: str) -> list[str]:
    return ["generate", "--model", "tiny-gpt2", "--prompts", str(prompts), "--samples", "2",
            "--max-new-tokens", "3", "--out", str(out), *extra]


BAD_ARGS = [("--samples", "0"), ("--samples", "-3"), ("--max-new-tokens", "0"),
            ("--n-prompts", "0"), ("--batch-size", "0"), ("--top-p", "0"), ("--top-p", "1.5"),
            ("--top-p", "nan"), ("--strength", "nan"), ("--strength", "inf"),
            ("--strength", "-inf"), ("--samples", "two")]


@pytest.mark.parametrize("flag,value", BAD_ARGS)
def test_bad_generate_arguments_are_one_line_errors(capsys, prompts, out, flag, value):
    with pytest.raises(SystemExit) as e:
        main(_gen(prompts, out, flag, value))
    err = capsys.readouterr().err
    assert e.value.code == 2 and "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert flag in line and "error" in line, line
    assert out.read_text() == OLD


@pytest.mark.parametrize("flag,value", [("--n-prompts", "0"), ("--samples", "0"),
                                        ("--top-p", "2"), ("--dummy-value", "nan")])
def test_analyze_arguments_are_checked_too(capsys, tmp_path, prompts, flag, value):
    with pytest.raises(SystemExit) as e:
        main(["analyze", "sweep", "--model", "tiny-gpt2", "--steer", str(tmp_path),
              "--prompts", str(prompts), "--out", str(tmp_path / "s"), flag, value])
    assert e.value.code == 2 and flag in capsys.readouterr().err


def test_lm_steer_without_artifact_says_what_to_give(caplog, prompts, out):
    one_line_error(caplog, _gen(prompts, out, "--method", "lm_steer", "--strength", "2"),
               "--artifact")
    assert out.read_text() == OLD


def test_a_steer_with_nan_weights_is_refused(caplog, tmp_path, prompts, out):
    model, _ = load_model("tiny-gpt2")
    cfg = SteerConfig(rank=4, hidden_size=model.get_output_embeddings().weight.shape[1],
                      base_model="tiny-gpt2", base_sha256=output_matrix_sha256(model))
    folder = Steer(cfg).save(tmp_path / "steer")
    w = load_file(str(folder / "steer.safetensors"))
    w["projector2"][0, 0, 0] = float("nan")
    save_file(w, str(folder / "steer.safetensors"))
    one_line_error(caplog, _gen(prompts, out, "--method", "lm_steer", "--artifact", str(folder),
                            "--strength", "2"), "NaN")
    assert out.read_text() == OLD


def test_score_refuses_rows_without_continuation_and_bad_scorer_options(caplog, tmp_path,
                                                                        prompts):
    gens = tmp_path / "g.jsonl"
    assert main(_gen(prompts, gens)) == 0
    rec = tmp_path / "rec"
    rec.mkdir()
    (rec / "record.json").write_text(OLD)
    base = ["score", "--scorers", "profanity-check", "--out-dir", str(rec)]
    for bad in ("[1, 2]", "{profanity-check: 3}", "a: [", "{x: 1"):
        one_line_error(caplog, [*base, "--generations", str(gens), "--scorer-options", bad],
                   "--scorer-options")
    lines = gens.read_text().splitlines()
    lines[1] = lines[1].replace('"continuation"', '"text"')
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join(lines) + "\n")
    one_line_error(caplog, [*base, "--generations", str(broken)], str(broken), "row 2",
               "'continuation'")
    assert (rec / "record.json").read_text() == OLD


def test_train_param_nan_is_refused(caplog, tmp_path, detox_data):
    one_line_error(caplog, ["train", "--model", "tiny-gpt2", "--data-root", str(detox_data),
                        "--per-class", "4", "--param", "lr=nan", "--cache-dir", "",
                        "--out", str(tmp_path / "steer")], "lr=nan", "finite")
    assert not (tmp_path / "steer").exists()


CI = yaml.safe_load((ROOT / "config" / "ci.yaml").read_text())


@pytest.mark.parametrize("where,value", [
    ("detox.generation.top_p", float("nan")), ("detox.methods.lm_steer.strength", float("inf")),
    ("detox.train.params.lr", float("nan")), ("sentiment.methods.lm_steer.strength", float("nan")),
    ("analysis.continuous.values", [0, float("inf")])])
def test_config_refuses_nan_and_inf(caplog, tmp_path, where, value):
    cfg = copy.deepcopy(CI)
    *head, last = where.split(".")
    node = cfg
    for k in head:
        node = node[k]
    node[last] = value
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert ".nan" in path.read_text() or ".inf" in path.read_text()
    one_line_error(caplog, ["validate-config", "--config", str(path)], last)


def test_a_record_never_holds_nan(tmp_path):
    """A metric with no finite value is written as null (valid JSON), not NaN."""
    from lmsteer.metrics import metric

    m = metric([float("nan"), float("inf")], False)
    assert m["n"] == 0 and m["mean"] is None and m["ci_low"] is None
    assert torch.isfinite(torch.tensor(metric([1.0, float("nan")], False)["mean"]))


def test_the_dag_refuses_nan_at_parse_time(tmp_path):
    """Snakemake's own schema check lets NaN through; the workflow's resolve step does not."""
    import os
    import subprocess
    import sys

    cfg = copy.deepcopy(CI)
    cfg["detox"]["generation"]["top_p"] = float("nan")
    path = tmp_path / "nan.yaml"
    path.write_text(yaml.safe_dump(cfg))
    r = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile",
                        str(path)], cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, PATH=f"{Path(sys.executable).parent}:"
                                                 f"{os.environ.get('PATH', '')}"))
    assert r.returncode != 0
    assert "detox.generation.top_p: nan is not a finite number" in r.stdout + r.stderr
    assert "--top-p nan" not in r.stdout
