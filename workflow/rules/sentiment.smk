# Sentiment control (Table 2): a steer trained on SST-5 (labels -> values in [-1, 1]), pushed
# +k from neutral and negative prompts and -k from neutral and positive prompts.


wildcard_constraints:
    target="positive|negative|none",
    kind="positive|neutral|negative",


rule train_sentiment:
    input:
        data="resources/data/sst5",
        model=lambda w: model_ready(w.model),
    output:
        steer=f"{RUNS}/sentiment/{{model}}/lm_steer/steer/steer.safetensors",
        log_json=f"{RUNS}/sentiment/{{model}}/lm_steer/steer/train_log.json",
    params:
        src=src(),
        out=lambda w, output: os.path.dirname(output.steer),
        per_class=lambda w: SENT["train"]["per_class"],
        extra=sent_train_params,
    conda:
        "../../envs/lmsteer.yaml"
    log:
        f"{R}/logs/train_sentiment/{{model}}.log",
    benchmark:
        f"{R}/benchmarks/train_sentiment/{{model}}.tsv"
    threads: JOB_THREADS
    resources:
        **job_resources(),
    shell:
        "python -m lmsteer train --task sentiment --model {params.src} --method lm_steer "
        "--per-class {params.per_class} {params.extra} "
        f"--seed {SEED} {ONLINE} --out {{params.out}} > {{log}} 2>&1"


rule train_sentiment_method:
    input:
        data="resources/data/sst5",
        model=lambda w: model_ready(w.model),
    output:
        f"{RUNS}/sentiment/{{model}}/{{method}}/trained/method.json",
    wildcard_constraints:
        method="(?!lm_steer$)[A-Za-z0-9_]+",
    params:
        src=src(),
        out=lambda w, output: os.path.dirname(output[0]),
        per_class=lambda w: SENT["train"]["per_class"],
        mparams=sent_method_params,
    conda:
        "../../envs/lmsteer.yaml"
    log:
        f"{R}/logs/train_sentiment/{{model}}/{{method}}.log",
    benchmark:
        f"{R}/benchmarks/train_sentiment/{{model}}/{{method}}.tsv"
    threads: JOB_THREADS
    resources:
        **job_resources(),
    shell:
        "python -m lmsteer train --task sentiment --model {params.src} "
        "--method {wildcards.method} --per-class {params.per_class} {params.mparams} "
        f"--seed {SEED} {ONLINE} --out {{params.out}} > {{log}} 2>&1"


rule generate_sentiment:
    input:
        data="resources/data/sentiment-prompts",
        model=lambda w: model_ready(w.model),
        artifact=sent_artifact,
    output:
        gens=f"{RUNS}/sentiment/{{model}}/{{method}}/{{target}}/{{kind}}/generations.jsonl",
        info=f"{RUNS}/sentiment/{{model}}/{{method}}/{{target}}/{{kind}}/model.json",
    params:
        model=gen_model(),
        prompts=lambda w: SENT_PROMPT_FILES[w.kind],
        artifact=sent_artifact_flag,
        mparams=sent_method_params,
        strength=lambda w: sent_strength(w.model, w.method, w.target),
        n=lambda w: sent_n_prompts(w.model, w.method),
        bs=lambda w: gen_batch_size(w.model, w.method, SENT_GEN, SENT["methods"]),
    conda:
        "../../envs/lmsteer.yaml"
    log:
        f"{R}/logs/generate_sentiment/{{model}}/{{method}}/{{target}}/{{kind}}.log",
    benchmark:
        f"{R}/benchmarks/generate_sentiment/{{model}}/{{method}}/{{target}}/{{kind}}.tsv"
    threads: JOB_THREADS
    resources:
        **job_resources(methods=(SENT or {}).get("methods", {})),
    shell:
        "python -m lmsteer generate {params.model} --method {wildcards.method} "
        "{params.artifact} {params.mparams} --prompts {params.prompts} "
        "--prompt-set sentiment-{wildcards.kind} --n-prompts {params.n} "
        "--strength={params.strength} "
        f"--samples {SENT_GEN.get('samples', 25)} "
        f"--max-new-tokens {SENT_GEN.get('max_new_tokens', 20)} "
        f"--top-p {SENT_GEN.get('top_p', 0.9)} --batch-size {{params.bs}} --seed {SEED} {ONLINE} "
        "--out {output.gens} --info-out {output.info} > {log} 2>&1"


rule score_sentiment:
    input:
        gens=sent_generations,
        infos=lambda w: [g.replace("generations.jsonl", "model.json") for g in sent_generations(w)],
        sst="resources/data/sst5",
        judge=judge_ready,
    output:
        record=f"{RUNS}/sentiment/{{model}}/{{method}}/{{target}}/record.json",
        scores=f"{RUNS}/sentiment/{{model}}/{{method}}/{{target}}/scores.jsonl",
    params:
        out=lambda w, output: os.path.dirname(output.record),
        judge=JUDGE,
        scorers=" ".join((SENT or {}).get("scorers", [])),
        options=scorer_options_flag,
        run_config=lambda w: shlex_quote(sent_run_config(w)),
    conda:
        "../../envs/lmsteer.yaml"
    log:
        f"{R}/logs/score_sentiment/{{model}}/{{method}}/{{target}}.log",
    benchmark:
        f"{R}/benchmarks/score_sentiment/{{model}}/{{method}}/{{target}}.tsv"
    threads: JOB_THREADS
    resources:
        **job_resources(judged=True),
    shell:
        "python -m lmsteer score --generations {input.gens} --scorers {params.scorers} "
        "{params.options} {params.judge} --task sentiment "
        "--model-info {input.infos[0]} --run-config {params.run_config} "
        f"--seed {SEED} {ONLINE} --out-dir {{params.out}} > {{log}} 2>&1"


localrules:
    table2_sentiment,


rule table2_sentiment:
    input:
        sentiment_records(),
    output:
        md=report(f"{R}/tables/table2_sentiment.md", caption="../report/table2_sentiment.rst",
                  category="Tables"),
        csv=f"{R}/tables/table2_sentiment.csv",
        fig=report(f"{R}/figures/table2_sentiment.png", caption="../report/figure_sentiment.rst",
                   category="Figures"),
    conda:
        "../../envs/lmsteer.yaml"
    log:
        f"{R}/logs/table2_sentiment.log",
    benchmark:
        f"{R}/benchmarks/table2_sentiment/all.tsv"
    shell:
        f"python -m lmsteer table --records {RUNS}/sentiment --task sentiment "
        "--title 'Table 2: sentiment control' "
        "--out-md {output.md} --out-csv {output.csv} --figure {output.fig} > {log} 2>&1"
