# What the rules share. Every decision (paths, commands, priorities, resources) is the tested
# library's: lmsteer/plan.py (runs) and lmsteer/plan_analysis.py (analyses, efficiency). The
# rules are thin shells: `shell: "{params.cmd} > {log} 2>&1"`, with params.cmd from PLAN.
import os
import sys

sys.path.insert(0, workflow.basedir)
from lmsteer.plan_analysis import StudyPlan

# NaN/inf numbers and unsafe names stop here; model entries become run names (lmsteer/names.py)
PLAN = StudyPlan(config)
R, RUNS, A = PLAN.R, PLAN.runs_dir, PLAN.A
os.environ["LMSTEER_DEVICE"] = config.get("device", "cpu")  # where jobs run their models


envvars:
    "LMSTEER_DEVICE",  # passed on to every job, remote ones included


# Threads of a model job (torch's, through OMP_NUM_THREADS): the embedded default's 1 lets a
# 2-core machine run two jobs at once (CHANGELOG.md, "how long the spine took")
JOB_THREADS = PLAN.threads
NAME = "[A-Za-z0-9][A-Za-z0-9._-]*"
TARGET_PART = "(positive|negative|none)/(positive|neutral|negative)"
# a generation part: a prompt set (its shards when sharding is on) or a sentiment target/kind
PART = (rf"[^/]+/shards/\d+|{TARGET_PART}" if PLAN.shard_size else rf"[^/]+|{TARGET_PART}")


wildcard_constraints:
    task="detox|sentiment",
    model=NAME,
    method=NAME,
    unit="[^/]+",
    src="[^/]+?",
    tgt="[^/]+",


def job(fn):
    """Input / params function of a run job: ``fn(task, model, method, unit)``."""
    return lambda w: fn(w.task, w.model, w.method, w.unit)


def part_job(fn):
    """Input / params function of a generation job: ``fn(task, model, method, part)``."""
    return lambda w: fn(w.task, w.model, w.method, w.part)


def per_model(fn, *args):
    """Input / params function of a per-model job: ``fn(model, *args)``."""
    return lambda w: fn(w.model, *args)


def pair(fn, *args):
    """Input / params function of a transfer job: ``fn(src, tgt, *args)``."""
    return lambda w: fn(w.src, w.tgt, *[getattr(w, a) for a in args])


def resources(who="model", **kw):
    """A rule's resources: ``PLAN.resources`` of the model in wildcard ``who``."""
    return {k: (lambda w, k=k: PLAN.resources(getattr(w, who), **kw)[k])
            for k in ("gpu", "mem_mb", "runtime")}


def run_resources(**kw):
    """Resources of a run job: its method's own memory need counts (generation)."""
    return {k: (lambda w, k=k: PLAN.resources(w.model, task=w.task, method=w.method, **kw)[k])
            for k in ("gpu", "mem_mb", "runtime")}


TABLE1 = [f"{R}/tables/table1_detox.{e}" for e in ("md", "csv")] + [f"{R}/figures/table1_detox.png"]
TABLE1_SPINE = ([f"{R}/tables/table1_spine.{e}" for e in ("md", "csv")]
                + [f"{R}/figures/table1_spine.png"] if PLAN.spine_methods() else [])
TABLE2 = ([f"{R}/tables/table2_sentiment.{e}" for e in ("md", "csv")]
          + [f"{R}/figures/table2_sentiment.png"] if "sentiment" in PLAN.tasks else [])


# ------------------------------------------------------------------ analyses
def steered(*tasks):
    """Inputs of an analysis of a model's steers: the steers' folders and the model."""
    return lambda w: [PLAN.steer_file(w.model, t) for t in tasks] + PLAN.model_ready(w.model)


def outputs(name, ext="png", exts=("json", "md")):
    out = [f"{A}/{name}/{{model}}.{e}" for e in exts]
    return out + ([report(f"{A}/{name}/{{model}}.{ext}", caption="../report/analysis.rst",
                          category="Analyses")] if ext else [])
