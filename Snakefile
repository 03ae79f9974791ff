# LM-Steer benchmark DAG (index only). Run: snakemake --profile profiles/default
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/generate.smk"
include: "workflow/rules/score.smk"
include: "workflow/rules/select.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/analysis.smk"


rule all:
    default_target: True
    input:
        TABLE1,
        TABLE1_SPINE,
        TABLE2,
        rules.leaderboard.output,
        PLAN.analysis_outputs(),
        PLAN.tradeoff_outputs(),


rule spine:
    """Only the spine: train LM-Steer, generate and score original and LM-Steer on every model
    and prompt set, render results/tables/table1_spine.md (`make spine`)."""
    input:
        TABLE1_SPINE,
