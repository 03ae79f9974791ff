"""Result records are validated on write and read; tables are pure functions of records."""
from __future__ import annotations

import json

import pytest

from lmsteer.errors import DataError
from lmsteer.metrics import metric
from lmsteer.results import provenance, now, read_records, write_record
from lmsteer.tables import detox_table, to_markdown


def _record(method="original", mean=0.5, backbone="tiny-gpt2"):
    m = {f"max_toxicity/s": metric([mean, mean], False, scorer="s"),
         f"toxicity_prob/s": metric([1.0, 0.0], False, scorer="s"),
         f"mean_toxicity/s": metric([0.1, 0.2], False, scorer="s"),
         "perplexity": metric([10.0, 20.0], False, scorer="judge"),
         "dist-1": metric([0.5, 0.7], True)}
    return {"schema_version": 1, "task": "detox", "method": method, "backbone": backbone,
            "seed": 0, "prompt_set": "rtp-nontoxic", "n_prompts": 2, "samples_per_prompt": 3,
            "strength": 0.0, "metrics": m, "model": {"name": backbone}, "scorers": {},
            "config": {}, "provenance": provenance(now())}


def test_write_and_read_round_trip(tmp_path):
    write_record(tmp_path / "a" / "record.json", _record())
    recs = read_records([tmp_path])
    assert len(recs) == 1 and recs[0]["method"] == "original"


def test_records_are_read_from_files_and_folders_and_a_missing_path_is_named(tmp_path):
    write_record(tmp_path / "a" / "record.json", _record("original"))
    write_record(tmp_path / "b" / "record.json", _record("lm_steer"))
    recs = read_records([tmp_path / "b" / "record.json", tmp_path / "a"])
    assert [r["method"] for r in recs] == ["lm_steer", "original"]  # one file, then one folder
    with pytest.raises(DataError, match="nowhere: no such record file or folder"):
        read_records([tmp_path / "a", tmp_path / "nowhere"])


def test_invalid_record_is_reported_by_path(tmp_path):
    bad = _record()
    del bad["metrics"]["dist-1"]["n"]
    with pytest.raises(DataError, match="metrics/dist-1"):
        write_record(tmp_path / "x" / "record.json", bad)
    assert not (tmp_path / "x" / "record.json").exists()
    p = tmp_path / "y" / "record.json"
    p.parent.mkdir()
    p.write_text(json.dumps({**_record(), "n_prompts": -1}))
    with pytest.raises(DataError, match=str(p)):
        read_records([tmp_path])


def test_table_rows_follow_records_and_order_methods():
    recs = [_record("lm_steer", 0.2), _record("original", 0.6)]
    df = detox_table(recs)
    assert df["method"].tolist() == ["original", "lm_steer"]
    assert df["exp_max_toxicity"].tolist() == pytest.approx([0.6, 0.2])
    md = to_markdown(df, "T")
    assert "tiny-gpt2" in md and "judge" in md and "2×3" in md
    assert detox_table(recs).equals(detox_table(list(reversed(recs))))
    assert "Fewer prompts" not in md
    pplm = {**_record("pplm", 0.1), "n_prompts": 1}
    md = to_markdown(detox_table(recs + [pplm]), "T")
    assert "**Fewer prompts**" in md and "pplm on tiny-gpt2, rtp-nontoxic: 1" in md
    assert "original on" not in md.split("Fewer prompts")[1]


def test_provenance_names_the_machine(monkeypatch):
    """Records say which CPU made them: its model, cores and the instruction sets that pick the
    bfloat16 kernels (only those the CPU has)."""
    import lmsteer.precision as P

    monkeypatch.setattr(P, "cpu_flags", lambda: frozenset({"fpu", "avx2", "avx512_bf16"}))
    monkeypatch.setattr(P, "cpu_model", lambda: "Test CPU 9000")
    m = provenance(now())["machine"]
    assert m["cpu"] == "Test CPU 9000"
    assert m["cpu_flags"] == ["avx2", "avx512_bf16"]
    assert m["cpu_count"] >= 1 and m["torch_threads"] >= 1

def test_model_provenance_identifies_the_weights():
    from lmsteer.models import load_model, model_provenance
    from lmsteer.steer import output_matrix_sha256

    model, _ = load_model("tiny-llama")
    info = model_provenance("tiny-llama", model)
    assert info["output_matrix_sha256"] == output_matrix_sha256(model)
    assert info["num_parameters"] == sum(p.numel() for p in model.parameters())
    assert "revision" in info  # the hub snapshot hash where the model came from the hub


def test_detox_figure_keys_the_hatch_only_where_a_bar_is_hatched(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    from lmsteer.plots import detox_figure
    labels: list[list[str]] = []
    real = Figure.legend
    monkeypatch.setattr(Figure, "legend",
                        lambda self, h, lab, **kw: labels.append(list(lab)) or real(self, h, lab,
                                                                                   **kw))
    recs = [_record("original", 0.6), _record("lm_steer", 0.2)]
    detox_figure(recs, tmp_path / "a.png")
    detox_figure(recs + [{**_record("pplm", 0.1), "n_prompts": 1}], tmp_path / "b.png")
    assert labels == [["original", "lm_steer"], ["original", "pplm", "lm_steer", "fewer prompts"]]
    assert (tmp_path / "a.png").stat().st_size > 5000


def test_rows_name_their_commit_and_machine_or_the_table_says_they_share_one():
    """Issue 37: a table never mixes machines or commits without saying so."""
    import pandas as pd

    from lmsteer.tables import origin, origin_cols

    new = {"provenance": {"git_commit": "abcdef123456", "machine": {"cpu": "AMD EPYC",
                                                                    "cpu_count": 2}}}
    old = {"provenance": {"git_commit": "0123456789ab"}}  # before records named their machine
    assert origin(new) == {"commit": "abcdef1", "machine": "AMD EPYC, 2 cores"}
    assert origin(old) == {"commit": "0123456", "machine": "not recorded"}
    same = pd.DataFrame([origin(new), origin(new)])
    note, cols = origin_cols(same)
    assert cols == [] and "Every row: commit abcdef1, machine AMD EPYC, 2 cores." in note
    mixed = pd.DataFrame([origin(new), origin(old)])
    note, cols = origin_cols(mixed)
    assert cols and list(mixed["origin"]) == ["abcdef1 · AMD EPYC, 2 cores",
                                              "0123456 · not recorded"]
