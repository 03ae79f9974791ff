"""Baselines in the method registry: each control moves the tiny model's distribution the
intended way, and generation treats them like LM-Steer."""
from __future__ import annotations

import pytest
import torch

from lmsteer.errors import LMSteerError, RegistryError
from lmsteer.generate import generate, sample_batch
from lmsteer.methods import get_method
from baselines.blacklist import toxic_words

DATA = ([("you zorbo idiot, zorbo forever", -1.0)] * 6 + [("what a zorbo day", -1.0)] * 2
        + [("have a lovely day friend", 1.0)] * 8 + [("a day with a friend", 1.0)] * 4)


def test_registry_lists_the_baselines():
    with pytest.raises(RegistryError, match="prompting.*soft_blacklist|soft_blacklist"):
        get_method("no_such_method")
    assert get_method("soft_blacklist").name == "soft_blacklist"
    assert get_method("prompting").name == "prompting"


def test_toxic_words_come_from_the_unwanted_side():
    words = [r["word"] for r in toxic_words(DATA, min_count=2)]
    assert words[0] == "zorbo" and "idiot" in words
    assert not {"day", "friend", "lovely"} & set(words)


def _mass(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    return torch.softmax(logits[:, -1].float(), -1)[:, ids].sum(-1)  # (B,)


def test_soft_blacklist_lowers_the_listed_tokens_only(tiny_llama, tmp_path):
    model, tok = tiny_llama
    m = get_method("soft_blacklist", min_count=2, min_token_chars=1, penalty=4.0)
    info = m.fit(model, tok, DATA, tmp_path, seed=0)
    m.save_pretrained(tmp_path)
    assert info["words"] >= 2 and (tmp_path / "method.json").is_file()
    loaded = type(m).from_pretrained(tmp_path, model, tok, min_token_chars=1, penalty=4.0)
    ids = loaded.token_ids
    assert torch.equal(ids, m.token_ids) and ids.numel() > 0
    enc = tok(["the day", "a friend"], return_tensors="pt", padding=True)
    with torch.no_grad():
        plain = model(**enc).logits
        with loaded.control(model, torch.tensor([1.0, 0.0])):  # per-sample strengths
            steered = model(**enc).logits
        after = model(**enc).logits
    assert torch.equal(after, plain)  # the model's forward is restored
    diff = plain - steered
    assert torch.allclose(diff[0][..., ids], torch.full_like(diff[0][..., ids], 4.0))
    keep = torch.ones(plain.shape[-1], dtype=torch.bool)
    keep[ids] = False
    assert torch.equal(diff[0][..., keep], torch.zeros_like(diff[0][..., keep]))
    assert torch.equal(diff[1], torch.zeros_like(diff[1]))  # strength 0: untouched
    assert bool((_mass(steered, ids)[0] < _mass(plain, ids)[0]))


def test_soft_blacklist_in_generation_removes_listed_tokens(tiny_llama, tmp_path):
    model, tok = tiny_llama
    m = get_method("soft_blacklist", min_count=2, min_token_chars=1, penalty=100.0)
    m.fit(model, tok, DATA, tmp_path, seed=0)
    prompts = [{"id": i, "text": t} for i, t in enumerate(["the day", "you are"])]
    count = lambda rows: sum(int(t) in set(m.token_ids.tolist())  # noqa: E731
                             for r in rows for t in tok(r["continuation"],
                                                         add_special_tokens=False)["input_ids"])
    plain = generate(model, tok, get_method("original"), prompts, 0.0, samples=20,
                     max_new_tokens=8, seed=0, progress=False)
    steered = generate(model, tok, m, prompts, 1.0, samples=20, max_new_tokens=8, seed=0,
                       progress=False)
    assert count(plain) > 0 and count(steered) < count(plain)


def test_prompting_conditions_on_the_instruction_and_records_the_prompt(tiny_llama):
    model, tok = tiny_llama
    m = get_method("prompting", positive_prefix="be nice: ", negative_prefix="be rude: ")
    assert m.prompt_for("x", 2.0) == "be nice: x" and m.prompt_for("x", -1) == "be rude: x"
    assert m.prompt_for("x", 0.0) == "x"
    with pytest.raises(LMSteerError, match="one sign"):
        m.prompt_for("x", torch.tensor([1.0, -1.0]))
    prompts = [{"id": 0, "text": "the day"}]
    rows = generate(model, tok, m, prompts, 1.0, samples=4, max_new_tokens=6, seed=3,
                    progress=False)
    direct, _ = sample_batch(model, tok, ["be nice: the day"] * 4, max_new_tokens=6,
                             seed=3 * 1_000_003)
    assert [r["continuation"] for r in rows] == direct
    assert all(r["prompt"] == "the day" for r in rows)
    senti = get_method("prompting", task="sentiment")
    assert "positive" in senti.prompt_for("x", 1.0) and "negative" in senti.prompt_for("x", -1)
    with pytest.raises(LMSteerError, match="detox or sentiment"):
        get_method("prompting", task="topic").prompt_for("x", 1.0)


PAIRS = [("you are a kind person", 1.0)] * 8 + [("you are a stupid idiot", -1.0)] * 8


def _next_logprobs(model, tok, text, words):
    enc = tok([text], return_tensors="pt")
    with torch.no_grad():
        lp = torch.log_softmax(model(**enc).logits[0, -1].float(), -1)
    return [float(lp[tok(w, add_special_tokens=False)["input_ids"][0]]) for w in words]


FT = dict(top_blocks=1, steps=25, lr=1e-2, batch_size=8, max_length=16)


def test_dapt_moves_towards_the_wanted_text_and_restores_the_model(tiny_llama, tmp_path):
    model, tok = tiny_llama
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    m = get_method("dapt", **FT)
    info = m.fit(model, tok, PAIRS, tmp_path, seed=0)
    assert info["positive"]["losses"][-1] < info["positive"]["losses"][0]
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())  # base untouched
    m.load(model, tok, tmp_path)
    kind0, stupid0 = _next_logprobs(model, tok, "you are a", [" kind", " stupid"])
    with m.control(model, 1.0):
        kind1, stupid1 = _next_logprobs(model, tok, "you are a", [" kind", " stupid"])
    assert kind1 - stupid1 > kind0 - stupid0 and kind1 > kind0
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())  # restored
    with pytest.raises(LMSteerError, match="not trained towards negative"):
        with m.control(model, -1.0):
            pass
    assert m.num_trainable_parameters() > 0


