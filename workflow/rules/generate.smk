# Sample continuations for every backbone x method x prompt set: one job per run, or one job per
# shard of its prompts when `sharding.prompts_per_shard` is set (merged in score.smk).


wildcard_constraints:
    model="[A-Za-z0-9][A-Za-z0-9._-]*",
    method="[A-Za-z0-9][A-Za-z0-9._-]*",
    pset="[^/]+",
    shard=r"\d+",


GEN_SHELL = (
    "python -m lmsteer generate {params.model} --method {wildcards.method} "
    "{params.artifact} {params.mparams} --prompts {params.prompts} --prompt-set {wildcards.pset} "
    "--n-prompts {params.n} --strength {params.strength} "
    f"--samples {GEN.get('samples', 25)} --max-new-tokens {GEN.get('max_new_tokens', 20)} "
    f"--top-p {GEN.get('top_p', 0.9)} --batch-size {{params.bs}} --seed {SEED} {ONLINE} "
)
GEN_INPUT = dict(
    data=lambda w: f"resources/data/{w.pset}",
    model=lambda w: model_ready(w.model),
    artifact=method_artifact,
)
GEN_PARAMS = dict(
    model=gen_model(),
    prompts=lambda w: PROMPT_FILES[w.pset],
    artifact=artifact_flag,
    mparams=method_params,
    strength=lambda w: strength(w.model, w.method),
    n=lambda w: detox_n_prompts(w.model, w.pset, w.method),
    bs=lambda w: gen_batch_size(w.model, w.method, GEN, DETOX["methods"]),
)
GEN_RESOURCES = job_resources(methods=DETOX["methods"])

if not SHARD:

    rule generate_detox:
        input:
            **GEN_INPUT,
        output:
            gens=f"{RUNS}/detox/{{model}}/{{method}}/{{pset}}/generations.jsonl",
            info=f"{RUNS}/detox/{{model}}/{{method}}/{{pset}}/model.json",
        params:
            **GEN_PARAMS,
        priority: run_priority
        resources:
            **GEN_RESOURCES,
        conda:
            "../../envs/lmsteer.yaml"
        log:
            f"{R}/logs/generate/{{model}}/{{method}}/{{pset}}.log",
        benchmark:
            f"{R}/benchmarks/generate/{{model}}/{{method}}/{{pset}}.tsv"
        threads: JOB_THREADS
        shell:
            f"{GEN_SHELL}--out {{output.gens}} --info-out {{output.info}} > {{log}} 2>&1"

else:

    rule generate_detox_shard:
        input:
            **GEN_INPUT,
        output:
            gens=f"{RUNS}/detox/{{model}}/{{method}}/{{pset}}/shards/{{shard}}/generations.jsonl",
            info=f"{RUNS}/detox/{{model}}/{{method}}/{{pset}}/shards/{{shard}}/model.json",
        params:
            **GEN_PARAMS,
        priority: run_priority
        resources:
            **GEN_RESOURCES,
        conda:
            "../../envs/lmsteer.yaml"
        log:
            f"{R}/logs/generate/{{model}}/{{method}}/{{pset}}/shard-{{shard}}.log",
        benchmark:
            f"{R}/benchmarks/generate/{{model}}/{{method}}/{{pset}}/shard-{{shard}}.tsv"
        threads: JOB_THREADS
        shell:
            f"{GEN_SHELL}--shard {{wildcards.shard}} --prompts-per-shard {SHARD} "
            "--out {output.gens} --info-out {output.info} > {log} 2>&1"
