# Paths and input functions shared by the rules. No logic that needs testing lives here.
import json
import os
import sys
from shlex import quote as shlex_quote

sys.path.insert(0, workflow.basedir)  # the library's torch-free registries (no torch import)
from lmsteer.data import PROMPT_SETS, SENTIMENT_KINDS, SENTIMENT_TARGETS
from lmsteer.model_specs import MODELS, gen_batch_size as spec_batch_size, model_resources
from lmsteer.plan import resolve_config
from lmsteer.shards import num_shards

# NaN/inf numbers and unsafe names stop here; model entries become run names (lmsteer/plan.py)
MODEL_SRC = resolve_config(config)

R = config.get("results_dir", "results")
os.environ["LMSTEER_DEVICE"] = config.get("device", "cpu")  # where jobs run their models


envvars:
    "LMSTEER_DEVICE",  # passed on to every job, remote ones included

RUNS = f"{R}/runs"
SEED = config.get("seed", 0)
# Threads of a model job (torch's, through OMP_NUM_THREADS): the embedded default's 1 lets a
# 2-core machine run two jobs at once (README, "The spine alone")
JOB_THREADS = config.get("job_threads", 2)
ONLINE = "" if config.get("offline", True) else "--online"
EMBEDDED = {"smollm2-135m", "gemma3-270m"}
DETOX = config["detox"]
GEN = DETOX["generation"]
PROMPT_FILES = {k: f"resources/data/{ds}/{f}" for k, (ds, f) in PROMPT_SETS.items()}
TABLE1 = [
    f"{R}/tables/table1_detox.md",
    f"{R}/tables/table1_detox.csv",
    f"{R}/figures/table1_detox.png",
]


def override(model, key, default):
    return config.get("model_overrides", {}).get(model, {}).get(key, default)


def own_setting(entry, key, model):
    """A method entry's own ``key`` for ``model`` (one number, or model -> number), or None."""
    own = entry.get(key)
    return own.get(model) if isinstance(own, dict) else own


def detox_n_prompts(model, pset, method):
    """Prompts per set: the method's own number (slow methods; one number, or model -> number),
    else the model's override (a number, or prompt set -> number), else detox.n_prompts."""
    own = own_setting(DETOX["methods"][method], "n_prompts", model)
    if own is not None:
        return own
    n = override(model, "n_prompts", DETOX["n_prompts"])
    return n.get(pset, DETOX["n_prompts"]) if isinstance(n, dict) else n


def run_priority(wildcards):
    """Scheduling order of a detox run's generation and scoring jobs when more are ready than
    cores free: LM-Steer's first (they wait for the longest job, its training), then the runs
    with more prompts (a long job started last leaves the other cores idle)."""
    n = detox_n_prompts(wildcards.model, wildcards.pset, wildcards.method)
    return (1 if wildcards.method == "lm_steer" else 0) + min(n, 99_999) / 100_000


def model_ready(model):
    """The converted copy of an embedded model (nothing for tiny/hub models)."""
    return [f"resources/models/{model}/config.json"] if model in EMBEDDED else []


def src(who="model"):
    """Params function: the shell-quoted source (registry name, folder, hub id) of the model
    in the wildcard ``who``, for ``--model``; the run name stays in paths."""
    return lambda w: shlex_quote(MODEL_SRC.get(getattr(w, who), getattr(w, who)))


def gen_model(who="model"):
    """Params function: ``generate``'s model flags -- the quoted source, and the run name
    where it differs from the source (a folder or hub id), so the records carry the run name."""
    def flags(w):
        name = getattr(w, who)
        source = MODEL_SRC.get(name, name)
        return f"--model {shlex_quote(source)}" + (f" --model-name {name}" if source != name
                                                    else "")
    return flags


def judge_ready(wildcards):
    j = config.get("judge")
    return model_ready(j) if j else []


def strength(model, method):
    """Control strength of a method on a model (per-model override, else the method's)."""
    return override(model, "strengths", {}).get(method, DETOX["methods"][method]["strength"])


def resolved_train_params(model):
    """Training parameters of a model: the shared ones updated by its overrides."""
    return {**DETOX["train"]["params"], **override(model, "train_params", {})}


def train_params(wildcards):
    return param_flags(resolved_train_params(wildcards.model))


