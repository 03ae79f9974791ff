"""Training (cached hidden states, resume, NaN) and batched generation on tiny models."""
from __future__ import annotations

import json
import shutil

import pytest
import torch

from lmsteer.errors import LMSteerError, TrainingError
from lmsteer.generate import distinct_rows, fit_context, generate, last_position, sample_ids
from lmsteer.methods import get_method
from lmsteer.models import load_model
from lmsteer.steer import Steer
from lmsteer.train import TrainConfig, _save_checkpoint, cache_hidden_states, train_steer

DATA = [("you are a stupid idiot", -1.0), ("i hate this , it is terrible", -1.0),
        ("what a lovely day", 1.0), ("i love this movie , it is great", 1.0)] * 4
PROMPTS = [{"id": 0, "text": "the cat"}, {"id": 1, "text": "you are"}]


def _cfg(**kw):
    base = dict(rank=4, epsilon=1e-2, init_scale=0.1, lr=5e-2, steps=12, batch_size=4,
                max_length=16, checkpoint_every=4, seed=0, base_model="tiny-llama")
    base.update(kw)
    return TrainConfig(**base)


def test_training_lowers_loss_and_saves(tmp_path):
    model, tok = load_model("tiny-llama")
    steer, info = train_steer(model, tok, DATA, _cfg(steps=30, checkpoint_every=0), tmp_path,
                              progress=False)
    first, last = sum(info["losses"][:5]) / 5, sum(info["losses"][-5:]) / 5
    assert last < first
    assert (tmp_path / "steer.safetensors").is_file()
    assert json.loads((tmp_path / "train_log.json").read_text())["steps"] == 30


def test_steer_moves_distribution_towards_wanted_text(tmp_path):
    model, tok = load_model("tiny-llama")
    steer, _ = train_steer(model, tok, DATA, _cfg(steps=60, checkpoint_every=0), tmp_path,
                           progress=False)
    good = tok("what a lovely day", return_tensors="pt")["input_ids"]

    def nll(values):
        steer.set_values(values)
        with torch.no_grad():
            return model(input_ids=good, labels=good).loss.item()
    assert nll([5.0, 1.0]) < nll([-5.0, 1.0])


def test_resume_gives_identical_steer(tmp_path):
    model, tok = load_model("tiny-llama")
    full, _ = train_steer(model, tok, DATA, _cfg(), tmp_path / "a", progress=False)
    full.detach()
    # interrupted run: stop after 8 steps (checkpoint at 4 and 8), then rerun to 12
    part, _ = train_steer(model, tok, DATA, _cfg(steps=8), tmp_path / "b", progress=False)
    part.detach()
    prog = tmp_path / "b" / "checkpoint" / "progress.json"
    assert json.loads(prog.read_text())["step"] == 4
    # make the checkpoint look like the 12-step run was interrupted at step 4
    p = json.loads(prog.read_text())
    p["config"]["steps"] = 12
    prog.write_text(json.dumps(p))
    meta = json.loads((tmp_path / "b/checkpoint/steer_config.json").read_text())
    meta["config"]["extra"]["train"]["steps"] = 12
    (tmp_path / "b/checkpoint/steer_config.json").write_text(json.dumps(meta))
    resumed, info = train_steer(model, tok, DATA, _cfg(), tmp_path / "b", progress=False)
    assert torch.allclose(resumed.projector1, full.projector1, atol=1e-6)
    assert torch.allclose(resumed.projector2, full.projector2, atol=1e-6)
    assert len(info["losses"]) == 12


def test_nan_loss_stops_with_step(tmp_path):
    model, tok = load_model("tiny-llama")
    with pytest.raises(TrainingError, match="at step 0"):
        train_steer(model, tok, DATA, _cfg(epsilon=float("inf")), tmp_path, progress=False)


def test_generation_is_seeded_batched_and_cut_by_tokens(tmp_path):
    model, tok = load_model("tiny-llama")
    meth = get_method("original")
    a = generate(model, tok, meth, PROMPTS, 0.0, samples=3, max_new_tokens=5, batch_size=4,
                 seed=1, progress=False)
    b = generate(model, tok, meth, PROMPTS, 0.0, samples=3, max_new_tokens=5, batch_size=4,
                 seed=1, progress=False)
    assert a == b and len(a) == 6
    assert {(r["prompt_id"], r["sample"]) for r in a} == {(p, s) for p in (0, 1) for s in range(3)}
    assert all(r["n_tokens"] <= 5 for r in a)
    assert any(r["n_tokens"] == 5 for r in a)


