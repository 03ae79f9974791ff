"""Summarise the benchmark JSON and the DAG's Snakemake benchmark files as markdown tables.

Reads ``results/bench/{generation,sampling,training,scoring,headloss,prefill,judge,buffers}.json`` and
``prefill-<model>.json`` (written by the bench_* scripts) and
``<results_dir>/benchmarks/<rule>/**/*.tsv`` (one per DAG job, written by Snakemake), writes
``results/bench/dag.json`` and, with ``--doc``, replaces the text between the
``<!-- bench:targets -->`` / ``<!-- bench:dag -->`` markers and their ``:end`` partners, so
docs/performance.md's numbers always come from these files (the consistency test re-renders
them from the committed JSON: :func:`render_doc`).

    python bench/report.py [--results results] [--doc docs/performance.md]
"""
from __future__ import annotations

import argparse
import csv
import json
import re
from datetime import datetime, timezone
from pathlib import Path


def _load(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def _row(target: str, goal: str, measured: str, met: bool | None) -> str:
    mark = {True: "yes", False: "**no**", None: "n/a"}[met]
    return f"| {target} | {goal} | {measured} | {mark} |"


def targets_table(bench: Path) -> str:
    """One row per performance target of the benchmark scripts that have been run."""
    gen, smp = _load(bench / "generation.json"), _load(bench / "sampling.json")
    trn, sco = _load(bench / "training.json"), _load(bench / "scoring.json")
    hl, pre = _load(bench / "headloss.json"), _load(bench / "prefill.json")
    rows = ["| target | goal | measured (this machine, 2 threads) | met |", "|---|---|---|---|"]
    if gen:
        rows += [
            _row("folded steer / plain generation", "<= 1.02", f"{gen['folded_over_plain']:.3f}",
                 gen["folded_over_plain"] <= 1.02),
            _row("per-sample steer values / plain", "<= 1.10",
                 f"{gen['per_sample_over_plain']:.3f}",
                 gen["per_sample_over_plain"] <= 1.10),
            _row("batched sampler vs. one generate() per sample", ">= 10x",
                 f"{gen['batched_speedup_vs_per_call']:.1f}x",
                 gen["batched_speedup_vs_per_call"] >= 10)]
    if trn:
        rows.append(_row(
            f"{trn['seeds']} steers, cached hidden states vs. recompute", ">= 5x",
            f"{trn['recompute_over_cached']:.2f}x ({trn['examples']} examples, "
            f"{trn['steps_per_seed']} steps each; per step {trn['recompute_step_s']} s vs. "
            f"{trn['cached_step_s']} s = {trn['recompute_step_s'] / trn['cached_step_s']:.2f}x; "
            f"same final loss: {trn['final_losses_agree']}; "
            f"cache {trn['cache_mb_per_1k_examples']} MB per 1k examples, "
            f"{trn['cache_dtype']})", trn["recompute_over_cached"] >= 5))
    if sco:
        tps = sco["texts_per_s"]
        others = ", ".join(f"{n} {v:,.0f}" for n, v in tps.items() if n != "jigsaw-bilstm")
        rows.append(_row(f"scorer throughput, batch {sco['batch']} (texts/s)",
                         "BiLSTM >= 500", f"jigsaw-bilstm {tps.get('jigsaw-bilstm', 0):,.0f}; "
                         f"{others}; not here: {', '.join(sco['unavailable']) or 'none'}",
                         tps.get("jigsaw-bilstm", 0) >= 500))
    for r in smp.get("results", []):
        if r["model"].startswith("gemma"):
            rows.append(_row(f"top-p sampling step on {r['model']} ({r['vocab']:,} tokens)",
                             ">= 2x", f"{r['sampler_speedup']:.1f}x (end to end "
                             f"{r['generate_speedup']:.2f}x vs. HF generate)",
                             r["sampler_speedup"] >= 2))
    if hl:
        st, ft = hl["steer_step"], hl["finetune_step"]
        dts = st.get("head_dtypes", ["bfloat16", "float32"])  # the arms that ran (any order)
        rows += [
            _row(f"chunked head loss, steer step on {hl['model']} ({hl['vocab']:,} tokens, "
                 f"{st['rows']} rows)", "> 1x (plain / chunked)",
                 ", ".join(f"{st[f'plain_over_chunked_{d}']:.2f}x {d} head" for d in sorted(dts))
                 + f" ({hl.get('cpu', '?')})", all(st[f"plain_over_chunked_{d}"] > 1 for d in dts)),
            _row(f"chunked head loss, fine-tune step on {hl['model']} ({ft['texts']} texts)",
                 "> 1x (plain / chunked)",
                 f"{ft['plain_over_chunked']:.2f}x ({ft['plain_s']} s vs. {ft['chunked_s']} s; "
                 f"peak RSS {ft['peak_rss_mb']['plain']:,.0f} vs. "
                 f"{ft['peak_rss_mb']['chunked']:,.0f} MiB)", ft["plain_over_chunked"] > 1)]
        if "chunk64_over_chunked_float32" in st:
            rows.append(_row(f"head loss chunk of {st['chunk_rows']} rows (sized by memory) vs. "
                             "64", "> 1x (64 / sized), same numbers",
                             ", ".join(f"{st[f'chunk64_over_chunked_{d}']:.2f}x {d} head"
                                       for d in sorted(dts, reverse=True))
                             + f"; bit-identical: {st['chunk_sizes_bit_identical']}",
                             st["chunk64_over_chunked_float32"] > 1
                             and st["chunk_sizes_bit_identical"]))
        if "fresh_over_chunked_float32" in st:
            rows.append(_row(f"head loss chunk tensors in kept buffers vs. fresh per chunk "
                             f"({st['rows']} rows)", "> 1x (fresh / kept), same numbers",
                             ", ".join(f"{st[f'fresh_over_chunked_{d}']:.2f}x {d} head"
                                       for d in sorted(dts))
                             + f"; bit-identical: {st['kept_buffers_bit_identical']}",
                             all(st[f"fresh_over_chunked_{d}"] > 1 for d in dts)
                             and st["kept_buffers_bit_identical"]))
        if "judge_batch" in hl:
            jb = hl["judge_batch"]
            rows.append(_row(f"chunked head loss, judge batch ({jb['pairs']} pairs, {jb['dtype']})",
                             "> 1x (plain / chunked)",
                             f"{jb['plain_over_chunked']:.2f}x ({jb['plain_s']} s vs. "
                             f"{jb['chunked_s']} s)", jb["plain_over_chunked"] > 1))
    if pre:
        b = pre["batch"]
        rows.append(_row(f"prompt pass on {pre['model']}: last-position index vs. "
                         f"logits_to_keep=1 ({b[0]} prompts x {b[1]} samples)",
                         "> 1x, same tokens",
                         f"{pre['prompt_pass_speedup']:.2f}x prompt pass, "
                         f"{pre['generation_speedup']:.2f}x generation batch "
                         f"({pre['new_tokens']} tokens); same token ids: {pre['same_token_ids']}",
                         pre["generation_speedup"] > 1 and pre["same_token_ids"]))
    for sh in [pre, *(_load(f) for f in sorted(bench.glob("prefill-*.json")))]:
        if "shared_prompt_speedup" not in sh:  # a run from before the shared prompt pass
            continue
        b = sh["batch"]
        rows.append(_row(f"shared prompt pass on {sh['model']}: one pass per prompt, its cache "
                         f"copied to its samples ({b[0]} prompts x {b[1]} samples)",
                         "> 1x, same tokens",
                         f"{sh['shared_prompt_speedup']:.2f}x generation batch "
                         f"({sh['generation_batch_s']['index']} s vs. "
                         f"{sh['generation_batch_s']['shared']} s; {sh['machine']['cpu']}); "
                         f"same token ids: {sh['same_token_ids_shared']}",
                         sh["shared_prompt_speedup"] > 1 and sh["same_token_ids_shared"]))
    buf = _load(bench / "buffers.json")
    if buf:
        b = buf["batch"]
        rows.append(_row(f"sampling softmax in a kept buffer vs. a fresh tensor on {buf['model']} "
                         f"({b[0]} prompts x {b[1]} samples)", "> 1x, same tokens",
                         f"{buf['generation_speedup']:.2f}x generation batch "
                         f"({buf['generation_batch_s']['fresh']} s vs. "
                         f"{buf['generation_batch_s']['kept']} s), softmax "
                         f"{buf['softmax_speedup']:.1f}x ({buf['machine']['cpu']}); "
                         f"same token ids: {buf['same_token_ids']}",
                         buf["generation_speedup"] > 1 and buf["same_token_ids"]))
    jg = _load(bench / "judge.json")
    if jg:
        rows.append(_row(f"shared prompt pass, perplexity judge {jg['judge']} ({jg['dtype']}; "
                         f"{jg['pairs'][0]} prompts x {jg['pairs'][1]} samples)",
                         "> 1x, same perplexities up to rounding",
                         f"{jg['shared_speedup']:.2f}x ({jg['judge_s']['per_pair']} s vs. "
                         f"{jg['judge_s']['shared']} s; {jg['machine']['cpu']}); per-pair ppl "
                         f"within {jg['max_rel_ppl_diff']:.1e} "
                         f"(mean {jg['mean_rel_ppl_diff']:.1e})",
                         jg["shared_speedup"] > 1))
    rss = []
    if gen:
        rss.append(f"generation {gen['peak_rss_mb']:,.0f}")
    if trn:
        rss.append(f"training cached {trn['peak_rss_mb']['cached']:,.0f} / recompute "
                   f"{trn['peak_rss_mb']['recompute']:,.0f}")
    if rss:
        rows.append(_row("peak RSS (MiB)", "reported", "; ".join(rss), None))
    return "\n".join(rows)


def dag_timing(benchmarks: Path) -> dict:
    """Per rule: jobs, total seconds and max RSS from Snakemake's benchmark TSVs."""
    rules: dict[str, dict] = {}
    starts, ends = [], []
    for tsv in sorted(benchmarks.rglob("*.tsv")):
        with tsv.open() as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        if not rows:
            continue
        s = float(rows[-1]["s"])
        rss = float(rows[-1]["max_rss"]) if rows[-1]["max_rss"] not in ("", "NA", "-") else 0.0
        rule = tsv.relative_to(benchmarks).parts[0]
        r = rules.setdefault(rule, {"jobs": 0, "seconds": 0.0, "max_rss_mb": 0.0})
        r["jobs"] += 1
        r["seconds"] = round(r["seconds"] + s, 1)
        r["max_rss_mb"] = round(max(r["max_rss_mb"], rss), 1)
        ends.append(tsv.stat().st_mtime)
        starts.append(ends[-1] - s)
    total = round(sum(r["seconds"] for r in rules.values()), 1)
    span = round(max(ends) - min(starts), 1) if ends else 0.0
    last = (datetime.fromtimestamp(max(ends), timezone.utc).date().isoformat() if ends
            else None)
    return {"rules": dict(sorted(rules.items(), key=lambda kv: -kv[1]["seconds"])),
            "job_seconds_total": total, "first_start_to_last_end_s": span, "last_end": last}


def dag_table(t: dict, top: int = 5) -> str:
    jobs = sum(r["jobs"] for r in t["rules"].values())
    when = f", last job ended {t['last_end']}" if t.get("last_end") else ", date not recorded"
    rows = [f"Job time from the Snakemake benchmark files of {jobs} jobs{when}: "
            f"{t['job_seconds_total'] / 60:.0f} min of job time, summed over the latest run of "
            "every job (two one-thread jobs run side by side on 2 cores, so more than the wall "
            "time; first job start to last job end: "
            f"{t['first_start_to_last_end_s'] / 60:.0f} min, which spans reruns too). These are "
            "the jobs whose files `results/benchmarks/` held when `bench/report.py` last ran, "
            "not a whole clean `make reproduce` (`make dry-run` lists all of its jobs; its wall "
            f"time is in CHANGELOG.md). Top {top} rules by time:", "",
            "| rule | jobs | time (min) | share | max RSS (MiB) |", "|---|---|---|---|---|"]
    for name, r in list(t["rules"].items())[:top]:
        share = r["seconds"] / t["job_seconds_total"] if t["job_seconds_total"] else 0
        rows.append(f"| {name} | {r['jobs']} | {r['seconds'] / 60:.1f} | {share:.0%} | "
                    f"{r['max_rss_mb']:,.0f} |")
    return "\n".join(rows)


def replace_section(text: str, name: str, body: str) -> str:
    pat = re.compile(rf"(<!-- bench:{name} -->\n)(?:.*?\n)?(<!-- bench:{name}:end -->)", re.S)
    if not pat.search(text):
        raise SystemExit(f"no <!-- bench:{name} --> ... <!-- bench:{name}:end --> markers")
    return pat.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)


def render_doc(text: str, bench: Path, timing: dict) -> str:
    """``text`` with both bench sections rendered from ``bench``'s JSON and ``timing``."""
    dag = dag_table(timing) if timing.get("rules") else "(no DAG benchmark files yet)"
    return replace_section(replace_section(text, "targets", targets_table(bench)), "dag", dag)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default="results", help="the DAG's results_dir")
    ap.add_argument("--doc", "--readme", dest="doc",
                    help="Markdown file to update between the bench markers "
                         "(docs/performance.md)")
    a = ap.parse_args()
    bench = Path(a.results) / "bench"
    timing = dag_timing(Path(a.results) / "benchmarks")
    if timing["rules"]:
        (bench / "dag.json").write_text(json.dumps(timing, indent=2) + "\n")
    elif (bench / "dag.json").is_file():
        timing = _load(bench / "dag.json")
    targets = targets_table(bench)
    dag = dag_table(timing) if timing.get("rules") else "(no DAG benchmark files yet)"
    print(targets, dag, sep="\n\n")
    if a.doc:
        path = Path(a.doc)
        path.write_text(render_doc(path.read_text(), bench, timing))


if __name__ == "__main__":
    main()
