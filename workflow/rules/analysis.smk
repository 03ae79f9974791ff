# The paper's analyses: thin shells over `python -m lmsteer analyze ...` (commands:
# lmsteer/plan_analysis.py), each writing results/analysis/<analysis>/<model>.{json,md,png}.
# Settings: config `analysis`. They read the detox steer (and, compositional, the sentiment one).


JUDGE_READY = PLAN.model_ready(PLAN.judge)
TRAIN_DATA = [f"resources/data/{d}" for d in config["detox"]["train"]["sources"]]

# name -> (command, inputs, outputs, whether it loads the judge)
ANALYSES = {
    "continuous": (PLAN.continuous_command, lambda w: steered("detox")(w) + JUDGE_READY,
                   outputs("continuous"), True),
    "compositional": (PLAN.compositional_command, steered("detox", "sentiment"),
                      outputs("compositional"), True),
    "data_efficiency": (PLAN.data_efficiency_command,
                        lambda w: TRAIN_DATA + PLAN.model_ready(w.model) + JUDGE_READY,
                        outputs("data_efficiency"), True),
    "highlighting": (PLAN.highlighting_command, lambda w: steered("detox")(w) + TRAIN_DATA,
                     outputs("highlighting", "html"), False),
    "probing": (PLAN.probing_command, steered("detox"), outputs("probing", None), False),
}

for _name, (_cmd, _inputs, _outputs, _judged) in ANALYSES.items():

    rule:
        name:
            f"analysis_{_name}"
        input:
            _inputs,
        output:
            _outputs,
        params:
            cmd=per_model(_cmd),
        conda:
            "../../envs/lmsteer.yaml"
        log:
            f"{R}/logs/analysis/{_name}/{{model}}.log",
        benchmark:
            f"{R}/benchmarks/analysis/{_name}/{{model}}.tsv"
        threads: JOB_THREADS
        resources:
            **resources(judged=_judged),
        shell:
            "{params.cmd} > {log} 2>&1"


rule transfer_fit:
    input:
        lambda w: [PLAN.steer_file(w.src)] + PLAN.model_ready(w.src) + PLAN.model_ready(w.tgt),
    output:
        steer=f"{A}/transfer/{{src}}-to-{{tgt}}/steer/steer.safetensors",
        info=f"{A}/transfer/{{src}}-to-{{tgt}}/steer/transfer.json",
    params:
        cmd=pair(PLAN.transfer_fit_command),
    conda:
        "../../envs/lmsteer.yaml"
    log:
        f"{R}/logs/analysis/transfer/{{src}}-to-{{tgt}}.log",
    benchmark:
        f"{R}/benchmarks/analysis/transfer_fit/{{src}}-to-{{tgt}}.tsv"
    threads: JOB_THREADS
    resources:
        **resources("tgt"),
    shell:
        "{params.cmd} > {log} 2>&1"


rule transfer_generate:
    """The transferred steer on the target LM, with the prompts and seed of its Table 1 runs."""
    input:
        rules.transfer_fit.output.steer,
        pair(PLAN.transfer_generate_inputs, "pset"),
    output:
        gens=f"{A}/transfer/{{src}}-to-{{tgt}}/{{pset}}/generations.jsonl",
        info=f"{A}/transfer/{{src}}-to-{{tgt}}/{{pset}}/model.json",
    params:
        cmd=pair(PLAN.transfer_generate_command, "pset"),
    conda:
        "../../envs/lmsteer.yaml"
    log:
        f"{R}/logs/analysis/transfer/{{src}}-to-{{tgt}}/{{pset}}-generate.log",
    benchmark:
        f"{R}/benchmarks/analysis/transfer_generate/{{src}}-to-{{tgt}}/{{pset}}.tsv"
    threads: JOB_THREADS
    resources:
        **resources("tgt"),
    shell:
        "{params.cmd} > {log} 2>&1"


rule transfer_score:
    input:
        rules.transfer_generate.output,
        JUDGE_READY,
    output:
        record=f"{A}/transfer/{{src}}-to-{{tgt}}/{{pset}}/record.json",
    params:
        cmd=pair(PLAN.transfer_score_command, "pset"),
    conda:
        "../../envs/lmsteer.yaml"
    log:
        f"{R}/logs/analysis/transfer/{{src}}-to-{{tgt}}/{{pset}}-score.log",
    benchmark:
        f"{R}/benchmarks/analysis/transfer_score/{{src}}-to-{{tgt}}/{{pset}}.tsv"
    threads: JOB_THREADS
    resources:
        **resources("tgt", judged=True),
    shell:
        "{params.cmd} > {log} 2>&1"


localrules:
    analysis_holistic,
    transfer_table,


rule transfer_table:
    input:
        unpack(lambda w: PLAN.transfer_table_inputs(w.src, w.tgt)),
        info=rules.transfer_fit.output.info,
    output:
        f"{A}/transfer/{{src}}-to-{{tgt}}.json",
        f"{A}/transfer/{{src}}-to-{{tgt}}.md",
        report(f"{A}/transfer/{{src}}-to-{{tgt}}.png", caption="../report/analysis.rst",
               category="Analyses"),
    params:
        cmd=pair(PLAN.transfer_table_command),
    conda:
        "../../envs/lmsteer.yaml"
    log:
        f"{R}/logs/analysis/transfer/{{src}}-to-{{tgt}}-table.log",
    shell:
        "{params.cmd} > {log} 2>&1"


rule analysis_holistic:
    input:
        PLAN.records("detox"),
    output:
        f"{A}/holistic.json",
        f"{A}/holistic.md",
        report(f"{A}/holistic.png", caption="../report/analysis.rst", category="Analyses"),
    conda:
        "../../envs/lmsteer.yaml"
    log:
        f"{R}/logs/analysis/holistic.log",
    shell:
        f"python -m lmsteer analyze holistic --records {RUNS}/detox --out {A}/holistic "
        "> {log} 2>&1"