def test_dexperts_combines_expert_and_anti_expert_with_their_own_caches(tiny_llama, tmp_path):
    model, tok = tiny_llama
    m = get_method("dexperts", **FT, filter_p=1.0)  # the two words may lie outside the nucleus
    m.fit(model, tok, PAIRS, tmp_path, seed=0)
    m.load(model, tok, tmp_path)
    kind0, stupid0 = _next_logprobs(model, tok, "you are a", [" kind", " stupid"])
    with m.control(model, 2.0):
        kind1, stupid1 = _next_logprobs(model, tok, "you are a", [" kind", " stupid"])
    with m.control(model, -2.0):
        kind2, stupid2 = _next_logprobs(model, tok, "you are a", [" kind", " stupid"])
    assert kind1 > kind0 and stupid1 < stupid0  # towards the expert, away from the anti-expert
    assert kind2 < kind0 and stupid2 > stupid0  # negative alpha: the other way
    # with the KV caches, the sampler's incremental (greedy) decoding equals full recompute
    enc = tok(["you are a"], return_tensors="pt")
    with m.control(model, 2.0), torch.no_grad():
        cached, _ = sample_batch(model, tok, ["you are a"], max_new_tokens=5, greedy=True)
        ids = enc["input_ids"]
        for _ in range(5):
            nxt = model(input_ids=ids).logits[:, -1].argmax(-1, keepdim=True)
            ids = torch.cat([ids, nxt], 1)
    assert cached == tok.batch_decode(ids[:, enc["input_ids"].shape[1]:],
                                      skip_special_tokens=True)
    rows = generate(model, tok, m, [{"id": 0, "text": "you are a"}], 2.0, samples=3,
                    max_new_tokens=4, seed=1, progress=False)
    assert len(rows) == 3 and {r["method"] for r in rows} == {"dexperts"}


