# Tables and figures: pure functions of the result records.


localrules:
    table1_detox,


rule table1_detox:
    input:
        PLAN.records("detox"),
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
        PLAN.records("detox", PLAN.spine_methods()),
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
        title="'Table 1, spine: original vs. LM-Steer'",
    shell:
        "python -m lmsteer table --records {input} --task detox --title {params.title} "
        "--out-md {output.md} --out-csv {output.csv} --figure {output.fig} > {log} 2>&1"


localrules:
    leaderboard,


rule leaderboard:
    input:
        PLAN.records("detox"),
        PLAN.records("sentiment"),
        eff=PLAN.efficiency_files(),
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
        per_model(PLAN.efficiency_inputs),
    output:
        f"{R}/bench/methods-{{model}}.json",
    params:
        cmd=lambda w, output: PLAN.efficiency_command(w.model, output[0]),
    conda:
        "../../envs/lmsteer.yaml"
    log:
        f"{R}/logs/efficiency/{{model}}.log",
    benchmark:
        f"{R}/benchmarks/efficiency/{{model}}.tsv"
    threads: 2  # a timing: two threads as every committed efficiency JSON, whatever job_threads
    resources:
        gpu=lambda w: PLAN.resources(w.model)["gpu"],
        mem_mb=lambda w: 4 * PLAN.resources(w.model)["mem_mb"],  # every method's models at once
        runtime=lambda w: PLAN.resources(w.model)["runtime"],
    shell:
        "{params.cmd} > {log} 2>&1"


localrules:
    table2_sentiment,


rule table2_sentiment:
    input:
        PLAN.records("sentiment"),
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
