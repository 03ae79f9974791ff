# The paper's analyses (issue 5): thin shells over `python -m lmsteer analyze ...`, each writing
# results/analysis/<analysis>/<model>.{json,md,png}. Settings: config `analysis`.


wildcard_constraints:
    src="[^/]+?",
    tgt="[^/]+",


rule analysis_continuous:
    input:
        steer=lambda w: steer_file(w.model),
        model=lambda w: model_ready(w.model),
        judge=judge_ready,
    output:
        f"{A}/continuous/{{model}}.json",
        f"{A}/continuous/{{model}}.md",
        report(f"{A}/continuous/{{model}}.png", caption="../report/analysis.rst",
               category="Analyses"),
    params:
        src=src(),
        gen=lambda w: gen_flags(w.model, AN["continuous"]),
        values=lambda w: nums(AN["continuous"].get("values", range(-5, 6))),
        steer=lambda w: steer_dir(w.model),
    conda:
        "../../envs/lmsteer.yaml"
    log:
        f"{R}/logs/analysis/continuous/{{model}}.log",
    benchmark:
        f"{R}/benchmarks/analysis/continuous/{{model}}.tsv"
    threads: JOB_THREADS
    resources:
        **job_resources(judged=True),
    shell:
        "python -m lmsteer analyze sweep --model {params.src} --steer {params.steer} "
        "--values {params.values} {params.gen} "
        f"--scorers {' '.join(config['scorers'])} {JUDGE} "
        f"--out {A}/continuous/{{wildcards.model}} > {{log}} 2>&1"


rule analysis_compositional:
    input:
        steer=lambda w: steer_file(w.model),
        steer2=lambda w: steer_file(w.model, "sentiment"),
        model=lambda w: model_ready(w.model),
    output:
        f"{A}/compositional/{{model}}.json",
        f"{A}/compositional/{{model}}.md",
        report(f"{A}/compositional/{{model}}.png", caption="../report/analysis.rst",
               category="Analyses"),
    params:
        src=src(),
        steer=lambda w: steer_dir(w.model),
        steer2=lambda w: steer_dir(w.model, "sentiment"),
        gen=lambda w: gen_flags(w.model, AN["compositional"]),
        values=nums(AN.get("compositional", {}).get("values", [-4, -2, 0, 2, 4])),
        values2=nums(AN.get("compositional", {}).get("values2", [-4, -2, 0, 2, 4])),
        scorers=" ".join(config["scorers"] + (SENT or {}).get("scorers", [])),
        heatmaps=f"mean_toxicity/{config['scorers'][0]} "
        f"positivity/{((SENT or {}).get('scorers') or ['sst-tfidf'])[0]}",
    conda:
        "../../envs/lmsteer.yaml"
    log:
        f"{R}/logs/analysis/compositional/{{model}}.log",
    benchmark:
        f"{R}/benchmarks/analysis/compositional/{{model}}.tsv"
    threads: JOB_THREADS
    resources:
        **job_resources(judged=True),
    shell:
        "python -m lmsteer analyze compose --model {params.src} --steer {params.steer} "
        "--steer2 {params.steer2} "
        "--values {params.values} --values2 {params.values2} {params.gen} "
        "--scorers {params.scorers} --heatmaps {params.heatmaps} "
        f"--out {A}/compositional/{{wildcards.model}} > {{log}} 2>&1"


rule transfer_fit:
    input:
        steer=lambda w: steer_file(w.src),
        models=lambda w: model_ready(w.src) + model_ready(w.tgt),
    output:
        steer=f"{A}/transfer/{{src}}-to-{{tgt}}/steer/steer.safetensors",
        info=f"{A}/transfer/{{src}}-to-{{tgt}}/steer/transfer.json",
    params:
        src=src("src"), tgt=src("tgt"),
        steer=lambda w: steer_dir(w.src),
        out=lambda w, output: os.path.dirname(output.steer),
    conda:
        "../../envs/lmsteer.yaml"
    log:
        f"{R}/logs/analysis/transfer/{{src}}-to-{{tgt}}.log",
    benchmark:
        f"{R}/benchmarks/analysis/transfer_fit/{{src}}-to-{{tgt}}.tsv"
    threads: JOB_THREADS
    resources:
        **job_resources("tgt"),
    shell:
        "python -m lmsteer analyze transfer-fit --model {params.src} --target {params.tgt} "
        f"--steer {{params.steer}} --seed {SEED} {ONLINE} --out {{params.out}} > {{log}} 2>&1"


