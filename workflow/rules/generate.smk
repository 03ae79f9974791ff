# Sample continuations: one job per generation part of a run -- a detox prompt set, one shard of
# it (`sharding.prompts_per_shard`), or one prompt kind of a sentiment target (PLAN.parts).


rule generate:
    input:
        lambda w: PLAN.generate_inputs(w.task, w.model, w.method, w.part),
    output:
        gens=f"{RUNS}/{{task}}/{{model}}/{{method}}/{{part}}/generations.jsonl",
        info=f"{RUNS}/{{task}}/{{model}}/{{method}}/{{part}}/model.json",
    wildcard_constraints:
        part=PART,
    params:
        cmd=lambda w: PLAN.generate_command(w.task, w.model, w.method, w.part),
    priority: lambda w: PLAN.priority(w.task, w.model, w.method, w.part.split("/")[0])
    resources:
        **run_resources(),
    conda:
        "../../envs/lmsteer.yaml"
    log:
        f"{R}/logs/generate/{{task}}/{{model}}/{{method}}/{{part}}.log",
    benchmark:
        f"{R}/benchmarks/generate/{{task}}/{{model}}/{{method}}/{{part}}.tsv"
    threads: JOB_THREADS
    shell:
        "{params.cmd} > {log} 2>&1"
