"""``python -m lmsteer <verb>``: the command line the Snakemake rules are thin shells over."""
from __future__ import annotations

import argparse
import json
import logging
from dataclasses import fields
from pathlib import Path
from typing import Sequence

import yaml

from .cli_args import (finite_float, output_paths, parse_params, positive_int, probability,
                       safe_name, scorer_options, seed_all)
from .defaults import GENERATION, TRAINING_DATA
from .errors import LMSteerError
from .io import exclusive_outputs
from .precision import DTYPES

log = logging.getLogger("lmsteer")


def cmd_prepare_data(a: argparse.Namespace) -> None:
    from .data import prepare

    for name in a.dataset:
        out = prepare(name, Path(a.out), Path(a.mirror) if a.mirror else None, a.allow_download)
        log.info("%s ready in %s (sha256 checked)", name, out)


def cmd_convert_model(a: argparse.Namespace) -> None:
    from .models import convert_embedded

    for name in a.model:
        log.info("%s -> %s", name, convert_embedded(name, Path(a.cache) if a.cache else None))


def cmd_train(a: argparse.Namespace) -> None:
    from .data import detox_training_set, sentiment_training_set
    from .methods import method_class
    from .models import load_model

    seed_all(a.seed)
    cls = method_class(a.method)
    context = {k: v for k, v in (("base_model", a.model), ("cache_dir", a.cache_dir))
               if k in {f.name for f in fields(cls.Params)}}  # for methods that take them
    method = cls(**context, **parse_params(a.param))
    if a.task == "sentiment":
        a.sources = ["sst5"]
        data = sentiment_training_set(Path(a.data_root), a.per_class, a.seed)
    else:
        data = detox_training_set(Path(a.data_root), a.sources, a.per_class, a.seed)
    log.info("training %s on %s for %s: %d examples from %s", a.method, a.model, a.task,
             len(data), a.sources)
    model, tok = load_model(a.model, offline=not a.online)
    info = method.fit(model, tok, data, Path(a.out), a.seed)
    method.save_pretrained(Path(a.out), model=a.model, task=a.task, sources=a.sources)
    log.info("trained: final loss %s", info.get("losses", [None])[-1] if info else None)


def cmd_generate(a: argparse.Namespace) -> None:
    from .data import load_prompts
    from .generate import generate
    from .io import write_json, write_jsonl
    from .methods import method_class
    from .models import load_model, model_provenance
    from .names import run_name

    seed_all(a.seed)
    cls, params = method_class(a.method), parse_params(a.param)
    cls.parse_params(params)  # a bad parameter stops here, before the model loads
    if cls.needs_fit() and not a.artifact:
        raise LMSteerError(f"--method {a.method} needs --artifact: the folder its training wrote "
                           f"(`lmsteer train --method {a.method} --out DIR`)")
    strength = a.strength
    if a.strength_from:  # chosen on validation prompts (lmsteer select)
        from .selection import strength_from_file

        strength = strength_from_file(a.strength_from, a.model_name or run_name(a.model),
                                      a.prompt_set, a.method)
    prompts = load_prompts(Path(a.prompts), a.n_prompts, a.seed)
    offset = 0
    if a.shard is not None:
        from .shards import shard_of

        if not a.prompts_per_shard:
            raise LMSteerError("--shard needs --prompts-per-shard")
        prompts, offset = shard_of(prompts, a.shard, a.prompts_per_shard)
        log.info("shard %d: prompts %d..%d of the sample", a.shard, offset,
                 offset + len(prompts) - 1)
    model, tok = load_model(a.model, offline=not a.online)
    method = cls.from_pretrained(Path(a.artifact) if a.artifact else None, model, tok, **params)
    rows = generate(model, tok, method, prompts, strength, samples=a.samples,
                    max_new_tokens=a.max_new_tokens, top_p=a.top_p, batch_size=a.batch_size,
                    seed=a.seed, meta={"model": a.model_name or run_name(a.model),
                                      "prompt_set": a.prompt_set},
                    start_offset=offset)
    write_jsonl(Path(a.out), rows)
    if a.info_out:
        info = model_provenance(a.model, model)
        info["method"] = method.describe()
        write_json(Path(a.info_out), info)
    log.info("wrote %d continuations of %d prompts to %s", len(rows), len(prompts), a.out)


