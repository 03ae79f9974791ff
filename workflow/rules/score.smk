# Score generations: toxicity (each scorer), perplexity under the judge, dist-n -> record.json.


rule score_detox:
    input:
        gens=f"{RUNS}/detox/{{model}}/{{method}}/{{pset}}/generations.jsonl",
        info=f"{RUNS}/detox/{{model}}/{{method}}/{{pset}}/model.json",
        judge=judge_ready,
    output:
        record=f"{RUNS}/detox/{{model}}/{{method}}/{{pset}}/record.json",
        scores=f"{RUNS}/detox/{{model}}/{{method}}/{{pset}}/scores.jsonl",
    params:
        out=lambda w, output: os.path.dirname(output.record),
        judge=f"--judge {config['judge']} --judge-dtype {config.get('judge_dtype', 'float32')}"
        if config.get("judge")
        else "",
        scorers=" ".join(config["scorers"]),
        options=scorer_options_flag,
        run_config=lambda w: shlex_quote(run_config(w)),
    conda:
        "../../envs/lmsteer.yaml"
    log:
        f"{R}/logs/score/{{model}}/{{method}}/{{pset}}.log",
    benchmark:
        f"{R}/benchmarks/score/{{model}}/{{method}}/{{pset}}.tsv"
    threads: 2
    shell:
        "python -m lmsteer score --generations {input.gens} --scorers {params.scorers} "
        "{params.options} {params.judge} --task detox --prompt-set {wildcards.pset} "
        "--model-info {input.info} --run-config {params.run_config} "
        f"--seed {SEED} {ONLINE} --out-dir {{params.out}} > {{log}} 2>&1"
