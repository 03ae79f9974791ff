"""The command line: --help everywhere, one-line errors with non-zero exit, nothing written."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lmsteer.cli import build_parser, main
from lmsteer.errors import RegistryError
from lmsteer.methods import get_method
from lmsteer.models import load_model

ROOT = Path(__file__).resolve().parents[2]
VERBS = ["prepare-data", "convert-model", "train", "generate", "score", "table", "validate-config"]


def test_help_for_every_verb():
    out = subprocess.run([sys.executable, "-m", "lmsteer", "--help"], capture_output=True,
                         text=True, cwd=ROOT, check=True).stdout
    for verb in VERBS:
        assert verb in out
        sub = subprocess.run([sys.executable, "-m", "lmsteer", verb, "--help"],
                             capture_output=True, text=True, cwd=ROOT)
        assert sub.returncode == 0 and "usage:" in sub.stdout


def test_unknown_names_list_valid_ones():
    with pytest.raises(RegistryError, match="valid: .*lm_steer.*original.*soft_blacklist"):
        get_method("pplm-typo")
    with pytest.raises(RegistryError, match="smollm2-135m"):
        load_model("smollm3")


def test_bad_input_exits_non_zero_with_one_line_and_writes_nothing(tmp_path, caplog):
    out = tmp_path / "gens.jsonl"
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": {"text": "hi"}}\n\n')
    rc = main(["generate", "--model", "tiny-llama", "--prompts", str(prompts), "--out", str(out)])
    assert rc == 2 and not out.exists()
    assert "p.jsonl:2: empty line" in caplog.text
    rc = main(["generate", "--model", "nope", "--prompts", str(prompts), "--out", str(out)])
    assert rc == 2 and not out.exists()


def test_generate_then_score_then_table_on_tiny_model(tmp_path):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": {"text": "the cat"}}\n{"prompt": {"text": "you are"}}\n')
    gens = tmp_path / "run" / "generations.jsonl"
    assert main(["generate", "--model", "tiny-gpt2", "--prompts", str(prompts), "--samples", "3",
                 "--max-new-tokens", "4", "--prompt-set", "toy", "--out", str(gens),
                 "--info-out", str(tmp_path / "run" / "model.json")]) == 0
    assert main(["score", "--generations", str(gens), "--judge", "tiny-gpt2",
                 "--model-info", str(tmp_path / "run" / "model.json"),
                 "--out-dir", str(tmp_path / "run")]) == 0
    import json
    rec = json.loads((tmp_path / "run" / "record.json").read_text())
    assert rec["model"]["architecture"] == "GPT2LMHeadModel"
    assert rec["n_prompts"] == 2 and rec["samples_per_prompt"] == 3
    assert {"max_toxicity/jigsaw-bilstm", "perplexity", "dist-3"} <= set(rec["metrics"])
    md, csv = tmp_path / "t.md", tmp_path / "t.csv"
    assert main(["table", "--records", str(tmp_path), "--out-md", str(md), "--out-csv",
                 str(csv), "--figure", str(tmp_path / "f.png")]) == 0
    assert "tiny-gpt2" in md.read_text() and (tmp_path / "f.png").stat().st_size > 1000


def test_parser_has_help_text_for_each_option():
    for action in build_parser()._subparsers._group_actions[0].choices["generate"]._actions:
        if action.dest != "help":
            assert action.help, action.dest


def test_load_model_from_a_local_folder(tmp_path):
    model, tok = load_model("tiny-gpt2")
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    again, tok2 = load_model(str(tmp_path / "m"))
    assert tok2.padding_side == "left"
    import torch
    ids = tok("the cat", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.equal(model(ids).logits, again(ids).logits)


def test_hub_id_offline_says_how_to_provide_it():
    from lmsteer.errors import ModelUnavailableError

    with pytest.raises(ModelUnavailableError, match="local folder"):
        load_model("no-such-org/no-such-model", offline=True)


def test_gpt2_hub_names_resolve_and_fail_offline_with_advice(monkeypatch, tmp_path):
    from lmsteer.errors import ModelUnavailableError
    from lmsteer.models import MODELS

    assert MODELS.get("gpt2-large").hf_id == "gpt2-large"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # empty cache: nothing to find offline
    with pytest.raises(ModelUnavailableError, match="offline"):
        load_model("gpt2-large", offline=True)


def test_param_values_parse_as_numbers_where_users_mean_numbers():
    from lmsteer.cli_args import parse_params as _params

    p = _params(["lr=1e-2", "rank=8", "head_dtype=bfloat16", "fold=false", "eps=1.0e-3"])
    assert p == {"lr": 0.01, "rank": 8, "head_dtype": "bfloat16", "fold": False, "eps": 0.001}
