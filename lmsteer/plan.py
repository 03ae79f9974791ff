"""The study plan: a validated config -> every job's paths, command line, priority and resources.

The Snakemake rules are thin shells over what this module returns (``shell: "{params.cmd}"``);
everything that decides *what* runs lives here, where it is tested. Whether a method trains,
and where its artifacts go, come from its class (:mod:`lmsteer.methods`), never the config.

A *run* is ``(task, model, method, unit)``: ``unit`` is a detox prompt set, or a sentiment
target (``positive``, ``negative``, ``none``) whose generation *parts* are its prompt kinds.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .data import PROMPT_SETS, SENTIMENT_TARGETS
from .config import TASKS, check_method_params, with_defaults
from .defaults import GENERATION
from .methods import LMSteerMethod, method_class
from .model_specs import gen_batch_size as spec_batch_size, model_resources
from .names import resolve_config
from .plan_select import SelectionPlan
from .shell import param_flags, q
from .shards import num_shards

# The method under study: it trains with ``<task>.train.params``; the analyses read its steer.
STEER = LMSteerMethod.name
EMBEDDED = ("smollm2-135m", "gemma3-270m")


@dataclass(frozen=True)
class Run:
    """One run of the study: what makes one record (generation parts, then scoring)."""

    task: str
    model: str  # the run name
    method: str
    unit: str  # detox: the prompt set; sentiment: the target
    strength: float
    params: dict[str, Any]
    n_prompts: int  # per prompt set (detox) or per prompt type (sentiment)
    samples: int
    max_new_tokens: int
    top_p: float
    batch_size: int
    trains: bool  # the method's class learns from the attribute data
    artifact: str | None  # the folder its training writes
    parts: tuple[str, ...]  # generation jobs: the prompt set, its shards, or the prompt kinds
    record: str
    priority: float
    resources: dict[str, Any]  # of its generation jobs


class Plan(SelectionPlan):
    """What a config runs. ``config`` is validated against the schema (defaults filled); model
    references in it are rewritten to run names (:func:`lmsteer.names.resolve_config`)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = with_defaults(config)
        self.sources = resolve_config(config)
        self.models: list[str] = list(config["models"])
        self.R = config["results_dir"]
        self.runs_dir = f"{self.R}/runs"
        self.seed = config["seed"]
        self.threads = config["job_threads"]
        self.online = "" if config["offline"] else "--online"
        self.judge = config.get("judge")
        self.shard_size = config["sharding"].get("prompts_per_shard")
        detox = config["detox"]
        self.gen = {"detox": {**GENERATION.__dict__, **detox.get("generation", {})}}
        self.sections = {"detox": detox}
        if config.get("sentiment"):
            self.sections["sentiment"] = config["sentiment"]
            self.gen["sentiment"] = {**GENERATION.__dict__,
                                     **config["sentiment"].get("generation",
                                                               detox.get("generation", {}))}
        self.tasks = [t for t in TASKS if t in self.sections]
        check_method_params(config)  # the methods' classes judge their params
        self._init_selection()

    # ------------------------------------------------------------------ settings
    def methods(self, task: str) -> dict[str, dict]:
        return self.sections[task]["methods"] if task in self.sections else {}

    def override(self, model: str, key: str, default: Any, task: str = "detox") -> Any:
        """``model_overrides.<model>[.sentiment].<key>``, else ``default``."""
        o = self.config["model_overrides"].get(model, {})
        return (o if task == "detox" else o.get("sentiment", {})).get(key, default)

    def method_models(self, task: str, method: str) -> list[str]:
        """Backbones a method runs on: its ``models`` (kept to this run's), else all."""
        return [m for m in self.methods(task)[method].get("models", self.models)
                if m in self.models]

    def methods_of(self, task: str, model: str) -> list[str]:
        return [m for m in self.methods(task) if model in self.method_models(task, m)]

    @staticmethod
    def own_setting(entry: dict, key: str, model: str) -> Any:
        """A method entry's own ``key`` for ``model`` (one number, or model -> number)."""
        own = entry.get(key)
        return own.get(model) if isinstance(own, dict) else own

    def n_prompts(self, task: str, model: str, method: str, unit: str = "") -> int:
        """Prompts per set (detox) or per prompt type (sentiment): the method's own number, else
        the model's override (detox: a number or prompt set -> number), else the study's."""
        own = self.own_setting(self.methods(task)[method], "n_prompts", model)
        if own is not None:
            return own
        base = self.sections[task]["n_prompts"]
        n = self.override(model, "n_prompts", base, task)
        return n.get(unit, base) if isinstance(n, dict) else n

    def strength(self, task: str, model: str, method: str, unit: str = "none") -> float:
        """Control strength; for sentiment signed by the target (+k positive, -k negative)."""
        k = self.override(model, "strengths", {}, task).get(
            method, self.methods(task)[method]["strength"])
        return k if task == "detox" else {"positive": k, "negative": -k, "none": 0}[unit]

    def batch_size(self, task: str, model: str, method: str) -> int:
        """The method's, else the model's override, else the study's, else the registry's."""
        default = self.gen[task].get("batch_size", spec_batch_size(model))
        return self.methods(task).get(method, {}).get(
            "batch_size", self.override(model, "batch_size", default))

    def train_params(self, task: str, model: str, method: str) -> dict[str, Any]:
        """The steer's: the study's ``train.params`` updated by the model's; others': their own."""
        if method == STEER:
            return {**self.sections[task]["train"]["params"],
                    **self.override(model, "train_params", {}, task)}
        return self.methods(task)[method].get("params", {})

    def model_arg(self, model: str) -> str:
        return q(self.sources.get(model, model))

    # ------------------------------------------------------------------ runs
    def units(self, task: str, method: str) -> list[str]:
        """Detox: the prompt sets. Sentiment: the targets (``none`` for strength 0)."""
        if task == "detox":
            return list(self.sections["detox"]["prompt_sets"])
        return ["none"] if self.methods(task)[method]["strength"] == 0 else [
            "positive", "negative"]

    def runs(self, task: str | None = None) -> list[Run]:
        """Every run of the study (of ``task``), in config order: the plan as data."""
        out = []
        for t in [task] if task else self.tasks:
            gen = self.gen[t]
            for method in self.methods(t):
                for model in self.method_models(t, method):
                    for unit in self.units(t, method):
                        out.append(Run(
                            t, model, method, unit, self.strength(t, model, method, unit),
                            self.methods(t)[method].get("params", {}),
                            self.n_prompts(t, model, method, unit), gen["samples"],
                            gen["max_new_tokens"], gen["top_p"],
                            self.batch_size(t, model, method),
                            method_class(method).needs_fit(),
                            self.artifact_dir(t, model, method),
                            tuple(self.parts(t, model, method, unit)),
                            f"{self.run_dir(t, model, method, unit)}/record.json",
                            self.priority(t, model, method, unit),
                            self.resources(model, task=t, method=method)))
        return out

    def run_dir(self, task: str, model: str, method: str, unit: str) -> str:
        return f"{self.runs_dir}/{task}/{model}/{method}/{unit}"

    def records(self, task: str = "detox", methods: list[str] | None = None) -> list[str]:
        """Every record of ``task`` (of ``methods``; default every configured method)."""
        return [f"{self.run_dir(task, m, meth, u)}/record.json"
                for meth in (self.methods(task) if methods is None else methods)
                for m in self.method_models(task, meth) for u in self.units(task, meth)]

    def spine_methods(self) -> list[str]:
        return [m for m in ("original", STEER) if m in self.methods("detox")]

    def artifact_dir(self, task: str, model: str, method: str) -> str | None:
        """The folder a method's training writes (None: the method does not train)."""
        cls = method_class(method)
        if not cls.needs_fit():
            return None
        return f"{self.runs_dir}/{task}/{model}/{method}/{cls.artifact_dir}"

    def artifact(self, task: str, model: str, method: str) -> list[str]:
        """The file that marks a finished training (its ``method.json``), or nothing."""
        d = self.artifact_dir(task, model, method)
        return [f"{d}/method.json"] if d else []

    def steer_dir(self, model: str, task: str = "detox") -> str:
        return f"{self.runs_dir}/{task}/{model}/{STEER}/{method_class(STEER).artifact_dir}"

    def parts(self, task: str, model: str, method: str, unit: str) -> list[str]:
        """Generation parts of a run: itself, its shards (sharded detox), or its prompt kinds."""
        if task == "sentiment":
            return [f"{unit}/{k}" for k in SENTIMENT_TARGETS[unit]]
        if not self.shard_size:
            return [unit]
        n = num_shards(self.n_prompts(task, model, method, unit), self.shard_size)
        return [f"{unit}/shards/{i}" for i in range(n)]

    def model_ready(self, model: str | None) -> list[str]:
        """The converted copy of an embedded model (nothing for tiny / hub / folder models)."""
        return [f"resources/models/{model}/config.json"] if model in EMBEDDED else []

    def priority(self, task: str, model: str, method: str, unit: str) -> float:
        """Detox order when more jobs are ready than cores: the steer's runs first (they wait
        for the longest job, its training), then runs with more prompts."""
        if task != "detox":
            return 0
        n = self.n_prompts(task, model, method, unit)
        return (1 if method == STEER else 0) + min(n, 99_999) / 100_000

    # ------------------------------------------------------------------ resources
    def model_resource(self, model: str, key: str) -> Any:
        """``gpu``, ``mem_mb`` or ``runtime`` of a job on ``model``: its override, else the
        model registry's."""
        return self.override(model, "resources", {}).get(key, model_resources(model)[key])

    def resources(self, model: str, judged: bool = False, task: str | None = None,
                  method: str | None = None) -> dict[str, Any]:
        """A job's resources: its model's (and the judge's, when it scores; the larger), and a
        method's own ``mem_mb`` where it needs more (generation)."""
        models = [model] + ([self.judge] if judged and self.judge else [])
        out = {k: max(self.model_resource(m, k) for m in models)
               for k in ("gpu", "mem_mb", "runtime")}
        if method is not None:
            own = self.own_setting(self.methods(task or "detox")[method], "mem_mb", model)
            out["mem_mb"] = max(out["mem_mb"], own or 0)
        return out

    # ------------------------------------------------------------------ commands
    def train_command(self, task: str, model: str, method: str) -> str:
        """Training of a method that learns from the task's attribute data."""
        sec = self.sections[task]["train"]
        task_flag = "" if task == "detox" else f"--task {task} "
        sources = f"--sources {' '.join(sec['sources'])} " if task == "detox" else ""
        return (f"python -m lmsteer train {task_flag}"
                f"--model {self.model_arg(model)} --method {method} "
                f"{sources}--per-class {sec['per_class']} "
                f"{param_flags(self.train_params(task, model, method))} --seed {self.seed} "
                f"{self.online} --out {self.artifact_dir(task, model, method)}")

    def train_inputs(self, task: str, model: str) -> list[str]:
        data = self.sections["detox"]["train"]["sources"] if task == "detox" else ["sst5"]
        return [f"resources/data/{d}" for d in data] + self.model_ready(model)

    @staticmethod
    def prompts_file(task: str, part: str) -> str:
        """The prompt file of a generation part (a detox prompt set, or a sentiment kind)."""
        if task == "sentiment":
            return f"resources/data/sentiment-prompts/{part.split('/')[1]}_prompts.jsonl"
        ds, name = PROMPT_SETS[part.split("/")[0]]
        return f"resources/data/{ds}/{name}"

    def model_flags(self, model: str) -> str:
        """``generate``'s model flags: the source, and the run name where it differs."""
        source = self.sources.get(model, model)
        return f"--model {q(source)}" + (f" --model-name {model}" if source != model else "")

    def generate_command(self, task: str, model: str, method: str, part: str,
                         artifact: str | None = None, out: str | None = None) -> str:
        """Generation of one part (a prompt set, one of its shards, or a sentiment kind);
        ``artifact`` and ``out`` replace the run's own (the transfer analysis' steer)."""
        unit = part.split("/")[0]
        gen = self.gen[task]
        art = artifact or self.artifact_dir(task, model, method)
        mparams = param_flags(self.methods(task)[method].get("params", {}))
        out = out or f"{self.runs_dir}/{task}/{model}/{method}/{part}"
        strength = self.strength(task, model, method, unit)
        pset, strength_flag = ((unit, f"--strength {strength}") if task == "detox" else
                               (f"sentiment-{part.split('/')[1]}", f"--strength={strength}"))
        if self.swept(task, model, method):  # the strength chosen on validation prompts
            strength_flag = f"--strength-from {self.selection_file(model, unit, method)}"
        shard = (f"--shard {part.split('/')[2]} --prompts-per-shard {self.shard_size} "
                 if "/shards/" in part else "")
        return (f"python -m lmsteer generate {self.model_flags(model)} --method {method} "
                f"{f'--artifact {art}' if art else ''} {mparams} "
                f"--prompts {self.prompts_file(task, part)} --prompt-set {pset} "
                f"--n-prompts {self.n_prompts(task, model, method, unit)} {strength_flag} "
                f"--samples {gen['samples']} --max-new-tokens {gen['max_new_tokens']} "
                f"--top-p {gen['top_p']} --batch-size {self.batch_size(task, model, method)} "
                f"--seed {self.seed} {self.online} {shard}"
                f"--out {out}/generations.jsonl --info-out {out}/model.json")

    def generate_inputs(self, task: str, model: str, method: str, part: str) -> list[str]:
        data = (f"resources/data/{part.split('/')[0]}" if task == "detox"
                else "resources/data/sentiment-prompts")
        return ([data] + self.model_ready(model) + self.artifact(task, model, method)
                + self.chosen_input(task, model, method, part.split("/")[0]))

    def judge_flags(self) -> str:
        return (f"--judge {q(self.judge)} --judge-dtype {self.config['judge_dtype']}"
                if self.judge else "")

    def scorers(self, task: str = "detox") -> str:
        """The task's scorers: toxicity (``scorers``) or sentiment (``sentiment.scorers``)."""
        return " ".join(self.config["scorers"] if task == "detox"
                        else self.sections[task]["scorers"])

    def scorer_flags(self, task: str) -> str:
        opts = self.config.get("scorer_options") or {}
        return (f"--scorers {self.scorers(task)} "
                + (f"--scorer-options {q(json.dumps(opts))} " if opts else "")
                + self.judge_flags())

    def scored_dirs(self, task: str, model: str, method: str, unit: str) -> list[str]:
        """The generation folders one (unsharded) score job reads: the run's own (detox), or
        its prompt kinds' (sentiment)."""
        base = f"{self.runs_dir}/{task}/{model}/{method}"
        parts = [unit] if task == "detox" else self.parts(task, model, method, unit)
        return [f"{base}/{p}" for p in parts]

    def score_inputs(self, task: str, model: str, method: str, unit: str) -> list[str]:
        """A run's generations and model files (unsharded), the judge and the scorers' data."""
        dirs = self.scored_dirs(task, model, method, unit)
        return ([f"{d}/generations.jsonl" for d in dirs] + [f"{d}/model.json" for d in dirs]
                + (["resources/data/sst5"] if task == "sentiment" else [])
                + self.model_ready(self.judge))

    def score_command(self, task: str, model: str, method: str, unit: str) -> str:
        dirs = self.scored_dirs(task, model, method, unit)
        run = (f"--task detox --prompt-set {unit}" if task == "detox" else "--task sentiment")
        return (f"python -m lmsteer score --generations "
                f"{' '.join(f'{d}/generations.jsonl' for d in dirs)} "
                f"{self.scorer_flags(task)} {run} --model-info {dirs[0]}/model.json "
                f"--run-config {q(self.run_config(task, model, method, unit))} "
                f"--seed {self.seed} {self.online} "
                f"--out-dir {self.run_dir(task, model, method, unit)}")

    def shard_dirs(self, model: str, method: str, unit: str) -> list[str]:
        base = f"{self.runs_dir}/detox/{model}/{method}"
        return [f"{base}/{p}" for p in self.parts("detox", model, method, unit)]

    def score_shard_command(self, model: str, method: str, part: str) -> str:
        d = f"{self.runs_dir}/detox/{model}/{method}/{part}"
        return (f"python -m lmsteer score --generations {d}/generations.jsonl "
                f"{self.scorer_flags('detox')} --task detox --prompt-set {part.split('/')[0]} "
                f"--seed {self.seed} {self.online} --scores-only --out-dir {d}")

    def aggregate_command(self, model: str, method: str, unit: str) -> str:
        return (f"python -m lmsteer aggregate --shards "
                f"{' '.join(self.shard_dirs(model, method, unit))} --task detox "
                f"--prompt-set {unit} --run-config {q(self.run_config('detox', model, method, unit))} "
                f"--seed {self.seed} --out-dir {self.run_dir('detox', model, method, unit)}")

    def run_config(self, task: str, model: str, method: str, unit: str) -> str:
        """The resolved settings of one run (JSON), stored in its record."""
        sec = self.sections[task]
        choice = self.strength_choice(task, model, method)
        cfg = {
            "method": method,
            "strength": None if choice else self.strength(task, model, method, unit),
            "method_params": self.methods(task)[method].get("params", {}),
            "train": {**sec["train"], "params": self.train_params(task, model, STEER)},
            "generation": {**self.gen[task], "batch_size": self.batch_size(task, model, method)},
            "n_prompts": self.n_prompts(task, model, method, unit),
            "judge": self.judge, "seed": self.seed,
            "scorers": self.config["scorers"] if task == "detox" else sec["scorers"],
        }
        if task == "sentiment":
            cfg.update(target=unit, prompt_types=list(SENTIMENT_TARGETS[unit]))
        if choice:
            cfg["strength_choice"] = choice
        return json.dumps(cfg, sort_keys=True)

    def train_priority(self, task: str, method: str) -> int:
        """The steer's detox training first: the spine's longest job, its runs wait for it."""
        return 2 if (task, method) == ("detox", STEER) else 0

    def prepare_data_command(self, dataset: str) -> str:
        """Copy (mirror) or download a data set, sha256-checked."""
        data = self.config["data"]
        mirror = f"--mirror {q(data['mirror'])}" if data.get("mirror") else ""
        return (f"python -m lmsteer prepare-data --dataset {dataset} --out resources/data "
                f"{mirror} {'--allow-download' if data.get('allow_download') else ''}")