rule transfer_generate:
    """The transferred steer on the target LM, with the prompts and seed of its Table 1 runs."""
    input:
        steer=rules.transfer_fit.output.steer,
        data=lambda w: f"resources/data/{w.pset}",
        model=lambda w: model_ready(w.tgt),
    output:
        gens=f"{A}/transfer/{{src}}-to-{{tgt}}/{{pset}}/generations.jsonl",
        info=f"{A}/transfer/{{src}}-to-{{tgt}}/{{pset}}/model.json",
    params:
        tgt_model=gen_model("tgt"),
        art=lambda w, input: os.path.dirname(input.steer),
        prompts=lambda w: PROMPT_FILES[w.pset],
        mparams=lambda w: param_flags(DETOX["methods"]["lm_steer"].get("params", {})),
        strength=lambda w: strength(w.tgt, "lm_steer"),
        n=lambda w: detox_n_prompts(w.tgt, w.pset, "lm_steer"),
        bs=lambda w: gen_batch_size(w.tgt, "lm_steer", GEN, DETOX["methods"]),
    conda:
        "../../envs/lmsteer.yaml"
    log:
        f"{R}/logs/analysis/transfer/{{src}}-to-{{tgt}}/{{pset}}-generate.log",
    benchmark:
        f"{R}/benchmarks/analysis/transfer_generate/{{src}}-to-{{tgt}}/{{pset}}.tsv"
    threads: JOB_THREADS
    resources:
        **job_resources("tgt"),
    shell:
        "python -m lmsteer generate {params.tgt_model} --method lm_steer "
        "--artifact {params.art} {params.mparams} --prompts {params.prompts} "
        "--prompt-set {wildcards.pset} --n-prompts {params.n} --strength {params.strength} "
        f"--samples {GEN.get('samples', 25)} --max-new-tokens {GEN.get('max_new_tokens', 20)} "
        f"--top-p {GEN.get('top_p', 0.9)} --batch-size {{params.bs}} --seed {SEED} {ONLINE} "
        "--out {output.gens} --info-out {output.info} > {log} 2>&1"


rule transfer_score:
    input:
        gens=rules.transfer_generate.output.gens,
        info=rules.transfer_generate.output.info,
        judge=judge_ready,
    output:
        record=f"{A}/transfer/{{src}}-to-{{tgt}}/{{pset}}/record.json",
    params:
        out=lambda w, output: os.path.dirname(output.record),
        options=scorer_options_flag,
    conda:
        "../../envs/lmsteer.yaml"
    log:
        f"{R}/logs/analysis/transfer/{{src}}-to-{{tgt}}/{{pset}}-score.log",
    benchmark:
        f"{R}/benchmarks/analysis/transfer_score/{{src}}-to-{{tgt}}/{{pset}}.tsv"
    threads: JOB_THREADS
    resources:
        **job_resources("tgt", judged=True),
    shell:
        "python -m lmsteer score --generations {input.gens} "
        f"--scorers {' '.join(config['scorers'])} {{params.options}} {JUDGE} --task detox "
        "--prompt-set {wildcards.pset} --model-info {input.info} "
        f"--seed {SEED} {ONLINE} --out-dir {{params.out}} > {{log}} 2>&1"


rule transfer_table:
    input:
        original=lambda w: f"{RUNS}/detox/{w.tgt}/original/{transfer_pset()}/record.json",
        native=lambda w: f"{RUNS}/detox/{w.tgt}/lm_steer/{transfer_pset()}/record.json",
        transferred=lambda w: f"{A}/transfer/{w.src}-to-{w.tgt}/{transfer_pset()}/record.json",
        src_original=lambda w: f"{RUNS}/detox/{w.src}/original/{transfer_pset()}/record.json",
        src_steer=lambda w: f"{RUNS}/detox/{w.src}/lm_steer/{transfer_pset()}/record.json",
        info=rules.transfer_fit.output.info,
    output:
        f"{A}/transfer/{{src}}-to-{{tgt}}.json",
        f"{A}/transfer/{{src}}-to-{{tgt}}.md",
        report(f"{A}/transfer/{{src}}-to-{{tgt}}.png", caption="../report/analysis.rst",
               category="Analyses"),
    conda:
        "../../envs/lmsteer.yaml"
    log:
        f"{R}/logs/analysis/transfer/{{src}}-to-{{tgt}}-table.log",
    shell:
        "python -m lmsteer analyze transfer-table --original {input.original} "
        "--native {input.native} --transferred {input.transferred} "
        "--source-original {input.src_original} --source-steer {input.src_steer} "
        f"--transfer-dir {A}/transfer/{{wildcards.src}}-to-{{wildcards.tgt}}/steer "
        f"--out {A}/transfer/{{wildcards.src}}-to-{{wildcards.tgt}} > {{log}} 2>&1"


