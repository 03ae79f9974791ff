"""Offline toxicity scorers: the Jigsaw BiLSTM (run in PyTorch), profanity-check, Detoxify."""
from __future__ import annotations

import importlib.util
import json
import logging
import os
import pickle
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import ScorerUnavailableError
from ..io import write_json
from .base import Scorer, SCORERS

log = logging.getLogger(__name__)

JIGSAW_LABELS = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]


# ------------------------------------------------------------------ Keras tokenizer
class _KerasTokenizerStub:
    """Stands in for keras' Tokenizer while unpickling: only its attribute dict is kept."""


class _OnlyTokenizerUnpickler(pickle.Unpickler):
    """Admits the Keras Tokenizer class and the plain containers its state uses; nothing else."""

    ALLOWED = {("collections", "OrderedDict"), ("collections", "defaultdict"), ("builtins", "int")}

    def find_class(self, module: str, name: str) -> Any:
        if name == "Tokenizer" and module.startswith("keras"):
            return _KerasTokenizerStub
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from the tokenizer pickle")


def convert_keras_tokenizer(pickle_path: Path, json_path: Path) -> dict:
    """Read the Keras tokenizer pickle once (restricted) and store what scoring needs as JSON."""
    with open(pickle_path, "rb") as f:
        tok = _OnlyTokenizerUnpickler(f).load()
    state = vars(tok)
    out = {k: state.get(k) for k in ("num_words", "filters", "lower", "split", "oov_token",
                                     "char_level")}
    out["word_index"] = {w: int(i) for w, i in state["word_index"].items()
                         if out["num_words"] is None or int(i) < out["num_words"]}
    write_json(json_path, out)
    return out


class KerasStyleTokenizer:
    """Re-implements Keras' ``texts_to_sequences`` + ``pad_sequences`` (pre-pad/pre-truncate)."""

    def __init__(self, state: dict, maxlen: int = 100) -> None:
        self.word_index: dict[str, int] = state["word_index"]
        self.num_words = state["num_words"]
        self.lower = state["lower"]
        self.split = state["split"]
        self.oov = self.word_index.get(state["oov_token"]) if state.get("oov_token") else None
        self.table = str.maketrans({c: self.split for c in state["filters"]})
        self.maxlen = maxlen

    def encode(self, text: str) -> list[int]:
        if self.lower:
            text = text.lower()
        ids = []
        for w in text.translate(self.table).split(self.split):
            if not w:
                continue
            i = self.word_index.get(w)
            if i is None or (self.num_words and i >= self.num_words):
                if self.oov is not None:
                    ids.append(self.oov)
                continue
            ids.append(i)
        return ids[-self.maxlen:]

    def batch(self, texts: Sequence[str]) -> torch.Tensor:
        out = torch.zeros(len(texts), self.maxlen, dtype=torch.long)  # (B, L), pre-padded with 0
        for row, t in enumerate(texts):
            ids = self.encode(t)
            if ids:
                out[row, self.maxlen - len(ids):] = torch.tensor(ids)
        return out


class JigsawBiLSTM(nn.Module):
    """Embedding(20000, 50) -> BiLSTM(50+50) -> global max pool -> Dense(50, relu) -> Dense(6)."""

    def __init__(self, vocab: int = 20000, emb: int = 50, units: int = 50, labels: int = 6) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, emb)
        self.lstm = nn.LSTM(emb, units, batch_first=True, bidirectional=True)
        self.dense = nn.Linear(2 * units, 50)
        self.out = nn.Linear(50, labels)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # ids (B, L) -> probs (B, 6)
        x, _ = self.lstm(self.embedding(ids))  # (B, L, 100)
        x = x.max(dim=1).values  # (B, 100)
        return torch.sigmoid(self.out(torch.relu(self.dense(x))))

    @classmethod
    def from_keras_h5(cls, path: Path) -> "JigsawBiLSTM":
        """Load Keras 3 weights; Keras' gate order (i, f, c, o) equals PyTorch's (i, f, g, o)."""
        import h5py

        m = cls()
        with h5py.File(path, "r") as f, torch.no_grad():
            g = lambda k: torch.from_numpy(np.asarray(f[k]))  # noqa: E731
            m.embedding.weight.copy_(g("layers/embedding/vars/0"))
            for suffix, d in (("", "forward_layer"), ("_reverse", "backward_layer")):
                base = f"layers/bidirectional/{d}/cell/vars/"
                getattr(m.lstm, f"weight_ih_l0{suffix}").copy_(g(base + "0").T)
                getattr(m.lstm, f"weight_hh_l0{suffix}").copy_(g(base + "1").T)
                getattr(m.lstm, f"bias_ih_l0{suffix}").copy_(g(base + "2"))
                getattr(m.lstm, f"bias_hh_l0{suffix}").zero_()
            m.dense.weight.copy_(g("layers/dense/vars/0").T)
            m.dense.bias.copy_(g("layers/dense/vars/1"))
            m.out.weight.copy_(g("layers/dense_1/vars/0").T)
            m.out.bias.copy_(g("layers/dense_1/vars/1"))
        return m.eval()


