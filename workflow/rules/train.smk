# Train every method whose class learns from the attribute data (lmsteer.methods: its fit),
# for both tasks: LM-Steer's steer (hidden states cached inside the job) and the comparison
# methods' fits. Each writes its artifacts and a method.json last into its artifact folder.


rule train:
    input:
        lambda w: PLAN.train_inputs(w.task, w.model),
    output:
        f"{RUNS}/{{task}}/{{model}}/{{method}}/{{artdir}}/method.json",
    wildcard_constraints:
        artdir="steer|trained",
    params:
        cmd=lambda w: PLAN.train_command(w.task, w.model, w.method),
    conda:
        "../../envs/lmsteer.yaml"
    log:
        f"{R}/logs/train/{{task}}/{{model}}/{{method}}/{{artdir}}.log",
    benchmark:
        f"{R}/benchmarks/train/{{task}}/{{model}}/{{method}}/{{artdir}}.tsv"
    threads: JOB_THREADS
    # the steer's detox training is the spine's longest job and its runs wait for it: started
    # as soon as its inputs exist, the original LM's jobs run beside it (PLAN.priority)
    priority: lambda w: PLAN.train_priority(w.task, w.method)
    resources:
        **resources(),
    shell:
        "{params.cmd} > {log} 2>&1"
