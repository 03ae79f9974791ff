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
    shell:
        f"python -m lmsteer table --records {RUNS}/detox --task detox "
        "--out-md {output.md} --out-csv {output.csv} --figure {output.fig} > {log} 2>&1"