def cmd_score(a: argparse.Namespace) -> None:
    from .evaluate import evaluate, load_generations, score_rows_of, score_samples
    from .io import write_json, write_jsonl
    from .models import load_model
    from .results import now
    from .shards import SCORERS_FILE

    start = now()
    rows = load_generations([Path(g) for g in a.generations])
    options = scorer_options(a.scorer_options)
    judge = None
    if a.judge:
        jm, jt = load_model(a.judge, offline=not a.online, dtype=a.judge_dtype)
        judge = (a.judge, jm, jt)
    out = Path(a.out_dir)
    if a.scores_only:  # one shard of a sharded run: `aggregate` computes the metrics
        per_sample, described = score_samples(rows, a.scorers, judge, options)
        write_jsonl(out / "scores.jsonl", score_rows_of(rows, per_sample))
        write_json(out / SCORERS_FILE, described)
        log.info("scored %d samples (shard) -> %s", len(rows), out)
        return
    metrics, score_rows, described = evaluate(rows, a.scorers, judge, a.seed, options)
    write_jsonl(out / "scores.jsonl", score_rows)
    model_info = {"name": rows[0]["model"]}
    if a.model_info and Path(a.model_info).is_file():
        model_info = json.loads(Path(a.model_info).read_text())
    _write_run_record(a, rows, metrics, described, model_info, start)


def cmd_aggregate(a: argparse.Namespace) -> None:
    from .results import now
    from .shards import aggregate

    start = now()
    rows, metrics, described, info = aggregate([Path(d) for d in a.shards], Path(a.out_dir),
                                               a.seed)
    _write_run_record(a, rows, metrics, described, info, start, shards=len(a.shards))


def _write_run_record(a: argparse.Namespace, rows: list[dict], metrics: dict, described: dict,
                      model_info: dict, start: str, shards: int | None = None) -> None:
    from .evaluate import prompt_count
    from .results import provenance, write_record

    out = Path(a.out_dir)
    n_prompts, samples = prompt_count(rows)
    record = {
        "schema_version": 1, "task": a.task, "method": rows[0]["method"],
        "backbone": rows[0]["model"], "seed": int(rows[0]["seed"]),
        "prompt_set": a.prompt_set or "+".join(dict.fromkeys(r.get("prompt_set", "")
                                                             for r in rows)),
        "n_prompts": n_prompts,
        "samples_per_prompt": samples, "strength": rows[0]["strength"], "metrics": metrics,
        "model": model_info, "scorers": described,
        "config": yaml.safe_load(a.run_config) if a.run_config else {},
        "provenance": provenance(start),
    }
    if shards:
        record["shards"] = shards
    write_record(out / "record.json", record)
    log.info("%d samples of %d prompts -> %s", len(rows), n_prompts, out / "record.json")


def cmd_table(a: argparse.Namespace) -> None:
    from . import plots, tables
    from .results import read_records

    recs = [r for r in read_records([Path(p) for p in a.records]) if r["task"] == a.task]
    if not recs:
        raise LMSteerError(f"no {a.task} records under {', '.join(a.records)}")
    if a.task == "sentiment":
        df = tables.sentiment_table(recs)
        md = tables.sentiment_markdown(df, a.title)
        figure = plots.sentiment_figure
    else:
        df = tables.detox_table(recs)
        md = tables.to_markdown(df, a.title)
        figure = plots.detox_figure
    tables.write_table(df, Path(a.out_md), Path(a.out_csv), title=a.title, markdown=md)
    if a.figure:
        figure(recs, Path(a.figure))
    log.info("table of %d records -> %s", len(recs), a.out_md)


