"""GeDi: a class-conditional LM as a generative discriminator (Krause et al., 2021).

Training: a copy of the LM (top blocks tuned) learns ``p(x | c)`` for two control codes, text
prefixes for the wanted and the unwanted class, with GeDi's hybrid loss
``gen_weight * L_gen + (1 - gen_weight) * L_disc``, where ``L_disc`` is the cross-entropy of
the Bayes posterior ``p(c | x)`` from the two length-normalised sequence log-likelihoods.

Decoding: for every candidate next token ``v`` the class-conditional LM gives
``log p(c_wanted | x_<t, v)`` by Bayes' rule over the two codes (running sums of the generated
tokens' log-probabilities under each code, uniform prior); the base LM's next-token logits get
``strength * log p(c_wanted | x_<t, v)`` added (GeDi's weighted posterior; a negative strength
pushes towards the unwanted class). The conditional LM reads code + prompt + continuation with
its own KV cache per code, so a step costs three forwards.
"""
from __future__ import annotations

import contextlib
import copy
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import nn

from lmsteer.errors import LMSteerError
from lmsteer.io import write_json
from lmsteer.methods import METHODS
from lmsteer.models import model_device

from .finetune import finetune, load_tensors, save_tensors, top_block_parameters, tuned_copy
from .finetuned import _FineTuned
from .logits import patched_forward

CODES = ("positive:", "negative:")  # wanted, unwanted


def _seq_logprob(cclm: nn.Module, tok: Any, code: str, texts: list[str], max_length: int
                 ) -> torch.Tensor:
    """Mean token log-probability of each text after the code prefix: (B,)."""
    side = tok.padding_side
    tok.padding_side = "right"
    try:
        enc = tok([f"{code} {t}" for t in texts], return_tensors="pt", padding=True,
                  truncation=True, max_length=max_length).to(model_device(cclm))
    finally:
        tok.padding_side = side
    n_code = len(tok(code, add_special_tokens=False)["input_ids"])
    logits = cclm(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits
    lp = torch.log_softmax(logits[:, :-1].float(), -1).gather(
        -1, enc["input_ids"][:, 1:, None]).squeeze(-1)  # (B, T-1)
    keep = enc["attention_mask"][:, 1:].clone().float()
    keep[:, :n_code] = 0  # score the text, not the code
    return (lp * keep).sum(1) / keep.sum(1).clamp(min=1)


@METHODS.register("gedi")
class GeDi(_FineTuned):
    """Params: ``codes`` (two text prefixes), ``gen_weight`` (0.6), plus ``top_blocks``,
    ``steps``, ``lr``, ``batch_size``, ``max_length``; strength is the posterior weight."""

    name = "gedi"

    def codes(self) -> tuple[str, str]:
        return tuple(self.params.get("codes", CODES))  # type: ignore[return-value]

    def fit(self, model, tok, data, out_dir, seed):
        out, codes = Path(out_dir), self.codes()
        pairs = [(t, 0 if v > 0 else 1) for t, v in data if v != 0]
        cclm = copy.deepcopy(model)
        params = top_block_parameters(cclm, self.opt("top_blocks"))
        w = float(self.params.get("gen_weight", 0.6))

        def loss(batch: list) -> torch.Tensor:
            texts = [t for t, _ in batch]
            lps = torch.stack([_seq_logprob(cclm, tok, c, texts, self.opt("max_length"))
                               for c in codes], dim=1)  # (B, 2)
            y = torch.tensor([c for _, c in batch], device=lps.device)
            gen = -lps.gather(1, y[:, None]).mean()
            disc = nn.functional.cross_entropy(lps, y)
            return w * gen + (1 - w) * disc

        losses = finetune(cclm, tok, pairs, params, steps=self.opt("steps"), lr=self.opt("lr"),
                          batch_size=self.opt("batch_size"), max_length=self.opt("max_length"),
                          seed=seed, desc="gedi class-conditional LM", loss_fn=loss)
        save_tensors(out / "cclm.safetensors", params)
        write_json(out / "gedi.json", {"codes": list(codes), **self.params})
        self._n_params = sum(p.numel() for p in params.values())
        return {"examples": len(pairs), "losses": losses}

    def load(self, model, tok, artifact_dir):
        if artifact_dir is None:
            raise LMSteerError("gedi needs the folder its fit wrote")
        tensors = load_tensors(Path(artifact_dir) / "cclm.safetensors", model)
        self.cclm = tuned_copy(model, tensors)
        dev = model_device(model)
        self.code_ids = [torch.tensor(tok(c, add_special_tokens=False)["input_ids"], device=dev)
                         for c in self.codes()]
        self._n_params = sum(t.numel() for t in tensors.values())

    def _cc_step(self, st: dict, c: int, ids, mask, pos) -> None:
        """Advance the conditional LM under code ``c`` by ``ids``; store next-token log-probs."""
        b, p = ids.shape[0], len(self.code_ids[c])
        mask = torch.cat([torch.ones(b, p, dtype=mask.dtype, device=mask.device), mask], 1)
        if st["cache"][c] is None:  # code, then the (left-padded) prompt
            ids = torch.cat([self.code_ids[c].expand(b, p), ids], 1)
            pos = torch.cat([torch.arange(p, device=pos.device).expand(b, p), pos + p], 1)
        else:
            pos = pos + p
        o = self.cclm(input_ids=ids, attention_mask=mask, position_ids=pos,
                      cache=st["cache"][c], use_cache=True, logits_to_keep=1)
        st["cache"][c] = o.cache
        st["lp"][c] = torch.log_softmax(o.logits[:, -1].float(), -1)  # (B, V)

    @contextlib.contextmanager
    def control(self, model: nn.Module, strength) -> Iterator[None]:
        omega = torch.as_tensor(strength, dtype=torch.float32,
                                device=model_device(model))
        st: dict[str, Any] = {}

        def make(original: Callable) -> Callable:
            def forward(*args: Any, **kw: Any):
                out = original(*args, **kw)
                ids = kw["input_ids"]
                mask = kw.get("attention_mask", torch.ones_like(ids))
                pos = kw.get("position_ids")
                if kw.get("cache") is None:  # a new prompt batch
                    st.update(cache=[None, None], lp=[None, None],
                              cum=[torch.zeros(ids.shape[0], device=ids.device)] * 2)
                    if pos is None:
                        pos = (mask.cumsum(-1) - 1).clamp(min=0)
                else:  # the token chosen last step joins each class's running log-likelihood
                    for c in (0, 1):
                        st["cum"][c] = st["cum"][c] + st["lp"][c].gather(1, ids[:, :1]).squeeze(1)
                for c in (0, 1):
                    self._cc_step(st, c, ids, mask, pos)
                joint = torch.stack([st["cum"][c][:, None] + st["lp"][c] for c in (0, 1)])  # (2,B,V)
                post = joint[0] - torch.logsumexp(joint, dim=0)  # log p(wanted | x, v): (B, V)
                w = omega.expand(ids.shape[0]) if omega.ndim == 0 else omega  # (B,)
                logits = out.logits.clone()
                logits[:, -1] = (logits[:, -1].float() + w[:, None] * post).to(logits.dtype)
                out.logits = logits
                return out
            return forward

        with patched_forward(model, make):
            yield
