"""Bad input: a clear one-line error, a non-zero exit, and nothing overwritten."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from lmsteer.cli import main
from lmsteer.errors import LMSteerError, TrainingError
from lmsteer.models import load_model
from lmsteer.steer import Steer, SteerConfig, output_matrix_sha256

from conftest import OLD, lmsteer, one_line_error, write_prompts

def _fails(caplog, argv: list[str], *needles: str, keep: Path | None = None) -> None:
    """``lmsteer argv`` exits 2 with one ERROR line containing ``needles``; ``keep`` unchanged."""
    one_line_error(caplog, argv, *needles)
    if keep is not None:
        assert keep.read_text() == OLD


@pytest.fixture
def prompts(tmp_path: Path) -> Path:
    return write_prompts(tmp_path / "prompts.jsonl", 2)


def _gen(model: str, prompts: Path, out: Path, *extra: str) -> list[str]:
    return ["generate", "--model", model, "--prompts", str(prompts), "--samples", "2",
            "--max-new-tokens", "3", "--out", str(out), *extra]


def test_unknown_names_list_the_valid_ones(caplog, prompts, out):
    _fails(caplog, _gen("gpt5-tiny", prompts, out), "unknown model", "smollm2-135m", keep=out)
    _fails(caplog, _gen("tiny-gpt2", prompts, out, "--method", "pplm2"), "lm_steer",
           "original", keep=out)


def test_unknown_scorer_names_the_valid_ones(caplog, tmp_path, prompts):
    gens = tmp_path / "g" / "generations.jsonl"
    assert main(_gen("tiny-gpt2", prompts, gens)) == 0
    (gens.parent / "record.json").write_text(OLD)
    _fails(caplog, ["score", "--generations", str(gens), "--scorers", "perspective",
                    "--out-dir", str(gens.parent)], "perspective", "jigsaw-bilstm",
           "sst-tfidf", keep=gens.parent / "record.json")


def test_config_failing_the_schema_names_the_key(caplog, tmp_path):
    import yaml

    cfg = yaml.safe_load((Path(__file__).parents[2] / "config" / "ci.yaml").read_text())
    cfg["detox"]["n_prompts"] = "many"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    _fails(caplog, ["validate-config", "--config", str(bad)], "n_prompts")
    cfg["detox"]["n_prompts"] = 2
    cfg["detox"]["samples_per_prompt"] = 25  # not a key of the schema
    bad.write_text(yaml.safe_dump(cfg))
    _fails(caplog, ["validate-config", "--config", str(bad)], "samples_per_prompt")


def test_data_with_a_wrong_checksum_is_refused_and_good_copy_kept(caplog, tmp_path):
    mirror = tmp_path / "mirror" / "davidson"
    mirror.mkdir(parents=True)
    (mirror / "labeled_data.csv").write_text("tampered,class,tweet\n")
    dest = tmp_path / "data" / "davidson" / "labeled_data.csv"
    dest.parent.mkdir(parents=True)
    dest.write_text(OLD)
    _fails(caplog, ["prepare-data", "--dataset", "davidson", "--out", str(tmp_path / "data"),
                    "--mirror", str(tmp_path / "mirror")], "sha256 mismatch", keep=dest)


def test_data_in_a_wrong_format_names_file_and_line(caplog, detox_data, tmp_path):
    csv = detox_data / "davidson" / "labeled_data.csv"
    lines = csv.read_text().splitlines()
    lines[3] = '3,3,0,0,3,seven,"bad class"'
    csv.write_text("\n".join(lines) + "\n")
    _fails(caplog, ["train", "--model", "tiny-gpt2", "--data-root", str(detox_data),
                    "--per-class", "4", "--param", "steps=2", "--cache-dir", "",
                    "--out", str(tmp_path / "steer")], "labeled_data.csv:4")
    assert not (tmp_path / "steer" / "steer.safetensors").exists()


@pytest.mark.parametrize("content,needle", [
    (b'{"prompt": {"text": "ok"}}\n\n{"prompt": {"text": "ok"}}\n', "prompts.jsonl:2: empty line"),
    (b'{"prompt": {"text": "ok"}}\n{"prompt": {"text": "caf\xe9"}}\n', "prompts.jsonl:2: not valid UTF-8"),
    (b'{"prompt": {"text": "ok"}}\n[1, 2]\n', "prompts.jsonl:2: expected a JSON object"),
])
def test_bad_prompt_files_name_file_and_line(caplog, tmp_path, out, content, needle):
    p = tmp_path / "prompts.jsonl"
    p.write_bytes(content)
    _fails(caplog, _gen("tiny-gpt2", p, out), needle, keep=out)


@pytest.fixture
def steer_dir(tmp_path: Path) -> Path:
    model, _ = load_model("tiny-gpt2")
    cfg = SteerConfig(rank=4, hidden_size=model.get_output_embeddings().weight.shape[1],
                      base_model="tiny-gpt2", base_sha256=output_matrix_sha256(model))
    return Steer(cfg).save(tmp_path / "steer")


def test_broken_or_foreign_steer_folders_are_refused(caplog, steer_dir, prompts, out):
    args = lambda: _gen("tiny-gpt2", prompts, out, "--method", "lm_steer",  # noqa: E731
                        "--artifact", str(steer_dir), "--strength", "1")
    _fails(caplog, _gen("tiny-llama", prompts, out, "--method", "lm_steer", "--artifact",
                        str(steer_dir)), "trained on base model 'tiny-gpt2'", keep=out)  # another model
    weights = steer_dir / "steer.safetensors"
    good = weights.read_bytes()
    weights.write_bytes(good[: len(good) // 2])  # truncated
    _fails(caplog, args(), "steer.safetensors", keep=out)
    weights.unlink()  # missing
    _fails(caplog, args(), "missing steer.safetensors", keep=out)
    weights.write_bytes(good)
    cfg = json.loads((steer_dir / "steer_config.json").read_text())
    cfg["config"]["hidden_size"] += 1  # another hidden size
    (steer_dir / "steer_config.json").write_text(json.dumps(cfg))
    _fails(caplog, args(), "steer", keep=out)


def test_steer_values_of_the_wrong_length_are_refused(steer_dir):
    model, _ = load_model("tiny-gpt2")
    steer = Steer.load(steer_dir, model)
    for bad in ([1.0], [1.0, 2.0, 3.0], torch.ones(4, 3)):
        with pytest.raises(LMSteerError, match="steer"):
            steer.set_values(bad)
        with pytest.raises(LMSteerError):
            steer.fold(torch.as_tensor(bad).reshape(-1)[:3])


def test_model_unavailable_offline_says_how_to_provide_it(caplog, prompts, out):
    _fails(caplog, _gen("some-org/some-llm", prompts, out), "local folder", keep=out)


def test_nan_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    import lmsteer.train as T

    model, tok = load_model("tiny-gpt2")
    real = T.steer_loss
    calls = {"n": 0}

    def diverging(*a, **kw):
        calls["n"] += 1
        loss = real(*a, **kw)
        return loss * float("nan") if calls["n"] > 5 else loss

    monkeypatch.setattr(T, "steer_loss", diverging)
    data = [("you are an idiot", -1.0), ("what a nice day", 1.0)] * 4
    cfg = T.TrainConfig(rank=4, steps=10, batch_size=4, checkpoint_every=2, max_length=16)
    with pytest.raises(TrainingError, match="at step 5"):
        T.train_steer(model, tok, data, cfg, tmp_path / "steer", progress=False)
    prog = json.loads((tmp_path / "steer" / "checkpoint" / "progress.json").read_text())
    assert prog["step"] == 4 and all(l == l for l in prog["losses"])  # no NaN saved
    assert not (tmp_path / "steer" / "steer.safetensors").exists()
    Steer.load(tmp_path / "steer" / "checkpoint")  # the last good checkpoint loads


def test_cli_error_is_one_line_on_stderr_without_traceback(tmp_path, prompts):
    r = lmsteer(*_gen("gpt5-tiny", prompts, tmp_path / "x.jsonl"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert [l for l in r.stderr.splitlines() if "ERROR" in l][0].count("unknown model") == 1
    assert not (tmp_path / "x.jsonl").exists()


def test_config_with_a_train_flag_or_a_wrong_method_names_it(caplog, tmp_path):
    import yaml

    cfg = yaml.safe_load((Path(__file__).parents[2] / "config" / "ci.yaml").read_text())
    cfg["detox"]["methods"]["dapt"]["train"] = True  # whether a method trains is its class's
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    _fails(caplog, ["validate-config", "--config", str(bad)], "detox.methods.dapt", "'train'")
    del cfg["detox"]["methods"]["dapt"]["train"]
    cfg["detox"]["methods"]["pplm2"] = {"strength": 1}
    bad.write_text(yaml.safe_dump(cfg))
    _fails(caplog, ["validate-config", "--config", str(bad)], "pplm2", "mucola")


@pytest.mark.parametrize("name", ["config.yaml", "ci.yaml"])
def test_shipped_configs_pass_validate_config(name):
    assert main(["validate-config", "--config", str(Path(__file__).parents[2] / "config" / name)]) == 0
