"""bench/report.py: per-rule DAG timing from Snakemake benchmark files, README sections."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import report  # noqa: E402

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _tsv(path: Path, seconds: float, rss: float, end: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{seconds}\t0:00:00\t{rss}\t1\t1\t1\t0\t0\t50\t1\n")
    os.utime(path, (end, end))


def test_dag_timing_sums_per_rule_and_spans_jobs(tmp_path: Path) -> None:
    b = tmp_path / "benchmarks"
    _tsv(b / "train" / "a.tsv", 100.0, 900.0, end=1000.0)
    _tsv(b / "generate" / "a" / "x.tsv", 30.0, 500.0, end=1040.0)
    _tsv(b / "generate" / "b" / "y.tsv", 50.0, 700.0, end=1100.0)
    t = report.dag_timing(b)
    assert list(t["rules"]) == ["train", "generate"]  # sorted by time
    assert t["rules"]["generate"] == {"jobs": 2, "seconds": 80.0, "max_rss_mb": 700.0}
    assert t["job_seconds_total"] == 180.0
    assert t["first_start_to_last_end_s"] == 200.0  # 900 -> 1100
    table = report.dag_table(t, top=1)
    assert "| train | 1 | 1.7 | 56% | 900 |" in table and "generate |" not in table
    assert "3 min of job time" in table and "last job end: 3 min" in table
    assert "benchmark files of 3 jobs, last job ended 1970-01-01" in table  # not "the study"
    assert t["last_end"] == "1970-01-01"


def test_replace_section_is_idempotent_and_needs_markers() -> None:
    text = "a\n<!-- bench:dag -->\n<!-- bench:dag:end -->\nb\n"
    once = report.replace_section(text, "dag", "| x |")
    assert once == "a\n<!-- bench:dag -->\n| x |\n<!-- bench:dag:end -->\nb\n"
    assert report.replace_section(once, "dag", "| x |") == once
    assert report.replace_section(once, "dag", "| y |").count("| y |") == 1
    with pytest.raises(SystemExit, match="markers"):
        report.replace_section("no markers", "dag", "x")


def test_targets_table_marks_missed_targets(tmp_path: Path) -> None:
    (tmp_path / "generation.json").write_text(json.dumps({
        "folded_over_plain": 1.05, "per_sample_over_plain": 0.99,
        "batched_speedup_vs_per_call": 12.0, "peak_rss_mb": 1000.0}))
    rows = report.targets_table(tmp_path).splitlines()
    assert rows[2].endswith("| 1.050 | **no** |")
    assert rows[3].endswith("| 0.990 | yes |")
    assert rows[-1].startswith("| peak RSS")


def test_bench_methods_times_every_method_against_the_original(tmp_path: Path) -> None:
    import bench_methods

    prompts = tmp_path / "p.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": {"text": t}}) + "\n"
                               for t in ("the day is", "you are a")))
    out = tmp_path / "methods.json"
    bench_methods.main(["--model", "tiny-llama", "--prompts", str(prompts), "--method",
                        "prompting", "--param", "prompting:positive_prefix=be nice: ",
                        "--strength", "prompting=2", "--n-prompts", "2", "--samples", "2",
                        "--batch", "4", "--new-tokens", "3", "--repeats", "1",
                        "--out", str(out)])
    res = json.loads(out.read_text())
    assert res["model"] == "tiny-llama" and set(res["methods"]) == {"original", "prompting"}
    assert res["methods"]["original"]["ratio"] == 1.0
    assert res["methods"]["prompting"]["strength"] == 2.0
    assert res["methods"]["prompting"]["seconds"] > 0 and res["lm_parameters"] > 0
    with pytest.raises(SystemExit, match="METHOD:key=value"):
        bench_methods.parse_methods(["pplm"], ["lora:rank=2"])


def test_bench_headloss_times_both_losses_and_reports_them(tmp_path: Path) -> None:
    import bench_headloss

    out = tmp_path / "headloss.json"
    bench_headloss.main(["--model", "tiny-llama", "--rows", "20", "--rank", "4", "--batch", "2",
                         "--judge-dtype", "float32", "--repeats", "1", "--out", str(out)])
    res = json.loads(out.read_text())
    assert res["model"] == "tiny-llama" and res["vocab"] > 0
    # every arm was timed (values not checked: rounded, they can be 0.0 on tiny models)
    for part, keys in (("steer_step", ("steer_plain_float32_s", "steer_chunked_float32_s",
                                       "plain_over_chunked_float32")),
                       ("finetune_step", ("plain_s", "chunked_s", "plain_over_chunked")),
                       ("judge_batch", ("plain_s", "chunked_s", "plain_over_chunked"))):
        assert set(keys) <= set(res[part])
    assert res["judge_batch"]["max_rel_diff"] < 1e-4  # the same perplexities both ways
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "headloss.json").write_text(out.read_text())
    table = report.targets_table(tmp_path / "bench")
    assert "chunked head loss, fine-tune step on tiny-llama" in table
    assert "judge batch (16 pairs, float32)" in table
    assert res["steer_step"]["kept_buffers_bit_identical"] is True
    assert {"steer_fresh_float32_s", "fresh_over_chunked_float32"} <= set(res["steer_step"])
    assert "head loss chunk tensors in kept buffers" in table


def _three_prompts(tmp_path: Path) -> Path:
    """A prompts file of three RealToxicityPrompts-shaped records."""
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": {"text": t}}) + "\n" for t in
                               ["the cat sat on the mat and", "so I said", "a long day at"]))
    return prompts


def _run_sampling_bench(bench, tmp_path: Path, out: Path) -> dict:
    """Run a sampling bench on tiny-llama: 3 prompts x 2 samples, 4 new tokens, one repeat."""
    bench.main(["--model", "tiny-llama", "--prompts-file", str(_three_prompts(tmp_path)),
                "--prompts", "3", "--samples", "2", "--new-tokens", "4", "--repeats", "1",
                "--out", str(out)])
    return json.loads(out.read_text())


def test_bench_prefill_times_both_prompt_passes_and_reports_them(tmp_path: Path) -> None:
    import bench_prefill

    out = tmp_path / "bench" / "prefill.json"
    res = _run_sampling_bench(bench_prefill, tmp_path, out)
    assert res["batch"] == [3, 2] and res["prompt_tokens"] > 1
    assert set(res["prompt_pass_s"]) == {"slice", "index"}  # rounded times: 0.0 is possible
    assert {"prompt_pass_speedup", "generation_speedup", "shared_prompt_speedup"} <= set(res)
    assert res["max_abs_logit_diff"] < 1e-4 and res["same_token_ids"] is True
    assert res["same_token_ids_shared"] is True
    assert set(res["generation_batch_s"]) == {"slice", "index", "shared"}
    table = report.targets_table(tmp_path / "bench")
    assert "prompt pass on tiny-llama: last-position index vs. logits_to_keep=1" in table
    out.rename(out.with_name("prefill-tiny-llama.json"))
    table = report.targets_table(tmp_path / "bench")
    assert "shared prompt pass on tiny-llama" in table and "same token ids: True" in table


def test_bench_judge_times_both_judge_passes_and_reports_them(tmp_path: Path) -> None:
    import bench_judge

    prompts = _three_prompts(tmp_path)
    out = tmp_path / "bench" / "judge.json"
    bench_judge.main(["--judge", "tiny-llama", "--judge-dtype", "float32", "--sampler",
                      "tiny-gpt2", "--prompts-file", str(prompts), "--prompts", "3",
                      "--samples", "3", "--batch", "4", "--repeats", "1", "--out", str(out)])
    res = json.loads(out.read_text())
    assert res["pairs"] == [3, 3] and res["dtype"] == "float32"
    assert set(res["judge_s"]) == {"per_pair", "shared"}
    assert "shared_speedup" in res
    assert res["max_rel_ppl_diff"] < 1e-4
    assert "shared prompt pass, perplexity judge tiny-llama" in \
        report.targets_table(tmp_path / "bench")


def test_bench_buffers_times_both_softmaxes_and_reports_them(tmp_path: Path) -> None:
    import bench_buffers

    res = _run_sampling_bench(bench_buffers, tmp_path, tmp_path / "bench" / "buffers.json")
    assert res["batch"] == [3, 2] and res["vocab"] > 0
    assert res["same_probabilities"] is True and res["same_token_ids"] is True
    assert set(res["generation_batch_s"]) == {"fresh", "kept"}
    assert set(res["softmax_s"]) == {"fresh", "kept"} and "softmax_speedup" in res
    table = report.targets_table(tmp_path / "bench")
    assert "sampling softmax in a kept buffer vs. a fresh tensor on tiny-llama" in table
