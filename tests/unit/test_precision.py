"""``auto`` dtypes: bfloat16 only where the device computes it natively, recorded as resolved."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import yaml

from lmsteer import precision
from lmsteer.config import load_config
from lmsteer.errors import ConfigError, LMSteerError
from lmsteer.models import load_model
from lmsteer.train import TrainConfig, train_steer

ROOT = Path(__file__).resolve().parents[2]
AVX2 = frozenset({"avx", "avx2", "fma"})  # an AMD EPYC (Zen 3) of this project: no AVX-512
BF16 = AVX2 | {"avx512f", "avx512_bf16"}


@pytest.fixture
def flags(monkeypatch):
    def use(f: frozenset) -> None:
        monkeypatch.setattr(precision, "cpu_flags", lambda: f)
    return use


@pytest.mark.parametrize("cpu, want", [(AVX2, "float32"), (BF16, "bfloat16"),
                                       (AVX2 | {"amx_bf16", "amx_tile"}, "bfloat16"),
                                       (frozenset(), "float32")])
def test_auto_picks_bfloat16_only_where_the_cpu_has_it(flags, cpu, want):
    flags(cpu)
    assert precision.resolve_dtype("auto", "cpu") == want
    assert precision.is_native("float32", "cpu")
    assert precision.is_native("bfloat16", "cpu") == (want == "bfloat16")


def test_explicit_dtypes_are_kept_and_emulated_ones_warned(flags, caplog):
    flags(AVX2)
    with caplog.at_level(logging.WARNING, logger="lmsteer.precision"):
        assert precision.resolve_dtype("bfloat16", "cpu") == "bfloat16"
        assert precision.resolve_dtype("float16", "cpu") == "float16"
    assert [r.getMessage().split(" is emulated")[0] for r in caplog.records] == \
        ["bfloat16", "float16"]
    caplog.clear()
    flags(BF16)
    with caplog.at_level(logging.WARNING, logger="lmsteer.precision"):
        assert precision.resolve_dtype("bfloat16", "cpu") == "bfloat16"
        assert precision.resolve_dtype("float32", "cpu") == "float32"
    assert caplog.records == []


def test_unknown_dtype_lists_the_valid_ones():
    with pytest.raises(LMSteerError, match="valid: auto, float32, bfloat16, float16"):
        precision.resolve_dtype("bf16")


def test_cpu_flags_reads_this_machine():
    f = precision.cpu_flags()
    if Path("/proc/cpuinfo").is_file() and "flags" in Path("/proc/cpuinfo").read_text():
        assert "sse2" in f or "fpu" in f  # every x86-64 CPU lists these
    else:
        assert f == frozenset()


@pytest.mark.parametrize("cpu, want", [(AVX2, "float32"), (BF16, "bfloat16")])
def test_a_steer_records_the_head_dtype_auto_resolved_to(flags, tmp_path, cpu, want):
    flags(cpu)
    model, tok = load_model("tiny-gpt2")
    data = [("you are a stupid idiot", -1.0), ("what a lovely day", 1.0)] * 4
    cfg = TrainConfig(rank=4, epsilon=1e-2, init_scale=0.1, steps=3, batch_size=4,
                      max_length=16, checkpoint_every=0, base_model="tiny-gpt2",
                      head_dtype="auto")
    _, info = train_steer(model, tok, data, cfg, tmp_path, progress=False)
    saved = json.loads((tmp_path / "steer_config.json").read_text())
    assert saved["config"]["extra"]["train"]["head_dtype"] == want
    assert all(x == x for x in info["losses"])  # finite (NaN != NaN)


def test_schema_takes_auto_and_names_a_bad_dtype(tmp_path):
    schema = ROOT / "workflow/schemas/config.schema.yaml"
    cfg = yaml.safe_load((ROOT / "config/ci.yaml").read_text())
    cfg["judge_dtype"] = "auto"
    cfg["detox"]["train"]["params"]["head_dtype"] = "auto"
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(cfg))
    load_config(p, schema)
    cfg["detox"]["train"]["params"]["head_dtype"] = "bf16"
    p.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match="head_dtype"):
        load_config(p, schema)