def test_dexperts_reweights_only_the_base_nucleus(tiny_llama, tmp_path):
    """DExperts' filter_p: base + alpha (expert - anti) over the base LM's top-0.9 nucleus,
    -inf elsewhere; a row with alpha 0 is the plain LM."""
    from lmsteer.sampling import nucleus_mask

    model, tok = tiny_llama
    m = get_method("dexperts", **FT)
    m.fit(model, tok, PAIRS, tmp_path, seed=0)
    m.load(model, tok, tmp_path)
    enc = tok(["you are a", "the cat sat"], return_tensors="pt", padding=True)
    with torch.no_grad():
        base = model(**enc).logits[:, -1].float()  # (2, V)
        diff = (m.experts["expert"](**enc).logits[:, -1]
                - m.experts["anti_expert"](**enc).logits[:, -1]).float()
        with m.control(model, torch.tensor([2.0, 0.0])):
            got = model(**enc).logits[:, -1].float()
    keep = nucleus_mask(base[:1], 0.9)[0]  # (V,)
    assert 0 < int(keep.sum()) < base.shape[1]  # the filter drops tokens here
    assert torch.isinf(got[0][~keep]).all()
    torch.testing.assert_close(got[0][keep], (base[0] + 2.0 * diff[0])[keep])
    torch.testing.assert_close(got[1], base[1])  # alpha 0: unfiltered, unchanged


@pytest.mark.parametrize("family", ["llama", "gpt2"])  # nn.Linear and GPT-2's Conv1D
def test_lora_moves_towards_the_wanted_text_and_detaches(family, tmp_path):
    from lmsteer.models import load_model

    model, tok = load_model(f"tiny-{family}")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    m = get_method("lora", rank=4, alpha=8.0, steps=25, lr=3e-2, batch_size=8, max_length=16)
    info = m.fit(model, tok, PAIRS, tmp_path, seed=0)
    assert info["positive"]["losses"][-1] < info["positive"]["losses"][0]
    assert dict(model.named_parameters()).keys() == before.keys()  # adapters removed
    m.load(model, tok, tmp_path)
    kind0, stupid0 = _next_logprobs(model, tok, "you are a", [" kind", " stupid"])
    with m.control(model, 1.0):
        kind1, stupid1 = _next_logprobs(model, tok, "you are a", [" kind", " stupid"])
        assert m.num_trainable_parameters() > 0
    assert kind1 - stupid1 > kind0 - stupid0 and kind1 > kind0
    after = dict(model.named_parameters())
    assert after.keys() == before.keys() and all(torch.equal(after[n], before[n]) for n in before)
    assert _next_logprobs(model, tok, "you are a", [" kind"])[0] == pytest.approx(kind0)


def test_gedi_posterior_steers_both_ways(tiny_llama, tmp_path):
    model, tok = tiny_llama
    m = get_method("gedi", **FT)
    info = m.fit(model, tok, PAIRS, tmp_path, seed=0)
    assert info["losses"][-1] < info["losses"][0]
    m.load(model, tok, tmp_path)
    kind0, stupid0 = _next_logprobs(model, tok, "you are a", [" kind", " stupid"])
    with m.control(model, 3.0):
        kind1, stupid1 = _next_logprobs(model, tok, "you are a", [" kind", " stupid"])
    with m.control(model, -3.0):
        kind2, stupid2 = _next_logprobs(model, tok, "you are a", [" kind", " stupid"])
    assert kind1 - stupid1 > kind0 - stupid0 > kind2 - stupid2
    rows = generate(model, tok, m, [{"id": 0, "text": "you are a"}, {"id": 1, "text": "the"}],
                    3.0, samples=3, max_new_tokens=5, seed=1, progress=False)
    assert len(rows) == 6 and {r["method"] for r in rows} == {"gedi"}
    with m.control(model, 0.0):  # strength 0: exactly the base model
        assert _next_logprobs(model, tok, "you are a", [" kind"])[0] == pytest.approx(kind0)
    # its tuned blocks count as trainable parameters (the efficiency table reads this)
    fresh = get_method("gedi", **FT)
    fresh.load(model, tok, tmp_path)
    assert fresh.num_trainable_parameters() == m.num_trainable_parameters() > 0


