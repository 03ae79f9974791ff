# A fair comparison (detox.selection): each swept method at every strength of its grid on
# validation prompts (none of the evaluation's); one selection per LM x prompt set x method by
# one rule (lowest mean toxicity within ppl_budget x the original's perplexity); the trade-off
# table and figure. Table 1's generation of a swept method reads its strength from the selection
# (lmsteer/plan_select.py); without detox.selection none of these rules has a job.


rule sweep:
    input:
        lambda w: PLAN.sweep_inputs(w.model, w.method, w.unit),
    output:
        f"{R}/selection/detox/sweeps/{{model}}/{{method}}/{{unit}}/sweep.json",
        f"{R}/selection/detox/sweeps/{{model}}/{{method}}/{{unit}}/generations.jsonl",
        f"{R}/selection/detox/sweeps/{{model}}/{{method}}/{{unit}}/scores.jsonl",
    params:
        cmd=lambda w: PLAN.sweep_command(w.model, w.method, w.unit),
    priority: 1  # Table 1's swept runs wait for the selection
    resources:
        **resources(judged=True),
    conda:
        "../../envs/lmsteer.yaml"
    log:
        f"{R}/logs/sweep/{{model}}/{{method}}/{{unit}}.log",
    benchmark:
        f"{R}/benchmarks/sweep/{{model}}/{{method}}/{{unit}}.tsv"
    threads: JOB_THREADS
    shell:
        "{params.cmd} > {log} 2>&1"


localrules:
    select,
    tradeoff,


rule select:
    input:
        lambda w: PLAN.sweep_files(w.model, w.unit, w.method),
    output:
        f"{R}/selection/detox/{{model}}/{{unit}}/{{method}}.json",
    params:
        cmd=lambda w: PLAN.select_command(w.model, w.unit, w.method),
    priority: 1
    conda:
        "../../envs/lmsteer.yaml"
    log:
        f"{R}/logs/select/{{model}}/{{unit}}/{{method}}.log",
    shell:
        "{params.cmd} > {log} 2>&1"


rule tradeoff:
    input:
        PLAN.selection_files(),
    output:
        PLAN.tradeoff_outputs() or [f"{R}/tables/tradeoff_detox.md"],
    params:
        cmd=PLAN.tradeoff_command() if PLAN.selection_units() else "",
    conda:
        "../../envs/lmsteer.yaml"
    log:
        f"{R}/logs/tradeoff.log",
    shell:
        "{params.cmd} > {log} 2>&1"
