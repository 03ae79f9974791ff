"""Training k steers (seeds) with cached last hidden states vs. recomputing the frozen LM.

Arm "cached" is the library's path: ``train_steer`` for each seed, the first seed computing
the training set's last hidden states once (float16 safetensors under a cache folder) and
the others reading them back. Arm "recompute" trains the same steers on the same batches
(same seeds, same examples per step, same optimiser) but runs the frozen LM forward over
every batch at every step, as training without a cache does. Both arms run in one process
on the same data; peak RSS of each arm is sampled beside its wall time. Writes
results/bench/training.json.

    python bench/bench_training.py [--model smollm2-135m] [--seeds 5] [--steps 40]
"""
from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import torch

from _timing import PeakRSS, write_result
from lmsteer.data import detox_training_set
from lmsteer.models import load_model
from lmsteer.precision import resolve_dtype
from lmsteer.steer import Steer, SteerConfig, output_matrix_sha256
from lmsteer.train import TrainConfig, batch_examples, cache_hidden_states, steer_loss, train_steer


def recompute_train(model, tok, data, cfg: TrainConfig) -> list[float]:
    """``train_steer``'s loop with the frozen forward redone for every batch (no cache)."""
    torch.manual_seed(cfg.seed)
    d = model.get_output_embeddings().weight.shape[1]
    steer = Steer(SteerConfig(num_steers=cfg.num_steers, rank=cfg.rank, epsilon=cfg.epsilon,
                              init_scale=cfg.init_scale, hidden_size=d,
                              base_sha256=output_matrix_sha256(model)),
                  seed=cfg.seed).attach(model)
    opt = torch.optim.Adam([steer.projector1, steer.projector2], lr=cfg.lr)
    head_w = steer.base_head.weight.detach().to(getattr(torch, cfg.head_dtype))  # (V, d)
    losses = []
    for step in range(cfg.steps):
        exs = batch_examples(len(data), cfg.batch_size, cfg.seed, step).tolist()
        batch = cache_hidden_states(model, tok, [data[e][0] for e in exs], cfg.max_length,
                                    len(exs), progress=False)  # the forward a cache saves
        labels = torch.tensor([data[e][1] for e in exs])[batch.example]  # (N,)
        values = torch.stack([labels, torch.full_like(labels, cfg.dummy_value)], dim=1)
        loss = steer_loss(model, steer, batch.hidden.float(), values, batch.target, head_w)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    steer.detach()
    return losses


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--data-root", default="resources/data")
    ap.add_argument("--per-class", type=int, default=80, help="training texts per class")
    ap.add_argument("--seeds", type=int, default=5, help="steers trained per arm (k)")
    ap.add_argument("--steps", type=int, default=40, help="steps per steer")
    ap.add_argument("--tail", type=int, default=10, help="final loss = mean of the last N steps")
    ap.add_argument("--out", default="results/bench/training.json")
    a = ap.parse_args()
    torch.set_num_threads(2)
    model, tok = load_model(a.model)
    data = detox_training_set(Path(a.data_root), ["davidson", "olid"], a.per_class, seed=0)
    base = dict(rank=256, epsilon=1e-3, lr=1e-2, steps=a.steps, batch_size=32, max_length=48,
                init_scale=1e-2, head_dtype=resolve_dtype("auto"), checkpoint_every=0,
                base_model=a.model)  # as config.yaml: bfloat16 only where native
    final = {"cached": [], "recompute": []}
    with tempfile.TemporaryDirectory() as tmp:
        cache_dir = Path(tmp) / "cache"
        t0 = time.perf_counter()
        with PeakRSS() as rss_cached:
            for seed in range(a.seeds):
                cfg = TrainConfig(**base, seed=seed, cache_dir=str(cache_dir))
                steer, info = train_steer(model, tok, data, cfg, Path(tmp) / f"s{seed}",
                                          progress=False)
                steer.detach()
                final["cached"].append(sum(info["losses"][-a.tail:]) / a.tail)
                if seed == 0:
                    t_build = info["cache_seconds"]
        t_cached = time.perf_counter() - t0
        cache_bytes = sum(f.stat().st_size for f in cache_dir.iterdir())
        rows = info["token_rows"]
    t0 = time.perf_counter()
    with PeakRSS() as rss_recompute:
        for seed in range(a.seeds):
            cfg = TrainConfig(**base, seed=seed)
            losses = recompute_train(model, tok, data, cfg)
            final["recompute"].append(sum(losses[-a.tail:]) / a.tail)
    t_recompute = time.perf_counter() - t0
    diffs = [abs(x - y) for x, y in zip(final["cached"], final["recompute"])]
    spread = max(final["cached"]) - min(final["cached"])
    write_result({
        "model": a.model, "examples": len(data), "token_rows": rows, "seeds": a.seeds,
        "steps_per_seed": a.steps, "batch_size": 32, "rank": 256, "torch_threads": 2,
        "cache_build_s": t_build, "cached_total_s": round(t_cached, 1),
        "recompute_total_s": round(t_recompute, 1),
        "recompute_over_cached": round(t_recompute / t_cached, 2),
        # per step: the bound on the ratio for many steps per cached example is recompute/cached
        "cached_step_s": round((t_cached - t_build) / (a.seeds * a.steps), 3),
        "recompute_step_s": round(t_recompute / (a.seeds * a.steps), 3),
        "cache_dtype": "float16",
        "cache_mb_per_1k_examples": round(cache_bytes / len(data) * 1000 / 2**20, 2),
        "final_loss_cached": [round(x, 4) for x in final["cached"]],
        "final_loss_recompute": [round(x, 4) for x in final["recompute"]],
        "max_final_loss_diff": round(max(diffs), 4),
        "final_loss_spread_over_seeds": round(spread, 4),
        "final_losses_agree": all(math.isfinite(x) for x in diffs) and max(diffs) <= spread,
        "peak_rss_mb": {"cached": rss_cached.peak_mb, "recompute": rss_recompute.peak_mb},
    }, a.out)


if __name__ == "__main__":
    main()