def cmd_leaderboard(a: argparse.Namespace) -> None:
    from .io import atomic_write_text
    from .leaderboard import leaderboard, render_csv, render_markdown
    from .leaderboard_html import render_html

    boards = leaderboard([Path(p) for p in a.records], [Path(p) for p in a.bench or []])
    out = Path(a.out_dir)
    for ext, text in (("md", render_markdown(boards)), ("csv", render_csv(boards)),
                      ("html", render_html(boards))):
        atomic_write_text(out / f"{a.name}.{ext}", text)
    log.info("%d boards (%s) -> %s/%s.{md,csv,html}", len(boards),
             ", ".join(b.name for b in boards), out, a.name)


def cmd_human_eval(a: argparse.Namespace) -> None:
    from . import human_eval as he
    from .io import atomic_write_text

    if a.action == "export":
        key = he.export(Path(a.x), Path(a.y), Path(a.sheet), Path(a.key), a.items, a.seed,
                        a.force)
        log.info("%d items, %s vs. %s -> %s (key: %s)", len(key["items"]), key["x"], key["y"],
                 a.sheet, a.key)
    else:
        res = he.aggregate([Path(p) for p in a.sheets], Path(a.key))
        atomic_write_text(Path(a.out_md), he.to_markdown(res))
        if a.out_csv:
            atomic_write_text(Path(a.out_csv), he.to_csv(res))
        log.info("%d sheets -> %s", len(a.sheets), a.out_md)


