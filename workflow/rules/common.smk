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
