"""The analyses on tiny models: exact span DP, map recovery, per-sample sweeps, composition,
cache subsets, probing and the holistic points."""
from __future__ import annotations

import itertools
import json
import random

import pytest
import torch

from lmsteer.analysis import compose, data_size, highlight, holistic, probe_w, sweep, transfer
from lmsteer.analysis.common import SteerSumHead, sample_grid
from lmsteer.generate import sample_batch
from lmsteer.models import load_model
from lmsteer.steer import Steer, SteerConfig, output_matrix_sha256
from lmsteer.tables import fewer_prompts
from lmsteer.train import TrainConfig, cache_hidden_states, subset_cache

PROMPTS = [{"id": 0, "text": "the cat", "set": "t"}, {"id": 1, "text": "you are", "set": "t"}]


def _steer(model, seed=0, scale=0.5, rank=4, eps=0.05):
    d = model.get_output_embeddings().weight.shape[1]
    cfg = SteerConfig(num_steers=2, rank=rank, epsilon=eps, init_scale=scale, hidden_size=d,
                      base_model="tiny", base_sha256=output_matrix_sha256(model))
    return Steer(cfg, seed=seed)


def _brute_spans(scores, n, max_len):
    t, best = len(scores), 0.0
    spans = [(a, b) for a in range(t) for b in range(a + 1, min(t, a + max_len) + 1)]
    for k in range(1, n + 1):
        for combo in itertools.combinations(spans, k):
            ordered = sorted(combo)
            if all(x[1] <= y[0] for x, y in zip(ordered, ordered[1:])):
                best = max(best, sum(sum(scores[a:b]) for a, b in combo))
    return best


def test_best_spans_equals_brute_force():
    rng = random.Random(0)
    for _ in range(150):
        t = rng.randint(1, 8)
        scores = [rng.uniform(-2, 2) for _ in range(t)]
        n, ln = rng.randint(1, 3), rng.randint(1, 3)
        total, spans = highlight.best_spans(scores, n, ln)
        assert total == pytest.approx(_brute_spans(scores, n, ln), abs=1e-9)
        assert len(spans) <= n and all(0 < b - a <= ln for a, b in spans)
        assert all(x[1] <= y[0] for x, y in zip(spans, spans[1:]))
        assert sum(sum(scores[a:b]) for a, b in spans) == pytest.approx(total, abs=1e-9)


def test_render_marks_spans_in_md_and_html():
    text = "you are an idiot <b>"
    offsets = [(0, 3), (3, 7), (7, 10), (10, 16), (16, 20)]
    assert highlight.render(text, offsets, [(3, 4)]) == "you are an **idiot** <b>"
    assert "<mark>idiot</mark> &lt;b&gt;" in highlight.render(text, offsets, [(3, 4)], "html")
    assert highlight.render(text, offsets, [(1, 2), (2, 3)]) == "you **are an** idiot <b>"


def test_token_shifts_follow_the_steer():
    model, tok = load_model("tiny-llama")
    steer = _steer(model).attach(model)
    offsets, shifts = highlight.token_shifts(model, tok, steer, "i love this movie", [3.0, 0.0])
    assert len(offsets) == len(shifts) and shifts[0] == 0.0
    assert any(abs(s) > 1e-4 for s in shifts)
    _, zero = highlight.token_shifts(model, tok, steer, "i love this movie", [0.0, 0.0])
    assert all(abs(s) < 1e-6 for s in zero)


def test_linear_map_recovers_known_map():
    gen = torch.Generator().manual_seed(0)
    e2 = torch.randn(300, 8, generator=gen)
    h_true = torch.randn(6, 8, generator=gen)
    e1 = e2 @ h_true.T + 1e-4 * torch.randn(300, 6, generator=gen)
    maps = transfer.fit_maps(e1, e2)
    assert torch.allclose(maps["H"], h_true, atol=1e-3)
    assert maps["r2_source_from_target"] > 0.999