def test_lm_steer_method_fold_equals_per_sample_generation(tmp_path):
    model, tok = load_model("tiny-llama")
    train_steer(model, tok, DATA, _cfg(steps=20, checkpoint_every=0), tmp_path,
                progress=False)[0].detach()
    meth = get_method("lm_steer")
    meth.load(model, tok, tmp_path)
    kw = dict(samples=4, max_new_tokens=6, batch_size=8, seed=3, progress=False)
    folded = generate(model, tok, meth, PROMPTS, 5.0, **kw)
    meth.params["fold"] = False
    unfolded = generate(model, tok, meth, PROMPTS, 5.0, **kw)
    same = sum(f["continuation"] == u["continuation"] for f, u in zip(folded, unfolded))
    assert same >= len(folded) - 1  # float rounding may flip at most a rare sample
    assert isinstance(meth.steer, Steer) and not meth.steer.folded


def test_the_prompt_pass_keeps_the_last_positions_logits(tiny):
    """last_position (an index tensor, not logits_to_keep=1's non-contiguous slice) keeps
    exactly the last position of the full forward, for every family."""
    model, tok, _ = tiny
    tok.padding_side = "left"
    enc = tok(["the cat sat on the mat", "hi"], return_tensors="pt", padding=True)
    ids, mask = enc["input_ids"], enc["attention_mask"]  # (2, T), T > 1
    with torch.no_grad():
        full = model(input_ids=ids, attention_mask=mask).logits  # (2, T, V)
        kept = model(input_ids=ids, attention_mask=mask, logits_to_keep=last_position(ids)).logits
    assert kept.shape == (2, 1, full.shape[-1])
    torch.testing.assert_close(kept, full[:, -1:], rtol=1e-5, atol=1e-5)


def test_distinct_rows_index_back_to_the_texts():
    texts = ["b", "a", "b", "b", "c", "a"]
    rows, inv = distinct_rows(texts)
    assert rows == ["b", "a", "c"] and [rows[i] for i in inv] == texts


def test_a_shared_prompt_pass_samples_the_same_tokens(tiny):
    """One prompt pass per distinct prompt, its cache copied to the prompt's samples: the same
    greedy and sampled tokens as a pass per row, on every family (left padding included)."""
    model, tok, _ = tiny
    tok.padding_side = "left"
    texts = [t for t in ("the cat sat on the mat", "hi", "you are") for _ in range(5)]
    for kw in (dict(greedy=True), dict(seed=7)):
        per_row = sample_ids(model, tok, texts, max_new_tokens=7, **kw)
        shared = sample_ids(model, tok, texts, max_new_tokens=7, share_prompts=True, **kw)
        assert shared.shape == (15, 7) and torch.equal(shared, per_row)
    assert len({tuple(r) for r in per_row.tolist()}) > 3  # the samples of a prompt do differ


def test_which_methods_share_the_prompt_pass():
    assert get_method("original").prompt_pass_shared(0.0)
    assert get_method("lm_steer").prompt_pass_shared(2.0)
    assert not get_method("lm_steer").prompt_pass_shared(torch.tensor([1.0, -1.0]))  # per sample
    for name in ("prompting", "dapt", "lora"):
        assert get_method(name).prompt_pass_shared(1.0), name
    for name in ("dexperts", "gedi", "pplm", "mucola", "soft_blacklist"):  # own state or models
        assert not get_method(name).prompt_pass_shared(1.0), name


def test_prompts_longer_than_the_context_keep_their_last_tokens(caplog):
    model, tok = load_model("tiny-gpt2")  # 128 positions
    long = " ".join(["the cat sat on the mat"] * 40)
    n_long = len(tok(long)["input_ids"])
    assert n_long + 8 > 128  # would index past the position table
    with caplog.at_level("WARNING", logger="lmsteer.generate"):
        rows = generate(model, tok, get_method("prompting"), [{"id": 0, "text": long}] + PROMPTS,
                        1.0, samples=2, max_new_tokens=8, batch_size=6, seed=0, progress=False)
    assert len(rows) == 6 and all(r["n_tokens"] <= 8 for r in rows)
    assert "2 of 6 sequences (prompt x sample) are longer than the model's 128" in caplog.text
    enc = tok(["the cat", long], return_tensors="pt", padding=True)
    ids, mask = fit_context(model, enc["input_ids"], enc["attention_mask"], 8)
    assert ids.shape == (2, 120) and bool((ids[1] == enc["input_ids"][1, -120:]).all())
    n_short = len(tok("the cat")["input_ids"])  # the short prompt keeps all its tokens
    assert bool((ids[0, -n_short:] == enc["input_ids"][0, -n_short:]).all())
    assert int(mask[0].sum()) == n_short
    short = tok(["the cat"], return_tensors="pt")
    same = fit_context(model, short["input_ids"], short["attention_mask"], 8)
    assert same[0] is short["input_ids"]  # fits: untouched
    with pytest.raises(LMSteerError, match="no room"):
        fit_context(model, enc["input_ids"], enc["attention_mask"], 128)