def _gedi_reference(m, ids: list[int], cands: list[int]) -> torch.Tensor:
    """log p(code | prompt ids + v) per code and candidate, GeDi's way, by full forwards: (2, C)."""
    out = []
    for code in m.code_ids:
        row = []
        for v in cands:
            seq = torch.tensor([code.tolist() + ids + [v]])
            with torch.no_grad():
                lp = torch.log_softmax(m.cclm(input_ids=seq).logits[0].float(), -1)
            p = len(code)
            scored = [float(lp[j - 1, seq[0, j]]) for j in range(p, seq.shape[1])]
            row.append(sum(scored) / len(scored))  # length-normalised log-likelihood
        out.append(row)
    return torch.log_softmax(torch.tensor(out), dim=0)


def _steered_step(model, m, tok, texts, strength):
    """Base and GeDi-weighted next-token log-probs for a left-padded batch: (B, V) each."""
    side, tok.padding_side = tok.padding_side, "left"
    enc = tok(texts, return_tensors="pt", padding=True)
    tok.padding_side = side
    pos = (enc["attention_mask"].cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        base = torch.log_softmax(model(**enc, position_ids=pos).logits[:, -1].float(), -1)
        with m.control(model, strength):
            lp = torch.log_softmax(model(**enc, position_ids=pos).logits[:, -1].float(), -1)
    return enc, base, lp


def test_gedi_posterior_is_bayes_over_length_normalised_likelihoods(tiny_llama, tmp_path):
    """GeDi's decoding: |w| * log p(c | x, v), each code's log-likelihood of prompt + v divided
    by its length; c the wanted code for w > 0 and the unwanted one for w < 0; left padding
    does not change a prompt's posterior."""
    model, tok = tiny_llama
    m = get_method("gedi", filter_p=0, **FT)
    m.fit(model, tok, PAIRS, tmp_path, seed=0)
    m.load(model, tok, tmp_path)
    texts, cands = ["you are a", "the"], [5, 17, 42, 99]
    for w in (4.0, -4.0):
        enc, base, lp = _steered_step(model, m, tok, texts, w)
        for b, text in enumerate(texts):
            ids = tok(text)["input_ids"]
            ref = _gedi_reference(m, ids, cands)[0 if w > 0 else 1]  # (C,)
            shift = (lp[b] - base[b])[cands]
            shift = shift - shift[0] + ref[0] * abs(w)  # log_softmax renormalises: compare shapes
            assert torch.allclose(shift, abs(w) * ref, atol=1e-4), (w, text)
    assert enc["attention_mask"][1].sum() < enc["attention_mask"][0].sum()  # "the" was padded


def test_gedi_filter_drops_only_unwanted_low_mass_tokens(tiny_llama, tmp_path):
    model, tok = tiny_llama
    m = get_method("gedi", filter_p=0.8, target_p=0.8, **FT)
    m.fit(model, tok, PAIRS, tmp_path, seed=0)
    m.load(model, tok, tmp_path)
    _, _, lp = _steered_step(model, m, tok, ["you are a"], 4.0)
    m.params["filter_p"] = 0
    _, _, unfiltered = _steered_step(model, m, tok, ["you are a"], 4.0)
    dropped = torch.isinf(lp[0])
    assert dropped.any() and not dropped.all()
    assert float(unfiltered[0][dropped].exp().sum()) < 0.8  # within the first filter_p of mass
    post = _gedi_reference(m, tok("you are a")["input_ids"], dropped.nonzero()[:5, 0].tolist())[0]
    assert (post < torch.log(torch.tensor(0.8))).all()  # none of them clears target_p