def test_transfer_to_the_same_model_is_the_identity():
    model, tok = load_model("tiny-llama")
    steer = _steer(model)
    shared = transfer.shared_tokens(tok, tok)
    assert len(shared) > 100
    e = transfer.embeddings_of(model, [s[1] for s in shared])
    maps = transfer.fit_maps(e, e)
    out = transfer.transfer_steer(steer, maps["H"], maps["G"], model, "tiny-llama")
    assert torch.allclose(out.projector1, steer.projector1, atol=1e-4)
    assert torch.allclose(out.projector2, steer.projector2, atol=1e-4)
    out.attach(model)  # the target's sha matches
    assert transfer.carry_over(0.8, 0.4, 0.6) == pytest.approx(0.5)


def test_transfer_maps_the_low_rank_factors():
    src, tok = load_model("tiny-llama")
    tgt, _ = load_model("tiny-gpt2")
    steer = _steer(src)
    shared = transfer.shared_tokens(tok, tok)
    maps = transfer.fit_maps(transfer.embeddings_of(src, [s[1] for s in shared]),
                             transfer.embeddings_of(tgt, [s[2] for s in shared]))
    out = transfer.transfer_steer(steer, maps["H"], maps["G"], tgt, "tiny-gpt2", {"n": 1})
    # the factors map so that W' = G W H
    w = probe_w.steer_matrix(steer)
    assert torch.allclose(probe_w.steer_matrix(out), maps["G"] @ w @ maps["H"], atol=1e-5)
    assert out.config.extra["transfer"]["n"] == 1
    with pytest.raises(ValueError, match="do not connect"):
        transfer.transfer_steer(steer, maps["H"][:, :5], maps["G"], tgt, "x")


def test_per_sample_sweep_equals_separate_runs():
    model, tok = load_model("tiny-llama")
    steer = _steer(model)
    values = [-4.0, 0.0, 4.0]
    rows = sweep.sweep_rows(model, tok, steer, PROMPTS, values, samples=1, seed=0,
                            batch_size=6, max_new_tokens=6, top_p=0.9, greedy=True)
    steer.attach(model)
    for v in values:
        steer.set_values([v, 0.0])
        single, _ = sample_batch(model, tok, [p["text"] for p in PROMPTS], max_new_tokens=6,
                                 greedy=True)
        assert [r["continuation"] for r in rows if r["value"] == v] == single
    steer.detach()
    assert len({r["continuation"] for r in rows}) > 2  # the values do change the text


def test_sample_grid_restores_the_head_and_checks_shapes():
    model, tok = load_model("tiny-llama")
    head = model.get_output_embeddings()
    steer = _steer(model)
    with pytest.raises(ValueError, match="values of shape"):
        sample_grid(model, tok, [steer], ["a"], [torch.zeros(2, 2)], batch_size=2, seed=0,
                    max_new_tokens=2)
    sample_grid(model, tok, [steer], ["a", "b"], [torch.ones(2, 2)], batch_size=1, seed=0,
                max_new_tokens=2)
    assert model.get_output_embeddings() is head