def param_flags(p, prefix=""):
    """{key: value} -> shell-quoted ``--param PREFIXkey=value`` flags (values may hold spaces)."""
    return " ".join(f"--param {shlex_quote(f'{prefix}{k}={v}')}" for k, v in sorted(p.items()))


def method_params(wildcards):
    return param_flags(DETOX["methods"][wildcards.method].get("params", {}))


def trained(methods, method):
    """Whether a method has a training job (lm_steer always; others with ``train: true``)."""
    return method == "lm_steer" or bool(methods[method].get("train", False))


def artifact_of(model, method):
    """Trained artifacts of a detox method (lm_steer's steer folder, else its trained/ folder)."""
    if method == "lm_steer":
        return f"{RUNS}/detox/{model}/lm_steer/steer/steer.safetensors"
    if trained(DETOX["methods"], method):
        return f"{RUNS}/detox/{model}/{method}/trained/method.json"
    return []


def method_artifact(wildcards):
    return artifact_of(wildcards.model, wildcards.method)


def gen_batch_size(model, method, gen, methods):
    """Generation batch size: the method's, else the model's override, else the config's, else
    the model registry's (lmsteer/model_specs.py)."""
    default = gen.get("batch_size", spec_batch_size(model))
    return methods[method].get("batch_size", override(model, "batch_size", default))


def model_res(model, key):
    """A job resource of ``model`` (``gpu``, ``mem_mb``, ``runtime``): its
    ``model_overrides.<m>.resources`` entry, else the model registry's."""
    return override(model, "resources", {}).get(key, model_resources(model)[key])


def res(key, who="model"):
    """Input function: ``model_res`` of the model in the wildcard ``who`` (``model``, ``tgt``)."""
    return lambda wildcards: model_res(getattr(wildcards, who), key)


def judged_res(key, who="model"):
    """Jobs that score load the judge LM too: the larger of the two models' resources."""
    def get(wildcards):
        j = config.get("judge")
        return max([res(key, who)(wildcards)] + ([model_res(j, key)] if j else []))
    return get


def job_resources(who="model", judged=False, methods=None):
    """A rule's ``resources``: gpu, mem_mb and runtime of the job's model (and judge); with
    ``methods`` (a study's method entries), a method's own ``mem_mb`` raises the memory."""
    get = judged_res if judged else res
    out = {key: get(key, who) for key in ("gpu", "mem_mb", "runtime")}
    if methods is not None:
        base = out["mem_mb"]
        out["mem_mb"] = lambda w: max(base(w), own_setting(methods[w.method], "mem_mb", w.model)
                                      or 0)
    return out


SHARD = (config.get("sharding") or {}).get("prompts_per_shard")


def shard_dirs(wildcards):
    """Shard folders of a sharded detox run (``sharding.prompts_per_shard`` prompts each)."""
    n = detox_n_prompts(wildcards.model, wildcards.pset, wildcards.method)
    base = f"{RUNS}/detox/{wildcards.model}/{wildcards.method}/{wildcards.pset}/shards"
    return [f"{base}/{i}" for i in range(num_shards(n, SHARD))]


def shard_files(wildcards):
    return [f"{d}/{f}" for d in shard_dirs(wildcards)
            for f in ("generations.jsonl", "model.json", "scores.jsonl", "scorers.json")]


def artifact_flag(wildcards):
    a = method_artifact(wildcards)
    return f"--artifact {os.path.dirname(a)}" if a else ""


def run_config(wildcards):
    """The resolved settings of one run, stored in its record."""
    return json.dumps({
        "method": wildcards.method, "strength": strength(wildcards.model, wildcards.method),
        "method_params": DETOX["methods"][wildcards.method].get("params", {}),
        "train": {**DETOX["train"], "params": resolved_train_params(wildcards.model)},
        "generation": {**GEN, "batch_size": gen_batch_size(wildcards.model, wildcards.method, GEN,
                                                           DETOX["methods"])},
        "n_prompts": detox_n_prompts(wildcards.model, wildcards.pset, wildcards.method),
        "judge": config.get("judge"), "scorers": config["scorers"], "seed": SEED,
    }, sort_keys=True)


