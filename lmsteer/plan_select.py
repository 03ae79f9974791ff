"""The plan's strength selection (``detox.selection``): validation sweeps, one selection per LM x
prompt set, the trade-off table and figure; Table 1's runs of swept methods then read their
strength from the selection (``generate --strength-from``). A mixin of :class:`lmsteer.plan.Plan`.
"""
from __future__ import annotations

import json
import logging
from typing import Any

from .shell import param_flags, q

ORIGINAL = "original"
log = logging.getLogger(__name__)


class SelectionPlan:
    """Selection jobs; uses the :class:`~lmsteer.plan.Plan` it is mixed into (methods,
    models, settings and the generation command's pieces)."""

    # ------------------------------------------------------------------ settings
    def _init_selection(self) -> None:
        """Resolve ``detox.selection`` once (the plan's ``__init__``): none when the config has
        no ``judge``, since the budget is a perplexity ratio."""
        self._selection = self.sections["detox"].get("selection")
        if self._selection is not None and not self.judge:
            log.warning("judge: null -- no perplexity, so no strength selection "
                        "(detox.selection); every method runs at its fixed strength")
            self._selection = None

    def selection(self) -> dict[str, Any] | None:
        """``detox.selection``, or None (every method at its fixed strength)."""
        return self._selection

    def swept(self, task: str, model: str, method: str) -> bool:
        """Whether a run's strength comes from the validation selection."""
        return (task == "detox" and self.selection() is not None
                and bool(self.methods(task)[method].get("sweep"))
                and model in self.method_models(task, method))

    def sweep_spec(self, method: str, model: str) -> tuple[list[float], int, int]:
        """(values, validation prompts, samples) of a method's sweep on ``model``; the
        original's: (0,). A sweep's n_prompts / samples may be one number or model -> number."""
        sel = self.selection() or {}
        if method == ORIGINAL:
            return [0.0], sel["n_prompts"], sel["samples"]
        spec = self.methods("detox")[method]["sweep"]
        spec = spec if isinstance(spec, dict) else {"values": spec}
        n = self.own_setting(spec, "n_prompts", model)
        samples = self.own_setting(spec, "samples", model)
        return (list(spec["values"]), sel["n_prompts"] if n is None else n,
                sel["samples"] if samples is None else samples)

    def swept_methods(self, model: str) -> list[str]:
        return [m for m in self.methods("detox")
                if self.swept("detox", model, m)]

    def selection_units(self) -> list[tuple[str, str, str]]:
        """(model, prompt set, method) of every selection: each swept method's own, so that a
        run waits only for its method's sweep and the original's (the spine for LM-Steer's)."""
        return [(m, ps, meth) for m in self.models
                for ps in self.sections["detox"]["prompt_sets"] for meth in self.swept_methods(m)]

    def scorer(self) -> str:
        sel = self.selection() or {}
        return sel.get("scorer") or self.config["scorers"][0]

    def eval_sizes(self, pset: str) -> list[int]:
        """Every sample size the evaluation draws from ``pset`` (all models and methods): the
        validation draw removes all of their prompts."""
        return sorted({self.n_prompts("detox", m, meth, pset)
                       for meth in self.methods("detox")
                       for m in self.method_models("detox", meth)})

    # ------------------------------------------------------------------ paths
    def sweep_dir(self, model: str, method: str, pset: str) -> str:
        return f"{self.R}/selection/detox/sweeps/{model}/{method}/{pset}"

    def selection_file(self, model: str, pset: str, method: str) -> str:
        return f"{self.R}/selection/detox/{model}/{pset}/{method}.json"

    def chosen_input(self, task: str, model: str, method: str, unit: str) -> list[str]:
        """The selection file a run's generation reads its strength from (or nothing)."""
        return ([self.selection_file(model, unit, method)] if self.swept(task, model, method)
                else [])

    def sweep_files(self, model: str, pset: str, method: str) -> list[str]:
        """The sweeps one selection reads: the original's and the method's."""
        return [f"{self.sweep_dir(model, m, pset)}/sweep.json" for m in (ORIGINAL, method)]

    def selection_files(self) -> list[str]:
        return [self.selection_file(*u) for u in self.selection_units()]

    def tradeoff_outputs(self) -> list[str]:
        if not self.selection_units():
            return []
        return [f"{self.R}/tables/tradeoff_detox.md", f"{self.R}/tables/tradeoff_detox.csv",
                f"{self.R}/figures/tradeoff_detox.png"]

    # ------------------------------------------------------------------ commands
    def sweep_command(self, model: str, method: str, pset: str) -> str:
        values, n, samples = self.sweep_spec(method, model)
        gen = self.gen["detox"]
        art = self.artifact_dir("detox", model, method)
        params = (self.methods("detox")[method].get("params", {})
                  if method in self.methods("detox") else {})
        opts = self.config.get("scorer_options") or {}
        return (f"python -m lmsteer sweep {self.model_flags(model)} "
                f"--method {method} {f'--artifact {art} ' if art else ''}{param_flags(params)} "
                f"--prompts {self.prompts_file('detox', pset)} "
                f"--prompt-set {pset} --exclude-n {' '.join(map(str, self.eval_sizes(pset)))} "
                f"--n-prompts {n} --values {' '.join(f'{v:g}' for v in values)} "
                f"--samples {samples} --max-new-tokens {gen['max_new_tokens']} "
                f"--top-p {gen['top_p']} "
                f"--batch-size {self.batch_size('detox', model, method)} "
                f"--scorers {self.scorer()} "
                + (f"--scorer-options {q(json.dumps(opts))} " if opts else "")
                + f"{self.judge_flags()} --seed {self.seed} {self.online} "
                f"--out-dir {self.sweep_dir(model, method, pset)}")

    def sweep_inputs(self, model: str, method: str, pset: str) -> list[str]:
        return ([f"resources/data/{pset}"] + self.model_ready(model)
                + self.artifact("detox", model, method) + self.model_ready(self.judge))

    def select_command(self, model: str, pset: str, method: str) -> str:
        sel = self.selection() or {}
        return (f"python -m lmsteer select "
                f"--sweeps {' '.join(self.sweep_files(model, pset, method))} "
                f"--ppl-budget {sel['ppl_budget']} --scorer {self.scorer()} "
                f"--out {self.selection_file(model, pset, method)}")

    def tradeoff_command(self) -> str:
        md, csv, png = self.tradeoff_outputs()
        return (f"python -m lmsteer tradeoff --selections {' '.join(self.selection_files())} "
                f"--out-md {md} --out-csv {csv} --out-png {png}")

    def strength_choice(self, task: str, model: str, method: str) -> dict[str, Any] | None:
        """How a run's strength is chosen, for its record (None: the config's fixed value)."""
        if not self.swept(task, model, method):
            return None
        sel = self.selection() or {}
        values, n, samples = self.sweep_spec(method, model)
        return {"how": "validation", "ppl_budget": sel["ppl_budget"], "scorer": self.scorer(),
                "grid": values, "validation_prompts": n, "samples": samples}
