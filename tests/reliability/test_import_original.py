"""`lmsteer import-original`: a checkpoint of the authors' LM-Steer code becomes a steer folder
whose logits equal the authors' formula; anything unsafe or unsupported is refused by name."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest
import torch
from torch import nn

from lmsteer.cli import main
from lmsteer.models import load_model
from lmsteer.steer import Steer

from conftest import one_line_error, write_prompts

D_RANK = 4


def _authors_checkpoint(path: Path, d: int, **overrides) -> tuple[torch.Tensor, torch.Tensor]:
    """A file in the layout of the authors' train.py: torch.save([args, state, step])."""
    g = torch.Generator().manual_seed(3)
    p1 = nn.Parameter(torch.randn(2, d, D_RANK, generator=g))
    p2 = nn.Parameter(torch.randn(2, d, D_RANK, generator=g))
    args = dict(model_name="gpt2", adaptor_class="multiply", adapted_component="final_layer",
                rank=D_RANK, epsilon=1e-3, init_var=1e-2, num_steers=2, dummy_steer=1,
                training_steer=0, lr=1e-2, n_steps=100, steer_values=[5.0, 1.0])
    args.update(overrides)
    torch.save([argparse.Namespace(**args), {"projector1": p1, "projector2": p2}, 100], path)
    return p1.detach(), p2.detach()


def _authors_logits(model, ids, p1, p2, values, eps=1e-3) -> torch.Tensor:
    """Their forward: logits = (c + eps * sum_i s_i (c P1_i) P2_i^T) . E^T."""
    c = model.transformer(ids).last_hidden_state  # (B, T, d)
    delta = sum(values[i] * (c @ p1[i]) @ p2[i].T for i in range(p1.shape[0]))
    return (c + eps * delta) @ model.lm_head.weight.T  # (B, T, V)


@pytest.fixture
def tiny():
    return load_model("tiny-gpt2")


def test_imported_steer_gives_the_authors_logits(tmp_path, tiny):
    model, tok = tiny
    d = model.get_output_embeddings().weight.shape[1]
    p1, p2 = _authors_checkpoint(tmp_path / "ckpt.pt", d)
    assert main(["import-original", str(tmp_path / "ckpt.pt"), "--out", str(tmp_path / "s"),
                 "--model", "tiny-gpt2"]) == 0
    steer = Steer.load(tmp_path / "s", model)
    ids = tok(["the cat sat on the mat", "you are a"], return_tensors="pt",
              padding=True).input_ids
    for values in ([5.0, 1.0], [-3.0, 0.0]):
        v = torch.tensor(values)
        with torch.no_grad():
            steer.set_values(v)
            ours = model(ids).logits
            steer.set_values(None)
            theirs = _authors_logits(model, ids, p1, p2, v)
            steer.fold(v)
            folded = model(ids).logits
            steer.unfold()
        assert torch.allclose(ours, theirs, atol=1e-5, rtol=1e-5)
        assert torch.allclose(folded, theirs, atol=1e-5, rtol=1e-5)
        assert (ours - model.lm_head(model.transformer(ids).last_hidden_state)).abs().max() > 0
    assert steer.config.epsilon == 1e-3 and steer.config.base_sha256


def test_imported_steer_generates_through_the_cli(tmp_path):
    model, _ = load_model("tiny-gpt2")
    _authors_checkpoint(tmp_path / "ckpt.pt", model.get_output_embeddings().weight.shape[1])
    assert main(["import-original", str(tmp_path / "ckpt.pt"), "--out", str(tmp_path / "s"),
                 "--model", "tiny-gpt2"]) == 0
    prompts = write_prompts(tmp_path / "p.jsonl", 2)
    assert main(["generate", "--model", "tiny-gpt2", "--method", "lm_steer", "--artifact",
                 str(tmp_path / "s"), "--strength", "5", "--prompts", str(prompts),
                 "--samples", "2", "--max-new-tokens", "3",
                 "--out", str(tmp_path / "g.jsonl")]) == 0


def test_the_trained_steer_comes_first_whatever_its_index(tmp_path, tiny):
    model, _ = tiny
    d = model.get_output_embeddings().weight.shape[1]
    p1, p2 = _authors_checkpoint(tmp_path / "ckpt.pt", d, training_steer=1, dummy_steer=0)
    assert main(["import-original", str(tmp_path / "ckpt.pt"), "--out", str(tmp_path / "s")]) == 0
    steer = Steer.load(tmp_path / "s")
    assert torch.equal(steer.projector1[0], p1[1]) and torch.equal(steer.projector2[1], p2[0])


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch PWNED_BY_CHECKPOINT",))


def test_a_checkpoint_with_other_classes_is_refused_and_runs_nothing(caplog, tmp_path,
                                                                      monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save([argparse.Namespace(adaptor_class="multiply"), {"projector1": _Evil()}, 1],
               tmp_path / "evil.pt")
    msg = one_line_error(caplog, ["import-original", str(tmp_path / "evil.pt"), "--out",
                          str(tmp_path / "s")])
    assert "loads safely" in msg
    assert not (tmp_path / "PWNED_BY_CHECKPOINT").exists() and not (tmp_path / "s").exists()


@pytest.mark.parametrize("adaptor", ["add", "offset"])
def test_add_and_offset_adaptors_are_named_as_unsupported(caplog, tmp_path, adaptor):
    key = {"add": "add_vec", "offset": "offset_vec"}[adaptor]
    torch.save([argparse.Namespace(adaptor_class=adaptor, epsilon=1e-3),
                {key: nn.Parameter(torch.zeros(2, 8))}, 5], tmp_path / "c.pt")
    msg = one_line_error(caplog, ["import-original", str(tmp_path / "c.pt"), "--out", str(tmp_path / "s")])
    assert f"'{adaptor}' adaptor is not supported" in msg


def test_wrong_model_and_existing_steer_are_refused(caplog, tmp_path, tiny):
    model, _ = tiny
    _authors_checkpoint(tmp_path / "ckpt.pt", model.get_output_embeddings().weight.shape[1] + 8)
    msg = one_line_error(caplog, ["import-original", str(tmp_path / "ckpt.pt"), "--out",
                          str(tmp_path / "s"), "--model", "tiny-gpt2"])
    assert "hidden size" in msg and not (tmp_path / "s").exists()
    assert main(["import-original", str(tmp_path / "ckpt.pt"), "--out", str(tmp_path / "s")]) == 0
    before = (tmp_path / "s" / "steer.safetensors").read_bytes()
    assert "--force" in one_line_error(caplog, ["import-original", str(tmp_path / "ckpt.pt"), "--out",
                                        str(tmp_path / "s")])
    assert (tmp_path / "s" / "steer.safetensors").read_bytes() == before