rule analysis_data_efficiency:
    input:
        data=expand("resources/data/{d}", d=DETOX["train"]["sources"]),
        model=lambda w: model_ready(w.model),
        judge=judge_ready,
    output:
        f"{A}/data_efficiency/{{model}}.json",
        f"{A}/data_efficiency/{{model}}.md",
        report(f"{A}/data_efficiency/{{model}}.png", caption="../report/analysis.rst",
               category="Analyses"),
    params:
        src=src(),
        gen=lambda w: gen_flags(w.model, AN["data_efficiency"]),
        sizes=nums(AN.get("data_efficiency", {}).get("sizes", [30, 100, 300, 1000, 4000])),
        seeds=nums(AN.get("data_efficiency", {}).get("seeds", [0])),
        train=lambda w: param_flags({**resolved_train_params(w.model),
                                     **AN["data_efficiency"].get("train_params", {})}),
        strength=lambda w: strength(w.model, "lm_steer"),
    conda:
        "../../envs/lmsteer.yaml"
    log:
        f"{R}/logs/analysis/data_efficiency/{{model}}.log",
    benchmark:
        f"{R}/benchmarks/analysis/data_efficiency/{{model}}.tsv"
    threads: JOB_THREADS
    resources:
        **job_resources(judged=True),
    shell:
        "python -m lmsteer analyze data-size --model {params.src} --sizes {params.sizes} "
        "--seeds {params.seeds} --strength {params.strength} {params.train} {params.gen} "
        f"--sources {' '.join(DETOX['train']['sources'])} "
        f"--per-class {DETOX['train']['per_class']} "
        f"--scorers {' '.join(config['scorers'])} {JUDGE} "
        f"--out {A}/data_efficiency/{{wildcards.model}} > {{log}} 2>&1"


rule analysis_highlighting:
    input:
        steer=lambda w: steer_file(w.model),
        data=expand("resources/data/{d}", d=DETOX["train"]["sources"]),
        model=lambda w: model_ready(w.model),
    output:
        f"{A}/highlighting/{{model}}.json",
        f"{A}/highlighting/{{model}}.md",
        report(f"{A}/highlighting/{{model}}.html", caption="../report/analysis.rst",
               category="Analyses"),
    params:
        src=src(),
        steer=lambda w: steer_dir(w.model),
        value=lambda w: -strength(w.model, "lm_steer"),
        sec=lambda w: " ".join(f"--{k.replace('_', '-')} {v}" for k, v in sorted(
            AN["highlighting"].items()) if k != "models"),
    conda:
        "../../envs/lmsteer.yaml"
    log:
        f"{R}/logs/analysis/highlighting/{{model}}.log",
    threads: JOB_THREADS
    resources:
        **job_resources(),
    shell:
        "python -m lmsteer analyze highlight --model {params.src} --steer {params.steer} "
        "--value {params.value} {params.sec} "
        f"--sources {' '.join(DETOX['train']['sources'])} "
        f"--per-class {DETOX['train']['per_class']} --seed {SEED} {ONLINE} "
        f"--out {A}/highlighting/{{wildcards.model}} > {{log}} 2>&1"


rule analysis_probing:
    input:
        steer=lambda w: steer_file(w.model),
        model=lambda w: model_ready(w.model),
    output:
        [f"{A}/probing/{{model}}.{ext}" for ext in ("json", "md")],
    params:
        src=src(),
        steer=lambda w: steer_dir(w.model),
        sec=lambda w: " ".join(f"--{k} {v}" for k, v in sorted(AN["probing"].items())
                               if k != "models"),
    conda:
        "../../envs/lmsteer.yaml"
    log:
        f"{R}/logs/analysis/probing/{{model}}.log",
    resources:
        **job_resources(),
    shell:
        "python -m lmsteer analyze probe --model {params.src} --steer {params.steer} "
        f"{{params.sec}} {ONLINE} --out {A}/probing/{{wildcards.model}} > {{log}} 2>&1"


localrules:
    analysis_holistic,
    transfer_table,


rule analysis_holistic:
    input:
        all_records(),
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
