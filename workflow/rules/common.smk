# Paths and input functions shared by the rules. No logic that needs testing lives here.
import json
import os
from shlex import quote as shlex_quote

R = config.get("results_dir", "results")
RUNS = f"{R}/runs"
SEED = config.get("seed", 0)
ONLINE = "" if config.get("offline", True) else "--online"
EMBEDDED = {"smollm2-135m", "gemma3-270m"}
DETOX = config["detox"]
GEN = DETOX["generation"]
PROMPT_FILES = {
    "rtp-nontoxic": "resources/data/rtp-nontoxic/nontoxic_prompts_1200.jsonl",
    "rtp-challenging": "resources/data/rtp-challenging/toxic_prompts_1196.jsonl",
}
TABLE1 = [
    f"{R}/tables/table1_detox.md",
    f"{R}/tables/table1_detox.csv",
    f"{R}/figures/table1_detox.png",
]


def override(model, key, default):
    return config.get("model_overrides", {}).get(model, {}).get(key, default)


def model_ready(model):
    """The converted copy of an embedded model (nothing for tiny/hub models)."""
    return [f"resources/models/{model}/config.json"] if model in EMBEDDED else []


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
    p = resolved_train_params(wildcards.model)
    return " ".join(f"--param {k}={v}" for k, v in sorted(p.items()))


def method_params(wildcards):
    p = DETOX["methods"][wildcards.method].get("params", {})
    return " ".join(f"--param {k}={v}" for k, v in sorted(p.items()))


def method_artifact(wildcards):
    """Trained artifacts of a method (the steer folder for lm_steer)."""
    if wildcards.method == "lm_steer":
        return f"{RUNS}/detox/{wildcards.model}/lm_steer/steer/steer.safetensors"
    return []


def artifact_flag(wildcards):
    a = method_artifact(wildcards)
    return f"--artifact {os.path.dirname(a)}" if a else ""


def run_config(wildcards):
    """The resolved settings of one run, stored in its record."""
    return json.dumps({
        "method": wildcards.method, "strength": strength(wildcards.model, wildcards.method),
        "method_params": DETOX["methods"][wildcards.method].get("params", {}),
        "train": {**DETOX["train"], "params": resolved_train_params(wildcards.model)},
        "generation": GEN, "n_prompts": override(wildcards.model, "n_prompts", DETOX["n_prompts"]),
        "judge": config.get("judge"), "scorers": config["scorers"], "seed": SEED,
    }, sort_keys=True)


def all_records():
    return [
        f"{RUNS}/detox/{m}/{meth}/{ps}/record.json"
        for m in config["models"]
        for meth in DETOX["methods"]
        for ps in DETOX["prompt_sets"]
    ]


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
    k: f"resources/data/sentiment-prompts/{k}_prompts.jsonl" for k in ("positive", "neutral", "negative")
}
# Table 2's design: which prompt types each target is run on (the original model: all three).
SENT_KINDS = {"positive": ["neutral", "negative"], "negative": ["neutral", "positive"],
              "none": ["positive", "neutral", "negative"]}


def sent_override(model, key, default):
    return config.get("model_overrides", {}).get(model, {}).get("sentiment", {}).get(key, default)


def sent_targets(method):
    return ["none"] if SENT["methods"][method]["strength"] == 0 else ["positive", "negative"]


def sent_strength(model, method, target):
    """Signed steer value: +k towards positive, -k towards negative, 0 for the original."""
    k = sent_override(model, "strengths", {}).get(method, SENT["methods"][method]["strength"])
    return {"positive": k, "negative": -k, "none": 0}[target]


def sent_train_params(wildcards):
    p = {**SENT["train"]["params"], **sent_override(wildcards.model, "train_params", {})}
    return " ".join(f"--param {k}={v}" for k, v in sorted(p.items()))


def sent_method_params(wildcards):
    p = SENT["methods"][wildcards.method].get("params", {})
    return " ".join(f"--param {k}={v}" for k, v in sorted(p.items()))


def sent_artifact(wildcards):
    if wildcards.method == "lm_steer":
        return f"{RUNS}/sentiment/{wildcards.model}/lm_steer/steer/steer.safetensors"
    return []


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
        "generation": SENT_GEN, "prompt_types": SENT_KINDS[wildcards.target],
        "n_prompts": sent_override(wildcards.model, "n_prompts", SENT["n_prompts"]),
        "judge": config.get("judge"), "scorers": SENT["scorers"], "seed": SEED,
    }, sort_keys=True)


def sentiment_records():
    if not SENT:
        return []
    return [
        f"{RUNS}/sentiment/{m}/{meth}/{t}/record.json"
        for m in config["models"]
        for meth in SENT["methods"]
        for t in sent_targets(meth)
    ]
