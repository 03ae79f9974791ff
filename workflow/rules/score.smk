# Score generations: toxicity (each scorer), perplexity under the judge, dist-n -> record.json.
# Sharded runs: each shard's per-sample scores, then one aggregation job computes the record.

SCORE_INPUT = dict(judge=judge_ready)
SCORE_PARAMS = dict(
    judge=JUDGE,
    scorers=" ".join(config["scorers"]),
    options=scorer_options_flag,
)
SCORE_SHELL = (
    "python -m lmsteer score --generations {input.gens} --scorers {params.scorers} "
    "{params.options} {params.judge} --task detox --prompt-set {wildcards.pset} "
)
SCORE_RESOURCES = job_resources(judged=True)

if not SHARD:

    rule score_detox:
        input:
            gens=f"{RUNS}/detox/{{model}}/{{method}}/{{pset}}/generations.jsonl",
            info=f"{RUNS}/detox/{{model}}/{{method}}/{{pset}}/model.json",
            **SCORE_INPUT,
        output:
            record=f"{RUNS}/detox/{{model}}/{{method}}/{{pset}}/record.json",
            scores=f"{RUNS}/detox/{{model}}/{{method}}/{{pset}}/scores.jsonl",
        params:
            out=lambda w, output: os.path.dirname(output.record),
            run_config=lambda w: shlex_quote(run_config(w)),
            **SCORE_PARAMS,
        priority: run_priority
        resources:
            **SCORE_RESOURCES,
        conda:
            "../../envs/lmsteer.yaml"
        log:
            f"{R}/logs/score/{{model}}/{{method}}/{{pset}}.log",
        benchmark:
            f"{R}/benchmarks/score/{{model}}/{{method}}/{{pset}}.tsv"
        threads: JOB_THREADS
        shell:
            f"{SCORE_SHELL}--model-info {{input.info}} --run-config {{params.run_config}} "
            f"--seed {SEED} {ONLINE} --out-dir {{params.out}} > {{log}} 2>&1"

else:
    SHARD_DIR = f"{RUNS}/detox/{{model}}/{{method}}/{{pset}}/shards/{{shard}}"

    rule score_detox_shard:
        input:
            gens=f"{SHARD_DIR}/generations.jsonl",
            info=f"{SHARD_DIR}/model.json",
            **SCORE_INPUT,
        output:
            scores=f"{SHARD_DIR}/scores.jsonl",
            scorers=f"{SHARD_DIR}/scorers.json",
        params:
            out=lambda w, output: os.path.dirname(output.scores),
            **SCORE_PARAMS,
        priority: run_priority
        resources:
            **SCORE_RESOURCES,
        conda:
            "../../envs/lmsteer.yaml"
        log:
            f"{R}/logs/score/{{model}}/{{method}}/{{pset}}/shard-{{shard}}.log",
        benchmark:
            f"{R}/benchmarks/score/{{model}}/{{method}}/{{pset}}/shard-{{shard}}.tsv"
        threads: JOB_THREADS
        shell:
            f"{SCORE_SHELL}--seed {SEED} {ONLINE} --scores-only --out-dir {{params.out}} > {{log}} 2>&1"

    rule aggregate_detox:
        """Merge a run's shards into its run folder and compute the record (no model)."""
        input:
            shard_files,
        output:
            record=f"{RUNS}/detox/{{model}}/{{method}}/{{pset}}/record.json",
            scores=f"{RUNS}/detox/{{model}}/{{method}}/{{pset}}/scores.jsonl",
            gens=f"{RUNS}/detox/{{model}}/{{method}}/{{pset}}/generations.jsonl",
            info=f"{RUNS}/detox/{{model}}/{{method}}/{{pset}}/model.json",
        params:
            shards=lambda w: " ".join(shard_dirs(w)),
            out=lambda w, output: os.path.dirname(output.record),
            run_config=lambda w: shlex_quote(run_config(w)),
        conda:
            "../../envs/lmsteer.yaml"
        log:
            f"{R}/logs/aggregate/{{model}}/{{method}}/{{pset}}.log",
        benchmark:
            f"{R}/benchmarks/aggregate/{{model}}/{{method}}/{{pset}}.tsv"
        resources:
            gpu=0,
            mem_mb=8000,
            runtime=30,
        shell:
            "python -m lmsteer aggregate --shards {params.shards} --task detox "
            "--prompt-set {wildcards.pset} --run-config {params.run_config} "
            f"--seed {SEED} --out-dir {{params.out}} > {{log}} 2>&1"
