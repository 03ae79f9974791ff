"""Shared fixtures: tiny random models of the paper's four architecture families."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = ["gpt2", "gpt-neox", "gptj", "llama"]

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(params=FAMILIES)
def tiny(request):
    """(model, tokenizer, family) for one tiny random config per family."""
    from lmsteer.models import load_model

    model, tok = load_model(f"tiny-{request.param}")
    return model, tok, request.param


@pytest.fixture
def tiny_llama():
    from lmsteer.models import load_model

    return load_model("tiny-llama")
