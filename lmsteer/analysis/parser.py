"""Argument parser of ``python -m lmsteer analyze``."""
from __future__ import annotations

import argparse

from ..cli_args import finite_float, positive_int, probability
from ..defaults import GENERATION, TRAINING_DATA
from ..precision import DTYPES
from . import cli as C


def add_analyze(sub: argparse._SubParsersAction) -> None:
    """Register ``analyze`` and its actions on the top-level verb parser."""
    s = sub.add_parser("analyze", help="the paper's analyses (continuous, compositional, "
                       "transfer, data efficiency, highlighting, probing, holistic)",
                       description=C.__doc__)
    acts = s.add_subparsers(dest="analysis", required=True, metavar="ANALYSIS")

    def model(p: argparse.ArgumentParser, required: bool = True) -> None:
        p.add_argument("--model", required=required, help="embedded name, tiny-*, folder or hub id")
        p.add_argument("--seed", type=int, default=0, help="seed for every random source")
        p.add_argument("--online", action="store_true", help="allow hub downloads")
        p.add_argument("--out", required=True, help="output stem: writes OUT.json, OUT.md, ...")
        p.set_defaults(locks=("out",))

    def gen(p: argparse.ArgumentParser) -> None:
        p.add_argument("--prompts", required=True, help="prompt JSONL (prompt.text)")
        p.add_argument("--prompt-set", default="", help="name of the prompt set, for outputs")
        p.add_argument("--n-prompts", type=positive_int, default=8,
                       help="seeded sample of prompts")
        p.add_argument("--samples", type=positive_int, default=5,
                       help="samples per prompt and cell")
        p.add_argument("--batch-size", type=positive_int, default=100,
                       help="sequences per batch")
        p.add_argument("--max-new-tokens", type=positive_int, default=GENERATION.max_new_tokens)
        p.add_argument("--top-p", type=probability, default=GENERATION.top_p)
        p.add_argument("--dummy-value", type=finite_float, default=0.0,
                       help="value of the always-on second steer (0: off)")
        p.add_argument("--scorers", nargs="+", default=["jigsaw-bilstm", "profanity-check"])
        p.add_argument("--judge", help="judge LM for conditional perplexity (omit: none)")
        p.add_argument("--judge-dtype", default="float32", choices=DTYPES,
                       help="precision of the judge LM (auto: bfloat16 where native)")

    def detox_data(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data-root", default="resources/data", help="prepared data root")
        p.add_argument("--sources", nargs="+", default=list(TRAINING_DATA.sources))
        p.add_argument("--per-class", type=positive_int, default=TRAINING_DATA.per_class,
                       help="examples per class of the steer's training set")

    p = acts.add_parser("sweep", help="continuous steering: one steer over a range of values, "
                        "all values in shared batches (table + toxicity/perplexity plot)")
    model(p)
    gen(p)
    p.add_argument("--steer", required=True, help="trained steer folder")
    p.add_argument("--values", nargs="+", type=finite_float, default=[-5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5],
                   help="steer values (units of epsilon)")
    p.set_defaults(func=C.cmd_sweep)

    p = acts.add_parser("compose", help="two steers together on a grid of values (heatmaps)")
    model(p)
    gen(p)
    p.add_argument("--steer", required=True, help="first steer folder (e.g. detox)")
    p.add_argument("--steer2", required=True, help="second steer folder (e.g. sentiment)")
    p.add_argument("--name1", default="detox")
    p.add_argument("--name2", default="sentiment")
    p.add_argument("--values", nargs="+", type=finite_float, default=[-4, -2, 0, 2, 4],
                   help="first steer's values")
    p.add_argument("--values2", nargs="+", type=finite_float, default=[-4, -2, 0, 2, 4],
                   help="second steer's values")
    p.add_argument("--heatmaps", nargs="+",
                   default=["mean_toxicity/jigsaw-bilstm", "positivity/sst-tfidf"],
                   help="metrics shown as heatmaps")
    p.set_defaults(func=C.cmd_compose)

    p = acts.add_parser("transfer-fit", help="fit linear maps between two LMs' output "
                        "embeddings on shared tokens; write the transferred steer folder")
    model(p)
    p.add_argument("--target", required=True, help="the LM to transfer the steer to")
    p.add_argument("--steer", required=True, help="the source LM's steer folder")
    p.set_defaults(func=C.cmd_transfer_fit)

    p = acts.add_parser("transfer-table", help="carry-over table from the original, native "
                        "and transferred records of the target LM")
    p.add_argument("--original", required=True, help="record.json of the plain target LM")
    p.add_argument("--native", required=True, help="record.json of its own steer")
    p.add_argument("--transferred", required=True, help="record.json of the transferred steer")
    p.add_argument("--source-original", help="record.json of the plain source LM (optional)")
    p.add_argument("--source-steer", help="record.json of the source LM with its own steer, "
                   "i.e. the untransferred steer (optional)")
    p.add_argument("--transfer-dir", required=True, help="folder written by transfer-fit")
    p.add_argument("--out", required=True, help="output stem")
    p.set_defaults(func=C.cmd_transfer_table, locks=("out",))

    p = acts.add_parser("data-size", help="data efficiency: steers on growing training sizes "
                        "(one hidden-state cache), evaluated together")
    model(p)
    gen(p)
    detox_data(p)
    p.add_argument("--sizes", nargs="+", type=int, default=[30, 100, 300, 1000, 4000],
                   help="training sizes (capped at the training set's size)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0], help="training seeds")
    p.add_argument("--strength", type=finite_float, default=2.0, help="steer value at generation")
    p.add_argument("--param", action="append", help="training parameter key=value")
    p.add_argument("--cache-dir", default="resources/cache", help="hidden-state cache folder")
    p.set_defaults(func=C.cmd_data_size)

    p = acts.add_parser("highlight", help="mark the spans of held-out toxic comments the "
                        "steer reacts to (exact dynamic programming)")
    model(p)
    detox_data(p)
    p.add_argument("--steer", required=True, help="trained detox steer folder")
    p.add_argument("--value", type=finite_float, default=-2.0,
                   help="steer value (negative: towards toxic text for a detox steer)")
    p.add_argument("--dummy-value", type=finite_float, default=0.0)
    p.add_argument("--n-examples", type=int, default=12)
    p.add_argument("--n-spans", type=int, default=2, help="spans per text")
    p.add_argument("--max-len", type=int, default=3, help="tokens per span at most")
    p.set_defaults(func=C.cmd_highlight)

    p = acts.add_parser("probe", help="SVD of the steer: matched words per direction; top "
                        "words of raw embedding dimensions")
    model(p)
    p.add_argument("--steer", required=True, help="trained steer folder")
    p.add_argument("--directions", type=int, default=8, help="top singular directions")
    p.add_argument("--words", type=int, default=8, help="words per direction end")
    p.add_argument("--dims", nargs="+", type=int, help="raw embedding dimensions (default: where direction 0 "
                   "loads most)")
    p.set_defaults(func=C.cmd_probe)

    p = acts.add_parser("holistic", help="toxicity vs. perplexity scatter of every method x "
                        "backbone (from detox records)")
    p.add_argument("--records", nargs="+", required=True, help="folders of record.json files")
    p.add_argument("--scorer", help="toxicity scorer (default: each record's first)")
    p.add_argument("--out", required=True, help="output stem")
    p.set_defaults(func=C.cmd_holistic, locks=("out",))

    p = acts.add_parser("render", help="redraw OUT.md / OUT.png (/ OUT.html) from OUT.json "
                        "alone: tables and figures are pure functions of the numbers")
    p.add_argument("json", nargs="+", help="analysis JSON files")
    p.set_defaults(func=C.cmd_render)
