"""No untrusted loading: every torch.load passes weights_only=True, nothing the project writes is
a pickle, and the one third-party pickle goes through the restricted unpickler only."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [p for d in ("lmsteer", "baselines", "bench", "workflow") if (ROOT / d).is_dir()
           for p in sorted((ROOT / d).rglob("*")) if p.suffix in (".py", ".smk")]


def _calls(text: str, name: str) -> list[str]:
    """Full argument text of each call of ``name(`` (balanced parentheses)."""
    out, i = [], 0
    while (i := text.find(name + "(", i)) != -1:
        depth, j = 0, i + len(name)
        while True:
            depth += {"(": 1, ")": -1}.get(text[j], 0)
            j += 1
            if depth == 0:
                break
        out.append(text[i:j])
        i = j
    return out


def test_sources_were_found():
    assert any(p.name == "steer.py" for p in SOURCES)


def test_every_torch_load_is_weights_only():
    for p in SOURCES:
        for call in _calls(p.read_text(), "torch.load"):
            assert re.search(r"weights_only\s*=\s*True", call), f"{p}: {call}"


def test_pickle_only_in_the_restricted_tokenizer_reader():
    for p in SOURCES:
        text = p.read_text()
        uses = re.findall(r"\b(?:pickle|joblib|dill|cloudpickle)\.(?:load|loads|dump|dumps)\b|"
                          r"\bnp\.load\([^)]*allow_pickle\s*=\s*True", text)
        if p.name == "toxicity.py":
            assert "class _OnlyTokenizerUnpickler(pickle.Unpickler)" in text
            assert uses == [], uses  # it uses the Unpickler subclass, never pickle.load
        else:
            assert uses == [], f"{p}: {uses}"
            assert "pickle.Unpickler" not in text, p


def test_project_writes_safetensors_and_json_only():
    writers = re.compile(r"torch\.save\(|\.to_pickle\(|pickle\.dump")
    for p in SOURCES:
        assert not writers.search(p.read_text()), p
