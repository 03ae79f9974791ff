"""``python -m lmsteer analyze <analysis>``: the paper's analyses, one action each. Every
action writes ``OUT.json`` (numbers + provenance) and ``OUT.md`` (+ ``OUT.png`` / ``OUT.html``)."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from ..errors import LMSteerError

log = logging.getLogger("lmsteer")


def _load(a: argparse.Namespace, name: str | None = None) -> tuple[Any, Any]:
    from ..models import load_model

    return load_model(name or a.model, offline=not a.online)


def _judge(a: argparse.Namespace) -> tuple[str, Any, Any] | None:
    from ..models import load_model

    if not a.judge:
        return None
    m, t = load_model(a.judge, offline=not a.online, dtype=a.judge_dtype)
    return a.judge, m, t


def _prompts(a: argparse.Namespace) -> list[dict]:
    from ..data import load_prompts

    return [{**p, "set": a.prompt_set} for p in load_prompts(Path(a.prompts), a.n_prompts, a.seed)]


def _steer(folder: str) -> Any:
    from ..steer import Steer

    return Steer.load(Path(folder))


def _gen_kw(a: argparse.Namespace) -> dict[str, Any]:
    return {"samples": a.samples, "seed": a.seed, "batch_size": a.batch_size,
            "max_new_tokens": a.max_new_tokens, "top_p": a.top_p}


def _settings(a: argparse.Namespace, prompts: list[dict]) -> dict[str, Any]:
    return {"model": a.model, "prompt_set": a.prompt_set, "n_prompts": len(prompts),
            "samples": a.samples, "max_new_tokens": a.max_new_tokens, "top_p": a.top_p,
            "seed": a.seed, "scorers": a.scorers, "judge": a.judge or None,
            "dummy_value": a.dummy_value}


def cmd_sweep(a: argparse.Namespace) -> None:
    from . import sweep
    from .common import header, write_outputs
    from ..results import now

    start, prompts = now(), _prompts(a)
    model, tok = _load(a)
    steer = _steer(a.steer)
    values = a.values
    rows = sweep.sweep_rows(model, tok, steer, prompts, values, dummy=a.dummy_value,
                            **_gen_kw(a))
    summary = sweep.summarise(rows, a.scorers, _judge(a), a.seed, prompts[0]["id"])
    data = header("continuous", start, **_settings(a, prompts), steer=a.steer, values=values,
                  epsilon=steer.config.epsilon, **summary)
    out = Path(a.out)
    write_outputs(out, data, sweep.to_markdown(data))
    sweep.figure(data, out.with_suffix(".png"))
    log.info("continuous steering over %d values -> %s.{json,md,png}", len(values), out)


def cmd_compose(a: argparse.Namespace) -> None:
    from . import compose
    from .common import header, write_outputs
    from ..results import now

    start, prompts = now(), _prompts(a)
    model, tok = _load(a)
    steers = (_steer(a.steer), _steer(a.steer2))
    grid = (a.values, a.values2)
    rows = compose.compose_rows(model, tok, steers, prompts, grid, dummy=a.dummy_value,
                                **_gen_kw(a))
    data = header("compositional", start, **_settings(a, prompts), steer1=a.steer,
                  steer2=a.steer2, name1=a.name1, name2=a.name2, values1=grid[0],
                  values2=grid[1], heatmaps=a.heatmaps, **compose.summarise(rows, a.scorers, a.seed))
    missing = [k for k in a.heatmaps if k not in next(iter(data["metrics"].values()))]
    if missing:
        raise LMSteerError(f"no metric {missing} (scorers: {a.scorers})")
    out = Path(a.out)
    write_outputs(out, data, compose.to_markdown(data))
    compose.figure(data, out.with_suffix(".png"))
    log.info("compositional grid %dx%d -> %s.{json,md,png}", len(grid[0]), len(grid[1]), out)


def cmd_transfer_fit(a: argparse.Namespace) -> None:
    from . import transfer
    from ..io import write_json

    src, src_tok = _load(a, a.model)
    tgt, tgt_tok = _load(a, a.target)
    steer = _steer(a.steer)
    steer.check_fits(src)
    shared = transfer.shared_tokens(src_tok, tgt_tok)
    if len(shared) < 2 * max(src.get_output_embeddings().weight.shape[1],
                             tgt.get_output_embeddings().weight.shape[1]):
        raise LMSteerError(f"only {len(shared)} shared tokens: too few to fit the maps")
    maps = transfer.fit_maps(transfer.embeddings_of(src, [s[1] for s in shared]),
                             transfer.embeddings_of(tgt, [s[2] for s in shared]))
    fit = {"shared_tokens": len(shared), "source_vocab": len(src_tok),
           "target_vocab": len(tgt_tok), "examples": [s[0] for s in shared[1000:1010]],
           "r2_source_from_target": maps["r2_source_from_target"],
           "r2_target_from_source": maps["r2_target_from_source"]}
    out = Path(a.out)
    new = transfer.transfer_steer(steer, maps["H"], maps["G"], tgt, a.target, fit)
    new.save(out)
    write_json(out / "transfer.json", {"source_model": a.model, "target_model": a.target,
                                       "source_steer": a.steer, **fit})
    log.info("%d shared tokens, R2 %.3f / %.3f; transferred steer -> %s", len(shared),
             fit["r2_source_from_target"], fit["r2_target_from_source"], out)


def cmd_transfer_table(a: argparse.Namespace) -> None:
    import json

    from . import transfer
    from .common import header, write_outputs
    from ..results import now

    start = now()
    roles = [("original", a.original), ("native", a.native), ("transferred", a.transferred),
             ("source_original", a.source_original), ("source_steer", a.source_steer)]
    recs = {role: json.loads(Path(p).read_text()) for role, p in roles if p}
    fit = json.loads((Path(a.transfer_dir) / "transfer.json").read_text())
    scorers = [s for s in recs["transferred"]["scorers"] if s != "perplexity"]
    t = recs["transferred"]
    data = header("transfer", start, source_model=fit["source_model"],
                  target_model=fit["target_model"], prompt_set=t["prompt_set"],
                  n_prompts=t["n_prompts"], samples=t["samples_per_prompt"],
                  strength=t["strength"], records={role: p for role, p in roles if p},
                  **transfer.table(recs, scorers, fit))
    out = Path(a.out)
    write_outputs(out, data, transfer.to_markdown(data))
    transfer.figure(data, out.with_suffix(".png"))
    log.info("transfer table -> %s.{json,md,png}", out)


def cmd_data_size(a: argparse.Namespace) -> None:
    from . import data_size
    from .common import header, write_outputs
    from ..cli_args import parse_params as _params
    from ..data import detox_training_set
    from ..results import now
    from ..train import TrainConfig

    start, prompts = now(), _prompts(a)
    model, tok = _load(a)
    data = detox_training_set(Path(a.data_root), a.sources, a.per_class, a.seed)
    sizes = sorted({min(s, len(data)) for s in a.sizes})
    cfg = TrainConfig.from_params({**_params(a.param), "cache_dir": a.cache_dir,
                                   "base_model": a.model}, seed=a.seed)
    seeds = a.seeds
    out = Path(a.out)
    steers = data_size.train_sizes(model, tok, data, cfg, sizes, seeds,
                                   out.parent / f"{out.name}-steers")
    metrics = data_size.evaluate_sizes(model, tok, steers, prompts, a.strength,
                                       dummy=a.dummy_value, scorers=a.scorers, judge=_judge(a),
                                       **_gen_kw(a))
    res = header("data_efficiency", start, **_settings(a, prompts), sizes=sizes, seeds=seeds,
                 steps=cfg.steps, strength=a.strength, sources=a.sources,
                 train_params=_params(a.param), metrics=metrics)
    write_outputs(out, res, data_size.to_markdown(res))
    data_size.figure(res, out.with_suffix(".png"))
    log.info("data efficiency over sizes %s -> %s.{json,md,png}", sizes, out)


def cmd_highlight(a: argparse.Namespace) -> None:
    from . import highlight
    from .common import header, write_outputs
    from ..data import detox_heldout
    from ..io import atomic_write_text
    from ..results import now
    from ..steer import Steer

    start = now()
    model, tok = _load(a)
    steer = Steer.load(Path(a.steer), model)
    values = [a.value] + [a.dummy_value] * (steer.config.num_steers - 1)
    examples = []
    for text in detox_heldout(Path(a.data_root), a.sources, a.per_class, a.seed, a.n_examples):
        offsets, shifts = highlight.token_shifts(model, tok, steer, text, values)
        total, spans = highlight.best_spans(shifts, a.n_spans, a.max_len)
        examples.append({"text": text, "spans": spans, "total": total,
                         "shifts": [round(x, 4) for x in shifts],
                         "markdown": highlight.render(text, offsets, spans, "md"),
                         "html": highlight.render(text, offsets, spans, "html")})
    data = header("highlighting", start, model=a.model, steer=a.steer, value=a.value,
                  n_spans=a.n_spans, max_len=a.max_len, sources=a.sources, seed=a.seed,
                  examples=examples)
    out = Path(a.out)
    write_outputs(out, data, highlight.to_markdown(data))
    atomic_write_text(out.with_suffix(".html"), highlight.to_html(data))
    log.info("%d highlighted examples -> %s.{json,md,html}", len(examples), out)


def cmd_probe(a: argparse.Namespace) -> None:
    from . import probe_w
    from .common import header, write_outputs
    from ..results import now

    start = now()
    model, tok = _load(a)
    steer = _steer(a.steer)
    steer.check_fits(model)
    emb = model.get_output_embeddings().weight.detach()
    res = probe_w.probe(steer, emb, tok, n_dirs=a.directions, k=a.words, dims=a.dims)
    data = header("probing", start, model=a.model, steer=a.steer, rank=steer.config.rank, **res)
    write_outputs(Path(a.out), data, probe_w.to_markdown(data))
    log.info("probed %d directions -> %s.{json,md}", a.directions, a.out)


def cmd_holistic(a: argparse.Namespace) -> None:
    from . import holistic
    from .common import header, write_outputs
    from ..results import now, read_records

    start = now()
    pts = holistic.points(read_records([Path(p) for p in a.records]), a.scorer)
    if not pts:
        raise LMSteerError(f"no detox records with perplexity under {', '.join(a.records)}")
    out = Path(a.out)
    write_outputs(out, header("holistic", start, points=pts), holistic.to_markdown(pts))
    holistic.figure(pts, out.with_suffix(".png"))
    log.info("%d points -> %s.{json,md,png}", len(pts), out)


def cmd_render(a: argparse.Namespace) -> None:
    """Redraw an analysis' markdown and figure from its JSON alone (no model needed)."""
    import json

    from . import compose, data_size, highlight, holistic, probe_w, sweep, transfer
    from ..io import atomic_write_text

    mods = {"continuous": sweep, "compositional": compose, "transfer": transfer,
            "data_efficiency": data_size, "highlighting": highlight, "probing": probe_w,
            "holistic": holistic}
    for path in map(Path, a.json):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            mod = mods[data["analysis"]]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise LMSteerError(f"{path}: not an analysis JSON written by `lmsteer analyze` "
                               f"({e}); kinds: {', '.join(mods)}") from e
        arg = data["points"] if mod is holistic else data
        atomic_write_text(path.with_suffix(".md"), mod.to_markdown(arg))
        if hasattr(mod, "figure"):
            mod.figure(arg, path.with_suffix(".png"))
        if hasattr(mod, "to_html"):
            atomic_write_text(path.with_suffix(".html"), mod.to_html(data))
        log.info("redrew %s", path.with_suffix(".md"))
