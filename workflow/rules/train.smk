# Train a detoxification steer per backbone (hidden states cached inside the job), and every
# baseline marked ``train: true`` (its fit() writes its artifacts into trained/).


rule train_detox:
    input:
        data=expand("resources/data/{d}", d=DETOX["train"]["sources"]),
        model=lambda w: model_ready(w.model),
    output:
        steer=f"{RUNS}/detox/{{model}}/lm_steer/steer/steer.safetensors",
        log_json=f"{RUNS}/detox/{{model}}/lm_steer/steer/train_log.json",
    params:
        src=src(),
        out=lambda w, output: os.path.dirname(output.steer),
        sources=" ".join(DETOX["train"]["sources"]),
        per_class=DETOX["train"]["per_class"],
        extra=train_params,
    conda:
        "../../envs/lmsteer.yaml"
    log:
        f"{R}/logs/train/{{model}}.log",
    benchmark:
        f"{R}/benchmarks/train/{{model}}.tsv"
    threads: JOB_THREADS
    # the longest job of the spine, and its steered runs wait for it: started as soon as its
    # inputs exist, the original LM's jobs run beside it instead of before it (run_priority)
    priority: 2
    resources:
        **job_resources(),
    shell:
        "python -m lmsteer train --model {params.src} --method lm_steer "
        "--sources {params.sources} --per-class {params.per_class} {params.extra} "
        f"--seed {SEED} {ONLINE} --out {{params.out}} > {{log}} 2>&1"


rule train_detox_method:
    input:
        data=expand("resources/data/{d}", d=DETOX["train"]["sources"]),
        model=lambda w: model_ready(w.model),
    output:
        f"{RUNS}/detox/{{model}}/{{method}}/trained/method.json",
    wildcard_constraints:
        method="(?!lm_steer$)[A-Za-z0-9_]+",
    params:
        src=src(),
        out=lambda w, output: os.path.dirname(output[0]),
        sources=" ".join(DETOX["train"]["sources"]),
        per_class=DETOX["train"]["per_class"],
        mparams=method_params,
    conda:
        "../../envs/lmsteer.yaml"
    log:
        f"{R}/logs/train/{{model}}/{{method}}.log",
    benchmark:
        f"{R}/benchmarks/train/{{model}}/{{method}}.tsv"
    threads: JOB_THREADS
    resources:
        **job_resources(),
    shell:
        "python -m lmsteer train --model {params.src} --method {wildcards.method} "
        "--sources {params.sources} --per-class {params.per_class} {params.mparams} "
        f"--seed {SEED} {ONLINE} --out {{params.out}} > {{log}} 2>&1"
