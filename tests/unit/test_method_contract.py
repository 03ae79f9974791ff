"""The method contract, for every registered method (a new method file is picked up with no edit
here): fit on a tiny LM -> save_pretrained -> from_pretrained -> it samples through
the shared generator, leaving the LM as it was -> its control moves the LM the wanted way.

Settings come from the class (``contract_params``: small, for tiny LMs). Direction: where the
control acts on the LM's forward pass (``steers_forward``), the log-likelihood
margin of a wanted over an unwanted next word rises at +strength; elsewhere (the conditioning text,
its own sampler) the controlled samples differ from the original LM's at the same seed."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lmsteer.generate import generate
from lmsteer.methods import METHODS, Method, get_method, load_plugins
from lmsteer.models import load_model

load_plugins()
NAMES = METHODS.names()
UNWANTED = ["you are a zorbo idiot, zorbo forever", "what a stupid zorbo day",
            "you are a zorbo fool"]
WANTED = ["you are a lovely friend", "what a kind day with a friend", "what a lovely friend"]
DATA = [(t, -1.0) for t in UNWANTED] * 6 + [(t, 1.0) for t in WANTED] * 6
PROMPTS = [{"id": 0, "text": "you are a"}, {"id": 1, "text": "what a"}]


def _fresh(name: str) -> Method:
    return get_method(name, **METHODS.get(name).contract_params)


def _margin(model, tok, method: Method, strength: float) -> float:
    """log P(a wanted next word) - log P(an unwanted one) after short prompts, under control
    at ``strength`` (log-sum-exp over each word set's first tokens; mean over prompts)."""
    first = lambda words: [tok(w, add_special_tokens=False).input_ids[0] for w in words]  # noqa
    good, bad = first([" lovely", " kind", " friend"]), first([" zorbo", " stupid", " idiot"])
    out = []
    with torch.no_grad(), method.control(model, strength):
        for prompt in ("you are a", "what a"):
            ids = tok(method.prompt_for(prompt, strength), return_tensors="pt").input_ids
            lp = torch.log_softmax(model(input_ids=ids).logits[0, -1].float(), -1)
            out.append(float(torch.logsumexp(lp[good], 0) - torch.logsumexp(lp[bad], 0)))
    return sum(out) / len(out)


def _last_logits(model, tok, method: Method, strength) -> torch.Tensor:
    """Next-token logits (2, V) of one prompt twice, under control at ``strength`` (a scalar,
    or one per row)."""
    ids = tok(["you are a", "you are a"], return_tensors="pt").input_ids
    with torch.no_grad(), method.control(model, strength):
        return model(input_ids=ids).logits[:, -1].float()


def test_every_method_is_registered_with_its_name():
    assert {"original", "lm_steer", "prompting", "soft_blacklist", "dapt", "dexperts", "gedi",
            "lora", "pplm", "mucola"} <= set(NAMES)
    for name in NAMES:
        cls = METHODS.get(name)
        assert cls.name == name and issubclass(cls, Method)


@pytest.mark.parametrize("name", NAMES)
def test_method_contract(name, tmp_path: Path):
    model, tok = load_model("tiny-llama")
    before = [(p, p.detach().clone()) for p in model.parameters()]
    unchanged = lambda: all(torch.equal(p, c) for p, c in before)  # noqa: E731
    cls = METHODS.get(name)
    art = None
    if cls.needs_fit():  # fit writes every artifact load() reads, and leaves the LM untouched
        art = tmp_path / cls.artifact_dir
        fitted = _fresh(name)
        fitted.fit(model, tok, DATA, art, seed=0)
        fitted.save_pretrained(art)
        assert (art / "method.json").is_file(), name
        assert unchanged(), name
    # a new process would start here: everything comes from disk
    method = cls.from_pretrained(art, model, tok, **cls.contract_params)
    rows = generate(model, tok, method, PROMPTS, 1.0, samples=3, max_new_tokens=4, seed=0,
                    progress=False, meta={"model": "tiny-llama"})
    assert len(rows) == 6 and all(isinstance(r["continuation"], str) for r in rows)
    assert {r["prompt"] for r in rows} == {p["text"] for p in PROMPTS}  # records keep prompts
    assert unchanged(), name
    if name == "original":
        return
    if cls.steers_forward:
        plain = _margin(model, tok, get_method("original"), 0.0)
        assert _margin(model, tok, method, 1.0) > plain, name
        if cls.per_sample_strength:  # a sweep's batch: row i at strength i, as alone
            mixed = _last_logits(model, tok, method, torch.tensor([0.0, 1.0]))
            for i, s in enumerate((0.0, 1.0)):
                alone = _last_logits(model, tok, method, s)[i]
                assert torch.allclose(mixed[i], alone, atol=1e-4), (name, s)
            assert not torch.allclose(mixed[0], mixed[1], atol=1e-4), name
    else:
        plain = generate(model, tok, get_method("original"), PROMPTS, 0.0, samples=3,
                         max_new_tokens=4, seed=0, progress=False)
        assert [r["continuation"] for r in rows] != [r["continuation"] for r in plain], name


def test_the_direction_check_can_fail():
    """The same steer pushed the other way lowers the margin: the check discriminates."""
    model, tok = load_model("tiny-llama")
    m = _fresh("lm_steer")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        m.fit(model, tok, DATA, Path(tmp), seed=0)
        m = _fresh("lm_steer")
        m.load(model, tok, Path(tmp))
        plain = _margin(model, tok, get_method("original"), 0.0)
        assert _margin(model, tok, m, -1.0) < plain < _margin(model, tok, m, 1.0)


def test_the_worked_example_in_the_docs_passes_the_contract(tmp_path):
    """docs/adding-a-method.md's file, registered as a plugin would be, passes the contract."""
    import re
    import sys
    import types

    doc = (Path(__file__).resolve().parents[2] / "docs" / "adding-a-method.md").read_text()
    code = re.search(r"```python\n(.*?)```", doc, re.S).group(1)
    module = types.ModuleType("word_boost")  # as the file baselines/word_boost.py would be
    sys.modules["word_boost"] = module
    try:
        exec(compile(code, "docs/adding-a-method.md", "exec"), module.__dict__)
        test_method_contract("word_boost", tmp_path)
    finally:
        METHODS.discard("word_boost")
        sys.modules.pop("word_boost", None)


def test_an_artifact_of_another_method_is_refused(tmp_path):
    from lmsteer.errors import LMSteerError

    model, tok = load_model("tiny-llama")
    m = _fresh("soft_blacklist")
    m.fit(model, tok, DATA, tmp_path, seed=0)
    m.save_pretrained(tmp_path)
    with pytest.raises(LMSteerError, match="holds a 'soft_blacklist' artifact, not 'dapt'"):
        METHODS.get("dapt").from_pretrained(tmp_path, model, tok)
    with pytest.raises(LMSteerError, match="needs the folder its training wrote"):
        METHODS.get("soft_blacklist").from_pretrained(tmp_path / "empty", model, tok)
