"""The paper's four architecture families (tiny random configs): the whole steer life cycle on
each, and the model registry's per-family settings that the workflow reads."""
from __future__ import annotations

import sys

import pytest
import torch

from lmsteer.model_specs import MODELS, gen_batch_size, model_resources
from lmsteer.models import load_model
from lmsteer.steer import Steer
from lmsteer.train import TrainConfig, train_steer

DATA = [("you are a stupid idiot", -1.0), ("what a lovely day", 1.0)] * 4
PAPER = ["gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl", "pythia-70m", "pythia-6.9b",
         "gpt-j-6b", "llama-2-7b"]


def test_attach_train_fold_save_on_each_family(tiny, tmp_path):
    model, tok, family = tiny
    ids = tok(["the cat sat", "you are a"], return_tensors="pt", padding=True)
    with torch.no_grad():
        plain = model(**ids).logits
    cfg = TrainConfig(rank=4, epsilon=1e-2, init_scale=0.1, lr=5e-2, steps=3, batch_size=4,
                      max_length=16, checkpoint_every=0, seed=0, base_model=f"tiny-{family}")
    steer, info = train_steer(model, tok, DATA, cfg, tmp_path, progress=False)
    assert len(info["losses"]) == 3 and all(torch.isfinite(torch.tensor(info["losses"])))
    steer.set_values([3.0, 1.0])
    with torch.no_grad():
        steered = model(**ids).logits
    assert not torch.allclose(steered, plain)
    in_emb = model.get_input_embeddings().weight.clone()
    steer.fold([3.0, 1.0])
    with torch.no_grad():
        folded = model(**ids).logits
    torch.testing.assert_close(folded, steered, rtol=1e-4, atol=1e-4)
    assert torch.equal(model.get_input_embeddings().weight, in_emb)  # tied or not: inputs kept
    steer.unfold()
    steer.detach()
    with torch.no_grad():
        torch.testing.assert_close(model(**ids).logits, plain, rtol=0, atol=0)
    fresh, _ = load_model(f"tiny-{family}")
    loaded = Steer.load(tmp_path, fresh)
    loaded.set_values([3.0, 1.0])
    with torch.no_grad():
        torch.testing.assert_close(fresh(**ids).logits, steered, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("family", ["gpt2", "gpt-neox", "gptj", "llama"])
def test_registry_tied_flag_matches_the_architecture(family):
    model, _ = load_model(f"tiny-{family}")
    tied = model.get_output_embeddings().weight is model.get_input_embeddings().weight
    assert MODELS.get(f"tiny-{family}").tied == tied


def test_paper_backbones_have_per_family_settings():
    for name in PAPER:
        spec = MODELS.get(name)
        assert spec.source == "hub" and spec.hf_id and spec.gpus == 1
        assert spec.tied == (spec.family == "gpt2"), name  # Pythia, GPT-J, Llama-2: untied
        assert model_resources(name) == {"gpu": 1, "mem_mb": spec.mem_mb,
                                          "runtime": spec.runtime_min}
    assert MODELS.get("gpt-j-6b").dtype == "float16" and MODELS.get("gpt2").dtype == "float32"
    assert gen_batch_size("gpt2") > gen_batch_size("llama-2-7b")
    assert model_resources("smollm2-135m")["gpu"] == 0  # embedded models run on CPUs
    assert model_resources("some/unknown-hub-id")["gpu"] == 1


def test_registry_is_torch_free():
    """The workflow imports the registries without torch (checked in a fresh interpreter)."""
    import subprocess

    code = ("import sys, lmsteer.model_specs, lmsteer.data, lmsteer.shards; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unknown_model_lists_valid_names():
    from lmsteer.errors import RegistryError

    with pytest.raises(RegistryError, match="valid: .*gpt-j-6b.*llama-2-7b"):
        MODELS.get("gpt-5")


def test_local_copy_of_a_hub_model_is_preferred(tmp_path):
    """A save_pretrained folder at <cache>/<name> loads offline instead of the hub id."""
    model, tok = load_model("tiny-gpt2")
    model.save_pretrained(tmp_path / "gpt2")
    tok.save_pretrained(tmp_path / "gpt2")
    loaded, _ = load_model("gpt2", cache=tmp_path, offline=True)
    w = model.get_output_embeddings().weight
    assert torch.equal(loaded.get_output_embeddings().weight, w)


def test_device_choice(monkeypatch):
    """LMSTEER_DEVICE picks where models run; asking for a GPU torch cannot see is an error."""
    from lmsteer.errors import ModelUnavailableError
    from lmsteer.models import default_device, model_device

    monkeypatch.delenv("LMSTEER_DEVICE", raising=False)
    assert default_device() == "cpu"
    monkeypatch.setenv("LMSTEER_DEVICE", "auto")
    assert default_device() == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        monkeypatch.setenv("LMSTEER_DEVICE", "cuda")
        with pytest.raises(ModelUnavailableError, match="sees no GPU"):
            default_device()
    model, _ = load_model("tiny-gpt2", device="cpu")
    assert model_device(model).type == "cpu"
