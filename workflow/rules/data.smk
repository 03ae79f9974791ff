# Data sets (mirror or download, sha256-checked) and the one-time conversion of embedded LMs.


rule prepare_data:
    output:
        directory("resources/data/{dataset}"),
    params:
        cmd=lambda w: PLAN.prepare_data_command(w.dataset),
    conda:
        "../../envs/lmsteer.yaml"
    log:
        f"{R}/logs/prepare_data/{{dataset}}.log",
    benchmark:
        f"{R}/benchmarks/prepare_data/{{dataset}}.tsv"
    priority: 3  # seconds each, and every training and generation job waits for its data
    shell:
        "{params.cmd} > {log} 2>&1"


rule convert_model:
    output:
        "resources/models/{model}/config.json",
    conda:
        "../../envs/lmsteer.yaml"
    log:
        f"{R}/logs/convert_model/{{model}}.log",
    benchmark:
        f"{R}/benchmarks/convert_model/{{model}}.tsv"
    threads: JOB_THREADS
    priority: 3  # every job of its model waits for it
    shell:
        "python -m lmsteer convert-model --model {wildcards.model} > {log} 2>&1"
