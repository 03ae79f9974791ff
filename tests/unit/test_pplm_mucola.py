"""PPLM and MuCoLa on a tiny random Llama: the attribute probe learns the classes, each method's
control moves generation towards the wanted class (and the other way for negative strength),
and strength 0 leaves PPLM's distribution exactly as the LM's."""
from __future__ import annotations

import pytest
import torch

from baselines.mucola import nearest_tokens
from baselines.probe import UNWANTED, pooled_examples
from lmsteer.generate import generate, sample_batch, sample_ids
from lmsteer.methods import get_method
from lmsteer.models import load_model

DATA = ([("you zorbo idiot, zorbo forever", -1.0)] * 6 + [("what a zorbo day", -1.0)] * 2
        + [("have a lovely day friend", 1.0)] * 8 + [("a day with a friend", 1.0)] * 4)


def _p_unwanted(method, model, tok, texts: list[str]) -> torch.Tensor:
    """The probe's P(unwanted) of each text: (N,)."""
    x = pooled_examples(model, tok, texts, 48, None, progress=False)
    with torch.no_grad():
        return torch.softmax(method.probe(x), -1)[:, UNWANTED]


def test_probe_separates_the_classes_and_reloads(tiny_llama, tmp_path):
    model, tok = tiny_llama
    m = get_method("pplm", probe_steps=100)
    info = m.fit(model, tok, DATA, tmp_path, seed=0)
    assert info["train_accuracy"] == 1.0 and (tmp_path / "probe.safetensors").is_file()
    p = _p_unwanted(m, model, tok, ["you zorbo idiot", "have a lovely day"])
    assert p[0] > 0.5 > p[1]
    loaded = get_method("pplm")
    loaded.load(model, tok, tmp_path)
    assert torch.allclose(_p_unwanted(loaded, model, tok, ["zorbo"]),
                          _p_unwanted(m, model, tok, ["zorbo"]))
    assert loaded.num_trainable_parameters() == 2 * model.config.hidden_size + 2


def _next_logprobs(model, tok, text: str) -> torch.Tensor:
    enc = tok([text], return_tensors="pt")
    with torch.no_grad():
        return torch.log_softmax(model(**enc).logits[0, -1].float(), -1)  # (V,)


def test_pplm_lowers_the_unwanted_class_and_leaves_strength_zero_exact(tiny_llama, tmp_path):
    model, tok = tiny_llama
    m = get_method("pplm", stepsize=0.2, num_iterations=3, probe_steps=100)
    m.fit(model, tok, DATA, tmp_path, seed=0)
    prompt = "you are a"
    plain = _next_logprobs(model, tok, prompt)
    with m.control(model, 0.0):
        assert torch.allclose(_next_logprobs(model, tok, prompt), plain, atol=1e-5)
    with m.control(model, 1.0):
        assert not torch.allclose(_next_logprobs(model, tok, prompt), plain, atol=1e-3)
    assert torch.allclose(_next_logprobs(model, tok, prompt), plain)  # forward restored
    texts = ["you are a", "the day"] * 16
    p = {}
    for s in (0.0, 1.0):  # the same sampling seed: only the control differs
        with m.control(model, s):
            conts, _ = sample_batch(model, tok, texts, max_new_tokens=6, seed=3)
        p[s] = float(_p_unwanted(m, model, tok, [a + c for a, c in zip(texts, conts)]).mean())
    assert p[1.0] < 0.5 * p[0.0]  # measured 0.039 vs 0.118


def test_pplm_generates_through_the_shared_sampler(tiny_llama, tmp_path):
    model, tok = tiny_llama
    m = get_method("pplm", num_iterations=1, probe_steps=20)
    m.fit(model, tok, DATA, tmp_path, seed=0)
    prompts = [{"id": 0, "text": "you are a"}, {"id": 1, "text": "the day"}]
    rows = generate(model, tok, m, prompts, 1.0, samples=2, max_new_tokens=4, seed=1,
                    progress=False)
    assert len(rows) == 4 and {r["method"] for r in rows} == {"pplm"}
    plain = generate(model, tok, get_method("original"), prompts, 0.0, samples=2,
                     max_new_tokens=4, seed=1, progress=False)
    zero = generate(model, tok, m, prompts, 0.0, samples=2, max_new_tokens=4, seed=1,
                    progress=False)
    assert [r["continuation"] for r in zero] == [r["continuation"] for r in plain]


def test_nearest_tokens_matches_brute_force():
    torch.manual_seed(0)
    w, e = torch.randn(50, 8), torch.randn(3, 4, 8)
    brute = torch.cdist(e.reshape(-1, 8), w).argmin(-1).reshape(3, 4)
    assert torch.equal(nearest_tokens(e, w, w.pow(2).sum(-1)), brute)


