"""The steer: identity at s=0, linearity, per-sample values, fold, detach, save/load."""
from __future__ import annotations

import pytest
import torch

from lmsteer.errors import LMSteerError, SteerLoadError
from lmsteer.steer import Steer, SteerConfig, output_matrix_sha256


def _ids(tok, texts=("you are a kind person", "the dog ran in the park")):
    return tok(list(texts), return_tensors="pt", padding=True)


def _logits(model, enc):
    with torch.no_grad():
        return model(**enc).logits


def _steer(model, rank=4, eps=1e-2, seed=0, init=0.5):
    d = model.get_output_embeddings().weight.shape[1]
    cfg = SteerConfig(num_steers=2, rank=rank, epsilon=eps, init_scale=init, hidden_size=d,
                      base_model="tiny", base_sha256=output_matrix_sha256(model))
    return Steer(cfg, seed=seed)


def test_zero_values_give_identical_logits(tiny):
    model, tok, _ = tiny
    enc = _ids(tok)
    plain = _logits(model, enc)
    steer = _steer(model).attach(model)
    steer.set_values([0.0, 0.0])
    assert torch.equal(_logits(model, enc), plain)
    steer.set_values(torch.zeros(2, 2))  # per sample, all zero
    assert torch.equal(_logits(model, enc), plain)


def test_nonzero_values_change_logits_and_are_linear_in_epsilon(tiny):
    model, tok, _ = tiny
    enc = _ids(tok)
    plain = _logits(model, enc).double()
    steer = _steer(model, eps=1e-3).attach(model)
    steer.set_values([3.0, 1.0])
    d1 = _logits(model, enc).double() - plain
    steer.config.epsilon = 2e-3
    d2 = _logits(model, enc).double() - plain
    assert d1.abs().max() > 1e-6
    torch.testing.assert_close(d2, 2 * d1, rtol=1e-3, atol=1e-5)


def test_per_sample_values_equal_separate_runs(tiny_llama):
    model, tok = tiny_llama
    enc = _ids(tok)
    steer = _steer(model).attach(model)
    steer.set_values(torch.tensor([[2.0, 1.0], [-3.0, 1.0]]))
    both = _logits(model, enc)
    for row, vals in enumerate(([2.0, 1.0], [-3.0, 1.0])):
        steer.set_values(vals)
        torch.testing.assert_close(both[row], _logits(model, enc)[row], rtol=1e-5, atol=1e-5)


def test_fold_matches_unfolded_and_keeps_input_embeddings(tiny):
    model, tok, family = tiny
    enc = _ids(tok)
    emb_before = model.get_input_embeddings().weight.detach().clone()
    out_before = model.get_output_embeddings().weight.detach().clone()
    steer = _steer(model).attach(model)
    steer.set_values([4.0, 1.0])
    unfolded = _logits(model, enc)
    steer.fold([4.0, 1.0])
    folded = _logits(model, enc)
    torch.testing.assert_close(folded, unfolded, rtol=1e-4, atol=1e-4)
    assert torch.equal(model.get_input_embeddings().weight, emb_before)
    steer.unfold()
    assert torch.equal(steer.base_head.weight, out_before)
    torch.testing.assert_close(_logits(model, enc), unfolded, rtol=0, atol=0)
    model = steer.detach()
    assert torch.equal(model.get_output_embeddings().weight, out_before)
    if family in ("gpt2",):  # tied: the output matrix is still the input matrix afterwards
        assert model.get_output_embeddings().weight.data_ptr() == \
            model.get_input_embeddings().weight.data_ptr()


def test_detach_restores_model_exactly(tiny):
    model, tok, _ = tiny
    enc = _ids(tok)
    head = model.get_output_embeddings()
    plain = _logits(model, enc)
    steer = _steer(model).attach(model)
    steer.set_values([5.0, 1.0])
    assert not torch.equal(_logits(model, enc), plain)
    steer.detach()
    assert model.get_output_embeddings() is head
    assert torch.equal(_logits(model, enc), plain)


def test_save_load_round_trip(tmp_path, tiny_llama):
    model, tok = tiny_llama
    enc = _ids(tok)
    steer = _steer(model, seed=3).attach(model)
    steer.set_values([2.0, 1.0])
    ref = _logits(model, enc)
    steer.save(tmp_path / "s")
    steer.detach()
    assert {p.name for p in (tmp_path / "s").iterdir()} == {"steer_config.json", "steer.safetensors"}
    loaded = Steer.load(tmp_path / "s", model)
    loaded.set_values([2.0, 1.0])
    assert torch.equal(_logits(model, enc), ref)


def test_load_refuses_other_model(tmp_path, tiny_llama):
    from lmsteer.models import load_model

    model, _ = tiny_llama
    _steer(model).save(tmp_path / "s")
    other, _ = load_model("tiny-llama", seed=1)  # same shape, different weights
    with pytest.raises(SteerLoadError, match="base model"):
        Steer.load(tmp_path / "s", other)
    from transformers import AutoModelForCausalLM, LlamaConfig
    wide = AutoModelForCausalLM.from_config(LlamaConfig(
        hidden_size=48, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
        intermediate_size=32, vocab_size=50, tie_word_embeddings=False))
    with pytest.raises(SteerLoadError, match="hidden size"):
        Steer.load(tmp_path / "s", wide)


def test_load_refuses_missing_or_truncated_files(tmp_path, tiny_llama):
    model, _ = tiny_llama
    folder = _steer(model).save(tmp_path / "s")
    data = (folder / "steer.safetensors").read_bytes()
    (folder / "steer.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(SteerLoadError):
        Steer.load(folder)
    (folder / "steer.safetensors").unlink()
    with pytest.raises(SteerLoadError, match="missing steer.safetensors"):
        Steer.load(folder)


def test_wrong_value_shapes_are_rejected(tiny_llama):
    model, tok = tiny_llama
    steer = _steer(model).attach(model)
    with pytest.raises(LMSteerError, match="shape"):
        steer.set_values([1.0, 2.0, 3.0])
    steer.set_values(torch.ones(3, 2))  # per-sample for 3 samples, batch of 2
    with pytest.raises(LMSteerError, match="per-sample"):
        _logits(model, _ids(tok))
    with pytest.raises(LMSteerError):
        steer.fold([1.0])


def test_trainable_parameter_count(tiny_llama):
    model, _ = tiny_llama
    steer = _steer(model, rank=4)
    d = model.get_output_embeddings().weight.shape[1]
    assert steer.num_parameters() == 2 * 2 * d * 4
