# Tables and figures: pure functions of the result records.


localrules:
    table1_detox,


rule table1_detox:
    input:
        all_records(),
    output:
        md=report(f"{R}/tables/table1_detox.md", caption="../report/table1_detox.rst",
                  category="Tables"),
        csv=f"{R}/tables/table1_detox.csv",
        fig=report(f"{R}/figures/table1_detox.png", caption="../report/figure_detox.rst",
                   category="Figures"),
    conda:
        "../../envs/lmsteer.yaml"
    log:
        f"{R}/logs/table1_detox.log",
    benchmark:
        f"{R}/benchmarks/table1_detox/all.tsv"
    shell:
        f"python -m lmsteer table --records {RUNS}/detox --task detox "
        "--out-md {output.md} --out-csv {output.csv} --figure {output.fig} > {log} 2>&1"


localrules:
    table1_spine,


rule table1_spine:
    """Table 1 of the spine alone (original vs. LM-Steer): `snakemake spine` runs only its jobs."""
    input:
        spine_records(),
    output:
        md=f"{R}/tables/table1_spine.md",
        csv=f"{R}/tables/table1_spine.csv",
        fig=report(f"{R}/figures/table1_spine.png", caption="../report/figure_detox.rst",
                   category="Figures"),
    conda:
        "../../envs/lmsteer.yaml"
    log:
        f"{R}/logs/table1_spine.log",
    benchmark:
        f"{R}/benchmarks/table1_spine/all.tsv"
    params:
        title=shlex_quote("Table 1, spine: original vs. LM-Steer"),
    shell:
        "python -m lmsteer table --records {input} --task detox --title {params.title} "
        "--out-md {output.md} --out-csv {output.csv} --figure {output.fig} > {log} 2>&1"


localrules:
    leaderboard,


rule leaderboard:
    input:
        all_records(),
        sentiment_records(),
        eff=efficiency_files(),
    output:
        md=f"{R}/leaderboard.md",
        csv=f"{R}/leaderboard.csv",
        html=report(f"{R}/leaderboard.html", caption="../report/leaderboard.rst",
                    category="Leaderboard"),
    conda:
        "../../envs/lmsteer.yaml"
    log:
        f"{R}/logs/leaderboard.log",
    benchmark:
        f"{R}/benchmarks/leaderboard/all.tsv"
    shell:
        f"python -m lmsteer leaderboard --records {RUNS} --out-dir {R} "
        "--bench results/bench/generation.json {input.eff} > {log} 2>&1"


rule efficiency:
    """Every detox method's generation time against the plain LM, side by side in one process."""
    input:
        artifacts=lambda w: [artifact_of(w.model, m) for m in detox_methods_of(w.model)
                             if artifact_of(w.model, m)],
        model=lambda w: model_ready(w.model),
        prompts="resources/data/rtp-challenging",  # its prompts, whatever prompt_sets says
    output:
        f"{R}/bench/methods-{{model}}.json",
    params:
        src=src(),
        flags=efficiency_flags,
    conda:
        "../../envs/lmsteer.yaml"
    log:
        f"{R}/logs/efficiency/{{model}}.log",
    benchmark:
        f"{R}/benchmarks/efficiency/{{model}}.tsv"
    threads: 2  # a timing: two threads as every committed efficiency JSON, whatever job_threads
    resources:
        gpu=res("gpu"),
        mem_mb=lambda w: 4 * model_res(w.model, "mem_mb"),  # every method's models at once (8 GB on SmolLM2)
        runtime=res("runtime"),
    shell:
        "python bench/bench_methods.py --model {params.src} {params.flags} "
        f"{'--offline' if not ONLINE else '--no-offline'} --out {{output}} > {{log}} 2>&1"
