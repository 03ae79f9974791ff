"""Every method's parameters are a typed dataclass: a misspelt or unknown parameter is an error
that lists the valid ones, values are cast to their field's type, and every shipped config's
parameters are valid for the method they are given to."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from lmsteer.errors import LMSteerError
from lmsteer.methods import METHODS, get_method, load_plugins

ROOT = Path(__file__).resolve().parents[2]
load_plugins()


@pytest.mark.parametrize("name", METHODS.names())
def test_params_are_a_dataclass_with_defaults(name):
    cls = METHODS.get(name)
    assert dataclasses.is_dataclass(cls.Params), name
    m = get_method(name)
    assert isinstance(m.p, cls.Params)
    for f in dataclasses.fields(cls.Params):  # every field has a default: {} is a valid config
        assert f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING


@pytest.mark.parametrize("name", METHODS.names())
def test_an_unknown_parameter_names_the_valid_ones(name):
    with pytest.raises(LMSteerError, match=r"stepz.*valid:"):
        get_method(name, stepz=3)


def test_values_are_cast_to_their_fields_type():
    m = get_method("soft_blacklist", penalty=3, top="50")
    assert m.p.penalty == 3.0 and isinstance(m.p.penalty, float) and m.p.top == 50
    with pytest.raises(LMSteerError, match="top"):
        get_method("soft_blacklist", top="many")
    assert get_method("lm_steer", rank=8, dummy_value=0).p.rank == 8


def _method_params(cfg: dict):
    for task in ("detox", "sentiment"):
        sec = cfg.get(task) or {}
        for name, entry in (sec.get("methods") or {}).items():
            yield f"{task}.methods.{name}", name, entry.get("params", {})
        if sec.get("train"):
            yield f"{task}.train.params", "lm_steer", sec["train"]["params"]
    for model, o in (cfg.get("model_overrides") or {}).items():
        for where, entry in (("", o), ("sentiment.", o.get("sentiment", {}))):
            if entry.get("train_params"):
                yield f"model_overrides.{model}.{where}train_params", "lm_steer", \
                    entry["train_params"]


@pytest.mark.parametrize("config", ["config.yaml", "ci.yaml", "paper.yaml"])
def test_every_shipped_configs_params_are_valid(config):
    cfg = yaml.safe_load((ROOT / "config" / config).read_text())
    seen = 0
    for where, name, params in _method_params(cfg):
        get_method(name, **params)  # raises on an unknown or mistyped parameter
        seen += 1
    assert seen >= 5, config


def test_a_misspelt_param_in_a_config_stops_validate_config_and_the_dag(tmp_path, caplog):
    import os
    import subprocess
    import sys

    from lmsteer.cli import main

    cfg = yaml.safe_load((ROOT / "config" / "ci.yaml").read_text())
    cfg["detox"]["methods"]["dapt"]["params"]["stpes"] = 2  # steps, misspelt
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["validate-config", "--config", str(path)]) == 2
    assert "detox.methods.dapt.params" in caplog.text and "stpes" in caplog.text
    r = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile",
                        str(path)], cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, PATH=f"{Path(sys.executable).parent}:"
                                                 f"{os.environ.get('PATH', '')}"))
    assert r.returncode != 0 and "dapt: unknown parameter stpes; valid:" in r.stdout + r.stderr


def test_a_param_with_a_colon_stays_text():
    """`--param 'positive_prefix=be nice: '` is text (YAML would read a mapping); before typed
    params it reached the prompt as "{'be nice': None}"."""
    from lmsteer.cli_args import parse_params

    p = parse_params(["positive_prefix=be nice: ", "directions=[positive, negative]"])
    assert p == {"positive_prefix": "be nice: ", "directions": ["positive", "negative"]}
    prompt = get_method("prompting", positive_prefix=p["positive_prefix"])
    assert prompt.prompt_for("x", 1.0) == "be nice: x"
