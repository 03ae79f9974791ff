"""Fuzz the loaders: random bytes and random JSON either load or raise the project's own error."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmsteer.data import load_davidson, load_olid, load_prompts, load_sst
from lmsteer.errors import LMSteerError
from lmsteer.io import read_jsonl
from lmsteer.results import read_records
from lmsteer.steer import Steer, SteerConfig

FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                    lambda kids: st.lists(kids, max_size=4)
                    | st.dictionaries(st.text(max_size=8), kids, max_size=4), max_leaves=12)
RAW = st.binary(max_size=400) | st.text(max_size=400).map(lambda s: s.encode("utf-8"))


def _loads_or_own_error(fn, *args) -> None:
    try:
        fn(*args)
    except LMSteerError:
        pass


def _dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="fuzz-"))


@FUZZ
@given(RAW)
def test_prompt_and_jsonl_loaders(raw):
    p = _dir() / "prompts.jsonl"
    p.write_bytes(raw)
    _loads_or_own_error(load_prompts, p)
    _loads_or_own_error(read_jsonl, p)


@FUZZ
@given(st.lists(JSON, max_size=4))
def test_prompt_loader_on_random_json_lines(objs):
    p = _dir() / "prompts.jsonl"
    p.write_text("".join(json.dumps(o) + "\n" for o in objs))
    _loads_or_own_error(load_prompts, p)


@FUZZ
@given(RAW, RAW)
def test_data_loaders(raw, raw2):
    d = _dir()
    (d / "labeled_data.csv").write_bytes(raw)
    (d / "train_text.txt").write_bytes(raw)
    (d / "train_labels.txt").write_bytes(raw2)
    (d / "sst_train.txt").write_bytes(raw)
    _loads_or_own_error(load_davidson, d)
    _loads_or_own_error(load_olid, d)
    _loads_or_own_error(load_sst, d, "train")


@FUZZ
@given(JSON | st.fixed_dictionaries({"schema_version": st.just(1), "metrics": JSON}))
def test_record_reader(obj):
    d = _dir()
    (d / "record.json").write_text(json.dumps(obj))
    _loads_or_own_error(read_records, [d])


@pytest.fixture(scope="module")
def saved_steer() -> Path:
    return Steer(SteerConfig(rank=2, hidden_size=4)).save(_dir() / "steer")


FIELDS = st.dictionaries(st.sampled_from(sorted(SteerConfig.__dataclass_fields__)), JSON,
                         max_size=3)


@FUZZ
@given(RAW, JSON | FIELDS)
def test_steer_loader(saved_steer, raw, cfg):
    d = _dir()
    good_cfg = json.loads((saved_steer / "steer_config.json").read_text())
    (d / "steer.safetensors").write_bytes(raw)
    (d / "steer_config.json").write_text(json.dumps(good_cfg))
    _loads_or_own_error(Steer.load, d)  # random weights
    (d / "steer.safetensors").write_bytes((saved_steer / "steer.safetensors").read_bytes())
    (d / "steer_config.json").write_text(json.dumps({"config": cfg}))
    _loads_or_own_error(Steer.load, d)  # random config
    if isinstance(cfg, dict):
        (d / "steer_config.json").write_text(json.dumps({"config": {**good_cfg["config"], **cfg}}))
        _loads_or_own_error(Steer.load, d)  # a good config with random fields changed