def test_mucola_constraint_moves_continuations_both_ways(tiny_llama, tmp_path):
    model, tok = tiny_llama
    m = get_method("mucola", step_size=2.0, steps=10, threshold=1e-4, probe_steps=100)
    m.fit(model, tok, DATA, tmp_path, seed=0)
    texts = ["the day is", "you are a"] * 8
    new = sample_ids(model, tok, texts, max_new_tokens=8, seed=3)
    enc = tok(texts, return_tensors="pt", padding=True)
    conts = {}
    for s in (1.0, -1.0):
        with torch.no_grad():
            y = m.refine(model, enc["input_ids"], enc["attention_mask"], new, tok.eos_token_id,
                         torch.full((len(texts),), s), seed=0)
        assert y.shape == new.shape and bool((y != new).any())
        conts[s] = tok.batch_decode(y)
    p = {s: float(_p_unwanted(m, model, tok, c).mean()) for s, c in conts.items()}
    assert p[1.0] < p[-1.0]


def test_mucola_generates_and_keeps_tokens_after_eos(tiny_llama, tmp_path):
    model, tok = tiny_llama
    m = get_method("mucola", steps=2, probe_steps=20)
    m.fit(model, tok, DATA, tmp_path, seed=0)
    new = torch.tensor([[5, 6, tok.eos_token_id, 7], [8, 9, 10, 11]])
    enc = tok(["you are a", "the day"], return_tensors="pt", padding=True)
    with torch.no_grad():
        y = m.refine(model, enc["input_ids"], enc["attention_mask"], new, tok.eos_token_id,
                     torch.tensor([1.0, 1.0]), seed=0)
    assert torch.equal(y[0, 2:], new[0, 2:])
    rows = generate(model, tok, m, [{"id": 0, "text": "you are a"}], 1.0, samples=3,
                    max_new_tokens=5, seed=1, progress=False)
    assert len(rows) == 3 and {r["method"] for r in rows} == {"mucola"}
    with pytest.raises(AttributeError):
        m._strength  # noqa: B018  (cleared after control)


def test_mucola_cuts_prompts_longer_than_the_context(tmp_path, caplog):
    """Prompt + continuation past the model's positions (tiny-gpt2: 128): MuCoLa's refinement
    sees the same left-cut prompt as the sampler, instead of indexing past the position table."""
    from lmsteer.models import load_model

    model, tok = load_model("tiny-gpt2")
    m = get_method("mucola", steps=2, probe_steps=20)
    m.fit(model, tok, DATA, tmp_path, seed=0)
    long = " ".join(["the cat sat on the mat"] * 40)
    assert len(tok(long)["input_ids"]) + 8 > 128
    with caplog.at_level("WARNING", logger="lmsteer.generate"):
        rows = generate(model, tok, m, [{"id": 0, "text": long}, {"id": 1, "text": "the day"}],
                        1.0, samples=2, max_new_tokens=8, seed=0, progress=False)
    assert len(rows) == 4 and all(r["n_tokens"] <= 8 for r in rows)
    assert caplog.text.count("longer than the model's 128 positions") == 1  # logged once


@pytest.mark.parametrize("family", ["llama", "gpt2"])  # untied and tied embeddings
def test_mucola_lm_energy_and_gradient_match_the_full_logit_energy(family):
    """The chunked E_LM against MuCoLa's energy written out with (B, L, V) logits."""
    from baselines.mucola import lm_energy

    model, _ = load_model(f"tiny-{family}")
    g = torch.Generator().manual_seed(0)
    b, n = 3, 5
    w = model.get_input_embeddings().weight.detach()
    y = torch.randint(w.shape[0], (b, n), generator=g)
    live = torch.ones(b, n)
    live[1, 3:] = 0
    tied = model.get_output_embeddings().weight.data_ptr() == w.data_ptr()
    h0 = torch.randn(b, n, w.shape[1], generator=g)
    grads, values = [], []
    for ref in (True, False):
        e = w[y].clone().requires_grad_()
        h_prev = h0 + e.cumsum(1) * 0.1  # depends on e, like the LM's states
        if ref:
            logits = model.get_output_embeddings()(h_prev).float()  # (B, L, V)
            tgt = logits.gather(-1, y[..., None]).squeeze(-1)
            if tied:
                tgt = tgt + (h_prev * (e - e.detach())).sum(-1)
            energy = ((torch.logsumexp(logits, -1) - tgt) * live).sum(1)
        else:
            energy = lm_energy(model, h_prev, e, y, live, tied)
        (grad,) = torch.autograd.grad(energy.sum(), e)
        values.append(energy.detach())
        grads.append(grad)
    assert tied == (family == "gpt2")
    torch.testing.assert_close(values[1], values[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-4, atol=1e-6)
