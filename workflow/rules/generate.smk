# Sample continuations for every backbone x method x prompt set.


rule generate_detox:
    input:
        data=lambda w: f"resources/data/{w.pset}",
        model=lambda w: model_ready(w.model),
        artifact=method_artifact,
    output:
        gens=f"{RUNS}/detox/{{model}}/{{method}}/{{pset}}/generations.jsonl",
        info=f"{RUNS}/detox/{{model}}/{{method}}/{{pset}}/model.json",
    params:
        prompts=lambda w: PROMPT_FILES[w.pset],
        artifact=artifact_flag,
        mparams=method_params,
        strength=lambda w: strength(w.model, w.method),
        n=lambda w: detox_n_prompts(w.model, w.pset, w.method),
        bs=lambda w: gen_batch_size(w.model, w.method, GEN, DETOX["methods"]),
    conda:
        "../../envs/lmsteer.yaml"
    log:
        f"{R}/logs/generate/{{model}}/{{method}}/{{pset}}.log",
    benchmark:
        f"{R}/benchmarks/generate/{{model}}/{{method}}/{{pset}}.tsv"
    threads: 2
    shell:
        "python -m lmsteer generate --model {wildcards.model} --method {wildcards.method} "
        "{params.artifact} {params.mparams} --prompts {params.prompts} --prompt-set {wildcards.pset} "
        "--n-prompts {params.n} --strength {params.strength} "
        f"--samples {GEN.get('samples', 25)} --max-new-tokens {GEN.get('max_new_tokens', 20)} "
        f"--top-p {GEN.get('top_p', 0.9)} --batch-size {{params.bs}} --seed {SEED} {ONLINE} "
        "--out {output.gens} --info-out {output.info} > {log} 2>&1"