def _package_dir(module: str, hint: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ScorerUnavailableError(f"package for {module!r} is not installed ({hint})")
    return Path(list(spec.submodule_search_locations)[0])


@SCORERS.register("jigsaw-bilstm")
class BiLSTMScorer(Scorer):
    """P(toxic) from the Jigsaw-2018 BiLSTM in ``toxic-comment-classifier`` (0.3.0)."""

    name = "jigsaw-bilstm"
    version = "toxic-comment-classifier==0.3.0, label=toxic"
    attribute = "toxicity"

    def __init__(self, cache: Path | None = None, label: str = "toxic", **_: Any) -> None:
        pkg = _package_dir("toxic_classifier", "pip install --no-deps toxic-comment-classifier==0.3.0")
        cache = Path(cache or os.environ.get("LMSTEER_SCORER_CACHE", "resources/scorers"))
        tok_json = cache / "jigsaw_bilstm_tokenizer.json"
        if tok_json.is_file():
            state = json.loads(tok_json.read_text(encoding="utf-8"))
        else:
            state = convert_keras_tokenizer(pkg / "model" / "tokenizer.pickle", tok_json)
        self.tokenizer = KerasStyleTokenizer(state)
        self.model = JigsawBiLSTM.from_keras_h5(pkg / "model" / "model.weights.h5")
        self.label_index = JIGSAW_LABELS.index(label)

    @torch.no_grad()
    def score_batch(self, texts: Sequence[str]) -> np.ndarray:
        return self.model(self.tokenizer.batch(texts))[:, self.label_index].numpy().astype(np.float64)


@SCORERS.register("profanity-check")
class ProfanityScorer(Scorer):
    """Offensive-language probability from ``alt-profanity-check`` (TF-IDF + linear SVM)."""

    name = "profanity-check"
    version = "alt-profanity-check==1.9.1"
    attribute = "toxicity"

    def __init__(self, **_: Any) -> None:
        try:
            from profanity_check import predict_prob
        except ImportError as e:
            raise ScorerUnavailableError("alt-profanity-check is not installed") from e
        self._predict = predict_prob

    def score_batch(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self._predict(list(texts)), dtype=np.float64)


DETOXIFY_DEFAULT = Path.home() / ".cache/torch/hub/checkpoints/toxic_original-c1212f89.ckpt"


@SCORERS.register("detoxify")
class DetoxifyScorer(Scorer):
    """Detoxify 'original' (BERT on Jigsaw 2018) from a local checkpoint, loaded safely.

    Needs the release checkpoint (``toxic_original-c1212f89.ckpt``) and a folder with the
    ``bert-base-uncased`` config and tokenizer; neither can be fetched offline.
    """

    name = "detoxify"
    version = "detoxify-original"
    attribute = "toxicity"

    def __init__(self, checkpoint: str | Path | None = None, hf_config: str | Path | None = None,
                 **_: Any) -> None:
        ckpt = Path(checkpoint or os.environ.get("LMSTEER_DETOXIFY_CKPT", DETOXIFY_DEFAULT))
        hf = hf_config or os.environ.get("LMSTEER_DETOXIFY_HF_CONFIG")
        if not ckpt.is_file() or hf is None or not Path(hf).is_dir():
            raise ScorerUnavailableError(
                f"Detoxify checkpoint files are missing: need the checkpoint at {ckpt} "
                f"(from the detoxify GitHub release 'toxic_original-c1212f89.ckpt') and a folder "
                f"with the bert-base-uncased config+tokenizer (got {hf!r}); set scorers.detoxify."
                f"checkpoint / hf_config in the config or LMSTEER_DETOXIFY_CKPT / "
                f"LMSTEER_DETOXIFY_HF_CONFIG. Offline scorers: jigsaw-bilstm, profanity-check")
        from transformers import AutoConfig, AutoTokenizer
        import transformers

        loaded = torch.load(ckpt, map_location="cpu", weights_only=True)
        try:
            classes = loaded["config"]["dataset"]["args"]["classes"]
            arch = loaded["config"]["arch"]["args"]
            state = loaded["state_dict"]
        except (KeyError, TypeError) as e:
            raise ScorerUnavailableError(f"{ckpt}: not a Detoxify checkpoint ({e})") from e
        cls = getattr(transformers, arch["model_name"])
        config = AutoConfig.from_pretrained(hf, num_labels=arch["num_classes"], local_files_only=True)
        self.model = cls(config).eval()
        missing, unexpected = self.model.load_state_dict(
            {k.removeprefix("model."): v for k, v in state.items()}, strict=False)
        missing = [k for k in missing if not k.endswith("position_ids")]
        if missing or unexpected:
            raise ScorerUnavailableError(
                f"{ckpt}: weights do not fit {arch['model_name']} from {hf} "
                f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
        self.tokenizer = AutoTokenizer.from_pretrained(hf, local_files_only=True)
        self.index = classes.index("toxicity") if "toxicity" in classes else classes.index("toxic")
        self.version = f"detoxify:{ckpt.name}"

    @torch.no_grad()
    def score_batch(self, texts: Sequence[str]) -> np.ndarray:
        enc = self.tokenizer(list(texts), return_tensors="pt", padding=True, truncation=True)
        logits = self.model(**enc).logits  # (B, num_classes)
        return torch.sigmoid(logits)[:, self.index].numpy().astype(np.float64)


