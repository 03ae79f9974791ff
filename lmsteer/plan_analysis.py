"""The plan of the analyses, the efficiency timing and the tables: outputs and command lines
(:class:`lmsteer.plan.Plan` covers training, generation and scoring)."""
from __future__ import annotations

from typing import Any

from .methods import method_class
from .model_specs import gen_batch_size as spec_batch_size
from .plan import STEER, Plan, param_flags


def nums(values: Any) -> str:
    return " ".join(str(v) for v in values)


def flags(sec: dict[str, Any], *keys: str) -> str:
    """``--key v ...`` for the keys a config section sets; the others keep the CLI's defaults
    (lmsteer/analysis/parser.py: each default lives there alone)."""
    out = []
    for k in keys:
        if k in sec:
            v = sec[k]
            out.append(f"--{k.replace('_', '-')} {nums(v) if isinstance(v, list) else v}")
    return " ".join(out)


class StudyPlan(Plan):
    """Everything a config runs: the runs (:class:`Plan`) and the analyses on their steers."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.an = config.get("analysis") or {}
        self.A = f"{self.R}/analysis"

    # ------------------------------------------------------------------ outputs
    def an_models(self, name: str) -> list[str]:
        """Backbones an analysis runs on: its ``models`` (kept to this run's), else all."""
        if name not in self.an:
            return []
        return [m for m in self.an[name].get("models", self.models) if m in self.models]

    def transfer_pairs(self) -> list[list[str]]:
        return [p for p in self.an.get("transfer", {}).get("pairs", [])
                if p[0] in self.models and p[1] in self.models]

    def transfer_pset(self) -> str:
        return self.an.get("transfer", {}).get("prompt_set", "rtp-challenging")

    def analysis_outputs(self) -> list[str]:
        A = self.A
        out = [f"{A}/continuous/{m}.png" for m in self.an_models("continuous")]
        out += [f"{A}/compositional/{m}.png" for m in self.an_models("compositional")
                if "sentiment" in self.tasks]
        out += [f"{A}/transfer/{s}-to-{t}.png" for s, t in self.transfer_pairs()]
        out += [f"{A}/data_efficiency/{m}.png" for m in self.an_models("data_efficiency")]
        out += [f"{A}/highlighting/{m}.html" for m in self.an_models("highlighting")]
        out += [f"{A}/probing/{m}.md" for m in self.an_models("probing")]
        out += [f"{A}/holistic.png"] if self.an.get("holistic") else []
        return out

    def steer_file(self, model: str, task: str = "detox") -> str:
        return f"{self.steer_dir(model, task)}/method.json"

    # ------------------------------------------------------------------ commands
    def gen_flags(self, model: str, name: str) -> str:
        """Prompt and sampling flags of an analysis section (sampling: detox.generation)."""
        sec, gen = self.an[name], self.gen["detox"]
        ps = sec.get("prompt_set", "rtp-challenging")
        dummy = self.methods("detox")[STEER].get("params", {}).get(
            "dummy_value", method_class(STEER).param_default("dummy_value"))
        return (f"--prompts {self.prompts_file('detox', ps)} --prompt-set {ps} "
                f"{flags(sec, 'n_prompts', 'samples')} "
                f"--max-new-tokens {gen['max_new_tokens']} --top-p {gen['top_p']} "
                f"--batch-size {gen.get('batch_size', spec_batch_size(model))} "
                f"--dummy-value {dummy} --seed {self.seed} {self.online}")

    def continuous_command(self, model: str) -> str:
        return (f"python -m lmsteer analyze sweep --model {self.model_arg(model)} "
                f"--steer {self.steer_dir(model)} {flags(self.an['continuous'], 'values')} "
                f"{self.gen_flags(model, 'continuous')} --scorers {self.scorers()} "
                f"{self.judge_flags()} --out {self.A}/continuous/{model}")

    def compositional_command(self, model: str) -> str:
        sec = self.an["compositional"]
        sent = self.sections.get("sentiment", {}).get("scorers") or ["sst-tfidf"]
        return (f"python -m lmsteer analyze compose --model {self.model_arg(model)} "
                f"--steer {self.steer_dir(model)} --steer2 {self.steer_dir(model, 'sentiment')} "
                f"{flags(sec, 'values', 'values2')} "
                f"{self.gen_flags(model, 'compositional')} "
                f"--scorers {' '.join(self.config['scorers'] + self.sections.get('sentiment', {}).get('scorers', []))} "
                f"--heatmaps mean_toxicity/{self.config['scorers'][0]} positivity/{sent[0]} "
                f"--out {self.A}/compositional/{model}")

    def transfer_dir(self, src: str, tgt: str) -> str:
        return f"{self.A}/transfer/{src}-to-{tgt}"

    def transfer_fit_command(self, src: str, tgt: str) -> str:
        return (f"python -m lmsteer analyze transfer-fit --model {self.model_arg(src)} "
                f"--target {self.model_arg(tgt)} --steer {self.steer_dir(src)} "
                f"--seed {self.seed} {self.online} --out {self.transfer_dir(src, tgt)}/steer")

    def transfer_generate_command(self, src: str, tgt: str, pset: str) -> str:
        """The transferred steer on the target LM, with its Table 1 run's prompts and seed."""
        d = self.transfer_dir(src, tgt)
        return self.generate_command("detox", tgt, STEER, pset, artifact=f"{d}/steer",
                                     out=f"{d}/{pset}")

    def transfer_generate_inputs(self, src: str, tgt: str, pset: str) -> list[str]:
        """The prompts, the target LM, and the selection its steer's strength comes from."""
        return ([f"resources/data/{pset}"] + self.model_ready(tgt)
                + self.chosen_input("detox", tgt, STEER, pset))

    def transfer_score_command(self, src: str, tgt: str, pset: str) -> str:
        d = f"{self.transfer_dir(src, tgt)}/{pset}"
        return (f"python -m lmsteer score --generations {d}/generations.jsonl "
                f"{self.scorer_flags('detox')} --task detox --prompt-set {pset} "
                f"--model-info {d}/model.json --seed {self.seed} {self.online} --out-dir {d}")

    def transfer_table_inputs(self, src: str, tgt: str) -> dict[str, str]:
        ps = self.transfer_pset()
        return {"original": f"{self.run_dir('detox', tgt, 'original', ps)}/record.json",
                "native": f"{self.run_dir('detox', tgt, STEER, ps)}/record.json",
                "transferred": f"{self.transfer_dir(src, tgt)}/{ps}/record.json",
                "src_original": f"{self.run_dir('detox', src, 'original', ps)}/record.json",
                "src_steer": f"{self.run_dir('detox', src, STEER, ps)}/record.json"}

    def transfer_table_command(self, src: str, tgt: str) -> str:
        i, d = self.transfer_table_inputs(src, tgt), self.transfer_dir(src, tgt)
        return (f"python -m lmsteer analyze transfer-table --original {i['original']} "
                f"--native {i['native']} --transferred {i['transferred']} "
                f"--source-original {i['src_original']} --source-steer {i['src_steer']} "
                f"--transfer-dir {d}/steer --out {d}")

    def data_efficiency_command(self, model: str) -> str:
        sec, train = self.an["data_efficiency"], self.sections["detox"]["train"]
        params = {**self.train_params("detox", model, STEER), **sec.get("train_params", {})}
        return (f"python -m lmsteer analyze data-size --model {self.model_arg(model)} "
                f"{flags(sec, 'sizes', 'seeds')} "
                f"--strength {self.strength('detox', model, STEER)} {param_flags(params)} "
                f"{self.gen_flags(model, 'data_efficiency')} "
                f"--sources {' '.join(train['sources'])} --per-class {train['per_class']} "
                f"--scorers {self.scorers()} {self.judge_flags()} "
                f"--out {self.A}/data_efficiency/{model}")

    def highlighting_command(self, model: str) -> str:
        train = self.sections["detox"]["train"]
        sec = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in
                       sorted(self.an["highlighting"].items()) if k != "models")
        return (f"python -m lmsteer analyze highlight --model {self.model_arg(model)} "
                f"--steer {self.steer_dir(model)} --value {-self.strength('detox', model, STEER)} "
                f"{sec} --sources {' '.join(train['sources'])} --per-class {train['per_class']} "
                f"--seed {self.seed} {self.online} --out {self.A}/highlighting/{model}")

    def probing_command(self, model: str) -> str:
        sec = " ".join(f"--{k} {v}" for k, v in sorted(self.an["probing"].items())
                       if k != "models")
        return (f"python -m lmsteer analyze probe --model {self.model_arg(model)} "
                f"--steer {self.steer_dir(model)} {sec} {self.online} "
                f"--out {self.A}/probing/{model}")

    # ------------------------------------------------------------------ efficiency
    def efficiency_files(self) -> list[str]:
        """bench_methods' JSON per backbone, when the config asks for the efficiency table."""
        return ([f"{self.R}/bench/methods-{m}.json" for m in self.models]
                if self.config.get("efficiency") else [])

    def efficiency_inputs(self, model: str) -> list[str]:
        return ([a for m in self.methods_of("detox", model) for a in self.artifact("detox", model, m)]
                + self.model_ready(model) + ["resources/data/rtp-challenging"])

    def efficiency_command(self, model: str, out: str) -> str:
        """Every detox method's generation time against the plain LM, in one process."""
        flags = [f"--prompts {self.prompts_file('detox', 'rtp-challenging')}"]
        flags += [f"--{k.replace('_', '-')} {v}"
                  for k, v in sorted(self.config["efficiency"].items())]
        for meth in self.methods_of("detox", model):
            if meth == "original":
                continue
            art = self.artifact_dir("detox", model, meth)
            flags.append(f"--method {meth}={art}" if art else f"--method {meth}")
            flags.append(f"--strength {meth}={self.strength('detox', model, meth)}")
            flags.append(param_flags(self.methods("detox")[meth].get("params", {}),
                                     prefix=f"{meth}:"))
        return (f"python bench/bench_methods.py --model {self.model_arg(model)} "
                f"{' '.join(x for x in flags if x)} "
                f"{'--offline' if not self.online else '--no-offline'} --out {out}")