def all_records(methods=None):
    """The detox records of ``methods`` (default: every configured method)."""
    return [
        f"{RUNS}/detox/{m}/{meth}/{ps}/record.json"
        for meth in (DETOX["methods"] if methods is None else methods)
        for m in method_models(DETOX["methods"], meth)
        for ps in DETOX["prompt_sets"]
    ]


SPINE_METHODS = [m for m in ("original", "lm_steer") if m in DETOX["methods"]]
# the spine (issue 2's part of the study): the original LM against LM-Steer, `snakemake spine`
TABLE1_SPINE = [
    f"{R}/tables/table1_spine.md",
    f"{R}/tables/table1_spine.csv",
    f"{R}/figures/table1_spine.png",
] if SPINE_METHODS else []


def spine_records():
    """The records of the spine's methods (original, lm_steer) that this config runs."""
    return all_records(SPINE_METHODS)


def method_models(methods, method):
    """Backbones a method runs on: its ``models`` list (kept to those of this run: a
    --configfile extends config/config.yaml key by key, so its lists can leak in), else all."""
    return [m for m in methods[method].get("models", config["models"]) if m in config["models"]]


def detox_methods_of(model):
    """The detox methods run on ``model``."""
    return [m for m in DETOX["methods"] if model in method_models(DETOX["methods"], m)]


EFF = config.get("efficiency")


def efficiency_files():
    """bench_methods' JSON per backbone, when the config asks for the efficiency table."""
    return [f"{R}/bench/methods-{m}.json" for m in config["models"]] if EFF else []


def efficiency_flags(wildcards):
    """bench_methods flags: every non-original detox method with its artifact, strength, params."""
    flags = [f"--prompts {PROMPT_FILES['rtp-challenging']}"]
    flags += [f"--{k.replace('_', '-')} {v}" for k, v in sorted(EFF.items())]
    for meth in detox_methods_of(wildcards.model):
        if meth == "original":
            continue
        art = artifact_of(wildcards.model, meth)
        flags.append(f"--method {meth}={os.path.dirname(art)}" if art else f"--method {meth}")
        flags.append(f"--strength {meth}={strength(wildcards.model, meth)}")
        flags.append(param_flags(DETOX["methods"][meth].get("params", {}), prefix=f"{meth}:"))
    return " ".join(f for f in flags if f)


def scorer_options_flag(wildcards):
    opts = config.get("scorer_options") or {}
    return f"--scorer-options {shlex_quote(json.dumps(opts))}" if opts else ""


# ------------------------------------------------------------------ sentiment (Table 2)
SENT = config.get("sentiment")
TABLE2 = (
    [
        f"{R}/tables/table2_sentiment.md",
        f"{R}/tables/table2_sentiment.csv",
        f"{R}/figures/table2_sentiment.png",
    ]
    if SENT
    else []
)
SENT_GEN = (SENT or {}).get("generation", GEN)
SENT_PROMPT_FILES = {
    k: f"resources/data/sentiment-prompts/{k}_prompts.jsonl" for k in SENTIMENT_KINDS
}
SENT_KINDS = {t: list(kinds) for t, kinds in SENTIMENT_TARGETS.items()}  # Table 2's design


def sent_override(model, key, default):
    return config.get("model_overrides", {}).get(model, {}).get("sentiment", {}).get(key, default)


def sent_targets(method):
    return ["none"] if SENT["methods"][method]["strength"] == 0 else ["positive", "negative"]


def sent_strength(model, method, target):
    """Signed steer value: +k towards positive, -k towards negative, 0 for the original."""
    k = sent_override(model, "strengths", {}).get(method, SENT["methods"][method]["strength"])
    return {"positive": k, "negative": -k, "none": 0}[target]


def sent_train_params(wildcards):
    return param_flags({**SENT["train"]["params"],
                        **sent_override(wildcards.model, "train_params", {})})


def sent_method_params(wildcards):
    return param_flags(SENT["methods"][wildcards.method].get("params", {}))


def sent_artifact(wildcards):
    if wildcards.method == "lm_steer":
        return f"{RUNS}/sentiment/{wildcards.model}/lm_steer/steer/steer.safetensors"
    if trained(SENT["methods"], wildcards.method):
        return f"{RUNS}/sentiment/{wildcards.model}/{wildcards.method}/trained/method.json"
    return []