def test_two_steers_add_their_shifts():
    model, tok = load_model("tiny-llama")
    a, b = _steer(model, seed=1), _steer(model, seed=2)
    ids = tok(["i love this movie"], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        hid = model.base_model(input_ids=ids).last_hidden_state  # (1, T, d)
        head = model.get_output_embeddings()
        va, vb = torch.tensor([[2.0, 0.0]]), torch.tensor([[-3.0, 1.0]])
        wrap = SteerSumHead(head, [a, b])
        wrap.values = [va, vb]
        expect = head(hid + a.delta(hid, va) + b.delta(hid, vb))
        assert torch.allclose(wrap(hid), expect, atol=1e-6)
        wrap.values = [va, torch.zeros(1, 2)]
        assert torch.allclose(wrap(hid), head(a.steer_hidden(hid, va)), atol=1e-6)


def test_compose_rows_cover_the_grid():
    model, tok = load_model("tiny-llama")
    rows = compose.compose_rows(model, tok, (_steer(model, 1), _steer(model, 2)), PROMPTS,
                                ([-1.0, 1.0], [0.0, 2.0, 4.0]), samples=2, seed=0,
                                batch_size=5, max_new_tokens=3, top_p=0.9)
    assert len(rows) == 2 * 3 * 2 * 2
    assert {r["cell"] for r in rows} == {f"{a:g},{b:g}" for a in (-1, 1) for b in (0, 2, 4)}


def test_subset_cache_and_balanced_subset():
    model, tok = load_model("tiny-llama")
    texts = ["a b c", "the cat sat", "you are", "i love this movie"]
    cache = cache_hidden_states(model, tok, texts, 16, progress=False)
    sub = subset_cache(cache, [3, 1])
    ref = cache_hidden_states(model, tok, [texts[3], texts[1]], 16, progress=False)
    assert torch.equal(sub.target, ref.target) and torch.equal(sub.offsets, ref.offsets)
    assert torch.equal(sub.example, ref.example)
    assert torch.allclose(sub.hidden.float(), ref.hidden.float(), atol=1e-2)
    data = [("x", -1.0)] * 10 + [("y", 1.0)] * 10
    idx = data_size.balanced_subset(data, 6, seed=0)
    assert len(idx) == 6 and sum(data[i][1] < 0 for i in idx) == 3


def test_train_sizes_share_one_cache_and_evaluate(tmp_path):
    model, tok = load_model("tiny-llama")
    data = [("you are a stupid idiot", -1.0), ("what a lovely day", 1.0),
            ("i hate this", -1.0), ("i love this movie", 1.0)] * 3
    cfg = TrainConfig(rank=2, epsilon=1e-2, steps=3, batch_size=2, max_length=16,
                      checkpoint_every=0)
    steers = data_size.train_sizes(model, tok, data, cfg, [4, 12], [0, 1], tmp_path)
    assert sorted(steers) == [(4, 0), (4, 1), (12, 0), (12, 1)]
    assert json.loads((tmp_path / "size-4-seed-1" / "train_log.json").read_text())["examples"] == 4
    again = data_size.train_sizes(model, tok, data, cfg, [4], [0], tmp_path)  # reused
    assert torch.equal(again[4, 0].projector1, steers[4, 0].projector1)
    m = data_size.evaluate_sizes(model, tok, steers, PROMPTS, 2.0, samples=2, seed=0,
                                 batch_size=8, max_new_tokens=3, top_p=0.9, dummy=0.0,
                                 scorers=["profanity-check"], judge=None)
    assert set(m) == {"0:-1", "4:0", "4:1", "12:0", "12:1"}
    assert "max_toxicity/profanity-check" in m["4:0"]


def test_probe_finds_the_word_a_steer_is_built_on():
    model, tok = load_model("tiny-llama")
    steer = _steer(model, rank=1)
    emb = model.get_output_embeddings().weight.detach()
    ids, words = probe_w.word_like(tok)
    target = ids[words.index("movie")] if "movie" in words else ids[0]
    v = emb[target] / emb[target].norm()
    with torch.no_grad():
        steer.projector1[0, :, 0] = v
        steer.projector2[0, :, 0] = v  # W = v v^T
    res = probe_w.probe(steer, emb, tok, n_dirs=1, k=3, n_dims=2)
    word = tok.decode([int(target)]).strip()
    d = res["directions"][0]
    assert word in (d["reads_positive"][0], d["reads_negative"][0])
    assert word in (d["writes_positive"][0], d["writes_negative"][0])
    assert res["energy_top"][0] == pytest.approx(1.0, abs=1e-4)
    assert len(res["raw_dims"]) == 2


def test_holistic_points_skip_records_without_perplexity():
    def rec(method, ppl=True):
        m = {"max_toxicity/jigsaw-bilstm": {"mean": 0.3, "ci_low": 0.2, "ci_high": 0.4}}
        if ppl:
            m["perplexity"] = {"mean": 20.0, "ci_low": 18.0, "ci_high": 22.0, "scorer": "j"}
        return {"task": "detox", "method": method, "backbone": "b", "prompt_set": "p",
                "n_prompts": 4, "metrics": m, "scorers": {"jigsaw-bilstm": {}}}
    pts = holistic.points([rec("lm_steer"), rec("original"), rec("x", ppl=False)])
    assert [p["method"] for p in pts] == ["original", "lm_steer"]
    assert "| p | b | lm_steer | 4 | 0.300 |" in holistic.to_markdown(pts)


def test_holistic_marks_points_from_fewer_prompts():
    """A slow method on a subset (PPLM on 8 of 32 prompts) is flagged per prompt set and
    backbone, so the holistic plot draws it hollow with its n (Table 1's figure hatches it)."""
    def pt(method, backbone, pset, n):
        return {"method": method, "backbone": backbone, "prompt_set": pset, "n_prompts": n}
    pts = [pt("original", "a", "s", 32), pt("pplm", "a", "s", 8), pt("pplm", "b", "s", 8),
           pt("original", "a", "t", 12), pt("mucola", "a", "t", 12)]
    assert fewer_prompts(pts) == [False, True, False, False, False]


def test_holistic_cli_and_render_from_json_alone(tmp_path, caplog):
    import shutil
    from pathlib import Path

    from lmsteer.cli import main

    src = Path(__file__).resolve().parents[2] / "results" / "runs" / "detox"
    recs = sorted(src.rglob("record.json"))[:3]
    if not recs:
        pytest.skip("no committed detox records")
    for i, r in enumerate(recs):
        (tmp_path / "runs" / str(i)).mkdir(parents=True)
        shutil.copy(r, tmp_path / "runs" / str(i) / "record.json")
    out = tmp_path / "an" / "holistic"
    assert main(["analyze", "holistic", "--records", str(tmp_path / "runs"), "--out", str(out)]) == 0
    md = out.with_suffix(".md").read_text()
    out.with_suffix(".md").unlink()
    out.with_suffix(".png").unlink()
    assert main(["analyze", "render", str(out.with_suffix(".json"))]) == 0
    assert out.with_suffix(".md").read_text() == md and out.with_suffix(".png").stat().st_size > 5000
    bad = tmp_path / "bad.json"
    bad.write_text('{"analysis": "nope"}')
    assert main(["analyze", "render", str(bad)]) == 2
    assert "kinds: continuous" in caplog.text


def test_transfer_table_carry_over_and_source_rows():
    def rec(mx, mean):
        m = {}
        for sc in ("jigsaw-bilstm",):
            for k, v in (("max_toxicity", mx), ("mean_toxicity", mean), ("toxicity_prob", mx)):
                m[f"{k}/{sc}"] = {"mean": v, "ci_low": v - 0.1, "ci_high": v + 0.1}
        m["perplexity"] = {"mean": 20.0}
        return {"metrics": m}
    recs = {"original": rec(0.8, 0.2), "native": rec(0.4, 0.1), "transferred": rec(0.6, 0.15),
            "source_original": rec(0.5, 0.2), "source_steer": rec(0.25, 0.1)}
    fit = {"shared_tokens": 10, "source_vocab": 20, "target_vocab": 30,
           "r2_source_from_target": 0.5, "r2_target_from_source": 0.4}
    data = {"source_model": "a", "target_model": "b", "prompt_set": "p", "n_prompts": 2,
            "samples": 3, "strength": 2.0, **transfer.table(recs, ["jigsaw-bilstm"], fit)}
    row = data["rows"][0]
    assert row["metric"] == "max_toxicity/jigsaw-bilstm"
    assert row["carry_over"] == pytest.approx(0.5)
    md = transfer.to_markdown(data)
    assert "| max_toxicity/jigsaw-bilstm | 0.800 | 0.400 | 0.600 | 50% |" in md
    assert "| max_toxicity/jigsaw-bilstm | 0.500 | 0.250 | 50% |" in md  # the untransferred steer