@pytest.mark.parametrize("cut", ["swapped_out", "new_partial", "new_complete"])
def test_a_checkpoint_save_cut_by_a_kill_leaves_one_that_resumes(tmp_path, caplog, cut):
    """A kill during a checkpoint save: between moving the old one aside and moving the new
    one in (``swapped_out``), while writing the new one (``new_partial``), or after writing it
    (``new_complete``); the rerun resumes from a complete checkpoint to the same steer."""
    model, tok = load_model("tiny-llama")
    full, _ = train_steer(model, tok, DATA, _cfg(), tmp_path / "a", progress=False)
    full.detach()
    good = tmp_path / "a" / "checkpoint"  # the step-8 checkpoint of a 12-step run
    assert json.loads((good / "progress.json").read_text())["step"] == 8
    b = tmp_path / "b"
    b.mkdir()
    if cut == "swapped_out":
        shutil.copytree(good, b / "checkpoint.old")
        shutil.copytree(good, b / "checkpoint.new")
    else:
        shutil.copytree(good, b / "checkpoint")
        shutil.copytree(good, b / "checkpoint.new")
        if cut == "new_partial":  # progress.json is written last
            (b / "checkpoint.new" / "progress.json").unlink()
    with caplog.at_level("INFO", logger="lmsteer.train"):
        resumed, info = train_steer(model, tok, DATA, _cfg(), b, progress=False)
    assert "resuming training from step 8" in caplog.text
    assert torch.equal(resumed.projector1, full.projector1)
    assert torch.equal(resumed.projector2, full.projector2)
    assert len(info["losses"]) == 12
    assert sorted(p.name for p in b.iterdir() if p.name.startswith("checkpoint")) == ["checkpoint"]


def test_a_stale_old_checkpoint_does_not_block_the_next_save(tmp_path):
    """A ``checkpoint.old`` left beside a complete checkpoint (e.g. copied back by hand) is
    replaced by the next save instead of failing the rename."""
    model, tok = load_model("tiny-llama")
    steer, _ = train_steer(model, tok, DATA, _cfg(), tmp_path, progress=False)
    ckpt = tmp_path / "checkpoint"
    shutil.copytree(ckpt, tmp_path / "checkpoint.old")
    opt = torch.optim.Adam([steer.projector1, steer.projector2])
    _save_checkpoint(ckpt, steer, opt, 12, [0.0] * 12)
    assert json.loads((ckpt / "progress.json").read_text())["step"] == 12
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("checkpoint")) == [
        "checkpoint"]
    steer.detach()


@pytest.mark.parametrize("name", ["tiny-gpt2", "tiny-llama"])
def test_cache_batches_by_length_and_keeps_text_order(name):
    """Length-sorted batches: every text's rows equal its own unpadded forward, in text order."""
    model, tok = load_model(name)
    texts = ["a b c d e f g h i j", "w " * 30, "you", "the cat sat on the mat", "i love", "no",
             "x y z"]  # "w " * 30 is truncated at 16 tokens
    cache = cache_hidden_states(model, tok, texts, 16, batch_size=2, progress=False)
    assert cache.example.tolist() == sorted(cache.example.tolist())  # rows in text order
    for j, text in enumerate(texts):
        one = cache_hidden_states(model, tok, [text], 16, batch_size=1, progress=False)
        a, b = int(cache.offsets[j]), int(cache.offsets[j + 1])
        assert b - a == one.hidden.shape[0] and bool((cache.example[a:b] == j).all())
        assert torch.equal(cache.target[a:b], one.target)
        assert torch.allclose(cache.hidden[a:b].float(), one.hidden.float(), atol=1e-3)
