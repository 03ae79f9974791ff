"""``lmsteer sweep | select | tradeoff``: choose each method's strength on validation prompts.

``sweep`` samples a method at every strength of a grid on prompts the evaluation never draws
and scores them; ``select`` applies the one rule (lowest mean toxicity within ``ppl_budget`` x
the original's perplexity) to one LM x prompt set; ``tradeoff`` renders the table and figure
of all selections. ``generate --strength-from`` then runs Table 1 at the chosen strength.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from .cli_args import (finite_float, parse_params, positive_int, probability, safe_name,
                       scorer_options, seed_all)
from .defaults import GENERATION
from .errors import LMSteerError
from .precision import DTYPES

log = logging.getLogger("lmsteer")


def cmd_sweep(a: argparse.Namespace) -> None:
    from .evaluate import score_rows_of, score_samples
    from .io import write_json, write_jsonl
    from .methods import method_class
    from .models import load_model, model_provenance
    from .names import run_name
    from .results import now, provenance
    from .sweep import sweep_generate, sweep_points, texts_sha256, validation_prompts

    start = now()
    seed_all(a.seed)
    cls, params = method_class(a.method), parse_params(a.param)
    cls.parse_params(params)
    if cls.needs_fit() and not a.artifact:
        raise LMSteerError(f"--method {a.method} needs --artifact: the folder its training wrote")
    if len(set(a.values)) != len(a.values):
        raise LMSteerError(f"--values {a.values}: a strength is repeated")
    prompts = validation_prompts(Path(a.prompts), a.exclude_n, a.n_prompts, a.seed)
    log.info("%d validation prompts of %s (the evaluation's samples of %s prompts removed by "
             "text)", len(prompts), a.prompts, a.exclude_n)
    model, tok = load_model(a.model, offline=not a.online)
    method = cls.from_pretrained(Path(a.artifact) if a.artifact else None, model, tok, **params)
    name = a.model_name or run_name(a.model)
    rows = sweep_generate(model, tok, method, prompts, a.values, samples=a.samples,
                          max_new_tokens=a.max_new_tokens, top_p=a.top_p,
                          batch_size=a.batch_size, seed=a.seed,
                          meta={"model": name, "prompt_set": a.prompt_set})
    info = {**model_provenance(a.model, model), "method": method.describe()}
    del model
    judge = None
    if a.judge:
        jm, jt = load_model(a.judge, offline=not a.online, dtype=a.judge_dtype)
        judge = (a.judge, jm, jt)
    per_sample, described = score_samples(rows, a.scorers, judge, scorer_options(a.scorer_options))
    out = Path(a.out_dir)
    write_jsonl(out / "generations.jsonl", rows)
    write_jsonl(out / "scores.jsonl", score_rows_of(rows, per_sample))
    write_json(out / "sweep.json", {
        "model": name, "method": a.method, "prompt_set": a.prompt_set, "seed": a.seed,
        "samples": a.samples, "values": list(a.values),
        "validation": {"n_prompts": len(prompts), "ids": [p["id"] for p in prompts],
                       "sha256": texts_sha256(prompts), "excluded_eval_n": sorted(a.exclude_n),
                       "pool": Path(a.prompts).name},
        "generation": {"max_new_tokens": a.max_new_tokens, "top_p": a.top_p,
                       "batch_size": a.batch_size},
        "points": sweep_points(rows, per_sample, described, a.seed),
        "scorers": described, "model_info": info, "provenance": provenance(start)})
    log.info("swept %s over %s on %d prompts x %d samples -> %s", a.method, a.values,
             len(prompts), a.samples, out / "sweep.json")


def cmd_select(a: argparse.Namespace) -> None:
    from .io import read_json, write_json
    from .selection import select

    sel = select([read_json(p) for p in a.sweeps], a.ppl_budget, a.scorer)
    write_json(Path(a.out), sel)
    for m, c in sel["methods"].items():
        log.info("%s x %s: %s at %g (mean toxicity %.3f, ppl %.1fx the original's%s)",
                 sel["model"], sel["prompt_set"], m, c["strength"], c["toxicity"], c["ppl_ratio"],
                 "" if c["within_budget"] else "; none within the budget")


def cmd_tradeoff(a: argparse.Namespace) -> None:
    import csv
    import io

    from .io import atomic_write_text, read_json
    from .selection import tradeoff_figure, tradeoff_markdown, tradeoff_rows

    sels = [read_json(p) for p in a.selections]
    atomic_write_text(a.out_md, tradeoff_markdown(sels))
    rows = tradeoff_rows(sels)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(a.out_csv, buf.getvalue())
    tradeoff_figure(sels, Path(a.out_png))
    log.info("trade-off of %d LM x prompt set selections -> %s, %s", len(sels), a.out_md,
             a.out_png)


def cmd_docs(a: argparse.Namespace) -> None:
    from .docs import doc_files, render_files

    files = [Path(f) for f in a.files] if a.files else doc_files(Path("."))
    changed = render_files(files, Path(a.results), check=a.check)
    if a.check and changed:
        raise LMSteerError(f"numbers out of date in {', '.join(map(str, changed))}: run "
                           "`python -m lmsteer docs`")
    log.info("%s %d file(s): %s", "checked" if a.check else "rendered", len(files),
             ", ".join(map(str, changed)) or "no change")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """The selection verbs and ``docs``, on the main parser's subcommands."""
    s = sub.add_parser("docs", help="render the numbers in README.md and docs/*.md (blocks "
                       "between <!-- lmsteer:NAME --> markers) from the committed records")
    s.add_argument("files", nargs="*", help="files to render (default: README.md, docs/*.md, "
                   "config/README.md, results/README.md)")
    s.add_argument("--results", default="results", help="the results folder the numbers "
                   "come from")
    s.add_argument("--check", action="store_true",
                   help="change nothing; exit 2 naming the files whose numbers are out of date")
    s.set_defaults(func=cmd_docs)

    s = sub.add_parser("sweep", help="sample and score a method at each strength of a grid on "
                       "validation prompts (none of the evaluation's)")
    s.add_argument("--model", required=True, help="embedded name, tiny-*, local folder or hub id")
    s.add_argument("--model-name", type=safe_name, help="the model's run name in the outputs")
    s.add_argument("--method", required=True, help="method name (registry)")
    s.add_argument("--artifact", help="trained method folder")
    s.add_argument("--param", action="append", help="method parameter key=value (repeatable)")
    s.add_argument("--prompts", required=True, help="prompt pool JSONL (the evaluation's file)")
    s.add_argument("--prompt-set", required=True, help="name of the prompt set")
    s.add_argument("--exclude-n", type=positive_int, nargs="+", required=True,
                   help="the evaluation's sample sizes of this pool (same --seed): their "
                        "prompts are removed, by text, before the validation draw")
    s.add_argument("--n-prompts", type=positive_int, default=8, help="validation prompts")
    s.add_argument("--values", type=finite_float, nargs="+", required=True,
                   help="the strengths to sweep")
    s.add_argument("--samples", type=positive_int, default=5, help="samples per prompt and value")
    s.add_argument("--max-new-tokens", type=positive_int, default=GENERATION.max_new_tokens)
    s.add_argument("--top-p", type=probability, default=GENERATION.top_p)
    s.add_argument("--batch-size", type=positive_int, default=100,
                   help="sequences per forward batch")
    s.add_argument("--scorers", nargs="+", default=["jigsaw-bilstm"], help="toxicity scorers")
    s.add_argument("--scorer-options", help="YAML mapping scorer -> options")
    s.add_argument("--judge", required=True, help="judge LM for conditional perplexity")
    s.add_argument("--judge-dtype", default="float32", choices=DTYPES)
    s.add_argument("--seed", type=int, default=0,
                   help="the evaluation's seed (its samples are excluded) and the sampling seed")
    s.add_argument("--online", action="store_true", help="allow hub downloads")
    s.add_argument("--out-dir", required=True,
                   help="folder for generations.jsonl, scores.jsonl and sweep.json")
    s.set_defaults(func=cmd_sweep, locks=("out_dir",))

    s = sub.add_parser("select", help="choose each swept method's strength for one LM x prompt "
                       "set: lowest mean toxicity within the perplexity budget")
    s.add_argument("--sweeps", nargs="+", required=True,
                   help="sweep.json files of one LM x prompt set, the original's among them")
    s.add_argument("--ppl-budget", type=finite_float, default=1.5,
                   help="perplexity at most this factor of the original's (default 1.5)")
    s.add_argument("--scorer", default="jigsaw-bilstm", help="the toxicity scorer that decides")
    s.add_argument("--out", required=True, help="selection JSON (read by generate "
                   "--strength-from)")
    s.set_defaults(func=cmd_select, locks=("out",))

    s = sub.add_parser("tradeoff", help="table and figure of the selections: each method's "
                       "mean toxicity against perplexity over its strengths")
    s.add_argument("--selections", nargs="+", required=True, help="selection JSON files")
    s.add_argument("--out-md", required=True)
    s.add_argument("--out-csv", required=True)
    s.add_argument("--out-png", required=True)
    s.set_defaults(func=cmd_tradeoff, locks=("out_md", "out_csv", "out_png"))
