"""`make gpu-check`: what a GPU user needs to know works, in one script of a few minutes.

On the device named by LMSTEER_DEVICE (cuda for `make gpu-check`; CI runs it with cpu so that
it cannot rot): (1) the unit tests on that device, (2) per LM, steered logits three ways --
unfolded (the steer in the head), folded into the output matrix, and the same steer on the CPU
-- with their largest differences, (3) a short steer training and one generation batch with
their wall times, (4) peak GPU memory (peak host RSS on the CPU). Prints a table and writes
JSON (``--out``). Exit code 1 when a check fails (logits disagree, a step errors).

    LMSTEER_DEVICE=cuda python tools/gpu_check.py            # both embedded LMs
    LMSTEER_DEVICE=cpu python tools/gpu_check.py --models tiny-gpt2 --steps 5 --no-unit
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lmsteer.cli_args import positive_int  # noqa: E402
from lmsteer.generate import generate  # noqa: E402
from lmsteer.io import write_json  # noqa: E402
from lmsteer.methods import get_method  # noqa: E402
from lmsteer.models import default_device, load_model  # noqa: E402
from lmsteer.steer import Steer, SteerConfig  # noqa: E402
from lmsteer.train import TrainConfig, train_steer  # noqa: E402

# a stand-in labelled set (the check times a step; it does not judge the steer)
TOXIC = ["you are a stupid idiot", "shut up you worthless fool", "this is awful and bad"]
CLEAN = ["what a lovely day in the park", "i love this movie, it is great", "the cat sat down"]
PROMPTS = [{"id": i, "text": t} for i, t in enumerate(
    ["The weather today is", "My neighbour told me that", "In the news this morning",
     "She looked at him and said"])]
# float32 tolerance for the same logits computed two ways (relative to the logits' scale)
TOL = 2e-4


def peak_memory_mb(device: str) -> float:
    """Peak GPU memory allocated (CUDA) or peak host RSS (CPU), MiB."""
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def logits_three_ways(name: str, device: str) -> dict:
    """Max |difference| of steered logits: unfolded vs folded on ``device``, and vs the CPU."""
    model, tok = load_model(name, device=device, dtype="float32")
    head = model.get_output_embeddings().weight
    # a strong steer (eps 0.05), so that its shift stands far above float rounding
    cfg = SteerConfig(rank=8, hidden_size=head.shape[1], init_scale=0.05, epsilon=0.05)
    steer = Steer(cfg, seed=0).attach(model)
    ids = tok([p["text"] for p in PROMPTS], return_tensors="pt", padding=True)
    values = torch.tensor([5.0, 1.0])
    with torch.no_grad():
        steer.set_values(values)
        unfolded = model(**ids.to(device)).logits[:, -1].float().cpu()  # (B, V)
        steer.set_values(None)
        plain = model(**ids.to(device)).logits[:, -1].float().cpu()
        steer.fold(values)
        folded = model(**ids.to(device)).logits[:, -1].float().cpu()
        steer.unfold()
    steer.detach()
    cpu_model, _ = load_model(name, device="cpu", dtype="float32")
    cpu_steer = Steer(cfg, seed=0).attach(cpu_model)
    with torch.no_grad():
        cpu_steer.set_values(values)
        cpu = cpu_model(**ids.to("cpu")).logits[:, -1].float()
    scale = float(unfolded.abs().max())
    out = {"fold_vs_unfold": float((folded - unfolded).abs().max()),
           "device_vs_cpu": float((unfolded - cpu).abs().max()),
           "steer_shift": float((unfolded - plain).abs().max()), "logit_scale": scale}
    # each way agrees to float rounding, and far better than a missing steer would (a no-op
    # fold differs from the unfolded logits by the whole shift)
    bound = min(TOL * scale, 0.01 * out["steer_shift"])
    out["ok"] = out["fold_vs_unfold"] <= bound and out["device_vs_cpu"] <= bound
    return out


def train_and_generate(name: str, device: str, steps: int, batch: int) -> dict:
    """Wall time of ``steps`` steer steps and of one generation batch (25 samples x 4 prompts)."""
    model, tok = load_model(name, device=device)
    data = [(t, -1.0) for t in TOXIC * 8] + [(t, 1.0) for t in CLEAN * 8]
    cfg = TrainConfig(rank=32, steps=steps, batch_size=8, max_length=32, checkpoint_every=10**9,
                      head_dtype="auto")
    with tempfile.TemporaryDirectory() as tmp:
        sync(device)
        t0 = time.perf_counter()
        _, info = train_steer(model, tok, data, cfg, Path(tmp) / "steer", progress=False)
        sync(device)
        train_s = time.perf_counter() - t0
        method = get_method("lm_steer", dummy_value=0)
        method.load(model, tok, Path(tmp) / "steer")
        t0 = time.perf_counter()
        rows = generate(model, tok, method, PROMPTS, 2.0, samples=25, max_new_tokens=20,
                        batch_size=batch, progress=False)
        sync(device)
        gen_s = time.perf_counter() - t0
    losses = info.get("losses", [float("nan")])
    return {"train_steps": steps, "train_s": round(train_s, 2),
            "train_s_per_step": round(train_s / steps, 4), "final_loss": float(losses[-1]),
            "generate_rows": len(rows), "generate_s": round(gen_s, 2),
            "ok": len(rows) == 25 * len(PROMPTS) and bool(torch.isfinite(torch.tensor(losses)).all())}


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def unit_tests(device: str, paths: list[str]) -> dict:
    """``pytest -q`` over ``paths`` with LMSTEER_DEVICE=device in a subprocess."""
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *paths],
                       cwd=ROOT, env=dict(os.environ, LMSTEER_DEVICE=device),
                       capture_output=True, text=True)
    tail = [l for l in r.stdout.strip().splitlines() if l.strip()][-1:] or [r.stderr[-300:]]
    return {"paths": paths, "returncode": r.returncode, "summary": tail[0],
            "seconds": round(time.perf_counter() - t0, 1), "ok": r.returncode == 0}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["smollm2-135m", "gemma3-270m"])
    p.add_argument("--steps", type=positive_int, default=50, help="steer training steps")
    p.add_argument("--batch-size", type=positive_int, default=100, help="generation batch")
    p.add_argument("--unit", nargs="*", default=["tests/unit"],
                   help="unit test paths run on the device (default tests/unit)")
    p.add_argument("--no-unit", action="store_true", help="skip the unit tests")
    p.add_argument("--out", help="JSON file for the results")
    a = p.parse_args(argv)
    device = default_device()
    report: dict = {"device": device, "torch": torch.__version__,
                    "gpu": torch.cuda.get_device_name(0) if device.startswith("cuda") else None}
    if not a.no_unit:
        report["unit_tests"] = unit_tests(device, a.unit)
    report["models"] = {}
    for name in a.models:
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        entry = {"logits": logits_three_ways(name, device),
                 **train_and_generate(name, device, a.steps, a.batch_size)}
        entry["peak_mem_mb"] = round(peak_memory_mb(device), 1)
        entry["peak_mem_kind"] = "GPU allocated" if device.startswith("cuda") else "host RSS"
        entry["ok"] = entry["logits"]["ok"] and entry["ok"]
        report["models"][name] = entry
    report["ok"] = all(e["ok"] for e in report["models"].values()) and \
        report.get("unit_tests", {}).get("ok", True)
    print(render(report))
    if a.out:
        write_json(a.out, report)
    return 0 if report["ok"] else 1


def render(r: dict) -> str:
    lines = [f"gpu-check on {r['device']} ({r['gpu'] or 'no GPU'}), torch {r['torch']}"]
    if "unit_tests" in r:
        u = r["unit_tests"]
        lines.append(f"unit tests ({' '.join(u['paths'])}): {u['summary']} in {u['seconds']} s")
    lines.append("| model | fold vs unfold | device vs cpu | steer shift | train s/step | "
                 "generate 100 seq. s | peak MiB | ok |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for name, e in r["models"].items():
        lg = e["logits"]
        lines.append(f"| {name} | {lg['fold_vs_unfold']:.2e} | {lg['device_vs_cpu']:.2e} | "
                     f"{lg['steer_shift']:.2e} | {e['train_s_per_step']} | {e['generate_s']} | "
                     f"{e['peak_mem_mb']} ({e['peak_mem_kind']}) | {e['ok']} |")
    lines.append("ALL OK" if r["ok"] else "FAILED")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
