# Score a run: toxicity or sentiment (each scorer), perplexity under the judge, dist-n ->
# record.json. Sharded detox runs: each shard's per-sample scores, then one aggregation job
# merges them into the run folder and computes the record.


rule score:
    input:
        job(PLAN.score_inputs),
    output:
        record=f"{RUNS}/{{task}}/{{model}}/{{method}}/{{unit}}/record.json",
        scores=f"{RUNS}/{{task}}/{{model}}/{{method}}/{{unit}}/scores.jsonl",
    params:
        cmd=job(PLAN.score_command),
    priority: job(PLAN.priority)
    resources:
        **resources(judged=True),
    conda:
        "../../envs/lmsteer.yaml"
    log:
        f"{R}/logs/score/{{task}}/{{model}}/{{method}}/{{unit}}.log",
    benchmark:
        f"{R}/benchmarks/score/{{task}}/{{model}}/{{method}}/{{unit}}.tsv"
    threads: JOB_THREADS
    shell:
        "{params.cmd} > {log} 2>&1"


if PLAN.shard_size:

    ruleorder: aggregate > score

    rule score_shard:
        input:
            lambda w: [f"{RUNS}/detox/{w.model}/{w.method}/{w.part}/{f}"
                       for f in ("generations.jsonl", "model.json")] + PLAN.model_ready(PLAN.judge),
        output:
            scores=f"{RUNS}/detox/{{model}}/{{method}}/{{part}}/scores.jsonl",
            scorers=f"{RUNS}/detox/{{model}}/{{method}}/{{part}}/scorers.json",
        wildcard_constraints:
            part=r"[^/]+/shards/\d+",
        params:
            cmd=lambda w: PLAN.score_shard_command(w.model, w.method, w.part),
        priority: lambda w: PLAN.priority("detox", w.model, w.method, w.part.split("/")[0])
        resources:
            **resources(judged=True),
        conda:
            "../../envs/lmsteer.yaml"
        log:
            f"{R}/logs/score/detox/{{model}}/{{method}}/{{part}}.log",
        benchmark:
            f"{R}/benchmarks/score/detox/{{model}}/{{method}}/{{part}}.tsv"
        threads: JOB_THREADS
        shell:
            "{params.cmd} > {log} 2>&1"

    rule aggregate:
        """Merge a run's shards into its run folder and compute the record (no model)."""
        input:
            lambda w: [f"{d}/{f}" for d in PLAN.shard_dirs(w.model, w.method, w.unit)
                       for f in ("generations.jsonl", "model.json", "scores.jsonl",
                                 "scorers.json")],
        output:
            record=f"{RUNS}/detox/{{model}}/{{method}}/{{unit}}/record.json",
            scores=f"{RUNS}/detox/{{model}}/{{method}}/{{unit}}/scores.jsonl",
            gens=f"{RUNS}/detox/{{model}}/{{method}}/{{unit}}/generations.jsonl",
            info=f"{RUNS}/detox/{{model}}/{{method}}/{{unit}}/model.json",
        params:
            cmd=lambda w: PLAN.aggregate_command(w.model, w.method, w.unit),
        conda:
            "../../envs/lmsteer.yaml"
        log:
            f"{R}/logs/aggregate/{{model}}/{{method}}/{{unit}}.log",
        benchmark:
            f"{R}/benchmarks/aggregate/{{model}}/{{method}}/{{unit}}.tsv"
        resources:
            gpu=0,
            mem_mb=8000,
            runtime=30,
        shell:
            "{params.cmd} > {log} 2>&1"
