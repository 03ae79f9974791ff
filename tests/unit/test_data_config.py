"""Data preparation (sha256), loaders with clear errors, and the config schema."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lmsteer.config import load_config
from lmsteer.data import clean_tweet, detox_training_set, load_prompts, prepare
from lmsteer.errors import ConfigError, DataError

ROOT = Path(__file__).resolve().parents[2]
MIRROR = ROOT.parent / "shared" / "data"
SCHEMA = ROOT / "workflow/schemas/config.schema.yaml"
needs_mirror = pytest.mark.skipif(not MIRROR.is_dir(), reason="no data mirror beside the checkout")


@needs_mirror
def test_prepare_from_mirror_checks_sha(tmp_path):
    out = prepare("rtp-challenging", tmp_path, MIRROR)
    assert (out / "toxic_prompts_1196.jsonl").is_file()


def test_prepare_rejects_wrong_checksum(tmp_path):
    mirror = tmp_path / "mirror" / "rtp"
    mirror.mkdir(parents=True)
    (mirror / "toxic_prompts_1196.jsonl").write_text('{"prompt": {"text": "hi"}}\n')
    with pytest.raises(DataError, match="sha256 mismatch"):
        prepare("rtp-challenging", tmp_path / "out", tmp_path / "mirror")
    assert not (tmp_path / "out" / "rtp-challenging" / "toxic_prompts_1196.jsonl").exists()


def test_git_blob_id_check_and_mirror_fallback(tmp_path, monkeypatch):
    """A file known by its upstream git blob id: checked by that id; a mirror lacking it
    falls back to the download when downloads are allowed, and names the mirror when not."""
    import subprocess

    from lmsteer import data as D

    body = b'{"prompt": {"text": "hello"}}\n'
    src = tmp_path / "up.jsonl"
    src.write_bytes(body)
    blob = subprocess.run(["git", "hash-object", str(src)], capture_output=True, text=True,
                          check=True).stdout.strip()
    assert D.git_blob_sha1(src) == blob
    # a file:// URL goes through the same urllib download as the https:// ones
    ds = D.Dataset("toy-blob", "toy", (D.DataFile("p.jsonl", src.as_uri(), "", blob),), "", "")
    monkeypatch.setitem(D.DATASETS._items, "toy-blob", ds)
    (tmp_path / "mirror").mkdir()
    with pytest.raises(DataError, match="not found in mirror folder .*downloads are off"):
        prepare("toy-blob", tmp_path / "out", tmp_path / "mirror")
    out = prepare("toy-blob", tmp_path / "out", tmp_path / "mirror", allow_download=True)
    assert (out / "p.jsonl").read_bytes() == body
    src.write_bytes(body + b"x")
    (out / "p.jsonl").unlink()
    with pytest.raises(DataError, match="git blob sha1 mismatch"):
        prepare("toy-blob", tmp_path / "out", None, allow_download=True)


def test_prepare_without_source_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="no mirror folder"):
        prepare("davidson", tmp_path)


def test_prompt_loader_errors_name_file_and_line(tmp_path):
    p = tmp_path / "p.jsonl"
    p.write_text('{"prompt": {"text": "a"}}\n\n')
    with pytest.raises(DataError, match=r"p.jsonl:2: empty line"):
        load_prompts(p)
    p.write_bytes(b'{"prompt": {"text": "a"}}\n{"prompt": {"text": "\xff"}}\n')
    with pytest.raises(DataError, match=r"p.jsonl:2: not valid UTF-8"):
        load_prompts(p)
    p.write_text('{"prompt": {"text": "a"}}\n{"nope": 1}\n')
    with pytest.raises(DataError, match=r"p.jsonl:2"):
        load_prompts(p)


def test_prompt_sample_is_seeded(tmp_path):
    p = tmp_path / "p.jsonl"
    p.write_text("".join(f'{{"prompt": {{"text": "t{i}"}}}}\n' for i in range(50)))
    a, b = load_prompts(p, 5, seed=1), load_prompts(p, 5, seed=1)
    assert a == b and len(a) == 5
    assert a != load_prompts(p, 5, seed=2)
    assert [x["id"] for x in a] == sorted(x["id"] for x in a)


def test_clean_tweet():
    assert clean_tweet("RT @bob: you &amp; me http://t.co/x") == "you & me"
    assert clean_tweet("@USER @USER great game URL") == "great game"
    assert clean_tweet("so #blessed today") == "so blessed today"


@needs_mirror
def test_detox_training_set_balanced_and_seeded(tmp_path):
    for d in ("davidson", "olid"):
        prepare(d, tmp_path, MIRROR)
    data = detox_training_set(tmp_path, ["davidson", "olid"], 100, seed=0)
    assert len(data) == 200
    assert sum(v == -1.0 for _, v in data) == 100
    assert data == detox_training_set(tmp_path, ["davidson", "olid"], 100, seed=0)


@pytest.mark.parametrize("name", ["config.yaml", "ci.yaml"])
def test_shipped_configs_are_valid(name):
    load_config(ROOT / "config" / name, SCHEMA)


def test_schema_rejects_bad_config_naming_the_key(tmp_path):
    cfg = yaml.safe_load((ROOT / "config/ci.yaml").read_text())
    cfg["detox"]["n_prompts"] = 0
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match=r"detox\.n_prompts"):
        load_config(p, SCHEMA)
    cfg = yaml.safe_load((ROOT / "config/ci.yaml").read_text())
    cfg["scorers"] = ["perspective"]
    p.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match=r"scorers\.0"):
        load_config(p, SCHEMA)
    cfg = yaml.safe_load((ROOT / "config/ci.yaml").read_text())
    cfg["detox"]["trian"] = {}
    p.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match="trian"):
        load_config(p, SCHEMA)
    cfg = yaml.safe_load((ROOT / "config/ci.yaml").read_text())
    cfg["job_threads"] = 0
    p.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match="job_threads"):
        load_config(p, SCHEMA)


def test_jsonl_keeps_unicode_line_separators_inside_strings(tmp_path):
    from lmsteer.io import read_jsonl, write_jsonl

    rows = [{"continuation": "did.\u2028Ukraine\u2019s\u0085next\x0cpage"}, {"continuation": "b"}]
    write_jsonl(tmp_path / "g.jsonl", rows)
    assert read_jsonl(tmp_path / "g.jsonl") == rows
    (tmp_path / "p.jsonl").write_text('{"prompt": {"text": "a\u2028b"}}\r\n{"prompt": "c"}\n')
    assert [p["text"] for p in load_prompts(tmp_path / "p.jsonl")] == ["a\u2028b", "c"]


def _key_paths(d: dict, prefix: str = "") -> set[str]:
    """Dotted paths of the leaves of a nested dict."""
    out = set()
    for k, v in d.items():
        out |= _key_paths(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k}
    return out


def test_ci_config_sets_every_method_key_the_default_sets():
    """`snakemake --configfile config/ci.yaml` extends config/config.yaml key by key, so a key
    the default sets for a method and ci.yaml does not (e.g. GeDi's n_prompts: 8) leaks into CI
    and the smoke run silently grows. Only keys that do not change a run's size may leak."""
    root = Path(__file__).resolve().parents[2] / "config"
    default, ci = (yaml.safe_load((root / n).read_text()) for n in ("config.yaml", "ci.yaml"))
    harmless = {"models", "params.dummy_value", "params.task", "mem_mb"}  # mem_mb: a request
    for task in ("detox", "sentiment"):
        for name, entry in default[task]["methods"].items():
            mine = ci[task]["methods"].get(name)
            assert mine is not None, f"{task}.methods.{name} is in config.yaml, not in ci.yaml"
            ci_paths = _key_paths(mine)  # a scalar there replaces the default's whole subtree
            missing = {p for p in _key_paths(entry)
                       if not any(p == q or p.startswith(q + ".") for q in ci_paths | harmless)}
            assert not missing, f"ci.yaml {task}.methods.{name} lacks {sorted(missing)}"