def sent_n_prompts(model, method):
    """Prompts per prompt type: the method's own number (one number, or model -> number), else
    the model's, else the config's."""
    own = own_setting(SENT["methods"][method], "n_prompts", model)
    return own if own is not None else sent_override(model, "n_prompts", SENT["n_prompts"])


def sent_artifact_flag(wildcards):
    a = sent_artifact(wildcards)
    return f"--artifact {os.path.dirname(a)}" if a else ""


def sent_generations(wildcards):
    base = f"{RUNS}/sentiment/{wildcards.model}/{wildcards.method}/{wildcards.target}"
    return [f"{base}/{k}/generations.jsonl" for k in SENT_KINDS[wildcards.target]]


def sent_run_config(wildcards):
    return json.dumps({
        "method": wildcards.method, "target": wildcards.target,
        "strength": sent_strength(wildcards.model, wildcards.method, wildcards.target),
        "method_params": SENT["methods"][wildcards.method].get("params", {}),
        "train": {**SENT["train"], "params": {**SENT["train"]["params"],
                                              **sent_override(wildcards.model, "train_params", {})}},
        "generation": {**SENT_GEN, "batch_size": gen_batch_size(wildcards.model, wildcards.method,
                                                                SENT_GEN, SENT["methods"])},
        "prompt_types": SENT_KINDS[wildcards.target],
        "n_prompts": sent_n_prompts(wildcards.model, wildcards.method),
        "judge": config.get("judge"), "scorers": SENT["scorers"], "seed": SEED,
    }, sort_keys=True)


def sentiment_records():
    if not SENT:
        return []
    return [
        f"{RUNS}/sentiment/{m}/{meth}/{t}/record.json"
        for meth in SENT["methods"]
        for m in method_models(SENT["methods"], meth)
        for t in sent_targets(meth)
    ]


# ------------------------------------------------------------------ analyses (issue 5)
AN = config.get("analysis") or {}
A = f"{R}/analysis"
JUDGE = (f"--judge {shlex_quote(config['judge'])} --judge-dtype {config.get('judge_dtype', 'float32')}"
         if config.get("judge") else "")


def an_models(name):
    """Backbones an analysis runs on: its ``models`` (kept to this run's), else all."""
    if name not in AN:
        return []
    return [m for m in AN[name].get("models", config["models"]) if m in config["models"]]


def steer_dir(model, task="detox"):
    return f"{RUNS}/{task}/{model}/lm_steer/steer"


def steer_file(model, task="detox"):
    return f"{steer_dir(model, task)}/steer.safetensors"


def dummy_value(model):
    return DETOX["methods"]["lm_steer"].get("params", {}).get("dummy_value", 1.0)


def gen_flags(model, sec):
    """Prompt and sampling flags of an analysis section (defaults: detox.generation)."""
    ps = sec.get("prompt_set", "rtp-challenging")
    return (f"--prompts {PROMPT_FILES[ps]} --prompt-set {ps} --n-prompts {sec.get('n_prompts', 8)} "
            f"--samples {sec.get('samples', 5)} --max-new-tokens {GEN.get('max_new_tokens', 20)} "
            f"--top-p {GEN.get('top_p', 0.9)} --batch-size {GEN.get('batch_size', spec_batch_size(model))} "
            f"--dummy-value {dummy_value(model)} --seed {SEED} {ONLINE}")


def nums(values):
    return " ".join(str(v) for v in values)


def transfer_pairs():
    return [p for p in AN.get("transfer", {}).get("pairs", [])
            if p[0] in config["models"] and p[1] in config["models"]]


def analysis_outputs():
    out = [f"{A}/continuous/{m}.png" for m in an_models("continuous")]
    out += [f"{A}/compositional/{m}.png" for m in an_models("compositional") if SENT]
    out += [f"{A}/transfer/{s}-to-{t}.png" for s, t in transfer_pairs()]
    out += [f"{A}/data_efficiency/{m}.png" for m in an_models("data_efficiency")]
    out += [f"{A}/highlighting/{m}.html" for m in an_models("highlighting")]
    out += [f"{A}/probing/{m}.md" for m in an_models("probing")]
    out += [f"{A}/holistic.png"] if AN.get("holistic") else []
    return out


def transfer_pset():
    return AN.get("transfer", {}).get("prompt_set", "rtp-challenging")