def cmd_validate_config(a: argparse.Namespace) -> None:
    from .config import check_methods, load_config

    check_methods(load_config(Path(a.config), Path(a.schema)))
    log.info("%s is valid", a.config)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lmsteer", description=(
        "LM-Steer benchmark pipeline: steer a frozen LM through its output embeddings, "
        "generate, score and tabulate. Each verb has its own --help."))
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="verb", required=True, metavar="VERB")

    s = sub.add_parser("prepare-data", help="copy (mirror) or download data sets; check sha256")
    s.add_argument("--dataset", nargs="+", required=True, help="data set names (see data.py)")
    s.add_argument("--out", default="resources/data", help="output root")
    s.add_argument("--mirror", help="mirror folder holding the data sets (e.g. ../shared/data)")
    s.add_argument("--allow-download", action="store_true", help="download from upstream URLs")
    s.set_defaults(func=cmd_prepare_data)

    s = sub.add_parser("convert-model", help="convert embedded GGUF models to safetensors once")
    s.add_argument("--model", nargs="+", required=True, help="embedded model names")
    s.add_argument("--cache", help="model cache folder (default resources/models)")
    s.set_defaults(func=cmd_convert_model)

    def common(s: argparse.ArgumentParser) -> None:
        s.add_argument("--model", required=True, help="embedded name, tiny-*, local folder or hub id")
        s.add_argument("--seed", type=int, default=0, help="seed for every random source")
        s.add_argument("--online", action="store_true", help="allow hub downloads")

    s = sub.add_parser("train", help="train a method (e.g. lm_steer) on attribute-labelled text")
    common(s)
    s.add_argument("--method", default="lm_steer", help="method name (registry)")
    s.add_argument("--task", default="detox", choices=["detox", "sentiment"],
                   help="detox: toxic text -1 / clean +1 from --sources; sentiment: SST-5 "
                        "labels 1..5 -> -1, -0.5, 0, 0.5, 1")
    s.add_argument("--data-root", default="resources/data", help="prepared data root")
    s.add_argument("--sources", nargs="+", default=list(TRAINING_DATA.sources),
                   help="detox data sets")
    s.add_argument("--per-class", type=positive_int, default=TRAINING_DATA.per_class,
                   help="examples per class (toxic/clean; or per SST-5 label)")
    s.add_argument("--param", action="append", help="method parameter key=value (repeatable)")
    s.add_argument("--cache-dir", default="resources/cache",
                   help="where the frozen LM's hidden states of the training texts are cached")
    s.add_argument("--out", required=True, help="output folder (steer + train_log.json)")
    s.set_defaults(func=cmd_train, locks=("out",))

    s = sub.add_parser("generate", help="sample continuations of prompts under a method")
    common(s)
    s.add_argument("--method", default="original", help="method name (registry)")
    s.add_argument("--artifact", help="trained method folder (e.g. the steer)")
    s.add_argument("--param", action="append", help="method parameter key=value (repeatable)")
    s.add_argument("--prompts", required=True, help="prompt JSONL (prompt.text)")
    s.add_argument("--prompt-set", default="", help="name of the prompt set, for records")
    s.add_argument("--n-prompts", type=positive_int, help="seeded sample of this many prompts")
    s.add_argument("--strength", type=finite_float, default=0.0,
                   help="control strength (steer value)")
    s.add_argument("--strength-from", metavar="SELECTION_JSON",
                   help="take the strength `lmsteer select` chose for this model, prompt set "
                        "and method (replaces --strength)")
    s.add_argument("--samples", type=positive_int, default=GENERATION.samples,
                   help="samples per prompt")
    s.add_argument("--max-new-tokens", type=positive_int, default=GENERATION.max_new_tokens,
                   help="new tokens per sample")
    s.add_argument("--top-p", type=probability, default=GENERATION.top_p,
                   help="nucleus sampling mass, (0, 1]")
    s.add_argument("--batch-size", type=positive_int, default=100,
                   help="sequences per forward batch")
    s.add_argument("--shard", type=int, help="generate only this shard (0-based) of the sample")
    s.add_argument("--prompts-per-shard", type=positive_int,
                   help="shard size (prompts), with --shard")
    s.add_argument("--model-name", type=safe_name,
                   help="name of the model in the outputs (default: --model, a folder's name, "
                        "or a hub id's name part)")
    s.add_argument("--out", required=True, help="generations JSONL")
    s.add_argument("--info-out", help="JSON file for the model's and method's provenance")
    s.set_defaults(func=cmd_generate, locks=("out", "info_out"))

    s = sub.add_parser("score", help="score generations; write scores.jsonl and record.json")
    s.add_argument("--generations", nargs="+", required=True,
                   help="generations JSONL file(s) of one model x method x strength; several "
                        "files (e.g. one per prompt set) make one record")
    s.add_argument("--scorers", nargs="+", default=["jigsaw-bilstm", "profanity-check"],
                   help="scorer names (registry): toxicity or sentiment scorers")
    s.add_argument("--scorer-options", help="YAML mapping scorer -> options")
    s.add_argument("--judge", help="judge LM for conditional perplexity (empty: skip)")
    s.add_argument("--judge-dtype", default="float32", choices=DTYPES,
                   help="precision of the judge LM; auto: bfloat16 where the device computes it "
                        "natively (CUDA, AVX-512 BF16, AMX), else float32 (docs/performance.md)")
    s.add_argument("--task", default="detox", help="task name for the record")
    s.add_argument("--prompt-set", default="",
                   help="prompt set name for the record (default: those of the generations)")
    s.add_argument("--model-info", help="JSON with the generator's provenance")
    s.add_argument("--run-config", help="YAML of the resolved run config, stored in the record")
    s.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    s.add_argument("--online", action="store_true", help="allow hub downloads")
    s.add_argument("--scores-only", action="store_true",
                   help="one shard: write scores.jsonl and scorers.json, no record (see aggregate)")
    s.add_argument("--out-dir", required=True, help="folder for scores.jsonl and record.json")
    s.set_defaults(func=cmd_score, locks=("out_dir",))

    s = sub.add_parser("aggregate", help="merge the shards of a sharded run (each scored with "
                       "score --scores-only) into one run folder and its record.json")
    s.add_argument("--shards", nargs="+", required=True,
                   help="shard folders (generations.jsonl, scores.jsonl, scorers.json, model.json)")
    s.add_argument("--task", default="detox", help="task name for the record")
    s.add_argument("--prompt-set", default="", help="prompt set name for the record")
    s.add_argument("--run-config", help="YAML of the resolved run config, stored in the record")
    s.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    s.add_argument("--out-dir", required=True,
                   help="run folder: merged generations.jsonl, scores.jsonl, model.json, record.json")
    s.set_defaults(func=cmd_aggregate, locks=("out_dir",))

    s = sub.add_parser("table", help="render a results table (+figure) from result records")
    s.add_argument("--records", nargs="+", required=True,
                   help="folders of record.json files (searched recursively) or record files")
    s.add_argument("--task", default="detox", choices=["detox", "sentiment"])
    s.add_argument("--title", default="Table 1: detoxification")
    s.add_argument("--out-md", required=True)
    s.add_argument("--out-csv", required=True)
    s.add_argument("--figure", help="PNG path for the figure")
    s.set_defaults(func=cmd_table, locks=("out_md", "out_csv", "figure"))

    s = sub.add_parser("leaderboard", help="one board per task from folders of result records "
                       "(md, csv, sortable html; the paper's numbers beside)")
    s.add_argument("--records", nargs="+", required=True,
                   help="folders searched recursively for record.json (merge several clusters)")
    s.add_argument("--out-dir", default="results", help="folder for <name>.{md,csv,html}")
    s.add_argument("--name", default="leaderboard", help="file name stem")
    s.add_argument("--bench", nargs="+", help="bench_generation / bench_methods JSON files: "
                   "generation-time ratios for the efficiency board (missing files are skipped;"
                   " default: none, parameters only)")
    s.set_defaults(func=cmd_leaderboard, locks=("out_dir",))

    s = sub.add_parser("human-eval", help="blinded pairwise A/B sheets and their aggregation")
    hv = s.add_subparsers(dest="action", required=True, metavar="ACTION")
    e = hv.add_parser("export", help="write a blinded A/B sheet (CSV) and its key (JSON)")
    e.add_argument("--x", required=True, help="generations JSONL of system X (e.g. LM-Steer)")
    e.add_argument("--y", required=True, help="generations JSONL of system Y (the opponent)")
    e.add_argument("--sheet", required=True, help="sheet CSV to hand to annotators")
    e.add_argument("--key", required=True, help="key JSON (keep it from the annotators)")
    e.add_argument("--items", type=int, default=50, help="prompts (one pair each)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--force", action="store_true", help="overwrite an existing sheet/key")
    e.set_defaults(func=cmd_human_eval)
    g = hv.add_parser("aggregate", help="win/tie/lose table from filled sheets and the key")
    g.add_argument("--sheets", nargs="+", required=True, help="filled sheet CSVs")
    g.add_argument("--key", required=True, help="the key JSON written by export")
    g.add_argument("--out-md", required=True)
    g.add_argument("--out-csv")
    g.set_defaults(func=cmd_human_eval)

    from .analysis.parser import add_analyze

    add_analyze(sub)

    from .original import add_import_original

    add_import_original(sub)

    from .cli_select import add_parsers

    add_parsers(sub)

    s = sub.add_parser("validate-config", help="check a config against the schema")
    s.add_argument("--config", required=True)
    s.add_argument("--schema", default="workflow/schemas/config.schema.yaml")
    s.set_defaults(func=cmd_validate_config)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("transformers", "httpx", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        with exclusive_outputs(output_paths(args)):
            args.func(args)
    except LMSteerError as e:
        log.error("%s", str(e).splitlines()[0] if str(e) else type(e).__name__)
        return 2
    return 0
